// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verbs_conn - the connection of the RDMA backend of rdma/xport.h:
 * librdmacm, the resources (rdma/verbs_setup.h, shared with the donor)
 * and the handshake on SEND/RECV. The connection core (rdma/conn.h) runs
 * its life and owns the control calls and statistics; the bytes move in
 * verbs_io.c; once UP, the connection is served by the process-wide
 * event loop of verbs_loop.c.
 *
 *   client (this file)                               donor (rdma_server.c)
 *     | rdma_resolve_addr/route, post 2N RECVs          | rdma_listen
 *     | rdma_connect  ---------------------------------> | PD+CQ+QP per client,
 *     |                                                  | post N RECVs, accept
 *     |  <-------------------------------- ESTABLISHED   |
 *     | SEND HELLO  ------------------------------------> |
 *     |  <--------------------------------- SEND HELLO r |
 *     | SEND AUTH   ------------------------------------> |
 *     |  <------------ SEND ALLOC r (id 0), one per slab  | (reconnect: new
 *     |  <---------------------------------- SEND AUTH r |  rkeys, new PD)
 *     | SEND ALLOC  ------------------------------------> | reg MR in the
 *     |  <------------------ SEND ALLOC r(addr, rkey)     | client's PD
 *     | RDMA WRITE / RDMA READ chains (one doorbell) ===> | (no CPU)
 *     |  <----------------- SEND EVICT (unsolicited)      |
 *     | DISCONNECTED / failed WC: every pending request fails, reconnect
 *
 * Threading: one of the core's connector threads (rdma/conn.c) runs
 * connect() (setup, handshake: it polls the CQ itself for the replies),
 * then attach() hands the connection to the loop (verbs_loop.c), which
 * drains the CQ on its device's shared completion channel and watches the
 * CM channel; once the loop let go (xconn_link_down()), a connector runs
 * teardown(). The connector alone creates and destroys the verbs
 * objects, except in close after the core let go. x->xc.lock guards what
 * verbs_priv.h marks.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/handshake.h"
#include "rdma/verbs_priv.h"
#include "rdma/verbs_probe.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Waits for one CM event on the channel: 0 with *out, or -errno. */
static int cm_wait(struct rdma_event_channel *ec, int wake_fd,
		   unsigned int timeout_ms, struct rdma_cm_event **out)
{
	uint64_t deadline = deadline_after_ms(timeout_ms);

	for (;;) {
		struct pollfd p[2] = { { .fd = ec->fd, .events = POLLIN },
				       { .fd = wake_fd, .events = POLLIN } };
		int left = deadline_left_ms(deadline);

		if (!rdma_get_cm_event(ec, out))
			return 0;
		if (errno != EAGAIN)
			return -errno;
		if (!left)
			return -ETIMEDOUT;
		if (poll(p, wake_fd >= 0 ? 2 : 1, left) < 0 && errno != EINTR)
			return -errno;
		if (wake_fd >= 0 && (p[1].revents & POLLIN))
			return -ECONNABORTED;
	}
}

static int cm_expect(struct rdma_event_channel *ec, int wake_fd,
		     enum rdma_cm_event_type want, unsigned int timeout_ms)
{
	struct rdma_cm_event *ev;
	int ret;

	ret = cm_wait(ec, wake_fd, timeout_ms, &ev);
	if (ret)
		return ret;
	if (ev->event == want) {
		ret = 0;
	} else if (ev->event == RDMA_CM_EVENT_REJECTED) {
		ret = -ECONNREFUSED;
	} else if (ev->event == RDMA_CM_EVENT_UNREACHABLE ||
		   ev->event == RDMA_CM_EVENT_ADDR_ERROR ||
		   ev->event == RDMA_CM_EVENT_ROUTE_ERROR) {
		ret = ev->status == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
	} else {
		ret = -ECONNRESET;
	}
	rdma_ack_cm_event(ev);
	return ret;
}

/* Destroys the connection's verbs objects (a connector, or close after
 * the core let go); what is missing is skipped. */
