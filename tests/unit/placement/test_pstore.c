// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore over XPORT_MEM donors (each its own process-local donor, wrapped in
 * the fault transport of rdma/fault.h as "fault:NAME[:SIZE]", which fails,
 * holds or evicts below the store): data integrity, page allocation, slab life cycle, replica
 * placement, read fallback, backup, read-after-write, backpressure.
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

/* Reads every page with each donor from first on failing in turn: every
 * live replica (and nothing stale) holds gen[i]. */
static void verify_each_donor_alone_missing(struct pstore *ps,
					    const uint64_t *lpn,
					    const uint32_t *gen, unsigned int n,
					    unsigned int first)
{
	static char buf[PSTORE_PAGE];

	for (unsigned int d = first; d < pstore_test_ndonors(ps); d++) {
		fail_donor(ps, d, -ECONNRESET);
		for (unsigned int i = 0; i < n; i++) {
			ck_assert_int_eq(io1(ps, XPORT_READ, lpn[i], buf), 0);
			ck_assert_msg(check_page(buf, lpn[i], gen[i]),
				      "page %llu wrong without donor %u",
				      (unsigned long long)lpn[i], d);
		}
		fail_donor(ps, d, 0);
	}
}

static int degraded(struct pstore *ps)
{
	static char json[16384];
	const char *p;

	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	p = strstr(json, "\"degraded_slabs\":");
	ck_assert_ptr_nonnull(p);
	return atoi(p + strlen("\"degraded_slabs\":"));
}

static void wait_repaired(struct pstore *ps)
{
	for (int tries = 0; degraded(ps) && tries < 1000; tries++)
		usleep(10000);
	ck_assert_int_eq(degraded(ps), 0);
}

/* Writes gen 1 to lpn[0..n), then gen 2 with donor 0 failing: the slabs
 * with a copy there are degraded, and stay so (no_new_copies()) until the
 * caller lets the repair place copies again. */
static void degrade(struct pstore *ps, const uint64_t *lpn, uint32_t *gen,
		    unsigned int n)
{
	write_all(ps, lpn, gen, n, 1);
	no_new_copies(ps, true);
	fail_donor(ps, 0, -ECONNRESET);
	write_all(ps, lpn, gen, n, 2);
	fail_donor(ps, 0, 0);
	ck_assert_int_gt(degraded(ps), 0);
}

static void check_full_replication(struct pstore *ps, const uint64_t *lpn,
				   unsigned int n, int r)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned int d[PSTORE_MAX_REPLICAS];
		uint32_t rs[PSTORE_MAX_REPLICAS];

		ck_assert_int_eq(pstore_test_slab_replicas(ps, lpn[i], d, rs),
				 r);
		if (r == 2)
			ck_assert_uint_ne(d[0], d[1]);
	}
}

START_TEST(degraded_slabs_are_repaired_from_a_survivor)
{
	enum { N = 120 };
	struct pstore *ps = open_mem(3, NULL, 2, 64 * MiB, 1 * MiB, NULL);
	static uint64_t lpn[N];
	static uint32_t gen[N];

	alloc_all(ps, lpn, N, 1, 97);
	degrade(ps, lpn, gen, N);
	no_new_copies(ps, false);
	wait_repaired(ps);
	check_full_replication(ps, lpn, N, 2);
	verify_each_donor_alone_missing(ps, lpn, gen, N, 0);
	pstore_close(ps);
}
END_TEST

struct rw_arg {
	struct pstore *ps;
	uint64_t *lpn;
	uint32_t *gen;
	unsigned int n, id, nthreads;
	atomic_int *stop;
	int errors;
};

/* Rewrites its own share of the pages (i % nthreads == id) until told. */
static void *rewriter(void *arg)
{
	struct rw_arg *a = arg;
	char buf[PSTORE_PAGE];
	unsigned int seed = a->id + 5, i;

	while (!atomic_load(a->stop)) {
		i = (unsigned int)rand_r(&seed) % a->n;
		i -= i % a->nthreads;
		i += a->id;
		if (i >= a->n)
			continue;
		fill(buf, a->lpn[i], a->gen[i] + 1);
		if (io1(a->ps, XPORT_WRITE, a->lpn[i], buf))
			a->errors++;
		else
			a->gen[i]++;
	}
	return NULL;
}

