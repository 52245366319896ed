// SPDX-License-Identifier: GPL-2.0-or-later
#include "placement/rank.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

/* Scripted random source: returns seq[i] in turn, then 0. */
struct script {
	const uint64_t *seq;
	unsigned int n, i;
};

static uint64_t script_rand(void *arg)
{
	struct script *s = arg;

	return s->i < s->n ? s->seq[s->i++] : 0;
}

static uint64_t zero_rand(void *arg)
{
	(void)arg;
	return 0;
}

/* xorshift64*, deterministic per seed */
static uint64_t xs_rand(void *arg)
{
	uint64_t *x = arg;

	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

static const struct rank_weights w_all = { 1.0, 1.0, 1.0, RANK_DEF_BAND };

static void set(struct rank_donor *d, unsigned int id, bool healthy,
		uint64_t free_slabs, int64_t trend, uint64_t lat)
{
	d->id = id;
	d->healthy = healthy;
	d->free_slabs = free_slabs;
	d->trend_bps = trend;
	d->latency_ns = lat;
	d->total_slabs = 0; /* unknown: free slabs ranked as counts */
}

/* One donor out of c[0..n) with sample size d: its id. */
static unsigned int choose_one(const struct rank_donor *c, unsigned int n,
			       unsigned int d, const struct rank_weights *w,
			       rank_rand_fn rnd, void *rnd_arg)
{
	unsigned int out[1];

	ck_assert_int_eq(rank_choose(c, n, 1, d, w, rnd, rnd_arg, out), 1);
	return out[0];
}

/*
 * rounds calls of rank_choose (xorshift source), each of which must give
 * r distinct donors among ids 0..n-1; hits[id] counts the choices.
 */
static void choose_rounds(const struct rank_donor *c, unsigned int n,
			  unsigned int r, unsigned int d,
			  const struct rank_weights *w, uint64_t *seed,
			  int rounds, unsigned int *hits)
{
	for (int k = 0; k < rounds; k++) {
		unsigned int out[RANK_SAMPLE_MAX];

		ck_assert_int_eq(rank_choose(c, n, r, d, w, xs_rand, seed, out),
				 (int)r);
		for (unsigned int i = 0; i < r; i++) {
			ck_assert_uint_lt(out[i], n);
			for (unsigned int j = 0; j < i; j++)
				ck_assert_uint_ne(out[i], out[j]);
			hits[out[i]]++;
		}
	}
}

/* Each of ids 0..n-1 is chosen at least once in rounds calls. */
static void choose_spreads(const struct rank_donor *c, unsigned int n,
			   unsigned int r, unsigned int d,
			   const struct rank_weights *w, uint64_t seed,
			   int rounds)
{
	unsigned int hits[64] = { 0 };

	choose_rounds(c, n, r, d, w, &seed, rounds, hits);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_gt(hits[i], 0);
}

/* rank_choose(r of c[0..n), any sample) must fail with err. */
static void choose_fails(const struct rank_donor *c, unsigned int n,
			 unsigned int r, int err)
{
	unsigned int out[RANK_SAMPLE_MAX];
	uint64_t seed = 1;

	ck_assert_int_eq(rank_choose(c, n, r, 0, &w_all, xs_rand, &seed, out),
			 err);
}

START_TEST(dense_points_give_equal_values_equal_points)
{
	double v[] = { 5, 3, 5, 1, 3 };
	const unsigned int want[] = { 2, 1, 2, 0, 1 };
	unsigned int p[5];

	rank_dense_points(v, 5, p);
	for (unsigned int i = 0; i < 5; i++)
		ck_assert_uint_eq(p[i], want[i]);
}
END_TEST

START_TEST(sample_size_one_picks_the_sampled_donor_even_if_worse)
{
	struct rank_donor c[3];
	uint64_t seq[] = { 2, 0 };
	struct script s = { seq, 2, 0 };

	set(&c[0], 10, true, 100, 100, 1);
	set(&c[1], 11, true, 100, 100, 1);
	set(&c[2], 12, true, 1, -100, 1000000); /* worst on every count */
	ck_assert_uint_eq(choose_one(c, 3, 1, &w_all, script_rand, &s), 12);
}
END_TEST

START_TEST(sample_size_one_spreads_over_all_donors)
{
	struct rank_donor c[4];

	for (unsigned int i = 0; i < 4; i++)
		set(&c[i], i, true, 10 + i, 0, 100);
	choose_spreads(c, 4, 1, 1, &w_all, 42, 400);
}
END_TEST

START_TEST(donors_not_sampled_are_never_chosen)
{
	struct rank_donor c[5];
	unsigned int out[2];

	for (unsigned int i = 0; i < 4; i++)
		set(&c[i], i, true, 10, 0, 500);
	set(&c[4], 4, true, 1000, 1000, 1); /* best, but outside the sample */
	/* zero_rand keeps the first d eligible donors as the sample */
	ck_assert_int_eq(rank_choose(c, 5, 2, 3, &w_all, zero_rand, NULL, out),
			 2);
	for (unsigned int i = 0; i < 2; i++) {
		ck_assert_uint_ne(out[i], 4);
		ck_assert_uint_lt(out[i], 3);
	}
}
END_TEST

START_TEST(best_ranked_donors_win_when_all_are_sampled)
{
	struct rank_donor c[4];
	uint64_t seed = 7;
	unsigned int out[2];

	set(&c[0], 100, true, 5, 0, 300);
	set(&c[1], 101, true, 50, 10, 100); /* best */
	set(&c[2], 102, true, 20, 5, 200);  /* second */
	set(&c[3], 103, true, 1, -5, 400);
	for (int k = 0; k < 50; k++) {
		ck_assert_int_eq(
			rank_choose(c, 4, 2, 4, &w_all, xs_rand, &seed, out),
			2);
		ck_assert_uint_eq(out[0], 101);
		ck_assert_uint_eq(out[1], 102);
	}
}
END_TEST

START_TEST(each_criterion_points_the_right_way)
{
	struct rank_donor c[2];
	uint64_t seed = 3;
	const struct rank_weights wf = { 1, 0, 0 }, wt = { 0, 1, 0 },
				  wl = { 0, 0, 1 };

	/* 0: more free slabs; 1: growing memory and lower latency */
	set(&c[0], 0, true, 9, -1, 900);
	set(&c[1], 1, true, 3, 1, 100);
	ck_assert_uint_eq(choose_one(c, 2, 2, &wf, xs_rand, &seed), 0);
	ck_assert_uint_eq(choose_one(c, 2, 2, &wt, xs_rand, &seed), 1);
	ck_assert_uint_eq(choose_one(c, 2, 2, &wl, xs_rand, &seed), 1);
}
END_TEST

START_TEST(weights_decide_between_criteria)
{
	struct rank_donor c[2];
	uint64_t seed = 5;
	const struct rank_weights free_heavy = { 3, 0, 1 },
				  lat_heavy = { 1, 0, 3 };

	set(&c[0], 0, true, 9, 0, 900); /* roomy but slow */
	set(&c[1], 1, true, 3, 0, 100); /* fast but small */
	ck_assert_uint_eq(choose_one(c, 2, 2, &free_heavy, xs_rand, &seed), 0);
	ck_assert_uint_eq(choose_one(c, 2, 2, &lat_heavy, xs_rand, &seed), 1);
}
END_TEST

START_TEST(ties_are_broken_at_random)
{
	struct rank_donor c[4];
	unsigned int hits[4] = { 0 };
	uint64_t seed = 99;

	/* 1 and 2 tie for best; 0 and 3 are worse */
	set(&c[0], 0, true, 1, 0, 100);
	set(&c[1], 1, true, 5, 0, 100);
	set(&c[2], 2, true, 5, 0, 100);
	set(&c[3], 3, true, 2, 0, 100);
	choose_rounds(c, 4, 1, 4, &w_all, &seed, 200, hits);
	ck_assert_uint_eq(hits[0], 0);
	ck_assert_uint_eq(hits[3], 0);
	ck_assert_uint_gt(hits[1], 0);
	ck_assert_uint_gt(hits[2], 0);
}
END_TEST

START_TEST(all_equal_donors_give_r_distinct_choices_spread_over_all)
{
	struct rank_donor c[5];

	for (unsigned int i = 0; i < 5; i++)
		set(&c[i], i, true, 8, 0, 100);
	choose_spreads(c, 5, 3, 0, &w_all, 11, 300);
}
END_TEST

START_TEST(zero_weights_choose_at_random_among_the_sample)
{
	struct rank_donor c[3];
	const struct rank_weights w0 = { 0, 0, 0 };

	set(&c[0], 0, true, 100, 100, 1);
	set(&c[1], 1, true, 2, 0, 50);
	set(&c[2], 2, true, 1, -9, 90);
	choose_spreads(c, 3, 1, 3, &w0, 1234, 300);
}
END_TEST

START_TEST(unhealthy_and_full_donors_are_never_chosen)
{
	struct rank_donor c[4];
	unsigned int hits[4] = { 0 };
	uint64_t seed = 77;

	set(&c[0], 0, false, 1000, 1000, 1); /* down */
	set(&c[1], 1, true, 0, 1000, 1);     /* full */
	set(&c[2], 2, true, 1, 0, 500);
	set(&c[3], 3, true, 2, 0, 600);
	choose_rounds(c, 4, 2, 0, &w_all, &seed, 100, hits);
	ck_assert_uint_eq(hits[0], 0);
	ck_assert_uint_eq(hits[1], 0);
}
END_TEST

START_TEST(fewer_healthy_donors_than_r_fail_with_ehostdown)
{
	struct rank_donor c[3];

	set(&c[0], 0, true, 5, 0, 1);
	set(&c[1], 1, false, 5, 0, 1);
	set(&c[2], 2, false, 5, 0, 1);
	choose_fails(c, 3, 2, -EHOSTDOWN);
	choose_fails(c, 1, 2, -EHOSTDOWN);
	choose_fails(c, 0, 1, -EHOSTDOWN);
}
END_TEST

START_TEST(full_donors_fail_with_enospc)
{
	struct rank_donor c[3];

	set(&c[0], 0, true, 5, 0, 1);
	set(&c[1], 1, true, 0, 0, 1);
	set(&c[2], 2, true, 0, 0, 1);
	choose_fails(c, 3, 2, -ENOSPC);
}
END_TEST

START_TEST(sample_smaller_than_r_is_raised_to_r)
{
	struct rank_donor c[4];
	unsigned int out[2];
	uint64_t seed = 8;

	for (unsigned int i = 0; i < 4; i++)
		set(&c[i], i, true, 4, 0, 10);
	ck_assert_int_eq(rank_choose(c, 4, 2, 1, &w_all, xs_rand, &seed, out),
			 2);
	ck_assert_uint_ne(out[0], out[1]);
}
END_TEST

START_TEST(bad_arguments_are_einval)
{
	struct rank_donor c[2];
	unsigned int out[2];
	const struct rank_weights neg = { -1, 0, 0, 0 }, wide = { 1, 1, 1, 2 };

	set(&c[0], 0, true, 4, 0, 10);
	set(&c[1], 1, true, 4, 0, 10);
	ck_assert_int_eq(rank_choose(c, 2, 0, 0, &w_all, zero_rand, NULL, out),
			 -EINVAL);
	ck_assert_int_eq(rank_choose(c, 2, 1, 0, &neg, zero_rand, NULL, out),
			 -EINVAL);
	ck_assert_int_eq(rank_choose(c, 2, 1, 0, &wide, zero_rand, NULL, out),
			 -EINVAL);
	ck_assert_int_eq(rank_choose(c, 2, 1, 0, &w_all, NULL, NULL, out),
			 -EINVAL);
	ck_assert_int_eq(rank_choose(c, 2, RANK_SAMPLE_MAX + 1, 0, &w_all,
				     zero_rand, NULL, out),
			 -EINVAL);
}
END_TEST

START_TEST(random_candidates_always_give_distinct_eligible_choices)
{
	struct rank_donor c[16];
	uint64_t seed = 2024;

	for (int k = 0; k < 2000; k++) {
		unsigned int n = 1 + xs_rand(&seed) % 16;
		unsigned int r = 1 + xs_rand(&seed) % 4;
		unsigned int d = xs_rand(&seed) % 10;
		unsigned int out[4], elig = 0;
		int ret;

		for (unsigned int i = 0; i < n; i++) {
			set(&c[i], i, xs_rand(&seed) % 4 != 0,
			    xs_rand(&seed) % 3,
			    (int64_t)(xs_rand(&seed) % 5) - 2,
			    xs_rand(&seed) % 4);
			elig += c[i].healthy && c[i].free_slabs > 0;
		}
		ret = rank_choose(c, n, r, d, &w_all, xs_rand, &seed, out);
		if (elig < r) {
			ck_assert_int_lt(ret, 0);
			continue;
		}
		ck_assert_int_eq(ret, (int)r);
		for (unsigned int i = 0; i < r; i++) {
			ck_assert_uint_lt(out[i], n);
			ck_assert(c[out[i]].healthy);
			ck_assert_uint_gt(c[out[i]].free_slabs, 0);
			for (unsigned int j = 0; j < i; j++)
				ck_assert_uint_ne(out[i], out[j]);
		}
	}
}
END_TEST

START_TEST(band_keeps_the_emptier_donor_ahead_of_a_faster_fuller_one)
{
	struct rank_donor c[2];
	uint64_t seed = 21;
	const struct rank_weights lat_band = { 1, 0, 5, 0.02 },
				  lat_noband = { 1, 0, 5, -1 };

	set(&c[0], 0, true, 50, 0, 10);	 /* 50 % used, fast */
	set(&c[1], 1, true, 60, 0, 900); /* 40 % used, slow */
	c[0].total_slabs = c[1].total_slabs = 100;
	ck_assert_uint_eq(choose_one(c, 2, 2, &lat_band, xs_rand, &seed), 1);
	ck_assert_uint_eq(choose_one(c, 2, 2, &lat_noband, xs_rand, &seed), 0);
	/* within the band, the weights decide again */
	c[1].free_slabs = 51;
	ck_assert_uint_eq(choose_one(c, 2, 2, &lat_band, xs_rand, &seed), 0);
}
END_TEST

START_TEST(donors_outside_the_band_fill_in_when_the_band_has_fewer_than_r)
{
	struct rank_donor c[3];
	unsigned int out[2];
	uint64_t seed = 4;

	set(&c[0], 0, true, 90, 0, 100); /* 10 % used */
	set(&c[1], 1, true, 20, 0, 100); /* 80 % used */
	set(&c[2], 2, true, 40, 0, 100); /* 60 % used */
	for (int i = 0; i < 3; i++)
		c[i].total_slabs = 100;
	ck_assert_int_eq(rank_choose(c, 3, 2, 3, &w_all, xs_rand, &seed, out),
			 2);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 2); /* the emptier of the rest */
}
END_TEST

