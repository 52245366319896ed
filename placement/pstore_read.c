// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_read - the page store's read path: a read run goes to the best
 * copy of its slab (lowest latency first), then the next, then the backup;
 * in a sealed store each page is checked and opened on arrival, and a copy
 * that fails the check counts against its donor and is replaced once
 * another copy verified. See pstore.h for the contract, pstore_priv.h for
 * the objects and locks.
 */
#include "placement/pstore_priv.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

/* ---------------------------------------------------------------- reads */

static void read_finish(struct ps_run *run, int status)
{
	struct pstore *ps = run->ps;
	struct pstore_req *r = run->req;

	if (status)
		ps_req_fail(r, status);
	ps_slab_io_done(ps, run->slab, false);
	ps_run_put(ps, run);
	ps_req_put(r);
}

static void read_io_done(struct xport_io *io, int status);
static void read_backup_done(struct backup_io *bio, int status);

/* Tries the next copy of run, or ends it with -EIO. */
void ps_read_next(struct ps_run *run)
{
	struct pstore *ps = run->ps;

	if (run->cur < run->nrep) {
		struct ps_rep *rep = &run->rep[run->cur++];
		struct ps_donor *d = ps_donor_at(ps, rep->donor);
		uint32_t p = (uint32_t)(run->lpn % ps->pages_per_slab);
		struct xport_io *x = &run->io[0], *t = &run->tio[0];

		x->next = NULL;
		x->dir = XPORT_READ;
		x->slab = rep->rslab;
		x->off = (uint64_t)p * PSTORE_PAGE;
		x->len = run->npages * PSTORE_PAGE;
		x->buf = run->buf;
		x->done = read_io_done;
		x->priv = run;
		if (!ps->seal) {
			ps_donor_submit(d, x);
			return;
		}
		/* the page run and its tags, both in this donor's queue */
		*t = *x;
		t->off = ps_tag_off(ps, p);
		t->len = run->npages * SEAL_TAG;
		t->buf = run->tags;
		atomic_store(&run->rpend, 2);
		atomic_store(&run->rstatus, 0);
		ps_donor_submit2(d, x, t);
		return;
	}
	if (run->backup) {
		struct backup_io *bio = &run->bio;

		run->backup = false;
		bio->dir = XPORT_READ;
		bio->off = run->lpn * PSTORE_PAGE;
		bio->len = run->npages * PSTORE_PAGE;
		bio->buf = run->buf;
		bio->tags = ps->seal ? run->tags : NULL;
		bio->done = read_backup_done;
		bio->priv = run;
		backup_submit(ps->backup, bio);
		return;
	}
	if (run->unreached && ps_park(run))
		return;
	LOG_RATELIMITED(LOG_ERR,
			"pstore: slab %" PRIu32 ": page %" PRIu64
			": every copy failed a read",
			run->slab, run->lpn);
	read_finish(run, -EIO);
}

/*
 * Sealed: checks and opens every page of run->buf in place (pages never
 * written read as zeros). 0 when all verified; -EAGAIN when a write
 * raced the read (a failed page's version moved since it was captured:
 * read again); -EBADMSG with *nbad pages that failed and *bad the first.
 */
static int read_verify(struct ps_run *run, unsigned int *nbad, uint64_t *bad,
		       uint64_t *race)
{
	struct pstore *ps = run->ps;

	*nbad = 0;
	*race = 0;
	for (unsigned int i = 0; i < run->npages; i++) {
		char *pg = run->buf + (size_t)i * PSTORE_PAGE;
		uint64_t lpn = run->lpn + i;
		uint32_t v = run->ver[i];

		if (!(v & PS_VER_DATA)) {
			memset(pg, 0, PSTORE_PAGE);
			continue;
		}
		if (!seal_unseal(ps->seal, lpn, v & PS_VER_COUNT, pg, pg,
				 run->tags[i]))
			continue;
		if (atomic_load_explicit(&ps->ver[lpn], memory_order_relaxed) !=
			    v ||
		    (run->busy & (1ull << i))) {
			*race |= 1ull << i;
			continue;
		}
		if (!(*nbad)++)
			*bad = lpn;
	}
	if (*race)
		return -EAGAIN; /* not the copy's fault */
	return *nbad ? -EBADMSG : 0;
}

