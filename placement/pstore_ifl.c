// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_ifl - the page store's in-flight write table and, in a sealed
 * store, the page versions published through it: a write becomes a page's
 * next version and visible to reads in one step under the table's stripe
 * lock (reads capture the versions they check under the same lock); and
 * what a page that fails its check does to its donor's account. See
 * pstore_priv.h for the objects and locks, pstore.c for the data path.
 */
#include "placement/pstore_priv.h"
#include "placement/pstore_state.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

/* Under ps->lock: copies on donor di that another live copy (or the
 * backup) can stand in for become stale, so the repair thread rebuilds
 * them elsewhere; sole copies stay readable (every page is checked). */
static void donor_drop_copies(struct pstore *ps, unsigned int di)
{
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int others = sl->backup ? 1 : 0;

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++)
			others += sl->rep[k].donor != di && !sl->rep[k].stale &&
				  !sl->rep[k].filling;
		for (unsigned int k = 0; k < sl->nrep && others; k++)
			if (sl->rep[k].donor == di)
				sl->rep[k].stale = true;
	}
	ps_state_slabs_save(ps);
	pthread_cond_broadcast(&ps->repair_cv);
}

void ps_bad_pages(struct pstore *ps, uint32_t s, const struct ps_rep *rep,
		  unsigned int n, uint64_t lpn)
{
	struct ps_donor *d = ps_donor_at(ps, rep->donor);
	uint64_t total = atomic_fetch_add(&d->bad_pages, n) + n;

	LOG_RATELIMITED(LOG_ERR,
			"donor %s: slab %" PRIu32 " (pstore slab %" PRIu32
			"): %u page(s) from page %" PRIu64
			" failed the integrity check (%" PRIu64 " so far)",
			d->addr, rep->rslab, s, n, lpn, total);
	if (total < PS_FAULTY_AFTER || atomic_exchange(&d->faulty, true))
		return;
	log_err("donor %s: faulty: %" PRIu64 " pages failed their integrity "
		"check; no new slab goes there, its copies are rebuilt "
		"elsewhere",
		d->addr, total);
	pthread_mutex_lock(&ps->lock);
	donor_drop_copies(ps, rep->donor);
	pthread_mutex_unlock(&ps->lock);
}

/* ------------------------------------------------------ in-flight table */

/* Under ps->ifl[slab % PS_NIFL]. */
static void ifl_link(struct ps_slab *sl, struct ps_run *run)
{
	run->next = NULL;
	run->prev = sl->ifl_tail;
	if (sl->ifl_tail)
		sl->ifl_tail->next = run;
	else
		sl->ifl_head = run;
	sl->ifl_tail = run;
}

void ps_ifl_add(struct pstore *ps, struct ps_run *run)
{
	pthread_mutex_t *l = &ps->ifl[run->slab % PS_NIFL];

	pthread_mutex_lock(l);
	ifl_link(&ps->slabs[run->slab], run);
	pthread_mutex_unlock(l);
}

/* Whether an in-flight write of sl covers a page of [lpn, lpn+n); under
 * ps->ifl[slab % PS_NIFL]. */
static bool ifl_overlaps(const struct ps_slab *sl, uint64_t lpn, unsigned int n)
{
	for (const struct ps_run *w = sl->ifl_head; w; w = w->next)
		if (w->lpn < lpn + n && lpn < w->lpn + w->npages)
			return true;
	return false;
}

/*
 * Sealed store: makes run the page's next version and puts it on the
 * in-flight list in one step, so a read sees either the old version (and
 * the old data) or this write's buffer. Waits first for in-flight writes
 * overlapping run (two writes of a page reach every copy in version
 * order); seals the buffer in place. -EIO when a page used up its
 * versions (2^31 writes).
 */