START_TEST(thousands_of_candidates_with_few_eligible_still_give_eligible_ones)
{
	enum { N = 5000 };
	struct rank_donor *c = calloc(N, sizeof(*c));
	uint64_t seed = 31;

	ck_assert_ptr_nonnull(c);
	for (unsigned int i = 0; i < N; i++)
		set(&c[i], i, i % 1000 == 7, 10, 0, 100);
	for (int k = 0; k < 100; k++) {
		unsigned int out[3];

		ck_assert_int_eq(
			rank_choose(c, N, 3, 0, &w_all, xs_rand, &seed, out),
			3);
		for (unsigned int i = 0; i < 3; i++) {
			ck_assert_uint_eq(out[i] % 1000, 7);
			for (unsigned int j = 0; j < i; j++)
				ck_assert_uint_ne(out[i], out[j]);
		}
	}
	/* none eligible, but healthy: full */
	for (unsigned int i = 0; i < N; i++)
		c[i].free_slabs = 0;
	ck_assert_int_eq(rank_choose(c, N, 2, 0, &w_all, xs_rand, &seed,
				     (unsigned int[2]){ 0 }),
			 -ENOSPC);
	free(c);
}
END_TEST

/*
 * A small cluster filled slab by slab with the default weights: donors of
 * 1-16x each other's size, each with a fixed latency (the fast ones would
 * fill first without the band), 30 % of slabs with 2 replicas.
 */
