// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mem - XPORT_MEM: the "donor" is this process's own memory.
 *
 * mem_bytes of anonymous memory (mapped MAP_NORESERVE, touched on first
 * write) carved into slabs of slab_size; xport_alloc() hands out the
 * lowest free slab (first fit: freed space is used again before memory
 * never touched), xport_free() gives the slab's pages back to the system
 * (MADV_DONTNEED, which also zeroes them). The daemon's mlockall() puts
 * the mapping in the locked set, where MADV_DONTNEED fails with EINVAL:
 * the slab is unlocked first, its pages dropped, then locked again on
 * fault (mlock2 MLOCK_ONFAULT), all while no one can reach it. Slab ids
 * start at 1.
 *
 * I/O goes through the same batch_queue as the network backends: the
 * leader copies each operation's data in post() (so overlapping ios
 * happen in submission order), then calls the chain's done()s itself,
 * after the whole chain is copied, with no lock held. There is no network
 * to wait for, so a completion thread would only add a wakeup and a
 * thread switch per chain (tens of microseconds on a loaded 2-core box,
 * more than the copy): this is the local-memory page backend used as the
 * ceiling of the FUSE design in benchmarks. The stats count posts, ops and
 * op sizes the same way as the network backends. A done() may submit
 * again: batch_submit() queues it for the running leader.
 *
 * Threading: slab map under lock; data copies and done() calls run in the
 * batch leader with no lock held.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/batch.h"
#include "rdma/xport.h"
#include "rdma/xport_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_DEF_SLAB (64ull << 20)

enum { SLAB_FREE, SLAB_USED, SLAB_FREEING };

struct xmem {
	struct xport base;
	struct batch_queue q;
	uint8_t *mem;
	size_t map_len;
	bool shared; /* mem and slab_state are the caller's (a state) */
	uint64_t slab_size;
	uint32_t nslabs;
	uint64_t t_open_ns;
	char peer[64]; /* cfg->host, or "mem" */

	pthread_mutex_t lock;
	_Atomic uint8_t *slab_state; /* written under lock, read anywhere */
	uint32_t nfree;		     /* protected by lock */

	atomic_int closed;
	struct xstats st;
};

static struct xmem *to_mem(struct xport *x)
{
	return (struct xmem *)x;
}

static int slab_ok(struct xmem *m, uint32_t slab, uint64_t off, uint32_t len)
{
	if (slab < 1 || slab > m->nslabs)
		return 0;
	if (atomic_load_explicit(&m->slab_state[slab - 1],
				 memory_order_relaxed) != SLAB_USED)
		return 0;
	return off <= m->slab_size && len <= m->slab_size - off;
}

static void complete_list(struct xmem *m, struct xport_io *io, int status)
{
	uint64_t now = mono_ns();

	while (io) {
		struct xport_io *next = io->next;

		xstats_done(&m->st, io, status, now);
		io->done(io, status);
		io = next;
	}
}

/* Copies the chain, then completes it: ops[] belongs to the queue, so the
 * ios are collected first (a done() may submit and lead nothing). */
static void mem_post(void *ctx, struct batch_op *ops, unsigned int nops)
{
	struct xmem *m = ctx;
	struct xport_io *ok = NULL, **ok_end = &ok, *bad = NULL,
			**bad_end = &bad;
	unsigned int i;

	xstats_post(&m->st, ops, nops);
	for (i = 0; i < nops; i++) {
		struct batch_op *op = &ops[i];
		struct xport_io *io, *last = NULL;

		if (!slab_ok(m, op->slab, op->off, op->len)) {
			for (io = op->ios; io; io = io->next)
				last = io;
			*bad_end = op->ios;
			bad_end = &last->next;
			continue;
		}
		for (io = op->ios; io; io = io->next) {
			uint8_t *p = m->mem + (op->slab - 1) * m->slab_size +
				     io->off;

			if (io->dir == XPORT_WRITE)
				memcpy(p, io->buf, io->len);
			else
				memcpy(io->buf, p, io->len);
			last = io;
		}
		*ok_end = op->ios;
		ok_end = &last->next;
	}
	complete_list(m, ok, 0);
	complete_list(m, bad, -EFAULT);
}

