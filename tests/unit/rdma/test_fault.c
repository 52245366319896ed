// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the test-only fault transport (rdma/fault.h) over
 * XPORT_MEM: it passes everything through until told, fails each kind of
 * call with the errno asked for, holds I/O and releases it in order,
 * breaks and restores the connection with the events a real transport
 * emits, and counts what it failed in the stats.
 */
#include "rdma/fault.h"
#include "rdma/xport.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K4 4096u

struct rec {
	struct xport_io io;
	atomic_int calls, status;
	atomic_int *order; /* completion order, shared */
	atomic_int seq;
};

static void rec_done(struct xport_io *io, int status)
{
	struct rec *r = (struct rec *)io;

	atomic_store(&r->status, status);
	if (r->order)
		atomic_store(&r->seq, atomic_fetch_add(r->order, 1));
	atomic_fetch_add(&r->calls, 1);
}

static void rec_init(struct rec *r, uint8_t dir, uint32_t slab, uint64_t off,
		     void *buf, atomic_int *order)
{
	memset(r, 0, sizeof(*r));
	r->io.dir = dir;
	r->io.slab = slab;
	r->io.off = off;
	r->io.len = K4;
	r->io.buf = buf;
	r->io.done = rec_done;
	r->order = order;
}

/* Waits until r completed (mem completes in the batch leader). */
static int rec_wait(struct rec *r)
{
	for (int i = 0; !atomic_load(&r->calls) && i < 2000; i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&r->calls), 1);
	return atomic_load(&r->status);
}

static int one(struct xport *x, uint8_t dir, uint32_t slab, void *buf)
{
	struct rec r;

	rec_init(&r, dir, slab, 0, buf, NULL);
	xport_submit(x, &r.io);
	return rec_wait(&r);
}

struct evlog {
	atomic_int up, down, evict, last_error;
	atomic_uint last_slab;
	struct xport *x;
};

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct evlog *l = arg;

	ck_assert_ptr_eq(x, l->x);
	switch (ev->type) {
	case XPORT_EV_UP:
		atomic_fetch_add(&l->up, 1);
		break;
	case XPORT_EV_DOWN:
		atomic_store(&l->last_error, ev->error);
		atomic_fetch_add(&l->down, 1);
		break;
	case XPORT_EV_EVICT:
		atomic_store(&l->last_slab, ev->slab);
		atomic_fetch_add(&l->evict, 1);
		break;
	}
}

static struct xport *open_fault_ms(struct evlog *l, unsigned int io_ms,
				   unsigned int ctl_ms)
{
	struct xport_cfg cfg = { .kind = XPORT_MEM,
				 .host = "fault:t",
				 .slab_size = 1 << 20,
				 .mem_bytes = 4 << 20,
				 .io_timeout_ms = io_ms,
				 .ctl_timeout_ms = ctl_ms,
				 .event = l ? on_event : NULL,
				 .event_arg = l };
	struct xport *x;

	/* through the wrapped xport_open(), as the page store opens it */
	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	ck_assert(xfault_is(x));
	if (l)
		l->x = x;
	return x;
}

static struct xport *open_fault(struct evlog *l)
{
	return open_fault_ms(l, 0, 0);
}

START_TEST(with_no_fault_every_call_reaches_the_inner_transport)
{
	struct xport *x = open_fault(NULL);
	static char w[K4], r[K4];
	struct xport_slab s;
	struct wire_state st;
	struct xport_stats xs;

	ck_assert_int_eq(xport_wait_up(x, 100), 0);
	ck_assert_int_eq(xport_alloc(x, &s), 0);
	memset(w, 0x5a, sizeof(w));
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, w), 0);
	ck_assert_int_eq(one(x, XPORT_READ, s.slab, r), 0);
	ck_assert_mem_eq(r, w, K4);
	ck_assert_int_eq(xport_query(x, &st), 0);
	ck_assert_uint_eq(st.session_slabs, 1);
	ck_assert_str_eq(xport_peer(x), "fault:t");
	xport_get_stats(x, &xs);
	ck_assert_int_eq(xs.kind, XPORT_MEM);
	ck_assert_int_eq(xs.state, XPORT_UP);
	ck_assert_uint_eq(xs.ios, 2);
	ck_assert_uint_eq(xs.errors, 0);
	ck_assert_int_eq(xport_free(x, s.slab), 0);
	xport_close(x);
}
END_TEST

