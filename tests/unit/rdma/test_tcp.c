// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the TCP backend against a scripted fake donor on
 * 127.0.0.1 (the handshake is the real one, from rdma/handshake.h): what
 * the real donor cannot be made to do on demand (EVICT, garbage, replies
 * to unknown ids, silence) and the connection life cycle.
 */
#include "rdma/handshake.h"
#include "rdma/xport.h"
#include "tests/unit/check_run.h"
#include "tests/unit/rdma/tcp_fake.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

START_TEST(refused_port_fails_fast_without_reconnect)
{
	struct xport_cfg cfg;
	struct xport_slab s;
	struct xport *x;
	struct req r;
	char port[16], peer[64];

	closed_port(port, sizeof(port));
	cfg_for(&cfg, port, NULL);
	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	ck_assert_int_eq(xport_wait_up(x, 10000), -ECONNREFUSED);
	ck_assert_int_eq(xport_state(x), XPORT_DOWN);
	ck_assert_int_eq(req_do(x, &r, XPORT_WRITE), -ENOTCONN);
	ck_assert_int_eq(xport_alloc(x, &s), -ENOTCONN);
	snprintf(peer, sizeof(peer), "127.0.0.1:%s", port);
	ck_assert_str_eq(xport_peer(x), peer);
	xport_close(x);
}
END_TEST

/* as verbs_conn's donor_with_another_key_is_eacces_and_not_retried: the
 * core stops retrying an error no retry can fix, on every transport */
START_TEST(donor_without_our_key_is_eacces_and_not_retried)
{
	struct auth_key key = { .set = 1, .name = "client" };
	struct conn c;

	memset(key.bytes, 0x42, sizeof(key.bytes));
	conn_start(&c, FAKE_SERVE, false); /* the fake holds no key */
	c.cfg.key = &key;
	c.cfg.reconnect_min_ms = 10;
	c.cfg.reconnect_max_ms = 40;
	conn_open(&c);
	ck_assert_int_eq(xport_wait_up(c.x, 10000), -EACCES);
	usleep(200 * 1000);
	ck_assert_int_eq(atomic_load(&c.f.conns), 1);
	ck_assert_int_eq(xport_state(c.x), XPORT_DOWN);
	conn_stop(&c);
}
END_TEST

/* as verbs_conn's bad_or_early_io_fails_at_submit_and_counts_an_error:
 * the core checks and counts every submitted io the same way */
START_TEST(bad_or_early_io_fails_at_submit_and_counts_an_error)
{
	struct xport_stats st;
	struct xport_cfg cfg;
	struct xport *x;
	struct req r;
	char port[16];

	closed_port(port, sizeof(port));
	cfg_for(&cfg, port, NULL);
	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	ck_assert_int_eq(xport_wait_up(x, 10000), -ECONNREFUSED);
	ck_assert_int_eq(req_do(x, &r, XPORT_WRITE), -ENOTCONN);
	req_init(&r, XPORT_READ);
	r.io.len = 0;
	xport_submit(x, &r.io);
	ck_assert_int_eq(req_wait(&r), -EINVAL);
	xport_get_stats(x, &st);
	ck_assert_uint_eq(st.ios, 2);
	ck_assert_uint_eq(st.errors, 2);
	ck_assert_uint_eq(st.timeouts, 0);
	xport_close(x);
}
END_TEST

START_TEST(silent_donor_times_out_the_handshake)
{
	struct conn c;

	conn_start(&c, FAKE_SILENT, false);
	c.cfg.ctl_timeout_ms = 300;
	conn_open(&c);
	ck_assert_int_eq(xport_wait_up(c.x, 10000), -ETIMEDOUT);
	conn_stop(&c);
}
END_TEST

START_TEST(close_interrupts_a_handshake_in_progress)
{
	struct conn c;

	conn_start(&c, FAKE_SILENT, false);
	c.cfg.ctl_timeout_ms = 60000; /* the test times out long before */
	c.cfg.reconnect_max_ms = 1000;
	conn_open(&c);
	while (!atomic_load(&c.f.conns))
		usleep(1000);
	conn_stop(&c);
}
END_TEST

