// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the RDMA backend's state machines with no NIC: the .c is
 * included and every ibv_ and rdma_ call is stubbed (SPDK style). The data
 * path calls ibv_post_send, ibv_post_recv and ibv_poll_cq through the
 * context's ops table, so a fake context records every chain posted.
 */
#include "rdma/conn.c"
#include "rdma/verbs_conn.c"
#include "rdma/verbs_io.c"
#include "rdma/verbs_loop.c"
#include "rdma/verbs_poll.c"
#include "rdma/verbs_setup.c"
#include "tests/unit/check_run.h"

#include <check.h>
#include <stdlib.h>

/* ---- stubs of everything the verbs_*.c files link against ---- */

#define MAX_WR 128

struct rec_wr {
	enum ibv_wr_opcode opcode;
	unsigned int send_flags;
	int num_sge;
	struct ibv_sge sge[VB_MAX_SGE];
	uint64_t wr_id, raddr;
	uint32_t rkey, imm;
};

static struct rec_wr rec[MAX_WR];
static unsigned int nrec, nposts, nrecv_posts;

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			  struct ibv_send_wr **bad)
{
	nposts++;
	for (; wr; wr = wr->next) {
		struct rec_wr *r = &rec[nrec++];

		ck_assert_uint_lt(nrec, MAX_WR);
		r->opcode = wr->opcode;
		r->send_flags = wr->send_flags;
		r->num_sge = wr->num_sge;
		memcpy(r->sge, wr->sg_list, sizeof(r->sge[0]) * wr->num_sge);
		r->wr_id = wr->wr_id;
		r->raddr = wr->wr.rdma.remote_addr;
		r->rkey = wr->wr.rdma.rkey;
		r->imm = wr->imm_data;
	}
	return 0;
}

static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad)
{
	nrecv_posts++;
	return 0;
}

/* completions the fake CQ holds; the first `hidden_polls` polls see
 * none (one that comes after a poller's last poll) */
static struct ibv_wc cqe[8];
static unsigned int ncqe, npolls, hidden_polls, narms;

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	int k = 0;

	if (npolls++ < hidden_polls)
		return 0;
	while (k < n && ncqe) {
		wc[k++] = cqe[0];
		memmove(cqe, cqe + 1, --ncqe * sizeof(cqe[0]));
	}
	return k;
}

static int fake_req_notify(struct ibv_cq *cq, int solicited)
{
	narms++;
	return 0;
}

static struct ibv_context fctx;
static struct ibv_qp fqp = { .context = &fctx };
static struct ibv_cq fcq = { .context = &fctx };
static struct ibv_mr msg_mr = { .lkey = 0x11 }, bounce_mr = { .lkey = 0x22 },
		     user_mr = { .lkey = 0x33 };

int ibv_query_device(struct ibv_context *c, struct ibv_device_attr *a)
{
	return -1;
}
struct ibv_pd *ibv_alloc_pd(struct ibv_context *c)
{
	return NULL;
}
int ibv_dealloc_pd(struct ibv_pd *pd)
{
	return 0;
}
struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *c)
{
	return NULL;
}
int ibv_destroy_comp_channel(struct ibv_comp_channel *cc)
{
	return 0;
}
struct ibv_cq *ibv_create_cq(struct ibv_context *c, int n, void *ctx,
			     struct ibv_comp_channel *cc, int v)
{
	return NULL;
}
int ibv_destroy_cq(struct ibv_cq *cq)
{
	return 0;
}
struct ibv_mr *(ibv_reg_mr)(struct ibv_pd *pd, void *addr, size_t len,
			    int access)
{
	return &user_mr;
}
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				uint64_t iova, unsigned int access)
{
	return &user_mr;
}
int ibv_dereg_mr(struct ibv_mr *mr)
{
	return 0;
}
int ibv_get_cq_event(struct ibv_comp_channel *cc, struct ibv_cq **cq,
		     void **ctx)
{
	return -1;
}
void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
}
const char *ibv_wc_status_str(enum ibv_wc_status s)
{
	return "stub status";
}
struct rdma_event_channel *rdma_create_event_channel(void)
{
	errno = ENODEV;
	return NULL;
}
void rdma_destroy_event_channel(struct rdma_event_channel *ec)
{
}
int rdma_create_id(struct rdma_event_channel *ec, struct rdma_cm_id **id,
		   void *ctx, enum rdma_port_space ps)
{
	return -1;
}
int rdma_destroy_id(struct rdma_cm_id *id)
{
	return 0;
}
int rdma_getaddrinfo(const char *node, const char *service,
		     const struct rdma_addrinfo *hints,
		     struct rdma_addrinfo **res)
{
	return -1;
}
void rdma_freeaddrinfo(struct rdma_addrinfo *res)
{
}
int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
		      struct sockaddr *dst, int ms)
{
	return -1;
}
int rdma_resolve_route(struct rdma_cm_id *id, int ms)
{
	return -1;
}
int rdma_get_cm_event(struct rdma_event_channel *ec, struct rdma_cm_event **ev)
{
	errno = EAGAIN;
	return -1;
}
int rdma_ack_cm_event(struct rdma_cm_event *ev)
{
	return 0;
}
int rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		   struct ibv_qp_init_attr *a)
{
	return -1;
}
void rdma_destroy_qp(struct rdma_cm_id *id)
{
}
int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	return -1;
}
int rdma_disconnect(struct rdma_cm_id *id)
{
	return 0;
}

