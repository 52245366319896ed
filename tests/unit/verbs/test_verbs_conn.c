// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the RDMA backend's connection state machine with no NIC:
 * rdma/verbs_*.c and rdma/conn.c are included and librdmacm and libibverbs are replaced by a
 * fake CM (an event queue behind an eventfd) and a fake QP whose other end
 * is a tiny donor answering HELLO/AUTH/ALLOC with the real handshake code.
 * The backend's connector and event loop threads run against them.
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

/* ---- the fake: CM events, QP, CQ; one mutex for all of it ---- */

static pthread_mutex_t fk = PTHREAD_MUTEX_INITIALIZER;
static int cm_efd = -1, cq_efd = -1;
static enum rdma_cm_event_type evq[32];
static unsigned int evn;
static struct rdma_cm_event evbuf;
static struct rdma_event_channel fec;
static struct rdma_cm_id fid;
static struct ibv_context fctx;
static struct ibv_qp fqp = { .context = &fctx };
static struct ibv_cq fcq = { .context = &fctx };
static struct ibv_comp_channel fcc;
static struct ibv_pd fpd;
static struct ibv_mr fmr = { .lkey = 1, .rkey = 1 };
static struct rdma_addrinfo fai;
static struct sockaddr_in fsa;

/* scenario knobs (set before open, read by the fakes) */
static int refuse; /* connects to refuse with REJECTED */
static int connects;
static int hold_data; /* RDMA READ/WRITE never complete */
/* a CQ as verbs makes it: an event only for a completion that comes
 * while armed (req_notify), and RDMA READ/WRITE completions that a "NIC"
 * thread delivers a little later (fk) */
static int arm_model, armed, nic_delay;
static struct ibv_wc pend[512];
static unsigned int npend;
static unsigned int io_ms; /* the transport's io_timeout_ms, 0: default */
static struct auth_key donor_key;

static uint64_t rq_id[VB_NRECV + 8];
static uint64_t rq_addr[VB_NRECV + 8];
static unsigned int rq_head, rq_n;
static struct ibv_wc wcq[512];
static unsigned int wc_head, wc_n;
static struct hs_donor d_hs;
static struct auth_ident d_ident;
static struct auth_keyring d_kr = { &d_ident, 1 };

static void poke(int fd)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
}

static void push_cm(enum rdma_cm_event_type t)
{
	pthread_mutex_lock(&fk);
	evq[evn++] = t;
	pthread_mutex_unlock(&fk);
	poke(cm_efd);
}

static void push_wc(const struct ibv_wc *wc)
{
	wcq[(wc_head + wc_n++) % 512] = *wc;
}

