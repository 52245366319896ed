// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore over XPORT_MEM donors (each its own process-local donor, wrapped
 * in the fault transport of rdma/fault.h as "fault:NAME[:SIZE]", which
 * fails or holds I/O below the store): data integrity, page allocation,
 * slab life cycle, replica placement, read fallback, backup,
 * read-after-write, backpressure. Repair, migration, add and drain:
 * test_pstore_repair.c.
 */
#include "placement/pstore.h"
#include "placement/pstore_test.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pstore_util.h"
#include "tests/unit/check_run.h"

/* -------------------------------------------------------------- tests */

START_TEST(unwritten_pages_read_as_zeros_without_io)
{
	struct pstore *ps = open_mem(0, NULL, 1, 8 * MiB, 1 * MiB, NULL);
	static char buf[3 * PSTORE_PAGE];
	uint64_t lpn[3] = { PSTORE_NOPAGE, 0, 0 };
	struct xport_stats st;

	ck_assert_int_eq(pstore_page_alloc(ps, 300, &lpn[1]), 0);
	ck_assert_int_eq(pstore_page_alloc(ps, 1000, &lpn[2]), 0);
	memset(buf, 0xa5, sizeof(buf));
	ck_assert_int_eq(io(ps, XPORT_READ, lpn, 3, buf), 0);
	ck_assert(is_zero(buf, sizeof(buf)));
	xport_get_stats(pstore_test_xport(ps, 0), &st);
	ck_assert_uint_eq(st.ios, 0);
	pstore_close(ps);
}
END_TEST

START_TEST(random_pages_read_back_what_was_written)
{
	enum { N = 3000 };
	struct pstore *ps = open_mem(0, NULL, 1, 64 * MiB, 1 * MiB, NULL);
	static uint64_t lpn[N];
	static char buf[64 * PSTORE_PAGE];
	unsigned int seed = 17;

	/* scattered hints: some runs contiguous, some not */
	for (unsigned int i = 0; i < N; i++) {
		uint64_t hint = (i % 7) ? lpn[i ? i - 1 : 0] + 1
					: (uint64_t)rand_r(&seed) % 16384;

		ck_assert_int_eq(pstore_page_alloc(ps, hint, &lpn[i]), 0);
	}
	for (unsigned int i = 0; i < N;) {
		unsigned int n = 1 + (unsigned int)rand_r(&seed) % 64;

		if (n > N - i)
			n = N - i;
		for (unsigned int k = 0; k < n; k++)
			fill(buf + k * PSTORE_PAGE, lpn[i + k], 1);
		ck_assert_int_eq(io(ps, XPORT_WRITE, &lpn[i], n, buf), 0);
		i += n;
	}
	/* read back in other groupings */
	for (unsigned int i = 0; i < N;) {
		unsigned int n = 1 + (unsigned int)rand_r(&seed) % 50;

		if (n > N - i)
			n = N - i;
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(io(ps, XPORT_READ, &lpn[i], n, buf), 0);
		for (unsigned int k = 0; k < n; k++)
			ck_assert_msg(check_page(buf + k * PSTORE_PAGE,
						 lpn[i + k], 1),
				      "page %llu differs",
				      (unsigned long long)lpn[i + k]);
		i += n;
	}
	ck_assert_uint_eq(pstore_pages_used(ps), N);
	pstore_close(ps);
}
END_TEST