/* ---- fixtures ---- */

#define SLAB_ID	  7
#define SLAB_ADDR 0x100000000ull
#define SLAB_RKEY 0xabcd
#define OPBYTES	  (64u * 1024)

static struct vx *x;
static uint8_t userbuf[64 * 4096] __attribute__((aligned(4096)));
static uint8_t plainbuf[64 * 4096] __attribute__((aligned(4096)));

struct treq {
	struct xport_io io;
	int done;
	int status;
};
static struct treq reqs[64];

static void treq_done(struct xport_io *io, int status)
{
	struct treq *r = (struct treq *)io;

	r->done++;
	r->status = status;
}

static void setup(void)
{
	struct vslab s = { .slab = SLAB_ID,
			   .rkey = SLAB_RKEY,
			   .addr = SLAB_ADDR,
			   .size = 1 << 20 };
	pthread_condattr_t ca;

	fctx.ops.post_send = fake_post_send;
	fctx.ops.post_recv = fake_post_recv;
	fctx.ops.poll_cq = fake_poll_cq;
	fctx.ops.req_notify_cq = fake_req_notify;
	nrec = nposts = nrecv_posts = 0;
	ncqe = npolls = hidden_polls = narms = 0;
	memset(reqs, 0, sizeof(reqs));
	x = calloc(1, sizeof(*x));
	ck_assert_ptr_nonnull(x);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&x->xc.lock, NULL);
	pthread_cond_init(&x->xc.cond, &ca); /* as xconn_init() makes it */
	pthread_condattr_destroy(&ca);
	strcpy(x->xc.peer, "test:1");
	x->xc.state = XPORT_UP;
	atomic_store(&x->xc.up, 1);
	x->qp = &fqp;
	x->vs.cq = &fcq;
	x->vs.max_sge = VB_MAX_SGE;
	x->max_op_bytes = OPBYTES;
	x->xc.io_ms = 1000;
	x->msgs = calloc(VB_NRECV + VB_CREDITS, VB_MSG);
	x->vs_cfg = (struct vsetup_cfg){ .msgs = x->msgs,
					 .msg_size = VB_MSG,
					 .nmsgs = VB_NRECV + VB_CREDITS,
					 .nrecv = VB_NRECV,
					 .recv_tag = VB_RECV_TAG };
	x->vs.cfg = &x->vs_cfg;
	x->bounce = calloc(VB_BOUNCE, OPBYTES);
	x->vs.msg_mr = &msg_mr;
	x->bounce_mr = &bounce_mr;
	x->bounce_free = (1u << VB_BOUNCE) - 1;
	x->credits = VB_CREDITS;
	x->regions[0].addr = (char *)userbuf;
	x->regions[0].len = sizeof(userbuf);
	x->regions[0].mr = &user_mr;
	x->nregions = 1;
	slab_set(x, &s);
}

static void teardown(void)
{
	free(x->msgs);
	free(x->bounce);
	free(x->slabs);
	pthread_mutex_destroy(&x->xc.lock);
	pthread_cond_destroy(&x->xc.cond);
	free(x);
}

