// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verbs - the RDMA backend of rdma/xport.h: librdmacm for the connection,
 * SEND/RECV for control messages, one-sided RDMA READ/WRITE for all data.
 *
 *   client (this file)                               donor (rdma_server.c)
 *     | rdma_resolve_addr/route, post 2N RECVs          | rdma_listen
 *     | rdma_connect  ---------------------------------> | PD+CQ+QP per client,
 *     |                                                  | post N RECVs, accept
 *     |  <-------------------------------- ESTABLISHED   |
 *     | SEND HELLO  ------------------------------------> |
 *     |  <--------------------------------- SEND HELLO r |
 *     | SEND AUTH   ------------------------------------> |
 *     |  <------------ SEND ALLOC r (id 0), one per slab  | (reconnect: new
 *     |  <---------------------------------- SEND AUTH r |  rkeys, new PD)
 *     | SEND ALLOC  ------------------------------------> | reg MR in the
 *     |  <------------------ SEND ALLOC r(addr, rkey)     | client's PD
 *     | RDMA WRITE / RDMA READ chains (one doorbell) ===> | (no CPU)
 *     |  <----------------- SEND EVICT (unsolicited)      |
 *     | DISCONNECTED / failed WC: every pending request fails, reconnect
 *
 * Credits, no RNR retry (rnr_retry_count 0): the donor posts VB_CREDITS
 * receives; a client request takes one credit and its reply gives it back
 * (the donor re-posts before it replies), so at most VB_CREDITS requests
 * are outstanding. The client posts VB_CREDITS + VB_UNSOL receives: one per
 * possible reply plus VB_UNSOL for unsolicited donor messages (EVICT,
 * ERROR, slab refreshes); the donor spends one of VB_UNSOL credits on each,
 * and the client returns them in the immediate data of its next SEND (a
 * HEARTBEAT when it has nothing else to say and owes half of them).
 *
 * Send queue: every WR (data op or control SEND) takes an entry of a ring in
 * post order. Completions on an RC send queue arrive in order, so one
 * signalled completion retires every entry up to it; only the last WR of a
 * chain and every VB_SQ/4-th WR are signalled. A failed completion fails
 * its entry with the mapped error and breaks the connection: every other
 * pending entry and control call fails with -ECONNRESET, then the worker
 * reconnects with backoff.
 *
 * Threading: the worker thread owns connection setup and teardown and polls
 * the CQ (adaptively: drain, spin a bounded number of empty rounds, re-arm,
 * drain again, then sleep on the completion channel). x->lock guards the
 * state, the ring, credits, control slots, the slab table and the
 * registered regions; WRs are built and posted under it (a doorbell, never
 * a wait on the network). done() and event callbacks run without the lock.
 */
#include "cnm_config.h"

#include "common/clock.h"
#include "common/log.h"
#include "rdma/batch.h"
#include "rdma/handshake.h"
#include "rdma/verbs_probe.h"
#include "rdma/verbs_wire.h"
#include "rdma/xport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VB_NRECV	 (VB_CREDITS + VB_UNSOL)
#define VB_SQ		 256 /* send queue depth = ring entries */
#define VB_MAX_SGE	 16
#define VB_MAX_CHAIN	 64
#define VB_BOUNCE	 16 /* bounce slots of max_op_bytes each */
#define VB_REGIONS	 64
#define VB_SPIN		 16 /* empty polling rounds before re-arming */
#define VB_RECV_TAG	 (1ull << 63)
#define VB_TICK_MS	 100
#define VB_CM_TIMEOUT_MS 3000
#define VB_RD_ATOM	 16
#define VB_PROBE_MS	 1000
#define VB_COPY_BELOW	 2048 /* mean SGE bytes under which ops are copied */

enum vent_kind { VE_FREE, VE_DATA, VE_SEND };

struct vent {
	uint8_t kind;
	uint8_t dir;
	uint8_t signaled;
	int8_t bounce;	      /* slot or -1 */
	struct xport_io *ios; /* VE_DATA: the op's ios, in offset order */
	uint32_t len;
	uint64_t t_post_ns;
};

struct vctl {
	int busy;
	int done;
	int status; /* 0 or -errno */
	uint64_t id;
	uint32_t len;
	uint8_t body[VB_MSG];
};

struct vslab {
	uint32_t slab;
	uint32_t rkey;
	uint64_t addr;
	uint64_t size;
};

struct vregion {
	char *addr;
	size_t len;
	struct ibv_mr *mr; /* NULL while not connected */
};

struct vx {
	struct xport base;
	struct xport_cfg cfg; /* host/port/key point into this struct */
	char host[256], port[32], peer[300];
	struct auth_key key;
	struct hs_session hs_sess; /* worker: the session's secret */
	unsigned int max_chain, max_op_bytes, ctl_ms, io_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* state, ctl replies, resources */
	enum xport_state state; /* protected by lock */
	int last_err;		/* protected by lock */
	unsigned int attempts;	/* protected by lock */
	int given_up; /* protected by lock: the worker stopped trying */
	int closing;  /* protected by lock */
	int hs;	      /* worker handshaking: ctl allowed */
	pthread_t worker;
	int worker_set; /* worker is valid */
	pthread_t tid;	/* for the join */
	int wake_fd;

	/* the connection: set up and torn down by the worker */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *msg_mr;
	uint8_t *msgs; /* VB_NRECV receive then VB_CREDITS send buffers */
	struct ibv_mr *bounce_mr;
	uint8_t *bounce;
	uint32_t bounce_free; /* bit i: slot i free; protected by lock */
	unsigned int max_sge;
	unsigned int cq_events; /* unacked channel events, worker only */

	/* protected by lock */
	struct vent ring[VB_SQ];
	unsigned int head, count, unsignaled;
	int credits;
	uint32_t unsol_owed;
	struct vctl ctl[VB_CREDITS];
	uint64_t next_id;
	struct vslab *slabs;
	unsigned int nslabs, slab_cap;
	struct vregion regions[VB_REGIONS];
	unsigned int nregions;
	struct xport_stats st;
	uint32_t evict_slab[VB_UNSOL]; /* unsolicited EVICTs to deliver */
	uint64_t evict_deadline[VB_UNSOL];
	unsigned int nevict;

	struct batch_queue q;
};

static struct vx *to_vx(struct xport *x)
{
	return (struct vx *)x;
}

static unsigned int hist_bucket(uint64_t v)
{
	unsigned int b = 0;

	while (v > 1 && b < XPORT_HIST - 1) {
		v >>= 1;
		b++;
	}
	return b;
}

static int wc_errno(enum ibv_wc_status s)
{
	switch (s) {
	case IBV_WC_SUCCESS:
		return 0;
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
		return -EFAULT;
	case IBV_WC_REM_INV_REQ_ERR:
		return -EINVAL;
	default:
		return -ECONNRESET;
	}
}

/* ---- completion lists: done() runs after the lock is dropped ---- */

struct vdone {
	struct xport_io *head;
};

