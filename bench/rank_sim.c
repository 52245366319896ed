// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rank_sim - cluster placement simulation linking the real ranking code
 * (placement/rank.c), compared in one run with plain power-of-two choices.
 *
 * Model (one run per policy, same seed, same request stream):
 *   donors   N, pools uniform in 16-256 GiB, slabs of 64 MiB; each has a
 *            base latency (20-200 us) plus noise, and a host whose
 *            MemAvailable drifts up or down on its own (-50..+50 MB/s)
 *   mounts   10 N, 30 % with R = 2, the rest R = 1; a request is a slab
 *            allocation by a random mount (80 %) or the free of a random
 *            live slab (20 %); N requests per simulated second
 *   views    what a mount knows: free slabs and trend from the last
 *            QUERY, refreshed once a second (stale in between, as in
 *            pstore); a donor that answers ENOSPC is shown full until then
 *   leaving  1 % of the donors leave at 50 % and 80 % cluster fill; their
 *            copies are re-placed (repair) on donors holding no copy
 *   until    an allocation finds no room, or 99 % fill
 *
 * Policies:
 *   p2c      plain power-of-two choices: per replica, two random distinct
 *            eligible donors, the one with the lower used fraction
 *   old      the mount's former defaults: d = 2R+1, weights 1/1/1, free
 *            slabs as counts, trend = slope of the host's MemAvailable
 *   rank     the defaults now: d = 2R+1, weights 1/1/1, free fraction,
 *            band RANK_DEF_BAND, trend = slope of what the donor can
 *            still give
 *   noband   rank without the band (band < 0)
 *
 * Printed per policy: max/mean of the donors' used fraction when the
 * cluster is 74 %, 90 % and 95 % full, the share of full donors at 95 %,
 * the cluster fill when the first donor became full, and the cost of one
 * choice (ns, rank_choose() or the p2c code alone).
 *
 *   rank_sim [--donors N] [--seed S] [--policy NAME]   (default: all)
 *   rank_sim --check    small, fixed seed: exit 1 unless rank meets the goal
 */
#include "placement/rank.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLAB_BYTES (64ull << 20)
#define WIN	   30 /* trend window, seconds (donor/meminfo.h) */
#define NONE	   UINT32_MAX

enum policy { P_P2C, P_OLD, P_RANK, P_NOBAND, P_COUNT };
static const char *const policy_name[] = { "p2c", "old", "rank", "noband" };

struct donor {
	uint32_t cap, used;
	bool gone;
	uint32_t base_lat_ns;
	int64_t host_drift_bps;
	uint32_t hist[WIN]; /* free slabs, one per second */
};

struct sim {
	enum policy pol;
	unsigned int n, nmounts;
	struct donor *d;
	struct rank_donor *view;
	uint8_t *mount_r;
	/* slab k: its copies' donors (NONE: free slot) */
	uint32_t (*slab)[2];
	uint32_t nslab, slab_cap, live;
	uint32_t *live_idx; /* live slab numbers, for random frees */
	uint32_t *free_list;
	uint32_t nfree;
	uint64_t cap_total, used_total;
	uint64_t rng;
	uint64_t t;
	uint64_t choices, choice_ns;
	double mm74, mm90, mm95, full95, first_full;
	unsigned int left_at50, left_at80;
	bool failed_distinct;
};

