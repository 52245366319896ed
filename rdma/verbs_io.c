// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verbs_io - the bytes of the RDMA transport: the send-queue ring, data
 * chains of one-sided RDMA READ/WRITE, control messages on SEND/RECV and
 * their completions. The connection itself (rdma_cm, resources, the
 * handshake, the loop while connected) is verbs_conn.c; its life is the
 * core's (rdma/conn.h).
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
 * pending entry and control call fails with -ECONNRESET, then the core
 * reconnects with backoff.
 *
 * Threading: x->xc.lock guards the ring, credits, control slots, the slab
 * table and the registered regions; WRs are built and posted under it (a
 * doorbell, never a wait on the network). The poller drains the CQ: the
 * connector during the handshake, then the holder of the CQ's claim (the
 * loop of verbs_loop.c, or a thread collecting its own completion,
 * verbs_poll.c). A caller
 * that must wait for ring space or a reply waits on the core's condvar;
 * the poller drains the CQ itself instead (vb_poller()). A control call
 * on the loop (from a done() or event callback) fails with -EDEADLK, as
 * over TCP: the loop serves every connection and must not wait a round
 * trip for one; the loop's own HEARTBEAT that hands credits back waits
 * for no reply. done() and event callbacks run without the lock.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/verbs_priv.h"
#include "rdma/verbs_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

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

static void vb_done_add(struct vx *x, struct vdone *d, struct xport_io *ios,
			int status)
{
	struct xport_io *io, *next;
	uint64_t now = mono_ns();

	for (io = ios; io; io = next) {
		next = io->next;
		xconn_io_done(&x->xc, io, status, now);
		/* priv of the list node: status travels in t_submit_ns */
		io->t_submit_ns = (uint64_t)(int64_t)status;
		io->next = d->head;
		d->head = io;
	}
}

void vb_done_run(struct vdone *d)
{
	struct xport_io *io, *next;

	for (io = d->head; io; io = next) {
		next = io->next;
		io->next = NULL;
		io->done(io, (int)(int64_t)io->t_submit_ns);
	}
	d->head = NULL;
}

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
		vb_done_add(x, d, e->ios, status);
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
	pthread_cond_broadcast(&x->xc.cond);
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

/*
 * Marks the connection broken: fails every pending request and control
 * call with `err`. Called with the lock held; the conn thread tears the
 * verbs objects down afterwards.
 */
void vb_conn_fail(struct vx *x, int err, struct vdone *d)
{
	xconn_set_down_locked(&x->xc, err);
	ring_fail_all(x,
		      err == -ETIMEDOUT || err == -ECONNABORTED ? err
								: -ECONNRESET,
		      d);
	vb_ctl_fail_locked(x, -ECONNRESET);
	x->credits = 0;
	pthread_cond_broadcast(&x->xc.cond);
}

