// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_loop - the event loops of the TCP transport: one process-wide pool
 * of min(CPUs, TCP_LOOPS_MAX) epoll loops (common/evloop.h) serves the
 * sockets of every UP connection, and TCP_SENDERS deferred-submit workers
 * per loop send what callbacks resubmit; so a mount's threads do not grow
 * with its donors. The pool starts with the first connection and stops with
 * the last.
 *
 *   connector (rdma/conn.c) --attach()--> tl->incoming, evl_wake()
 *   loop wake():   incoming -> epoll set, attached list, timer
 *   loop ready():  takes the receive claim (tcp_poll.c; if a thread
 *                  collecting its own reply holds it, that one arms the
 *                  event again), tcp_rx_ready() parses replies, runs
 *                  done()/EVICT, arms the one-shot event again
 *   loop expire(): every scan period, tcp_rx_tick() per connection
 *   the link ends: out of the epoll set and the list, tcp_rx_abort(),
 *                  xconn_link_down() (a connector tears it down)
 *   workers:       per connection with deferred ios, batch_submit();
 *                  one worker at a time per connection (c->dbusy)
 *
 * A loop thread never sends and never waits for in-flight slots: a
 * loop's socket may be the one whose replies would free them. An io
 * submitted on a loop (or by a connector, before the loop serves the
 * link) goes to the workers of its connection's loop, which may block;
 * a worker never waits for the loop's callbacks. A worker blocks on one
 * connection at most (a donor whose link is cut holds it in sendmsg up
 * to the send timeout, or waiting for in-flight slots until the io
 * timeout), so the other workers of the loop keep serving the loop's
 * other connections: one dead donor must not stall the healthy ones. While a connection
 * has deferred ios not yet queued (c->ndeferred), its other submitters
 * defer too, so its ios go out in the order they were submitted.
 *
 * Threading: pool_life guards the pool's existence and each loop's
 * count of connections; tl->lock the attach queue and the worker's
 * queue (never held across a call into the core or a callback); the
 * attached list is the loop thread's; the parser is the receive claim's
 * holder's, and a connection leaves its loop (detach) only under it.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/tcp_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct tcp_loop {
	struct evl *evl;
	unsigned int nconns;	/* protected by pool_life: connections here */
	struct tcp_conn *conns; /* loop thread: attached, by lnext */

	pthread_mutex_t lock;
	pthread_cond_t dcond;		/* the queue or a c->dbusy changed */
	struct tcp_conn *incoming;	/* protected by lock, by inext */
	struct tcp_conn *dhead, *dtail; /* protected by lock, by dnext */
	int dstop;			/* protected by lock */
	pthread_t dthread[TCP_SENDERS];
	unsigned int dstarted;
};

struct tcp_pool {
	struct evloop *ev;
	unsigned int n;
	struct tcp_loop loops[TCP_LOOPS_MAX];
};

static pthread_mutex_t pool_life = PTHREAD_MUTEX_INITIALIZER;
static struct tcp_pool *pool;	/* protected by pool_life */
static unsigned int pool_users; /* protected by pool_life */
static __thread int tls_on_loop;

bool tcp_loop_on_thread(void)
{
	return tls_on_loop;
}

int tcp_loop_arm(struct tcp_conn *c, uint32_t events)
{
	return evl_arm(c->tl->evl, &c->src, events);
}

bool tcp_loop_act(bool on)
{
	bool old = tls_on_loop;

	tls_on_loop = on;
	return old;
}

static struct tcp_conn *src_conn(struct evl_src *s)
{
	return (struct tcp_conn *)((char *)s - offsetof(struct tcp_conn, src));
}

/* ---- the loop thread ---- */

static void conns_unlink(struct tcp_loop *tl, struct tcp_conn *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		tl->conns = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
}

/* The link ended: c leaves the loop; a connector takes it from here. */
static void detach(struct tcp_loop *tl, struct tcp_conn *c, int err)
{
	/* under the claim: no poller is in the parser nor arms the event */
	atomic_store(&c->rx_attached, 0);
	evl_del(tl->evl, &c->src);
	conns_unlink(tl, c);
	tcp_rx_abort(c, err);
	xconn_link_down(&c->xc, err);
}

static void conn_ready(struct evl_src *s, uint32_t events)
{
	struct tcp_conn *c = src_conn(s);
	int ret;

	(void)events; /* a hang-up or an error shows as a failed recv */
	tls_on_loop = 1;
	if (!tcp_rx_claim_loop(c))
		return; /* a poller receives: it arms the event again */
	/* a poller's receive error, once it made the socket readable */
	ret = c->rx_err ? c->rx_err : tcp_rx_ready(c);
	if (!ret)
		ret = tcp_loop_arm(c, TCP_RX_EVENTS);
	if (ret)
		detach(c->tl, c, ret);
	atomic_store(&c->rx_claim, 0);
}

