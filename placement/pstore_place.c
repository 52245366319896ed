// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_place - where new copies go: a slab on one donor
 * (ps_alloc_on), the ranking candidates built from the donor slots
 * (ps_rank_fill) and the replica set of a new slab (ps_slab_place).
 *
 * Threading: any thread but a done() callback; the donor calls are made
 * with no lock held, the candidates are built under rank_lock.
 */
#include "placement/pstore_priv.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

int ps_alloc_on(struct pstore *ps, unsigned int di, struct ps_rep *rep)
{
	struct ps_donor *d = ps_donor_at(ps, di);
	struct xport_slab xs;
	int ret;

	if (!ps_donor_get(d))
		return -ENOTCONN;
	ret = xport_alloc(d->x, &xs);
	if (!ret && xs.size < ps->slab_size) {
		log_warn("donor %s: slab %" PRIu32 " is %" PRIu64
			 " bytes, want %" PRIu64,
			 d->addr, xs.slab, xs.size, ps->slab_size);
		xport_free(d->x, xs.slab);
		ret = -EPROTO;
	}
	ps_donor_put(d);
	pthread_mutex_lock(&ps->lock);
	if (!ret) {
		if (d->free_slabs)
			d->free_slabs--;
		d->slabs++;
		/* every flag clear: rep may be an uninitialised stack copy */
		*rep = (struct ps_rep){ .donor = (uint16_t)di,
					.rslab = xs.slab };
	} else if (ret == -ENOSPC) {
		d->free_slabs = 0; /* until the next QUERY says otherwise */
	}
	pthread_mutex_unlock(&ps->lock);
	if (ret && ret != -ENOSPC)
		LOG_RATELIMITED(LOG_WARNING, "donor %s: slab alloc failed: %s",
				d->addr, strerror(-ret));
	return ret;
}

unsigned int ps_rank_fill(struct pstore *ps, unsigned int nd,
			  const unsigned int *skip, unsigned int nskip,
			  uint32_t s, unsigned int *healthy)
{
	struct rank_donor *cand = ps->rank_cand;
	unsigned int elig = 0;

	*healthy = 0;
	pthread_mutex_lock(&ps->lock);
	for (unsigned int i = 0; i < nd; i++) {
		struct ps_donor *d = ps_donor_at(ps, i);

		cand[i].id = i;
		cand[i].healthy = ps_donor_takes_slabs(d);
		cand[i].free_slabs = d->free_slabs;
		cand[i].total_slabs = d->total_slabs;
		cand[i].trend_bps = d->trend_bps;
		cand[i].latency_ns = atomic_load(&d->lat_ns);
	}
	for (unsigned int k = 0; k < nskip; k++)
		cand[skip[k]].healthy = false;
	if (s != UINT32_MAX) {
		const struct ps_slab *sl = &ps->slabs[s];

		for (unsigned int k = 0; k < sl->nrep; k++)
			cand[sl->rep[k].donor].healthy = false;
	}
	pthread_mutex_unlock(&ps->lock);
	for (unsigned int i = 0; i < nd; i++) {
		*healthy += cand[i].healthy;
		elig += cand[i].healthy && cand[i].free_slabs;
	}
	return elig;
}

/*
 * Chooses and allocates the replicas of a new slab; called with no lock
 * held. Donors that fail are excluded and ranking runs again for what is
 * missing. Fewer than R healthy donors give a degraded slab rather than
 * no slab; none gives -ENOSPC (all full) or -EIO.
 */
int ps_slab_place(struct pstore *ps, uint32_t s, struct ps_rep *rep,
		  unsigned int *nrep)
{
	unsigned int skip[PS_SKIP_MAX], nskip = 0;
	unsigned int have = 0;
	int ret = -EIO, last = -EIO;

	while (have < ps->replicas && nskip + ps->replicas <= PS_SKIP_MAX) {
		unsigned int out[PSTORE_MAX_REPLICAS];
		unsigned int need = ps->replicas - have, elig, healthy;
		unsigned int nd = ps->ndonors;

		pthread_mutex_lock(&ps->rank_lock);
		elig = ps_rank_fill(ps, nd, skip, nskip, UINT32_MAX, &healthy);
		if (elig == 0) {
			/* every healthy donor said full */
			ret = healthy || last == -ENOSPC ? -ENOSPC : -EIO;
			pthread_mutex_unlock(&ps->rank_lock);
			break;
		}
		if (need > elig)
			need = elig; /* degraded rather than nothing */
		ret = rank_choose(ps->rank_cand, nd, need, ps->sample_d, &ps->w,
				  ps_rand, ps, out);
		pthread_mutex_unlock(&ps->rank_lock);
		if (ret < 0)
			break;
		for (unsigned int k = 0; k < need; k++) {
			int r = ps_alloc_on(ps, out[k], &rep[have]);

			skip[nskip++] = out[k];
			if (!r)
				have++;
			else
				last = r;
		}
	}
	if (have == 0) {
		LOG_RATELIMITED(LOG_ERR,
				"pstore: slab %" PRIu32 ": no donor: %s", s,
				strerror(-ret));
		return ret < 0 ? ret : -EIO;
	}
	if (have < ps->replicas)
		LOG_RATELIMITED(LOG_WARNING,
				"pstore: slab %" PRIu32
				": only %u of %u replicas placed",
				s, have, ps->replicas);
	*nrep = have;
	return 0;
}