START_TEST(reads_writes_and_control_calls_work)
{
	struct xport_stats st;
	struct xport_slab s;
	struct conn c;
	struct req r;
	uint64_t rtt;

	conn_start(&c, FAKE_SERVE, true);
	conn_open_up(&c);
	ck_assert(evs_wait(&c.e, &c.e.up, 1));
	ck_assert_int_eq(xport_alloc(c.x, &s), 0);
	ck_assert_uint_eq(s.slab, 3);
	ck_assert_uint_eq(s.size, 1 << 20);
	ck_assert_int_eq(xport_heartbeat(c.x, &rtt), 0);
	ck_assert_int_eq(xport_free(c.x, 3), 0);
	ck_assert_int_eq(req_do(c.x, &r, XPORT_READ), 0);
	ck_assert_uint_eq(r.buf[0], 0x5a);
	ck_assert_uint_eq(r.buf[K4 - 1], 0x5a);
	ck_assert_int_eq(req_do(c.x, &r, XPORT_WRITE), 0);
	req_init(&r, XPORT_WRITE);
	r.io.len = 0; /* empty */
	xport_submit(c.x, &r.io);
	ck_assert_int_eq(req_wait(&r), -EINVAL);
	xport_get_stats(c.x, &st);
	ck_assert_uint_eq(st.ios, 3);
	ck_assert_uint_eq(st.errors, 1);
	ck_assert_uint_eq(st.bytes_read, K4);
	ck_assert_uint_eq(st.bytes_written, K4);
	ck_assert_uint_ge(st.posts, 2);
	ck_assert_int_eq(st.kind, XPORT_TCP);
	conn_stop(&c);
}
END_TEST

/* done() on the conn thread resubmits on the same connection */
struct chain {
	struct xport_io io;
	struct xport *x;
	uint8_t buf[K4];
	atomic_int left, calls;
	sem_t finished;
	int status;
};

static void chain_done(struct xport_io *io, int status)
{
	struct chain *c = (struct chain *)io;

	atomic_fetch_add(&c->calls, 1);
	if (status || atomic_fetch_sub(&c->left, 1) == 1) {
		c->status = status;
		sem_post(&c->finished);
		return;
	}
	xport_submit(c->x, &c->io);
}

START_TEST(done_callback_may_resubmit_on_the_same_connection)
{
	struct timespec ts;
	struct chain *c = calloc(1, sizeof(*c));
	struct conn cn;

	conn_start(&cn, FAKE_SERVE, false);
	conn_open_up(&cn);
	c->x = cn.x;
	c->io.dir = XPORT_WRITE;
	c->io.slab = 3;
	c->io.len = K4;
	c->io.buf = c->buf;
	c->io.done = chain_done;
	atomic_init(&c->left, 200);
	sem_init(&c->finished, 0, 0);
	xport_submit(cn.x, &c->io);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	ck_assert_int_eq(sem_timedwait(&c->finished, &ts), 0);
	ck_assert_int_eq(c->status, 0);
	ck_assert_int_eq(atomic_load(&c->calls), 200);
	conn_stop(&cn);
	free(c);
}
END_TEST

START_TEST(evict_from_the_donor_becomes_an_event)
{
	struct conn c;

	conn_start(&c, FAKE_EVICT, true);
	conn_open_up(&c);
	ck_assert(evs_wait(&c.e, &c.e.evict, 1));
	ck_assert_uint_eq(c.e.slab, 7);
	ck_assert_uint_eq(c.e.deadline, 1234);
	ck_assert_int_eq(xport_state(c.x), XPORT_UP);
	conn_stop(&c);
}
END_TEST