/* io i: page `page` of the slab, buffer page `bpage` of buf */
static struct xport_io *mkio(unsigned int i, int dir, uint64_t page,
			     uint8_t *buf, unsigned int bpage)
{
	struct treq *r = &reqs[i];

	r->io.dir = (uint8_t)dir;
	r->io.slab = SLAB_ID;
	r->io.off = page * 4096;
	r->io.len = 4096;
	r->io.buf = buf + bpage * 4096;
	r->io.done = treq_done;
	r->io.next = NULL;
	return &r->io;
}

/* one op of n contiguous ios starting at io index i0, slab page p0 */
static void mkop(struct batch_op *o, unsigned int i0, unsigned int n, int dir,
		 uint64_t p0, uint8_t *buf)
{
	struct xport_io **pp = &o->ios;
	unsigned int k;

	memset(o, 0, sizeof(*o));
	o->dir = (uint8_t)dir;
	o->slab = SLAB_ID;
	o->off = p0 * 4096;
	o->len = n * 4096;
	o->nios = n;
	for (k = 0; k < n; k++) {
		*pp = mkio(i0 + k, dir, p0 + k, buf, i0 + k);
		pp = &(*pp)->next;
	}
}

/* n one-page ops of request i at page i * 10 (none merge), one post. */
static void post_separate(struct batch_op *o, unsigned int n, int dir)
{
	for (unsigned int i = 0; i < n; i++)
		mkop(&o[i], i, 1, dir, i * 10, userbuf);
	vb_post(x, o, n);
}

/* Requests 0..n-1 completed once, each with status. */
static void reqs_done_with(unsigned int n, int status)
{
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(reqs[i].done, 1);
		ck_assert_int_eq(reqs[i].status, status);
	}
}

/* The connection fails with err, as the conn thread does it. */
static void fail_conn(int err)
{
	struct vdone d = { 0 };

	pthread_mutex_lock(&x->xc.lock);
	vb_conn_fail(x, err, &d);
	pthread_mutex_unlock(&x->xc.lock);
	vb_done_run(&d);
}

static struct ibv_wc wc_send(uint64_t wr_id, enum ibv_wc_status st)
{
	struct ibv_wc wc = { .wr_id = wr_id, .status = st };

	return wc;
}

static void feed(struct ibv_wc wc)
{
	struct vdone d = { 0 };

	pthread_mutex_lock(&x->xc.lock);
	handle_wc(x, &wc, &d);
	pthread_mutex_unlock(&x->xc.lock);
	vb_done_run(&d);
}

/* ---- WR chain building ---- */

START_TEST(contiguous_registered_pages_become_one_wr_with_one_sge_each)
{
	struct batch_op o;

	mkop(&o, 0, 3, XPORT_WRITE, 10, userbuf);
	vb_post(x, &o, 1);
	ck_assert_uint_eq(nposts, 1);
	ck_assert_uint_eq(nrec, 1);
	ck_assert_int_eq(rec[0].opcode, IBV_WR_RDMA_WRITE);
	ck_assert_int_eq(rec[0].num_sge, 3);
	ck_assert_uint_eq(rec[0].sge[1].addr, (uintptr_t)(userbuf + 4096));
	ck_assert_uint_eq(rec[0].sge[2].lkey, user_mr.lkey);
	ck_assert_uint_eq(rec[0].raddr, SLAB_ADDR + 10 * 4096);
	ck_assert_uint_eq(rec[0].rkey, SLAB_RKEY);
	ck_assert(rec[0].send_flags & IBV_SEND_SIGNALED);
	ck_assert_uint_eq(x->count, 1);
}
END_TEST

START_TEST(more_ios_than_max_sge_are_copied_into_one_bounce_sge)
{
	struct batch_op o;
	unsigned int k;

	x->vs.max_sge = 2;
	for (k = 0; k < 3; k++)
		memset(userbuf + k * 4096, 'a' + k, 4096);
	mkop(&o, 0, 3, XPORT_WRITE, 0, userbuf);
	vb_post(x, &o, 1);
	ck_assert_uint_eq(nrec, 1);
	ck_assert_int_eq(rec[0].num_sge, 1);
	ck_assert_uint_eq(rec[0].sge[0].lkey, bounce_mr.lkey);
	ck_assert_uint_eq(rec[0].sge[0].length, 3 * 4096);
	/* the payload was copied in order */
	ck_assert_int_eq(((uint8_t *)(uintptr_t)rec[0].sge[0].addr)[8192], 'c');
	ck_assert_uint_eq(__builtin_popcount(x->bounce_free), VB_BOUNCE - 1);
}
END_TEST