/* A copy verified: the copies that failed the check before it are bad,
 * not merely behind; the repair thread replaces them. */
static void read_drop_bad(struct ps_run *run)
{
	for (unsigned int k = 0; k < run->nrep && run->badmask; k++)
		if (run->badmask & (1u << k))
			ps_mark_stale(run->ps, run->slab, &run->rep[k], false);
	run->badmask = 0;
}

/* The current copy answered: checks it (sealed) and finishes the run, or
 * reads it again (a racing write) or goes on to the next copy. */
static void read_copy_ok(struct ps_run *run, struct ps_rep *rep)
{
	unsigned int nbad = 0;
	uint64_t bad = 0, race = 0;
	int ret = run->ps->seal ? read_verify(run, &nbad, &bad, &race) : 0;

	if (ret == -EAGAIN) {
		/* a write raced the read (swap readahead meets a slot being
		 * written): pages it still has in flight come from its
		 * buffer, for the others this copy is read again */
		run->races++;
		ps_ifl_serve_mask(run, &race);
		if (!race && !nbad) {
			read_drop_bad(run);
			read_finish(run, 0);
			return;
		}
		/* writes keep racing it: look again on the next tick; past
		 * the io timeout the racing pages count as bad */
		if (race && run->races > PS_RACE_RETRIES && !ps_park(run)) {
			nbad += (unsigned int)__builtin_popcountll(race);
			goto bad;
		}
		if (race && run->races > PS_RACE_RETRIES)
			return;
		ps_read_capture(run);
		if (rep)
			run->cur--;
		else
			run->backup = true;
		ps_read_next(run);
		return;
	}
	if (ret) {
	bad:
		if (rep) {
			bool seen = false;

			run->badmask |= 1u << (run->cur - 1);
			for (unsigned int i = 0; i < run->ncounted; i++)
				seen |= run->counted[i] == rep->donor;
			if (!seen && run->ncounted < PS_MAX_COPIES) {
				run->counted[run->ncounted++] = rep->donor;
				ps_bad_pages(run->ps, run->slab, rep,
					     nbad ? nbad : 1, bad);
			}
		} else {
			atomic_fetch_add(&run->ps->backup_bad, nbad ? nbad : 1);
			LOG_RATELIMITED(LOG_ERR,
					"backup %s: page %" PRIu64
					": integrity check failed",
					backup_path(run->ps->backup), bad);
		}
		ps_read_next(run);
		return;
	}
	read_drop_bad(run);
	read_finish(run, 0);
}

static void read_io_done(struct xport_io *io, int status)
{
	struct ps_run *run = io->priv;
	struct ps_rep *rep = &run->rep[run->cur - 1];
	struct ps_donor *d = ps_donor_at(run->ps, rep->donor);

	ps_donor_put(d);
	if (run->ps->seal) {
		int zero = 0;

		/* both the pages and their tags: the first error counts */
		if (status)
			atomic_compare_exchange_strong(&run->rstatus, &zero,
						       status);
		if (atomic_fetch_sub(&run->rpend, 1) != 1)
			return;
		status = atomic_load(&run->rstatus);
	}
	if (!status) {
		ps_lat_update(d, io);
		read_copy_ok(run, rep);
		return;
	}
	LOG_RATELIMITED(
		LOG_WARNING, "donor %s: slab %" PRIu32 ": read failed: %s%s",
		d->addr, rep->rslab, strerror(-status),
		run->cur < run->nrep || run->backup ? ", trying next copy"
						    : "");
	/* the donor no longer has that slab for us (restarted, reclaimed):
	 * not a copy any more, the repair thread replaces it */
	if (status == -EINVAL || status == -EFAULT)
		ps_mark_stale(run->ps, run->slab, rep, true);
	run->unreached |= ps_unreached(status);
	ps_read_next(run);
}

