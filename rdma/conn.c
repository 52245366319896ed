// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * conn - the client connection core: lifecycle, backoff, wait-until-up,
 * control calls, events and statistics of every network transport. See
 * rdma/conn.h for the state machine and its locking.
 */
#include "rdma/conn.h"

#include "common/clock.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int xconn_init(struct xconn *c, const struct xport_backend *b,
	       const struct xconn_ops *ops, enum xport_kind kind,
	       const struct xport_cfg *cfg)
{
	pthread_condattr_t ca;
	int ret;

	c->wake_fd = -1;
	if (!cfg->host || !cfg->port || strlen(cfg->host) >= sizeof(c->host) ||
	    strlen(cfg->port) >= sizeof(c->port))
		return -EINVAL;
	if (cfg->slab_size && !hs_slab_size_ok(cfg->slab_size))
		return -EINVAL;
	c->base.ops = b;
	c->ops = ops;
	c->kind = kind;
	strcpy(c->host, cfg->host);
	strcpy(c->port, cfg->port);
	snprintf(c->peer, sizeof(c->peer),
		 strchr(cfg->host, ':') ? "[%s]:%s" : "%s:%s", cfg->host,
		 cfg->port);
	if (cfg->key)
		c->key = *cfg->key;
	c->ctl_ms =
		cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : XCONN_DEF_CTL_MS;
	c->io_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : XCONN_DEF_IO_MS;
	c->rc_max_ms = cfg->reconnect_max_ms;
	c->rc_min_ms = cfg->reconnect_min_ms ? cfg->reconnect_min_ms
					     : XCONN_RECONNECT_MIN_MS;
	if (c->rc_max_ms && c->rc_min_ms > c->rc_max_ms)
		c->rc_min_ms = c->rc_max_ms;
	c->event = cfg->event;
	c->event_arg = cfg->event_arg;
	c->hs.key = &c->key;
	c->hs.sess = cfg->sess ? cfg->sess : &c->hs_sess;
	c->hs.slab_size = cfg->slab_size ? cfg->slab_size : XCONN_DEF_SLAB;
	memcpy(c->hs.session, cfg->session, PROTO_SESSION_LEN);
	c->hs.timeout_ms = c->ctl_ms;
	c->state = XPORT_CONNECTING;
	/* nonces need libsodium; sodium_init() is idempotent, thread-safe */
	ret = auth_init();
	if (ret)
		return ret;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0)
		return -errno;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void xconn_destroy(struct xconn *c)
{
	if (c->wake_fd < 0)
		return; /* xconn_init() failed before the lock existed */
	close(c->wake_fd);
	c->wake_fd = -1;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

int xconn_permanent(int err)
{
	return err == -EACCES || err == -EPROTONOSUPPORT || err == -EINVAL;
}

void xconn_emit(struct xconn *c, enum xport_event_type type, int error,
		uint32_t slab, uint64_t deadline_ms)
{
	struct xport_event ev = {
		.type = type,
		.error = error,
		.slab = slab,
		.deadline_ms = deadline_ms,
	};

	if (c->event)
		c->event(c->event_arg, &c->base, &ev);
}

int xconn_cond_wait_until(struct xconn *c, uint64_t deadline)
{
	struct timespec ts = deadline_timespec(deadline);

	return pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

/* the connection the connector running this thread holds, NULL
 * elsewhere */
static __thread struct xconn *tls_conn;

int xconn_on_thread(struct xconn *c)
{
	return tls_conn == c;
}

void xconn_set_down_locked(struct xconn *c, int err)
{
	if (c->state == XPORT_UP || c->state == XPORT_CONNECTING) {
		c->state = XPORT_DOWN;
		c->last_err = err;
	}
	atomic_store(&c->up, 0);
	pthread_cond_broadcast(&c->cond);
}

/* ---- one attempt and one link ---- */

/* CONNECTING for the next attempt; false when the connection is closing. */
static bool enter_connecting(struct xconn *c)
{
	bool go;

	pthread_mutex_lock(&c->lock);
	go = !c->closing;
	if (go)
		c->state = XPORT_CONNECTING;
	pthread_mutex_unlock(&c->lock);
	return go;
}

/* After an attempt that returned ret: closing, retries off, or an error
 * that does not fix itself (a wrong key or version). c->lock held. */
static bool done_trying_locked(const struct xconn *c, int ret)
{
	return c->closing || !c->rc_max_ms || xconn_permanent(ret);
}

/* connect() and, when it works, UP and XPORT_EV_UP: 0, or the error
 * (the attempt torn down, DOWN). */
static int attempt_connect(struct xconn *c, int prev_err)
{
	char err[256] = "";
	int ret;

	ret = c->ops->connect(c, err, sizeof(err));
	pthread_mutex_lock(&c->lock);
	if (!ret && c->closing)
		ret = -ECONNABORTED;
	if (!ret) {
		c->state = XPORT_UP;
		atomic_store(&c->up, 1);
		c->last_err = 0;
		if (c->ever_up)
			XS_ADD(c->st.reconnects, 1);
		c->ever_up = 1;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		c->ops->teardown(c, ret);
		pthread_mutex_lock(&c->lock);
		if (c->state != XPORT_CLOSED)
			c->state = XPORT_DOWN;
		c->last_err = ret;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		if (ret != prev_err && ret != -ECONNABORTED)
			log_warn("donor %s: cannot connect: %s", c->peer,
				 err[0] ? err : strerror(-ret));
		return ret;
	}
	log_info("donor %s: connected over %s", c->peer, c->base.ops->name);
	xconn_emit(c, XPORT_EV_UP, 0, 0, 0);
	return 0;
}

/* The link that was UP ended with ret: DOWN, teardown(), XPORT_EV_DOWN;
 * returns the error that ended it. */
static int link_ended(struct xconn *c, int ret)
{
	int closing;

	if (!ret)
		ret = -ECONNRESET;
	pthread_mutex_lock(&c->lock);
	closing = c->closing;
	if (!closing)
		xconn_set_down_locked(c, ret);
	pthread_mutex_unlock(&c->lock);
	if (closing)
		ret = -ECONNABORTED;
	else
		log_warn("donor %s: connection lost: %s", c->peer,
			 strerror(-ret));
	c->ops->teardown(c, ret);
	if (!closing)
		xconn_emit(c, XPORT_EV_DOWN, ret, 0, 0);
	return ret;
}

/* ---- the connector pool ---- */

/*
 * Jobs are connections, in a list sorted by due time; a connector takes
 * the first one due and runs it: a connect attempt (then attach() hands
 * the link to the transport) or, after xconn_link_down(), the teardown;
 * then it queues the next attempt after the backoff, or the connection
 * is finished. A connection is in at most one place at a time: queued,
 * run by one connector, or attached to its transport's loop.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; the list changed */
	struct xconn *head;  /* protected by lock, by job_due */
	int stop;	     /* protected by lock */
	unsigned int users;  /* protected by life */
	pthread_t threads[XCONN_CONNECTORS];
	unsigned int nthreads;
} xcp = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_mutex_t xcp_life = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t xcp_once = PTHREAD_ONCE_INIT;

static void xcp_init_cond(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&xcp.cond, &ca);
	pthread_condattr_destroy(&ca);
}