START_TEST(a_failed_kind_of_call_fails_with_its_errno_and_the_rest_work)
{
	struct xport *x = open_fault(NULL);
	static char buf[K4];
	struct xport_slab s;
	struct wire_state st;
	struct xport_stats xs;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	ck_assert_int_eq(xfault_fail(x, XFAULT_READ, -ETIMEDOUT), 0);
	ck_assert_int_eq(one(x, XPORT_READ, s.slab, buf), -ETIMEDOUT);
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, buf), 0);
	ck_assert_int_eq(xfault_fail(x, XFAULT_WRITE, -ECONNRESET), 0);
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, buf), -ECONNRESET);
	ck_assert_int_eq(xfault_fail(x, XFAULT_ALLOC | XFAULT_QUERY, -ENOSPC),
			 0);
	ck_assert_int_eq(xport_alloc(x, &s), -ENOSPC);
	ck_assert_int_eq(xport_query(x, &st), -ENOSPC);
	ck_assert_int_eq(xport_heartbeat(x, NULL), 0);
	xport_get_stats(x, &xs);
	ck_assert_uint_eq(xs.ios, 3);
	ck_assert_uint_eq(xs.errors, 2);
	/* healed */
	ck_assert_int_eq(xfault_fail(x, XFAULT_ALL, 0), 0);
	ck_assert_int_eq(one(x, XPORT_READ, s.slab, buf), 0);
	ck_assert_int_eq(xport_query(x, &st), 0);
	/* bad requests */
	ck_assert_int_eq(xfault_fail(x, XFAULT_READ, EIO), -EINVAL);
	ck_assert_int_eq(xfault_fail(x, 1u << 20, -EIO), -EINVAL);
	xport_close(x);
}
END_TEST

START_TEST(held_io_completes_only_when_released_and_in_submission_order)
{
	enum { N = 6 };
	struct xport *x = open_fault(NULL);
	static char buf[N][K4], r[K4];
	struct rec w[N];
	struct xport_slab s;
	atomic_int order = 0;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	ck_assert_int_eq(xfault_hold(x, true), 0);
	/* N writes to one place: the last one submitted must win */
	for (int i = 0; i < N; i++) {
		memset(buf[i], 'a' + i, K4);
		rec_init(&w[i], XPORT_WRITE, s.slab, 0, buf[i], &order);
	}
	xport_submit(x, &w[0].io);
	w[1].io.next = &w[2].io;
	xport_submit_chain(x, &w[1].io);
	for (int i = 3; i < N; i++)
		xport_submit(x, &w[i].io);
	usleep(20000);
	ck_assert_uint_eq(xfault_held(x), N);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(atomic_load(&w[i].calls), 0);
	ck_assert_int_eq(xfault_hold(x, false), 0);
	ck_assert_uint_eq(xfault_held(x), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(rec_wait(&w[i]), 0);
		ck_assert_int_eq(atomic_load(&w[i].seq), i);
	}
	ck_assert_int_eq(one(x, XPORT_READ, s.slab, r), 0);
	ck_assert_mem_eq(r, buf[N - 1], K4);
	xport_close(x);
}
END_TEST

/* Allocates s, starts a hold and submits r, a read of s's first page into
 * buf, which the hold keeps. */
static void submit_held(struct xport *x, struct xport_slab *s, struct rec *r,
			char *buf)
{
	ck_assert_int_eq(xport_alloc(x, s), 0);
	ck_assert_int_eq(xfault_hold(x, true), 0);
	rec_init(r, XPORT_READ, s->slab, 0, buf, NULL);
	xport_submit(x, &r->io);
}

