// SPDX-License-Identifier: GPL-2.0-or-later
/* dclient - the blocking donor client (see rdma/dclient.h). */
#include "rdma/dclient.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int status_errno(uint32_t status)
{
	return !status ? 0 : status < 4096 ? -(int)status : -EPROTO;
}

int dcl_connect(struct dcl *c, const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, one = 1, ret;

	c->fd = -1;
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		snprintf(c->err, sizeof(c->err), "cannot resolve: %s",
			 gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	ret = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(c->err, sizeof(c->err), "cannot connect: %s",
			 strerror(-ret));
		return ret;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	return 0;
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
	if (!c->timeout_ms)
		c->timeout_ms = HS_TIMEOUT_MS_DEFAULT;
	hp.timeout_ms = c->timeout_ms;
	ret = dcl_connect(c, host, port);
	if (ret)
		return ret;
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

static int send_request(struct dcl *c, const struct proto_hdr *h,
			const void *body, uint32_t len, const void *data,
			uint32_t dlen)
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
		return hs_write_full(c->fd, msg, hl + len + dlen,
				     c->timeout_ms);
	}
	ret = hs_write_full(c->fd, msg, hl, c->timeout_ms);
	if (!ret && len)
		ret = hs_write_full(c->fd, body, len, c->timeout_ms);
	if (!ret && dlen)
		ret = hs_write_full(c->fd, data, dlen, c->timeout_ms);
	return ret;
}

int dcl_call(struct dcl *c, uint16_t op, const void *body, uint32_t len,
	     const void *data, uint32_t dlen, void *out, uint32_t outmax,
	     uint32_t *outlen)
{
	struct proto_hdr h = { .op = op,
			       .id = ++c->next_id,
			       .len = len + dlen };
	uint8_t raw[sizeof(struct wire_hdr)];
	char text[PROTO_ERRTEXT_MAX + 1];
	struct wire_evict ev;
	int ret;

	c->err[0] = '\0';
	ret = send_request(c, &h, body, len, data, dlen);
	if (ret)
		goto out_err;
	for (;;) {
		ret = hs_read_full(c->fd, raw, sizeof(raw), c->timeout_ms);
		if (!ret)
			ret = proto_hdr_dec(raw, &h);
		if (ret)
			goto out_err;
		if (h.op != PROTO_OP_EVICT || h.len != sizeof(ev))
			break;
		/* an unsolicited EVICT: a real client notes it */
		ret = hs_read_full(c->fd, &ev, sizeof(ev), c->timeout_ms);
		if (ret)
			goto out_err;
		c->evicts++;
	}
	if (h.op == PROTO_OP_ERROR) {
		memset(text, 0, sizeof(text));
		if (h.len < sizeof(text))
			hs_read_full(c->fd, text, h.len, c->timeout_ms);
		snprintf(c->err, sizeof(c->err), "donor: %s", text);
		return h.status ? status_errno(h.status) : -EPROTO;
	}
	if (h.op != op || !(h.flags & PROTO_F_REPLY)) {
		snprintf(c->err, sizeof(c->err), "reply to %s is %s",
			 proto_op_name(op), proto_op_name(h.op));
		return -EPROTO;
	}
	if (h.len > outmax) {
		snprintf(c->err, sizeof(c->err),
			 "%s reply of %u bytes is too "
			 "long",
			 proto_op_name(op), h.len);
		return -EMSGSIZE;
	}
	if (h.len) {
		ret = hs_read_full(c->fd, out, h.len, c->timeout_ms);
		if (ret)
			goto out_err;
	}
	if (outlen)
		*outlen = h.len;
	return status_errno(h.status);

out_err:
	snprintf(c->err, sizeof(c->err), "%s: %s", proto_op_name(op),
		 ret == -ETIMEDOUT    ? "donor did not answer in time"
		 : ret == -ECONNRESET ? "donor closed the connection"
				      : strerror(-ret));
	return ret;
}