static void done_add(struct vx *x, struct vdone *d, struct xport_io *ios,
		     int status)
{
	struct xport_io *io, *next;
	uint64_t now = mono_ns();

	for (io = ios; io; io = next) {
		next = io->next;
		/* priv of the list node: status travels in t_submit_ns */
		if (status) {
			x->st.errors++;
			if (status == -ETIMEDOUT)
				x->st.timeouts++;
		} else {
			uint64_t lat = now - io->t_submit_ns;

			x->st.lat_ewma_ns =
				x->st.lat_ewma_ns
					? (x->st.lat_ewma_ns * 7 + lat) / 8
					: lat;
			if (io->dir == XPORT_READ)
				x->st.bytes_read += io->len;
			else
				x->st.bytes_written += io->len;
		}
		io->t_submit_ns = (uint64_t)(int64_t)status;
		io->next = d->head;
		d->head = io;
	}
}

static void done_run(struct vdone *d)
{
	struct xport_io *io, *next;

	for (io = d->head; io; io = next) {
		next = io->next;
		io->next = NULL;
		io->done(io, (int)(int64_t)io->t_submit_ns);
	}
	d->head = NULL;
}

/* ---- the send-queue ring ---- */

static void ring_retire(struct vx *x, struct vent *e, int status,
			struct vdone *d)
{
	if (e->kind == VE_DATA) {
		if (!status && e->bounce >= 0 && e->dir == XPORT_READ) {
			const uint8_t *src =
				x->bounce + (size_t)e->bounce * x->max_op_bytes;
			struct xport_io *io;

			for (io = e->ios; io; io = io->next) {
				memcpy(io->buf, src, io->len);
				src += io->len;
			}
		}
		if (e->bounce >= 0)
			x->bounce_free |= 1u << e->bounce;
		done_add(x, d, e->ios, status);
	}
	memset(e, 0, sizeof(*e));
	e->bounce = -1;
}

/* Retires entries from the head through `idx`: all but the last succeeded
 * (in-order completion), the last gets `status`. */
static void ring_complete(struct vx *x, unsigned int idx, int status,
			  struct vdone *d)
{
	unsigned int n = (idx + VB_SQ - x->head) % VB_SQ + 1;

	if (n > x->count) /* a completion for nothing posted: stale */
		return;
	while (n--) {
		struct vent *e = &x->ring[x->head];

		ring_retire(x, e, n ? 0 : status, d);
		x->head = (x->head + 1) % VB_SQ;
		x->count--;
	}
	pthread_cond_broadcast(&x->cond);
}

static void ring_fail_all(struct vx *x, int status, struct vdone *d)
{
	while (x->count) {
		ring_retire(x, &x->ring[x->head], status, d);
		x->head = (x->head + 1) % VB_SQ;
		x->count--;
	}
	x->unsignaled = 0;
}

/* ---- connection state ---- */

/*
 * Marks the connection broken: fails every pending request and control
 * call with `err`. Called with the lock held; the worker tears the verbs
 * objects down afterwards.
 */
static void conn_fail(struct vx *x, int err, struct vdone *d)
{
	unsigned int i;

	if (x->state == XPORT_UP || x->state == XPORT_CONNECTING) {
		if (x->state == XPORT_UP && err != -ECONNABORTED)
			log_warn("donor %s: rdma connection lost: %s", x->peer,
				 strerror(-err));
		x->state = XPORT_DOWN;
		x->last_err = err;
	}
	ring_fail_all(x,
		      err == -ETIMEDOUT || err == -ECONNABORTED ? err
								: -ECONNRESET,
		      d);
	for (i = 0; i < VB_CREDITS; i++) {
		if (x->ctl[i].busy && !x->ctl[i].done) {
			x->ctl[i].done = 1;
			x->ctl[i].status = -ECONNRESET;
		}
	}
	x->credits = 0;
	pthread_cond_broadcast(&x->cond);
}

static void slab_set(struct vx *x, const struct vslab *s)
{
	unsigned int i;

	for (i = 0; i < x->nslabs; i++) {
		if (x->slabs[i].slab == s->slab) {
			x->slabs[i] = *s;
			return;
		}
	}
	if (x->nslabs == x->slab_cap) {
		unsigned int cap = x->slab_cap ? x->slab_cap * 2 : 64;
		struct vslab *n = realloc(x->slabs, cap * sizeof(*n));

		if (!n)
			return; /* the slab stays unknown: its ios get -EINVAL */
		x->slabs = n;
		x->slab_cap = cap;
	}
	x->slabs[x->nslabs++] = *s;
}

static struct vslab *slab_find(struct vx *x, uint32_t slab)
{
	unsigned int i;

	for (i = 0; i < x->nslabs; i++)
		if (x->slabs[i].slab == slab)
			return &x->slabs[i];
	return NULL;
}

static struct ibv_mr *region_mr(struct vx *x, const void *buf, size_t len)
{
	unsigned int i;

	for (i = 0; i < x->nregions; i++) {
		const struct vregion *r = &x->regions[i];

		if (r->mr && (const char *)buf >= r->addr &&
		    (const char *)buf + len <= r->addr + r->len)
			return r->mr;
	}
	return NULL;
}

/* ---- posting ---- */

static int post_recv(struct vx *x, unsigned int i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(x->msgs + (size_t)i * VB_MSG),
		.length = VB_MSG,
		.lkey = x->msg_mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = VB_RECV_TAG | i,
				  .sg_list = &sge,
				  .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(x->qp, &wr, &bad);
}

static int is_worker(struct vx *x)
{
	return x->worker_set && pthread_equal(pthread_self(), x->worker);
}

static int poll_cq(struct vx *x);

/* The QP may carry messages: up, or the worker's handshake (lock held). */
static int conn_live(struct vx *x)
{
	return x->state == XPORT_UP || (x->state == XPORT_CONNECTING && x->hs);
}

/*
 * Waits (lock held) until the ring has `need` free entries or the
 * connection is gone. The worker cannot wait for itself: it polls.
 */
static int wait_ring(struct vx *x, unsigned int need)
{
	while (conn_live(x) && VB_SQ - x->count < need) {
		if (is_worker(x)) {
			pthread_mutex_unlock(&x->lock);
			poll_cq(x);
			pthread_mutex_lock(&x->lock);
		} else {
			pthread_cond_wait(&x->cond, &x->lock);
		}
	}
	return conn_live(x) ? 0 : -ENOTCONN;
}

/* Control SEND of slot `c` (lock held, a credit taken). */
static int post_ctl_send(struct vx *x, unsigned int c, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(x->msgs + (size_t)(VB_NRECV + c) * VB_MSG),
		.length = len,
		.lkey = x->msg_mr->lkey,
	};
	struct ibv_send_wr wr = { 0 }, *bad;
	unsigned int idx;
	int ret;

	ret = wait_ring(x, 1);
	if (ret)
		return ret;
	idx = (x->head + x->count) % VB_SQ;
	wr.wr_id = idx;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND_WITH_IMM;
	wr.imm_data = htonl(x->unsol_owed);
	wr.send_flags = IBV_SEND_SIGNALED;
	ret = -ibv_post_send(x->qp, &wr, &bad);
	if (ret)
		return ret;
	x->unsol_owed = 0;
	x->ring[idx].kind = VE_SEND;
	x->ring[idx].bounce = -1;
	x->ring[idx].signaled = 1;
	x->ring[idx].t_post_ns = mono_ns();
	x->count++;
	x->unsignaled = 0;
	x->st.posts++;
	return 0;
}

/*
 * One control request and its reply. Blocks up to ctl_ms. Returns 0 or
 * -errno (a reply status becomes -status); the reply body goes to out.
 */