START_TEST(writes_during_a_repair_reach_the_new_replica)
{
	enum { SLABS = 12, PER = 16, N = SLABS * PER, T = 3 };
	/* 4 MiB slabs; the writes hit the first chunk of each, which the
	 * repair copies first: a copy racing a write would lose it */
	struct pstore *ps = open_mem(3, NULL, 2, 64 * MiB, 4 * MiB, NULL);
	static uint64_t lpn[N];
	static uint32_t gen[N];
	struct rw_arg a[T];
	pthread_t t[T];
	atomic_int stop = 0;

	alloc_all(ps, lpn, N, PER, 1024);
	for (unsigned int i = 0; i < N; i++)
		ck_assert_uint_eq(lpn[i], (uint64_t)(i / PER) * 1024 + i % PER);
	degrade(ps, lpn, gen, N);
	for (unsigned int k = 0; k < T; k++) {
		a[k] = (struct rw_arg){ ps, lpn, gen, N, k, T, &stop, 0 };
		ck_assert_int_eq(pthread_create(&t[k], NULL, rewriter, &a[k]),
				 0);
	}
	no_new_copies(ps, false);
	wait_repaired(ps);
	atomic_store(&stop, 1);
	for (unsigned int k = 0; k < T; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(a[k].errors, 0);
	}
	check_full_replication(ps, lpn, N, 2);
	verify_each_donor_alone_missing(ps, lpn, gen, N, 0);
	pstore_close(ps);
}
END_TEST

struct w1_arg {
	struct pstore *ps;
	uint64_t lpn;
	char buf[PSTORE_PAGE];
	int status;
};

static void *write_one(void *arg)
{
	struct w1_arg *a = arg;

	a->status = io1(a->ps, XPORT_WRITE, a->lpn, a->buf);
	return NULL;
}

START_TEST(a_write_racing_the_repair_copy_is_not_overwritten)
{
	/* donors 0 (live copy, the source) and 1 (stale, then refilled) */
	struct pstore *ps = open_mem(2, NULL, 2, 16 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE];
	struct w1_arg w = { .ps = ps };
	unsigned int d[PSTORE_MAX_REPLICAS];
	uint32_t rs[PSTORE_MAX_REPLICAS];
	pthread_t t;
	uint64_t p;

	p = write_new(ps, 0, 1, buf);
	no_new_copies(ps, true);
	fail_donor(ps, 1, -ECONNRESET);
	fill(buf, p, 2);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), 0);
	fail_donor(ps, 1, 0);
	/* the copy's first read from donor 0 stays held */
	hold_donor(ps, 0, true);
	no_new_copies(ps, false);
	for (int i = 0; xfault_held(fx(ps, 0)) == 0 && i < 1000; i++)
		usleep(5000);
	ck_assert_uint_eq(xfault_held(fx(ps, 0)), 1);
	/* generation 3 of page 0 arrives while the copy is in progress */
	w.lpn = p;
	fill(w.buf, p, 3);
	ck_assert_int_eq(pthread_create(&t, NULL, write_one, &w), 0);
	usleep(50000);
	hold_donor(ps, 0, false);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.status, 0);
	wait_repaired(ps);
	ck_assert_int_eq(pstore_test_slab_replicas(ps, p, d, rs), 2);
	/* the new replica alone must hold generation 3 */
	read_without(ps, 0, p, 3, buf);
	pstore_close(ps);
}
END_TEST

START_TEST(a_slab_left_only_on_the_backup_is_copied_to_a_donor)
{
	enum { N = 60 };
	char path[256];
	struct pstore *ps;
	static uint64_t lpn[N];

	tmp_path(path, sizeof(path), "repair");
	ps = open_mem(2, NULL, 1, 16 * MiB, 1 * MiB, path);
	alloc_all(ps, lpn, N, 1, 61);
	write_all(ps, lpn, NULL, N, 1);
	no_new_copies(ps, true);
	/* both donors miss gen 2: only the backup has it */
	fail_donor(ps, 0, -EIO);
	fail_donor(ps, 1, -EIO);
	write_all(ps, lpn, NULL, N, 2);
	fail_donor(ps, 0, 0);
	fail_donor(ps, 1, 0);
	ck_assert_int_gt(degraded(ps), 0);
	no_new_copies(ps, false);
	wait_repaired(ps);
	check_full_replication(ps, lpn, N, 1);
	/* reads go to the new donor copies first */
	read_all(ps, lpn, N, 2);
	pstore_close(ps);
	unlink(path);
}
END_TEST

