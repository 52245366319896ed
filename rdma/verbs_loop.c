// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verbs_loop - the event loop of the RDMA transport: one process-wide
 * epoll loop (common/evloop.h, thread cnm-xrdma/0) serves every UP verbs
 * connection of the process, however many, so a mount's threads do not
 * grow with its donors. It starts with the first connection and stops
 * with the last.
 *
 * It watches one completion channel per device (struct vs_chan of
 * rdma/verbs_setup.h, as the donor does), shared by the CQs of every
 * connection through that device: each CQ's context is its connection,
 * so an event costs only that connection a drain. It also watches each
 * attached connection's RDMA CM event channel (disconnects, device
 * removal).
 *
 *   connector (rdma/conn.c) --attach()--> vl->incoming, evl_wake()
 *   loop wake():   incoming -> CM channel watched, attached list, CQ
 *                  armed and drained; a closing or broken one detaches
 *   channel ready: per event: ack, then (attached, claimed) drain,
 *                  re-arm, drain: completions, done() and EVICT
 *                  callbacks, no lock held
 *   CM ready:      (attached) DISCONNECTED, DEVICE_REMOVAL: everything
 *                  pending fails, the connection detaches
 *   loop expire(): every VB_TICK_MS, per connection: a drain (a missed
 *                  event costs a tick, never a hang) and the io_timeout_ms
 *                  check of the oldest posted request
 *   detach:        out of the list and the epoll set, xconn_link_down():
 *                  a connector tears it down and reconnects
 *
 * Why one loop and not the TCP loops: a device's completions all come
 * through its one channel, which one loop serves; and the TCP loops
 * carry what only TCP needs (a receive parser per socket, deferred-send
 * workers, since a send may block). Posting RDMA work never blocks on the
 * network (a doorbell), so callbacks on this loop submit directly; a
 * submit that waits for ring space on the loop drains that connection's
 * CQ itself (verbs_io.c), as the connector does in the handshake, for at
 * most io_timeout_ms after its oldest request.
 *
 * Events of a CQ whose connection is not attached (the connector polls it
 * itself during the handshake) are acked and dropped; the attach drains
 * after arming. Each event is acked at once, before the connection is
 * served, and read only while unacked: destroying a CQ (teardown, on a
 * connector, after the detach) waits for its events to be acked, so the
 * loop never names a freed connection.
 *
 * A thread that collects its own completion (xport_poll(), verbs_poll.c)
 * may hold a CQ's claim instead of the loop: the loop touches a CQ and
 * detaches a connection only under it, never waits for it, and drops an
 * event, a drain or a detach of a claimed CQ; the holder then arms and
 * drains the CQ again, or wakes the loop, whose wake retries the detach.
 *
 * Threading: pool_life guards the pool's existence and its count of
 * connections; vl->lock the attach queue and the channel list (never
 * held across a call into the core or a callback); the attached list and
 * each connection's vl_attached, cm_src and list links are the loop
 * thread's.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/verbs_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define VL_EVENTS 64 /* channel events per readiness, for fairness */

struct vloop {
	struct evloop *ev;
	struct evl *evl;
	pthread_mutex_t lock;
	struct vx *incoming;   /* protected by lock, by vl_inext */
	struct vs_chan *chans; /* protected by lock; kept until stop */
	struct vx *conns;      /* loop thread: attached, by vl_next */
};

static pthread_mutex_t pool_life = PTHREAD_MUTEX_INITIALIZER;
static struct vloop *pool;	/* protected by pool_life */
static unsigned int pool_users; /* protected by pool_life */
static __thread int tls_on_loop;

bool vbl_on_thread(void)
{
	return tls_on_loop;
}

bool vbl_act(bool on)
{
	bool old = tls_on_loop;

	tls_on_loop = on;
	return old;
}

/* ---- the loop thread ---- */

static void conns_unlink(struct vloop *vl, struct vx *x)
{
	if (x->vl_prev)
		x->vl_prev->vl_next = x->vl_next;
	else
		vl->conns = x->vl_next;
	if (x->vl_next)
		x->vl_next->vl_prev = x->vl_prev;
	x->vl_prev = x->vl_next = NULL;
}

/* The link ended with err: x leaves the loop; a connector takes it.
 * Claim held: no poller reaps the CQ the connector will destroy. */
static void detach(struct vloop *vl, struct vx *x, int err)
{
	atomic_store(&x->cq_served, 0);
	evl_del(vl->evl, &x->cm_src);
	conns_unlink(vl, x);
	x->vl_attached = 0;
	xconn_link_down(&x->xc, err);
}