/* xcp.lock held */
static void job_unlink_locked(struct xconn *c)
{
	struct xconn **pp = &xcp.head;

	while (*pp != c)
		pp = &(*pp)->job_next;
	*pp = c->job_next;
	c->job_next = NULL;
	c->job_queued = 0;
}

/* xcp.lock held: c's job goes in at due, by due time. */
static void job_insert_locked(struct xconn *c, uint64_t due)
{
	struct xconn **pp = &xcp.head;

	while (*pp && (*pp)->job_due <= due)
		pp = &(*pp)->job_next;
	c->job_next = *pp;
	*pp = c;
	c->job_due = due;
	c->job_queued = 1;
	pthread_cond_broadcast(&xcp.cond);
}

/* Queues c's job at due (mono ns); c has none queued or running. Lock
 * order: c->lock (may be held), then xcp.lock. */
static void job_queue(struct xconn *c, uint64_t due)
{
	pthread_mutex_lock(&xcp.lock);
	assert(!c->job_queued);
	job_insert_locked(c, due);
	pthread_mutex_unlock(&xcp.lock);
}

/* A queued job of c (a backoff wait) becomes due now; one being run
 * stays the connector's (never a second job of c). */
static void job_hurry(struct xconn *c)
{
	pthread_mutex_lock(&xcp.lock);
	if (c->job_queued) {
		job_unlink_locked(c);
		job_insert_locked(c, 0);
	}
	pthread_mutex_unlock(&xcp.lock);
}

