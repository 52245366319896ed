/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xport - a client's connection to one donor, whatever carries it.
 *
 * The rest of the client (placement/) sees only this interface. Backends
 * (tcp*.c, verbs_*.c, mem.c) are chosen by name through a const table of
 * struct xport_backend; every struct xport starts with its backend pointer.
 * The network backends share one connection core (rdma/conn.h: state,
 * backoff, wait-up, control calls, statistics) and supply only the
 * moving of bytes.
 *
 *   XPORT_TCP   TCP sockets, the fallback everywhere
 *   XPORT_RDMA  librdmacm + verbs, one-sided READ/WRITE (rdma/verbs_*.c)
 *   XPORT_MEM   slabs in this process's own memory: the local-memory page
 *               backend (the ceiling of any FUSE design) and the in-memory
 *               transport of unit tests; same queue, same batching
 *   XPORT_AUTO  RDMA where a device reaches the donor, else TCP
 *
 * Data: xport_submit() queues one page-run (struct xport_io) on the
 * connection's batching queue (rdma/batch.h) and returns; the caller's
 * done() runs exactly once, on a completion thread or in the submitting
 * thread (an immediate error, or XPORT_MEM, which copies and completes in
 * the batch leader): callers must not hold a lock done() takes while they
 * call xport_submit(). Status is 0 or -errno:
 * -ECONNRESET when the connection is lost, -ETIMEDOUT after io_timeout_ms,
 * -ECONNABORTED when closed, -EFAULT/-EINVAL when the donor refused the
 * range, -ENOTCONN when the donor is down. Never a hang, never a silent
 * drop. submit never blocks on the network while holding a lock.
 *
 * Control calls (alloc, free, query, heartbeat, reclaim) block up to
 * ctl_timeout_ms; call them from threads that hold no lock of the I/O path.
 *
 * A lost connection fails every pending request, emits XPORT_EV_DOWN and,
 * when reconnect_max_ms > 0, reconnects in the background with exponential
 * backoff under the same session id (so the donor hands back the session's
 * slabs), then emits XPORT_EV_UP.
 *
 * Threading: all functions may be called from any thread, concurrently,
 * except xport_close(), which must be the last call on the object. Event
 * callbacks run on the transport's own thread and must not call
 * xport_close() or block for long.
 */
#ifndef CNM_RDMA_XPORT_H
#define CNM_RDMA_XPORT_H

#include "cnm_config.h"
#include "rdma/auth.h"
#include "rdma/proto.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct xport;
struct hs_session;

enum xport_kind { XPORT_TCP, XPORT_RDMA, XPORT_MEM, XPORT_AUTO };
enum xport_state { XPORT_CONNECTING, XPORT_UP, XPORT_DOWN, XPORT_CLOSED };
enum xport_dir { XPORT_READ, XPORT_WRITE };

struct xport_io {
	struct xport_io *next; /* owned by the transport from submit to done */
	uint8_t dir;	       /* enum xport_dir */
	uint32_t slab;	       /* donor slab id from xport_alloc() */
	uint32_t len;	       /* bytes, > 0 (page tags: 16 per page) */
	uint64_t off;	       /* byte offset inside the slab */
	void *buf;	       /* borrowed until done() */
	void (*done)(struct xport_io *io, int status);
	void *priv;	      /* the caller's */
	uint64_t t_submit_ns; /* set by the transport */
};

struct xport_slab {
	uint32_t slab;
	uint32_t rkey; /* RDMA only */
	uint64_t size;
	uint64_t addr; /* RDMA only */
};

enum xport_event_type {
	XPORT_EV_UP,	/* connected (again) */
	XPORT_EV_DOWN,	/* connection lost; pending requests were failed */
	XPORT_EV_EVICT, /* the donor asks for slab `slab` back */
};

struct xport_event {
	enum xport_event_type type;
	uint32_t slab;	      /* EVICT */
	uint64_t deadline_ms; /* EVICT */
	int error;	      /* DOWN: why, -errno */
};

typedef void (*xport_event_fn)(void *arg, struct xport *x,
			       const struct xport_event *ev);

struct xport_cfg {
	const char *host; /* borrowed during xport_open() only */
	const char *port;
	enum xport_kind kind;
	const struct auth_key *key; /* copied; NULL or !set: no key */
	uint64_t slab_size;
	uint8_t session[PROTO_SESSION_LEN];
	unsigned int max_chain;	       /* ops per post; 0 = default (32) */
	unsigned int max_op_bytes;     /* merged op size; 0 = default (512K) */
	unsigned int ctl_timeout_ms;   /* 0 = default (5000) */
	unsigned int io_timeout_ms;    /* 0 = default (10000) */
	unsigned int reconnect_min_ms; /* first backoff step */
	unsigned int reconnect_max_ms; /* 0: never reconnect */
	xport_event_fn event;
	void *event_arg;
	uint64_t mem_bytes; /* XPORT_MEM: memory to serve */
	/* NULL: the transport keeps the session's secret itself. Else the
	 * caller's (a state arena's, issue 14): read to RESUME a session a
	 * predecessor made, updated when the donor makes a new one. Borrowed
	 * until xport_close(). */
	struct hs_session *sess;
	/* XPORT_MEM: NULL, its own memory; else the caller's (a state
	 * arena's, issue 14): mem_bytes of slabs and one state byte per
	 * slab, kept as they are, so a successor serves the same slabs.
	 * Borrowed until xport_close(). */
	void *mem_base;
	_Atomic uint8_t *mem_slabs;
};