static void wait_session_slabs(struct pstore *ps, unsigned int donor,
			       uint32_t want)
{
	for (int tries = 0; session_slabs(ps, donor) != want && tries < 1000;
	     tries++)
		usleep(10000);
	ck_assert_uint_eq(session_slabs(ps, donor), want);
}

/* Polls until the slab of lpn has no live copy on donor `gone`. */
static int wait_off_donor(struct pstore *ps, uint64_t lpn, unsigned int gone,
			  unsigned int *d, uint32_t *rs)
{
	int n = 0;

	for (int tries = 0; tries < 1000; tries++) {
		bool on = false;

		n = pstore_test_slab_replicas(ps, lpn, d, rs);
		for (int k = 0; k < n; k++)
			on |= d[k] == gone;
		if (!on)
			return n;
		usleep(10000);
	}
	return -1;
}

START_TEST(an_evicted_slab_moves_to_another_donor_and_is_freed)
{
	enum { N = 64 };
	struct pstore *ps = open_mem(3, NULL, 2, 16 * MiB, 1 * MiB, NULL);
	static uint64_t lpn[N];
	static uint32_t gen[N];
	static char json[16384];
	unsigned int d[PSTORE_MAX_REPLICAS], victim;
	uint32_t rs[PSTORE_MAX_REPLICAS], held;

	/* one slab: pages 0..63 */
	alloc_all(ps, lpn, N, 1, 0);
	write_all(ps, lpn, gen, N, 1);
	ck_assert_int_eq(pstore_test_slab_replicas(ps, 0, d, rs), 2);
	victim = d[0];
	held = session_slabs(ps, victim);
	ck_assert_int_eq(xfault_evict(fx(ps, victim), rs[0], 0), 0);
	ck_assert_int_eq(wait_off_donor(ps, 0, victim, d, rs), 2);
	ck_assert_uint_ne(d[0], d[1]);
	/* the free follows the switch */
	wait_session_slabs(ps, victim, held - 1);
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"migrated_slabs\":1"));
	ck_assert_ptr_nonnull(strstr(json, "\"degraded_slabs\":0"));
	verify_each_donor_alone_missing(ps, lpn, gen, N, 0);
	pstore_close(ps);
}
END_TEST

START_TEST(the_only_replica_evicted_is_moved_not_lost)
{
	enum { N = 32 };
	struct pstore *ps = open_mem(2, NULL, 1, 16 * MiB, 1 * MiB, NULL);
	static uint64_t lpn[N];
	unsigned int d[PSTORE_MAX_REPLICAS], victim;
	uint32_t rs[PSTORE_MAX_REPLICAS];

	alloc_all(ps, lpn, N, 1, 0);
	write_all(ps, lpn, NULL, N, 1);
	ck_assert_int_eq(pstore_test_slab_replicas(ps, 0, d, rs), 1);
	victim = d[0];
	ck_assert_int_eq(xfault_evict(fx(ps, victim), rs[0], 0), 0);
	ck_assert_int_eq(wait_off_donor(ps, 0, victim, d, rs), 1);
	wait_session_slabs(ps, victim, 0);
	/* the donor that evicted could not serve the data any more */
	fail_donor(ps, victim, -ECONNRESET);
	read_all(ps, lpn, N, 1);
	fail_donor(ps, victim, 0);
	pstore_close(ps);
}
END_TEST