START_TEST(page_alloc_prefers_hint_then_next_free_and_fails_when_full)
{
	struct pstore *ps =
		open_mem(0, NULL, 1, 16 * PSTORE_PAGE, 4 * PSTORE_PAGE, NULL);
	uint64_t p;

	ck_assert_uint_eq(pstore_pages_total(ps), 16);
	ck_assert_int_eq(pstore_page_alloc(ps, 5, &p), 0);
	ck_assert_uint_eq(p, 5);
	ck_assert_int_eq(pstore_page_alloc(ps, 5, &p), 0);
	ck_assert_uint_eq(p, 6); /* next after the hint */
	ck_assert_int_eq(pstore_page_alloc(ps, 7, &p), 0);
	ck_assert_uint_eq(p, 7);
	ck_assert_int_eq(pstore_page_alloc(ps, 15, &p), 0);
	ck_assert_uint_eq(p, 15);
	ck_assert_int_eq(pstore_page_alloc(ps, 15, &p), 0);
	ck_assert_uint_eq(p, 0); /* wraps around */
	for (int i = 0; i < 11; i++)
		ck_assert_int_eq(pstore_page_alloc(ps, PSTORE_NOPAGE, &p), 0);
	ck_assert_uint_eq(pstore_pages_used(ps), 16);
	ck_assert_int_eq(pstore_page_alloc(ps, 0, &p), -ENOSPC);
	pstore_page_free(ps, 9);
	ck_assert_uint_eq(pstore_pages_used(ps), 15);
	ck_assert_int_eq(pstore_page_alloc(ps, 2, &p), 0);
	ck_assert_uint_eq(p, 9);
	pstore_close(ps);
}
END_TEST

START_TEST(slab_is_given_back_when_all_its_pages_are_freed)
{
	/* 4 pages per slab */
	struct pstore *ps =
		open_mem(0, NULL, 1, 64 * PSTORE_PAGE, 4 * PSTORE_PAGE, NULL);
	static char buf[PSTORE_PAGE];
	uint64_t p[6];
	int tries = 0;

	for (int i = 0; i < 6; i++)
		p[i] = write_new(ps, (uint64_t)i, 2, buf);
	ck_assert_uint_eq(session_slabs(ps, 0), 2);
	for (int i = 0; i < 4; i++)
		pstore_page_free(ps, p[i]);
	/* freed by the background thread: wait for it, bounded */
	while (session_slabs(ps, 0) != 1 && tries++ < 500)
		usleep(10000);
	ck_assert_uint_eq(session_slabs(ps, 0), 1);
	/* the other slab is intact */
	ck_assert_int_eq(io1(ps, XPORT_READ, p[5], buf), 0);
	ck_assert(check_page(buf, p[5], 2));
	/* a page of the freed slab is zeros again, without a donor slab */
	ck_assert_int_eq(pstore_page_alloc(ps, 0, &p[0]), 0);
	ck_assert_uint_eq(p[0], 0);
	ck_assert_int_eq(io1(ps, XPORT_READ, p[0], buf), 0);
	ck_assert(is_zero(buf, PSTORE_PAGE));
	ck_assert_uint_eq(session_slabs(ps, 0), 1);
	/* and writing it takes a donor slab again */
	fill(buf, p[0], 3);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p[0], buf), 0);
	ck_assert_uint_eq(session_slabs(ps, 0), 2);
	pstore_close(ps);
}
END_TEST

static void spread(unsigned int *held)
{
	struct pstore *ps = open_mem(3, NULL, 2, 64 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE];

	for (uint64_t s = 0; s < 30; s++) {
		uint64_t p = write_new(ps, s * 256, 1, buf);
		unsigned int d[PSTORE_MAX_REPLICAS];
		uint32_t rs[PSTORE_MAX_REPLICAS];

		ck_assert_uint_eq(p, s * 256);
		ck_assert_int_eq(pstore_test_slab_replicas(ps, p, d, rs), 2);
		ck_assert_uint_ne(d[0], d[1]);
		held[d[0]]++;
		held[d[1]]++;
	}
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_uint_eq(session_slabs(ps, i), held[i]);
	pstore_close(ps);
}

START_TEST(replicas_land_on_distinct_donors_and_spread)
{
	unsigned int held[3] = { 0 };

	/* all criteria: every donor gets a share */
	w_other = 1;
	spread(held);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_gt(held[i], 5);
}
END_TEST

START_TEST(ranking_on_free_slabs_balances_the_donors)
{
	unsigned int held[3] = { 0 };

	/* 60 copies over 3 equal donors: the fullest never wins a tie */
	w_other = 0;
	spread(held);
	w_other = 1;
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_ge(held[i], 19);
		ck_assert_uint_le(held[i], 21);
	}
}
END_TEST