static void conn_teardown(struct vx *x)
{
	unsigned int i;

	if (x->id && x->id->qp)
		rdma_disconnect(x->id);
	vsetup_destroy_qp(x->id);
	x->qp = NULL;
	for (i = 0; i < x->nregions; i++) {
		if (x->regions[i].mr)
			ibv_dereg_mr(x->regions[i].mr);
		x->regions[i].mr = NULL;
	}
	if (x->bounce_mr)
		ibv_dereg_mr(x->bounce_mr);
	x->bounce_mr = NULL;
	vsetup_destroy(&x->vs);
	if (x->id)
		rdma_destroy_id(x->id);
	x->id = NULL;
	if (x->ec)
		rdma_destroy_event_channel(x->ec);
	x->ec = NULL;
}

/* Registers every region not registered on this connection yet (lock
 * held, the PD alive); failures leave the region to the bounce buffers. */
static void regions_register(struct vx *x)
{
	unsigned int i;

	for (i = 0; i < x->nregions; i++) {
		if (x->regions[i].mr)
			continue;
		x->regions[i].mr =
			ibv_reg_mr(x->vs.pd, x->regions[i].addr,
				   x->regions[i].len, IBV_ACCESS_LOCAL_WRITE);
		if (!x->regions[i].mr)
			log_warn("donor %s: registering %zu bytes: %s; "
				 "copying through bounce buffers",
				 x->xc.peer, x->regions[i].len,
				 strerror(errno));
	}
}

static int conn_handshake(struct vx *x, char *err, size_t errlen)
{
	struct hs_params p = x->xc.hs;
	struct wire_hello reply;
	struct wire_auth auth;
	struct proto_hdr h = { .op = PROTO_OP_HELLO, .flags = PROTO_F_REPLY };
	struct hs_client st;
	struct hs_result res;
	uint32_t n = 0;
	int ret;

	p.caps = PROTO_CAP_RDMA;
	hs_hello_build(&p, &st);
	reply = st.sent;
	proto_hello_swap(&reply); /* on the wire order */
	ret = vb_ctl_call(x, PROTO_OP_HELLO, &reply, sizeof(reply), &reply,
			  sizeof(reply), &n);
	h.status = ret < 0 ? (uint32_t)-ret : 0;
	h.len = n;
	if (ret &&
	    (ret == -ENOTCONN || ret == -ETIMEDOUT || ret == -ECONNRESET))
		return ret;
	if (n == sizeof(reply))
		proto_hello_swap(&reply);
	ret = hs_hello_reply_check(&p, &st, &h,
				   n == sizeof(reply) ? &reply : NULL, &auth,
				   &res, err, errlen);
	if (ret)
		return ret;
	ret = vb_ctl_call(x, PROTO_OP_AUTH, &auth, sizeof(auth), NULL, 0, NULL);
	if (ret) {
		h = (struct proto_hdr){ .op = PROTO_OP_AUTH,
					.flags = PROTO_F_REPLY,
					.status = (uint32_t)-ret };
		hs_auth_reply_check(&h, err, errlen);
		return ret;
	}
	return 0;
}

/*
 * Resolves the donor and creates the CM id (connector). What exists on an
 * error is undone by conn_teardown(), which teardown() runs after every
 * attempt, so these functions leave through one exit without labels.
 */
static int conn_resolve(struct vx *x)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *ai;
	int ret;

	x->ec = rdma_create_event_channel();
	if (!x->ec) {
		ret = errno ? -errno : -ENODEV;
		goto out;
	}
	ret = vsetup_nonblock(x->ec->fd);
	if (ret)
		goto out;
	if (rdma_create_id(x->ec, &x->id, x, RDMA_PS_TCP)) {
		ret = -errno;
		goto out;
	}
	if (rdma_getaddrinfo(x->xc.host, x->xc.port, &hints, &ai)) {
		ret = -EHOSTUNREACH;
		goto out;
	}
	ret = rdma_resolve_addr(x->id, NULL, ai->ai_dst_addr, VB_CM_TIMEOUT_MS)
		      ? -errno
		      : 0;
	rdma_freeaddrinfo(ai);
	if (!ret)
		ret = cm_expect(x->ec, x->xc.wake_fd,
				RDMA_CM_EVENT_ADDR_RESOLVED,
				VB_CM_TIMEOUT_MS + 500);
	if (ret)
		goto out;
	ret = rdma_resolve_route(x->id, VB_CM_TIMEOUT_MS) ? -errno : 0;
	if (!ret)
		ret = cm_expect(x->ec, x->xc.wake_fd,
				RDMA_CM_EVENT_ROUTE_RESOLVED,
				VB_CM_TIMEOUT_MS + 500);