static void read_backup_done(struct backup_io *bio, int status)
{
	struct ps_run *run = bio->priv;

	if (!status)
		read_copy_ok(run, NULL);
	else
		ps_read_next(run);
}

/* Orders the live replicas of sl into run: up donors by latency, then
 * the others. Called under ps->lock. */
void ps_read_order(struct pstore *ps, struct ps_slab *sl, struct ps_run *run)
{
	uint64_t key[PS_MAX_COPIES];

	run->nrep = 0;
	for (unsigned int j = 0; j < sl->nrep; j++) {
		struct ps_donor *d = ps_donor_at(ps, sl->rep[j].donor);
		unsigned int k = run->nrep;
		uint64_t lat;

		if (sl->rep[j].stale || sl->rep[j].filling)
			continue;
		if (!atomic_load(&d->up))
			lat = UINT64_MAX - 1;
		else
			lat = atomic_load_explicit(&d->lat_ns,
						   memory_order_relaxed);
		/* insertion by latency */
		while (k > 0 && key[k - 1] > lat) {
			key[k] = key[k - 1];
			run->rep[k] = run->rep[k - 1];
			k--;
		}
		key[k] = lat;
		run->rep[k] = sl->rep[j];
		run->nrep++;
	}
	run->cur = 0;
	run->backup = sl->backup;
}

void ps_submit_read_run(struct pstore *ps, struct pstore_req *r, unsigned int i,
			unsigned int n)
{
	uint64_t lpn = r->lpn[i];
	uint32_t s = slab_of(ps, lpn);
	char *buf = (char *)r->buf + (size_t)i * PSTORE_PAGE;
	struct ps_slab *sl = &ps->slabs[s];
	uint32_t ver[PS_RUN_MAX_PAGES];
	uint64_t served = ps_ifl_serve(ps, s, lpn, n, buf, ver);
	unsigned int a = 0;

	while (a < n) {
		struct ps_run *run;
		unsigned int b;

		if (served & (1ull << a)) {
			a++;
			continue;
		}
		for (b = a + 1; b < n && !(served & (1ull << b)); b++)
			;
		run = ps_run_get(ps);
		pthread_mutex_lock(&ps->lock);
		if (sl->state != SLAB_READY) {
			/* never written since the slab was (re)allocated;
			 * sealed, a page that says it holds data lost it */
			pthread_mutex_unlock(&ps->lock);
			ps_run_put(ps, run);
			memset(buf + (size_t)a * PSTORE_PAGE, 0,
			       (size_t)(b - a) * PSTORE_PAGE);
			for (unsigned int k = a; ps->seal && k < b; k++)
				if (ver[k] & PS_VER_DATA) {
					LOG_RATELIMITED(LOG_ERR,
							"pstore: slab %" PRIu32
							": page %" PRIu64
							": no copy left",
							s, lpn + k);
					ps_req_fail(r, -EIO);
					break;
				}
			a = b;
			continue;
		}
		ps_read_order(ps, sl, run);
		sl->ios++;
		pthread_mutex_unlock(&ps->lock);
		run->ps = ps;
		run->req = r;
		run->buf = buf + (size_t)a * PSTORE_PAGE;
		run->lpn = lpn + a;
		run->npages = b - a;
		run->slab = s;
		run->dir = XPORT_READ;
		run->unreached = false;
		run->badmask = 0;
		run->busy = 0;
		run->ncounted = 0;
		run->races = 0;
		if (ps->seal)
			memcpy(run->ver, ver + a, (b - a) * sizeof(*ver));
		run->t0_ns = mono_ns();
		atomic_fetch_add(&r->pending, 1);
		ps_read_next(run);
		a = b;
	}
}