static int ctl_call(struct vx *x, uint16_t op, const void *body, uint32_t blen,
		    void *out, uint32_t outmax, uint32_t *outlen)
{
	uint64_t deadline = mono_ns() + (uint64_t)x->ctl_ms * 1000000;
	struct proto_hdr h = { .op = op, .len = blen };
	struct timespec ts;
	unsigned int c = 0;
	uint8_t *buf;
	int ret;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += x->ctl_ms / 1000;
	ts.tv_nsec += (long)(x->ctl_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&x->lock);
	for (;;) {
		if (x->state != XPORT_UP && !(x->hs && is_worker(x))) {
			ret = -ENOTCONN;
			goto out_unlock;
		}
		if (x->credits > 0) {
			for (c = 0; c < VB_CREDITS && x->ctl[c].busy; c++)
				;
			if (c < VB_CREDITS)
				break;
		}
		if (is_worker(x)) {
			pthread_mutex_unlock(&x->lock);
			poll_cq(x);
			pthread_mutex_lock(&x->lock);
		} else if (pthread_cond_timedwait(&x->cond, &x->lock, &ts)) {
			ret = -ETIMEDOUT;
			goto out_unlock;
		}
		if (mono_ns() > deadline) {
			ret = -ETIMEDOUT;
			goto out_unlock;
		}
	}
	x->ctl[c].busy = 1;
	x->ctl[c].done = 0;
	x->ctl[c].id = ++x->next_id;
	h.id = x->ctl[c].id;
	buf = x->msgs + (size_t)(VB_NRECV + c) * VB_MSG;
	proto_hdr_enc(buf, &h);
	if (blen)
		memcpy(buf + sizeof(struct wire_hdr), body, blen);
	x->credits--;
	ret = post_ctl_send(x, c, sizeof(struct wire_hdr) + blen);
	if (ret) {
		x->credits++;
		x->ctl[c].busy = 0;
		goto out_unlock;
	}
	while (!x->ctl[c].done) {
		if (is_worker(x)) {
			pthread_mutex_unlock(&x->lock);
			poll_cq(x);
			pthread_mutex_lock(&x->lock);
			if (mono_ns() > deadline)
				break;
		} else if (pthread_cond_timedwait(&x->cond, &x->lock, &ts)) {
			break;
		}
	}
	if (!x->ctl[c].done) {
		/* the slot stays busy until the reply or a reset frees it */
		x->ctl[c].id = 0;
		ret = -ETIMEDOUT;
		goto out_unlock;
	}
	ret = x->ctl[c].status;
	if (out) {
		uint32_t n = x->ctl[c].len < outmax ? x->ctl[c].len : outmax;

		memcpy(out, x->ctl[c].body, n);
		if (outlen)
			*outlen = n;
	}
	x->ctl[c].busy = 0;
	pthread_cond_broadcast(&x->cond);
out_unlock:
	pthread_mutex_unlock(&x->lock);
	return ret;
}

/*
 * Fills one WR for op `o` (lock held): zero-copy SGEs when every io lies
 * in a registered region, they fit max_sge and are not tiny, else one SGE
 * on a bounce slot. Returns 0, -EAGAIN (no bounce slot free now) or -errno for the op.
 */
static int build_wr(struct vx *x, const struct batch_op *o,
		    const struct vslab *s, struct ibv_send_wr *wr,
		    struct ibv_sge *sge, int *bounce)
{
	struct xport_io *io;
	unsigned int n = 0;
	/* many tiny pieces: one copy beats a long gather list */
	int zc = o->nios <= x->max_sge &&
		 (o->nios == 1 || o->len / o->nios >= VB_COPY_BELOW);

	for (io = o->ios; io && zc; io = io->next)
		zc = region_mr(x, io->buf, io->len) != NULL;
	*bounce = -1;
	if (zc) {
		for (io = o->ios; io; io = io->next, n++) {
			sge[n].addr = (uintptr_t)io->buf;
			sge[n].length = io->len;
			sge[n].lkey = region_mr(x, io->buf, io->len)->lkey;
		}
	} else {
		uint8_t *dst;
		int b;

		if (o->len > x->max_op_bytes)
			return -EMSGSIZE;
		if (!x->bounce_free)
			return -EAGAIN;
		b = __builtin_ctz(x->bounce_free);
		x->bounce_free &= ~(1u << b);
		*bounce = b;
		dst = x->bounce + (size_t)b * x->max_op_bytes;
		sge[0].addr = (uintptr_t)dst;
		sge[0].length = o->len;
		sge[0].lkey = x->bounce_mr->lkey;
		n = 1;
		if (o->dir == XPORT_WRITE) {
			for (io = o->ios; io; io = io->next) {
				memcpy(dst, io->buf, io->len);
				dst += io->len;
			}
		}
	}
	memset(wr, 0, sizeof(*wr));
	wr->sg_list = sge;
	wr->num_sge = (int)n;
	wr->opcode =
		o->dir == XPORT_WRITE ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
	wr->wr.rdma.remote_addr = s->addr + o->off;
	wr->wr.rdma.rkey = s->rkey;
	return 0;
}

/* Posts wr[0..n) as one chain (lock held); entries were reserved at the
 * ring tail in the same order. On a post error the unposted ones fail. */
static void post_chain(struct vx *x, struct ibv_send_wr *wr, unsigned int n,
		       struct vdone *d)
{
	struct ibv_send_wr *bad = NULL;
	unsigned int i, first = (x->head + x->count) % VB_SQ, writes = 0;
	int ret;

	if (!n)
		return;
	for (i = 0; i < n; i++) {
		wr[i].next = i + 1 < n ? &wr[i + 1] : NULL;
		wr[i].wr_id = (first + i) % VB_SQ;
		if (i + 1 == n || ++x->unsignaled >= VB_SQ / 4) {
			wr[i].send_flags = IBV_SEND_SIGNALED;
			x->ring[(first + i) % VB_SQ].signaled = 1;
			x->unsignaled = 0;
		}
	}
	ret = -ibv_post_send(x->qp, wr, &bad);
	for (i = 0; i < n; i++) {
		struct vent *e = &x->ring[(first + i) % VB_SQ];

		if (ret && bad && &wr[i] >= bad) {
			ring_retire(x, e, -ENOTCONN, d);
			continue;
		}
		x->count++;
	}
	if (ret && !bad) { /* nothing posted */
		log_warn("donor %s: ibv_post_send: %s", x->peer,
			 strerror(-ret));
		return;
	}
	x->st.posts++;
	x->st.ops += n;
	x->st.ops_per_post[hist_bucket(n)]++;
	for (i = 0; i < n; i++)
		writes += wr[i].opcode == IBV_WR_RDMA_WRITE;
	if (writes) {
		x->st.write_posts++;
		x->st.write_ops += writes;
	}
}