#define XPORT_HIST 12 /* power-of-two buckets */

struct xport_stats {
	enum xport_kind kind; /* the backend actually in use */
	enum xport_state state;
	uint64_t posts; /* chains posted (doorbells, sendmsg calls) */
	uint64_t ops;	/* wire operations, after merging */
	uint64_t ios;	/* xport_io submitted */
	uint64_t write_posts, write_ops; /* posts carrying writes, and those
					  * writes: batching of swap-out */
	uint64_t bytes_read, bytes_written;
	uint64_t errors, timeouts, reconnects;
	uint64_t lat_ewma_ns; /* io latency, submit to done */
	/* bucket i counts values in [2^i, 2^(i+1)); the last one is open */
	uint64_t ops_per_post[XPORT_HIST];
	uint64_t kib_per_op[XPORT_HIST]; /* op size in KiB */
};

/*
 * Creates the connection object and starts connecting. Returns 0 with *out
 * set even when the donor is not reachable yet (see xport_wait_up());
 * -EINVAL for a bad cfg, -ENOMEM, -EPROTONOSUPPORT for a backend not built.
 */
int xport_open(const struct xport_cfg *cfg, struct xport **out);
/* Waits until UP; returns 0 or the last connection error (-ECONNREFUSED,
 * -EACCES for a wrong key, -ETIMEDOUT...). */
int xport_wait_up(struct xport *x, unsigned int timeout_ms);
void xport_submit(struct xport *x, struct xport_io *io);
/* As xport_submit() for io and each io linked from it by ->next (NULL-
 * terminated), queued at once so they leave in one post where they fit
 * (a page run and its tags: no second doorbell or sendmsg). Each
 * completes on its own. */
void xport_submit_chain(struct xport *x, struct xport_io *io);
/*
 * The calling thread waits for an io it submitted and would rather
 * collect the reply itself than be woken by the transport's completion
 * thread (a FUSE io_uring ring thread, issue 17): it runs x's receive side
 * until *done is set, busy for up to spin_ns, then blocked on the link,
 * completing whatever replies arrive (done() of other ios too, on this
 * thread). 0 once *done is set; -EAGAIN when it gave up (another thread
 * receives, nothing more in flight, the link ended, a bounded block
 * passed) and -EOPNOTSUPP when the transport cannot: the caller then
 * waits as it would have (the io completes the usual way either way).
 * Never from a done() callback or an event callback.
 */
int xport_poll(struct xport *x, const atomic_int *done, uint64_t spin_ns);
/* Marks [addr, addr+len) as I/O buffer memory (RDMA registers it for
 * zero-copy; other backends ignore it). Call before using it. */
int xport_register(struct xport *x, void *addr, size_t len);

int xport_alloc(struct xport *x, struct xport_slab *out); /* -ENOSPC: full */
int xport_free(struct xport *x, uint32_t slab);
int xport_query(struct xport *x, struct wire_state *out);
int xport_heartbeat(struct xport *x, uint64_t *rtt_ns);
int xport_reclaim(struct xport *x, uint64_t bytes);

enum xport_state xport_state(struct xport *x);
void xport_get_stats(struct xport *x, struct xport_stats *out);
const char *xport_peer(struct xport *x); /* "host:port" */
const char *xport_kind_name(enum xport_kind kind);
/* Fails everything pending with -ECONNABORTED, stops threads, frees. */
void xport_close(struct xport *x);

/* For backends: the table every struct xport starts with a pointer to. */
struct xport_backend {
	const char *name;
	int (*open)(const struct xport_cfg *cfg, struct xport **out);
	int (*wait_up)(struct xport *x, unsigned int timeout_ms);
	void (*submit)(struct xport *x, struct xport_io *io);
	/* optional: NULL submits the ios of a chain one by one */
	void (*submit_chain)(struct xport *x, struct xport_io *io);
	/* optional: NULL makes xport_poll() -EOPNOTSUPP */
	int (*poll)(struct xport *x, const atomic_int *done, uint64_t spin_ns);
	int (*reg)(struct xport *x, void *addr, size_t len);
	int (*alloc)(struct xport *x, struct xport_slab *out);
	int (*free_slab)(struct xport *x, uint32_t slab);
	int (*query)(struct xport *x, struct wire_state *out);
	int (*heartbeat)(struct xport *x, uint64_t *rtt_ns);
	int (*reclaim)(struct xport *x, uint64_t bytes);
	enum xport_state (*state)(struct xport *x);
	void (*get_stats)(struct xport *x, struct xport_stats *out);
	const char *(*peer)(struct xport *x);
	void (*close)(struct xport *x);
};

struct xport {
	const struct xport_backend *ops;
};

extern const struct xport_backend xport_tcp_backend;
extern const struct xport_backend xport_mem_backend;
#if CNM_HAVE_RDMA
extern const struct xport_backend xport_rdma_backend;
#endif

#endif
