// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore's repair thread and donor changes over XPORT_MEM donors wrapped
 * in the fault transport (rdma/fault.h): degraded slabs repaired from a
 * survivor or the backup while writes go on, a write racing the repair
 * copy, slabs a donor evicts or lost, donors added and drained. Where a
 * slab must stay degraded for a while, no donor gives a new slab
 * (no_new_copies()); a race is made certain by holding a donor's I/O.
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
#include <unistd.h>

#include "pstore_util.h"
#include "tests/unit/check_run.h"

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

int main(void)
{
	return pstore_check_main(
		"pstore repair",
		CNM_TESTS(
			degraded_slabs_are_repaired_from_a_survivor,
			writes_during_a_repair_reach_the_new_replica,
			a_write_racing_the_repair_copy_is_not_overwritten,
			a_slab_left_only_on_the_backup_is_copied_to_a_donor,
			an_evicted_slab_moves_to_another_donor_and_is_freed,
			the_only_replica_evicted_is_moved_not_lost,
			a_donor_added_while_open_takes_new_slabs,
			a_drained_donor_gives_every_slab_away_while_io_goes_on,
			a_drain_with_nowhere_to_go_says_why_keeps_the_data_and_can_be_cancelled,
			a_slab_the_donor_lost_is_read_from_the_backup_and_replaced));
}
