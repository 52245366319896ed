/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fake_hs - the donor's side of the real handshake (rdma/handshake.h) for
 * the unit tests' scripted fake donors: keyless, any slab size.
 */
#ifndef CNM_TESTS_UNIT_RDMA_FAKE_HS_H
#define CNM_TESTS_UNIT_RDMA_FAKE_HS_H

#include "rdma/handshake.h"

#include <errno.h>

static inline int fake_handshake(int fd)
{
	struct hs_donor hd = { 0 };
	struct wire_hello in, reply;
	struct wire_auth auth;
	struct proto_hdr h;
	int ret;

	ret = hs_recv_msg(fd, &h, &in, sizeof(in), 2000);
	if (ret || h.op != PROTO_OP_HELLO || h.len != sizeof(in))
		return -EPROTO;
	proto_hello_swap(&in);
	ret = hs_donor_hello(&hd, 0, 0, &in);
	if (ret) { /* refused, with the status, as the donor does */
		h.flags = PROTO_F_REPLY;
		h.len = 0;
		h.status = (uint32_t)ret;
		hs_send_msg(fd, &h, NULL, 2000);
		return -ret;
	}
	reply = hd.out;
	proto_hello_swap(&reply);
	h.flags = PROTO_F_REPLY;
	h.len = sizeof(reply);
	if (hs_send_msg(fd, &h, &reply, 2000))
		return -EIO;
	ret = hs_recv_msg(fd, &h, &auth, sizeof(auth), 2000);
	if (ret || h.op != PROTO_OP_AUTH)
		return -EPROTO;
	h.flags = PROTO_F_REPLY;
	h.len = 0;
	h.status = (uint32_t)hs_donor_auth(&hd, NULL, &auth);
	return hs_send_msg(fd, &h, NULL, 2000);
}

#endif