out:
	return ret;
}

/* PD, CQ, QP, registrations and the posted receives (connector). */
static int conn_verbs(struct vx *x)
{
	size_t blen = (size_t)VB_BOUNCE * x->max_op_bytes;
	int ret;

	pthread_mutex_lock(&x->xc.lock);
	x->bounce_free = (1u << VB_BOUNCE) - 1;
	x->credits = VB_CREDITS;
	x->unsol_owed = 0;
	x->head = x->count = x->unsignaled = 0;
	memset(x->ctl, 0, sizeof(x->ctl));
	pthread_mutex_unlock(&x->xc.lock);
	/* the device's channel, shared by every connection through it */
	x->vs_cfg.cc = vbl_chan(x, x->id->verbs);
	if (!x->vs_cfg.cc) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vsetup_create(&x->vs, x->id, &x->vs_cfg);
	if (ret)
		goto out;
	x->qp = x->id->qp;
	x->bounce_mr =
		ibv_reg_mr(x->vs.pd, x->bounce, blen, IBV_ACCESS_LOCAL_WRITE);
	if (!x->bounce_mr) {
		ret = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&x->xc.lock);
	regions_register(x);
	pthread_mutex_unlock(&x->xc.lock);
out:
	return ret;
}

static int conn_setup(struct vx *x)
{
	struct rdma_conn_param cp = { 0 };
	int ret;

	ret = conn_resolve(x);
	if (!ret)
		ret = conn_verbs(x);
	if (ret)
		goto out;
	cp.initiator_depth = x->vs.init_rd_atom;
	cp.responder_resources = 0;
	cp.retry_count = 7;
	cp.rnr_retry_count = 0; /* credits, never RNR */
	if (rdma_connect(x->id, &cp)) {
		ret = -errno;
		goto out;
	}
	ret = cm_expect(x->ec, x->xc.wake_fd, RDMA_CM_EVENT_ESTABLISHED,
			VB_CM_TIMEOUT_MS + 2000);
out:
	return ret;
}

/* xconn_ops.connect: resources, rdma_connect and the handshake. */
static int vb_connect(struct xconn *xc, char *err, size_t errlen)
{
	struct vx *x = to_vx(&xc->base);
	int ret;

	pthread_mutex_lock(&xc->lock);
	x->hs = 1;
	pthread_mutex_unlock(&xc->lock);
	ret = conn_setup(x);
	if (!ret)
		ret = conn_handshake(x, err, errlen);
	pthread_mutex_lock(&xc->lock);
	x->hs = 0;
	if (!ret && xc->closing)
		ret = -ECONNABORTED;
	else if (!ret && xc->state != XPORT_CONNECTING)
		ret = xc->last_err ? xc->last_err : -ECONNRESET;
	if (!ret)
		regions_register(x); /* those added while connecting */
	pthread_mutex_unlock(&xc->lock);
	return ret;
}

static void vb_teardown(struct xconn *xc, int err)
{
	struct vx *x = to_vx(&xc->base);
	struct vdone d = { 0 };

	pthread_mutex_lock(&xc->lock);
	vb_conn_fail(x, err, &d);
	pthread_mutex_unlock(&xc->lock);
	vb_done_run(&d);
	conn_teardown(x);
}

/* lock held: control calls waiting for a reply (the handshake's too)
 * end now; every other wait of the connector also polls the wake fd,
 * which the core writes next; the loop lets a closing connection go */
static void vb_kick(struct xconn *xc)
{
	struct vx *x = to_vx(&xc->base);

	vb_ctl_fail_locked(x, -ECONNABORTED);
	vbl_kick(x);
}

static void vb_free(struct vx *x)
{
	xconn_destroy(&x->xc);
	free(x->msgs);
	free(x->bounce);
	free(x->slabs);
	free(x);
}

/* xconn_ops.destroy: no connector or loop holds x any more */
static void vb_destroy(struct xconn *xc)
{
	struct vx *x = to_vx(&xc->base);

	conn_teardown(x);
	vbl_put(x);
	batch_queue_destroy(&x->q);
	vb_free(x);
}