int ps_ifl_add_sealed(struct pstore *ps, struct ps_run *run)
{
	unsigned int st = run->slab % PS_NIFL;
	struct ps_slab *sl = &ps->slabs[run->slab];
	pthread_mutex_t *l = &ps->ifl[st];
	int ret = 0;

	pthread_mutex_lock(l);
	while (ifl_overlaps(sl, run->lpn, run->npages))
		pthread_cond_wait(&ps->ifl_cv[st], l);
	for (unsigned int i = 0; i < run->npages; i++) {
		uint32_t v = atomic_load_explicit(&ps->ver[run->lpn + i],
						  memory_order_relaxed);

		if ((v & PS_VER_COUNT) == PS_VER_COUNT) {
			LOG_RATELIMITED(LOG_ERR,
					"pstore: page %" PRIu64
					": 2^31 writes, no version left; "
					"write it to a new file",
					run->lpn + i);
			ret = -EIO;
			goto out_unlock;
		}
	}
	for (unsigned int i = 0; i < run->npages; i++) {
		_Atomic uint32_t *vp = &ps->ver[run->lpn + i];
		uint32_t v = (atomic_load_explicit(vp, memory_order_relaxed) &
			      PS_VER_COUNT) +
			     1;
		run->oldver[i] = atomic_load_explicit(vp, memory_order_relaxed);
		run->ver[i] = v | PS_VER_DATA;
		atomic_store_explicit(vp, v | PS_VER_DATA,
				      memory_order_relaxed);
	}
	/* listed now, sealed outside the lock: writers of other slabs of
	 * the stripe, and reads, do not wait for the cipher; a read of these
	 * pages waits for `sealing` to drop (ps_ifl_serve) */
	run->sealing = true;
	ifl_link(sl, run);
	pthread_mutex_unlock(l);
	for (unsigned int i = 0; i < run->npages; i++) {
		char *pg = run->buf + (size_t)i * PSTORE_PAGE;

		seal_page(ps->seal, run->lpn + i, run->ver[i] & PS_VER_COUNT,
			  pg, pg, run->tags[i]);
	}
	pthread_mutex_lock(l);
	run->sealing = false;
	pthread_cond_broadcast(&ps->ifl_cv[st]);
out_unlock:
	pthread_mutex_unlock(l);
	return ret;
}

/* Whether an in-flight write covering a page of [lpn, lpn+n) is still
 * being sealed; under the stripe lock. */
static bool ifl_sealing(const struct ps_slab *sl, uint64_t lpn, unsigned int n)
{
	for (const struct ps_run *w = sl->ifl_head; w; w = w->next)
		if (w->sealing && w->lpn < lpn + n && lpn < w->lpn + w->npages)
			return true;
	return false;
}

void ps_ifl_remove(struct pstore *ps, struct ps_run *run)
{
	struct ps_slab *sl = &ps->slabs[run->slab];
	pthread_mutex_t *l = &ps->ifl[run->slab % PS_NIFL];

	pthread_mutex_lock(l);
	if (run->prev)
		run->prev->next = run->next;
	else
		sl->ifl_head = run->next;
	if (run->next)
		run->next->prev = run->prev;
	else
		sl->ifl_tail = run->prev;
	if (ps->seal)
		pthread_cond_broadcast(&ps->ifl_cv[run->slab % PS_NIFL]);
	pthread_mutex_unlock(l);
	run->next = run->prev = NULL;
}

/*
 * Copies pages [lpn, lpn+n) that an in-flight write covers into buf
 * (opening sealed ones); returns the mask of the pages it served (n <=
 * 64). Sealed store: ver[i] gets the version of each page not served, in
 * the same lock hold, so the read checks what the copies held then.
 */