START_TEST(read_falls_back_to_the_other_replica)
{
	struct pstore *ps = open_mem(2, NULL, 2, 16 * MiB, 1 * MiB, NULL);
	static char buf[8 * PSTORE_PAGE];
	uint64_t lpn[8];

	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(pstore_page_alloc(ps, 0, &lpn[i]), 0);
		fill(buf + i * PSTORE_PAGE, lpn[i], 4);
	}
	ck_assert_int_eq(io(ps, XPORT_WRITE, lpn, 8, buf), 0);
	for (unsigned int bad = 0; bad < 2; bad++) {
		fail_donor(ps, bad, -ECONNRESET);
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(io(ps, XPORT_READ, lpn, 8, buf), 0);
		for (int i = 0; i < 8; i++)
			ck_assert(check_page(buf + i * PSTORE_PAGE, lpn[i], 4));
		fail_donor(ps, bad, 0);
	}
	pstore_close(ps);
}
END_TEST

START_TEST(every_copy_failing_reads_eio)
{
	struct pstore *ps = open_mem(2, NULL, 2, 16 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE];
	uint64_t p = write_new(ps, 0, 1, buf);

	fail_donor(ps, 0, -ETIMEDOUT);
	fail_donor(ps, 1, -ECONNRESET);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), -EIO);
	/* and a write with no copy to take it */
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), -EIO);
	fail_donor(ps, 0, 0);
	fail_donor(ps, 1, 0);
	pstore_close(ps);
}
END_TEST

START_TEST(write_failing_on_one_replica_leaves_it_stale_not_read)
{
	struct pstore *ps = open_mem(2, NULL, 2, 16 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE], json[8192];
	unsigned int d[PSTORE_MAX_REPLICAS];
	uint32_t rs[PSTORE_MAX_REPLICAS];
	uint64_t p;

	p = write_new(ps, 0, 1, buf);
	/* donor 0 misses generation 2: the write still succeeds on 1; it
	 * gives no new slab, so the repair cannot refill it */
	ck_assert_int_eq(xfault_fail(fx(ps, 0), XFAULT_ALLOC, -EIO), 0);
	ck_assert_int_eq(xfault_fail(fx(ps, 0), XFAULT_WRITE, -ECONNRESET), 0);
	fill(buf, p, 2);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), 0);
	ck_assert_int_eq(xfault_fail(fx(ps, 0), XFAULT_WRITE, 0), 0);
	ck_assert_int_eq(pstore_test_slab_replicas(ps, p, d, rs), 1);
	ck_assert_uint_eq(d[0], 1);
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"degraded_slabs\":1"));
	/* donor 0 reads again but holds old data: never read from */
	for (int i = 0; i < 20; i++) {
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
		ck_assert(check_page(buf, p, 2));
	}
	pstore_close(ps);
}
END_TEST

START_TEST(backup_serves_reads_when_every_donor_copy_is_gone)
{
	enum { N = 300 };
	char path[256], json[8192];
	struct pstore *ps;
	static uint64_t lpn[N];
	static char buf[N * PSTORE_PAGE];
	struct stat st;
	int len;

	tmp_path(path, sizeof(path), "backup");
	ps = open_mem(2, NULL, 2, 16 * MiB, 1 * MiB, path);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(
			pstore_page_alloc(ps, (uint64_t)i * 3, &lpn[i]), 0);
		fill(buf + (size_t)i * PSTORE_PAGE, lpn[i], 7);
	}
	ck_assert_int_eq(io(ps, XPORT_WRITE, lpn, N, buf), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_ge((uint64_t)st.st_blocks * 512,
			  (uint64_t)N * PSTORE_PAGE);
	fail_donor(ps, 0, -ECONNRESET);
	fail_donor(ps, 1, -ECONNRESET);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(io(ps, XPORT_READ, lpn, N, buf), 0);
	for (int i = 0; i < N; i++)
		ck_assert(check_page(buf + (size_t)i * PSTORE_PAGE, lpn[i], 7));
	/* with no donor, a write still lands on the backup */
	fill(buf, lpn[0], 8);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, lpn[0], buf), 0);
	memset(buf, 0, PSTORE_PAGE);
	ck_assert_int_eq(io1(ps, XPORT_READ, lpn[0], buf), 0);
	ck_assert(check_page(buf, lpn[0], 8));
	len = pstore_json(ps, json, sizeof(json));
	ck_assert_int_gt(len, 0);
	ck_assert_ptr_nonnull(strstr(json, path));
	/* freed pages are punched out of the file */
	for (int i = 0; i < N; i++)
		pstore_page_free(ps, lpn[i]);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_lt((uint64_t)st.st_blocks * 512,
			  (uint64_t)N * PSTORE_PAGE / 2);
	fail_donor(ps, 0, 0);
	fail_donor(ps, 1, 0);
	pstore_close(ps);
	unlink(path);
}
END_TEST