START_TEST(many_small_ios_are_copied_rather_than_gathered)
{
	struct batch_op o;
	struct xport_io *io;
	unsigned int k = 0;

	mkop(&o, 0, 4, XPORT_WRITE, 0, userbuf);
	for (io = o.ios; io; io = io->next, k++) {
		io->len = 512;
		io->off = k * 512;
		io->buf = userbuf + k * 512;
	}
	o.len = 4 * 512;
	vb_post(x, &o, 1);
	ck_assert_int_eq(rec[0].num_sge, 1);
	ck_assert_uint_eq(rec[0].sge[0].lkey, bounce_mr.lkey);
	ck_assert_uint_eq(rec[0].sge[0].length, 2048);
}
END_TEST

START_TEST(unregistered_read_lands_through_bounce_on_completion)
{
	struct batch_op o;
	uint8_t *b;

	memset(plainbuf, 0, 8192);
	mkop(&o, 0, 2, XPORT_READ, 4, plainbuf);
	vb_post(x, &o, 1);
	ck_assert_int_eq(rec[0].opcode, IBV_WR_RDMA_READ);
	ck_assert_uint_eq(rec[0].sge[0].lkey, bounce_mr.lkey);
	b = (uint8_t *)(uintptr_t)rec[0].sge[0].addr;
	memset(b, 'x', 4096);
	memset(b + 4096, 'y', 4096);
	feed(wc_send(rec[0].wr_id, IBV_WC_SUCCESS));
	ck_assert_int_eq(reqs[0].done, 1);
	ck_assert_int_eq(reqs[1].status, 0);
	ck_assert_int_eq(plainbuf[10], 'x');
	ck_assert_int_eq(plainbuf[4096 + 10], 'y');
	ck_assert_uint_eq(x->bounce_free, (1u << VB_BOUNCE) - 1);
}
END_TEST

START_TEST(separate_ops_are_chained_in_one_post_only_the_last_signalled)
{
	struct batch_op o[5];
	unsigned int i;

	post_separate(o, 5, XPORT_WRITE);
	ck_assert_uint_eq(nposts, 1);
	ck_assert_uint_eq(nrec, 5);
	for (i = 0; i < 4; i++)
		ck_assert(!(rec[i].send_flags & IBV_SEND_SIGNALED));
	ck_assert(rec[4].send_flags & IBV_SEND_SIGNALED);
	ck_assert_uint_eq(x->xc.st.posts, 1);
	ck_assert_uint_eq(x->xc.st.ops, 5);
	ck_assert_uint_eq(x->xc.st.ops_per_post[2], 1); /* 5 in [4, 8) */
}
END_TEST

START_TEST(range_outside_the_slab_fails_without_posting)
{
	struct batch_op o;

	mkop(&o, 0, 1, XPORT_WRITE, 256, userbuf); /* slab is 1 MiB */
	vb_post(x, &o, 1);
	ck_assert_uint_eq(nposts, 0);
	ck_assert_int_eq(reqs[0].done, 1);
	ck_assert_int_eq(reqs[0].status, -EINVAL);
}
END_TEST

START_TEST(submit_while_down_fails_at_once_with_enotconn)
{
	struct batch_op o;

	x->xc.state = XPORT_DOWN;
	mkop(&o, 0, 2, XPORT_READ, 0, userbuf);
	vb_post(x, &o, 1);
	ck_assert_uint_eq(nposts, 0);
	ck_assert_int_eq(reqs[0].status, -ENOTCONN);
	ck_assert_int_eq(reqs[1].status, -ENOTCONN);
}
END_TEST

/* ---- completions ---- */

START_TEST(one_signalled_completion_retires_every_earlier_request)
{
	struct batch_op o[4];

	post_separate(o, 4, XPORT_WRITE);
	feed(wc_send(rec[3].wr_id, IBV_WC_SUCCESS));
	reqs_done_with(4, 0);
	ck_assert_uint_eq(x->count, 0);
	ck_assert_uint_eq(x->xc.st.bytes_written, 4 * 4096);
}
END_TEST

