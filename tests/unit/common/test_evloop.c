// SPDX-License-Identifier: GPL-2.0-or-later
/* The event loops (common/evloop.h): wake, sources, deadlines,
 * and no thread left after stop. */
#include "common/evloop.h"

#include "common/clock.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <unistd.h>

struct rec {
	atomic_int woken[2];
	atomic_int ready;
	atomic_int expired;
	atomic_ullong expired_at;
	uint64_t want_at;
	atomic_int after;
};

static void on_wake(struct evl *l, void *arg)
{
	struct rec *r = arg;

	atomic_fetch_add(&r->woken[evl_index(l)], 1);
	if (r->want_at)
		evl_deadline(l, r->want_at);
}

static uint64_t on_expire(struct evl *l, void *arg, uint64_t now)
{
	struct rec *r = arg;

	(void)l;
	if (r->want_at && now >= r->want_at) {
		atomic_store(&r->expired_at, now);
		atomic_fetch_add(&r->expired, 1);
		r->want_at = 0;
	}
	return EVL_NEVER;
}

static void on_after(struct evl *l, void *arg)
{
	struct rec *r = arg;

	(void)l;
	atomic_fetch_add(&r->after, 1);
}

static const struct evloop_ops ops = {
	.wake = on_wake,
	.expire = on_expire,
	.after = on_after,
};

/* Polls cond for up to 5 s: a bound on a hang, not a timing check. */
#define WAIT_FOR(cond)                                                         \
	do {                                                                   \
		for (int i_ = 0; i_ < 500 && !(cond); i_++)                    \
			usleep(10000);                                         \
		ck_assert(cond);                                               \
	} while (0)

static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(wake_runs_on_the_loop_woken)
{
	static struct rec r;
	struct evloop *ev;

	ck_assert_int_eq(evloop_start(2, "t", &ops, &r, &ev), 0);
	ck_assert_uint_eq(evloop_size(ev), 2);
	evl_wake(evloop_get(ev, 1));
	WAIT_FOR(atomic_load(&r.woken[1]) == 1);
	ck_assert_int_eq(atomic_load(&r.woken[0]), 0);
	evloop_stop(ev);
}
END_TEST

static struct rec src_rec;

static void src_ready(struct evl_src *s, uint32_t events)
{
	char c;

	ck_assert(events & EPOLLIN);
	ck_assert_int_eq(read(s->fd, &c, 1), 1);
	atomic_fetch_add(&src_rec.ready, 1);
}

START_TEST(a_ready_source_is_called_and_after_follows)
{
	struct evl_src s = { .ready = src_ready };
	struct evloop *ev;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	s.fd = p[0];
	ck_assert_int_eq(evloop_start(1, "t", &ops, &src_rec, &ev), 0);
	ck_assert_int_eq(evl_add(evloop_get(ev, 0), &s, EPOLLIN), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	WAIT_FOR(atomic_load(&src_rec.ready) == 1);
	WAIT_FOR(atomic_load(&src_rec.after) >= 1);
	evloop_stop(ev);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(expire_runs_once_its_deadline_passed)
{
	static struct rec r;
	struct evloop *ev;
	uint64_t at = mono_ns() + 50000000ull;

	r.want_at = at;
	ck_assert_int_eq(evloop_start(1, "t", &ops, &r, &ev), 0);
	evl_wake(evloop_get(ev, 0)); /* sets the deadline on the loop */
	WAIT_FOR(atomic_load(&r.expired) == 1);
	ck_assert_uint_ge(atomic_load(&r.expired_at), at);
	evloop_stop(ev);
}
END_TEST

START_TEST(stop_leaves_no_thread)
{
	static struct rec r;
	struct evloop *ev;
	int before = threads();

	ck_assert_int_eq(evloop_start(4, "t", &ops, &r, &ev), 0);
	ck_assert_int_eq(threads(), before + 4);
	evloop_stop(ev);
	/* a joined thread leaves /proc/self/task a moment after the join */
	WAIT_FOR(threads() == before);
	ck_assert_int_eq(evloop_start(0, "t", &ops, &r, &ev), -EINVAL);
}
END_TEST

START_TEST(wake_after_join_is_harmless_until_stop)
{
	static struct rec r;
	struct evloop *ev;
	int before = threads();

	ck_assert_int_eq(evloop_start(2, "t", &ops, &r, &ev), 0);
	evloop_join(ev);
	WAIT_FOR(threads() == before);
	/* a listener's connection queued an EVICT while it closes */
	evl_wake(evloop_get(ev, 1));
	ck_assert_int_eq(atomic_load(&r.woken[1]), 0);
	evloop_stop(ev);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"evloop", NULL,
		CNM_TESTS(wake_runs_on_the_loop_woken,
			  a_ready_source_is_called_and_after_follows,
			  expire_runs_once_its_deadline_passed,
			  stop_leaves_no_thread,
			  wake_after_join_is_harmless_until_stop));
}