START_TEST(read_overlapping_an_in_flight_write_returns_the_new_data)
{
	struct pstore *ps = open_mem(1, NULL, 1, 16 * MiB, 1 * MiB, NULL);
	static char wbuf[4 * PSTORE_PAGE], rbuf[4 * PSTORE_PAGE];
	uint64_t lpn[4], rl[2];
	struct sreq w;

	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pstore_page_alloc(ps, 0, &lpn[i]), 0);
		fill(wbuf + i * PSTORE_PAGE, lpn[i], 1);
	}
	ck_assert_int_eq(io(ps, XPORT_WRITE, lpn, 4, wbuf), 0);
	/* generation 2 of pages 1 and 2 stays in flight */
	hold_donor(ps, 0, true);
	for (int i = 1; i < 3; i++)
		fill(wbuf + i * PSTORE_PAGE, lpn[i], 2);
	sreq_start(ps, &w, XPORT_WRITE, &lpn[1], 2, wbuf + PSTORE_PAGE);
	/* read 2..3: page 2 from the in-flight write; page 3 would need the
	 * held donor, so read only covered pages while held */
	rl[0] = lpn[2];
	rl[1] = lpn[1];
	ck_assert_int_eq(io(ps, XPORT_READ, rl, 2, rbuf), 0);
	ck_assert(check_page(rbuf, lpn[2], 2));
	ck_assert(check_page(rbuf + PSTORE_PAGE, lpn[1], 2));
	pthread_mutex_lock(&w.lock);
	ck_assert_int_eq(w.finished, 0);
	pthread_mutex_unlock(&w.lock);
	hold_donor(ps, 0, false);
	ck_assert_int_eq(sreq_wait(&w), 0);
	ck_assert_int_eq(io(ps, XPORT_READ, lpn, 4, rbuf), 0);
	ck_assert(check_page(rbuf, lpn[0], 1));
	ck_assert(check_page(rbuf + PSTORE_PAGE, lpn[1], 2));
	ck_assert(check_page(rbuf + 2 * PSTORE_PAGE, lpn[2], 2));
	ck_assert(check_page(rbuf + 3 * PSTORE_PAGE, lpn[3], 1));
	pstore_close(ps);
}
END_TEST

struct bp_arg {
	struct pstore *ps;
	uint64_t lpn;
	char *buf;
	struct sreq s;
	int submitted;
};