/* batch_post_fn: one chain per call where resources allow. */
static void vb_post(void *ctx, struct batch_op *ops, unsigned int nops)
{
	struct vx *x = ctx;
	struct ibv_send_wr wr[VB_MAX_CHAIN];
	struct ibv_sge sge[VB_MAX_CHAIN][VB_MAX_SGE];
	struct vdone d = { 0 };
	unsigned int i, n = 0;

	pthread_mutex_lock(&x->lock);
	for (i = 0; i < nops; i++) {
		struct batch_op *o = &ops[i];
		struct vslab *s;
		struct vent *e;
		int ret, b = -1;

		if (x->state != XPORT_UP) {
			done_add(x, &d, o->ios, -ENOTCONN);
			continue;
		}
		s = slab_find(x, o->slab);
		if (!s || o->off + o->len > s->size ||
		    o->off + o->len < o->off) {
			done_add(x, &d, o->ios, -EINVAL);
			continue;
		}
		for (;;) {
			ret = -EAGAIN;
			if (n < VB_MAX_CHAIN && x->count + n < VB_SQ)
				ret = build_wr(x, o, s, &wr[n], sge[n], &b);
			if (ret != -EAGAIN)
				break;
			/* out of ring entries or bounce slots: flush what is
			 * built, then wait for completions */
			post_chain(x, wr, n, &d);
			n = 0;
			if (x->count == 0 && !x->bounce_free) {
				ret = -ENOBUFS;
				break;
			}
			if (is_worker(x)) {
				pthread_mutex_unlock(&x->lock);
				poll_cq(x);
				pthread_mutex_lock(&x->lock);
			} else {
				pthread_cond_wait(&x->cond, &x->lock);
			}
			if (x->state != XPORT_UP)
				break;
			s = slab_find(x, o->slab);
			if (!s)
				break;
		}
		if (x->state != XPORT_UP || !s) {
			done_add(x, &d, o->ios, s ? -ENOTCONN : -EINVAL);
			continue;
		}
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: slab %u: op of %u bytes: %s",
					x->peer, o->slab, o->len,
					strerror(-ret));
			done_add(x, &d, o->ios, ret);
			continue;
		}
		e = &x->ring[(x->head + x->count + n) % VB_SQ];
		e->kind = VE_DATA;
		e->dir = o->dir;
		e->bounce = (int8_t)b;
		e->ios = o->ios;
		e->len = o->len;
		e->signaled = 0;
		e->t_post_ns = mono_ns();
		x->st.kib_per_op[hist_bucket(o->len / 1024)]++;
		n++;
	}
	post_chain(x, wr, n, &d);
	pthread_mutex_unlock(&x->lock);
	done_run(&d);
}

/* ---- receive side ---- */

/* One received control message in buffer i (lock held). */
static void handle_msg(struct vx *x, const uint8_t *buf, uint32_t len,
		       struct vdone *d)
{
	struct proto_hdr h;
	const uint8_t *body = buf + sizeof(struct wire_hdr);
	unsigned int c;
	int ret;

	if (len < sizeof(struct wire_hdr)) {
		ret = -EBADMSG;
		goto out_bad;
	}
	ret = proto_hdr_dec(buf, &h);
	if (!ret && h.len > len - sizeof(struct wire_hdr))
		ret = -EMSGSIZE;
	if (ret)
		goto out_bad;
	if (h.op == PROTO_OP_ERROR) {
		log_err("donor %s: error from donor: %.*s", x->peer, (int)h.len,
			(const char *)body);
		x->unsol_owed++;
		conn_fail(x, -EPROTO, d);
		return;
	}
	if (h.op == PROTO_OP_EVICT && !(h.flags & PROTO_F_REPLY)) {
		struct wire_evict ev;

		x->unsol_owed++;
		if (h.len < sizeof(ev))
			return;
		memcpy(&ev, body, sizeof(ev));
		proto_evict_swap(&ev);
		if (x->nevict < VB_UNSOL) {
			x->evict_slab[x->nevict] = ev.slab;
			x->evict_deadline[x->nevict++] = ev.deadline_ms;
		}
		return;
	}
	if (!(h.flags & PROTO_F_REPLY)) {
		ret = -EPROTO;
		goto out_bad;
	}
	if (h.id == 0) {
		/* slab refresh after a reconnect: the slab's new key */
		struct wire_slab ws;
		struct vslab s;

		x->unsol_owed++;
		if (h.op != PROTO_OP_ALLOC || h.len < sizeof(ws))
			return;
		memcpy(&ws, body, sizeof(ws));
		proto_slab_swap(&ws);
		s.slab = ws.slab;
		s.rkey = ws.rkey;
		s.addr = ws.addr;
		s.size = ws.size;
		slab_set(x, &s);
		return;
	}
	x->credits++; /* the donor re-posted before replying */
	for (c = 0; c < VB_CREDITS; c++) {
		struct vctl *v = &x->ctl[c];

		if (!v->busy || v->id != h.id)
			continue;
		v->status = -(int)h.status;
		v->len = h.len < VB_MSG ? h.len : VB_MSG;
		memcpy(v->body, body, v->len);
		v->done = 1;
		break;
	}
	for (c = c < VB_CREDITS ? VB_CREDITS : 0; c < VB_CREDITS; c++) {
		/* matched nobody: the late reply of a timed-out call, whose
		 * slot can go now */
		if (x->ctl[c].busy && !x->ctl[c].id && !x->ctl[c].done) {
			x->ctl[c].busy = 0;
			break;
		}
	}
	pthread_cond_broadcast(&x->cond);
	return;
out_bad:
	LOG_RATELIMITED(LOG_WARNING, "donor %s: bad control message: %s",
			x->peer, proto_strerror(ret));
	conn_fail(x, -EPROTO, d);
}

/* Handles one work completion (lock held). */
static void handle_wc(struct vx *x, const struct ibv_wc *wc, struct vdone *d)
{
	if (wc->wr_id & VB_RECV_TAG) {
		unsigned int i = (unsigned int)(wc->wr_id & ~VB_RECV_TAG);

		if (wc->status != IBV_WC_SUCCESS) {
			if (x->state == XPORT_UP ||
			    x->state == XPORT_CONNECTING)
				conn_fail(x, -ECONNRESET, d);
			return;
		}
		if (i >= VB_NRECV)
			return;
		handle_msg(x, x->msgs + (size_t)i * VB_MSG, wc->byte_len, d);
		if ((x->state == XPORT_UP || x->state == XPORT_CONNECTING) &&
		    post_recv(x, i))
			conn_fail(x, -ECONNRESET, d);
		return;
	}
	if (wc->wr_id >= VB_SQ)
		return;
	if (wc->status != IBV_WC_SUCCESS) {
		int err = wc_errno(wc->status);

		if (wc->status != IBV_WC_WR_FLUSH_ERR)
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: work request failed: %s",
					x->peer, ibv_wc_status_str(wc->status));
		ring_complete(x, (unsigned int)wc->wr_id, err, d);
		conn_fail(x, err, d);
		return;
	}
	ring_complete(x, (unsigned int)wc->wr_id, 0, d);
}

static void emit(struct vx *x, enum xport_event_type type, uint32_t slab,
		 uint64_t deadline, int error)
{
	struct xport_event ev = { .type = type,
				  .slab = slab,
				  .deadline_ms = deadline,
				  .error = error };

	if (x->cfg.event)
		x->cfg.event(x->cfg.event_arg, &x->base, &ev);
}