static uint64_t xs(void *arg)
{
	uint64_t *x = arg;

	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double fill(const struct sim *s)
{
	return (double)s->used_total / (double)s->cap_total;
}

/* max/mean of the used fraction over live donors; full: share with none free */
static double max_mean(const struct sim *s, double *full)
{
	double sum = 0, max = 0;
	unsigned int live = 0, nfull = 0;

	for (unsigned int i = 0; i < s->n; i++) {
		double u;

		if (s->d[i].gone)
			continue;
		u = (double)s->d[i].used / s->d[i].cap;
		sum += u;
		max = u > max ? u : max;
		nfull += s->d[i].used == s->d[i].cap;
		live++;
	}
	if (full)
		*full = (double)nfull / live;
	return sum ? max / (sum / live) : 0;
}

static void refresh_views(struct sim *s)
{
	for (unsigned int i = 0; i < s->n; i++) {
		struct donor *d = &s->d[i];
		struct rank_donor *v = &s->view[i];
		uint32_t fr = d->cap - d->used;
		int64_t noise = (int64_t)(xs(&s->rng) % 20000001) - 10000000;

		/* the window's oldest sample is the one about to go */
		v->trend_bps = ((int64_t)fr - (int64_t)d->hist[s->t % WIN]) *
			       (int64_t)SLAB_BYTES / WIN;
		d->hist[s->t % WIN] = fr;
		if (s->pol == P_OLD) /* the host, not the pool */
			v->trend_bps = d->host_drift_bps + noise;
		v->id = i;
		v->healthy = !d->gone;
		v->free_slabs = fr;
		v->total_slabs = s->pol == P_OLD ? 0 : d->cap;
		v->latency_ns = d->base_lat_ns + xs(&s->rng) % 20000;
	}
}

static int p2c_choose(struct sim *s, unsigned int r, unsigned int *out)
{
	for (unsigned int k = 0; k < r; k++) {
		unsigned int pick[2], got = 0;

		for (unsigned int t = 0; t < 64 && got < 2; t++) {
			unsigned int j = (unsigned int)(xs(&s->rng) % s->n);
			const struct rank_donor *v = &s->view[j];
			bool dup = got && pick[0] == j;

			for (unsigned int q = 0; q < k; q++)
				dup |= out[q] == j;
			if (v->healthy && v->free_slabs && !dup)
				pick[got++] = j;
		}
		if (!got)
			return -ENOSPC;
		if (got == 2 &&
		    (double)s->view[pick[1]].free_slabs / s->d[pick[1]].cap >
			    (double)s->view[pick[0]].free_slabs /
				    s->d[pick[0]].cap)
			pick[0] = pick[1];
		out[k] = pick[0];
	}
	return (int)r;
}

static int choose(struct sim *s, unsigned int r, unsigned int *out)
{
	static const struct rank_weights w_old = { 1, 1, 1, -1 };
	static const struct rank_weights w_rank = { 1, 1, 1, RANK_DEF_BAND };
	static const struct rank_weights w_noband = { 1, 1, 1, -1 };
	const struct rank_weights *w = s->pol == P_OLD	    ? &w_old
				       : s->pol == P_NOBAND ? &w_noband
							    : &w_rank;
	uint64_t t0 = now_ns();
	int ret;

	if (s->pol == P_P2C)
		ret = p2c_choose(s, r, out);
	else
		ret = rank_choose(s->view, s->n, r, 0, w, xs, &s->rng, out);
	s->choice_ns += now_ns() - t0;
	s->choices++;
	return ret;
}

/* Places r copies avoiding donors in excl[0..nexcl); 0 or -ENOSPC. */
static int place(struct sim *s, unsigned int r, const uint32_t *excl,
		 unsigned int nexcl, uint32_t *got)
{
	unsigned int have = 0, tries = 0;
	int ret = 0;

	for (unsigned int k = 0; k < nexcl; k++)
		s->view[excl[k]].healthy = false;
	while (have < r && tries++ < 16) {
		unsigned int out[2];

		ret = choose(s, r - have, out);
		if (ret < 0)
			break;
		for (unsigned int k = 0; k < (unsigned int)ret; k++) {
			struct donor *d = &s->d[out[k]];

			s->view[out[k]].healthy = false; /* distinct */
			if (d->used == d->cap) { /* stale view: ENOSPC */
				s->view[out[k]].free_slabs = 0;
				continue;
			}
			d->used++;
			s->used_total++;
			got[have++] = out[k];
		}
	}
	for (unsigned int k = 0; k < have; k++)
		s->view[got[k]].healthy = true;
	for (unsigned int k = 0; k < nexcl; k++)
		s->view[excl[k]].healthy = !s->d[excl[k]].gone;
	for (unsigned int i = 0; i < have; i++)
		for (unsigned int j = 0; j < i; j++)
			if (got[i] == got[j])
				s->failed_distinct = true;
	if (have == r)
		return 0;
	for (unsigned int k = 0; k < have; k++) {
		s->d[got[k]].used--;
		s->used_total--;
	}
	return ret < 0 ? ret : -ENOSPC;
}

static int alloc_slab(struct sim *s)
{
	unsigned int r = s->mount_r[xs(&s->rng) % s->nmounts];
	uint32_t got[2];
	uint32_t k;
	int ret = place(s, r, NULL, 0, got);

	if (ret)
		return ret;
	k = s->nfree ? s->free_list[--s->nfree] : s->nslab++;
	s->slab[k][0] = got[0];
	s->slab[k][1] = r > 1 ? got[1] : NONE;
	s->live_idx[s->live++] = k;
	return 0;
}

static void free_slab(struct sim *s)
{
	uint32_t i, k;

	if (!s->live)
		return;
	i = xs(&s->rng) % s->live;
	k = s->live_idx[i];
	s->live_idx[i] = s->live_idx[--s->live];
	for (int c = 0; c < 2; c++) {
		if (s->slab[k][c] == NONE)
			continue;
		s->d[s->slab[k][c]].used--;
		s->used_total--;
		s->slab[k][c] = NONE;
	}
	s->free_list[s->nfree++] = k;
}

/* 1 % of the live donors leave; their copies are placed again */
static unsigned int donors_leave(struct sim *s)
{
	unsigned int want = s->n / 100 ? s->n / 100 : 1, left = 0;

	while (left < want) {
		unsigned int i = (unsigned int)(xs(&s->rng) % s->n);

		if (s->d[i].gone)
			continue;
		s->d[i].gone = true;
		s->view[i].healthy = false;
		s->cap_total -= s->d[i].cap;
		s->used_total -= s->d[i].used;
		s->d[i].used = 0;
		left++;
	}
	for (uint32_t j = 0; j < s->live; j++) {
		uint32_t k = s->live_idx[j];

		for (int c = 0; c < 2; c++) {
			uint32_t di = s->slab[k][c], other = s->slab[k][!c];
			uint32_t got[1];

			if (di == NONE || !s->d[di].gone)
				continue;
			if (place(s, 1, &other, other == NONE ? 0 : 1, got))
				s->slab[k][c] = NONE; /* lost capacity */
			else
				s->slab[k][c] = got[0];
		}
	}
	return left;
}

/* Once a simulated second: the figures, taken as fill passes them. */
static void checkpoints(struct sim *s)
{
	double f = fill(s), full;

	if (s->mm74 < 0 && f >= 0.74)
		s->mm74 = max_mean(s, NULL);
	if (s->mm90 < 0 && f >= 0.90)
		s->mm90 = max_mean(s, NULL);
	if (s->mm95 < 0 && f >= 0.95)
		s->mm95 = max_mean(s, &s->full95);
	if (s->first_full < 0) {
		max_mean(s, &full);
		if (full > 0)
			s->first_full = f;
	}
}

static int run(struct sim *s, unsigned int n, enum policy pol, uint64_t seed)
{
	uint64_t per_tick = n, ops = 0;
	bool left50 = false, left80 = false;

	memset(s, 0, sizeof(*s));
	s->pol = pol;
	s->n = n;
	s->nmounts = 10 * n;
	s->rng = seed;
	s->d = calloc(n, sizeof(*s->d));
	s->view = calloc(n, sizeof(*s->view));
	s->mount_r = calloc(s->nmounts, 1);
	if (!s->d || !s->view || !s->mount_r)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		struct donor *d = &s->d[i];

		d->cap = 256 + (uint32_t)(xs(&s->rng) % (4096 - 256 + 1));
		d->base_lat_ns = 20000 + (uint32_t)(xs(&s->rng) % 180000);
		d->host_drift_bps =
			(int64_t)(xs(&s->rng) % 100000001) - 50000000;
		for (int w = 0; w < WIN; w++)
			d->hist[w] = d->cap;
		s->cap_total += d->cap;
	}
	for (unsigned int m = 0; m < s->nmounts; m++)
		s->mount_r[m] = xs(&s->rng) % 10 < 3 ? 2 : 1;
	s->slab_cap = s->cap_total + 16;
	s->slab = malloc(s->slab_cap * sizeof(*s->slab));
	s->live_idx = malloc(s->slab_cap * sizeof(*s->live_idx));
	s->free_list = malloc(s->slab_cap * sizeof(*s->free_list));
	if (!s->slab || !s->live_idx || !s->free_list)
		return -ENOMEM;
	s->mm74 = s->mm90 = s->mm95 = s->first_full = -1;
	refresh_views(s);

	for (;;) {
		double f = fill(s);

		if (!left50 && f >= 0.5) {
			s->left_at50 = donors_leave(s);
			left50 = true;
		} else if (!left80 && f >= 0.8) {
			s->left_at80 = donors_leave(s);
			left80 = true;
		}
		if (f >= 0.99 || s->nslab + 2 >= s->slab_cap)
			break;
		if (xs(&s->rng) % 10 < 8) {
			if (alloc_slab(s))
				break;
		} else {
			free_slab(s);
		}
		if (++ops % per_tick == 0) {
			s->t++;
			refresh_views(s);
			checkpoints(s);
		}
	}
	checkpoints(s);
	if (s->first_full < 0)
		s->first_full = fill(s);
	return 0;
}

