/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp_priv - what the three parts of the TCP transport share: tcp.c (the
 * send side, connect, control calls, open/close), tcp_loop.c (the
 * process-wide event loops and their deferred-submit workers) and
 * tcp_rx.c (the receive parser a loop runs on a readable socket).
 * Private to rdma/.
 *
 * Threading: the tcp_conn fields marked "protected by lock" are guarded
 * by the core's c->xc.lock (rdma/conn.h), those marked "loop" are the
 * loop thread's the connection is attached to, those marked "tl->lock"
 * its loop's lock, those marked "claim" belong to whoever holds the
 * connection's receive claim (c->rx_claim: its loop thread, or a thread
 * collecting its own reply, tcp_poll.c); see tcp.c for the rest.
 */
#ifndef CNM_RDMA_TCP_PRIV_H
#define CNM_RDMA_TCP_PRIV_H

#include "common/evloop.h"
#include "rdma/batch.h"
#include "rdma/conn.h"

#include <stdatomic.h>
#include <stdbool.h>

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#define TCP_INFLIGHT	1024 /* wire operations in flight */
#define TCP_NCTL	16   /* control calls in flight */
#define TCP_DIR_CTL	2    /* xport_io.dir of a control entry */
#define TCP_IOV		1024 /* iovecs per sendmsg/readv */
#define TCP_OP_HDR	(sizeof(struct wire_hdr) + sizeof(struct wire_io))
#define TCP_SCAN_MS_MAX 100
/* a request older than io_timeout_ms fails once the donor has also sent
 * nothing for io_timeout_ms, or at this many io timeouts in any case */
#define TCP_AGE_MAX   3
#define TCP_RBUF      (64u << 10) /* a connection's receive buffer */
#define TCP_LOOPS_MAX 4		  /* event loops: min(CPUs, this) */
#define TCP_SENDERS   4		  /* deferred-submit workers per loop */
#define TCP_RX_BUDGET 32	  /* recvs per readiness, for fairness */
#define TCP_RDIRECT   (16u << 10) /* bigger payload rests: readv */

enum ctl_state { CTL_FREE, CTL_BUSY, CTL_DONE, CTL_ABANDONED };

struct tcp_conn;

struct tcp_ctl {
	struct xport_io io; /* first: the queue entry */
	struct tcp_conn *c;
	uint16_t op;
	uint32_t body_len;
	uint8_t body[16];
	uint32_t reply_len; /* written by the conn thread */
	uint8_t reply[sizeof(struct wire_state)]; /* written by conn thread */
	int status;				  /* protected by lock */
	enum ctl_state state;			  /* protected by lock */
};

struct tcp_slot {
	struct tcp_slot *prev, *next; /* in-flight list, or free list */
	uint64_t id;		      /* 0 when free */
	uint64_t t_sent;
	struct xport_io *ios;
	uint32_t len;
	uint32_t chain; /* the post that sent it */
	uint16_t op;	/* PROTO_OP_* */
	uint8_t dir;
};

struct tcp_conn {
	struct xconn xc; /* first: the connection core */
	unsigned int scan_ms;
	uint32_t max_io;
	struct batch_queue q;

	/* protected by xc.lock */
	int fd;	     /* -1 when none; closed by the conn thread only */
	int sending; /* the leader is between reserving and sendmsg end */
	uint32_t chain_seq; /* posts so far; the current one while sending */
	int slot_waiters;
	struct tcp_slot *slots;
	unsigned int nslots;
	struct tcp_slot *free_slots; /* linked by ->next */
	unsigned int nfree;
	struct tcp_slot inflight; /* sentinel of the list, oldest first */
	uint32_t seq;
	struct tcp_ctl ctl[TCP_NCTL];
	/* end of what xc.lock guards */

	/* the batch leader's (one at a time) */
	uint8_t (*hdrs)[TCP_OP_HDR];
	struct iovec *siov;
	struct tcp_slot **chain;

