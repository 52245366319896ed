/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rank - rank-based donor choice, the paper's second technique.
 *
 * rank_choose() picks the replica set of a new slab: it samples d eligible
 * donors (healthy, with free slabs: power of d choices), keeps those whose
 * used fraction is within the balance band of the least used one sampled,
 * scores each on three criteria with dense Borda points (on each
 * criterion, a candidate gets as many points as there are distinct values
 * worse than its own, so equal values get equal points), sums the points
 * weighted, and returns the R best distinct donors, ties broken at random.
 *
 *   free         more is better: the free fraction of the donor's pool
 *                when its total is known, else its free slabs
 *   trend        larger is better: the slope of what the donor can still
 *                give (its free pool, capped by its host's available
 *                memory); negative while it fills up or its host runs
 *                short of memory
 *   latency      lower is better
 *
 * Why a band: Borda points are ordinal, so a donor 1 % emptier than
 * another gets the same edge as one 50 % emptier, and any criterion that
 * favours the same donors again and again (a low latency, a growing
 * host) would fill them to the brim while others stay empty. Within the
 * band the weights decide; outside it the emptier donor always wins. A
 * sampled donor outside the band is taken only when fewer than R are in
 * it. band < 0 turns the band off (pure weighted Borda, the paper's).
 *
 * Donors that are not sampled are never chosen. When fewer than R donors
 * are eligible it fails at once (no retry, no spin). Any number of
 * candidates: the sample is drawn by rejection in O(d) expected time when
 * most donors are eligible, by one reservoir pass over cand[] otherwise;
 * only the sample (at most RANK_SAMPLE_MAX) is kept on the stack.
 *
 * Threading: pure function of its arguments; the random source is called
 * only from the calling thread.
 */
#ifndef CNM_PLACEMENT_RANK_H
#define CNM_PLACEMENT_RANK_H

#include <stdbool.h>
#include <stdint.h>

#define RANK_SAMPLE_MAX 64 /* largest sample d; also the most replicas */
#define RANK_DEF_BAND	0.02

struct rank_donor {
	unsigned int id; /* returned in out[] */
	bool healthy;
	uint64_t free_slabs;
	uint64_t total_slabs; /* 0: unknown (free slabs ranked as counts) */
	int64_t trend_bps;    /* slope of what it can still give, bytes/s */
	uint64_t latency_ns;
};

struct rank_weights {
	double free, trend, latency; /* >= 0 */
	double band; /* used-fraction band, 0..1; < 0: none (see above) */
};

/* A random 64-bit value; injectable so tests can fix the sample. */
typedef uint64_t (*rank_rand_fn)(void *arg);

/*
 * Chooses r distinct donors among cand[0..n) and writes their ids to
 * out[0..r), best first. d is the sample size (0: min(n, 2r+1); raised to
 * r if smaller, capped at RANK_SAMPLE_MAX). Returns r, -EINVAL for bad
 * arguments (r == 0 or above RANK_SAMPLE_MAX, NULL pointers, negative
 * weights, a band above 1), -ENOSPC when fewer than r healthy donors have
 * a free slab although r are healthy (the donors are full), -EHOSTDOWN
 * when fewer than r donors are healthy.
 */
int rank_choose(const struct rank_donor *cand, unsigned int n, unsigned int r,
		unsigned int d, const struct rank_weights *w, rank_rand_fn rnd,
		void *rnd_arg, unsigned int *out);

/* Dense Borda points of vals[0..n) (higher value = better) into pts[].
 * Exposed for tests. */
void rank_dense_points(const double *vals, unsigned int n, unsigned int *pts);

#endif
