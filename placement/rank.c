// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rank - dense Borda ranking over a power-of-d sample, within a balance
 * band; see rank.h.
 */
#include "placement/rank.h"

#include <errno.h>
#include <stddef.h>

/* up to this many candidates the sample comes from a full scan */
#define RANK_SCAN_MAX 64

void rank_dense_points(const double *vals, unsigned int n, unsigned int *pts)
{
	/* points = number of distinct values strictly below this one */
	for (unsigned int i = 0; i < n; i++) {
		unsigned int p = 0;

		for (unsigned int j = 0; j < n; j++) {
			bool first = true;

			if (!(vals[j] < vals[i]))
				continue;
			/* count each distinct lower value once */
			for (unsigned int k = 0; k < j; k++) {
				if (vals[k] == vals[j]) {
					first = false;
					break;
				}
			}
			if (first)
				p++;
		}
		pts[i] = p;
	}
}

static bool weights_ok(const struct rank_weights *w)
{
	/* also rejects NaN */
	return w->free >= 0 && w->trend >= 0 && w->latency >= 0 &&
	       !(w->band > 1);
}

static bool eligible(const struct rank_donor *c)
{
	return c->healthy && c->free_slabs > 0;
}

/*
 * Few candidates: s[0..d) becomes a uniform sample of the eligible ones by
 * a partial Fisher-Yates over all of them. Returns the sample size (the
 * eligible count if smaller) and counts the healthy donors.
 */
static unsigned int sample_scan(const struct rank_donor *cand, unsigned int n,
				unsigned int d, rank_rand_fn rnd, void *arg,
				unsigned int *s, unsigned int *healthy)
{
	unsigned int elig[RANK_SCAN_MAX], ne = 0;

	for (unsigned int i = 0; i < n; i++) {
		*healthy += cand[i].healthy;
		if (eligible(&cand[i]))
			elig[ne++] = i;
	}
	if (d > ne)
		d = ne;
	for (unsigned int i = 0; i < d; i++) {
		unsigned int j = i + (unsigned int)(rnd(arg) % (ne - i));
		unsigned int t = elig[i];

		elig[i] = elig[j];
		elig[j] = t;
		s[i] = elig[i];
	}
	return d;
}

/*
 * Many candidates: draws distinct eligible ones at random (rejection),
 * O(d) when most are eligible; when that does not find d quickly, one
 * reservoir pass over all of them (also counting the healthy ones).
 */
static unsigned int sample_many(const struct rank_donor *cand, unsigned int n,
				unsigned int d, rank_rand_fn rnd, void *arg,
				unsigned int *s, unsigned int *healthy)
{
	unsigned int got = 0, ne = 0;

	for (unsigned int t = 0; t < 4 * d + 8 && got < d; t++) {
		unsigned int j = (unsigned int)(rnd(arg) % n), k;

		if (!eligible(&cand[j]))
			continue;
		for (k = 0; k < got && s[k] != j; k++)
			;
		if (k == got)
			s[got++] = j;
	}
	if (got == d) {
		*healthy = n; /* not counted: only needed below r */
		return d;
	}
	for (unsigned int i = 0; i < n; i++) {
		*healthy += cand[i].healthy;
		if (!eligible(&cand[i]))
			continue;
		if (ne < d) {
			s[ne] = i;
		} else {
			uint64_t j = rnd(arg) % (ne + 1);

			if (j < d)
				s[j] = i;
		}
		ne++;
	}
	return ne < d ? ne : d;
}

static double used_frac(const struct rank_donor *c)
{
	return 1.0 - (double)c->free_slabs / (double)c->total_slabs;
}

int rank_choose(const struct rank_donor *cand, unsigned int n, unsigned int r,
		unsigned int d, const struct rank_weights *w, rank_rand_fn rnd,
		void *rnd_arg, unsigned int *out)
{
	unsigned int s[RANK_SAMPLE_MAX];
	double vf[RANK_SAMPLE_MAX], vt[RANK_SAMPLE_MAX], vl[RANK_SAMPLE_MAX];
	double score[RANK_SAMPLE_MAX];
	unsigned int pf[RANK_SAMPLE_MAX], pt[RANK_SAMPLE_MAX];
	unsigned int pl[RANK_SAMPLE_MAX];
	uint64_t key[RANK_SAMPLE_MAX];
	unsigned int healthy = 0, m = 0;
	bool fractions = true;
	double umin = 2;

	if (!cand || !w || !rnd || !out || r == 0 || r > RANK_SAMPLE_MAX ||
	    !weights_ok(w))
		return -EINVAL;

	if (d == 0)
		d = n < 2 * r + 1 ? n : 2 * r + 1;
	if (d < r)
		d = r;
	if (d > RANK_SAMPLE_MAX)
		d = RANK_SAMPLE_MAX;
	if (n <= RANK_SCAN_MAX)
		d = sample_scan(cand, n, d, rnd, rnd_arg, s, &healthy);
	else
		d = sample_many(cand, n, d, rnd, rnd_arg, s, &healthy);
	if (d < r)
		return healthy >= r ? -ENOSPC : -EHOSTDOWN;

	for (unsigned int i = 0; i < d; i++) {
		const struct rank_donor *c = &cand[s[i]];

		if (!c->total_slabs || c->free_slabs > c->total_slabs)
			fractions = false;
		else if (used_frac(c) < umin)
			umin = used_frac(c);
	}
	/* the band's donors first: s[0..m) */
	for (unsigned int i = 0; i < d; i++) {
		unsigned int t = s[i];

		if (w->band >= 0 && fractions &&
		    used_frac(&cand[t]) > umin + w->band)
			continue;
		s[i] = s[m];
		s[m++] = t;
	}

	for (unsigned int i = 0; i < m; i++) {
		const struct rank_donor *c = &cand[s[i]];

		vf[i] = fractions ? -used_frac(c) : (double)c->free_slabs;
		vt[i] = (double)c->trend_bps;
		vl[i] = -(double)c->latency_ns; /* lower latency is better */
	}
	rank_dense_points(vf, m, pf);
	rank_dense_points(vt, m, pt);
	rank_dense_points(vl, m, pl);
	for (unsigned int i = 0; i < d; i++) {
		if (i < m)
			score[i] = w->free * pf[i] + w->trend * pt[i] +
				   w->latency * pl[i];
		else /* outside the band: after all of it, emptiest first */
			score[i] = -1.0 - used_frac(&cand[s[i]]);
		key[i] = rnd(rnd_arg);
	}

	/* selection of the r best: score, then the random key */
	for (unsigned int k = 0; k < r; k++) {
		unsigned int best = k;

		for (unsigned int i = k + 1; i < d; i++) {
			if (score[i] > score[best] ||
			    (score[i] == score[best] && key[i] > key[best]))
				best = i;
		}
		if (best != k) {
			unsigned int te = s[k];
			double ts = score[k];
			uint64_t tk = key[k];

			s[k] = s[best];
			score[k] = score[best];
			key[k] = key[best];
			s[best] = te;
			score[best] = ts;
			key[best] = tk;
		}
		out[k] = cand[s[k]].id;
	}
	return (int)r;
}