static void *bp_thread(void *arg)
{
	struct bp_arg *a = arg;

	sreq_start(a->ps, &a->s, XPORT_WRITE, &a->lpn, 1, a->buf);
	__atomic_store_n(&a->submitted, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

START_TEST(full_pool_makes_submit_wait_until_io_completes)
{
	static const char *const one[] = { "fault:a" };
	struct pstore_cfg cfg = { 0 };
	struct pstore *ps;
	char err[128];
	static char buf[3][PSTORE_PAGE];
	struct sreq s[2];
	uint64_t p[3];
	struct bp_arg a;
	pthread_t t;

	cfg.donors = one;
	cfg.ndonors = 1;
	cfg.transport = XPORT_MEM;
	cfg.capacity = 16 * MiB;
	cfg.slab_size = 1 * MiB;
	cfg.replicas = 1;
	cfg.max_inflight_pages = 2; /* two runs */
	cfg.seal = seal_mode;
	ck_assert_int_eq(pstore_open(&cfg, &ps, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(pstore_page_alloc(ps, (uint64_t)i * 10, &p[i]),
				 0);
		fill(buf[i], p[i], 1);
	}
	/* allocate the slab first so only the pool can block */
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p[0], buf[0]), 0);
	fill(buf[0], p[0], 1); /* a sealed write leaves ciphertext there */
	hold_donor(ps, 0, true);
	sreq_start(ps, &s[0], XPORT_WRITE, &p[0], 1, buf[0]);
	sreq_start(ps, &s[1], XPORT_WRITE, &p[1], 1, buf[1]);
	a.ps = ps;
	a.lpn = p[2];
	a.buf = buf[2];
	a.submitted = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, bp_thread, &a), 0);
	usleep(100000);
	/* still blocked: both pool entries are held by parked ios */
	ck_assert_int_eq(__atomic_load_n(&a.submitted, __ATOMIC_SEQ_CST), 0);
	hold_donor(ps, 0, false);
	ck_assert_int_eq(sreq_wait(&s[0]), 0);
	ck_assert_int_eq(sreq_wait(&s[1]), 0);
	pthread_join(t, NULL);
	/* its io may have been parked too if it raced the release */
	hold_donor(ps, 0, false);
	ck_assert_int_eq(sreq_wait(&a.s), 0);
	for (int i = 0; i < 3; i++) {
		char rb[PSTORE_PAGE];

		ck_assert_int_eq(io1(ps, XPORT_READ, p[i], rb), 0);
		ck_assert(check_page(rb, p[i], 1));
	}
	pstore_close(ps);
}
END_TEST

START_TEST(full_donor_is_skipped_and_all_full_is_enospc)
{
	static const char *const names[] = { "fault:small:1M", "fault:big:4M" };
	struct pstore *ps = open_mem(2, names, 1, 16 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE];
	uint64_t p;

	/* 5 slabs fit (1 + 4); the sixth has nowhere to go */
	for (uint64_t s = 0; s < 5; s++)
		write_new(ps, s * 256, 1, buf);
	ck_assert_uint_eq(session_slabs(ps, 0), 1);
	ck_assert_uint_eq(session_slabs(ps, 1), 4);
	ck_assert_int_eq(pstore_page_alloc(ps, 5 * 256, &p), 0);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), -ENOSPC);
	/* a read of that page is zeros, the others are intact */
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
	ck_assert(is_zero(buf, PSTORE_PAGE));
	ck_assert_int_eq(io1(ps, XPORT_READ, 4 * 256, buf), 0);
	ck_assert(check_page(buf, 4 * 256, 1));
	pstore_close(ps);
}
END_TEST