struct rdma_event_channel *rdma_create_event_channel(void)
{
	fec.fd = cm_efd;
	return &fec;
}
void rdma_destroy_event_channel(struct rdma_event_channel *ec)
{
}
int rdma_create_id(struct rdma_event_channel *ec, struct rdma_cm_id **id,
		   void *ctx, enum rdma_port_space ps)
{
	fid.verbs = &fctx;
	fid.qp = NULL;
	*id = &fid;
	return 0;
}
int rdma_destroy_id(struct rdma_cm_id *id)
{
	return 0;
}
int rdma_getaddrinfo(const char *node, const char *service,
		     const struct rdma_addrinfo *hints,
		     struct rdma_addrinfo **res)
{
	fsa.sin_family = AF_INET;
	fai.ai_dst_addr = (struct sockaddr *)&fsa;
	*res = &fai;
	return 0;
}
void rdma_freeaddrinfo(struct rdma_addrinfo *res)
{
}
int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
		      struct sockaddr *dst, int ms)
{
	push_cm(RDMA_CM_EVENT_ADDR_RESOLVED);
	return 0;
}
int rdma_resolve_route(struct rdma_cm_id *id, int ms)
{
	push_cm(RDMA_CM_EVENT_ROUTE_RESOLVED);
	return 0;
}
int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	int r;

	pthread_mutex_lock(&fk);
	connects++;
	r = refuse > 0;
	if (r)
		refuse--;
	pthread_mutex_unlock(&fk);
	push_cm(r ? RDMA_CM_EVENT_REJECTED : RDMA_CM_EVENT_ESTABLISHED);
	return 0;
}
int rdma_get_cm_event(struct rdma_event_channel *ec, struct rdma_cm_event **ev)
{
	int ret = -1;

	pthread_mutex_lock(&fk);
	if (evn) {
		memset(&evbuf, 0, sizeof(evbuf));
		evbuf.event = evq[0];
		evbuf.id = &fid;
		memmove(evq, evq + 1, --evn * sizeof(evq[0]));
		*ev = &evbuf;
		ret = 0;
	} else {
		uint64_t v;

		if (read(cm_efd, &v, sizeof(v)) < 0)
			v = 0;
		errno = EAGAIN;
	}
	pthread_mutex_unlock(&fk);
	return ret;
}
int rdma_ack_cm_event(struct rdma_cm_event *ev)
{
	return 0;
}
int rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		   struct ibv_qp_init_attr *a)
{
	pthread_mutex_lock(&fk);
	fid.qp = &fqp;
	rq_head = rq_n = 0; /* a fresh QP */
	wc_head = wc_n = 0;
	pthread_mutex_unlock(&fk);
	return 0;
}
void rdma_destroy_qp(struct rdma_cm_id *id)
{
	fid.qp = NULL;
}
int rdma_disconnect(struct rdma_cm_id *id)
{
	return 0;
}
int ibv_query_device(struct ibv_context *c, struct ibv_device_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->max_sge = 16;
	a->max_qp_init_rd_atom = 16;
	a->max_qp_rd_atom = 16;
	return 0;
}
struct ibv_pd *ibv_alloc_pd(struct ibv_context *c)
{
	return &fpd;
}
int ibv_dealloc_pd(struct ibv_pd *pd)
{
	return 0;
}
struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *c)
{
	fcc.fd = cq_efd;
	return &fcc;
}
int ibv_destroy_comp_channel(struct ibv_comp_channel *cc)
{
	return 0;
}
struct ibv_cq *ibv_create_cq(struct ibv_context *c, int n, void *ctx,
			     struct ibv_comp_channel *cc, int v)
{
	fcq.cq_context = ctx;
	fcq.channel = cc;
	return &fcq;
}
int ibv_destroy_cq(struct ibv_cq *cq)
{
	return 0;
}
struct ibv_mr *(ibv_reg_mr)(struct ibv_pd *pd, void *addr, size_t len,
			    int access)
{
	return &fmr;
}
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				uint64_t iova, unsigned int access)
{
	return &fmr;
}
int ibv_dereg_mr(struct ibv_mr *mr)
{
	return 0;
}
int ibv_get_cq_event(struct ibv_comp_channel *cc, struct ibv_cq **cq,
		     void **ctx)
{
	uint64_t v;

	if (read(cq_efd, &v, sizeof(v)) < 0)
		return -1;
	*cq = &fcq;
	*ctx = fcq.cq_context; /* the connection, as libibverbs gives it */
	return 0;
}
void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
}
const char *ibv_wc_status_str(enum ibv_wc_status s)
{
	return "stub status";
}