/* Counts and checks io; false when it was failed (done() called). */
static bool mem_accept_io(struct xmem *m, struct xport_io *io)
{
	int ret;

	XS_ADD(m->st.ios, 1);
	ret = xport_io_check(io, PROTO_MAX_IO);
	if (!ret && atomic_load(&m->closed))
		ret = -ECONNABORTED;
	if (ret) {
		xstats_done(&m->st, io, ret, 0);
		io->done(io, ret);
		return false;
	}
	io->t_submit_ns = mono_ns();
	return true;
}

static void mem_submit(struct xport *x, struct xport_io *io)
{
	struct xmem *m = to_mem(x);

	if (mem_accept_io(m, io))
		batch_submit(&m->q, io);
}

/* As tcp_submit_chain(): the ios that pass go to the queue together. */
static void mem_submit_chain(struct xport *x, struct xport_io *io)
{
	struct xmem *m = to_mem(x);
	struct xport_io *head = NULL, **tail = &head, *next;

	for (; io; io = next) {
		next = io->next;
		if (!mem_accept_io(m, io))
			continue;
		io->next = NULL;
		*tail = io;
		tail = &io->next;
	}
	if (head)
		batch_submit_chain(&m->q, head);
}

static void give_back(struct xmem *m, uint8_t *p);

static int mem_open(const struct xport_cfg *cfg, struct xport **out)
{
	struct batch_limits lim = {
		.max_chain = cfg->max_chain,
		.max_op_bytes = cfg->max_op_bytes,
	};
	struct xmem *m;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base.ops = &xport_mem_backend;
	m->slab_size = cfg->slab_size ? cfg->slab_size : MEM_DEF_SLAB;
	ret = -EINVAL;
	if (m->slab_size % 4096 || cfg->mem_bytes < m->slab_size ||
	    cfg->mem_bytes / m->slab_size > UINT32_MAX - 1)
		goto out_free;
	m->nslabs = cfg->mem_bytes / m->slab_size;
	m->nfree = m->nslabs;
	m->map_len = (size_t)m->nslabs * m->slab_size;
	m->t_open_ns = mono_ns();
	snprintf(m->peer, sizeof(m->peer), "%s", cfg->host ? cfg->host : "mem");
	ret = -ENOMEM;
	if (cfg->mem_base && cfg->mem_slabs) {
		/* slabs a dead predecessor used stay used; one it was
		 * giving back is free (nothing refers to it any more) */
		m->shared = true;
		m->mem = cfg->mem_base;
		m->slab_state = cfg->mem_slabs;
		for (uint32_t s = 0; s < m->nslabs; s++) {
			if (atomic_load(&m->slab_state[s]) != SLAB_FREEING)
				continue;
			give_back(m, m->mem + (size_t)s * m->slab_size);
			atomic_store(&m->slab_state[s], SLAB_FREE);
		}
		for (uint32_t s = 0; s < m->nslabs; s++)
			if (atomic_load(&m->slab_state[s]) != SLAB_FREE)
				m->nfree--;
		goto out_queue;
	}
	m->slab_state = calloc(m->nslabs, sizeof(*m->slab_state));
	if (!m->slab_state)
		goto out_free;
	m->mem = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->mem == MAP_FAILED)
		goto out_free_state;
out_queue:
	ret = batch_queue_init(&m->q, &lim, mem_post, m);
	if (ret)
		goto out_unmap;
	pthread_mutex_init(&m->lock, NULL);
	*out = &m->base;
	return 0;

out_unmap:
	if (!m->shared)
		munmap(m->mem, m->map_len);
out_free_state:
	if (!m->shared)
		free(m->slab_state);
out_free:
	free(m);
	return ret;
}

static int mem_wait_up(struct xport *x, unsigned int timeout_ms)
{
	return atomic_load(&to_mem(x)->closed) ? -ECONNABORTED : 0;
}

