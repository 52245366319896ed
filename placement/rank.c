// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rank - dense Borda ranking over a power-of-d sample; see rank.h.
 */
#include "placement/rank.h"

#include <errno.h>
#include <stddef.h>

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
	return w->free >= 0 && w->trend >= 0 && w->latency >= 0;
}

int rank_choose(const struct rank_donor *cand, unsigned int n, unsigned int r,
		unsigned int d, const struct rank_weights *w, rank_rand_fn rnd,
		void *rnd_arg, unsigned int *out)
{
	unsigned int elig[RANK_MAX];
	double vf[RANK_MAX], vt[RANK_MAX], vl[RANK_MAX], score[RANK_MAX];
	unsigned int pf[RANK_MAX], pt[RANK_MAX], pl[RANK_MAX];
	uint64_t key[RANK_MAX];
	unsigned int ne = 0, healthy = 0;

	if (!cand || !w || !rnd || !out || r == 0 || n > RANK_MAX ||
	    r > RANK_MAX || !weights_ok(w))
		return -EINVAL;

	for (unsigned int i = 0; i < n; i++) {
		if (!cand[i].healthy)
			continue;
		healthy++;
		if (cand[i].free_slabs > 0)
			elig[ne++] = i;
	}
	if (ne < r)
		return healthy >= r ? -ENOSPC : -EHOSTDOWN;

	if (d == 0)
		d = n < 2 * r + 1 ? n : 2 * r + 1;
	if (d < r)
		d = r;
	if (d > ne)
		d = ne;

	/* partial Fisher-Yates: elig[0..d) becomes a uniform sample */
	for (unsigned int i = 0; i < d; i++) {
		unsigned int j = i + (unsigned int)(rnd(rnd_arg) % (ne - i));
		unsigned int t = elig[i];

		elig[i] = elig[j];
		elig[j] = t;
	}

	for (unsigned int i = 0; i < d; i++) {
		const struct rank_donor *c = &cand[elig[i]];

		vf[i] = (double)c->free_slabs;
		vt[i] = (double)c->trend_bps;
		vl[i] = -(double)c->latency_ns; /* lower latency is better */
	}
	rank_dense_points(vf, d, pf);
	rank_dense_points(vt, d, pt);
	rank_dense_points(vl, d, pl);
	for (unsigned int i = 0; i < d; i++) {
		score[i] =
			w->free * pf[i] + w->trend * pt[i] + w->latency * pl[i];
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
			unsigned int te = elig[k];
			double ts = score[k];
			uint64_t tk = key[k];

			elig[k] = elig[best];
			score[k] = score[best];
			key[k] = key[best];
			elig[best] = te;
			score[best] = ts;
			key[best] = tk;
		}
		out[k] = cand[elig[k]].id;
	}
	return (int)r;
}