START_TEST(a_donor_added_while_open_takes_new_slabs)
{
	static const char *const two[] = { "fault:a", "fault:b" };
	struct pstore *ps;
	static char buf[PSTORE_PAGE], json[16384];
	char err[256];

	w_other = 0; /* free slabs alone decide */
	ps = open_mem(2, two, 2, 64 * MiB, 1 * MiB, NULL);
	w_other = 1;
	for (uint64_t s = 0; s < 4; s++)
		write_new(ps, s * 256, 1, buf);
	ck_assert_int_eq(pstore_donor_add(ps, "fault:c", err, sizeof(err)), 0);
	ck_assert_int_eq(pstore_donor_add(ps, "fault:c", err, sizeof(err)),
			 -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "fault:c"));
	ck_assert_uint_eq(pstore_test_ndonors(ps), 3);
	/* the newcomer has the most free slabs: it wins new slabs */
	for (uint64_t s = 4; s < 12; s++)
		write_new(ps, s * 256, 1, buf);
	/* 64 free slabs against 60: a copy of each of the 8 new slabs */
	ck_assert_uint_eq(session_slabs(ps, 2), 8);
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"addr\":\"fault:c\""));
	pstore_close(ps);
}
END_TEST

START_TEST(a_drained_donor_gives_every_slab_away_while_io_goes_on)
{
	enum { SLABS = 10, PER = 16, N = SLABS * PER, T = 2 };
	struct pstore *ps = open_mem(3, NULL, 2, 64 * MiB, 1 * MiB, NULL);
	static uint64_t lpn[N];
	static uint32_t gen[N];
	static char json[16384];
	struct rw_arg a[T];
	pthread_t t[T];
	atomic_int stop = 0;
	const char *p;

	alloc_all(ps, lpn, N, PER, 256);
	write_all(ps, lpn, gen, N, 1);
	ck_assert_uint_gt(session_slabs(ps, 0), 0);
	for (unsigned int k = 0; k < T; k++) {
		a[k] = (struct rw_arg){ ps, lpn, gen, N, k, T, &stop, 0 };
		ck_assert_int_eq(pthread_create(&t[k], NULL, rewriter, &a[k]),
				 0);
	}
	ck_assert_int_eq(pstore_donor_drain(ps, "fault:a", 20000, NULL, 0), 0);
	atomic_store(&stop, 1);
	for (unsigned int k = 0; k < T; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(a[k].errors, 0);
	}
	ck_assert_int_eq(pstore_donor_drain(ps, "fault:a", 1000, NULL, 0),
			 -ENOENT);
	for (unsigned int i = 0; i < N; i++) {
		unsigned int d[PSTORE_MAX_REPLICAS];
		uint32_t rs[PSTORE_MAX_REPLICAS];

		ck_assert_int_eq(pstore_test_slab_replicas(ps, lpn[i], d, rs),
				 2);
		ck_assert_uint_ne(d[0], 0);
		ck_assert_uint_ne(d[1], 0);
		ck_assert_uint_ne(d[0], d[1]);
	}
	ck_assert_int_gt(pstore_json(ps, json, sizeof(json)), 0);
	p = strstr(json, "\"addr\":\"fault:a\"");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(strstr(p, "\"state\":\"drained\",\"slabs\":0"));
	/* the two left each miss in turn: the other has every page */
	verify_each_donor_alone_missing(ps, lpn, gen, N, 1);
	pstore_close(ps);
}
END_TEST

START_TEST(
	a_drain_with_nowhere_to_go_says_why_keeps_the_data_and_can_be_cancelled)
{
	static const char *const two[] = { "fault:a", "fault:b" };
	struct pstore *ps = open_mem(2, two, 2, 16 * MiB, 1 * MiB, NULL);
	static char buf[PSTORE_PAGE];
	uint64_t p = write_new(ps, 0, 1, buf);

	char why[256] = "";

	ck_assert_int_eq(
		pstore_donor_drain(ps, "fault:a", 300, why, sizeof(why)),
		-ETIMEDOUT);
	/* it says why, and the drain can be called off */
	ck_assert_ptr_nonnull(strstr(why, "no other donor can take them"));
	ck_assert_int_eq(pstore_donor_drain(ps, "fault:zz", 300, NULL, 0),
			 -ENOENT);
	read_without(ps, 1, p, 1, buf);
	ck_assert_int_eq(pstore_donor_undrain(ps, "fault:a"), 0);
	ck_assert_int_eq(pstore_donor_undrain(ps, "fault:a"), -EINVAL);
	ck_assert_int_eq(pstore_donor_undrain(ps, "fault:zz"), -ENOENT);
	/* a donor taken back serves new slabs again */
	write_new(ps, 64, 1, buf);
	read_without(ps, 1, p, 1, buf);
	pstore_close(ps);
}
END_TEST