static int mem_alloc(struct xport *x, struct xport_slab *out)
{
	struct xmem *m = to_mem(x);
	uint32_t s;
	int ret = -ENOSPC;

	pthread_mutex_lock(&m->lock);
	for (s = 0; m->nfree && s < m->nslabs; s++) {
		if (atomic_load(&m->slab_state[s]) != SLAB_FREE)
			continue;
		atomic_store(&m->slab_state[s], SLAB_USED);
		m->nfree--;
		out->slab = s + 1;
		out->rkey = 0;
		out->addr = 0;
		out->size = m->slab_size;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* Drops a slab's pages (they read as zeros after), or zeroes it. */
static void give_back(struct xmem *m, uint8_t *p)
{
	/* shared memory keeps its pages through MADV_DONTNEED */
	int advice = m->shared ? MADV_REMOVE : MADV_DONTNEED;
	bool relock = false;

	if (!madvise(p, m->slab_size, advice))
		return;
	/* EINVAL: locked (mlockall); the slab is ours alone until freed */
	if (errno == EINVAL && !munlock(p, m->slab_size)) {
		relock = true;
		if (!madvise(p, m->slab_size, advice))
			goto out_relock;
	}
	LOG_RATELIMITED(LOG_WARNING,
			"local memory: slab at %p: cannot give it back: %s; "
			"zeroing it",
			(void *)p, strerror(errno));
	memset(p, 0, m->slab_size);
out_relock:
	if (relock && mlock2(p, m->slab_size, MLOCK_ONFAULT))
		LOG_RATELIMITED(LOG_WARNING,
				"local memory: slab at %p: cannot lock it "
				"again: %s",
				(void *)p, strerror(errno));
}

static int mem_free(struct xport *x, uint32_t slab)
{
	struct xmem *m = to_mem(x);
	int ret = -EINVAL;

	if (slab < 1 || slab > m->nslabs)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (atomic_load(&m->slab_state[slab - 1]) == SLAB_USED) {
		atomic_store(&m->slab_state[slab - 1], SLAB_FREEING);
		ret = 0;
	}
	pthread_mutex_unlock(&m->lock);
	if (ret)
		return ret;
	/* outside the lock: nobody can be handed the slab meanwhile */
	give_back(m, m->mem + (size_t)(slab - 1) * m->slab_size);
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->slab_state[slab - 1], SLAB_FREE);
	m->nfree++;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mem_query(struct xport *x, struct wire_state *out)
{
	struct xmem *m = to_mem(x);
	long avail = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->lock);
	out->free_slabs = m->nfree;
	pthread_mutex_unlock(&m->lock);
	out->total_bytes = m->map_len;
	out->free_bytes = (uint64_t)out->free_slabs * m->slab_size;
	out->slab_size = m->slab_size;
	out->total_slabs = m->nslabs;
	out->session_slabs = m->nslabs - out->free_slabs;
	out->clients = 1;
	out->host_avail_bytes =
		avail > 0 && psz > 0 ? (uint64_t)avail * psz : 0;
	out->bytes_read = atomic_load(&m->st.bytes_read);
	out->bytes_written = atomic_load(&m->st.bytes_written);
	out->uptime_ms = (mono_ns() - m->t_open_ns) / 1000000;
	return 0;
}

static int mem_heartbeat(struct xport *x, uint64_t *rtt_ns)
{
	if (rtt_ns)
		*rtt_ns = 0;
	return atomic_load(&to_mem(x)->closed) ? -ECONNABORTED : 0;
}

static int mem_reclaim(struct xport *x, uint64_t bytes)
{
	return 0;
}

static enum xport_state mem_state(struct xport *x)
{
	return atomic_load(&to_mem(x)->closed) ? XPORT_CLOSED : XPORT_UP;
}

static void mem_get_stats(struct xport *x, struct xport_stats *out)
{
	struct xmem *m = to_mem(x);

	memset(out, 0, sizeof(*out));
	xstats_read(&m->st, out);
	out->kind = XPORT_MEM;
	out->state = mem_state(x);
}

static const char *mem_peer(struct xport *x)
{
	return to_mem(x)->peer;
}

static void mem_close(struct xport *x)
{
	struct xmem *m = to_mem(x);

	atomic_store(&m->closed, 1);
	pthread_mutex_destroy(&m->lock);
	batch_queue_destroy(&m->q);
	if (!m->shared) {
		munmap(m->mem, m->map_len);
		free(m->slab_state);
	}
	free(m);
}

const struct xport_backend xport_mem_backend = {
	.name = "mem",
	.open = mem_open,
	.wait_up = mem_wait_up,
	.submit = mem_submit,
	.submit_chain = mem_submit_chain,
	.reg = NULL,
	.alloc = mem_alloc,
	.free_slab = mem_free,
	.query = mem_query,
	.heartbeat = mem_heartbeat,
	.reclaim = mem_reclaim,
	.state = mem_state,
	.get_stats = mem_get_stats,
	.peer = mem_peer,
	.close = mem_close,
};