START_TEST(failed_completion_fails_its_request_and_every_later_one)
{
	struct batch_op o[5];
	unsigned int i;

	post_separate(o, 5, XPORT_READ);
	feed(wc_send(rec[2].wr_id, IBV_WC_REM_ACCESS_ERR));
	ck_assert_int_eq(reqs[0].status, 0); /* in-order: these completed */
	ck_assert_int_eq(reqs[1].status, 0);
	ck_assert_int_eq(reqs[2].status, -EFAULT);
	ck_assert_int_eq(reqs[3].status, -ECONNRESET);
	ck_assert_int_eq(reqs[4].status, -ECONNRESET);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(reqs[i].done, 1);
	ck_assert_int_eq(x->xc.state, XPORT_DOWN);
	ck_assert_int_eq(x->xc.last_err, -EFAULT);
	/* flushed completions arriving later change nothing */
	feed(wc_send(rec[4].wr_id, IBV_WC_WR_FLUSH_ERR));
	ck_assert_int_eq(reqs[4].done, 1);
}
END_TEST

START_TEST(disconnect_fails_every_pending_request_and_control_call)
{
	struct batch_op o[3];

	post_separate(o, 3, XPORT_WRITE);
	x->ctl[0].busy = 1;
	x->ctl[0].id = 42;
	fail_conn(-ECONNRESET);
	reqs_done_with(3, -ECONNRESET);
	ck_assert(x->ctl[0].done);
	ck_assert_int_eq(x->ctl[0].status, -ECONNRESET);
	ck_assert_int_eq(x->xc.state, XPORT_DOWN);
	ck_assert_int_eq(x->credits, 0);
	ck_assert_uint_eq(x->xc.st.errors, 3);
}
END_TEST

/* the loop waits for ring space or a bounce slot by draining the CQ
 * itself; its timer cannot run meanwhile, so io_timeout_ms bounds that */
START_TEST(a_wait_for_a_bounce_slot_on_the_loop_ends_at_io_timeout)
{
	struct batch_op o[2];

	mkop(&o[0], 0, 1, XPORT_WRITE, 0, userbuf); /* registered: no bounce */
	vb_post(x, &o[0], 1);
	ck_assert_uint_eq(x->count, 1);
	x->ring[x->head].t_post_ns = mono_ns() - 2000ull * 1000000;
	x->bounce_free = 0;
	mkop(&o[1], 1, 1, XPORT_WRITE, 4, plainbuf); /* needs a bounce slot */
	tls_on_loop = 1;
	vb_post(x, &o[1], 1);
	tls_on_loop = 0;
	ck_assert_int_eq(reqs[0].status, -ETIMEDOUT);
	ck_assert_int_eq(reqs[1].done, 1);
	ck_assert_int_eq(reqs[1].status, -ENOTCONN);
	ck_assert_int_eq(x->xc.state, XPORT_DOWN);
	ck_assert_uint_eq(x->xc.st.timeouts, 1);
}
END_TEST

START_TEST(io_timeout_is_reported_as_etimedout)
{
	struct batch_op o;

	mkop(&o, 0, 1, XPORT_READ, 0, userbuf);
	vb_post(x, &o, 1);
	fail_conn(-ETIMEDOUT);
	ck_assert_int_eq(reqs[0].status, -ETIMEDOUT);
	ck_assert_uint_eq(x->xc.st.timeouts, 1);
}
END_TEST

/* ---- control messages and credits ---- */

static void put_msg(unsigned int slot, uint16_t op, uint16_t flags, uint64_t id,
		    uint32_t status, const void *body, uint32_t len)
{
	struct proto_hdr h = {
		.op = op, .flags = flags, .id = id, .len = len, .status = status
	};
	uint8_t *b = x->msgs + (size_t)slot * VB_MSG;

	proto_hdr_enc(b, &h);
	memcpy(b + sizeof(struct wire_hdr), body, len);
}

static void feed_recv(unsigned int slot, uint32_t len)
{
	struct ibv_wc wc = { .wr_id = VB_RECV_TAG | slot,
			     .status = IBV_WC_SUCCESS,
			     .opcode = IBV_WC_RECV,
			     .byte_len = len };

	feed(wc);
}