/* The donor's answer to one client message (fk held). */
static void fake_donor(const uint8_t *msg, uint32_t len)
{
	uint8_t out[VB_MSG];
	struct proto_hdr h, r = { .flags = PROTO_F_REPLY };
	const uint8_t *body = msg + sizeof(struct wire_hdr);
	uint8_t *rbody = out + sizeof(struct wire_hdr);
	struct ibv_wc wc = { .status = IBV_WC_SUCCESS, .opcode = IBV_WC_RECV };

	ck_assert_int_eq(proto_hdr_dec(msg, &h), 0);
	r.op = h.op;
	r.id = h.id;
	switch (h.op) {
	case PROTO_OP_HELLO:
		struct wire_hello in;

		memcpy(&in, body, sizeof(in));
		proto_hello_swap(&in);
		d_ident.key = donor_key;
		snprintf(d_ident.name, sizeof(d_ident.name), "default");
		memset(&d_hs, 0, sizeof(d_hs));
		d_hs.kr = &d_kr;
		r.status = (uint32_t)hs_donor_hello(
			&d_hs, PROTO_CAP_RDMA | PROTO_CAP_AUTH, 0, &in);
		if (!r.status) {
			struct wire_hello w = d_hs.out;

			proto_hello_swap(&w);
			memcpy(rbody, &w, sizeof(w));
			r.len = sizeof(w);
		}
		break;
	case PROTO_OP_AUTH: {
		struct wire_auth a;

		memcpy(&a, body, sizeof(a));
		r.status = (uint32_t)hs_donor_auth(&d_hs, NULL, &a);
		break;
	}
	case PROTO_OP_ALLOC: {
		struct wire_slab ws = {
			.slab = 3, .rkey = 0x77, .size = 1 << 20, .addr = 0x1000
		};

		proto_slab_swap(&ws);
		memcpy(rbody, &ws, sizeof(ws));
		r.len = sizeof(ws);
		break;
	}
	default:
		break;
	}
	proto_hdr_enc(out, &r);
	ck_assert_uint_gt(rq_n, 0); /* the client kept a receive posted */
	memcpy((void *)(uintptr_t)rq_addr[rq_head], out,
	       sizeof(struct wire_hdr) + r.len);
	wc.wr_id = rq_id[rq_head];
	wc.byte_len = sizeof(struct wire_hdr) + r.len;
	rq_head = (rq_head + 1) % (VB_NRECV + 8);
	rq_n--;
	push_wc(&wc);
	(void)len;
}

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			  struct ibv_send_wr **bad)
{
	int ev;

	pthread_mutex_lock(&fk);
	for (; wr; wr = wr->next) {
		struct ibv_wc wc = { .wr_id = wr->wr_id,
				     .status = IBV_WC_SUCCESS };

		if (wr->opcode == IBV_WR_SEND_WITH_IMM) {
			push_wc(&wc);
			fake_donor(
				(const uint8_t *)(uintptr_t)wr->sg_list[0].addr,
				wr->sg_list[0].length);
		} else if (nic_delay && (wr->send_flags & IBV_SEND_SIGNALED)) {
			ck_assert_uint_lt(npend, 512);
			pend[npend++] = wc;
		} else if (!hold_data && (wr->send_flags & IBV_SEND_SIGNALED)) {
			push_wc(&wc);
		}
	}
	ev = !arm_model || armed;
	armed = 0;
	pthread_mutex_unlock(&fk);
	if (ev)
		poke(cq_efd);
	return 0;
}

static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad)
{
	pthread_mutex_lock(&fk);
	for (; wr; wr = wr->next) {
		unsigned int i = (rq_head + rq_n++) % (VB_NRECV + 8);

		rq_id[i] = wr->wr_id;
		rq_addr[i] = wr->sg_list[0].addr;
	}
	pthread_mutex_unlock(&fk);
	return 0;
}

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	int k = 0;

	pthread_mutex_lock(&fk);
	while (k < n && wc_n) {
		wc[k++] = wcq[wc_head];
		wc_head = (wc_head + 1) % 512;
		wc_n--;
	}
	pthread_mutex_unlock(&fk);
	return k;
}

static int fake_notify(struct ibv_cq *cq, int solicited)
{
	pthread_mutex_lock(&fk);
	armed = 1;
	pthread_mutex_unlock(&fk);
	return 0;
}

/* The "NIC": delivers the pending completions every few microseconds,
 * with an event when the CQ is armed. */
static atomic_int nic_stop;

static void *nic_run(void *arg)
{
	unsigned int seed = 1;
	int ev;

	(void)arg;
	while (!atomic_load(&nic_stop)) {
		pthread_mutex_lock(&fk);
		ev = npend && armed;
		if (ev)
			armed = 0;
		for (unsigned int i = 0; i < npend; i++)
			push_wc(&pend[i]);
		npend = 0;
		pthread_mutex_unlock(&fk);
		if (ev)
			poke(cq_efd);
		usleep(rand_r(&seed) % 40);
	}
	return NULL;
}

/* ---- fixtures ---- */

static struct auth_key ckey;
static atomic_int n_up, n_down, last_down;

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	if (ev->type == XPORT_EV_UP)
		atomic_fetch_add(&n_up, 1);
	if (ev->type == XPORT_EV_DOWN) {
		atomic_store(&last_down, ev->error);
		atomic_fetch_add(&n_down, 1);
	}
}

static void setup(void)
{
	fctx.ops.post_send = fake_post_send;
	fctx.ops.post_recv = fake_post_recv;
	fctx.ops.poll_cq = fake_poll_cq;
	fctx.ops.req_notify_cq = fake_notify;
	cm_efd = eventfd(0, EFD_NONBLOCK);
	cq_efd = eventfd(0, EFD_NONBLOCK);
	ck_assert_int_ge(cm_efd, 0);
	ck_assert_int_ge(cq_efd, 0);
	evn = 0;
	refuse = connects = hold_data = 0;
	arm_model = armed = nic_delay = 0;
	npend = 0;
	atomic_store(&nic_stop, 0);
	io_ms = 0;
	rq_head = rq_n = wc_head = wc_n = 0;
	memset(ckey.bytes, 0x42, sizeof(ckey.bytes));
	ckey.set = 1;
	donor_key = ckey;
	atomic_store(&n_up, 0);
	atomic_store(&n_down, 0);
	atomic_store(&last_down, 0);
}

