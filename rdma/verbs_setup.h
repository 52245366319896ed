/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verbs_setup - the RDMA resources of one connection, built the same way
 * by the client (rdma/verbs_conn.c) and the donor (donor/rdma_server.c),
 * as rdma-core's rping.c shares setup_qp/setup_buffers between its roles:
 * a protection domain, a non-blocking completion channel, one CQ (armed)
 * for sends and receives, an RC QP on the CM id, and the registered
 * buffer of control messages with its receives posted.
 *
 *   vsetup_create()  PD -> channel -> CQ (armed) -> QP -> message MR
 *   vsetup_destroy() message MR -> CQ (acks its events) -> channel (its
 *                    own, not a borrowed cfg->cc) -> PD,
 *                    after the caller destroyed the QP
 *                    (vsetup_destroy_qp) and deregistered its own MRs
 *
 * Returns 0 or -errno. After a failed vsetup_create() what exists is
 * released by vsetup_destroy_qp() and vsetup_destroy(), as after use.
 *
 * A completion channel per device (struct vs_chan), shared by the CQs of
 * every connection through it and watched by an event loop
 * (common/evloop.h): vschan_get() finds or makes it in a caller's list,
 * the donor's (one loop) and the client's (rdma/verbs_loop.c) alike.
 *
 * Threading: a connection's resources belong to the one thread that set
 * them up (the client's connector, the donor's listener thread); these
 * functions keep no state of their own. A channel list is its owner's,
 * under the owner's lock if it has several threads.
 */
#ifndef CNM_RDMA_VERBS_SETUP_H
#define CNM_RDMA_VERBS_SETUP_H

#include "common/evloop.h"

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stddef.h>
#include <stdint.h>

/* RDMA READs in flight per QP: the client's initiator depth, the donor's
 * responder resources (each also capped by its device) */
#define VS_RD_ATOM 16

struct vsetup_cfg {
	unsigned int send_wr, recv_wr; /* QP queue depths */
	unsigned int max_send_sge;     /* wanted; capped by the device */
	unsigned int cqe;	       /* CQ entries */
	void *cq_ctx;
	/* borrowed, on id's device: the CQ's events go there (the donor
	 * shares one among its connections); NULL: a channel of its own */
	struct ibv_comp_channel *cc;
	void *msgs;	    /* control message buffers, registered */
	size_t msg_size;    /* bytes of one message buffer */
	unsigned int nmsgs; /* buffers at msgs (receives, then sends) */
	unsigned int nrecv; /* receives posted on msgs[0..nrecv) */
	uint64_t recv_tag;  /* wr_id of receive i: recv_tag | i */
};

struct vsetup {
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc; /* cfg->cc, or its own */
	struct ibv_cq *cq;
	struct ibv_mr *msg_mr;
	unsigned int cq_events;	      /* channel events not acked yet */
	unsigned int max_sge;	      /* send SGEs of the QP */
	uint8_t init_rd_atom;	      /* min(device, VS_RD_ATOM) */
	uint8_t resp_rd_atom;	      /* min(device, VS_RD_ATOM) */
	const struct vsetup_cfg *cfg; /* borrowed from create to destroy */
};

/* A device's completion channel, non-blocking, a source of one loop. */
struct vs_chan {
	struct evl_src src; /* first: the loop hands it back */
	struct ibv_context *verbs;
	struct ibv_comp_channel *cc;
	struct vs_chan *next;
};

int vsetup_nonblock(int fd);
/* The channel of verbs in *list; on first use made, added to loop l
 * (EPOLLIN, ready called there) and put in *list. NULL on failure. */
struct vs_chan *vschan_get(struct vs_chan **list, struct evl *l,
			   struct ibv_context *verbs,
			   void (*ready)(struct evl_src *s, uint32_t events));
/* Destroys every channel of *list; no CQ may use one any more and no
 * loop serve one (stopped, or evl_del() done). */
void vschan_destroy_all(struct vs_chan **list);
/* Everything of the header's first line, on id (its verbs context). */
int vsetup_create(struct vsetup *v, struct rdma_cm_id *id,
		  const struct vsetup_cfg *cfg);
/* Posts receive i of cfg->msgs again (after its completion). */
int vsetup_post_recv(struct vsetup *v, struct ibv_qp *qp, unsigned int i);
/* Acks one completion channel event of v's CQ (in batches). */
void vsetup_ack_cq_event(struct vsetup *v);
void vsetup_destroy_qp(struct rdma_cm_id *id);
void vsetup_destroy(struct vsetup *v);

#endif
