// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_repair - the page store's repair thread: brings degraded slabs
 * back to R copies and moves slabs off donors that want them back
 * (EVICT) or are drained.
 *
 * Re-replication: a slab with fewer than R live copies gets a new replica
 * on a ranked donor that holds none of its live copies. The new replica
 * is "filling": every write goes to it too, reads never do. It is filled
 * chunk by chunk from a live replica (or the backup); for each chunk the
 * slab's fence holds back new writes and the copy waits until the writes
 * already submitted have finished, so the source has the latest data and
 * no write can land on the new replica between the copy's read and its
 * write. After the last chunk the replica turns live.
 *
 * Threading: one thread per store, from pstore_open() to pstore_close();
 * it repairs one slab at a time, never holds ps->lock across a donor or
 * backup call, and owns ps->repair_buf.
 */
#include "placement/pstore_priv.h"
#include "placement/pstore_state.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* repair and migration copy at most 256 KiB per ms (256 MiB/s) */
#define PS_REPAIR_CHUNK_NS 1000000ull

struct sync_wait {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int done, status;
	struct ps_donor *d;
};

static void sync_signal(struct sync_wait *w, int status)
{
	pthread_mutex_lock(&w->lock);
	w->status = status;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
}

static void sync_io_done(struct xport_io *io, int status)
{
	struct sync_wait *w = io->priv;

	ps_donor_put(w->d);
	sync_signal(w, status);
}

static void sync_bio_done(struct backup_io *bio, int status)
{
	sync_signal(bio->priv, status);
}

/* One synchronous io on a donor (or the backup when d is NULL, with the
 * pages' tags when tags is not NULL). */
static int sync_io(struct pstore *ps, struct ps_donor *d, uint8_t dir,
		   uint32_t rslab, uint64_t off, uint64_t loff, uint32_t len,
		   void *buf, void *tags)
{
	struct sync_wait w = { .done = 0 };
	struct xport_io io = { 0 };
	struct backup_io bio = { 0 };

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.d = d;
	if (d) {
		io.dir = dir;
		io.slab = rslab;
		io.off = off;
		io.len = len;
		io.buf = buf;
		io.done = sync_io_done;
		io.priv = &w;
		ps_donor_submit(d, &io);
	} else {
		bio.dir = dir;
		bio.off = loff;
		bio.len = len;
		bio.buf = buf;
		bio.tags = tags;
		bio.done = sync_bio_done;
		bio.priv = &w;
		backup_submit(ps->backup, &bio);
	}
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.lock);
	return w.status;
}

static unsigned int live_reps(const struct ps_slab *sl, bool count_evict)
{
	unsigned int n = 0;

	for (unsigned int k = 0; k < sl->nrep; k++)
		n += !sl->rep[k].stale && !sl->rep[k].filling &&
		     (count_evict || !sl->rep[k].evict);
	return n;
}

/* Picks a degraded slab that can be repaired; under ps->lock. */
static int64_t repair_pick(struct pstore *ps)
{
	if (atomic_load(&ps->repair_off))
		return -1;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int live;

		if (sl->state != SLAB_READY || sl->repairing || !sl->used)
			continue;
		/* a copy its donor wants back does not count: migrate it */
		live = live_reps(sl, false);
		if (live >= ps->replicas ||
		    (!live_reps(sl, true) && !sl->backup) ||
		    sl->nrep >= PS_MAX_COPIES)
			continue;
		for (unsigned int i = 0; i < ps->ndonors; i++) {
			struct ps_donor *d = ps_donor_at(ps, i);
			bool holds = false;

			if (!ps_donor_takes_slabs(d) || !d->free_slabs ||
			    atomic_load(&d->fail_err))
				continue;
			for (unsigned int k = 0; k < sl->nrep; k++)
				holds |= sl->rep[k].donor == i &&
					 !sl->rep[k].stale;
			if (!holds)
				return s;
		}
	}
	return -1;
}

/* Sealed store: the tags of pages [p, p+n) of a donor copy, read or
 * written; 0 without a seal. */
static int sync_tags(struct pstore *ps, struct ps_donor *d, uint8_t dir,
		     uint32_t rslab, uint32_t p, unsigned int n, void *tags)
{
	if (!ps->seal)
		return 0;
	return sync_io(ps, d, dir, rslab, ps_tag_off(ps, p), 0, n * SEAL_TAG,
		       tags, NULL);
}

