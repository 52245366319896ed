/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conn - the client connection core under every network transport of
 * rdma/xport.h (tcp.c, verbs_*.c): one lifecycle, one set of control
 * calls, one set of statistics and I/O checks. A transport supplies only
 * what moves bytes (struct xconn_ops), as nbdkit's protocol layer sits
 * over connections that only recv/send.
 *
 *   connector:  CONNECTING --connect()--> UP --attach()--> the loop
 *                   ^   (failed: DOWN, last_err)           | the link ends:
 *                   |                        xconn_link_down(): DOWN
 *                   +-- backoff (reconnect_min..max) <-- teardown()
 *   xconn_stop():  any state -> CLOSED, kick(), the job finishes
 *   a permanent error (xconn_permanent) or reconnect_max_ms 0: the
 *   connector stops trying (given_up) and the state stays DOWN
 *
 * No connection has a thread of its own. A small process-wide pool of
 * connector threads (XCONN_CONNECTORS, shared by every connection of
 * every transport) runs connect() and, once the link ended, teardown(),
 * the events and the backoff, taking each connection as a job due at a
 * time (now, or after the backoff). Once UP, attach() hands the link to
 * the transport's event loop (tcp_loop.c, verbs_loop.c) and the connector
 * moves on; the transport calls xconn_link_down() exactly once when the
 * link ends, which queues the teardown job.
 *
 * The core owns the state, the last error, the backoff, XPORT_EV_UP/DOWN,
 * the wait for UP (xport_wait_up: a permanent error - wrong key, version,
 * bad config - returns at once, others when the connector has given up
 * or the wait timed out), the five control calls (alloc, free, query,
 * heartbeat, reclaim: request, exact reply size, status -> -errno through
 * proto_status_errno) over the transport's ctl(), and the statistics:
 * every submitted io is counted and checked once (xconn_accept_io); every
 * io completed with an error counts one error, and with -ETIMEDOUT also
 * one timeout (xconn_io_done). All waits are on the monotonic clock.
 *
 * Threading: c->lock guards everything marked so and every transport
 * field its transport says it guards (the transports share this lock);
 * c->cond (CLOCK_MONOTONIC) is broadcast on any change of them. The
 * connector running the connection's job calls connect(), attach() and
 * teardown() with no lock held; kick() runs with c->lock held and must
 * not block. UP and DOWN callbacks run on that connector with no lock
 * held (EVICT: on the transport's loop). The
 * connector pool's lock guards the job fields and is never held across
 * a call into a transport. No call of the core blocks on the network
 * while it holds c->lock.
 */
#ifndef CNM_RDMA_CONN_H
#define CNM_RDMA_CONN_H

#include "rdma/handshake.h"
#include "rdma/xport.h"
#include "rdma/xport_priv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define XCONN_DEF_SLAB	       (64ull << 20)
#define XCONN_DEF_CTL_MS       5000
#define XCONN_DEF_IO_MS	       10000
#define XCONN_RECONNECT_MIN_MS 100
#define XCONN_CONNECTORS       4 /* connector threads, process-wide */

struct xconn;

struct xconn_ops {
	/* One attempt, handshake included: 0 with the link ready for
	 * attach(), or -errno with a reason in err. Connector, no lock. */
	int (*connect)(struct xconn *c, char *err, size_t errlen);
	/* The link is UP: serve it elsewhere (an event loop) and call
	 * xconn_link_down() once when it ends. Must not block. */
	void (*attach)(struct xconn *c);
	/* After the link or a failed connect(): fails everything pending with
	 * err (-ECONNABORTED when closing) and releases the link. */
	void (*teardown)(struct xconn *c, int err);
	/* One control request and its reply body (at most rmax bytes, the
	 * length in *rlen): 0, a transport error, or the reply's status as
	 * -errno. Blocks up to ctl_ms; any thread but as the transport says. */
	int (*ctl)(struct xconn *c, uint16_t op, const void *body,
		   uint32_t blen, void *reply, uint32_t rmax, uint32_t *rlen);
	/* c->lock held: make a blocked connect() return soon, and the
	 * loop let a closing link go. */
	void (*kick)(struct xconn *c);
	/* After xconn_stop(): stops what else the transport runs,
	 * releases the link and frees the object. */
	void (*destroy)(struct xconn *c);
	/* optional: a slab was allocated / freed (the RDMA slab table) */
	void (*slab_added)(struct xconn *c, const struct xport_slab *s);
	void (*slab_freed)(struct xconn *c, uint32_t slab);
};

struct xconn {
	struct xport base; /* first: what xport.c dispatches on */
	const struct xconn_ops *ops;
	char host[256], port[32], peer[300];
	struct auth_key key;
	struct hs_params hs;	   /* key, session, slab size, timeout */
	struct hs_session hs_sess; /* connector: the session's secret */
	unsigned int ctl_ms, io_ms, rc_min_ms, rc_max_ms;
	xport_event_fn event;
	void *event_arg;
	enum xport_kind kind;
	int wake_fd; /* eventfd, readable once closing */

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC; any change below */
	enum xport_state state; /* protected by lock */
	int last_err;		/* protected by lock */
	int closing;		/* protected by lock */
	int given_up;		/* protected by lock: stopped trying */
	int ever_up;		/* protected by lock */
	atomic_int up;		/* state == XPORT_UP, for submit */
	int thread_started;	/* a job queued at start, not stopped */
	int finished;		/* protected by lock: no job left */

	/* the connector pool's job (see conn.c) */
	struct xconn *job_next; /* protected by the pool's lock */
	uint64_t job_due;	/* protected by the pool's lock */
	int job_queued;		/* protected by the pool's lock */
	int job_down;		/* the link ended: teardown first */
	int link_err;		/* why, given to xconn_link_down() */
	int prev_err;		/* the connector's: last attempt's error */
	unsigned int backoff;	/* the connector's */

	struct xstats st;
};

static inline struct xconn *to_xconn(struct xport *x)
{
	return (struct xconn *)x;
}

/* Fills c from cfg (copies, defaults) and creates the lock, the
 * condvar and the wake fd: 0, -EINVAL or -errno. Undo with
 * xconn_destroy() (also after a failure). */
int xconn_init(struct xconn *c, const struct xport_backend *b,
	       const struct xconn_ops *ops, enum xport_kind kind,
	       const struct xport_cfg *cfg);
/* Queues the first connect on the connector pool; on success *out is
 * the transport. */
int xconn_start(struct xconn *c, struct xport **out);
/* Closing: state CLOSED, kick(), waits until the connector pool holds
 * no job of c. Not from a callback of c. */
void xconn_stop(struct xconn *c);
/* The link attach() took has ended with err (-errno); any
 * thread, no lock held, once per attach(). Submissions fail fast from
 * now on; a connector tears it down and reconnects. */
void xconn_link_down(struct xconn *c, int err);
void xconn_destroy(struct xconn *c);

/* c->lock held: the link is broken (not when closing): DOWN, last_err,
 * submissions fail fast from now on. */
void xconn_set_down_locked(struct xconn *c, int err);
/* An error no retry can fix: a wrong key, protocol version, config. */
int xconn_permanent(int err);
void xconn_emit(struct xconn *c, enum xport_event_type type, int error,
		uint32_t slab, uint64_t deadline_ms);
/* c->lock held: waits on c->cond until deadline; ETIMEDOUT after. */
int xconn_cond_wait_until(struct xconn *c, uint64_t deadline);
/* 1 when called by the connector running c. */
int xconn_on_thread(struct xconn *c);

/* Counts io, checks it (xport_io_check, the link up) and stamps its
 * submit time; on an error completes it (counted) and returns false. */
bool xconn_accept_io(struct xconn *c, struct xport_io *io, uint32_t max_len);
/* Counts the completion of io with status; call before io->done(). */
void xconn_io_done(struct xconn *c, const struct xport_io *io, int status,
		   uint64_t now);

/* The xport_backend entries every network transport shares. */
int xconn_wait_up(struct xport *x, unsigned int timeout_ms);
int xconn_alloc(struct xport *x, struct xport_slab *out);
int xconn_free(struct xport *x, uint32_t slab);
int xconn_query(struct xport *x, struct wire_state *out);
int xconn_heartbeat(struct xport *x, uint64_t *rtt_ns);
int xconn_reclaim(struct xport *x, uint64_t bytes);
enum xport_state xconn_state(struct xport *x);
void xconn_get_stats(struct xport *x, struct xport_stats *out);
const char *xconn_peer(struct xport *x);
/* xconn_stop(), then the transport's destroy(). */
void xconn_close(struct xport *x);

/* The entries of a struct xport_backend the core serves. */
#define XCONN_BACKEND_ENTRIES                                                  \
	.wait_up = xconn_wait_up, .alloc = xconn_alloc,                        \
	.free_slab = xconn_free, .query = xconn_query,                         \
	.heartbeat = xconn_heartbeat, .reclaim = xconn_reclaim,                \
	.state = xconn_state, .get_stats = xconn_get_stats,                    \
	.peer = xconn_peer, .close = xconn_close

/* Defines the backend table `var` of a transport on the core: its name,
 * the core's entries and the transport's own (open, submit, ...). */
#define XCONN_BACKEND(var, nm, ...)                                            \
	const struct xport_backend var = { .name = nm,                         \
					   XCONN_BACKEND_ENTRIES,              \
					   __VA_ARGS__ }

#endif