/* x leaves the loop (err) under the claim; if a poller holds it, the
 * poller's release wakes the loop, whose wake tries again. */
static void leave(struct vloop *vl, struct vx *x, int err)
{
	if (!vb_claim_loop(x, &x->cq_kick))
		return;
	detach(vl, x, err);
	vb_unclaim(x);
}

/* Why x must leave the loop (closing, broken), else 0. */
static int gone(struct vx *x)
{
	int err = 0;

	pthread_mutex_lock(&x->xc.lock);
	if (x->xc.closing)
		err = -ECONNABORTED;
	else if (x->xc.state != XPORT_UP)
		err = x->xc.last_err ? x->xc.last_err : -ECONNRESET;
	pthread_mutex_unlock(&x->xc.lock);
	return err;
}

/* Drains x's CQ, re-arms it and drains what came meanwhile (a
 * completion between the last poll and the arming raises no event);
 * detaches x when the link is gone. Claim held. */
static void serve(struct vloop *vl, struct vx *x)
{
	int err;

	while (vb_poll_cq(x) > 0)
		;
	err = ibv_req_notify_cq(x->vs.cq, 0) ? -EIO : 0;
	if (!err) {
		vb_poll_cq(x);
		err = gone(x);
	}
	if (err)
		detach(vl, x, err);
}

static void chan_ready(struct evl_src *s, uint32_t events)
{
	struct vs_chan *ch = (struct vs_chan *)s;
	struct ibv_cq *cq;
	void *ctx;
	int i, attached;

	(void)events;
	tls_on_loop = 1;
	for (i = 0; i < VL_EVENTS && !ibv_get_cq_event(ch->cc, &cq, &ctx);
	     i++) {
		struct vx *x = ctx;

		/* read before the ack: until then its CQ, hence x, lives */
		attached = x->vl_attached;
		ibv_ack_cq_events(cq, 1);
		/* a poller reaps the CQ: it arms and drains it again when
		 * it lets go (verbs_poll.c) */
		if (!attached || !vb_claim_loop(x, &x->cq_missed))
			continue;
		serve(x->vl, x);
		vb_unclaim(x);
	}
}

static void cm_ready(struct evl_src *s, uint32_t events)
{
	struct vx *x = (struct vx *)((char *)s - offsetof(struct vx, cm_src));
	struct rdma_cm_event *ev;
	struct vdone d = { 0 };
	enum rdma_cm_event_type t;
	int err;

	(void)events;
	tls_on_loop = 1;
	/* one epoll batch may hold both of x's sources: the CQ's event
	 * detached x before this one ran, and x's CM channel is a
	 * connector's now (detaching twice queued two connector jobs and
	 * broke the attached list: the rdma guest suite, 1 run in 2) */
	if (!x->vl_attached)
		return;
	while (!rdma_get_cm_event(x->ec, &ev)) {
		t = ev->event;
		rdma_ack_cm_event(ev);
		if (t != RDMA_CM_EVENT_DISCONNECTED &&
		    t != RDMA_CM_EVENT_DEVICE_REMOVAL &&
		    t != RDMA_CM_EVENT_TIMEWAIT_EXIT)
			continue;
		pthread_mutex_lock(&x->xc.lock);
		vb_conn_fail(x, -ECONNRESET, &d);
		pthread_mutex_unlock(&x->xc.lock);
		vb_done_run(&d);
		break;
	}
	err = gone(x);
	if (err)
		leave(x->vl, x, err);
}

static void loop_wake(struct evl *l, void *arg)
{
	struct vloop *vl = arg;
	struct vx *x, *next;
	int ret;

	tls_on_loop = 1;
	pthread_mutex_lock(&vl->lock);
	x = vl->incoming;
	vl->incoming = NULL;
	pthread_mutex_unlock(&vl->lock);
	for (; x; x = next) {
		next = x->vl_inext;
		x->vl_inext = NULL;
		x->cm_src.fd = x->ec->fd;
		x->cm_src.ready = cm_ready;
		ret = evl_add(l, &x->cm_src, EPOLLIN);
		if (ret) {
			log_err("donor %s: cannot watch the rdma_cm channel: "
				"%s",
				x->xc.peer, strerror(-ret));
			xconn_link_down(&x->xc, ret);
			continue;
		}
		x->vl_prev = NULL;
		x->vl_next = vl->conns;
		if (vl->conns)
			vl->conns->vl_prev = x;
		vl->conns = x;
		x->vl_attached = 1;
		/* from now on a poller may reap the CQ */
		atomic_store(&x->cq_kick, 0);
		atomic_store(&x->cq_served, 1);
		if (vb_claim_loop(x, &x->cq_missed)) {
			serve(vl, x);
			vb_unclaim(x);
		}
	}
	/* xconn_stop()'s kick, or a poller's: the closing and broken ones
	 * leave */
	for (x = vl->conns; x; x = next) {
		next = x->vl_next;
		ret = gone(x);
		if (ret)
			leave(vl, x, ret);
	}
	if (vl->conns)
		evl_deadline(l, deadline_after_ms(VB_TICK_MS));
}