static void sim_free(struct sim *s)
{
	free(s->d);
	free(s->view);
	free(s->mount_r);
	free(s->slab);
	free(s->live_idx);
	free(s->free_list);
}

static void print_row(const struct sim *s)
{
	printf("| %u | %u | %s | %.3f | %.3f | %.3f | %.1f %% | %.1f %% | "
	       "%.0f |%s\n",
	       s->n, s->nmounts, policy_name[s->pol], s->mm74, s->mm90, s->mm95,
	       100 * s->full95, 100 * s->first_full,
	       (double)s->choice_ns / (double)s->choices,
	       s->failed_distinct ? " REPLICAS NOT DISTINCT" : "");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "donors", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "check", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int sizes[4] = { 10, 100, 1000, 10000 }, nsizes = 4;
	int only = -1, c, ret = 0;
	bool check = false;
	uint64_t seed = 20261206;
	struct sim s;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			sizes[0] = (unsigned int)strtoul(optarg, NULL, 10);
			nsizes = 1;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			for (int p = 0; p < P_COUNT; p++)
				if (!strcmp(optarg, policy_name[p]))
					only = p;
			if (only < 0) {
				fprintf(stderr, "rank_sim: no policy '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			check = true;
			break;
		default:
			fprintf(stderr,
				"usage: rank_sim [--donors N] "
				"[--seed S] [--policy NAME] [--check]\n");
			return 2;
		}
	}
	if (check) {
		/* the goal at a small scale: max/mean <= 1.1 at 74 % and
		 * 90 % full, no donor full before 95 %, replicas distinct */
		if (run(&s, 50, P_RANK, 7) < 0)
			return 2;
		print_row(&s);
		ret = s.mm74 > 1.1 || s.mm90 > 1.1 || s.first_full < 0.95 ||
		      s.failed_distinct;
		sim_free(&s);
		return ret;
	}
	printf("| donors | mounts | policy | max/mean 74 %% | max/mean 90 %% | "
	       "max/mean 95 %% | full at 95 %% | first full at | ns/choice "
	       "|\n|---|---|---|---|---|---|---|---|---|\n");
	for (unsigned int k = 0; k < nsizes; k++) {
		for (int p = 0; p < P_COUNT; p++) {
			if (only >= 0 && p != only)
				continue;
			if (run(&s, sizes[k], p, seed) < 0) {
				fprintf(stderr, "rank_sim: out of memory\n");
				return 2;
			}
			print_row(&s);
			fflush(stdout);
			sim_free(&s);
		}
	}
	return 0;
}