	/* the receive side: its claim (tcp_poll.c) and the parser, claim */
	atomic_int rx_claim;	/* 1: taken (a trylock, never waited for) */
	atomic_int rx_missed;	/* the loop found the claim taken */
	atomic_int rx_attached; /* loop: the loop serves the socket */
	int rx_err;		/* a poller's receive error, for the loop */
	struct iovec *riov;
	uint8_t *rbuf; /* TCP_RBUF bytes received, [roff, rlen) not parsed */
	size_t roff, rlen;
	uint64_t msg_deadline; /* to finish the current message; 0: none */
	uint64_t rx_bytes;     /* received on this link */
	uint64_t rx_last_ns;   /* when bytes last came (or the link began) */
	int rx_state;	       /* enum in tcp_rx.c */
	struct proto_hdr rh;   /* the current message's header */
	struct tcp_slot *rs;   /* its slot, unlinked from the in-flight list */
	int rstatus;	       /* its reply status */
	struct xport_io *rio;  /* READ payload: the io being filled */
	size_t rdone, rleft;   /* bytes in rio so far, of the op still */
	uint64_t next_scan;    /* loop: next io_timeout_ms scan */

	/* the event loop (tcp_loop.c) */
	struct tcp_loop *tl;		/* chosen at open, fixed */
	struct evl_src src;		/* the socket, while attached */
	struct tcp_conn *lprev, *lnext; /* loop: attached connections */
	struct tcp_conn *inext;		/* tl->lock: waiting to attach */
	/* ios submitted from a loop or connector, sent by the worker */
	struct xport_io *dhead, *dtail; /* tl->lock */
	struct tcp_conn *dnext;		/* tl->lock: the worker's queue */
	int dqueued;			/* tl->lock */
	int dbusy; /* tl->lock: a worker is submitting c's deferred ios */
	atomic_uint ndeferred; /* deferred and not yet in the batch queue */
};

static inline void tcp_slot_unlink(struct tcp_slot *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* tcp.c */
void tcp_complete_ios(struct tcp_conn *c, struct xport_io *io, int status);
void tcp_slot_put(struct tcp_conn *c, struct tcp_slot *s); /* lock held */
void tcp_iov_advance(struct iovec **iov, int *cnt, size_t n);

/* tcp_loop.c */
/* Joins the process-wide loops (started for the first connection) and
 * picks c's loop: 0 or -errno. Undo with tcp_loop_put(). */
int tcp_loop_get(struct tcp_conn *c);
/* After xconn_stop(): c's deferred ios fail, the worker forgets c, the
 * loops stop with the last connection. */
void tcp_loop_put(struct tcp_conn *c);
/* xconn_ops.attach: the loop serves c's socket until the link ends. */
void tcp_loop_attach(struct xconn *xc);
/* The link those ios were accepted for has ended (teardown): c's
 * deferred ios complete with status, none goes out on a later link. */
void tcp_loop_flush(struct tcp_conn *c, int status);
/* Hands io to c's loop's deferred-submit worker. Any thread. */
void tcp_loop_defer(struct tcp_conn *c, struct xport_io *io);
/* 1 on a loop thread of the TCP transport. */
bool tcp_loop_on_thread(void);
/* Makes this thread count as a loop thread (it must not send) while it
 * runs callbacks holding a receive claim; returns the old value. */
bool tcp_loop_act(bool on);
/* The socket's loop events: one-shot, armed again by the claim holder. */
#define TCP_RX_EVENTS (EPOLLIN | EPOLLONESHOT)
/* Sets the loop's event mask of c's socket; receive claim held. */
int tcp_loop_arm(struct tcp_conn *c, uint32_t events);

/* tcp_poll.c: the receive claim */
/* Takes c's receive side if nobody holds it; never waits. */
bool tcp_rx_claim(struct tcp_conn *c);
/* The loop thread's try: a failed one is noted, for the holder to arm
 * the socket's event again at its release. */
bool tcp_rx_claim_loop(struct tcp_conn *c);
/* Gives the receive side back (a poller's: arms the loop's event again,
 * and takes care of an event the loop missed meanwhile). */
void tcp_rx_release(struct tcp_conn *c);
/* xport_backend.poll: the calling thread receives c's replies itself. */
int tcp_poll(struct xport *x, const atomic_int *done, uint64_t spin_ns);

/* tcp_rx.c, on c's loop thread */
void tcp_rx_reset(struct tcp_conn *c);
/* The socket is readable: parses what it holds, completes replies,
 * emits EVICTs. 0, or the error that ends the link. */
int tcp_rx_ready(struct tcp_conn *c);
/* Timer: the current message's deadline, requests past io_timeout_ms.
 * 0, or -ETIMEDOUT that ends the link. */
int tcp_rx_tick(struct tcp_conn *c, uint64_t now);
/* The link ended with err: fails the message being received. */
void tcp_rx_abort(struct tcp_conn *c, int err);
/* No message is half received. */
bool tcp_rx_idle(const struct tcp_conn *c);

#endif