static void job_finish(struct xconn *c)
{
	pthread_mutex_lock(&c->lock);
	c->given_up = 1;
	c->finished = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* One job of c; c is not touched after attach() or job_finish(). */
static void job_run(struct xconn *c)
{
	bool was_up = false;
	uint64_t due;
	int ret, stop;

	tls_conn = c;
	if (c->job_down) {
		c->job_down = 0;
		was_up = true;
		ret = link_ended(c, c->link_err);
	} else {
		if (!enter_connecting(c))
			goto out_finish;
		ret = attempt_connect(c, c->prev_err);
		if (!ret) {
			tls_conn = NULL;
			c->ops->attach(c);
			return;
		}
	}
	if (was_up)
		c->backoff = c->rc_min_ms;
	c->prev_err = ret;
	tls_conn = NULL;
	pthread_mutex_lock(&c->lock);
	stop = done_trying_locked(c, ret);
	if (!stop) {
		/* queued under c->lock: xconn_stop() either finds the job
		 * queued and hurries it, or set closing before we looked;
		 * c is another connector's once queued */
		due = deadline_after_ms(c->backoff);
		c->backoff = c->backoff * 2 < c->rc_max_ms ? c->backoff * 2
							   : c->rc_max_ms;
		job_queue(c, due);
	}
	pthread_mutex_unlock(&c->lock);
	if (stop)
		job_finish(c);
	return;

out_finish:
	tls_conn = NULL;
	job_finish(c);
}

static void *connector_main(void *arg)
{
	struct timespec ts;
	struct xconn *c;

	(void)arg;
	pthread_mutex_lock(&xcp.lock);
	while (!xcp.stop) {
		c = xcp.head;
		if (!c) {
			pthread_cond_wait(&xcp.cond, &xcp.lock);
			continue;
		}
		if (c->job_due > mono_ns()) {
			ts = deadline_timespec(c->job_due);
			pthread_cond_timedwait(&xcp.cond, &xcp.lock, &ts);
			continue;
		}
		xcp.head = c->job_next;
		c->job_next = NULL;
		c->job_queued = 0;
		pthread_mutex_unlock(&xcp.lock);
		job_run(c);
		pthread_mutex_lock(&xcp.lock);
	}
	pthread_mutex_unlock(&xcp.lock);
	return NULL;
}

static void xcp_stop_locked(void)
{
	unsigned int i;

	pthread_mutex_lock(&xcp.lock);
	xcp.stop = 1;
	pthread_cond_broadcast(&xcp.cond);
	pthread_mutex_unlock(&xcp.lock);
	for (i = 0; i < xcp.nthreads; i++)
		pthread_join(xcp.threads[i], NULL);
	xcp.nthreads = 0;
	xcp.stop = 0;
}

/* One more user of the connector pool: starts it for the first. */
static int xcp_get(void)
{
	char name[16];
	int ret = 0;

	pthread_once(&xcp_once, xcp_init_cond);
	pthread_mutex_lock(&xcp_life);
	while (xcp.nthreads < XCONN_CONNECTORS) {
		ret = -pthread_create(&xcp.threads[xcp.nthreads], NULL,
				      connector_main, NULL);
		if (ret)
			break;
		snprintf(name, sizeof(name), "cnm-connect/%u", xcp.nthreads);
		pthread_setname_np(xcp.threads[xcp.nthreads], name);
		xcp.nthreads++;
	}
	if (ret && !xcp.users)
		xcp_stop_locked();
	if (!ret)
		xcp.users++;
	pthread_mutex_unlock(&xcp_life);
	return ret;
}

static void xcp_put(void)
{
	pthread_mutex_lock(&xcp_life);
	if (!--xcp.users)
		xcp_stop_locked();
	pthread_mutex_unlock(&xcp_life);
}

void xconn_link_down(struct xconn *c, int err)
{
	bool queued;

	pthread_mutex_lock(&c->lock);
	if (!c->closing)
		xconn_set_down_locked(c, err);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_lock(&xcp.lock);
	c->link_err = err;
	c->job_down = 1;
	/* a link reported down twice (a transport bug, as verbs_loop.c's
	 * double detach was) finds its first job queued: that job runs now
	 * with the teardown first; never a second job of c, never an abort */
	queued = c->job_queued;
	if (queued)
		job_unlink_locked(c);
	job_insert_locked(c, 0);
	pthread_mutex_unlock(&xcp.lock);
	if (queued)
		log_warn("donor %s: the link ended while a connector job "
			 "was queued",
			 c->peer);
}

int xconn_start(struct xconn *c, struct xport **out)
{
	int ret;

	ret = xcp_get();
	if (ret)
		return ret;
	c->thread_started = 1;
	c->backoff = c->rc_min_ms;
	*out = &c->base;
	job_queue(c, 0);
	return 0;
}

void xconn_stop(struct xconn *c)
{
	uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	c->closing = 1;
	c->state = XPORT_CLOSED;
	atomic_store(&c->up, 0);
	c->ops->kick(c);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (write(c->wake_fd, &one, sizeof(one)) < 0)
		log_warn("donor %s: cannot wake the connector", c->peer);
	if (c->thread_started) {
		job_hurry(c);
		pthread_mutex_lock(&c->lock);
		while (!c->finished)
			pthread_cond_wait(&c->cond, &c->lock);
		pthread_mutex_unlock(&c->lock);
		xcp_put();
	}
	c->thread_started = 0;
}

/* ---- I/O checks and statistics ---- */

bool xconn_accept_io(struct xconn *c, struct xport_io *io, uint32_t max_len)
{
	int ret;

	XS_ADD(c->st.ios, 1);
	ret = xport_io_check(io, max_len);
	if (!ret && !atomic_load_explicit(&c->up, memory_order_relaxed))
		ret = -ENOTCONN;
	if (ret) {
		xstats_done(&c->st, io, ret, 0);
		io->done(io, ret);
		return false;
	}
	io->t_submit_ns = mono_ns();
	return true;
}

void xconn_io_done(struct xconn *c, const struct xport_io *io, int status,
		   uint64_t now)
{
	xstats_done(&c->st, io, status, now);
}

/* ---- the shared backend entries ---- */

int xconn_wait_up(struct xport *x, unsigned int timeout_ms)
{
	struct xconn *c = to_xconn(x);
	uint64_t deadline = deadline_after_ms(timeout_ms);
	int ret;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->state == XPORT_UP) {
			ret = 0;
			break;
		}
		if (c->closing) {
			ret = -ECONNABORTED;
			break;
		}
		/* an error is final once the thread stopped trying */
		if (c->last_err &&
		    (c->given_up || xconn_permanent(c->last_err))) {
			ret = c->last_err;
			break;
		}
		if (xconn_cond_wait_until(c, deadline) == ETIMEDOUT) {
			ret = c->state == XPORT_UP ? 0
			      : c->last_err	   ? c->last_err
						   : -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* A control call whose reply body must be exactly rlen bytes. */
static int ctl_exact(struct xconn *c, uint16_t op, const void *body,
		     uint32_t blen, void *reply, uint32_t rlen)
{
	uint32_t n = 0;
	int ret;

	ret = c->ops->ctl(c, op, body, blen, reply, rlen, &n);
	if (!ret && n != rlen) {
		LOG_RATELIMITED(LOG_WARNING,
				"donor %s: %s reply of %u bytes, not %u",
				c->peer, proto_op_name(op), n, rlen);
		ret = -EPROTO;
	}
	return ret;
}

int xconn_alloc(struct xport *x, struct xport_slab *out)
{
	struct xconn *c = to_xconn(x);
	struct wire_slab ws;
	int ret;

	ret = ctl_exact(c, PROTO_OP_ALLOC, NULL, 0, &ws, sizeof(ws));
	if (ret)
		return ret;
	proto_slab_swap(&ws);
	out->slab = ws.slab;
	out->rkey = ws.rkey;
	out->size = ws.size;
	out->addr = ws.addr;
	if (c->ops->slab_added)
		c->ops->slab_added(c, out);
	return 0;
}

int xconn_free(struct xport *x, uint32_t slab)
{
	struct xconn *c = to_xconn(x);
	struct wire_slab_ref r = { .slab = slab };
	int ret;

	proto_slab_ref_swap(&r);
	ret = ctl_exact(c, PROTO_OP_FREE, &r, sizeof(r), NULL, 0);
	if (!ret && c->ops->slab_freed)
		c->ops->slab_freed(c, slab);
	return ret;
}

int xconn_query(struct xport *x, struct wire_state *out)
{
	int ret;

	ret = ctl_exact(to_xconn(x), PROTO_OP_QUERY, NULL, 0, out,
			sizeof(*out));
	if (!ret)
		proto_state_swap(out);
	return ret;
}

int xconn_heartbeat(struct xport *x, uint64_t *rtt_ns)
{
	uint64_t t0 = mono_ns();
	int ret;

	ret = ctl_exact(to_xconn(x), PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0);
	if (!ret && rtt_ns)
		*rtt_ns = mono_ns() - t0;
	return ret;
}

int xconn_reclaim(struct xport *x, uint64_t bytes)
{
	struct wire_reclaim r = { .bytes = bytes };

	proto_reclaim_swap(&r);
	return ctl_exact(to_xconn(x), PROTO_OP_RECLAIM, &r, sizeof(r), NULL, 0);
}

enum xport_state xconn_state(struct xport *x)
{
	struct xconn *c = to_xconn(x);
	enum xport_state s;

	pthread_mutex_lock(&c->lock);
	s = c->state;
	pthread_mutex_unlock(&c->lock);
	return s;
}

void xconn_get_stats(struct xport *x, struct xport_stats *out)
{
	struct xconn *c = to_xconn(x);

	memset(out, 0, sizeof(*out));
	xstats_read(&c->st, out);
	out->kind = c->kind;
	out->state = xconn_state(x);
}

const char *xconn_peer(struct xport *x)
{
	return to_xconn(x)->peer;
}

void xconn_close(struct xport *x)
{
	struct xconn *c = to_xconn(x);

	xconn_stop(c);
	c->ops->destroy(c);
}