START_TEST(a_slab_the_donor_lost_is_read_from_the_backup_and_replaced)
{
	enum { N = 40 };
	char path[256];
	struct pstore *ps;
	static uint64_t lpn[N];
	unsigned int d[PSTORE_MAX_REPLICAS];
	uint32_t rs[PSTORE_MAX_REPLICAS];

	tmp_path(path, sizeof(path), "lost");
	ps = open_mem(2, NULL, 1, 16 * MiB, 1 * MiB, path);
	alloc_all(ps, lpn, N, 1, 0);
	write_all(ps, lpn, NULL, N, 1);
	no_new_copies(ps, true);
	ck_assert_int_eq(pstore_test_slab_replicas(ps, 0, d, rs), 1);
	/* the donor loses the slab behind our back (a restart) */
	ck_assert_int_eq(xport_free(pstore_test_xport(ps, d[0]), rs[0]), 0);
	read_all(ps, lpn, N, 1);
	/* the refused copy is no copy any more */
	ck_assert_int_eq(pstore_test_slab_replicas(ps, 0, d, rs), 0);
	ck_assert_int_eq(degraded(ps), 1);
	no_new_copies(ps, false);
	wait_repaired(ps);
	ck_assert_int_eq(pstore_test_slab_replicas(ps, 0, d, rs), 1);
	read_all(ps, lpn, N, 1);
	pstore_close(ps);
	unlink(path);
}
END_TEST

static int run_suite(void)
{
	Suite *s = suite_create(seal_mode == PSTORE_SEAL_ON ? "pstore sealed"
							    : "pstore");
	TCase *tc = tcase_create("pstore");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, unwritten_pages_read_as_zeros_without_io);
	tcase_add_test(tc, random_pages_read_back_what_was_written);
	tcase_add_test(
		tc, page_alloc_prefers_hint_then_next_free_and_fails_when_full);
	tcase_add_test(tc, slab_is_given_back_when_all_its_pages_are_freed);
	tcase_add_test(tc, replicas_land_on_distinct_donors_and_spread);
	tcase_add_test(tc, ranking_on_free_slabs_balances_the_donors);
	tcase_add_test(tc, read_falls_back_to_the_other_replica);
	tcase_add_test(tc, every_copy_failing_reads_eio);
	tcase_add_test(tc,
		       write_failing_on_one_replica_leaves_it_stale_not_read);
	tcase_add_test(tc, backup_serves_reads_when_every_donor_copy_is_gone);
	tcase_add_test(
		tc, read_overlapping_an_in_flight_write_returns_the_new_data);
	tcase_add_test(tc, full_pool_makes_submit_wait_until_io_completes);
	tcase_add_test(tc, full_donor_is_skipped_and_all_full_is_enospc);
	tcase_add_test(tc, open_fails_clearly_with_fewer_donors_than_replicas);
	tcase_add_test(tc, json_names_every_donor_and_refuses_a_short_buffer);
	tcase_add_test(
		tc,
		concurrent_writers_on_two_replicas_read_back_their_own_data);
	tcase_add_test(tc, degraded_slabs_are_repaired_from_a_survivor);
	tcase_add_test(tc, writes_during_a_repair_reach_the_new_replica);
	tcase_add_test(tc, a_write_racing_the_repair_copy_is_not_overwritten);
	tcase_add_test(tc, a_slab_left_only_on_the_backup_is_copied_to_a_donor);
	tcase_add_test(tc, an_evicted_slab_moves_to_another_donor_and_is_freed);
	tcase_add_test(tc, the_only_replica_evicted_is_moved_not_lost);
	tcase_add_test(tc, a_donor_added_while_open_takes_new_slabs);
	tcase_add_test(tc,
		       a_drained_donor_gives_every_slab_away_while_io_goes_on);
	tcase_add_test(
		tc,
		a_drain_with_nowhere_to_go_says_why_keeps_the_data_and_can_be_cancelled);
	tcase_add_test(
		tc, a_slab_the_donor_lost_is_read_from_the_backup_and_replaced);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}

int main(void)
{
	int failed = run_suite();

	seal_mode = PSTORE_SEAL_ON;
	failed += run_suite();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