START_TEST(a_request_takes_a_credit_and_its_reply_gives_it_back)
{
	pthread_mutex_lock(&x->xc.lock);
	x->ctl[3].busy = 1;
	x->ctl[3].id = 9;
	x->credits--;
	ck_assert_int_eq(post_ctl_send(x, 3, sizeof(struct wire_hdr)), 0);
	pthread_mutex_unlock(&x->xc.lock);
	ck_assert_int_eq(rec[0].opcode, IBV_WR_SEND_WITH_IMM);
	ck_assert_int_eq(x->credits, VB_CREDITS - 1);
	put_msg(5, PROTO_OP_HEARTBEAT, PROTO_F_REPLY, 9, 0, NULL, 0);
	feed_recv(5, sizeof(struct wire_hdr));
	ck_assert_int_eq(x->credits, VB_CREDITS);
	ck_assert(x->ctl[3].done);
	ck_assert_int_eq(x->ctl[3].status, 0);
	ck_assert_uint_eq(nrecv_posts, 1); /* the buffer went back */
}
END_TEST

START_TEST(reply_status_becomes_a_negative_errno)
{
	x->ctl[0].busy = 1;
	x->ctl[0].id = 77;
	put_msg(0, PROTO_OP_ALLOC, PROTO_F_REPLY, 77, ENOSPC, NULL, 0);
	feed_recv(0, sizeof(struct wire_hdr));
	ck_assert_int_eq(x->ctl[0].status, -ENOSPC);
}
END_TEST

START_TEST(unsolicited_messages_are_owed_back_in_the_next_send_imm)
{
	struct wire_evict ev = { .slab = 3, .deadline_ms = 500 };

	proto_evict_swap(&ev);
	put_msg(40, PROTO_OP_EVICT, 0, 0, 0, &ev, sizeof(ev));
	feed_recv(40, sizeof(struct wire_hdr) + sizeof(ev));
	put_msg(41, PROTO_OP_EVICT, 0, 0, 0, &ev, sizeof(ev));
	feed_recv(41, sizeof(struct wire_hdr) + sizeof(ev));
	ck_assert_uint_eq(x->unsol_owed, 2);
	ck_assert_uint_eq(x->nevict, 2);
	ck_assert_uint_eq(x->evict_slab[0], 3);
	ck_assert_int_eq(x->credits, VB_CREDITS); /* no credit for these */
	pthread_mutex_lock(&x->xc.lock);
	ck_assert_int_eq(post_ctl_send(x, 0, sizeof(struct wire_hdr)), 0);
	pthread_mutex_unlock(&x->xc.lock);
	ck_assert_uint_eq(ntohl(rec[0].imm), 2);
	ck_assert_uint_eq(x->unsol_owed, 0);
}
END_TEST

START_TEST(slab_refresh_after_reconnect_replaces_the_key)
{
	struct wire_slab ws = { .slab = SLAB_ID,
				.rkey = 0x999,
				.size = 1 << 20,
				.addr = 0x200000000ull };
	struct xport_slab out;

	proto_slab_swap(&ws);
	put_msg(33, PROTO_OP_ALLOC, PROTO_F_REPLY, 0, 0, &ws, sizeof(ws));
	feed_recv(33, sizeof(struct wire_hdr) + sizeof(ws));
	ck_assert_int_eq(xport_rdma_slab_info(&x->xc.base, SLAB_ID, &out), 0);
	ck_assert_uint_eq(out.rkey, 0x999);
	ck_assert_uint_eq(out.addr, 0x200000000ull);
	ck_assert_uint_eq(x->unsol_owed, 1);
}
END_TEST

START_TEST(garbage_control_message_breaks_the_connection)
{
	memset(x->msgs, 0xa5, 64);
	feed_recv(0, 64);
	ck_assert_int_eq(x->xc.state, XPORT_DOWN);
	ck_assert_int_eq(x->xc.last_err, -EPROTO);
}
END_TEST

START_TEST(failed_receive_completion_is_a_lost_connection)
{
	struct ibv_wc wc = { .wr_id = VB_RECV_TAG | 1,
			     .status = IBV_WC_RETRY_EXC_ERR };

	feed(wc);
	ck_assert_int_eq(x->xc.state, XPORT_DOWN);
	ck_assert_int_eq(x->xc.last_err, -ECONNRESET);
}
END_TEST

