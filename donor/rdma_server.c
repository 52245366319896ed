// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rdma_server - the donor's RDMA listener (donor/server.h), librdmacm and
 * verbs. Serves the control protocol of rdma/proto.h on SEND/RECV
 * (credits as in rdma/verbs_wire.h) and lets each client reach its own
 * slabs by one-sided RDMA READ and WRITE: every connection gets its own
 * protection domain, and each slab the session holds is registered in that
 * domain only, so a key handed to one client opens nothing of another's.
 * A slab's memory region is deregistered before the slab is freed and
 * zeroed. The sequence is drawn at the top of rdma/verbs_conn.c; the
 * resources of a connection are built by rdma/verbs_setup.h, as the
 * client builds its own.
 *
 * One event loop (common/evloop.h, thread cnm-rdma/0) serves every
 * connection, however many, and a connection costs no file descriptor:
 * the loop watches the listener's CM event channel and one completion
 * channel per device, shared by the CQs of every connection through that
 * device (each CQ's context names its connection, so a completion costs
 * only its own connection); its wake brings queued EVICTs, its deadline
 * the handshakes' end. Per connection: RECV completion -> re-post the
 * receive -> check (donor/dmsg.h) -> the request core (donor/serve.h:
 * acts, registers a new slab through the slab_add hook, deregisters a
 * freed one through slab_del) -> SEND the reply (the re-post before the
 * reply is what returns the client's credit). Unsolicited messages
 * (EVICT, slab refreshes after a reconnect) wait in a small queue until
 * the client has handed back an unsolicited credit (immediate data of its
 * SENDs).
 *
 * Threading: everything but rc_evict() runs on the loop's thread;
 * rc_evict() (any thread, under the donor's lock) only queues under
 * srv->lock and wakes the loop.
 */
#include "donor/server.h"

#include "common/clock.h"
#include "common/evloop.h"
#include "common/log.h"
#include "donor/dmsg.h"
#include "donor/serve.h"
#include "rdma/handshake.h"
#include "rdma/verbs_setup.h"
#include "rdma/verbs_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define RS_NSEND    (VB_CREDITS + VB_UNSOL)
#define RS_QUEUE    1024 /* unsolicited messages waiting for credits */
#define RS_SEND_TAG (1ull << 62)

struct rmr {
	uint32_t slab;
	struct ibv_mr *mr;
};

struct runsol {
	uint16_t op; /* PROTO_OP_EVICT or PROTO_OP_ALLOC (refresh) */
	uint32_t slab;
	uint64_t deadline_ms;
};

struct rconn {
	struct dconn dc; /* first: the core's callbacks cast back */
	struct donor_server *srv;
	struct rdma_cm_id *id;
	struct vsetup vs; /* PD, channel, CQ, message MR: rdma/verbs_setup.h */
	struct vsetup_cfg vs_cfg;
	uint8_t *msgs;	    /* VB_CREDITS receive, RS_NSEND send buffers */
	uint64_t send_free; /* bit i: send buffer i free */
	uint64_t auth_id;   /* AUTH reply held back by refreshes */
	int auth_pending;
	struct rmr *mrs;
	unsigned int nmrs, mr_cap;
	int unsol;	       /* the client's unsolicited credits */
	uint64_t t_connect_ms; /* the handshake must end within hs_ms */
	int dead;
	/* protected by srv->lock: queued by the evict callback */
	struct runsol q[RS_QUEUE];
	unsigned int qhead, qlen;
	struct rconn *next;
};

struct donor_server {
	struct donor *donor;
	const struct auth_keyring *kr; /* borrowed */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen;
	unsigned int port;
	unsigned int hs_ms;
	unsigned int max_startups; /* connections still authenticating */
	unsigned int max_conns;	   /* connections at once */
	struct evloop *ev;	   /* one loop */
	struct evl *evl;
	struct evl_src cm;     /* the CM channel */
	struct vs_chan *chans; /* loop thread only; kept until stop */
	pthread_mutex_t lock;  /* conn queues (q, qhead, qlen) */
	struct rconn *conns;   /* listener thread only */
	unsigned int nconns;
};

static uint64_t now_ms(void)
{
	return mono_ns() / 1000000;
}

/* session_conn.evict: runs under the donor's lock, only queues. */
static void rc_evict(struct session_conn *sc, uint32_t slab,
		     uint64_t deadline_ms)
{
	struct rconn *c = (struct rconn *)sc;
	struct donor_server *s = c->srv;

	pthread_mutex_lock(&s->lock);
	if (c->qlen < RS_QUEUE) {
		struct runsol *u = &c->q[(c->qhead + c->qlen++) % RS_QUEUE];

		u->op = PROTO_OP_EVICT;
		u->slab = slab;
		u->deadline_ms = deadline_ms;
	}
	pthread_mutex_unlock(&s->lock);
	evl_wake(s->evl);
}

static int post_recv(struct rconn *c, unsigned int i)
{
	return vsetup_post_recv(&c->vs, c->id->qp, i);
}

/* Sends one message; 0 or -errno (the connection is then dropped). */
static int send_msg(struct rconn *c, const struct proto_hdr *h,
		    const void *body)
{
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_sge sge;
	unsigned int b;
	uint8_t *buf;

	if (!c->send_free || sizeof(struct wire_hdr) + h->len > VB_MSG)
		return -ENOBUFS;
	b = (unsigned int)__builtin_ctzll(c->send_free);
	c->send_free &= ~(1ull << b);
	buf = c->msgs + (size_t)(VB_CREDITS + b) * VB_MSG;
	proto_hdr_enc(buf, h);
	if (h->len)
		memcpy(buf + sizeof(struct wire_hdr), body, h->len);
	sge.addr = (uintptr_t)buf;
	sge.length = sizeof(struct wire_hdr) + h->len;
	sge.lkey = c->vs.msg_mr->lkey;
	wr.wr_id = RS_SEND_TAG | b;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	return -ibv_post_send(c->id->qp, &wr, &bad);
}

static int reply(struct rconn *c, const struct proto_hdr *req, uint32_t status,
		 const void *body, uint32_t len)
{
	struct proto_hdr h = { .op = req->op,
			       .flags = PROTO_F_REPLY,
			       .id = req->id,
			       .len = status ? 0 : len,
			       .status = status };

	return send_msg(c, &h, body);
}

/* dconn_ops.reply */
static int rc_reply(struct dconn *dc, const struct proto_hdr *req,
		    uint32_t status, const void *body, uint32_t len)
{
	return reply((struct rconn *)dc, req, status, body, len);
}

static struct rmr *mr_find(struct rconn *c, uint32_t slab)
{
	unsigned int i;

	for (i = 0; i < c->nmrs; i++)
		if (c->mrs[i].slab == slab)
			return &c->mrs[i];
	return NULL;
}

/* Registers slab memory in this client's PD: 0 with *ws filled. */
static int mr_add(struct rconn *c, uint32_t slab, void *addr, uint64_t size,
		  struct wire_slab *ws)
{
	struct ibv_mr *mr;
	struct rmr *r = mr_find(c, slab);

	if (r)
		goto out_fill;
	if (c->nmrs == c->mr_cap) {
		unsigned int cap = c->mr_cap ? c->mr_cap * 2 : 16;
		struct rmr *n = realloc(c->mrs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->mrs = n;
		c->mr_cap = cap;
	}
	mr = ibv_reg_mr(c->vs.pd, addr, size,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		return errno ? -errno : -ENOMEM;
	r = &c->mrs[c->nmrs++];
	r->slab = slab;
	r->mr = mr;
out_fill:
	ws->slab = slab;
	ws->rkey = r->mr->rkey;
	ws->size = size;
	ws->addr = (uint64_t)(uintptr_t)r->mr->addr;
	return 0;
}

/* dconn_ops.slab_add: the new slab, reachable by this client only. */
static int rc_slab_add(struct dconn *dc, void *addr, struct wire_slab *ws)
{
	return mr_add((struct rconn *)dc, ws->slab, addr, ws->size, ws);
}

/* dconn_ops.slab_del */
static void mr_del(struct dconn *dc, uint32_t slab)
{
	struct rconn *c = (struct rconn *)dc;
	struct rmr *r = mr_find(c, slab);

	if (!r)
		return;
	ibv_dereg_mr(r->mr);
	*r = c->mrs[--c->nmrs];
}

/* Queues refreshes (new rkeys) for the slabs the session already holds. */
static void queue_refresh(struct rconn *c)
{
	struct pool *p = donor_pool(c->srv->donor);
	uint32_t n = pool_chunks(p), i;

	for (i = 0; i < n; i++) {
		void *addr;

		if (session_io_begin(c->dc.s, i, 0, 512, &addr))
			continue;
		session_io_end(c->dc.s, i, 0, 0);
		pthread_mutex_lock(&c->srv->lock);
		if (c->qlen < RS_QUEUE) {
			struct runsol *u =
				&c->q[(c->qhead + c->qlen++) % RS_QUEUE];

			u->op = PROTO_OP_ALLOC;
			u->slab = i;
			u->deadline_ms = 0;
		}
		pthread_mutex_unlock(&c->srv->lock);
	}
}

/* Sends queued unsolicited messages while credits last; then a held-back
 * AUTH reply once no refresh is left. */
static int flush_unsol(struct rconn *c)
{
	int ret = 0;

	for (;;) {
		struct runsol u;
		struct proto_hdr h = { 0 };

		pthread_mutex_lock(&c->srv->lock);
		if (!c->qlen || c->unsol <= 0 || !c->send_free) {
			pthread_mutex_unlock(&c->srv->lock);
			break;
		}
		u = c->q[c->qhead];
		c->qhead = (c->qhead + 1) % RS_QUEUE;
		c->qlen--;
		pthread_mutex_unlock(&c->srv->lock);
		if (u.op == PROTO_OP_EVICT) {
			struct wire_evict ev = { .slab = u.slab,
						 .deadline_ms = u.deadline_ms };

			proto_evict_swap(&ev);
			h.op = PROTO_OP_EVICT;
			h.len = sizeof(ev);
			ret = send_msg(c, &h, &ev);
		} else {
			struct wire_slab ws;
			void *addr;

			if (session_io_begin(c->dc.s, u.slab, 0, 512, &addr))
				continue; /* freed meanwhile */
			session_io_end(c->dc.s, u.slab, 0, 0);
			ret = mr_add(c, u.slab, addr,
				     session_slab_size(c->dc.s), &ws);
			if (ret) {
				log_warn("rdma client %s: slab %u: cannot "
					 "register: %s",
					 c->dc.sc.peer, u.slab, strerror(-ret));
				continue;
			}
			proto_slab_swap(&ws);
			h.op = PROTO_OP_ALLOC;
			h.flags = PROTO_F_REPLY;
			h.len = sizeof(ws);
			ret = send_msg(c, &h, &ws);
		}
		if (ret)
			return ret;
		c->unsol--;
	}
	if (c->auth_pending) {
		int empty;

		pthread_mutex_lock(&c->srv->lock);
		empty = c->qlen == 0;
		pthread_mutex_unlock(&c->srv->lock);
		if (empty) {
			struct proto_hdr h = { .op = PROTO_OP_AUTH,
					       .id = c->auth_id };

			c->auth_pending = 0;
			ret = reply(c, &h, 0, NULL, 0);
		}
	}
	return ret;
}

/* Drops the connection: the CM tells the client, the thread cleans up. */
static void conn_kill(struct rconn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = 1;
	/* per connection: a flood of them must not flood the log */
	LOG_RATELIMITED(LOG_NOTICE, "rdma client %s: closing: %s",
			c->dc.sc.peer, why);
	rdma_disconnect(c->id);
}

/* dconn_ops.error: ERROR if the client left us a credit, then close. */
static void rc_error(struct dconn *dc, uint64_t id, uint32_t err,
		     const char *why)
{
	struct rconn *c = (struct rconn *)dc;
	struct proto_hdr h = { .op = PROTO_OP_ERROR,
			       .id = id,
			       .status = err,
			       .len = (uint32_t)strnlen(why,
							PROTO_ERRTEXT_MAX) };

	if (c->unsol > 0 && !send_msg(c, &h, why))
		c->unsol--;
	conn_kill(c, why);
}

/* dconn_ops.authenticated: the slabs a returning session holds get new
 * keys first; the AUTH reply follows them (flush_unsol()). */
static int rc_authenticated(struct dconn *dc, const struct proto_hdr *h)
{
	struct rconn *c = (struct rconn *)dc;
	int ret;

	queue_refresh(c);
	c->auth_pending = 1;
	c->auth_id = h->id;
	ret = flush_unsol(c);
	return ret ? ret : 1;
}

static const struct dconn_ops rdma_ops = {
	.reply = rc_reply,
	.error = rc_error,
	.slab_add = rc_slab_add,
	.slab_del = mr_del,
	.authenticated = rc_authenticated,
};

/* One message; returns 0 or -errno when the connection must go. The
 * receive buffer is re-posted by the caller before this runs. */
static int handle_req(struct rconn *c, const uint8_t *buf, uint32_t len)
{
	union dmsg_body b;
	struct proto_hdr h;
	const char *why = NULL;
	int ret;

	if (len < sizeof(struct wire_hdr)) {
		dconn_fail(&c->dc, 0, EBADMSG, "truncated header");
		return -EBADMSG;
	}
	ret = dmsg_check_hdr(c->dc.phase, buf, &h, &why);
	if (!ret && h.len != len - sizeof(struct wire_hdr)) {
		ret = -EMSGSIZE;
		why = "body length differs from the message";
	}
	if (!ret)
		ret = dmsg_decode_body(&h, buf + sizeof(struct wire_hdr), &b,
				       &why);
	if (ret) {
		dconn_fail(&c->dc, h.id, ret, why ? why : proto_strerror(ret));
		return ret;
	}
	return dconn_request(&c->dc, &h, &b);
}

static void conn_poll(struct rconn *c)
{
	struct ibv_wc wc[16];
	int n, i;

	while (!c->dead && (n = ibv_poll_cq(c->vs.cq, 16, wc)) > 0) {
		for (i = 0; i < n && !c->dead; i++) {
			uint64_t id = wc[i].wr_id;

			if (wc[i].status != IBV_WC_SUCCESS) {
				if (wc[i].status != IBV_WC_WR_FLUSH_ERR)
					log_notice("rdma client %s: work "
						   "request failed: %s",
						   c->dc.sc.peer,
						   ibv_wc_status_str(
							   wc[i].status));
				conn_kill(c, "work request failed");
				break;
			}
			if (id & RS_SEND_TAG) {
				c->send_free |= 1ull << (id & 63);
				continue;
			}
			if (id >= VB_CREDITS)
				continue;
			if (wc[i].wc_flags & IBV_WC_WITH_IMM)
				c->unsol += (int)ntohl(wc[i].imm_data);
			if (c->unsol > VB_UNSOL)
				c->unsol = VB_UNSOL;
			/* handle, then re-post, then the reply goes out: the
			 * request is copied out first so the buffer is free */
			{
				uint8_t req[VB_MSG];
				uint32_t len = wc[i].byte_len < VB_MSG
						       ? wc[i].byte_len
						       : VB_MSG;

				memcpy(req, c->msgs + id * VB_MSG, len);
				if (post_recv(c, (unsigned int)id)) {
					conn_kill(c, "cannot post receive");
					break;
				}
				if (handle_req(c, req, len) && !c->dead)
					conn_kill(c, "request refused or "
						     "cannot reply");
			}
		}
	}
	if (!c->dead && flush_unsol(c))
		conn_kill(c, "cannot send");
}

/* Frees what conn_new() made below the QP (the QP must be gone). */
static void conn_free(struct rconn *c)
{
	vsetup_destroy(&c->vs);
	free(c->mrs);
	free(c->msgs);
	free(c);
}

static void conn_destroy(struct donor_server *s, struct rconn *c)
{
	struct rconn **pp;
	unsigned int i;

	for (pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			s->nconns--;
			break;
		}
	}
	/* regions go first: the slabs may be freed once detached */
	for (i = 0; i < c->nmrs; i++)
		ibv_dereg_mr(c->mrs[i].mr);
	c->nmrs = 0;
	dconn_close(&c->dc);
	vsetup_destroy_qp(c->id);
	rdma_destroy_id(c->id);
	conn_free(c);
}

static struct rconn *conn_of(struct donor_server *s, struct rdma_cm_id *id)
{
	struct rconn *c;

	for (c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* Makes room for one more handshake when max_startups are running: the
 * oldest still authenticating goes (sshd MaxStartups), so they never lock
 * out clients that can authenticate. */
static void startups_limit(struct donor_server *s)
{
	struct rconn *c, *oldest = NULL;
	unsigned int n = 0;

	for (c = s->conns; c; c = c->next) {
		if (c->dead || c->dc.phase == DMSG_READY)
			continue;
		n++;
		if (!oldest || c->t_connect_ms < oldest->t_connect_ms)
			oldest = c;
	}
	if (n < s->max_startups)
		return;
	LOG_RATELIMITED(LOG_WARNING,
			"rdma client %s: dropped: %u connections still "
			"authenticating (max-startups)",
			oldest->dc.sc.peer, n);
	conn_kill(oldest, "too many connections still authenticating");
}

static void chan_event(struct evl_src *src, uint32_t events);

/* The completion channel of verbs, made (and watched) on first use. */
static struct ibv_comp_channel *chan_of(struct donor_server *s,
					struct ibv_context *verbs)
{
	struct vs_chan *ch = vschan_get(&s->chans, s->evl, verbs, chan_event);

	return ch ? ch->cc : NULL;
}

/* A CONNECT_REQUEST: everything per client, then accept. */
static void conn_new(struct donor_server *s, struct rdma_cm_id *id,
		     const struct rdma_conn_param *req)
{
	struct rdma_conn_param cp = { 0 };
	struct sockaddr *sa = rdma_get_peer_addr(id);
	struct ibv_comp_channel *cc;
	char host[INET6_ADDRSTRLEN] = "?";
	struct rconn *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		goto out_reject;
	c->srv = s;
	c->id = id;
	dconn_init(&c->dc, &rdma_ops, s->donor, s->kr, PROTO_CAP_RDMA,
		   "rdma client");
	c->dc.sc.evict = rc_evict;
	c->t_connect_ms = now_ms();
	c->unsol = VB_UNSOL;
	c->send_free = RS_NSEND >= 64 ? ~0ull : (1ull << RS_NSEND) - 1;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host,
			  sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
			  host, sizeof(host));
	snprintf(c->dc.sc.peer, sizeof(c->dc.sc.peer), "%s:%u", host,
		 (unsigned int)ntohs(rdma_get_dst_port(id)));
	startups_limit(s);
	if (s->nconns >= s->max_conns)
		goto out_free;
	c->msgs = calloc(VB_CREDITS + RS_NSEND, VB_MSG);
	if (!c->msgs)
		goto out_free;
	cc = chan_of(s, id->verbs);
	if (!cc)
		goto out_free;
	/* a PD of its own: this client's keys only */
	c->vs_cfg = (struct vsetup_cfg){ .send_wr = RS_NSEND,
					 .recv_wr = VB_CREDITS,
					 .max_send_sge = 1,
					 .cqe = VB_CREDITS + RS_NSEND + 8,
					 .cq_ctx = c,
					 .cc = cc,
					 .msgs = c->msgs,
					 .msg_size = VB_MSG,
					 .nmsgs = VB_CREDITS + RS_NSEND,
					 .nrecv = VB_CREDITS };
	ret = vsetup_create(&c->vs, id, &c->vs_cfg);
	if (ret) {
		errno = -ret; /* for the log below */
		goto out_free;
	}
	/* the CM reports the client's initiator depth, seen from here, as
	 * responder_resources: that many RDMA READs may be in flight */
	cp.responder_resources = req->responder_resources;
	if (cp.responder_resources > c->vs.resp_rd_atom)
		cp.responder_resources = c->vs.resp_rd_atom;
	cp.initiator_depth = 0;
	cp.rnr_retry_count = 0;
	if (rdma_accept(id, &cp))
		goto out_free;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	evl_deadline(s->evl, (c->t_connect_ms + s->hs_ms) * 1000000ull);
	LOG_RATELIMITED(LOG_INFO, "rdma client %s: connected", c->dc.sc.peer);
	return;
out_free:
	LOG_RATELIMITED(LOG_WARNING,
			"rdma client %s: cannot set up connection: %s",
			c->dc.sc.peer, strerror(errno));
	vsetup_destroy_qp(id);
	conn_free(c);
out_reject:
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void cm_event(struct evl_src *src, uint32_t events)
{
	struct donor_server *s =
		(struct donor_server *)((char *)src -
					offsetof(struct donor_server, cm));
	struct rdma_cm_event *ev;

	(void)events;
	while (!rdma_get_cm_event(s->ec, &ev)) {
		struct rdma_cm_id *id = ev->id;
		enum rdma_cm_event_type t = ev->event;
		struct rdma_conn_param p = ev->param.conn;
		struct rconn *c;

		rdma_ack_cm_event(ev);
		switch (t) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			conn_new(s, id, &p);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			c = conn_of(s, id);
			if (c) {
				if (!c->dead)
					rdma_disconnect(id);
				LOG_RATELIMITED(LOG_INFO,
						"rdma client %s: disconnected",
						c->dc.sc.peer);
				conn_destroy(s, c);
			}
			break;
		default:
			break;
		}
	}
}

/*
 * A device's channel: each event names one connection's CQ (its context
 * is the connection); per connection re-arm, then drain so nothing slips
 * between. A batch at a time, for the other sources; the channel is
 * level-triggered and comes back with what is left. The connections are
 * alive: only cm_event() destroys them, and destroying a CQ takes its
 * events off the channel.
 */
static void chan_event(struct evl_src *src, uint32_t events)
{
	struct vs_chan *ch = (struct vs_chan *)src;
	struct ibv_cq *cq;
	void *ctx;

	(void)events;
	for (int i = 0; i < 64 && !ibv_get_cq_event(ch->cc, &cq, &ctx); i++) {
		struct rconn *c = ctx;

		vsetup_ack_cq_event(&c->vs);
		if (!c->dead)
			ibv_req_notify_cq(c->vs.cq, 0);
		conn_poll(c);
	}
}

/* evloop_ops.expire: handshakes past their deadline are dropped. */
static uint64_t rs_expire(struct evl *l, void *arg, uint64_t now)
{
	struct donor_server *s = arg;
	uint64_t next = EVL_NEVER, end;

	(void)l;
	for (struct rconn *c = s->conns; c; c = c->next) {
		if (c->dead || c->dc.phase == DMSG_READY)
			continue;
		end = (c->t_connect_ms + s->hs_ms) * 1000000ull;
		if (end <= now)
			conn_kill(c, "handshake timed out");
		else if (end < next)
			next = end;
	}
	return next;
}

/* evloop_ops.wake: queued EVICTs; every connection sends its own. */
static void rs_wake(struct evl *l, void *arg)
{
	struct donor_server *s = arg;

	(void)l;
	for (struct rconn *c = s->conns; c; c = c->next)
		conn_poll(c);
}

/* no after(): connections are freed on their CM event already (nothing
 * of theirs stays in a batch: destroying a CQ takes its events off the
 * channel) */
static const struct evloop_ops rdma_loop_ops = {
	.wake = rs_wake,
	.expire = rs_expire,
};

static int rdma_server_start(struct donor *d,
			     const struct donor_server_cfg *cfg,
			     struct donor_server **out, uint16_t *bound_port,
			     char *err, size_t errlen)
{
	struct rdma_addrinfo hints = { .ai_flags = RAI_PASSIVE,
				       .ai_port_space = RDMA_PS_TCP },
			     *ai = NULL;
	struct donor_server *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->donor = d;
	s->hs_ms = cfg->hs_timeout_ms ? cfg->hs_timeout_ms : 10000;
	s->max_startups = cfg->max_startups ? cfg->max_startups : 10;
	s->max_conns = cfg->max_conns ? cfg->max_conns : 1024;
	s->kr = cfg->kr;
	pthread_mutex_init(&s->lock, NULL);
	snprintf(err, errlen, "rdma listener: out of resources");
	s->ec = rdma_create_event_channel();
	if (!s->ec) {
		ret = errno ? -errno : -ENODEV;
		snprintf(err, errlen, "rdma listener: no rdma devices (%s)",
			 strerror(-ret));
		goto out_free;
	}
	ret = vsetup_nonblock(s->ec->fd);
	if (ret)
		goto out_ec;
	if (rdma_create_id(s->ec, &s->listen, s, RDMA_PS_TCP)) {
		ret = -errno;
		goto out_ec;
	}
	if (rdma_getaddrinfo(cfg->host, cfg->port, &hints, &ai)) {
		ret = -EADDRNOTAVAIL;
		snprintf(err, errlen, "rdma listener %s:%s: cannot resolve",
			 cfg->host, cfg->port);
		goto out_id;
	}
	if (rdma_bind_addr(s->listen, ai->ai_src_addr) ||
	    rdma_listen(s->listen, 64)) {
		ret = -errno;
		snprintf(err, errlen, "rdma listener %s:%s: %s", cfg->host,
			 cfg->port,
			 ret == -ENODEV ? "no rdma device for this address"
					: strerror(-ret));
		goto out_ai;
	}
	s->port = ntohs(rdma_get_src_port(s->listen));
	ret = evloop_start(1, "cnm-rdma", &rdma_loop_ops, s, &s->ev);
	if (ret)
		goto out_ai;
	s->evl = evloop_get(s->ev, 0);
	s->cm.fd = s->ec->fd;
	s->cm.ready = cm_event;
	ret = evl_add(s->evl, &s->cm, EPOLLIN);
	if (ret)
		goto out_loop;
	rdma_freeaddrinfo(ai);
	log_info("rdma listener %s:%u: accepting", cfg->host, s->port);
	*bound_port = (uint16_t)s->port;
	*out = s;
	return 0;
out_loop:
	evloop_stop(s->ev);
out_ai:
	rdma_freeaddrinfo(ai);
out_id:
	rdma_destroy_id(s->listen);
out_ec:
	rdma_destroy_event_channel(s->ec);
out_free:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return ret;
}

static void rdma_server_stop(struct donor_server *s)
{
	if (!s)
		return;
	/* an EVICT may still wake the loop until its connection is closed */
	evloop_join(s->ev);
	while (s->conns) {
		struct rconn *c = s->conns;

		if (!c->dead)
			rdma_disconnect(c->id);
		conn_destroy(s, c);
	}
	/* every connection is gone: no CQ uses a channel any more */
	vschan_destroy_all(&s->chans);
	evloop_stop(s->ev);
	rdma_destroy_id(s->listen);
	rdma_destroy_event_channel(s->ec);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct donor_listener rdma_listener = {
	.name = "rdma",
	.caps = PROTO_CAP_RDMA,
	.optional = 1,
	.start = rdma_server_start,
	.stop = rdma_server_stop,
};