/* The io_timeout_ms check of x (see rdma/conn.h): 0 or -ETIMEDOUT. */
static int timed_out(struct vx *x, uint64_t now)
{
	struct vdone d = { 0 };
	int ret;

	pthread_mutex_lock(&x->xc.lock);
	ret = vb_timeout_locked(x, now, &d);
	pthread_mutex_unlock(&x->xc.lock);
	vb_done_run(&d);
	return ret;
}

static uint64_t loop_expire(struct evl *l, void *arg, uint64_t now)
{
	struct vloop *vl = arg;
	struct vx *x, *next;
	int ret;

	(void)l;
	tls_on_loop = 1;
	for (x = vl->conns; x; x = next) {
		next = x->vl_next;
		/* a claimed CQ: its holder drains it when it lets go, and
		 * the timeout check needs only the lock */
		if (vb_claim(x)) {
			vb_poll_cq(x);
			vb_unclaim(x);
		}
		ret = timed_out(x, now);
		if (!ret)
			ret = gone(x);
		if (ret)
			leave(vl, x, ret);
	}
	return vl->conns ? now + (uint64_t)VB_TICK_MS * 1000000 : EVL_NEVER;
}

/* no after(): a detached connection is a connector's at once, and a
 * batch names its channel only while attached (read before the ack) */
static const struct evloop_ops loop_ops = {
	.wake = loop_wake,
	.expire = loop_expire,
};

/* ---- any thread ---- */

void vbl_attach(struct xconn *xc)
{
	struct vx *x = to_vx(&xc->base);
	struct vloop *vl = x->vl;

	pthread_mutex_lock(&vl->lock);
	x->vl_inext = vl->incoming;
	vl->incoming = x;
	pthread_mutex_unlock(&vl->lock);
	evl_wake(vl->evl);
}

void vbl_kick(struct vx *x)
{
	if (x->vl)
		evl_wake(x->vl->evl);
}

struct ibv_comp_channel *vbl_chan(struct vx *x, struct ibv_context *verbs)
{
	struct vloop *vl = x->vl;
	struct vs_chan *ch;

	pthread_mutex_lock(&vl->lock);
	ch = vschan_get(&vl->chans, vl->evl, verbs, chan_ready);
	pthread_mutex_unlock(&vl->lock);
	return ch ? ch->cc : NULL;
}

/* ---- the pool ---- */

static void pool_stop(struct vloop *vl)
{
	evloop_stop(vl->ev);
	/* every connection is gone: no CQ uses a channel any more */
	vschan_destroy_all(&vl->chans);
	pthread_mutex_destroy(&vl->lock);
	free(vl);
}

static int pool_start(struct vloop **out)
{
	struct vloop *vl;
	int ret;

	vl = calloc(1, sizeof(*vl));
	if (!vl)
		return -ENOMEM;
	pthread_mutex_init(&vl->lock, NULL);
	ret = evloop_start(1, "cnm-xrdma", &loop_ops, vl, &vl->ev);
	if (ret) {
		pthread_mutex_destroy(&vl->lock);
		free(vl);
		return ret;
	}
	vl->evl = evloop_get(vl->ev, 0);
	*out = vl;
	return 0;
}

int vbl_get(struct vx *x)
{
	int ret = 0;

	pthread_mutex_lock(&pool_life);
	if (!pool)
		ret = pool_start(&pool);
	if (!ret) {
		pool_users++;
		x->vl = pool;
	}
	pthread_mutex_unlock(&pool_life);
	return ret;
}

void vbl_put(struct vx *x)
{
	if (!x->vl)
		return;
	pthread_mutex_lock(&pool_life);
	if (!--pool_users) {
		pool_stop(pool);
		pool = NULL;
	}
	pthread_mutex_unlock(&pool_life);
	x->vl = NULL;
}