/* ---- connection states ---- */

START_TEST(wrong_key_and_version_stop_reconnecting)
{
	ck_assert(xconn_permanent(-EACCES));
	ck_assert(xconn_permanent(-EPROTONOSUPPORT));
	ck_assert(!xconn_permanent(-ECONNRESET));
	ck_assert(!xconn_permanent(-ETIMEDOUT));
	ck_assert(!xconn_permanent(-ECONNREFUSED));
}
END_TEST

START_TEST(handshake_may_send_before_up_but_not_after_a_loss)
{
	x->xc.state = XPORT_CONNECTING;
	x->hs = 1;
	ck_assert(conn_live(x));
	x->hs = 0;
	ck_assert(!conn_live(x));
	x->xc.state = XPORT_DOWN;
	ck_assert(!conn_live(x));
	x->xc.state = XPORT_UP;
	ck_assert(conn_live(x));
}
END_TEST

/* ---- xport_poll(): the CQ's claim (verbs_poll.c) ---- */

static atomic_int polled_done;

static void polled_io_done(struct xport_io *io, int status)
{
	treq_done(io, status);
	atomic_store(&polled_done, 1);
}

/* one op of request 0, posted, its done() setting polled_done; the
 * loop serves x */
static void post_polled(void)
{
	struct batch_op o;

	mkop(&o, 0, 1, XPORT_READ, 0, userbuf);
	reqs[0].io.done = polled_io_done;
	atomic_store(&polled_done, 0);
	atomic_store(&x->cq_served, 1);
	vb_post(x, &o, 1);
	ck_assert_uint_eq(x->count, 1);
}

START_TEST(a_poller_reaps_its_own_completion_arms_the_cq_and_lets_go)
{
	post_polled();
	cqe[ncqe++] = wc_send(rec[0].wr_id, IBV_WC_SUCCESS);
	ck_assert_int_eq(vb_poll(&x->xc.base, &polled_done, 1000000), 0);
	reqs_done_with(1, 0);
	ck_assert_uint_eq(narms, 1); /* armed before its last poll */
	ck_assert_uint_eq(atomic_load(&x->cq_owner), 0);
	ck_assert(!vbl_on_thread()); /* no longer acting as the loop */
}
END_TEST

START_TEST(a_cq_event_the_loop_dropped_meanwhile_makes_the_holder_drain_again)
{
	post_polled();
	ck_assert(vb_claim(x));
	/* the loop's event finds the claim taken */
	ck_assert(!vb_claim_loop(x, &x->cq_missed));
	/* the completion shows only after the holder's last poll */
	cqe[ncqe++] = wc_send(rec[0].wr_id, IBV_WC_SUCCESS);
	hidden_polls = 1;
	vb_release(x);
	reqs_done_with(1, 0);
	ck_assert_uint_eq(narms, 2);
	ck_assert_int_eq(atomic_load(&x->cq_missed), 0);
	ck_assert_uint_eq(atomic_load(&x->cq_owner), 0);
}
END_TEST

START_TEST(a_poller_leaves_a_cq_the_loop_does_not_serve_untouched)
{
	post_polled();
	atomic_store(&x->cq_served, 0); /* connecting, or detached */
	cqe[ncqe++] = wc_send(rec[0].wr_id, IBV_WC_SUCCESS);
	ck_assert_int_eq(vb_poll(&x->xc.base, &polled_done, 1000000), -EAGAIN);
	ck_assert_uint_eq(npolls, 0);
	ck_assert_uint_eq(narms, 0);
	ck_assert_int_eq(reqs[0].done, 0);
	ck_assert_uint_eq(atomic_load(&x->cq_owner), 0);
}
END_TEST

START_TEST(a_poller_gives_up_past_its_spin_with_the_cq_armed)
{
	post_polled();
	ck_assert_int_eq(vb_poll(&x->xc.base, &polled_done, 200000), -EAGAIN);
	ck_assert_int_eq(reqs[0].done, 0);
	ck_assert_uint_eq(narms, 1);
	ck_assert_uint_eq(atomic_load(&x->cq_owner), 0);
	/* the loop completes it later, once */
	cqe[ncqe++] = wc_send(rec[0].wr_id, IBV_WC_SUCCESS);
	ck_assert(vb_claim(x));
	vb_poll_cq(x);
	vb_unclaim(x);
	reqs_done_with(1, 0);
}
END_TEST