/* Drains the CQ once; returns the number of completions handled. */
static int poll_cq(struct vx *x)
{
	struct ibv_wc wc[32];
	struct vdone d = { 0 };
	uint32_t eslab[VB_UNSOL];
	uint64_t edl[VB_UNSOL];
	unsigned int ne = 0, i;
	int n, total = 0, owe = 0;

	for (;;) {
		n = ibv_poll_cq(x->cq, 32, wc);
		if (n <= 0)
			break;
		pthread_mutex_lock(&x->lock);
		for (i = 0; i < (unsigned int)n; i++)
			handle_wc(x, &wc[i], &d);
		pthread_mutex_unlock(&x->lock);
		total += n;
		if (n < 32)
			break;
	}
	pthread_mutex_lock(&x->lock);
	if (x->nevict && is_worker(x)) {
		ne = x->nevict;
		memcpy(eslab, x->evict_slab, ne * sizeof(*eslab));
		memcpy(edl, x->evict_deadline, ne * sizeof(*edl));
		x->nevict = 0;
	}
	owe = x->state != XPORT_DOWN && x->unsol_owed >= VB_UNSOL / 2;
	pthread_mutex_unlock(&x->lock);
	done_run(&d);
	for (i = 0; i < ne; i++)
		emit(x, XPORT_EV_EVICT, eslab[i], edl[i], 0);
	if (owe && is_worker(x))
		/* give the donor its unsolicited credits back */
		ctl_call(x, PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0, NULL);
	return total;
}

/* ---- connection setup and teardown (worker) ---- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Waits for one CM event on the channel: 0 with *out, or -errno. */
static int cm_wait(struct rdma_event_channel *ec, int wake_fd,
		   unsigned int timeout_ms, struct rdma_cm_event **out)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;

	for (;;) {
		struct pollfd p[2] = { { .fd = ec->fd, .events = POLLIN },
				       { .fd = wake_fd, .events = POLLIN } };
		int64_t left = (int64_t)(deadline - mono_ns()) / 1000000;

		if (!rdma_get_cm_event(ec, out))
			return 0;
		if (errno != EAGAIN)
			return -errno;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(p, wake_fd >= 0 ? 2 : 1, (int)left) < 0 &&
		    errno != EINTR)
			return -errno;
		if (wake_fd >= 0 && (p[1].revents & POLLIN))
			return -ECONNABORTED;
	}
}

static int cm_expect(struct rdma_event_channel *ec, int wake_fd,
		     enum rdma_cm_event_type want, unsigned int timeout_ms)
{
	struct rdma_cm_event *ev;
	int ret;

	ret = cm_wait(ec, wake_fd, timeout_ms, &ev);
	if (ret)
		return ret;
	if (ev->event == want) {
		ret = 0;
	} else if (ev->event == RDMA_CM_EVENT_REJECTED) {
		ret = -ECONNREFUSED;
	} else if (ev->event == RDMA_CM_EVENT_UNREACHABLE ||
		   ev->event == RDMA_CM_EVENT_ADDR_ERROR ||
		   ev->event == RDMA_CM_EVENT_ROUTE_ERROR) {
		ret = ev->status == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
	} else {
		ret = -ECONNRESET;
	}
	rdma_ack_cm_event(ev);
	return ret;
}

static void conn_teardown(struct vx *x)
{
	unsigned int i;

	if (x->id && x->qp)
		rdma_disconnect(x->id);
	if (x->qp)
		rdma_destroy_qp(x->id);
	x->qp = NULL;
	for (i = 0; i < x->nregions; i++) {
		if (x->regions[i].mr)
			ibv_dereg_mr(x->regions[i].mr);
		x->regions[i].mr = NULL;
	}
	if (x->bounce_mr)
		ibv_dereg_mr(x->bounce_mr);
	x->bounce_mr = NULL;
	if (x->msg_mr)
		ibv_dereg_mr(x->msg_mr);
	x->msg_mr = NULL;
	if (x->cq) {
		if (x->cq_events)
			ibv_ack_cq_events(x->cq, x->cq_events);
		ibv_destroy_cq(x->cq);
	}
	x->cq_events = 0;
	x->cq = NULL;
	if (x->cc)
		ibv_destroy_comp_channel(x->cc);
	x->cc = NULL;
	if (x->pd)
		ibv_dealloc_pd(x->pd);
	x->pd = NULL;
	if (x->id)
		rdma_destroy_id(x->id);
	x->id = NULL;
	if (x->ec)
		rdma_destroy_event_channel(x->ec);
	x->ec = NULL;
}

/* Registers every region not registered on this connection yet (lock
 * held, the PD alive); failures leave the region to the bounce buffers. */
static void regions_register(struct vx *x)
{
	unsigned int i;

	for (i = 0; i < x->nregions; i++) {
		if (x->regions[i].mr)
			continue;
		x->regions[i].mr =
			ibv_reg_mr(x->pd, x->regions[i].addr, x->regions[i].len,
				   IBV_ACCESS_LOCAL_WRITE);
		if (!x->regions[i].mr)
			log_warn("donor %s: registering %zu bytes: %s; "
				 "copying through bounce buffers",
				 x->peer, x->regions[i].len, strerror(errno));
	}
}

static int conn_handshake(struct vx *x)
{
	struct hs_params p = { .key = &x->key,
			       .sess = x->cfg.sess ? x->cfg.sess : &x->hs_sess,
			       .slab_size = x->cfg.slab_size,
			       .caps = PROTO_CAP_RDMA,
			       .timeout_ms = x->ctl_ms };
	struct wire_hello reply;
	struct wire_auth auth;
	struct proto_hdr h = { .op = PROTO_OP_HELLO, .flags = PROTO_F_REPLY };
	struct hs_client st;
	struct hs_result res;
	char err[160] = "";
	uint32_t n = 0;
	int ret;

	memcpy(p.session, x->cfg.session, PROTO_SESSION_LEN);
	hs_hello_build(&p, &st);
	reply = st.sent;
	proto_hello_swap(&reply); /* on the wire order */
	ret = ctl_call(x, PROTO_OP_HELLO, &reply, sizeof(reply), &reply,
		       sizeof(reply), &n);
	h.status = ret < 0 ? (uint32_t)-ret : 0;
	h.len = n;
	if (ret &&
	    (ret == -ENOTCONN || ret == -ETIMEDOUT || ret == -ECONNRESET))
		return ret;
	if (n == sizeof(reply))
		proto_hello_swap(&reply);
	ret = hs_hello_reply_check(&p, &st, &h,
				   n == sizeof(reply) ? &reply : NULL, &auth,
				   &res, err, sizeof(err));
	if (ret) {
		LOG_RATELIMITED(LOG_ERR, "donor %s: rdma handshake refused: %s",
				x->peer, err[0] ? err : strerror(-ret));
		return ret;
	}
	ret = ctl_call(x, PROTO_OP_AUTH, &auth, sizeof(auth), NULL, 0, NULL);
	if (ret) {
		h = (struct proto_hdr){ .op = PROTO_OP_AUTH,
					.flags = PROTO_F_REPLY,
					.status = (uint32_t)-ret };
		hs_auth_reply_check(&h, err, sizeof(err));
		LOG_RATELIMITED(LOG_ERR,
				"donor %s: rdma authentication refused: %s",
				x->peer, err);
		return ret;
	}
	return 0;
}

/*
 * Resolves the donor and creates the CM id (worker). What exists on an
 * error is undone by conn_teardown(), which the worker runs after every
 * attempt, so these functions leave through one exit without labels.
 */
