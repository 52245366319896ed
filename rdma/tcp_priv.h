/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp_priv - what the two halves of the TCP transport share: tcp.c (the
 * send side, connect, control calls, open/close) and tcp_rx.c (the conn
 * thread's receive loop). Private to rdma/.
 *
 * Threading: the tcp_conn fields marked "protected by lock" are guarded
 * by the core's c->xc.lock (rdma/conn.h); see tcp.c for the rest.
 */
#ifndef CNM_RDMA_TCP_PRIV_H
#define CNM_RDMA_TCP_PRIV_H

#include "rdma/batch.h"
#include "rdma/conn.h"

#include <stdint.h>
#include <sys/uio.h>

#define TCP_INFLIGHT	1024 /* wire operations in flight */
#define TCP_NCTL	16   /* control calls in flight */
#define TCP_DIR_CTL	2    /* xport_io.dir of a control entry */
#define TCP_IOV		1024 /* iovecs per sendmsg/readv */
#define TCP_OP_HDR	(sizeof(struct wire_hdr) + sizeof(struct wire_io))
#define TCP_SCAN_MS_MAX 100
#define TCP_RBUF	(64u << 10) /* the conn thread's receive buffer */
#define TCP_RDIRECT	(16u << 10) /* bigger payload rests: readv */

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

	/* the conn thread's */
	struct iovec *riov;
	uint8_t *rbuf; /* TCP_RBUF bytes received, [roff, rlen) not parsed */
	size_t roff, rlen;
	uint64_t msg_deadline; /* to finish reading the current message */

	/* ios submitted from the conn thread, sent by the deferred thread */
	pthread_mutex_t dlock;
	pthread_cond_t dcond;
	struct xport_io *dhead, *dtail; /* protected by dlock */
	int dstop;			/* protected by dlock */
	pthread_t dthread;
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
/* tcp_rx.c: the conn thread while UP; returns why the link ended */
int tcp_recv_loop(struct tcp_conn *c, int fd);

#endif