static void teardown(void)
{
	close(cm_efd);
	close(cq_efd);
}

static struct xport *open_fake(unsigned int reconnect_max_ms)
{
	struct xport_cfg cfg = { .host = "10.0.0.9",
				 .port = "7700",
				 .kind = XPORT_RDMA,
				 .key = &ckey,
				 .slab_size = 1 << 20,
				 .reconnect_min_ms = 10,
				 .reconnect_max_ms = reconnect_max_ms,
				 .ctl_timeout_ms = 2000,
				 .io_timeout_ms = io_ms,
				 .event = on_event };
	struct xport *x = NULL;

	ck_assert_int_eq(xport_rdma_backend.open(&cfg, &x), 0);
	return x;
}

static int get_connects(void)
{
	int n;

	pthread_mutex_lock(&fk);
	n = connects;
	pthread_mutex_unlock(&fk);
	return n;
}

/* ---- tests ---- */

START_TEST(handshake_over_send_recv_brings_the_connection_up)
{
	struct xport *x = open_fake(0);
	struct xport_slab s;

	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	ck_assert_int_eq(xport_rdma_backend.state(x), XPORT_UP);
	ck_assert_int_eq(xport_rdma_backend.alloc(x, &s), 0);
	ck_assert_uint_eq(s.slab, 3);
	ck_assert_uint_eq(s.rkey, 0x77);
	ck_assert_uint_eq(s.addr, 0x1000);
	ck_assert_int_eq(xport_rdma_backend.heartbeat(x, NULL), 0);
	xport_rdma_backend.close(x);
	ck_assert_int_eq(atomic_load(&n_up), 1);
}
END_TEST

START_TEST(refused_connect_is_final_without_reconnect)
{
	struct xport *x;

	refuse = 100;
	x = open_fake(0);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), -ECONNREFUSED);
	usleep(100 * 1000);
	ck_assert_int_eq(get_connects(), 1);
	ck_assert_int_eq(xport_rdma_backend.state(x), XPORT_DOWN);
	xport_rdma_backend.close(x);
}
END_TEST

START_TEST(refused_connects_are_retried_with_backoff_until_up)
{
	struct xport *x;

	refuse = 2;
	x = open_fake(40);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	ck_assert_int_eq(get_connects(), 3);
	xport_rdma_backend.close(x);
}
END_TEST

START_TEST(donor_with_another_key_is_eacces_and_not_retried)
{
	struct xport *x;

	donor_key.bytes[0] ^= 1;
	x = open_fake(40);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), -EACCES);
	usleep(200 * 1000);
	ck_assert_int_eq(get_connects(), 1);
	xport_rdma_backend.close(x);
}
END_TEST

struct treq {
	struct xport_io io;
	atomic_int done;
	atomic_int status;
};

static void treq_done(struct xport_io *io, int status)
{
	struct treq *r = (struct treq *)io;

	atomic_store(&r->status, status);
	atomic_fetch_add(&r->done, 1);
}

/* Submits r: dir, len bytes at offset 0 of slab, from or into buf. */
static void treq_submit(struct xport *x, struct treq *r, uint8_t dir,
			uint32_t slab, void *buf, uint32_t len)
{
	r->io.dir = dir;
	r->io.slab = slab;
	r->io.len = len;
	r->io.buf = buf;
	r->io.done = treq_done;
	xport_rdma_backend.submit(x, &r->io);
}

static int wait_done(struct treq *r, unsigned int ms)
{
	while (!atomic_load(&r->done) && ms--)
		usleep(1000);
	return atomic_load(&r->done);
}