static int conn_resolve(struct vx *x)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *ai;
	int ret;

	x->ec = rdma_create_event_channel();
	if (!x->ec) {
		ret = errno ? -errno : -ENODEV;
		goto out;
	}
	ret = set_nonblock(x->ec->fd);
	if (ret)
		goto out;
	if (rdma_create_id(x->ec, &x->id, x, RDMA_PS_TCP)) {
		ret = -errno;
		goto out;
	}
	if (rdma_getaddrinfo(x->host, x->port, &hints, &ai)) {
		ret = -EHOSTUNREACH;
		goto out;
	}
	ret = rdma_resolve_addr(x->id, NULL, ai->ai_dst_addr, VB_CM_TIMEOUT_MS)
		      ? -errno
		      : 0;
	rdma_freeaddrinfo(ai);
	if (!ret)
		ret = cm_expect(x->ec, x->wake_fd, RDMA_CM_EVENT_ADDR_RESOLVED,
				VB_CM_TIMEOUT_MS + 500);
	if (ret)
		goto out;
	ret = rdma_resolve_route(x->id, VB_CM_TIMEOUT_MS) ? -errno : 0;
	if (!ret)
		ret = cm_expect(x->ec, x->wake_fd, RDMA_CM_EVENT_ROUTE_RESOLVED,
				VB_CM_TIMEOUT_MS + 500);
out:
	return ret;
}

/* PD, CQ, QP, registrations and the posted receives (worker). */
static int conn_verbs(struct vx *x, struct ibv_device_attr *da)
{
	struct ibv_qp_init_attr qa = { 0 };
	size_t blen = (size_t)VB_BOUNCE * x->max_op_bytes;
	unsigned int i;
	int ret = 0;

	if (ibv_query_device(x->id->verbs, da)) {
		ret = -EIO;
		goto out;
	}
	x->max_sge = (unsigned int)da->max_sge < VB_MAX_SGE
			     ? (unsigned int)da->max_sge
			     : VB_MAX_SGE;
	x->pd = ibv_alloc_pd(x->id->verbs);
	x->cc = ibv_create_comp_channel(x->id->verbs);
	if (!x->pd || !x->cc) {
		ret = -ENOMEM;
		goto out;
	}
	ret = set_nonblock(x->cc->fd);
	if (ret)
		goto out;
	x->cq = ibv_create_cq(x->id->verbs, VB_SQ + VB_NRECV, x, x->cc, 0);
	if (!x->cq) {
		ret = -ENOMEM;
		goto out;
	}
	qa.send_cq = x->cq;
	qa.recv_cq = x->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = VB_SQ;
	qa.cap.max_recv_wr = VB_NRECV;
	qa.cap.max_send_sge = x->max_sge;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(x->id, x->pd, &qa)) {
		ret = -errno;
		goto out;
	}
	x->qp = x->id->qp;
	x->msg_mr = ibv_reg_mr(x->pd, x->msgs,
			       (size_t)(VB_NRECV + VB_CREDITS) * VB_MSG,
			       IBV_ACCESS_LOCAL_WRITE);
	x->bounce_mr =
		ibv_reg_mr(x->pd, x->bounce, blen, IBV_ACCESS_LOCAL_WRITE);
	if (!x->msg_mr || !x->bounce_mr) {
		ret = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&x->lock);
	regions_register(x);
	x->bounce_free = (1u << VB_BOUNCE) - 1;
	x->credits = VB_CREDITS;
	x->unsol_owed = 0;
	x->head = x->count = x->unsignaled = 0;
	memset(x->ctl, 0, sizeof(x->ctl));
	pthread_mutex_unlock(&x->lock);
	for (i = 0; i < VB_NRECV && !ret; i++)
		ret = post_recv(x, i);
	if (!ret && ibv_req_notify_cq(x->cq, 0))
		ret = -EIO;
out:
	return ret;
}

static int conn_setup(struct vx *x)
{
	struct rdma_conn_param cp = { 0 };
	struct ibv_device_attr da;
	int ret;

	ret = conn_resolve(x);
	if (!ret)
		ret = conn_verbs(x, &da);
	if (ret)
		goto out;
	cp.initiator_depth = da.max_qp_init_rd_atom < VB_RD_ATOM
				     ? (uint8_t)da.max_qp_init_rd_atom
				     : VB_RD_ATOM;
	cp.responder_resources = 0;
	cp.retry_count = 7;
	cp.rnr_retry_count = 0; /* credits, never RNR */
	if (rdma_connect(x->id, &cp)) {
		ret = -errno;
		goto out;
	}
	ret = cm_expect(x->ec, x->wake_fd, RDMA_CM_EVENT_ESTABLISHED,
			VB_CM_TIMEOUT_MS + 2000);
out:
	return ret;
}

