/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xport_priv - what the backends share: statistics counters and the check
 * of a submitted io. Private to rdma/.
 *
 * Threading: counters are relaxed atomics, updated from any thread; the
 * EWMA is updated by the one completion thread of a connection (a racing
 * update from elsewhere only loses a sample).
 */
#ifndef CNM_RDMA_XPORT_PRIV_H
#define CNM_RDMA_XPORT_PRIV_H

#include "rdma/batch.h"
#include "rdma/xport.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

struct xstats {
	atomic_uint_least64_t posts, ops, ios;
	atomic_uint_least64_t write_posts, write_ops;
	atomic_uint_least64_t bytes_read, bytes_written;
	atomic_uint_least64_t errors, timeouts, reconnects;
	atomic_uint_least64_t lat_ewma_ns;
	atomic_uint_least64_t ops_per_post[XPORT_HIST];
	atomic_uint_least64_t kib_per_op[XPORT_HIST];
};

#define XS_ADD(field, v)                                                       \
	atomic_fetch_add_explicit(&(field), (v), memory_order_relaxed)

static inline unsigned int xstats_bucket(uint64_t v)
{
	unsigned int b;

	if (v < 2)
		return 0;
	b = 63 - __builtin_clzll(v);
	return b < XPORT_HIST ? b : XPORT_HIST - 1;
}

/* One data op of len bytes about to be posted. */
static inline void xstats_op(struct xstats *s, uint32_t len)
{
	XS_ADD(s->kib_per_op[xstats_bucket(len >> 10)], 1);
}

/* One chain of nops ops (writes of them writes) posted. */
static inline void xstats_chain(struct xstats *s, unsigned int nops,
				unsigned int writes)
{
	XS_ADD(s->posts, 1);
	XS_ADD(s->ops, nops);
	XS_ADD(s->ops_per_post[xstats_bucket(nops)], 1);
	if (writes) {
		XS_ADD(s->write_posts, 1);
		XS_ADD(s->write_ops, writes);
	}
}

/* One chain about to be posted. */
static inline void xstats_post(struct xstats *s, const struct batch_op *ops,
			       unsigned int nops)
{
	unsigned int i, writes = 0;

	for (i = 0; i < nops; i++) {
		if (ops[i].dir == XPORT_READ || ops[i].dir == XPORT_WRITE)
			xstats_op(s, ops[i].len);
		writes += ops[i].dir == XPORT_WRITE;
	}
	xstats_chain(s, nops, writes);
}

/* One io completed with `status` (an error counts one error, -ETIMEDOUT
 * also one timeout); t_now 0 skips the latency sample. */
static inline void xstats_done(struct xstats *s, const struct xport_io *io,
			       int status, uint64_t t_now)
{
	uint64_t lat, old;

	if (status) {
		XS_ADD(s->errors, 1);
		if (status == -ETIMEDOUT)
			XS_ADD(s->timeouts, 1);
		return;
	}
	if (io->dir == XPORT_READ)
		XS_ADD(s->bytes_read, io->len);
	else
		XS_ADD(s->bytes_written, io->len);
	if (!t_now || t_now < io->t_submit_ns)
		return;
	lat = t_now - io->t_submit_ns;
	old = atomic_load_explicit(&s->lat_ewma_ns, memory_order_relaxed);
	/* weight 1/8 for the new sample; the first sample seeds it */
	lat = old ? old - old / 8 + lat / 8 : lat;
	atomic_store_explicit(&s->lat_ewma_ns, lat, memory_order_relaxed);
}

static inline void xstats_read(struct xstats *s, struct xport_stats *out)
{
	unsigned int i;

#define XS_GET(f) atomic_load_explicit(&s->f, memory_order_relaxed)
	out->posts = XS_GET(posts);
	out->ops = XS_GET(ops);
	out->ios = XS_GET(ios);
	out->write_posts = XS_GET(write_posts);
	out->write_ops = XS_GET(write_ops);
	out->bytes_read = XS_GET(bytes_read);
	out->bytes_written = XS_GET(bytes_written);
	out->errors = XS_GET(errors);
	out->timeouts = XS_GET(timeouts);
	out->reconnects = XS_GET(reconnects);
	out->lat_ewma_ns = XS_GET(lat_ewma_ns);
	for (i = 0; i < XPORT_HIST; i++) {
		out->ops_per_post[i] = XS_GET(ops_per_post[i]);
		out->kib_per_op[i] = XS_GET(kib_per_op[i]);
	}
#undef XS_GET
}

/* 0 if io is a well-formed request, else -EINVAL. */
static inline int xport_io_check(const struct xport_io *io, uint32_t max_len)
{
	if (io->dir != XPORT_READ && io->dir != XPORT_WRITE)
		return -EINVAL;
	if (!io->len || io->len > max_len || !io->buf)
		return -EINVAL;
	return 0;
}

#endif