static void loop_wake(struct evl *l, void *arg)
{
	struct tcp_loop *tl = &((struct tcp_pool *)arg)->loops[evl_index(l)];
	struct tcp_conn *c, *next;
	uint64_t now = mono_ns();
	int ret;

	tls_on_loop = 1;
	pthread_mutex_lock(&tl->lock);
	c = tl->incoming;
	tl->incoming = NULL;
	pthread_mutex_unlock(&tl->lock);
	for (; c; c = next) {
		next = c->inext;
		c->inext = NULL;
		tcp_rx_reset(c);
		c->rx_err = 0;
		atomic_store(&c->rx_missed, 0);
		c->src.ready = conn_ready;
		ret = evl_add(l, &c->src, TCP_RX_EVENTS);
		if (ret) {
			log_err("donor %s: cannot watch the socket: %s",
				c->xc.peer, strerror(-ret));
			xconn_link_down(&c->xc, ret);
			continue;
		}
		c->lprev = NULL;
		c->lnext = tl->conns;
		if (tl->conns)
			tl->conns->lprev = c;
		tl->conns = c;
		c->next_scan = now + (uint64_t)c->scan_ms * 1000000;
		evl_deadline(l, c->next_scan);
		/* from now on a poller may take the receive side */
		atomic_store(&c->rx_attached, 1);
	}
}

/* The timer: each connection's scan when (nearly) due; the next
 * deadline. */
static uint64_t loop_expire(struct evl *l, void *arg, uint64_t now)
{
	struct tcp_loop *tl = &((struct tcp_pool *)arg)->loops[evl_index(l)];
	struct tcp_conn *c, *next;
	uint64_t at = EVL_NEVER;
	int ret;

	tls_on_loop = 1;
	for (c = tl->conns; c; c = next) {
		uint64_t period = (uint64_t)c->scan_ms * 1000000;

		next = c->lnext;
		/* half a period early: the scans of a loop fall together,
		 * one wake-up per period however many connections */
		if (now + period / 2 >= c->next_scan) {
			c->next_scan = now + period;
			/* a poller holds the receive side for less than a
			 * period (tcp_poll.c): this scan waits for the next */
			if (!tcp_rx_claim(c))
				goto next;
			ret = tcp_rx_tick(c, now);
			if (ret)
				detach(tl, c, ret);
			atomic_store(&c->rx_claim, 0);
			if (ret)
				continue;
		}
	next:
		if (c->next_scan < at)
			at = c->next_scan;
	}
	return at;
}

/* no after(): a detached connection is the connector's at once, and
 * epoll names each socket once per batch */
static const struct evloop_ops loop_ops = {
	.wake = loop_wake,
	.expire = loop_expire,
};

void tcp_loop_attach(struct xconn *xc)
{
	struct tcp_conn *c = (struct tcp_conn *)xc;
	struct tcp_loop *tl = c->tl;

	pthread_mutex_lock(&xc->lock);
	c->src.fd = c->fd; /* closed only by teardown, after the loop */
	pthread_mutex_unlock(&xc->lock);
	pthread_mutex_lock(&tl->lock);
	c->inext = tl->incoming;
	tl->incoming = c;
	pthread_mutex_unlock(&tl->lock);
	evl_wake(tl->evl);
}

/* ---- the deferred-submit worker ---- */

/* The first queued connection no other worker is submitting for, taken
 * out of the queue; NULL if there is none. tl->lock held. */
static struct tcp_conn *take_free(struct tcp_loop *tl)
{
	struct tcp_conn **pp, *c, *prev = NULL;

	for (pp = &tl->dhead; (c = *pp); prev = c, pp = &c->dnext)
		if (!c->dbusy)
			break;
	if (!c)
		return NULL;
	*pp = c->dnext;
	if (tl->dtail == c)
		tl->dtail = prev;
	c->dnext = NULL;
	c->dqueued = 0;
	return c;
}

static void *worker_main(void *arg)
{
	struct tcp_loop *tl = arg;
	struct xport_io *io, *next;
	struct tcp_conn *c;

	pthread_mutex_lock(&tl->lock);
	for (;;) {
		while (!(c = take_free(tl)) && !(tl->dstop && !tl->dhead))
			pthread_cond_wait(&tl->dcond, &tl->lock);
		if (!c)
			break; /* stopping, nothing left */
		io = c->dhead;
		c->dhead = c->dtail = NULL;
		c->dbusy = 1;
		pthread_mutex_unlock(&tl->lock);
		for (; io; io = next) {
			next = io->next;
			batch_submit(&c->q, io);
			/* in the queue: later submits need not wait for it */
			atomic_fetch_sub(&c->ndeferred, 1);
		}
		pthread_mutex_lock(&tl->lock);
		c->dbusy = 0;
		pthread_cond_broadcast(&tl->dcond);
	}
	pthread_mutex_unlock(&tl->lock);
	return NULL;
}

