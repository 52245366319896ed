/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verbs_priv - what the two halves of the RDMA transport share:
 * verbs_io.c (the send-queue ring, posting, completions, control
 * messages), verbs_conn.c (rdma_cm, resources, the handshake,
 * open/close) and verbs_loop.c (the process-wide event loop that serves
 * every UP connection). Private to rdma/.
 *
 * Threading: x->xc.lock (the connection core's, rdma/conn.h) guards the
 * fields marked "protected by lock"; the connection's verbs objects (id,
 * ec, vs, qp) are made and destroyed by the connector running it (or by
 * close, after the core let go of it), never while the loop serves it;
 * the fields marked "loop" are the loop thread's; the CQ is reaped by
 * the holder of its claim (verbs_poll.c: the loop, or a thread that
 * collects its own completion), those marked "claimed" change under it.
 */
#ifndef CNM_RDMA_VERBS_PRIV_H
#define CNM_RDMA_VERBS_PRIV_H

#include "rdma/batch.h"
#include "rdma/conn.h"
#include "rdma/verbs_setup.h"
#include "rdma/verbs_wire.h"

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VB_NRECV	 (VB_CREDITS + VB_UNSOL)
#define VB_SQ		 256 /* send queue depth = ring entries */
#define VB_MAX_SGE	 16
#define VB_MAX_CHAIN	 64
#define VB_BOUNCE	 16 /* bounce slots of max_op_bytes each */
#define VB_REGIONS	 64
#define VB_RECV_TAG	 (1ull << 63)
#define VB_TICK_MS	 100 /* the loop's drain and io_timeout_ms scan */
#define VB_CM_TIMEOUT_MS 3000
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
	struct xconn xc; /* first: the connection core */
	unsigned int max_chain, max_op_bytes;
	int hs; /* protected by lock: handshaking, control calls allowed */

	/* the connection: set up and torn down by a connector */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct vsetup vs; /* PD, channel, CQ, message MR */
	struct vsetup_cfg vs_cfg;
	struct ibv_qp *qp;
	uint8_t *msgs; /* VB_NRECV receive then VB_CREDITS send buffers */
	struct ibv_mr *bounce_mr;
	uint8_t *bounce;
	uint32_t bounce_free; /* bit i: slot i free; protected by lock */

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
	uint32_t evict_slab[VB_UNSOL]; /* unsolicited EVICTs to deliver */
	uint64_t evict_deadline[VB_UNSOL];
	unsigned int nevict;

	struct batch_queue q;

	/* the event loop (verbs_loop.c) */
	struct vloop *vl;	      /* joined at open, fixed */
	struct evl_src cm_src;	      /* loop: the CM channel, attached */
	int vl_attached;	      /* loop: the loop serves x */
	struct vx *vl_prev, *vl_next; /* loop: attached connections */
	struct vx *vl_inext;	      /* vl->lock: waiting to attach */

	/* the CQ's consumer claim (verbs_poll.c): whoever holds it reaps */
	atomic_uintptr_t cq_owner; /* 0 or the holder's token; a trylock */
	atomic_int cq_missed;	   /* the loop dropped a CQ event: claimed */
	atomic_int cq_kick;	   /* the loop could not detach: claimed */
	atomic_int cq_served;	   /* the loop serves x; changes claimed */
};

/* completion lists: done() runs after the lock is dropped */
struct vdone {
	struct xport_io *head;
};

static inline struct vx *to_vx(struct xport *x)
{
	return (struct vx *)x;
}

/* verbs_io.c */
void vb_done_run(struct vdone *d);
/* lock held: the link is broken; fails every pending request and
 * control call with err */
void vb_conn_fail(struct vx *x, int err, struct vdone *d);
/* lock held: when the oldest posted request is older than io_timeout_ms
 * at now, fails the connection with -ETIMEDOUT (returned), else 0 */
int vb_timeout_locked(struct vx *x, uint64_t now, struct vdone *d);
/* lock held: every control call waiting for a reply ends with err */
void vb_ctl_fail_locked(struct vx *x, int err);
/* Drains the CQ once: completions handled. The claim's holder only
 * (verbs_poll.c), or the connector before the attach. */
int vb_poll_cq(struct vx *x);
int vb_ctl_call(struct vx *x, uint16_t op, const void *body, uint32_t blen,
		void *out, uint32_t outmax, uint32_t *outlen);
int vb_ctl(struct xconn *c, uint16_t op, const void *body, uint32_t blen,
	   void *reply, uint32_t rmax, uint32_t *rlen);
void vb_post(void *ctx, struct batch_op *ops, unsigned int nops);
void vb_submit(struct xport *xp, struct xport_io *io);
int vb_reg(struct xport *xp, void *addr, size_t len);
void vb_slab_added(struct xconn *c, const struct xport_slab *s);
void vb_slab_freed(struct xconn *c, uint32_t slab);
/* 1 on the thread that drains x's CQ: the connector running x (the
 * handshake), the loop or a poller acting as it. It drains (vb_drain())
 * where others wait on xc.cond. */
bool vb_poller(struct vx *x);

/* verbs_poll.c: the CQ's claim and xport_poll() */
bool vb_claim(struct vx *x); /* a trylock */
/* The loop's try: *why (cq_missed or cq_kick) tells a holder it failed. */
bool vb_claim_loop(struct vx *x, atomic_int *why);
bool vb_claim_held(struct vx *x); /* by this thread */
void vb_unclaim(struct vx *x);	  /* the loop's, after serving */
/* A poller's unclaim: arm, drain, unclaim; again if the loop dropped an
 * event meanwhile; wakes the loop when it has work on x. */
void vb_release(struct vx *x);
/* A waiter's drain (vb_poller()): completions handled, or -EBUSY when
 * another thread holds the claim (it drains). */
int vb_drain(struct vx *x);
bool vb_polling(void); /* this thread polls (vb_poll()) */
int vb_poll(struct xport *xp, const atomic_int *done, uint64_t spin_ns);

/* verbs_loop.c */
/* Joins the process-wide loop (started for the first connection): 0
 * or -errno. Undo with vbl_put(), after xconn_stop(). */
int vbl_get(struct vx *x);
void vbl_put(struct vx *x);
/* The completion channel of device verbs, shared, watched by the loop;
 * NULL on failure. */
struct ibv_comp_channel *vbl_chan(struct vx *x, struct ibv_context *verbs);
/* xconn_ops.attach: the loop serves x until the link ends. */
void vbl_attach(struct xconn *xc);
/* Makes the loop look at its connections soon (any thread, no block). */
void vbl_kick(struct vx *x);
/* 1 on the loop's thread, or a poller acting as it. */
bool vbl_on_thread(void);
/* This thread counts as the loop's (on) or not; returns the old value. */
bool vbl_act(bool on);

#endif