START_TEST(a_break_fails_held_io_says_down_and_a_restore_says_up)
{
	struct evlog l = { 0 };
	struct xport *x = open_fault(&l);
	static char buf[K4];
	struct xport_slab s;
	struct xport_stats xs;
	struct rec held;

	submit_held(x, &s, &held, buf);
	ck_assert_int_eq(xfault_break(x, -ECONNRESET), 0);
	ck_assert_int_eq(xfault_break(x, -ECONNRESET), -EALREADY);
	/* what was pending fails with the reason, once */
	ck_assert_int_eq(rec_wait(&held), -ECONNRESET);
	ck_assert_int_eq(atomic_load(&l.down), 1);
	ck_assert_int_eq(atomic_load(&l.last_error), -ECONNRESET);
	ck_assert_int_eq(xport_state(x), XPORT_DOWN);
	/* while down: nothing reaches the donor */
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, buf), -ENOTCONN);
	ck_assert_int_eq(xport_alloc(x, &s), -ENOTCONN);
	ck_assert_int_eq(xport_heartbeat(x, NULL), -ENOTCONN);
	ck_assert_int_eq(xport_wait_up(x, 10), -ECONNRESET);
	xport_get_stats(x, &xs);
	ck_assert_int_eq(xs.state, XPORT_DOWN);
	ck_assert_uint_eq(xs.errors, 2);
	ck_assert_int_eq(xfault_restore(x), 0);
	ck_assert_int_eq(xfault_restore(x), -EALREADY);
	ck_assert_int_eq(atomic_load(&l.up), 1);
	ck_assert_int_eq(xport_state(x), XPORT_UP);
	/* a break does not end a hold */
	ck_assert_int_eq(xfault_hold(x, false), 0);
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, buf), 0);
	xport_get_stats(x, &xs);
	ck_assert_uint_eq(xs.reconnects, 1);
	ck_assert_int_eq(xfault_evict(x, 7, 100), 0);
	ck_assert_int_eq(atomic_load(&l.evict), 1);
	ck_assert_uint_eq(atomic_load(&l.last_slab), 7);
	xport_close(x);
}
END_TEST

static uint64_t ms_since(struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000 +
	       (uint64_t)(t.tv_nsec - t0->tv_nsec) / 1000000;
}

START_TEST(a_hung_donor_times_out_goes_down_and_reconnects_when_it_answers)
{
	struct evlog l = { 0 };
	struct xport *x = open_fault_ms(&l, 300, 100);
	static char buf[K4], back[K4];
	struct xport_slab s;
	struct xport_stats xs;
	struct timespec t0;
	struct rec r;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, buf), 0);
	ck_assert_int_eq(xfault_hang(x, true), 0);
	ck_assert_int_eq(xfault_hang(x, true), -EALREADY);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rec_init(&r, XPORT_READ, s.slab, 0, back, NULL);
	xport_submit(x, &r.io);
	/* connected, but nothing answers: a control call gives up */
	ck_assert_int_eq(xport_state(x), XPORT_UP);
	ck_assert_int_eq(xport_heartbeat(x, NULL), -ETIMEDOUT);
	ck_assert_uint_ge(ms_since(&t0), 100);
	ck_assert_int_eq(atomic_load(&r.calls), 0);
	/* io_timeout_ms after the read: the connection is declared dead */
	ck_assert_int_eq(rec_wait(&r), -ETIMEDOUT);
	ck_assert_uint_ge(ms_since(&t0), 300);
	ck_assert_int_eq(atomic_load(&l.down), 1);
	ck_assert_int_eq(atomic_load(&l.last_error), -ETIMEDOUT);
	ck_assert_int_eq(xport_state(x), XPORT_DOWN);
	ck_assert_int_eq(one(x, XPORT_WRITE, s.slab, buf), -ENOTCONN);
	ck_assert_int_eq(xport_heartbeat(x, NULL), -ENOTCONN);
	xport_get_stats(x, &xs);
	ck_assert_uint_eq(xs.timeouts, 1);
	ck_assert_uint_eq(xs.errors, 2);
	ck_assert_uint_eq(xs.reconnects, 0);
	/* it answers again: reconnected, its memory as it was */
	ck_assert_int_eq(xfault_hang(x, false), 0);
	ck_assert_int_eq(xfault_hang(x, false), -EALREADY);
	ck_assert_int_eq(atomic_load(&l.up), 1);
	ck_assert_int_eq(xport_state(x), XPORT_UP);
	ck_assert_int_eq(one(x, XPORT_READ, s.slab, back), 0);
	ck_assert(!memcmp(buf, back, sizeof(buf)));
	xport_get_stats(x, &xs);
	ck_assert_uint_eq(xs.reconnects, 1);
	xport_close(x);
}
END_TEST

