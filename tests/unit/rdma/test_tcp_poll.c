// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of xport_poll() over TCP (rdma/tcp_poll.c, issue 17): a
 * thread that waits for its own request takes the connection's receive
 * side from the event loop, collects the replies itself and hands the
 * receive side back with no lost wake-up; where it cannot, the request
 * completes the usual way. Against the fake donor of tcp_fake.h.
 */
#include "rdma/xport.h"
#include "tests/unit/check_run.h"
#include "tests/unit/rdma/tcp_fake.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define US 1000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A request that notes the thread its done() ran on. */
struct preq {
	struct req r;
	pthread_t done_on;
};

static void preq_done(struct xport_io *io, int status)
{
	struct preq *p = (struct preq *)io;

	p->done_on = pthread_self();
	req_done(io, status);
}

static void preq_submit(struct xport *x, struct preq *p, uint8_t dir)
{
	req_init(&p->r, dir);
	p->r.io.done = preq_done;
	xport_submit(x, &p->r.io);
}

/* Up, and served by its loop: one reply came through it (the loop takes
 * a link a moment after UP; a poll before that gives up, correctly). */
static void conn_open_served(struct conn *c)
{
	struct req r;

	conn_open_up(c);
	ck_assert_int_eq(req_do(c->x, &r, XPORT_WRITE), 0);
}

START_TEST(a_poller_completes_its_own_read_on_its_own_thread)
{
	unsigned int i, mine = 0;
	struct conn c;
	struct preq p;

	conn_start(&c, FAKE_SERVE, false);
	conn_open_served(&c);
	for (i = 0; i < 100; i++) {
		preq_submit(c.x, &p, XPORT_READ);
		/* 0: done, and by this thread unless the loop, holding the
		 * claim a moment, took the reply first */
		if (!xport_poll(c.x, &p.r.calls, 20 * US))
			mine += pthread_equal(p.done_on, pthread_self()) != 0;
		ck_assert_int_eq(req_wait(&p.r), 0);
		ck_assert_uint_eq(p.r.buf[0], 0x5a);
		ck_assert_uint_eq(p.r.buf[K4 - 1], 0x5a);
	}
	/* one thread submitting: the loop is idle nearly always */
	ck_assert_uint_ge(mine, 90);
	conn_stop(&c);
}
END_TEST

START_TEST(after_a_poll_the_loop_receives_again)
{
	struct conn c;
	struct preq p;

	conn_start(&c, FAKE_SERVE, false);
	conn_open_served(&c);
	preq_submit(c.x, &p, XPORT_WRITE);
	/* a spin long enough to outlast the loop's claim of the last reply */
	ck_assert_int_eq(xport_poll(c.x, &p.r.calls, 100000 * US), 0);
	ck_assert_int_eq(req_wait(&p.r), 0);
	/* nobody polls: the loop's event must be armed again */
	preq_submit(c.x, &p, XPORT_READ);
	ck_assert_int_eq(req_wait(&p.r), 0);
	ck_assert(!pthread_equal(p.done_on, pthread_self()));
	conn_stop(&c);
}
END_TEST

START_TEST(a_poll_with_nothing_in_flight_gives_up_at_once)
{
	atomic_int never = 0;
	struct conn c;
	uint64_t t0;

	conn_start(&c, FAKE_SERVE, false);
	conn_open_served(&c);
	t0 = now_ns();
	ck_assert_int_eq(xport_poll(c.x, &never, 1000000 * US), -EAGAIN);
	/* not the 1 s spin: it saw nothing in flight (a loose bound) */
	ck_assert_uint_lt(now_ns() - t0, 500000 * US);
	conn_stop(&c);
}
END_TEST

/*
 * The poller shuts the socket down and gives the claim back: at its
 * release the socket is readable, so the loop's event, armed again, fires
 * while the poller still holds the claim, and only rx_missed gets it
 * armed once more (without it the link ends by io_timeout_ms instead,
 * -ETIMEDOUT: this test failed in 2 of 4 runs of that broken code).
 */
