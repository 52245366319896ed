// SPDX-License-Identifier: GPL-2.0-or-later
/* proto - header checks and byte-order conversion of wire messages. */
#include "rdma/proto.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* Largest request or reply body each opcode may carry. */
static uint32_t max_body(uint16_t op, uint16_t flags)
{
	int reply = flags & PROTO_F_REPLY;

	switch (op) {
	case PROTO_OP_HELLO:
		return sizeof(struct wire_hello);
	case PROTO_OP_AUTH:
		return reply ? 0 : sizeof(struct wire_auth);
	case PROTO_OP_QUERY:
		return reply ? sizeof(struct wire_state) : 0;
	case PROTO_OP_ALLOC:
		return reply ? sizeof(struct wire_slab) : 0;
	case PROTO_OP_FREE:
		return reply ? 0 : sizeof(struct wire_slab_ref);
	case PROTO_OP_HEARTBEAT:
		return 0;
	case PROTO_OP_EVICT:
		return sizeof(struct wire_evict);
	case PROTO_OP_READ:
		return reply ? PROTO_MAX_IO : sizeof(struct wire_io);
	case PROTO_OP_WRITE:
		return reply ? 0 : sizeof(struct wire_io) + PROTO_MAX_IO;
	case PROTO_OP_ERROR:
		return PROTO_ERRTEXT_MAX;
	case PROTO_OP_RECLAIM:
		return reply ? 0 : sizeof(struct wire_reclaim);
	default:
		return 0;
	}
}

int proto_hdr_dec(const void *buf, struct proto_hdr *h)
{
	struct wire_hdr w;
	uint32_t lim;

	memcpy(&w, buf, sizeof(w));
	if (le32toh(w.magic) != PROTO_MAGIC)
		return -EBADMSG;
	h->op = le16toh(w.op);
	h->flags = le16toh(w.flags);
	h->id = le64toh(w.id);
	h->len = le32toh(w.len);
	h->status = le32toh(w.status);
	if (h->flags & ~PROTO_F_REPLY)
		return -EBADMSG;
	if (h->op == 0 || h->op >= PROTO_OP_MAX)
		return -EOPNOTSUPP;
	lim = max_body(h->op, h->flags);
	if (lim > PROTO_MAX_BODY + sizeof(struct wire_io))
		lim = PROTO_MAX_BODY + sizeof(struct wire_io);
	/* an error reply carries no body, whatever the opcode */
	if (h->len > lim || ((h->flags & PROTO_F_REPLY) && h->status &&
			     h->len != 0 && h->op != PROTO_OP_HELLO))
		return -EMSGSIZE;
	return 0;
}

void proto_hdr_enc(void *buf, const struct proto_hdr *h)
{
	struct wire_hdr w = {
		.magic = htole32(PROTO_MAGIC),
		.op = htole16(h->op),
		.flags = htole16(h->flags),
		.id = htole64(h->id),
		.len = htole32(h->len),
		.status = htole32(h->status),
	};

	memcpy(buf, &w, sizeof(w));
}

const char *proto_strerror(int err)
{
	switch (err) {
	case -EBADMSG:
		return "garbage or bad magic in header";
	case -EOPNOTSUPP:
		return "unknown opcode";
	case -EMSGSIZE:
		return "message length over the maximum";
	case -EPROTONOSUPPORT:
		return "unsupported protocol version";
	case -EPROTO:
		return "message out of sequence";
	case -EACCES:
		return "authentication failed";
	default:
		return "protocol error";
	}
}

const char *proto_op_name(unsigned int op)
{
	static const char *const names[PROTO_OP_MAX] = {
		[PROTO_OP_HELLO] = "hello",
		[PROTO_OP_AUTH] = "auth",
		[PROTO_OP_QUERY] = "query",
		[PROTO_OP_ALLOC] = "alloc",
		[PROTO_OP_FREE] = "free",
		[PROTO_OP_HEARTBEAT] = "heartbeat",
		[PROTO_OP_EVICT] = "evict",
		[PROTO_OP_READ] = "read",
		[PROTO_OP_WRITE] = "write",
		[PROTO_OP_ERROR] = "error",
		[PROTO_OP_RECLAIM] = "reclaim",
	};

	return op < PROTO_OP_MAX && names[op] ? names[op] : "unknown";
}

#define SWAP32(x) ((x) = htole32(x))
#define SWAP64(x) ((x) = htole64(x))

/* htole* and le*toh are the same involution, so one function serves both. */
void proto_hello_swap(struct wire_hello *m)
{
	SWAP32(m->version);
	SWAP32(m->caps);
	SWAP64(m->slab_size);
}

void proto_slab_swap(struct wire_slab *m)
{
	SWAP32(m->slab);
	SWAP32(m->rkey);
	SWAP64(m->size);
	SWAP64(m->addr);
}

void proto_slab_ref_swap(struct wire_slab_ref *m)
{
	SWAP32(m->slab);
	SWAP32(m->reserved);
}

void proto_io_swap(struct wire_io *m)
{
	SWAP32(m->slab);
	SWAP32(m->len);
	SWAP64(m->off);
}

void proto_evict_swap(struct wire_evict *m)
{
	SWAP32(m->slab);
	SWAP32(m->reserved);
	SWAP64(m->deadline_ms);
}

void proto_reclaim_swap(struct wire_reclaim *m)
{
	SWAP64(m->bytes);
}

void proto_state_swap(struct wire_state *m)
{
	SWAP64(m->total_bytes);
	SWAP64(m->free_bytes);
	SWAP64(m->slab_size);
	SWAP32(m->total_slabs);
	SWAP32(m->free_slabs);
	SWAP32(m->session_slabs);
	SWAP32(m->clients);
	SWAP64(m->host_avail_bytes);
	m->host_trend_bps = (int64_t)htole64((uint64_t)m->host_trend_bps);
	SWAP64(m->bytes_read);
	SWAP64(m->bytes_written);
	SWAP64(m->uptime_ms);
	SWAP32(m->caps);
	SWAP32(m->evicting);
}

int proto_status_errno(uint32_t status)
{
	if (!status)
		return 0;
	return status < 4096 ? -(int)status : -EPROTO;
}