static void bad_reply_resets(enum fake_mode mode)
{
	struct conn c;
	struct req r;

	conn_start(&c, mode, true);
	conn_open_up(&c);
	ck_assert_int_eq(req_do(c.x, &r, XPORT_READ), -ECONNRESET);
	conn_went_down(&c, -EPROTO);
	conn_stop(&c);
}

START_TEST(garbage_from_the_donor_resets_the_connection)
{
	bad_reply_resets(FAKE_GARBAGE);
}
END_TEST

START_TEST(reply_to_an_unknown_id_resets_the_connection)
{
	bad_reply_resets(FAKE_BAD_ID);
}
END_TEST

START_TEST(error_message_from_the_donor_is_a_loss)
{
	struct conn c;

	conn_start(&c, FAKE_ERROR_MSG, true);
	conn_open(&c);
	conn_went_down(&c, -EPROTO);
	conn_stop(&c);
}
END_TEST

START_TEST(unanswered_request_times_out_then_reconnects)
{
	struct xport_stats st;
	struct conn c;
	struct req r;

	conn_start(&c, FAKE_NO_REPLY, true);
	c.cfg.io_timeout_ms = 200;
	c.cfg.reconnect_min_ms = 20;
	c.cfg.reconnect_max_ms = 100;
	conn_open_up(&c);
	ck_assert_int_eq(req_do(c.x, &r, XPORT_WRITE), -ETIMEDOUT);
	conn_went_down(&c, -ETIMEDOUT);
	ck_assert(evs_wait(&c.e, &c.e.up, 2));
	ck_assert_int_eq(xport_wait_up(c.x, 10000), 0);
	xport_get_stats(c.x, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_uint_ge(st.reconnects, 1);
	conn_stop(&c);
}
END_TEST

START_TEST(close_fails_pending_requests_with_econnaborted)
{
	struct conn c;
	struct req r[4];
	int i;

	conn_start(&c, FAKE_NO_REPLY, false);
	c.cfg.io_timeout_ms = 60000;
	conn_open_up(&c);
	for (i = 0; i < 4; i++) {
		req_init(&r[i], i & 1 ? XPORT_READ : XPORT_WRITE);
		r[i].io.off = (uint64_t)i * 2 * K4;
		xport_submit(c.x, &r[i].io);
	}
	xport_close(c.x);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(req_wait(&r[i]), -ECONNABORTED);
	fake_stop(&c.f);
}
END_TEST

START_TEST(auto_falls_back_to_tcp_without_an_rdma_path)
{
	struct xport_stats st;
	struct conn c;
	struct req r;

	/* the fake donor serves no RDMA, whatever devices this host has */
	conn_start(&c, FAKE_SERVE, true);
	c.cfg.kind = XPORT_AUTO;
	conn_open_up(&c);
	ck_assert(evs_wait(&c.e, &c.e.up, 1));
	ck_assert_int_eq(req_do(c.x, &r, XPORT_READ), 0);
	xport_get_stats(c.x, &st);
	ck_assert_int_eq(st.kind, XPORT_TCP);
	conn_stop(&c);
}
END_TEST

/* --- many submitters while the connection keeps breaking --- */

#define STRESS_THR 4
#define STRESS_WIN 16

struct sreq {
	struct xport_io io;
	atomic_int busy;
	struct sthr *t;
	uint8_t buf[K4];
};

struct sthr {
	struct xport *x;
	sem_t win;
	struct sreq r[STRESS_WIN];
	atomic_int free_mask; /* bit i: r[i] free */
	atomic_uint done, ok, bad_status, twice;
	unsigned int submitted;
	atomic_int *stop;
};

static void sreq_done(struct xport_io *io, int status)
{
	struct sreq *r = (struct sreq *)io;
	struct sthr *t = r->t;

	if (atomic_exchange(&r->busy, 0) != 1)
		atomic_fetch_add(&t->twice, 1);
	if (!status)
		atomic_fetch_add(&t->ok, 1);
	else if (status != -ECONNRESET && status != -ENOTCONN &&
		 status != -ETIMEDOUT && status != -ECONNABORTED)
		atomic_fetch_add(&t->bad_status, 1);
	atomic_fetch_add(&t->done, 1);
	atomic_fetch_or(&t->free_mask, 1 << (r - t->r));
	sem_post(&t->win);
}

static void *stress_main(void *arg)
{
	struct sthr *t = arg;
	unsigned int n = 0;

	while (!atomic_load(t->stop)) {
		struct sreq *r;
		int mask, i;

		sem_wait(&t->win);
		mask = atomic_load(&t->free_mask);
		ck_assert_int_ne(mask, 0);
		i = __builtin_ctz(mask);
		atomic_fetch_and(&t->free_mask, ~(1 << i));
		r = &t->r[i];
		memset(&r->io, 0, sizeof(r->io));
		r->t = t;
		r->io.dir = (n & 1) ? XPORT_READ : XPORT_WRITE;
		r->io.slab = 3;
		r->io.off = (uint64_t)(n % 64) * K4;
		r->io.len = K4;
		r->io.buf = r->buf;
		r->io.done = sreq_done;
		atomic_store(&r->busy, 1);
		t->submitted++;
		n++;
		xport_submit(t->x, &r->io);
	}
	return NULL;
}

START_TEST(every_request_completes_once_while_the_connection_breaks)
{
	static struct sthr t[STRESS_THR];
	pthread_t th[STRESS_THR];
	struct xport_stats st;
	atomic_int stop = 0;
	unsigned int ok = 0, i;
	struct conn c;

	conn_start(&c, FAKE_FLAKY, true);
	c.cfg.reconnect_min_ms = 1;
	c.cfg.reconnect_max_ms = 10;
	conn_open_up(&c);
	for (i = 0; i < STRESS_THR; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].x = c.x;
		t[i].stop = &stop;
		atomic_init(&t[i].free_mask, (1 << STRESS_WIN) - 1);
		sem_init(&t[i].win, 0, STRESS_WIN);
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, stress_main, &t[i]), 0);
	}
	/* run until the connection broke a few times (bounded) */
	for (i = 0; i < 2000 && evs_get(&c.e, &c.e.down) < 3; i++)
		usleep(1000);
	atomic_store(&stop, 1);
	for (i = 0; i < STRESS_THR; i++)
		pthread_join(th[i], NULL);
	/* some requests are still in flight: close fails them */
	xport_get_stats(c.x, &st);
	xport_close(c.x);
	for (i = 0; i < STRESS_THR; i++) {
		ck_assert_uint_eq(atomic_load(&t[i].done), t[i].submitted);
		ck_assert_uint_eq(atomic_load(&t[i].twice), 0);
		ck_assert_uint_eq(atomic_load(&t[i].bad_status), 0);
		ok += atomic_load(&t[i].ok);
		sem_destroy(&t[i].win);
	}
	ck_assert_uint_gt(ok, 0);
	ck_assert_int_ge(evs_get(&c.e, &c.e.down), 1);
	ck_assert_uint_ge(st.reconnects, 1);
	fake_stop(&c.f);
}
END_TEST