/* the core's calls: the slab table of verbs_io.c, its control messages,
 * then the connection of this file */
static const struct xconn_ops vb_conn_ops = {
	.slab_added = vb_slab_added,
	.slab_freed = vb_slab_freed,
	.ctl = vb_ctl,
	.connect = vb_connect,
	.attach = vbl_attach,
	.kick = vb_kick,
	.teardown = vb_teardown,
	.destroy = vb_destroy,
};

static int vb_open(const struct xport_cfg *cfg, struct xport **out)
{
	struct batch_limits lim;
	struct vx *x;
	int ret;

	if (!cfg->host || !cfg->port || strlen(cfg->host) >= 256 ||
	    strlen(cfg->port) >= 32)
		return -EINVAL;
	/* fail fast (XPORT_AUTO falls back to TCP) when no device has a
	 * route to the donor */
	if (!xport_rdma_reachable(cfg->host, cfg->port, VB_PROBE_MS))
		return -ENETUNREACH;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	ret = xconn_init(&x->xc, &xport_rdma_backend, &vb_conn_ops, XPORT_RDMA,
			 cfg);
	if (ret)
		goto out_free;
	x->max_chain = cfg->max_chain ? cfg->max_chain : 32;
	if (x->max_chain > VB_MAX_CHAIN)
		x->max_chain = VB_MAX_CHAIN;
	x->max_op_bytes = cfg->max_op_bytes ? cfg->max_op_bytes : 512 * 1024;
	x->msgs = calloc(VB_NRECV + VB_CREDITS, VB_MSG);
	x->bounce = aligned_alloc(4096, (size_t)VB_BOUNCE * x->max_op_bytes);
	if (!x->msgs || !x->bounce) {
		ret = -ENOMEM;
		goto out_free;
	}
	x->vs_cfg = (struct vsetup_cfg){ .send_wr = VB_SQ,
					 .recv_wr = VB_NRECV,
					 .max_send_sge = VB_MAX_SGE,
					 .cqe = VB_SQ + VB_NRECV,
					 .cq_ctx = x,
					 .msgs = x->msgs,
					 .msg_size = VB_MSG,
					 .nmsgs = VB_NRECV + VB_CREDITS,
					 .nrecv = VB_NRECV,
					 .recv_tag = VB_RECV_TAG };
	lim.max_chain = x->max_chain;
	lim.max_op_bytes = x->max_op_bytes;
	lim.max_ios_per_op = VB_MAX_SGE;
	ret = batch_queue_init(&x->q, &lim, vb_post, x);
	if (ret)
		goto out_free;
	ret = vbl_get(x);
	if (ret)
		goto out_destroy_queue;
	ret = xconn_start(&x->xc, out);
	if (!ret)
		return 0;
	vbl_put(x);
out_destroy_queue:
	batch_queue_destroy(&x->q);

out_free:
	vb_free(x);
	return ret;
}

int xport_rdma_reachable(const char *host, const char *port,
			 unsigned int timeout_ms)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *ai;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	int ok = 0;

	ec = rdma_create_event_channel();
	if (!ec)
		goto out;
	if (vsetup_nonblock(ec->fd) ||
	    rdma_create_id(ec, &id, NULL, RDMA_PS_TCP))
		goto out_ec;
	if (rdma_getaddrinfo(host, port, &hints, &ai))
		goto out_id;
	if (!rdma_resolve_addr(id, NULL, ai->ai_dst_addr, (int)timeout_ms) &&
	    !cm_expect(ec, -1, RDMA_CM_EVENT_ADDR_RESOLVED, timeout_ms + 200) &&
	    !rdma_resolve_route(id, (int)timeout_ms) &&
	    !cm_expect(ec, -1, RDMA_CM_EVENT_ROUTE_RESOLVED, timeout_ms + 200))
		ok = id->verbs != NULL;
	rdma_freeaddrinfo(ai);
out_id:
	rdma_destroy_id(id);
out_ec:
	rdma_destroy_event_channel(ec);
out:
	return ok;
}

XCONN_BACKEND(xport_rdma_backend, "rdma", .open = vb_open, .submit = vb_submit,
	      .poll = vb_poll, .reg = vb_reg);