void vb_ctl_fail_locked(struct vx *x, int err)
{
	unsigned int i;

	for (i = 0; i < VB_CREDITS; i++) {
		if (x->ctl[i].busy && !x->ctl[i].done) {
			x->ctl[i].done = 1;
			x->ctl[i].status = err;
		}
	}
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

static int post_recv(struct vx *x, unsigned int i)
{
	return vsetup_post_recv(&x->vs, x->qp, i);
}

/* The QP may carry messages: up, or the worker's handshake (lock held). */
static int conn_live(struct vx *x)
{
	return x->xc.state == XPORT_UP ||
	       (x->xc.state == XPORT_CONNECTING && x->hs);
}

bool vb_poller(struct vx *x)
{
	return xconn_on_thread(&x->xc) || vbl_on_thread();
}

int vb_timeout_locked(struct vx *x, uint64_t now, struct vdone *d)
{
	if (!x->count || mono_since(now, x->ring[x->head].t_post_ns) <=
				 (uint64_t)x->xc.io_ms * 1000000)
		return 0;
	log_warn("donor %s: rdma request timed out", x->xc.peer);
	vb_conn_fail(x, -ETIMEDOUT, d);
	return -ETIMEDOUT;
}

/*
 * Waits (lock held) for completions to free ring entries or bounce slots:
 * the poller cannot wait for itself, so it polls the CQ (the lock dropped
 * meanwhile); another thread waits on xc.cond. On the loop, whose timer
 * cannot run meanwhile, the oldest request's io_timeout_ms bounds the
 * wait: past it the connection fails (callers see it not UP).
 */
static void wait_completions(struct vx *x)
{
	struct vdone d = { 0 };

	if (vb_poller(x)) {
		if (vbl_on_thread())
			vb_timeout_locked(x, mono_ns(), &d);
		pthread_mutex_unlock(&x->xc.lock);
		vb_done_run(&d);
		if (vb_drain(x) < 0)
			sched_yield(); /* a poller holds the CQ for < a tick */
		pthread_mutex_lock(&x->xc.lock);
	} else {
		pthread_cond_wait(&x->xc.cond, &x->xc.lock);
	}
}

/*
 * Waits (lock held) until the ring has `need` free entries or the
 * connection is gone.
 */
static int wait_ring(struct vx *x, unsigned int need)
{
	while (conn_live(x) && VB_SQ - x->count < need)
		wait_completions(x);
	return conn_live(x) ? 0 : -ENOTCONN;
}

/* Control SEND of slot `c` (lock held, a credit taken). */
static int post_ctl_send(struct vx *x, unsigned int c, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(x->msgs + (size_t)(VB_NRECV + c) * VB_MSG),
		.length = len,
		.lkey = x->vs.msg_mr->lkey,
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
	XS_ADD(x->xc.st.posts, 1);
	return 0;
}

/*
 * One control request and its reply. Blocks up to ctl_ms. Returns 0 or
 * -errno (a reply status through proto_status_errno); the reply body
 * goes to out (at most outmax bytes), its length to *outlen.
 */
int vb_ctl_call(struct vx *x, uint16_t op, const void *body, uint32_t blen,
		void *out, uint32_t outmax, uint32_t *outlen)
{
	uint64_t deadline = deadline_after_ms(x->xc.ctl_ms);
	struct proto_hdr h = { .op = op, .len = blen };
	unsigned int c = 0;
	uint8_t *buf;
	int ret;

	if (vbl_on_thread())
		return -EDEADLK;
	pthread_mutex_lock(&x->xc.lock);
	for (;;) {
		if (x->xc.state != XPORT_UP &&
		    !(x->hs && xconn_on_thread(&x->xc))) {
			ret = -ENOTCONN;
			goto out_unlock;
		}
		if (x->credits > 0) {
			for (c = 0; c < VB_CREDITS && x->ctl[c].busy; c++)
				;
			if (c < VB_CREDITS)
				break;
		}
		if (vb_poller(x)) {
			pthread_mutex_unlock(&x->xc.lock);
			if (vb_drain(x) < 0)
				sched_yield();
			pthread_mutex_lock(&x->xc.lock);
		} else if (xconn_cond_wait_until(&x->xc, deadline)) {
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
		if (vb_poller(x)) {
			pthread_mutex_unlock(&x->xc.lock);
			if (vb_drain(x) < 0)
				sched_yield();
			pthread_mutex_lock(&x->xc.lock);
			if (mono_ns() > deadline)
				break;
		} else if (xconn_cond_wait_until(&x->xc, deadline)) {
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
	if (out)
		memcpy(out, x->ctl[c].body,
		       x->ctl[c].len < outmax ? x->ctl[c].len : outmax);
	if (outlen)
		*outlen = x->ctl[c].len;
	x->ctl[c].busy = 0;
	pthread_cond_broadcast(&x->xc.cond);
out_unlock:
	pthread_mutex_unlock(&x->xc.lock);
	return ret;
}

/*
 * A HEARTBEAT whose reply nobody waits for (lock held): it hands the
 * donor its unsolicited credits back from the poller. Its slot is taken
 * as a timed-out call's (id 0), which the reply frees. Skipped when no
 * credit or slot is free now: the next drain tries again.
 */
static void ctl_heartbeat_nowait(struct vx *x)
{
	struct proto_hdr h = { .op = PROTO_OP_HEARTBEAT };
	unsigned int c;

	if (x->xc.state != XPORT_UP || x->credits <= 0 || x->count >= VB_SQ)
		return; /* post_ctl_send() must not wait for the ring */
	for (c = 0; c < VB_CREDITS && x->ctl[c].busy; c++)
		;
	if (c == VB_CREDITS)
		return;
	x->ctl[c].busy = 1;
	x->ctl[c].done = 0;
	x->ctl[c].id = 0;
	h.id = ++x->next_id;
	proto_hdr_enc(x->msgs + (size_t)(VB_NRECV + c) * VB_MSG, &h);
	x->credits--;
	if (post_ctl_send(x, c, sizeof(struct wire_hdr))) {
		x->credits++;
		x->ctl[c].busy = 0;
	}
}

/* xconn_ops.ctl: the core's control calls. */
int vb_ctl(struct xconn *c, uint16_t op, const void *body, uint32_t blen,
	   void *reply, uint32_t rmax, uint32_t *rlen)
{
	return vb_ctl_call(to_vx(&c->base), op, body, blen, reply, rmax, rlen);
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
	int zc = o->nios <= x->vs.max_sge &&
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
		log_warn("donor %s: ibv_post_send: %s", x->xc.peer,
			 strerror(-ret));
		return;
	}
	for (i = 0; i < n; i++)
		writes += wr[i].opcode == IBV_WR_RDMA_WRITE;
	xstats_chain(&x->xc.st, n, writes);
}

/* batch_post_fn: one chain per call where resources allow. */
void vb_post(void *ctx, struct batch_op *ops, unsigned int nops)
{
	struct vx *x = ctx;
	struct ibv_send_wr wr[VB_MAX_CHAIN];
	struct ibv_sge sge[VB_MAX_CHAIN][VB_MAX_SGE];
	struct vdone d = { 0 };
	unsigned int i, n = 0;

	pthread_mutex_lock(&x->xc.lock);
	for (i = 0; i < nops; i++) {
		struct batch_op *o = &ops[i];
		struct vslab *s;
		struct vent *e;
		int ret, b = -1;

		if (x->xc.state != XPORT_UP) {
			vb_done_add(x, &d, o->ios, -ENOTCONN);
			continue;
		}
		s = slab_find(x, o->slab);
		if (!s || o->off + o->len > s->size ||
		    o->off + o->len < o->off) {
			vb_done_add(x, &d, o->ios, -EINVAL);
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
			wait_completions(x);
			if (x->xc.state != XPORT_UP)
				break;
			s = slab_find(x, o->slab);
			if (!s)
				break;
		}
		if (x->xc.state != XPORT_UP || !s) {
			vb_done_add(x, &d, o->ios, s ? -ENOTCONN : -EINVAL);
			continue;
		}
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: slab %u: op of %u bytes: %s",
					x->xc.peer, o->slab, o->len,
					strerror(-ret));
			vb_done_add(x, &d, o->ios, ret);
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
		xstats_op(&x->xc.st, o->len);
		n++;
	}
	post_chain(x, wr, n, &d);
	pthread_mutex_unlock(&x->xc.lock);
	vb_done_run(&d);
}

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
		log_err("donor %s: error from donor: %.*s", x->xc.peer,
			(int)h.len, (const char *)body);
		x->unsol_owed++;
		vb_conn_fail(x, -EPROTO, d);
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
		v->status = proto_status_errno(h.status);
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
	pthread_cond_broadcast(&x->xc.cond);
	return;
out_bad:
	LOG_RATELIMITED(LOG_WARNING, "donor %s: bad control message: %s",
			x->xc.peer, proto_strerror(ret));
	vb_conn_fail(x, -EPROTO, d);
}

/* Handles one work completion (lock held). */
static void handle_wc(struct vx *x, const struct ibv_wc *wc, struct vdone *d)
{
	if (wc->wr_id & VB_RECV_TAG) {
		unsigned int i = (unsigned int)(wc->wr_id & ~VB_RECV_TAG);

		if (wc->status != IBV_WC_SUCCESS) {
			if (x->xc.state == XPORT_UP ||
			    x->xc.state == XPORT_CONNECTING)
				vb_conn_fail(x, -ECONNRESET, d);
			return;
		}
		if (i >= VB_NRECV)
			return;
		handle_msg(x, x->msgs + (size_t)i * VB_MSG, wc->byte_len, d);
		if ((x->xc.state == XPORT_UP ||
		     x->xc.state == XPORT_CONNECTING) &&
		    post_recv(x, i))
			vb_conn_fail(x, -ECONNRESET, d);
		return;
	}
	if (wc->wr_id >= VB_SQ)
		return;
	if (wc->status != IBV_WC_SUCCESS) {
		int err = wc_errno(wc->status);

		if (wc->status != IBV_WC_WR_FLUSH_ERR)
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: work request failed: %s",
					x->xc.peer,
					ibv_wc_status_str(wc->status));
		ring_complete(x, (unsigned int)wc->wr_id, err, d);
		vb_conn_fail(x, err, d);
		return;
	}
	ring_complete(x, (unsigned int)wc->wr_id, 0, d);
}