START_TEST(disconnect_fails_the_pending_io_emits_down_and_reconnects)
{
	static uint8_t buf[4096];
	struct xport_stats st;
	struct xport_slab s;
	struct treq r = { 0 };
	struct xport *x;
	int i;

	x = open_fake(40);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	ck_assert_int_eq(xport_rdma_backend.alloc(x, &s), 0);
	hold_data = 1; /* the write stays in flight */
	treq_submit(x, &r, XPORT_WRITE, s.slab, buf, sizeof(buf));
	usleep(50 * 1000);
	ck_assert_int_eq(atomic_load(&r.done), 0);
	push_cm(RDMA_CM_EVENT_DISCONNECTED);
	ck_assert(wait_done(&r, 3000));
	ck_assert_int_eq(atomic_load(&r.done), 1);
	ck_assert_int_eq(atomic_load(&r.status), -ECONNRESET);
	for (i = 0; i < 3000 && atomic_load(&n_up) < 2; i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&n_down), 1);
	ck_assert_int_eq(atomic_load(&last_down), -ECONNRESET);
	ck_assert_int_eq(atomic_load(&n_up), 2);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	xport_rdma_backend.get_stats(x, &st);
	ck_assert_uint_eq(st.reconnects, 1);
	ck_assert_uint_eq(st.errors, 1);
	xport_rdma_backend.close(x);
}
END_TEST

/* as test_tcp's bad_or_early_io_fails_at_submit_and_counts_an_error:
 * the core checks and counts every submitted io the same way */
START_TEST(bad_or_early_io_fails_at_submit_and_counts_an_error)
{
	static uint8_t buf[4096];
	struct xport_stats st;
	struct treq r = { 0 }, b = { 0 };
	struct xport *x;

	refuse = 100;
	x = open_fake(0);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), -ECONNREFUSED);
	treq_submit(x, &r, XPORT_WRITE, 3, buf, sizeof(buf));
	ck_assert(wait_done(&r, 3000));
	ck_assert_int_eq(atomic_load(&r.status), -ENOTCONN);
	b.io = r.io;
	b.io.len = 0;
	xport_rdma_backend.submit(x, &b.io);
	ck_assert(wait_done(&b, 3000));
	ck_assert_int_eq(atomic_load(&b.status), -EINVAL);
	xport_rdma_backend.get_stats(x, &st);
	ck_assert_uint_eq(st.ios, 2);
	ck_assert_uint_eq(st.errors, 2);
	ck_assert_uint_eq(st.timeouts, 0);
	xport_rdma_backend.close(x);
}
END_TEST

/* the loop's timer: a request older than io_timeout_ms ends the link */
START_TEST(a_request_past_io_timeout_fails_with_etimedout_on_the_loop_timer)
{
	static uint8_t buf[4096];
	struct xport_stats st;
	struct xport_slab s;
	struct treq r = { 0 };
	struct xport *x;
	int i;

	io_ms = 300;
	x = open_fake(40);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	ck_assert_int_eq(xport_rdma_backend.alloc(x, &s), 0);
	hold_data = 1;
	treq_submit(x, &r, XPORT_READ, s.slab, buf, sizeof(buf));
	ck_assert(wait_done(&r, 3000));
	ck_assert_int_eq(atomic_load(&r.status), -ETIMEDOUT);
	for (i = 0; i < 3000 && atomic_load(&n_up) < 2; i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&last_down), -ETIMEDOUT);
	ck_assert_int_eq(atomic_load(&n_up), 2);
	xport_rdma_backend.get_stats(x, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	xport_rdma_backend.close(x);
}
END_TEST

/* done() runs on the loop, which serves every connection: a control
 * call there would wait a round trip for one, and fails at once */
static struct xport *cb_x;
static atomic_int cb_ret = 1, cb_loop;

static void ctl_in_done(struct xport_io *io, int status)
{
	struct wire_state ws;

	atomic_store(&cb_loop, vbl_on_thread());
	atomic_store(&cb_ret, xport_rdma_backend.query(cb_x, &ws));
	treq_done(io, status);
}

START_TEST(a_control_call_from_a_done_callback_fails_with_edeadlk)
{
	static uint8_t buf[4096];
	struct xport_slab s;
	struct treq r = { 0 };

	cb_x = open_fake(0);
	ck_assert_int_eq(xport_rdma_backend.wait_up(cb_x, 5000), 0);
	ck_assert_int_eq(xport_rdma_backend.alloc(cb_x, &s), 0);
	r.io.dir = XPORT_WRITE;
	r.io.slab = s.slab;
	r.io.len = sizeof(buf);
	r.io.buf = buf;
	r.io.done = ctl_in_done;
	xport_rdma_backend.submit(cb_x, &r.io);
	ck_assert(wait_done(&r, 3000));
	ck_assert_int_eq(atomic_load(&r.status), 0);
	ck_assert_int_eq(atomic_load(&cb_loop), 1);
	ck_assert_int_eq(atomic_load(&cb_ret), -EDEADLK);
	/* from any other thread it works */
	ck_assert_int_eq(xport_rdma_backend.heartbeat(cb_x, NULL), 0);
	xport_rdma_backend.close(cb_x);
}
END_TEST