START_TEST(open_fails_clearly_with_fewer_donors_than_replicas)
{
	struct pstore_cfg cfg = { 0 };
	struct pstore *ps = NULL;
	char err[256];
	int ret;

	cfg.transport = XPORT_MEM;
	cfg.capacity = 16 * MiB;
	cfg.slab_size = 1 * MiB;
	cfg.replicas = 2;
	ret = pstore_open(&cfg, &ps, err, sizeof(err));
	ck_assert_int_lt(ret, 0);
	ck_assert_ptr_null(ps);
	ck_assert_msg(strstr(err, "1 of 1 donors reachable, 2 needed"), "%s",
		      err);
	cfg.replicas = PSTORE_MAX_REPLICAS + 1;
	ck_assert_int_eq(pstore_open(&cfg, &ps, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(json_names_every_donor_and_refuses_a_short_buffer)
{
	struct pstore *ps = open_mem(3, NULL, 2, 16 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE], json[16384];
	int len;

	write_new(ps, 0, 1, buf);
	len = pstore_json(ps, json, sizeof(json));
	ck_assert_int_gt(len, 0);
	ck_assert_uint_eq(strlen(json), (size_t)len);
	ck_assert_ptr_nonnull(strstr(json, "\"slab_size\":1048576"));
	ck_assert_ptr_nonnull(strstr(json, "\"replicas\":2"));
	ck_assert_ptr_nonnull(strstr(json, "\"slabs\":1,"));
	ck_assert_ptr_nonnull(strstr(json, "\"addr\":\"fault:a\""));
	ck_assert_ptr_nonnull(strstr(json, "\"addr\":\"fault:c\""));
	ck_assert_ptr_nonnull(
		strstr(json, "\"ops_per_post\":{\"le\":[1,3,7,15,"));
	ck_assert_ptr_nonnull(strstr(json, "\"lost_pages\":0,"));
	ck_assert_ptr_nonnull(strstr(json, "\"write_posts\":"));
	ck_assert_ptr_nonnull(strstr(json, "\"backup\":null"));
	ck_assert_int_eq(pstore_json(ps, json, 40), -ENOSPC);
	pstore_close(ps);
}
END_TEST

struct cw_arg {
	struct pstore *ps;
	unsigned int id;
	int errors;
};

static void *cw_thread(void *arg)
{
	enum { PER = 640 };
	struct cw_arg *a = arg;
	static __thread uint64_t lpn[PER];
	static __thread char buf[16 * PSTORE_PAGE];
	unsigned int seed = a->id;

	for (unsigned int i = 0; i < PER; i++)
		if (pstore_page_alloc(a->ps, (uint64_t)rand_r(&seed) % 8192,
				      &lpn[i]))
			a->errors++;
	for (unsigned int i = 0; i < PER; i += 16) {
		for (unsigned int k = 0; k < 16; k++)
			fill(buf + k * PSTORE_PAGE, lpn[i + k], a->id);
		if (io(a->ps, XPORT_WRITE, &lpn[i], 16, buf))
			a->errors++;
	}
	for (unsigned int i = 0; i < PER; i += 8) {
		if (io(a->ps, XPORT_READ, &lpn[i], 8, buf))
			a->errors++;
		for (unsigned int k = 0; k < 8; k++)
			if (!check_page(buf + k * PSTORE_PAGE, lpn[i + k],
					a->id))
				a->errors++;
	}
	return NULL;
}

START_TEST(concurrent_writers_on_two_replicas_read_back_their_own_data)
{
	struct pstore *ps = open_mem(3, NULL, 2, 32 * MiB, 1 * MiB, NULL);
	pthread_t t[4];
	struct cw_arg a[4];

	for (unsigned int i = 0; i < 4; i++) {
		a[i].ps = ps;
		a[i].id = i + 1;
		a[i].errors = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, cw_thread, &a[i]),
				 0);
	}
	for (unsigned int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].errors, 0);
	}
	ck_assert_uint_eq(pstore_pages_used(ps), 4 * 640);
	pstore_close(ps);
}
END_TEST

int main(void)
{
	return pstore_check_main(
		"pstore",
		CNM_TESTS(
			unwritten_pages_read_as_zeros_without_io,
			random_pages_read_back_what_was_written,
			page_alloc_prefers_hint_then_next_free_and_fails_when_full,
			slab_is_given_back_when_all_its_pages_are_freed,
			replicas_land_on_distinct_donors_and_spread,
			ranking_on_free_slabs_balances_the_donors,
			read_falls_back_to_the_other_replica,
			every_copy_failing_reads_eio,
			write_failing_on_one_replica_leaves_it_stale_not_read,
			backup_serves_reads_when_every_donor_copy_is_gone,
			read_overlapping_an_in_flight_write_returns_the_new_data,
			full_pool_makes_submit_wait_until_io_completes,
			full_donor_is_skipped_and_all_full_is_enospc,
			open_fails_clearly_with_fewer_donors_than_replicas,
			json_names_every_donor_and_refuses_a_short_buffer,
			concurrent_writers_on_two_replicas_read_back_their_own_data));
}