uint64_t ps_ifl_serve(struct pstore *ps, uint32_t s, uint64_t lpn,
		      unsigned int n, char *buf, uint32_t *ver)
{
	struct ps_slab *sl = &ps->slabs[s];
	pthread_mutex_t *l = &ps->ifl[s % PS_NIFL];
	uint64_t mask = 0, all = n == 64 ? ~0ull : (1ull << n) - 1;

	pthread_mutex_lock(l);
	/* a write being sealed holds neither its data nor its ciphertext */
	while (ps->seal && ifl_sealing(sl, lpn, n))
		pthread_cond_wait(&ps->ifl_cv[s % PS_NIFL], l);
	/* newest first: the first write found for a page is the latest */
	for (struct ps_run *w = sl->ifl_tail; w && mask != all; w = w->prev) {
		uint64_t lo = w->lpn > lpn ? w->lpn : lpn;
		uint64_t hi = w->lpn + w->npages < lpn + n ? w->lpn + w->npages
							   : lpn + n;

		for (uint64_t p = lo; p < hi; p++) {
			uint64_t bit = 1ull << (p - lpn);

			if (mask & bit)
				continue;
			if (!ps->seal)
				memcpy(buf + (p - lpn) * PSTORE_PAGE,
				       w->buf + (p - w->lpn) * PSTORE_PAGE,
				       PSTORE_PAGE);
			else if (seal_unseal(ps->seal, p,
					     w->ver[p - w->lpn] & PS_VER_COUNT,
					     w->buf +
						     (p - w->lpn) * PSTORE_PAGE,
					     buf + (p - lpn) * PSTORE_PAGE,
					     w->tags[p - w->lpn]))
				continue; /* cannot be: our own memory */
			mask |= bit;
		}
	}
	if (ps->seal)
		for (unsigned int i = 0; i < n; i++)
			ver[i] = atomic_load_explicit(&ps->ver[lpn + i],
						      memory_order_relaxed);
	pthread_mutex_unlock(l);
	return mask;
}

/* Sealed read: the pages of run in *mask that an in-flight write covers
 * are opened from its buffer into run->buf and leave *mask. */
void ps_ifl_serve_mask(struct ps_run *run, uint64_t *mask)
{
	struct pstore *ps = run->ps;
	struct ps_slab *sl = &ps->slabs[run->slab];
	pthread_mutex_t *l = &ps->ifl[run->slab % PS_NIFL];

	pthread_mutex_lock(l);
	/* newest first; overlapping writes are never in flight together */
	for (struct ps_run *w = sl->ifl_tail; w && *mask; w = w->prev) {
		for (unsigned int i = 0; i < run->npages; i++) {
			uint64_t p = run->lpn + i;

			/* being sealed: this page is read again instead */
			if (!(*mask & (1ull << i)) || p < w->lpn ||
			    p >= w->lpn + w->npages || w->sealing)
				continue;
			if (!seal_unseal(ps->seal, p,
					 w->ver[p - w->lpn] & PS_VER_COUNT,
					 w->buf + (p - w->lpn) * PSTORE_PAGE,
					 run->buf + (size_t)i * PSTORE_PAGE,
					 w->tags[p - w->lpn]))
				*mask &= ~(1ull << i);
		}
	}
	pthread_mutex_unlock(l);
}

/* Sealed: the run's pages' versions as of now; true when an in-flight
 * write covers one of them (its copies may not have the data yet). */
bool ps_read_capture(struct ps_run *run)
{
	struct pstore *ps = run->ps;
	pthread_mutex_t *l = &ps->ifl[run->slab % PS_NIFL];
	bool busy;

	pthread_mutex_lock(l);
	busy = ifl_overlaps(&ps->slabs[run->slab], run->lpn, run->npages);
	run->busy = 0;
	for (unsigned int i = 0; i < run->npages; i++) {
		run->ver[i] = atomic_load_explicit(&ps->ver[run->lpn + i],
						   memory_order_relaxed);
		/* its copies may still hold the version before */
		if (busy &&
		    ifl_overlaps(&ps->slabs[run->slab], run->lpn + i, 1))
			run->busy |= 1ull << i;
	}
	pthread_mutex_unlock(l);
	return busy;
}

/* Sealed: a write that reached no copy gives its pages their versions
 * back (nothing sealed under the new ones left the mount). */
void ps_ver_undo(struct pstore *ps, struct ps_run *run)
{
	pthread_mutex_t *l = &ps->ifl[run->slab % PS_NIFL];

	pthread_mutex_lock(l);
	for (unsigned int i = 0; i < run->npages; i++)
		atomic_store_explicit(&ps->ver[run->lpn + i], run->oldver[i],
				      memory_order_relaxed);
	pthread_mutex_unlock(l);
}
