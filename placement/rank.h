/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rank - rank-based donor choice, the paper's second technique.
 *
 * rank_choose() picks the replica set of a new slab: it samples d eligible
 * donors (healthy, with free slabs: power of d choices), scores each on
 * three criteria with dense Borda points (on each criterion, a candidate
 * gets as many points as there are distinct values worse than its own, so
 * equal values get equal points), sums the points weighted, and returns
 * the R best distinct donors, ties broken at random.
 *
 *   free slabs   more is better
 *   trend        larger (memory growing on the donor host) is better
 *   latency      lower is better
 *
 * Donors that are not sampled are never chosen. When fewer than R donors
 * are eligible it fails at once (no retry, no spin).
 *
 * Threading: pure function of its arguments; the random source is called
 * only from the calling thread.
 */
#ifndef CNM_PLACEMENT_RANK_H
#define CNM_PLACEMENT_RANK_H

#include <stdbool.h>
#include <stdint.h>

#define RANK_MAX 256 /* candidates one call considers */

struct rank_donor {
	unsigned int id; /* returned in out[] */
	bool healthy;
	uint64_t free_slabs;
	int64_t trend_bps; /* slope of the host's available memory */
	uint64_t latency_ns;
};

struct rank_weights {
	double free, trend, latency; /* >= 0 */
};

/* A random 64-bit value; injectable so tests can fix the sample. */
typedef uint64_t (*rank_rand_fn)(void *arg);

/*
 * Chooses r distinct donors among cand[0..n) and writes their ids to
 * out[0..r), best first. d is the sample size (0: min(n, 2r+1); raised to
 * r if smaller). Returns r, -EINVAL for bad arguments (r == 0, n or r
 * above RANK_MAX, NULL pointers, negative weights), -ENOSPC when fewer
 * than r healthy donors have a free slab although r are healthy (the
 * donors are full), -EHOSTDOWN when fewer than r donors are healthy.
 */
int rank_choose(const struct rank_donor *cand, unsigned int n, unsigned int r,
		unsigned int d, const struct rank_weights *w, rank_rand_fn rnd,
		void *rnd_arg, unsigned int *out);

/* Dense Borda points of vals[0..n) (higher value = better) into pts[].
 * Exposed for tests. */
void rank_dense_points(const double *vals, unsigned int n, unsigned int *pts);

#endif
