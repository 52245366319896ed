// SPDX-License-Identifier: GPL-2.0-or-later
/* dmsg - the donor's request decoder. */
#include "donor/dmsg.h"

#include <errno.h>
#include <string.h>

static int body_len_ok(const struct proto_hdr *h)
{
	switch (h->op) {
	case PROTO_OP_HELLO:
		return h->len == sizeof(struct wire_hello);
	case PROTO_OP_AUTH:
		return h->len == sizeof(struct wire_auth);
	case PROTO_OP_FREE:
		return h->len == sizeof(struct wire_slab_ref);
	case PROTO_OP_READ:
		return h->len == sizeof(struct wire_io);
	case PROTO_OP_WRITE:
		return h->len >= sizeof(struct wire_io);
	case PROTO_OP_RECLAIM:
		return h->len == sizeof(struct wire_reclaim);
	default:
		return h->len == 0;
	}
}

int dmsg_check_hdr(enum dmsg_phase phase, const void *raw, struct proto_hdr *h,
		   const char **why)
{
	int ret;

	ret = proto_hdr_dec(raw, h);
	if (ret) {
		*why = proto_strerror(ret);
		return ret;
	}
	if (h->flags & PROTO_F_REPLY) {
		*why = "unexpected reply from a client";
		return -EPROTO;
	}
	if (h->op == PROTO_OP_EVICT || h->op == PROTO_OP_ERROR) {
		*why = "opcode not accepted from a client";
		return -EOPNOTSUPP;
	}
	if (phase == DMSG_HELLO && h->op != PROTO_OP_HELLO) {
		*why = h->op == PROTO_OP_AUTH ? "auth before hello"
					      : "request before authentication";
		return h->op == PROTO_OP_AUTH ? -EPROTO : -EACCES;
	}
	if (phase == DMSG_AUTH && h->op != PROTO_OP_AUTH) {
		*why = "request before authentication";
		return -EACCES;
	}
	if (phase == DMSG_READY &&
	    (h->op == PROTO_OP_HELLO || h->op == PROTO_OP_AUTH)) {
		*why = "handshake message out of sequence";
		return -EPROTO;
	}
	if (!body_len_ok(h)) {
		*why = "body length does not match the opcode";
		return -EMSGSIZE;
	}
	return 0;
}

size_t dmsg_fixed_len(const struct proto_hdr *h)
{
	return h->op == PROTO_OP_WRITE ? sizeof(struct wire_io) : h->len;
}

int dmsg_decode_body(const struct proto_hdr *h, const void *raw,
		     union dmsg_body *out, const char **why)
{
	size_t n = dmsg_fixed_len(h);

	if (n > sizeof(*out)) {
		*why = "body length does not match the opcode";
		return -EMSGSIZE;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, raw, n);
	switch (h->op) {
	case PROTO_OP_HELLO:
		proto_hello_swap(&out->hello);
		break;
	case PROTO_OP_FREE:
		proto_slab_ref_swap(&out->ref);
		break;
	case PROTO_OP_READ:
	case PROTO_OP_WRITE:
		proto_io_swap(&out->io);
		if (out->io.len > PROTO_MAX_IO) {
			*why = "i/o length over the maximum";
			return -EMSGSIZE;
		}
		if (h->op == PROTO_OP_WRITE &&
		    out->io.len != h->len - sizeof(struct wire_io)) {
			*why = "write length does not match its body";
			return -EBADMSG;
		}
		break;
	case PROTO_OP_RECLAIM:
		proto_reclaim_swap(&out->reclaim);
		break;
	default:
		break;
	}
	return 0;
}