/* threads of this process (the test runs in a forked child) */
static unsigned int nthreads(void)
{
	unsigned int n = 0;
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");

	ck_assert_ptr_nonnull(dir);
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* One connection per TCP loop (c[0..n-1], each as others), then c[n] (as
 * last) on c[0]'s loop, the loop with the fewest and the first of equals;
 * io timeout 300 ms. Returns n; c has room for 5. */
static unsigned int open_loopmates(struct conn *c, enum fake_mode others,
				   enum fake_mode last)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int i, n = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (unsigned int)ncpu;

	for (i = 0; i <= n; i++) {
		conn_start(&c[i], i == n ? last : others, false);
		c[i].cfg.io_timeout_ms = 300;
		conn_open(&c[i]);
		ck_assert_int_eq(xport_wait_up(c[i].x, 10000), 0);
	}
	return n;
}

static void sleepy_done(struct xport_io *io, int status)
{
	usleep(700000); /* on the loop thread: the loop is busy meanwhile */
	req_done(io, status);
}

/* A loop stalled in one connection's callback while another's reply came
 * in: the timeout scan that runs next must read that reply, not call it
 * late (the faults linkcut test saw a healthy donor reset so) */
START_TEST(a_reply_that_came_while_the_loop_was_busy_is_not_late)
{
	static struct conn c[5];
	static struct req rx, ry;
	unsigned int i, nloops = open_loopmates(c, FAKE_SERVE, FAKE_SLOW);

	req_init(&ry, XPORT_READ);
	req_init(&rx, XPORT_READ);
	rx.io.done = sleepy_done;
	xport_submit(c[nloops].x, &ry.io); /* answered at 150 ms */
	xport_submit(c[0].x, &rx.io);	   /* its done() holds the loop */
	ck_assert_int_eq(req_wait(&rx), 0);
	ck_assert_int_eq(req_wait(&ry), 0);
	for (i = 0; i <= nloops; i++)
		conn_stop(&c[i]);
}
END_TEST