/* Copies chunk [p, p+n) pages of slab s (ciphertext and tags as they are:
 * the AEAD binds them to the page, not to a donor) from a live copy to
 * dst. */
static int repair_chunk(struct pstore *ps, uint32_t s, uint32_t p,
			unsigned int n, const struct ps_rep *dst)
{
	struct ps_slab *sl = &ps->slabs[s];
	struct ps_rep src[PS_MAX_COPIES];
	unsigned int nsrc = 0;
	bool backup;
	uint64_t off = (uint64_t)p * PSTORE_PAGE;
	uint64_t loff = ((uint64_t)s * ps->pages_per_slab + p) * PSTORE_PAGE;
	uint32_t len = n * PSTORE_PAGE;
	char *tags = ps->repair_buf + (size_t)PS_RUN_MAX_PAGES * PSTORE_PAGE;
	int ret = -EIO;

	pthread_mutex_lock(&ps->lock);
	sl->fence = true;
	while (sl->wios)
		pthread_cond_wait(&ps->slab_cv, &ps->lock);
	for (unsigned int k = 0; k < sl->nrep; k++)
		if (!sl->rep[k].stale && !sl->rep[k].filling)
			src[nsrc++] = sl->rep[k];
	backup = sl->backup;
	pthread_mutex_unlock(&ps->lock);

	for (unsigned int k = 0; k <= nsrc && ret; k++) {
		struct ps_donor *d =
			k < nsrc ? ps_donor_at(ps, src[k].donor) : NULL;

		if (k == nsrc && !backup)
			break;
		ret = sync_io(ps, d, XPORT_READ, d ? src[k].rslab : 0, off,
			      loff, len, ps->repair_buf,
			      ps->seal ? tags : NULL);
		if (!ret && d)
			ret = sync_tags(ps, d, XPORT_READ, src[k].rslab, p, n,
					tags);
	}
	if (!ret)
		ret = sync_io(ps, ps_donor_at(ps, dst->donor), XPORT_WRITE,
			      dst->rslab, off, 0, len, ps->repair_buf, NULL);
	if (!ret)
		ret = sync_tags(ps, ps_donor_at(ps, dst->donor), XPORT_WRITE,
				dst->rslab, p, n, tags);

	pthread_mutex_lock(&ps->lock);
	sl->fence = false;
	pthread_cond_broadcast(&ps->slab_cv);
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

static int repair_slab(struct pstore *ps, uint32_t s)
{
	struct ps_slab *sl = &ps->slabs[s];
	struct ps_rep drop[PS_MAX_COPIES], evicted[PS_MAX_COPIES];
	struct ps_rep nrep_new = { 0 };
	unsigned int ndrop = 0, nevicted = 0, keep = 0, out[1], idx = 0, nd;
	unsigned int healthy, failing[PS_SKIP_MAX], nfailing = 0;
	int ret;

	/* drop the stale copies; rank among donors without a live one */
	pthread_mutex_lock(&ps->lock);
	for (unsigned int k = 0; k < sl->nrep; k++) {
		if (sl->rep[k].stale)
			drop[ndrop++] = sl->rep[k];
		else
			sl->rep[keep++] = sl->rep[k];
	}
	sl->nrep = (uint8_t)keep;
	ps_state_slab_save(ps, s);
	nd = ps->ndonors;
	/* test hook: a donor made to fail every io takes no new copy */
	for (unsigned int i = 0; i < nd && nfailing < PS_SKIP_MAX; i++)
		if (atomic_load(&ps_donor_at(ps, i)->fail_err))
			failing[nfailing++] = i;
	for (unsigned int k = 0; k < ndrop; k++)
		ps_donor_at(ps, drop[k].donor)->slabs--;
	pthread_mutex_unlock(&ps->lock);

	for (unsigned int k = 0; k < ndrop; k++) {
		struct ps_donor *d = ps_donor_at(ps, drop[k].donor);

		if (!drop[k].lost)
			ps_free_copy(d, drop[k].rslab);
	}

	/* rank among donors without a live copy (sl->rep, under ps->lock) */
	pthread_mutex_lock(&ps->rank_lock);
	ps_rank_fill(ps, nd, failing, nfailing, s, &healthy);
	ret = rank_choose(ps->rank_cand, nd, 1, ps->sample_d, &ps->w, ps_rand,
			  ps, out);
	pthread_mutex_unlock(&ps->rank_lock);
	if (ret == 1)
		ret = ps_alloc_on(ps, out[0], &nrep_new);
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING,
				"pstore: slab %" PRIu32 ": no donor to repair "
				"it on: %s",
				s, strerror(-ret));
		goto out_done;
	}

	pthread_mutex_lock(&ps->lock);
	nrep_new.filling = true;
	idx = sl->nrep;
	sl->rep[sl->nrep++] = nrep_new;
	ps_state_slab_save(ps, s); /* a successor gives it back */
	pthread_mutex_unlock(&ps->lock);

	for (uint32_t p = 0; p < ps->pages_per_slab && !ret;
	     p += PS_RUN_MAX_PAGES) {
		unsigned int n = ps->pages_per_slab - p < PS_RUN_MAX_PAGES
					 ? ps->pages_per_slab - p
					 : PS_RUN_MAX_PAGES;
		uint64_t t0 = mono_ns(), took;
		bool stop;

		ret = repair_chunk(ps, s, p, n, &nrep_new);
		pthread_mutex_lock(&ps->lock);
		stop = ps->stopping || sl->rep[idx].stale;
		pthread_mutex_unlock(&ps->lock);
		if (stop && !ret)
			ret = -ECANCELED;
		/* rate limit: the workload keeps the links and donors */
		took = mono_ns() - t0;
		if (!ret && took < PS_REPAIR_CHUNK_NS)
			usleep((useconds_t)((PS_REPAIR_CHUNK_NS - took) /
					    1000));
	}

	pthread_mutex_lock(&ps->lock);
	if (!ret && !sl->rep[idx].stale) {
		keep = 0;
		/* the switch: no write in flight while copies are dropped */
		sl->fence = true;
		while (sl->wios)
			pthread_cond_wait(&ps->slab_cv, &ps->lock);
		sl->rep[idx].filling = false;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			/* the new copy is live: the donor gets it back */
			if (sl->rep[k].evict && !sl->rep[k].stale) {
				evicted[nevicted++] = sl->rep[k];
				ps_donor_at(ps, sl->rep[k].donor)->slabs--;
				ps_donor_at(ps, sl->rep[k].donor)->free_slabs++;
				continue;
			}
			sl->rep[keep++] = sl->rep[k];
		}
		sl->nrep = (uint8_t)keep;
		ps_state_slab_save(ps, s);
		sl->fence = false;
		pthread_cond_broadcast(&ps->slab_cv);
		atomic_fetch_add(nevicted ? &ps->migrated : &ps->repaired, 1);
	} else {
		/* failed: a stale replica is dropped on the next round */
		sl->rep[idx].filling = false;
		sl->rep[idx].stale = true;
		ps_state_slab_save(ps, s);
	}
	pthread_mutex_unlock(&ps->lock);
	if (ret)
		LOG_RATELIMITED(LOG_WARNING,
				"pstore: slab %" PRIu32 ": repair failed: %s",
				s, strerror(-ret));
	else
		log_info("pstore: slab %" PRIu32 ": replica added on donor %s",
			 s, ps_donor_at(ps, nrep_new.donor)->addr);
	for (unsigned int k = 0; k < nevicted; k++) {
		struct ps_donor *d = ps_donor_at(ps, evicted[k].donor);

		if (!ps_free_copy(d, evicted[k].rslab))
			log_info("donor %s: slab %" PRIu32
				 " given back (pstore slab %" PRIu32 ")",
				 d->addr, evicted[k].rslab, s);
	}
out_done:
	pthread_mutex_lock(&ps->lock);
	sl->repairing = false;
	if (!sl->used && !sl->ios) {
		ps->free_pending = true;
		pthread_cond_signal(&ps->tick_cv);
	}
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

void *ps_repair_main(void *arg)
{
	struct pstore *ps = arg;

	pthread_mutex_lock(&ps->lock);
	while (!ps->stopping) {
		struct timespec ts;
		int64_t s = repair_pick(ps);

		if (s >= 0) {
			int ret;

			ps->slabs[s].repairing = true;
			pthread_mutex_unlock(&ps->lock);
			ret = repair_slab(ps, (uint32_t)s);
			pthread_mutex_lock(&ps->lock);
			if (!ret)
				continue; /* next one at once */
		}
		/* nothing to do, or a failure: look again a bit later */
		ps_deadline_in(&ts, 200);
		pthread_cond_timedwait(&ps->repair_cv, &ps->lock, &ts);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}