START_TEST(an_error_completion_a_poller_reaps_fails_every_io_once)
{
	struct batch_op o[3];

	post_separate(o, 3, XPORT_READ);
	reqs[0].io.done = polled_io_done;
	atomic_store(&polled_done, 0);
	atomic_store(&x->cq_served, 1);
	cqe[ncqe++] = wc_send(rec[0].wr_id, IBV_WC_REM_ACCESS_ERR);
	cqe[ncqe++] = wc_send(rec[2].wr_id, IBV_WC_WR_FLUSH_ERR);
	ck_assert_int_eq(vb_poll(&x->xc.base, &polled_done, 1000000), 0);
	ck_assert_int_eq(reqs[0].status, -EFAULT);
	reqs_done_with(0, 0);
	ck_assert_int_eq(reqs[1].done, 1);
	ck_assert_int_eq(reqs[2].done, 1);
	ck_assert_int_eq(reqs[2].status, -ECONNRESET);
	ck_assert_int_eq(x->xc.state, XPORT_DOWN);
	ck_assert_uint_eq(atomic_load(&x->cq_owner), 0);
}
END_TEST

START_TEST(wc_status_maps_to_the_transport_errors)
{
	ck_assert_int_eq(wc_errno(IBV_WC_SUCCESS), 0);
	ck_assert_int_eq(wc_errno(IBV_WC_REM_ACCESS_ERR), -EFAULT);
	ck_assert_int_eq(wc_errno(IBV_WC_REM_INV_REQ_ERR), -EINVAL);
	ck_assert_int_eq(wc_errno(IBV_WC_RETRY_EXC_ERR), -ECONNRESET);
	ck_assert_int_eq(wc_errno(IBV_WC_WR_FLUSH_ERR), -ECONNRESET);
}
END_TEST

START_TEST(open_without_an_rdma_path_fails_fast_for_auto_fallback)
{
	struct xport_cfg cfg = { .host = "192.0.2.1",
				 .port = "7700",
				 .kind = XPORT_RDMA };
	struct xport *xp = NULL;

	ck_assert_int_eq(xport_rdma_backend.open(&cfg, &xp), -ENETUNREACH);
	ck_assert_ptr_null(xp);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"verbs",
		&(const struct cnm_tcase_opt){ .setup = setup,
					       .teardown = teardown },
		CNM_TESTS(
			contiguous_registered_pages_become_one_wr_with_one_sge_each,
			more_ios_than_max_sge_are_copied_into_one_bounce_sge,
			unregistered_read_lands_through_bounce_on_completion,
			many_small_ios_are_copied_rather_than_gathered,
			separate_ops_are_chained_in_one_post_only_the_last_signalled,
			range_outside_the_slab_fails_without_posting,
			submit_while_down_fails_at_once_with_enotconn,
			one_signalled_completion_retires_every_earlier_request,
			failed_completion_fails_its_request_and_every_later_one,
			disconnect_fails_every_pending_request_and_control_call,
			io_timeout_is_reported_as_etimedout,
			a_wait_for_a_bounce_slot_on_the_loop_ends_at_io_timeout,
			a_request_takes_a_credit_and_its_reply_gives_it_back,
			reply_status_becomes_a_negative_errno,
			unsolicited_messages_are_owed_back_in_the_next_send_imm,
			slab_refresh_after_reconnect_replaces_the_key,
			garbage_control_message_breaks_the_connection,
			failed_receive_completion_is_a_lost_connection,
			wrong_key_and_version_stop_reconnecting,
			handshake_may_send_before_up_but_not_after_a_loss,
			a_poller_reaps_its_own_completion_arms_the_cq_and_lets_go,
			a_cq_event_the_loop_dropped_meanwhile_makes_the_holder_drain_again,
			a_poller_leaves_a_cq_the_loop_does_not_serve_untouched,
			a_poller_gives_up_past_its_spin_with_the_cq_armed,
			an_error_completion_a_poller_reaps_fails_every_io_once,
			wc_status_maps_to_the_transport_errors,
			open_without_an_rdma_path_fails_fast_for_auto_fallback));
}