void tcp_loop_defer(struct tcp_conn *c, struct xport_io *io)
{
	struct tcp_loop *tl = c->tl;

	io->next = NULL;
	atomic_fetch_add(&c->ndeferred, 1);
	pthread_mutex_lock(&tl->lock);
	if (c->dtail)
		c->dtail->next = io;
	else
		c->dhead = io;
	c->dtail = io;
	if (!c->dqueued) {
		c->dqueued = 1;
		c->dnext = NULL;
		if (tl->dtail)
			tl->dtail->dnext = c;
		else
			tl->dhead = c;
		tl->dtail = c;
		pthread_cond_broadcast(&tl->dcond);
	}
	pthread_mutex_unlock(&tl->lock);
}

/* ---- the pool ---- */

static void pool_stop(struct tcp_pool *p)
{
	unsigned int i;

	evloop_stop(p->ev);
	for (i = 0; i < p->n; i++) {
		struct tcp_loop *tl = &p->loops[i];

		pthread_mutex_lock(&tl->lock);
		tl->dstop = 1;
		pthread_cond_broadcast(&tl->dcond);
		pthread_mutex_unlock(&tl->lock);
		while (tl->dstarted)
			pthread_join(tl->dthread[--tl->dstarted], NULL);
		pthread_cond_destroy(&tl->dcond);
		pthread_mutex_destroy(&tl->lock);
	}
	free(p);
}

static int pool_start(struct tcp_pool **out)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct tcp_pool *p;
	unsigned int i;
	char name[16];
	int ret = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n = ncpu < 1 ? 1 : ncpu > TCP_LOOPS_MAX ? TCP_LOOPS_MAX : ncpu;
	for (i = 0; i < p->n; i++) {
		pthread_mutex_init(&p->loops[i].lock, NULL);
		pthread_cond_init(&p->loops[i].dcond, NULL);
	}
	ret = evloop_start(p->n, "cnm-xtcp", &loop_ops, p, &p->ev);
	for (i = 0; i < p->n && !ret; i++) {
		struct tcp_loop *tl = &p->loops[i];

		tl->evl = evloop_get(p->ev, i);
		while (!ret && tl->dstarted < TCP_SENDERS) {
			pthread_t *t = &tl->dthread[tl->dstarted];

			ret = -pthread_create(t, NULL, worker_main, tl);
			if (ret)
				break;
			tl->dstarted++;
			snprintf(name, sizeof(name), "cnm-xsend/%u", i % 10);
			pthread_setname_np(*t, name);
		}
	}
	if (ret) {
		pool_stop(p);
		return ret;
	}
	*out = p;
	return 0;
}

int tcp_loop_get(struct tcp_conn *c)
{
	struct tcp_loop *tl;
	unsigned int i;
	int ret = 0;

	pthread_mutex_lock(&pool_life);
	if (!pool)
		ret = pool_start(&pool);
	if (ret)
		goto out_unlock;
	/* the loop with the fewest connections */
	tl = &pool->loops[0];
	for (i = 1; i < pool->n; i++)
		if (pool->loops[i].nconns < tl->nconns)
			tl = &pool->loops[i];
	tl->nconns++;
	c->tl = tl;
	pool_users++;
out_unlock:
	pthread_mutex_unlock(&pool_life);
	return ret;
}

/* Waits until no worker is submitting c's ios, takes c out of the
 * queue and returns c's deferred ios. */
static struct xport_io *take_deferred(struct tcp_loop *tl, struct tcp_conn *c)
{
	struct tcp_conn **pp, *prev = NULL;
	struct xport_io *io;

	pthread_mutex_lock(&tl->lock);
	while (c->dbusy)
		pthread_cond_wait(&tl->dcond, &tl->lock);
	if (c->dqueued) {
		for (pp = &tl->dhead; *pp != c; pp = &(*pp)->dnext)
			prev = *pp;
		*pp = c->dnext;
		if (tl->dtail == c)
			tl->dtail = prev;
		c->dnext = NULL;
		c->dqueued = 0;
	}
	io = c->dhead;
	c->dhead = c->dtail = NULL;
	pthread_mutex_unlock(&tl->lock);
	return io;
}

void tcp_loop_flush(struct tcp_conn *c, int status)
{
	struct xport_io *io, *next;

	if (!c->tl)
		return;
	for (io = take_deferred(c->tl, c); io; io = next) {
		next = io->next;
		io->next = NULL;
		tcp_complete_ios(c, io, status);
		atomic_fetch_sub(&c->ndeferred, 1);
	}
}

void tcp_loop_put(struct tcp_conn *c)
{
	struct tcp_loop *tl = c->tl;

	if (!tl)
		return;
	/* closed: each fails with -ECONNABORTED */
	tcp_loop_flush(c, -ECONNABORTED);
	pthread_mutex_lock(&pool_life);
	tl->nconns--;
	if (!--pool_users) {
		pool_stop(pool);
		pool = NULL;
	}
	pthread_mutex_unlock(&pool_life);
	c->tl = NULL;
}