/* The CQ and CM loop while connected; returns why the connection ended. */
static int conn_run(struct vx *x)
{
	unsigned int empty = 0;
	int err = 0;

	for (;;) {
		struct pollfd p[3] = { { .fd = x->cc->fd, .events = POLLIN },
				       { .fd = x->ec->fd, .events = POLLIN },
				       { .fd = x->wake_fd, .events = POLLIN } };
		struct rdma_cm_event *ev;
		struct ibv_cq *ecq;
		void *ectx;

		pthread_mutex_lock(&x->lock);
		if (x->closing || x->state != XPORT_UP) {
			err = x->closing ? -ECONNABORTED : x->last_err;
			pthread_mutex_unlock(&x->lock);
			break;
		}
		if (x->count && mono_ns() - x->ring[x->head].t_post_ns >
					(uint64_t)x->io_ms * 1000000) {
			struct vdone d = { 0 };

			log_warn("donor %s: rdma request timed out", x->peer);
			conn_fail(x, -ETIMEDOUT, &d);
			pthread_mutex_unlock(&x->lock);
			done_run(&d);
			continue;
		}
		pthread_mutex_unlock(&x->lock);

		if (poll_cq(x) > 0) {
			empty = 0;
			continue;
		}
		if (++empty < VB_SPIN)
			continue;
		/* re-arm, then poll again: a completion that arrived between
		 * the last poll and the arming raises no event */
		if (ibv_req_notify_cq(x->cq, 0)) {
			err = -EIO;
			break;
		}
		if (poll_cq(x) > 0) {
			empty = 0;
			continue;
		}
		if (poll(p, 3, VB_TICK_MS) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		empty = 0;
		if ((p[0].revents & POLLIN) &&
		    !ibv_get_cq_event(x->cc, &ecq, &ectx)) {
			if (++x->cq_events >= 64) {
				ibv_ack_cq_events(x->cq, x->cq_events);
				x->cq_events = 0;
			}
		}
		if ((p[1].revents & POLLIN) && !rdma_get_cm_event(x->ec, &ev)) {
			enum rdma_cm_event_type t = ev->event;

			rdma_ack_cm_event(ev);
			if (t == RDMA_CM_EVENT_DISCONNECTED ||
			    t == RDMA_CM_EVENT_DEVICE_REMOVAL ||
			    t == RDMA_CM_EVENT_TIMEWAIT_EXIT) {
				struct vdone d = { 0 };

				pthread_mutex_lock(&x->lock);
				conn_fail(x, -ECONNRESET, &d);
				pthread_mutex_unlock(&x->lock);
				done_run(&d);
			}
		}
		if (p[2].revents & POLLIN) {
			uint64_t v;

			if (read(x->wake_fd, &v, sizeof(v)) < 0)
				v = 0;
		}
	}
	return err;
}

static int fatal_err(int err)
{
	return err == -EACCES || err == -EPROTONOSUPPORT || err == -EINVAL;
}

static void *worker_main(void *arg)
{
	struct vx *x = arg;
	unsigned int backoff =
		x->cfg.reconnect_min_ms ? x->cfg.reconnect_min_ms : 100;
	int ever_up = 0;

	/* pthread_create() may return after this thread has started */
	pthread_mutex_lock(&x->lock);
	x->worker = pthread_self();
	x->worker_set = 1;
	pthread_mutex_unlock(&x->lock);
	for (;;) {
		struct vdone d = { 0 };
		uint64_t wait_ns;
		int ret;

		pthread_mutex_lock(&x->lock);
		if (x->closing) {
			pthread_mutex_unlock(&x->lock);
			break;
		}
		x->state = XPORT_CONNECTING;
		x->hs = 1;
		pthread_mutex_unlock(&x->lock);
		ret = conn_setup(x);
		if (!ret) {
			pthread_mutex_lock(&x->lock);
			x->state = XPORT_CONNECTING;
			pthread_mutex_unlock(&x->lock);
			ret = conn_handshake(x);
		}
		pthread_mutex_lock(&x->lock);
		x->hs = 0;
		x->attempts++;
		if (!ret && x->state == XPORT_CONNECTING && !x->closing) {
			regions_register(x); /* those added while connecting */
			x->state = XPORT_UP;
			x->last_err = 0;
			if (ever_up)
				x->st.reconnects++;
			pthread_cond_broadcast(&x->cond);
			pthread_mutex_unlock(&x->lock);
			log_info("donor %s: rdma connected", x->peer);
			ever_up = 1;
			backoff = x->cfg.reconnect_min_ms
					  ? x->cfg.reconnect_min_ms
					  : 100;
			emit(x, XPORT_EV_UP, 0, 0, 0);
			ret = conn_run(x);
			pthread_mutex_lock(&x->lock);
			conn_fail(x, ret ? ret : -ECONNRESET, &d);
			pthread_mutex_unlock(&x->lock);
			done_run(&d);
			if (ret != -ECONNABORTED)
				emit(x, XPORT_EV_DOWN, 0, 0,
				     ret ? ret : -ECONNRESET);
			pthread_mutex_lock(&x->lock);
		} else {
			if (!ret)
				ret = -ECONNRESET;
			x->last_err = ret;
			conn_fail(x, ret, &d);
			x->state = XPORT_DOWN;
			x->last_err = ret;
			pthread_cond_broadcast(&x->cond);
		}
		pthread_mutex_unlock(&x->lock);
		done_run(&d);
		conn_teardown(x);

		pthread_mutex_lock(&x->lock);
		if (x->closing || !x->cfg.reconnect_max_ms || fatal_err(ret)) {
			x->given_up = 1;
			pthread_cond_broadcast(&x->cond);
			pthread_mutex_unlock(&x->lock);
			break;
		}
		pthread_mutex_unlock(&x->lock);
		wait_ns = (uint64_t)backoff * 1000000;
		{
			struct pollfd p = { .fd = x->wake_fd,
					    .events = POLLIN };

			poll(&p, 1, (int)(wait_ns / 1000000));
		}
		backoff = backoff * 2 > x->cfg.reconnect_max_ms
				  ? x->cfg.reconnect_max_ms
				  : backoff * 2;
	}
	return NULL;
}

/* ---- the xport_backend ---- */

static void vb_free(struct vx *x)
{
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	free(x->msgs);
	free(x->bounce);
	free(x->slabs);
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

static int vb_open(const struct xport_cfg *cfg, struct xport **out)
{
	struct batch_limits lim;
	pthread_condattr_t ca;
	pthread_t tid;
	struct vx *x;
	int ret;

	if (!cfg->host || !cfg->port || strlen(cfg->host) >= 256 ||
	    strlen(cfg->port) >= 32)
		return -EINVAL;
	/* fail fast (XPORT_AUTO falls back to TCP) when no device has a
	 * route to the donor */
	if (!xport_rdma_reachable(cfg->host, cfg->port, VB_PROBE_MS))
		return -ENETUNREACH;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->base.ops = &xport_rdma_backend;
	x->cfg = *cfg;
	strcpy(x->host, cfg->host);
	strcpy(x->port, cfg->port);
	snprintf(x->peer, sizeof(x->peer), "%s:%s", x->host, x->port);
	x->cfg.host = x->host;
	x->cfg.port = x->port;
	if (cfg->key)
		x->key = *cfg->key;
	x->cfg.key = &x->key;
	x->max_chain = cfg->max_chain ? cfg->max_chain : 32;
	if (x->max_chain > VB_MAX_CHAIN)
		x->max_chain = VB_MAX_CHAIN;
	x->max_op_bytes = cfg->max_op_bytes ? cfg->max_op_bytes : 512 * 1024;
	x->ctl_ms = cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : 5000;
	x->io_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : 10000;
	x->state = XPORT_CONNECTING;
	x->st.kind = XPORT_RDMA;
	x->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->msgs = calloc(VB_NRECV + VB_CREDITS, VB_MSG);
	x->bounce = aligned_alloc(4096, (size_t)VB_BOUNCE * x->max_op_bytes);
	pthread_condattr_init(&ca);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (x->wake_fd < 0 || !x->msgs || !x->bounce) {
		ret = -ENOMEM;
		goto out_free;
	}
	lim.max_chain = x->max_chain;
	lim.max_op_bytes = x->max_op_bytes;
	lim.max_ios_per_op = VB_MAX_SGE;
	ret = batch_queue_init(&x->q, &lim, vb_post, x);
	if (ret)
		goto out_free;
	ret = -pthread_create(&tid, NULL, worker_main, x);
	if (ret)
		goto out_batch;
	x->tid = tid;
	*out = &x->base;
	return 0;
out_batch:
	batch_queue_destroy(&x->q);
out_free:
	vb_free(x);
	return ret;
}

static int vb_wait_up(struct xport *xp, unsigned int timeout_ms)
{
	struct vx *x = to_vx(xp);
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	int ret;

	pthread_mutex_lock(&x->lock);
	for (;;) {
		struct timespec ts;

		if (x->state == XPORT_UP) {
			ret = 0;
			break;
		}
		if (x->closing) {
			ret = -ECONNABORTED;
			break;
		}
		/* an error is final once the worker stopped trying */
		if (x->last_err && (x->given_up || fatal_err(x->last_err))) {
			ret = x->last_err;
			break;
		}
		if (mono_ns() >= deadline) {
			ret = x->last_err ? x->last_err : -ETIMEDOUT;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return ret;
}

static void vb_submit(struct xport *xp, struct xport_io *io)
{
	struct vx *x = to_vx(xp);

	io->next = NULL;
	io->t_submit_ns = mono_ns();
	__atomic_fetch_add(&x->st.ios, 1, __ATOMIC_RELAXED);
	if (!io->len || io->len > PROTO_MAX_IO || !io->buf ||
	    io->dir > XPORT_WRITE) {
		io->done(io, -EINVAL);
		return;
	}
	batch_submit(&x->q, io);
}

static int vb_reg(struct xport *xp, void *addr, size_t len)
{
	struct vx *x = to_vx(xp);
	struct vregion *r;
	int ret = 0;

	pthread_mutex_lock(&x->lock);
	if (x->nregions == VB_REGIONS) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	r = &x->regions[x->nregions];
	r->addr = addr;
	r->len = len;
	r->mr = NULL;
	if (x->state == XPORT_UP) {
		/* else the worker registers it before the connection is up */
		r->mr = ibv_reg_mr(x->pd, addr, len, IBV_ACCESS_LOCAL_WRITE);
		if (!r->mr) {
			ret = -errno;
			goto out_unlock;
		}
	}
	x->nregions++;
out_unlock:
	pthread_mutex_unlock(&x->lock);
	return ret;
}

static int vb_alloc(struct xport *xp, struct xport_slab *out)
{
	struct vx *x = to_vx(xp);
	struct wire_slab ws;
	struct vslab s;
	uint32_t n = 0;
	int ret;

	ret = ctl_call(x, PROTO_OP_ALLOC, NULL, 0, &ws, sizeof(ws), &n);
	if (ret)
		return ret;
	if (n < sizeof(ws))
		return -EPROTO;
	proto_slab_swap(&ws);
	s.slab = ws.slab;
	s.rkey = ws.rkey;
	s.addr = ws.addr;
	s.size = ws.size;
	pthread_mutex_lock(&x->lock);
	slab_set(x, &s);
	pthread_mutex_unlock(&x->lock);
	out->slab = ws.slab;
	out->rkey = ws.rkey;
	out->size = ws.size;
	out->addr = ws.addr;
	return 0;
}

static int vb_free_slab(struct xport *xp, uint32_t slab)
{
	struct vx *x = to_vx(xp);
	struct wire_slab_ref r = { .slab = slab };
	struct vslab *s;
	int ret;

	proto_slab_ref_swap(&r);
	ret = ctl_call(x, PROTO_OP_FREE, &r, sizeof(r), NULL, 0, NULL);
	if (ret)
		return ret;
	pthread_mutex_lock(&x->lock);
	s = slab_find(x, slab);
	if (s)
		*s = x->slabs[--x->nslabs];
	pthread_mutex_unlock(&x->lock);
	return 0;
}

static int vb_query(struct xport *xp, struct wire_state *out)
{
	uint32_t n = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = ctl_call(to_vx(xp), PROTO_OP_QUERY, NULL, 0, out, sizeof(*out),
		       &n);
	if (!ret && n < sizeof(*out))
		ret = -EPROTO;
	if (!ret)
		proto_state_swap(out);
	return ret;
}

static int vb_heartbeat(struct xport *xp, uint64_t *rtt_ns)
{
	uint64_t t0 = mono_ns();
	int ret;

	ret = ctl_call(to_vx(xp), PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0, NULL);
	if (!ret && rtt_ns)
		*rtt_ns = mono_ns() - t0;
	return ret;
}

static int vb_reclaim(struct xport *xp, uint64_t bytes)
{
	struct wire_reclaim r = { .bytes = bytes };

	proto_reclaim_swap(&r);
	return ctl_call(to_vx(xp), PROTO_OP_RECLAIM, &r, sizeof(r), NULL, 0,
			NULL);
}

static enum xport_state vb_state(struct xport *xp)
{
	struct vx *x = to_vx(xp);
	enum xport_state s;

	pthread_mutex_lock(&x->lock);
	s = x->state;
	pthread_mutex_unlock(&x->lock);
	return s;
}

static void vb_get_stats(struct xport *xp, struct xport_stats *out)
{
	struct vx *x = to_vx(xp);

	pthread_mutex_lock(&x->lock);
	*out = x->st;
	out->ios = __atomic_load_n(&x->st.ios, __ATOMIC_RELAXED);
	out->state = x->state;
	out->kind = XPORT_RDMA;
	pthread_mutex_unlock(&x->lock);
}

static const char *vb_peer(struct xport *xp)
{
	return to_vx(xp)->peer;
}

static void vb_close(struct xport *xp)
{
	struct vx *x = to_vx(xp);
	struct vdone d = { 0 };
	uint64_t one = 1;

	pthread_mutex_lock(&x->lock);
	x->closing = 1;
	conn_fail(x, -ECONNABORTED, &d);
	x->state = XPORT_CLOSED;
	pthread_mutex_unlock(&x->lock);
	done_run(&d);
	if (write(x->wake_fd, &one, sizeof(one)) < 0)
		log_debug("donor %s: wake: %s", x->peer, strerror(errno));
	pthread_join(x->tid, NULL);
	conn_teardown(x);
	batch_queue_destroy(&x->q);
	vb_free(x);
}

const struct xport_backend xport_rdma_backend = {
	.name = "rdma",
	.open = vb_open,
	.wait_up = vb_wait_up,
	.submit = vb_submit,
	.reg = vb_reg,
	.alloc = vb_alloc,
	.free_slab = vb_free_slab,
	.query = vb_query,
	.heartbeat = vb_heartbeat,
	.reclaim = vb_reclaim,
	.state = vb_state,
	.get_stats = vb_get_stats,
	.peer = vb_peer,
	.close = vb_close,
};

/* ---- probe and test hooks (rdma/verbs_probe.h) ---- */

int xport_rdma_reachable(const char *host, const char *port,
			 unsigned int timeout_ms)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *ai;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	int ok = 0;

	ec = rdma_create_event_channel();
	if (!ec)
		goto out;
	if (set_nonblock(ec->fd) || rdma_create_id(ec, &id, NULL, RDMA_PS_TCP))
		goto out_ec;
	if (rdma_getaddrinfo(host, port, &hints, &ai))
		goto out_id;
	if (!rdma_resolve_addr(id, NULL, ai->ai_dst_addr, (int)timeout_ms) &&
	    !cm_expect(ec, -1, RDMA_CM_EVENT_ADDR_RESOLVED, timeout_ms + 200) &&
	    !rdma_resolve_route(id, (int)timeout_ms) &&
	    !cm_expect(ec, -1, RDMA_CM_EVENT_ROUTE_RESOLVED, timeout_ms + 200))
		ok = id->verbs != NULL;
	rdma_freeaddrinfo(ai);
out_id:
	rdma_destroy_id(id);
out_ec:
	rdma_destroy_event_channel(ec);
out:
	return ok;
}

int xport_rdma_slab_info(struct xport *xp, uint32_t slab,
			 struct xport_slab *out)
{
	struct vx *x = to_vx(xp);
	struct vslab *s;
	int ret = -ENOENT;

	pthread_mutex_lock(&x->lock);
	s = slab_find(x, slab);
	if (s) {
		out->slab = s->slab;
		out->rkey = s->rkey;
		out->addr = s->addr;
		out->size = s->size;
		ret = 0;
	}
	pthread_mutex_unlock(&x->lock);
	return ret;
}

int xport_rdma_forge_slab(struct xport *xp, const struct xport_slab *in)
{
	struct vx *x = to_vx(xp);
	struct vslab s = { .slab = in->slab,
			   .rkey = in->rkey,
			   .addr = in->addr,
			   .size = in->size };
	int ret;

	pthread_mutex_lock(&x->lock);
	slab_set(x, &s);
	ret = slab_find(x, in->slab) ? 0 : -ENOMEM;
	pthread_mutex_unlock(&x->lock);
	return ret;
}