START_TEST(a_hang_shorter_than_the_io_timeout_only_delays)
{
	struct evlog l = { 0 };
	struct xport *x = open_fault_ms(&l, 5000, 5000);
	static char buf[K4];
	struct xport_slab s;
	struct rec r;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	ck_assert_int_eq(xfault_hang(x, true), 0);
	rec_init(&r, XPORT_WRITE, s.slab, 0, buf, NULL);
	xport_submit(x, &r.io);
	usleep(50000);
	ck_assert_int_eq(atomic_load(&r.calls), 0);
	ck_assert_uint_eq(xfault_held(x), 1);
	ck_assert_int_eq(xfault_hang(x, false), 0);
	ck_assert_int_eq(rec_wait(&r), 0);
	ck_assert_int_eq(atomic_load(&l.down), 0);
	ck_assert_int_eq(atomic_load(&l.up), 0);
	/* and a close while hung ends the hang and fails what waits */
	ck_assert_int_eq(xfault_hang(x, true), 0);
	rec_init(&r, XPORT_WRITE, s.slab, 0, buf, NULL);
	xport_submit(x, &r.io);
	xport_close(x);
	ck_assert_int_eq(atomic_load(&r.status), -ECONNABORTED);
}
END_TEST

START_TEST(close_fails_what_is_still_held)
{
	struct xport *x = open_fault(NULL);
	static char buf[K4];
	struct xport_slab s;
	struct rec r;

	submit_held(x, &s, &r, buf);
	xport_close(x);
	ck_assert_int_eq(atomic_load(&r.calls), 1);
	ck_assert_int_eq(atomic_load(&r.status), -ECONNABORTED);
}
END_TEST

START_TEST(only_fault_donors_are_wrapped_unless_asked)
{
	struct xport_cfg cfg = { .kind = XPORT_MEM,
				 .host = "mem:plain",
				 .slab_size = 1 << 20,
				 .mem_bytes = 1 << 20 };
	struct xport *x;

	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	ck_assert(!xfault_is(x));
	ck_assert_int_eq(xfault_hold(x, true), -EINVAL);
	ck_assert_ptr_null(xfault_inner(x));
	xport_close(x);
	xfault_wrap_all(true);
	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	xfault_wrap_all(false);
	ck_assert(xfault_is(x));
	ck_assert_ptr_nonnull(xfault_inner(x));
	ck_assert(!xfault_is(xfault_inner(x)));
	xport_close(x);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"fault transport",
		&(const struct cnm_tcase_opt){ .timeout = 30 },
		CNM_TESTS(
			with_no_fault_every_call_reaches_the_inner_transport,
			a_failed_kind_of_call_fails_with_its_errno_and_the_rest_work,
			held_io_completes_only_when_released_and_in_submission_order,
			a_break_fails_held_io_says_down_and_a_restore_says_up,
			close_fails_what_is_still_held,
			a_hung_donor_times_out_goes_down_and_reconnects_when_it_answers,
			a_hang_shorter_than_the_io_timeout_only_delays,
			only_fault_donors_are_wrapped_unless_asked));
}