/* A donor that answers every request, slowly, its queue longer than the
 * io timeout: busy, not dead. The requests at the back of the queue must
 * not be called late (the faults linkcut test saw a healthy donor, busy
 * with repair copies while another was away, reset so, and a page whose
 * other copy was on the away donor read EIO). */
START_TEST(a_busy_donor_that_keeps_answering_is_not_late)
{
	static struct req r[8];
	struct xport_stats st;
	struct conn c;
	unsigned int i;

	conn_start(&c, FAKE_SLOW, false);
	c.cfg.io_timeout_ms = 600; /* the last answer comes at 1.2 s */
	conn_open_up(&c);
	for (i = 0; i < 8; i++) {
		req_init(&r[i], XPORT_READ);
		r[i].io.off = (uint64_t)i * 2 * K4;
		xport_submit(c.x, &r[i].io);
	}
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(req_wait(&r[i]), 0);
	xport_get_stats(c.x, &st);
	ck_assert_uint_eq(st.timeouts, 0);
	conn_stop(&c);
}
END_TEST

/* A donor that answers all but one request: the answers to the others
 * keep the link alive, but the one it holds fails, at TCP_AGE_MAX io
 * timeouts. */
START_TEST(a_request_the_donor_never_answers_fails_while_others_are)
{
	static struct req first, more[40];
	struct timespec t0, t1;
	unsigned int i;
	struct conn c;
	double ms;

	conn_start(&c, FAKE_SKIP_FIRST, false);
	c.cfg.io_timeout_ms = 300;
	conn_open_up(&c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	req_init(&first, XPORT_READ);
	xport_submit(c.x, &first.io);
	/* answered ones every 50 ms, past the time the first may take */
	for (i = 0; i < 40; i++) {
		req_init(&more[i], XPORT_READ);
		more[i].io.off = (uint64_t)(i + 1) * 2 * K4;
		xport_submit(c.x, &more[i].io);
		usleep(50000);
		if (sem_trywait(&first.sem) == 0) {
			sem_post(&first.sem);
			break;
		}
	}
	ck_assert_int_eq(req_wait(&first), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* not at one io timeout: the donor was answering meanwhile */
	ck_assert_msg(ms >= 850, "failed after %.0f ms", ms);
	for (unsigned int k = 0; k <= i && k < 40; k++)
		req_wait(&more[k]); /* answered, or failed with the link */
	conn_stop(&c);
}
END_TEST

static struct xport *resubmit_to;
static struct req resubmitted;

/* A timed-out request's done() sends another to a connection of the same
 * loop, and takes long enough that a worker posts it meanwhile */
static void resubmit_done(struct xport_io *io, int status)
{
	req_init(&resubmitted, XPORT_READ);
	xport_submit(resubmit_to, &resubmitted.io);
	usleep(100000);
	req_done(io, status);
}

/* The scan's time was read before a callback of that scan sent a request
 * on a loop-mate: that request is young, not 2^64 ns old (the faults
 * linkcut test saw a read that moved from the cut donor to a healthy one
 * fail at once, and read EIO) */
START_TEST(a_request_sent_during_the_scan_is_not_late)
{
	static struct conn c[5];
	static struct req ra;
	/* c[nloops] joined c[0]'s loop last, so the loop scans it first;
	 * c[0] answers after 150 ms: not yet when the scan gets to it */
	unsigned int i, nloops = open_loopmates(c, FAKE_SLOW, FAKE_NO_REPLY);

	usleep(400000); /* c[0] idle for longer than its io timeout */
	resubmit_to = c[0].x;
	req_init(&ra, XPORT_READ);
	ra.io.done = resubmit_done;
	xport_submit(c[nloops].x, &ra.io);
	ck_assert_int_eq(req_wait(&ra), -ETIMEDOUT);
	ck_assert_int_eq(req_wait(&resubmitted), 0);
	for (i = 0; i <= nloops; i++)
		conn_stop(&c[i]);
}
END_TEST

#define MANY_CONNS 32

/* 2 threads a connection before issue 15; now the connector pool (4),
 * the loops and their deferred-submit workers ((1 + 4) x min(CPUs, 4)),
 * whatever their number */
START_TEST(many_connections_add_a_fixed_number_of_threads)
{
	static struct conn c[MANY_CONNS];
	unsigned int i, before;
	struct req r;

	for (i = 0; i < MANY_CONNS; i++)
		conn_start(&c[i], FAKE_SERVE, false);
	before = nthreads(); /* the fakes' threads and ours */
	for (i = 0; i < MANY_CONNS; i++)
		conn_open(&c[i]);
	for (i = 0; i < MANY_CONNS; i++) {
		ck_assert_int_eq(xport_wait_up(c[i].x, 10000), 0);
		ck_assert_int_eq(xport_heartbeat(c[i].x, NULL), 0);
		ck_assert_int_eq(req_do(c[i].x, &r, XPORT_WRITE), 0);
	}
	ck_assert_uint_le(nthreads(), before + 4 + (1 + 4) * 4);
	for (i = 0; i < MANY_CONNS; i++)
		conn_stop(&c[i]);
	/* the pools stop with the last connection (a joined thread leaves
	 * /proc/self/task a moment after the join) */
	for (i = 0; i < 500 && nthreads() != before - MANY_CONNS; i++)
		usleep(10000);
	ck_assert_uint_eq(nthreads(), before - MANY_CONNS);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"tcp", &(const struct cnm_tcase_opt){ .timeout = 30 },
		CNM_TESTS(
			refused_port_fails_fast_without_reconnect,
			donor_without_our_key_is_eacces_and_not_retried,
			bad_or_early_io_fails_at_submit_and_counts_an_error,
			silent_donor_times_out_the_handshake,
			close_interrupts_a_handshake_in_progress,
			reads_writes_and_control_calls_work,
			done_callback_may_resubmit_on_the_same_connection,
			evict_from_the_donor_becomes_an_event,
			garbage_from_the_donor_resets_the_connection,
			reply_to_an_unknown_id_resets_the_connection,
			error_message_from_the_donor_is_a_loss,
			unanswered_request_times_out_then_reconnects,
			close_fails_pending_requests_with_econnaborted,
			auto_falls_back_to_tcp_without_an_rdma_path,
			every_request_completes_once_while_the_connection_breaks,
			a_reply_that_came_while_the_loop_was_busy_is_not_late,
			a_busy_donor_that_keeps_answering_is_not_late,
			a_request_sent_during_the_scan_is_not_late,
			a_request_the_donor_never_answers_fails_while_others_are,
			many_connections_add_a_fixed_number_of_threads));
}
