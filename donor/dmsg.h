/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dmsg - how the donor decodes what a client sends: every check on a
 * request header and body, as pure functions, so the TCP server, the RDMA
 * server and the fuzz target (tests/fuzz/fuzz_proto.c) share one decoder.
 *
 * A non-zero return from dmsg_check_hdr() means the stream is broken (the
 * donor answers ERROR and closes); *why is a static sentence for the log
 * line and the ERROR body. dmsg_decode_body() errors are the same kind.
 *
 * Threading: pure functions.
 */
#ifndef CNM_DONOR_DMSG_H
#define CNM_DONOR_DMSG_H

#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

enum dmsg_phase {
	DMSG_HELLO, /* expecting the client's HELLO */
	DMSG_AUTH,  /* expecting AUTH */
	DMSG_READY, /* authenticated: requests */
};

union dmsg_body {
	struct wire_hello hello;
	struct wire_auth auth;
	struct wire_slab_ref ref;
	struct wire_io io;
	struct wire_reclaim reclaim;
};

/*
 * Decodes and checks a request header (sizeof(struct wire_hdr) bytes at
 * raw) for the connection's phase: magic, opcode, no reply flag, an opcode
 * a client may send in this phase, the exact body length of the opcode.
 * 0, -EBADMSG, -EOPNOTSUPP, -EMSGSIZE, -EACCES (request before
 * authentication) or -EPROTO (out of sequence).
 */
int dmsg_check_hdr(enum dmsg_phase phase, const void *raw, struct proto_hdr *h,
		   const char **why);
/* Bytes of body to read before acting: the whole body, except WRITE,
 * whose data follows its struct wire_io. */
size_t dmsg_fixed_len(const struct proto_hdr *h);
/* Decodes the fixed body (dmsg_fixed_len() bytes at raw) to host order. */
int dmsg_decode_body(const struct proto_hdr *h, const void *raw,
		     union dmsg_body *out, const char **why);

#endif
