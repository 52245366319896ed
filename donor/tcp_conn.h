/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp_conn - one TCP connection of the donor, as a state machine run by
 * an event loop (common/evloop.h): non-blocking socket, an input buffer
 * read in bulk, an output buffer the replies are queued in, and at most
 * one READ payload sent straight from its slab. donor/tcp_server.c owns
 * the loops, accepts, places each connection on a loop and closes it
 * when tconn_run() or tconn_expire() says so.
 *
 * Back-pressure: while the output buffer lacks room for a reply, or a
 * READ payload is still going out, the connection reads no request; a
 * client that never reads its replies stops only itself, and holds no
 * more than its two buffers (allocated at accept, never per request).
 *
 * Threading: a connection is run by its loop's thread only, except
 * tconn_evict() (any thread, under the donor's lock: it queues and wakes
 * the loop) and the fields marked protected by srv->lock, which the
 * accepting thread reads to enforce --max-startups.
 */
#ifndef CNM_DONOR_TCP_CONN_H
#define CNM_DONOR_TCP_CONN_H

#include "common/evloop.h"
#include "donor/serve.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TCONN_EVQ_LEN	 64
#define TCONN_IN_BUF	 (64 << 10) /* requests are read in bulk from here */
#define TCONN_OUT_BUF	 (8 << 10)  /* replies queue here */
#define TCONN_MSG_TMO_MS 30000	    /* no progress on a message: closed */

struct donor_server;
struct tloop;

enum tconn_rx {
	RX_MSG,	  /* a header and fixed body */
	RX_WRITE, /* a WRITE's data, into its slab */
	RX_DRAIN, /* a refused WRITE's data, dropped */
};

struct tconn {
	struct dconn dc;    /* first; dc.sc.peer names the client */
	struct evl_src src; /* the socket */
	struct donor_server *srv;
	struct tloop *tl; /* the loop that runs it (donor/tcp_server.c) */
	struct evl *evl;  /* and its event loop */
	int authing;	  /* protected by srv->lock: still in the handshake */
	int dropped;	  /* protected by srv->lock: shut down (max-startups) */
	struct tconn *gnext, **gprev; /* protected by srv->lock */
	struct tconn *lnext, **lprev; /* the loop's list */
	int dead;		      /* closed; freed after the batch */
	int closing;		      /* send what is queued, then close */
	uint64_t t_start;	      /* mono_ns() at accept */
	uint64_t t_last;	      /* mono_ns() of the last progress */
	uint64_t deadline;	      /* when expire closes it */
	/* input */
	enum tconn_rx rx;
	struct proto_hdr rh; /* RX_WRITE, RX_DRAIN: the request */
	struct wire_io rio;
	uint32_t rx_done;      /* bytes of rio.len taken */
	uint32_t rx_err;       /* RX_DRAIN: the status to reply */
	uint64_t t_rx;	       /* mono_ns() at the WRITE's header */
	size_t in_off, in_len; /* buffered input: in[in_off, in_len) */
	/* output: out[out_off, out_len), then the READ payload if tx */
	size_t out_off, out_len;
	int tx;
	struct wire_io tio;
	uint32_t tx_done;
	uint64_t t_tx;
	/* EVICTs queued by tconn_evict() */
	pthread_mutex_t evlock;
	uint32_t ev_slab[TCONN_EVQ_LEN]; /* protected by evlock */
	uint64_t ev_deadline[TCONN_EVQ_LEN];
	unsigned int ev_n;
	atomic_int ev_pending;
	uint8_t out[TCONN_OUT_BUF];
	uint8_t in[TCONN_IN_BUF];
};

/* Fills a calloc()ed c for the accepted socket fd, made non-blocking. */
int tconn_init(struct tconn *c, struct donor_server *srv, struct donor *d,
	       const struct auth_keyring *kr, int fd);
/*
 * Makes all the progress the socket allows, both ways. 0: wait for
 * c->src.events (updated on the loop); -errno: close the connection now
 * (logged).
 */
int tconn_run(struct tconn *c);
/* The next deadline of c (EVL_NEVER: none) given the handshake timeout. */
uint64_t tconn_deadline(const struct tconn *c, unsigned int hs_timeout_ms);
/* Logs why c is closed at its deadline. */
void tconn_log_expired(const struct tconn *c, unsigned int hs_timeout_ms);
/* session_conn.evict: any thread, under the donor's lock. */
void tconn_evict(struct session_conn *sc, uint32_t slab, uint64_t deadline_ms);
/* Detaches the session and frees c's resources but the socket. */
void tconn_fini(struct tconn *c);

/* donor/tcp_server.c: the connection finished its handshake; 0, or
 * -ECONNRESET when max-startups dropped it meanwhile. */
int tcp_server_authed(struct tconn *c);
/* donor/tcp_server.c: c has EVICTs queued; wake its loop. Any thread. */
void tcp_server_evict_wake(struct tconn *c);

#endif
