// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport - dispatch of the transport interface to its backends.
 *
 * XPORT_AUTO asks the rdma backend first (when it is built). Its open()
 * fails fast, without connecting, when no RDMA device has a route to the
 * peer; when one has, a probe connection (no event callback) must come up
 * within ctl_timeout_ms, since the donor may not serve RDMA. Only then is
 * the real RDMA connection opened; any failure falls back to TCP. So
 * AUTO's open may block up to ctl_timeout_ms on a host with RDMA devices.
 * Without the rdma backend AUTO is TCP.
 */
#include "rdma/xport.h"

#include "common/log.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const struct xport_backend *backend_of(enum xport_kind kind)
{
	switch (kind) {
	case XPORT_TCP:
		return &xport_tcp_backend;
	case XPORT_MEM:
		return &xport_mem_backend;
	case XPORT_RDMA:
#if CNM_HAVE_RDMA
		return &xport_rdma_backend;
#else
		return NULL;
#endif
	default:
		return NULL;
	}
}

const char *xport_kind_name(enum xport_kind kind)
{
	switch (kind) {
	case XPORT_TCP:
		return "tcp";
	case XPORT_RDMA:
		return "rdma";
	case XPORT_MEM:
		return "mem";
	case XPORT_AUTO:
		return "auto";
	default:
		return "unknown";
	}
}

static int open_auto(const struct xport_cfg *cfg, struct xport **out)
{
	struct xport_cfg c = *cfg;
	int ret;

#if CNM_HAVE_RDMA
	struct xport *probe;

	c.kind = XPORT_RDMA;
	c.event = NULL;
	c.event_arg = NULL;
	c.reconnect_max_ms = 0; /* one attempt: wait_up reports its error */
	ret = xport_rdma_backend.open(&c, &probe);
	if (ret == -ENOMEM || ret == -EINVAL)
		return ret;
	if (!ret) {
		ret = xport_rdma_backend.wait_up(
			probe,
			cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : 5000);
		xport_rdma_backend.close(probe);
	}
	if (!ret) {
		c = *cfg;
		c.kind = XPORT_RDMA;
		return xport_rdma_backend.open(&c, out);
	}
	log_info("donor %s:%s: no rdma path (%s), using tcp", cfg->host,
		 cfg->port, strerror(-ret));
	c = *cfg;
#endif
	c.kind = XPORT_TCP;
	ret = xport_tcp_backend.open(&c, out);
	return ret;
}

int xport_open(const struct xport_cfg *cfg, struct xport **out)
{
	const struct xport_backend *b;

	*out = NULL;
	if (!cfg)
		return -EINVAL;
	if (cfg->kind != XPORT_MEM && (!cfg->host || !cfg->port))
		return -EINVAL;
	if (cfg->kind == XPORT_AUTO)
		return open_auto(cfg, out);
	if (cfg->kind > XPORT_AUTO)
		return -EINVAL;
	b = backend_of(cfg->kind);
	if (!b)
		return -EPROTONOSUPPORT;
	return b->open(cfg, out);
}

int xport_wait_up(struct xport *x, unsigned int timeout_ms)
{
	return x->ops->wait_up(x, timeout_ms);
}

void xport_submit(struct xport *x, struct xport_io *io)
{
	x->ops->submit(x, io);
}

void xport_submit_chain(struct xport *x, struct xport_io *io)
{
	struct xport_io *next;

	if (x->ops->submit_chain) {
		x->ops->submit_chain(x, io);
		return;
	}
	for (; io; io = next) {
		next = io->next;
		x->ops->submit(x, io);
	}
}

int xport_poll(struct xport *x, const atomic_int *done, uint64_t spin_ns)
{
	if (!x->ops->poll)
		return -EOPNOTSUPP;
	return x->ops->poll(x, done, spin_ns);
}

int xport_register(struct xport *x, void *addr, size_t len)
{
	return x->ops->reg ? x->ops->reg(x, addr, len) : 0;
}

int xport_alloc(struct xport *x, struct xport_slab *out)
{
	return x->ops->alloc(x, out);
}

int xport_free(struct xport *x, uint32_t slab)
{
	return x->ops->free_slab(x, slab);
}

int xport_query(struct xport *x, struct wire_state *out)
{
	return x->ops->query(x, out);
}

int xport_heartbeat(struct xport *x, uint64_t *rtt_ns)
{
	return x->ops->heartbeat(x, rtt_ns);
}

int xport_reclaim(struct xport *x, uint64_t bytes)
{
	return x->ops->reclaim ? x->ops->reclaim(x, bytes) : -EOPNOTSUPP;
}

enum xport_state xport_state(struct xport *x)
{
	return x->ops->state(x);
}

void xport_get_stats(struct xport *x, struct xport_stats *out)
{
	x->ops->get_stats(x, out);
}

const char *xport_peer(struct xport *x)
{
	return x->ops->peer(x);
}

void xport_close(struct xport *x)
{
	if (x)
		x->ops->close(x);
}