/* Drains the CQ once; returns the number of completions handled. */
int vb_poll_cq(struct vx *x)
{
	struct ibv_wc wc[32];
	struct vdone d = { 0 };
	uint32_t eslab[VB_UNSOL];
	uint64_t edl[VB_UNSOL];
	unsigned int ne = 0, i;
	int n, total = 0, owe = 0;

	for (;;) {
		n = ibv_poll_cq(x->vs.cq, 32, wc);
		if (n <= 0)
			break;
		pthread_mutex_lock(&x->xc.lock);
		for (i = 0; i < (unsigned int)n; i++)
			handle_wc(x, &wc[i], &d);
		pthread_mutex_unlock(&x->xc.lock);
		total += n;
		if (n < 32)
			break;
	}
	pthread_mutex_lock(&x->xc.lock);
	/* a poller leaves EVICTs to the loop's next drain (its tick):
	 * event callbacks run on the transport's thread */
	if (x->nevict && vb_poller(x) && !vb_polling()) {
		ne = x->nevict;
		memcpy(eslab, x->evict_slab, ne * sizeof(*eslab));
		memcpy(edl, x->evict_deadline, ne * sizeof(*edl));
		x->nevict = 0;
	}
	owe = x->xc.state != XPORT_DOWN && x->unsol_owed >= VB_UNSOL / 2;
	if (owe && vbl_on_thread())
		/* give the donor its unsolicited credits back */
		ctl_heartbeat_nowait(x);
	pthread_mutex_unlock(&x->xc.lock);
	vb_done_run(&d);
	for (i = 0; i < ne; i++)
		xconn_emit(&x->xc, XPORT_EV_EVICT, 0, eslab[i], edl[i]);
	if (owe && !vbl_on_thread() && xconn_on_thread(&x->xc))
		vb_ctl_call(x, PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0, NULL);
	return total;
}

