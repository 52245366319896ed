// SPDX-License-Identifier: GPL-2.0-or-later
/* dclient - the blocking donor client (see rdma/dclient.h). */
#include "rdma/dclient.h"

#include "common/clock.h"
#include "common/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int dcl_connect(struct dcl *c, const char *host, const char *port)
{
	int ret;

	if (!c->timeout_ms)
		c->timeout_ms = HS_TIMEOUT_MS_DEFAULT;
	ret = sock_connect_host(host, port, deadline_after_ms(c->timeout_ms),
				&c->fd);
	if (ret == -EHOSTUNREACH)
		snprintf(c->err, sizeof(c->err),
			 "cannot connect: no such host, or no route to it");
	else if (ret)
		snprintf(c->err, sizeof(c->err), "cannot connect: %s",
			 strerror(-ret));
	return ret;
}

int dcl_open(struct dcl *c, const char *host, const char *port,
	     const struct hs_params *p)
{
	struct hs_params hp = *p;
	int ret;

	c->fd = -1;
	c->next_id = 2; /* HELLO and AUTH were 1 and 2 */
	c->evicts = 0;
	c->err[0] = '\0';
	memset(&c->hs, 0, sizeof(c->hs));
	ret = dcl_connect(c, host, port);
	if (ret)
		return ret;
	hp.timeout_ms = c->timeout_ms;
	ret = hs_client(c->fd, &hp, &c->hs, c->err, sizeof(c->err));
	if (ret)
		dcl_close(c);
	return ret;
}

void dcl_close(struct dcl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* A peer that closed on our send has reset the connection, as on a
 * receive (the errors of rdma/handshake.h). */
static int io_err(int ret)
{
	return ret == -EPIPE ? -ECONNRESET : ret;
}

static int send_request(struct dcl *c, const struct proto_hdr *h,
			const void *body, uint32_t len, const void *data,
			uint32_t dlen, uint64_t deadline)
{
	uint8_t msg[DCL_STAGE_MAX];
	size_t hl = sizeof(struct wire_hdr);
	int ret;

	proto_hdr_enc(msg, h);
	if (hl + len + dlen <= sizeof(msg)) {
		if (len)
			memcpy(msg + hl, body, len);
		if (dlen)
			memcpy(msg + hl + len, data, dlen);
		return sock_send_all(c->fd, msg, hl + len + dlen, deadline);
	}
	ret = sock_send_all(c->fd, msg, hl, deadline);
	if (!ret && len)
		ret = sock_send_all(c->fd, body, len, deadline);
	if (!ret && dlen)
		ret = sock_send_all(c->fd, data, dlen, deadline);
	return ret;
}

int dcl_call(struct dcl *c, uint16_t op, const void *body, uint32_t len,
	     const void *data, uint32_t dlen, void *out, uint32_t outmax,
	     uint32_t *outlen)
{
	struct proto_hdr h = { .op = op,
			       .id = ++c->next_id,
			       .len = len + dlen };
	uint64_t deadline = deadline_after_ms(c->timeout_ms);
	uint8_t raw[sizeof(struct wire_hdr)];
	char text[PROTO_ERRTEXT_MAX + 1];
	struct wire_evict ev;
	int ret;

	c->err[0] = '\0';
	ret = send_request(c, &h, body, len, data, dlen, deadline);
	if (ret)
		goto out_err;
	for (;;) {
		ret = sock_recv_all(c->fd, raw, sizeof(raw), deadline);
		if (!ret)
			ret = proto_hdr_dec(raw, &h);
		if (ret)
			goto out_err;
		if (h.op != PROTO_OP_EVICT || h.len != sizeof(ev))
			break;
		/* an unsolicited EVICT: a real client notes it */
		ret = sock_recv_all(c->fd, &ev, sizeof(ev), deadline);
		if (ret)
			goto out_err;
		c->evicts++;
	}
	if (h.op == PROTO_OP_ERROR) {
		memset(text, 0, sizeof(text));
		if (h.len < sizeof(text))
			sock_recv_all(c->fd, text, h.len, deadline);
		snprintf(c->err, sizeof(c->err), "donor: %s", text);
		return h.status ? proto_status_errno(h.status) : -EPROTO;
	}
	if (h.op != op || !(h.flags & PROTO_F_REPLY)) {
		snprintf(c->err, sizeof(c->err), "reply to %s is %s",
			 proto_op_name(op), proto_op_name(h.op));
		return -EPROTO;
	}
	if (h.len > outmax) {
		snprintf(c->err, sizeof(c->err),
			 "%s reply of %u bytes is too long", proto_op_name(op),
			 h.len);
		return -EMSGSIZE;
	}
	if (h.len) {
		ret = sock_recv_all(c->fd, out, h.len, deadline);
		if (ret)
			goto out_err;
	}
	if (outlen)
		*outlen = h.len;
	return proto_status_errno(h.status);

out_err:
	ret = io_err(ret);
	snprintf(c->err, sizeof(c->err), "%s: %s", proto_op_name(op),
		 ret == -ETIMEDOUT    ? "donor did not answer in time"
		 : ret == -ECONNRESET ? "donor closed the connection"
				      : strerror(-ret));
	return ret;
}