/* xport_poll() (verbs_poll.c) against the loop: threads that collect
 * their own completion with spins from none to long race each other and
 * the loop for a CQ that raises an event only when armed */
#define RACE_THREADS 4
#define RACE_IOS     1500

struct racer {
	struct xport *x;
	uint32_t slab;
	uint64_t spin_ns;
	struct treq r[RACE_IOS];
	unsigned int hung, hits;
};

static void *racer_run(void *arg)
{
	struct racer *k = arg;
	uint8_t buf[4096];
	unsigned int i;

	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < RACE_IOS; i++) {
		struct treq *r = &k->r[i];

		treq_submit(k->x, r, i & 1 ? XPORT_READ : XPORT_WRITE, k->slab,
			    buf, sizeof(buf));
		if (!xport_rdma_backend.poll(k->x, &r->done, k->spin_ns))
			k->hits++;
		if (!wait_done(r, 5000)) {
			k->hung++;
			break;
		}
	}
	return NULL;
}

START_TEST(pollers_racing_the_loop_complete_every_io_once)
{
	static struct racer k[RACE_THREADS];
	const uint64_t spins[RACE_THREADS] = { 0, 1000, 20000, 2000000 };
	pthread_t t[RACE_THREADS], nic;
	struct xport_slab s;
	struct xport *x;
	unsigned int i, n, hits = 0;

	arm_model = 1;
	x = open_fake(0);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	ck_assert_int_eq(xport_rdma_backend.alloc(x, &s), 0);
	nic_delay = 1;
	pthread_create(&nic, NULL, nic_run, NULL);
	for (i = 0; i < RACE_THREADS; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		k[i].x = x;
		k[i].slab = s.slab;
		k[i].spin_ns = spins[i];
		pthread_create(&t[i], NULL, racer_run, &k[i]);
	}
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	usleep(20 * 1000); /* a second completion would come by now */
	atomic_store(&nic_stop, 1);
	pthread_join(nic, NULL);
	for (i = 0; i < RACE_THREADS; i++) {
		ck_assert_uint_eq(k[i].hung, 0);
		for (n = 0; n < RACE_IOS; n++) {
			ck_assert_int_eq(atomic_load(&k[i].r[n].done), 1);
			ck_assert_int_eq(atomic_load(&k[i].r[n].status), 0);
		}
		hits += k[i].hits;
	}
	ck_assert_uint_gt(hits, 0); /* the poll path did collect ios */
	ck_assert_uint_eq(atomic_load(&to_vx(x)->cq_owner), 0);
	xport_rdma_backend.close(x);
}
END_TEST

START_TEST(close_fails_pending_io_with_econnaborted)
{
	static uint8_t buf[4096];
	struct xport_slab s;
	struct treq r = { 0 };
	struct xport *x;

	x = open_fake(0);
	ck_assert_int_eq(xport_rdma_backend.wait_up(x, 5000), 0);
	ck_assert_int_eq(xport_rdma_backend.alloc(x, &s), 0);
	hold_data = 1;
	treq_submit(x, &r, XPORT_READ, s.slab, buf, sizeof(buf));
	xport_rdma_backend.close(x);
	ck_assert_int_eq(atomic_load(&r.done), 1);
	ck_assert_int_eq(atomic_load(&r.status), -ECONNABORTED);
}
END_TEST

int main(void)
{
	auth_init();
	return cnm_check_main(
		"verbs_conn",
		&(const struct cnm_tcase_opt){
			.setup = setup, .teardown = teardown, .timeout = 20 },
		CNM_TESTS(
			handshake_over_send_recv_brings_the_connection_up,
			refused_connect_is_final_without_reconnect,
			refused_connects_are_retried_with_backoff_until_up,
			donor_with_another_key_is_eacces_and_not_retried,
			disconnect_fails_the_pending_io_emits_down_and_reconnects,
			bad_or_early_io_fails_at_submit_and_counts_an_error,
			a_request_past_io_timeout_fails_with_etimedout_on_the_loop_timer,
			a_control_call_from_a_done_callback_fails_with_edeadlk,
			pollers_racing_the_loop_complete_every_io_once,
			close_fails_pending_io_with_econnaborted));
}