void vb_submit(struct xport *xp, struct xport_io *io)
{
	struct vx *x = to_vx(xp);

	if (!xconn_accept_io(&x->xc, io, PROTO_MAX_IO))
		return;
	io->next = NULL;
	batch_submit(&x->q, io);
}

int vb_reg(struct xport *xp, void *addr, size_t len)
{
	struct vx *x = to_vx(xp);
	struct vregion *r;
	int ret = 0;

	pthread_mutex_lock(&x->xc.lock);
	if (x->nregions == VB_REGIONS) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	r = &x->regions[x->nregions];
	r->addr = addr;
	r->len = len;
	r->mr = NULL;
	if (x->xc.state == XPORT_UP) {
		/* else the worker registers it before the connection is up */
		r->mr = ibv_reg_mr(x->vs.pd, addr, len, IBV_ACCESS_LOCAL_WRITE);
		if (!r->mr) {
			ret = -errno;
			goto out_unlock;
		}
	}
	x->nregions++;
out_unlock:
	pthread_mutex_unlock(&x->xc.lock);
	return ret;
}

/* xconn_ops.slab_added: the slab's address and key for the data path */
void vb_slab_added(struct xconn *c, const struct xport_slab *in)
{
	struct vx *x = to_vx(&c->base);
	struct vslab s = { .slab = in->slab,
			   .rkey = in->rkey,
			   .addr = in->addr,
			   .size = in->size };

	pthread_mutex_lock(&c->lock);
	slab_set(x, &s);
	pthread_mutex_unlock(&c->lock);
}

void vb_slab_freed(struct xconn *c, uint32_t slab)
{
	struct vx *x = to_vx(&c->base);
	struct vslab *s;

	pthread_mutex_lock(&c->lock);
	s = slab_find(x, slab);
	if (s)
		*s = x->slabs[--x->nslabs];
	pthread_mutex_unlock(&c->lock);
}

int xport_rdma_slab_info(struct xport *xp, uint32_t slab,
			 struct xport_slab *out)
{
	struct vx *x = to_vx(xp);
	struct vslab *s;
	int ret = -ENOENT;

	pthread_mutex_lock(&x->xc.lock);
	s = slab_find(x, slab);
	if (s) {
		out->slab = s->slab;
		out->rkey = s->rkey;
		out->addr = s->addr;
		out->size = s->size;
		ret = 0;
	}
	pthread_mutex_unlock(&x->xc.lock);
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

	pthread_mutex_lock(&x->xc.lock);
	slab_set(x, &s);
	ret = slab_find(x, in->slab) ? 0 : -ENOMEM;
	pthread_mutex_unlock(&x->xc.lock);
	return ret;
}