START_TEST(default_ranking_keeps_a_cluster_balanced_until_95_percent)
{
	enum { N = 60 };
	struct rank_donor c[N];
	uint64_t seed = 20261206, cap = 0, used = 0;
	double worst = 0;
	bool full_early = false;

	for (unsigned int i = 0; i < N; i++) {
		set(&c[i], i, true, 64 + xs_rand(&seed) % 961, 0,
		    20000 + xs_rand(&seed) % 180000);
		c[i].total_slabs = c[i].free_slabs;
		cap += c[i].total_slabs;
	}
	while (used < cap * 95 / 100) {
		unsigned int r = xs_rand(&seed) % 10 < 3 ? 2 : 1, out[2];
		double sum = 0, max = 0;

		ck_assert_int_eq(
			rank_choose(c, N, r, 0, &w_all, xs_rand, &seed, out),
			(int)r);
		if (r == 2)
			ck_assert_uint_ne(out[0], out[1]);
		for (unsigned int k = 0; k < r; k++) {
			c[out[k]].free_slabs--;
			used++;
		}
		for (unsigned int i = 0; i < N; i++) {
			double u = 1.0 -
				   (double)c[i].free_slabs / c[i].total_slabs;

			sum += u;
			max = u > max ? u : max;
			full_early |= c[i].free_slabs == 0;
		}
		if (used >= cap / 2 && max / (sum / N) > worst)
			worst = max / (sum / N);
	}
	ck_assert(!full_early);
	ck_assert_double_le(worst, 1.1);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"rank", NULL,
		CNM_TESTS(
			dense_points_give_equal_values_equal_points,
			sample_size_one_picks_the_sampled_donor_even_if_worse,
			sample_size_one_spreads_over_all_donors,
			donors_not_sampled_are_never_chosen,
			best_ranked_donors_win_when_all_are_sampled,
			each_criterion_points_the_right_way,
			weights_decide_between_criteria,
			ties_are_broken_at_random,
			all_equal_donors_give_r_distinct_choices_spread_over_all,
			zero_weights_choose_at_random_among_the_sample,
			unhealthy_and_full_donors_are_never_chosen,
			fewer_healthy_donors_than_r_fail_with_ehostdown,
			full_donors_fail_with_enospc,
			sample_smaller_than_r_is_raised_to_r,
			bad_arguments_are_einval,
			random_candidates_always_give_distinct_eligible_choices,
			band_keeps_the_emptier_donor_ahead_of_a_faster_fuller_one,
			donors_outside_the_band_fill_in_when_the_band_has_fewer_than_r,
			thousands_of_candidates_with_few_eligible_still_give_eligible_ones,
			default_ranking_keeps_a_cluster_balanced_until_95_percent));
}