START_TEST(a_poller_that_receives_garbage_leaves_the_reset_to_the_loop)
{
	struct conn c;
	struct preq p;
	int round;

	conn_start(&c, FAKE_GARBAGE, true);
	c.cfg.reconnect_min_ms = 1;
	c.cfg.reconnect_max_ms = 10;
	conn_open_up(&c);
	for (round = 1; round <= 4; round++) {
		ck_assert(evs_wait(&c.e, &c.e.up, round));
		ck_assert_int_eq(xport_wait_up(c.x, 10000), 0);
		usleep(100000); /* the loop serves the link: we receive */
		preq_submit(c.x, &p, XPORT_READ);
		ck_assert_int_eq(xport_poll(c.x, &p.r.calls, 0), -EAGAIN);
		ck_assert_int_eq(req_wait(&p.r), -ECONNRESET);
		conn_went_down(&c, -EPROTO);
		ck_assert(evs_wait(&c.e, &c.e.down, round));
	}
	conn_stop(&c);
}
END_TEST

START_TEST(an_unanswered_request_polled_for_still_times_out)
{
	struct xport_stats st;
	struct conn c;
	struct preq p;

	conn_start(&c, FAKE_NO_REPLY, true);
	c.cfg.io_timeout_ms = 200;
	c.cfg.reconnect_min_ms = 20;
	c.cfg.reconnect_max_ms = 100;
	conn_open_up(&c);
	usleep(100000); /* the loop serves the link: the poller receives */
	preq_submit(c.x, &p, XPORT_WRITE);
	/* the poller blocks a bounded while, then gives up */
	ck_assert_int_eq(xport_poll(c.x, &p.r.calls, 10 * US), -EAGAIN);
	ck_assert_int_eq(req_wait(&p.r), -ETIMEDOUT);
	conn_went_down(&c, -ETIMEDOUT);
	ck_assert_int_eq(xport_wait_up(c.x, 10000), 0);
	xport_get_stats(c.x, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	conn_stop(&c);
}
END_TEST

/* ---- many threads: pollers and plain waiters on one connection ---- */

#define RACE_THR  9
#define RACE_REQS 400

struct racer {
	struct xport *x;
	unsigned int kind; /* 0: poll, no spin; 1: poll, spin; 2: wait */
	unsigned int polled, errors;
	struct preq p;
};

static void *racer_main(void *arg)
{
	struct racer *t = arg;
	unsigned int i;

	for (i = 0; i < RACE_REQS; i++) {
		preq_submit(t->x, &t->p, i & 1 ? XPORT_READ : XPORT_WRITE);
		if (t->kind < 2 &&
		    !xport_poll(t->x, &t->p.r.calls, t->kind ? 30 * US : 0))
			t->polled++;
		/* req_wait fails the test after 20 s: a lost wake-up */
		if (req_wait(&t->p.r))
			t->errors++;
	}
	return NULL;
}

START_TEST(pollers_and_the_loop_race_and_every_reply_arrives_once)
{
	static struct racer t[RACE_THR];
	pthread_t th[RACE_THR];
	unsigned int i, polled = 0;
	struct conn c;

	conn_start(&c, FAKE_SERVE, false);
	conn_open_served(&c);
	for (i = 0; i < RACE_THR; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].x = c.x;
		t[i].kind = i % 3;
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, racer_main, &t[i]), 0);
	}
	for (i = 0; i < RACE_THR; i++) {
		pthread_join(th[i], NULL);
		ck_assert_uint_eq(t[i].errors, 0);
		polled += t[i].polled;
	}
	/* the fast path was taken, and the loop still served the rest */
	ck_assert_uint_gt(polled, 0);
	conn_stop(&c);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"tcp_poll", &(const struct cnm_tcase_opt){ .timeout = 60 },
		CNM_TESTS(
			a_poller_completes_its_own_read_on_its_own_thread,
			after_a_poll_the_loop_receives_again,
			a_poll_with_nothing_in_flight_gives_up_at_once,
			a_poller_that_receives_garbage_leaves_the_reset_to_the_loop,
			an_unanswered_request_polled_for_still_times_out,
			pollers_and_the_loop_race_and_every_reply_arrives_once));
}
