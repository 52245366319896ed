// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore - the page store's data path: pstore_submit() cuts a request
 * into runs (pages contiguous in one slab), writes each run to every copy
 * of its slab (allocating the slab on its first write) and reads it from
 * the best copy; logical pages come from a bitmap. See pstore.h for the
 * contract, pstore_priv.h for the objects, their locks and the other
 * files of the store.
 *
 * Read-after-write: a write run is put on its slab's in-flight list before
 * any of its I/O is submitted and taken off after every copy answered and
 * (on partial failure) the failed replicas were marked stale, and before
 * the request's done(). A read first copies each page covered by an
 * in-flight write from the newest such write's buffer (valid until that
 * write's done()), then reads the other pages from a replica chosen after
 * that check; so it never sees data older than a write that was in flight
 * when it started, nor a replica that such a write failed on.
 */
#include "placement/pstore.h"

#include "common/clock.h"
#include "common/log.h"
#include "placement/backup.h"
#include "placement/pstore_priv.h"
#include "placement/pstore_state.h"
#include "placement/rank.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define OK_BACKUP (1u << PS_MAX_COPIES)
/* a target failed only because its donor was out of reach */
#define OK_UNREACHED (1u << (PS_MAX_COPIES + 1))

/* ---------------------------------------------------------------- util */

uint64_t ps_rand(void *arg)
{
	struct pstore *ps = arg;
	uint64_t z = atomic_fetch_add(&ps->rng, 0x9e3779b97f4a7c15ull);

	/* splitmix64 */
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void ps_lat_update(struct ps_donor *d, const struct xport_io *io)
{
	uint64_t now = mono_ns(), old, lat;

	if (!io->t_submit_ns || now < io->t_submit_ns)
		return;
	lat = now - io->t_submit_ns;
	old = atomic_load_explicit(&d->lat_ns, memory_order_relaxed);
	lat = old ? old - old / 8 + lat / 8 : lat;
	atomic_store_explicit(&d->lat_ns, lat, memory_order_relaxed);
}

/*
 * Users of d->x announce themselves so a drained donor can be closed
 * safely: the closer sets GONE, then waits for users to reach 0; a user
 * counts itself, then checks for GONE (both seq_cst, so one of the two
 * sees the other).
 */
bool ps_donor_get(struct ps_donor *d)
{
	atomic_fetch_add(&d->users, 1);
	if (atomic_load(&d->dstate) == PS_D_GONE) {
		atomic_fetch_sub(&d->users, 1);
		return false;
	}
	return true;
}

void ps_donor_put(struct ps_donor *d)
{
	atomic_fetch_sub(&d->users, 1);
}

bool ps_donor_takes_slabs(struct ps_donor *d)
{
	return atomic_load(&d->up) && atomic_load(&d->dstate) == PS_D_ACTIVE &&
	       !atomic_load(&d->faulty);
}

/* Gives copy rslab back to d; -ENOTCONN without a call when d is down (a
 * donor that is down drops the session's slabs itself, or at our close).
 * Without ps->lock: it waits for the donor's answer. */
/* err from a donor that is out of reach, not one that refused */
bool ps_unreached(int err)
{
	return err == -ENOTCONN || err == -ETIMEDOUT || err == -ECONNRESET ||
	       err == -EPIPE || err == -ECONNABORTED || err == -ESHUTDOWN;
}

int ps_free_copy(struct ps_donor *d, uint32_t rslab)
{
	struct pstore *ps = d->ps;

	if (atomic_load(&d->up) && ps_donor_get(d)) {
		int ret = xport_free(d->x, rslab);

		/* a FREE that failed may still have been done there (only
		 * its answer lost), and the donor hands a freed id to our
		 * next slab at once: never send it again */
		ps_donor_put(d);
		if (ret)
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: slab %" PRIu32
					": free failed: %s",
					d->addr, rslab, strerror(-ret));
		return ret;
	}
	/* never sent: the donor keeps our session (and this slab) for its
	 * grace period; free it there once it is back, or it stays taken
	 * until we unmount */
	if (atomic_load(&d->dstate) != PS_D_GONE) {
		pthread_mutex_lock(&ps->lock);
		if (ps->nowed < ps->owed_cap)
			ps->owed[ps->nowed++] =
				(struct ps_owed){ .donor = (uint16_t)d->idx,
						  .rslab = rslab };
		else
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: slab %" PRIu32
					": cannot be given back, kept there "
					"until unmount",
					d->addr, rslab);
		pthread_mutex_unlock(&ps->lock);
	}
	return -ENOTCONN;
}

void ps_owed_settle(struct pstore *ps, unsigned int di, bool forget)
{
	struct ps_donor *d = ps_donor_at(ps, di);
	uint32_t i = 0;
	int ret = 0;

	while (i < ps->nowed && ret != -ENOTCONN && !ps->stopping) {
		uint32_t rslab = ps->owed[i].rslab;

		if (ps->owed[i].donor != di) {
			i++;
			continue;
		}
		ps->owed[i] = ps->owed[--ps->nowed];
		if (forget)
			continue;
		/* stops when the donor is gone again: the rest waits for
		 * the next tick */
		pthread_mutex_unlock(&ps->lock);
		ret = ps_free_copy(d, rslab);
		pthread_mutex_lock(&ps->lock);
	}
}

/*
 * pstore_poll()'s note of where a request went: while this thread runs
 * pstore_submit(), the donor of every io it submits; more than one (or a
 * submit from a done() meanwhile) gives tl_poll_many.
 */
static __thread bool tl_poll_on, tl_poll_many;
static __thread struct ps_donor *tl_poll_d;

static void poll_note(struct ps_donor *d)
{
	if (!tl_poll_on)
		return;
	if (tl_poll_d && tl_poll_d != d)
		tl_poll_many = true;
	tl_poll_d = d;
}

/* Submits io to d; the io's done() must call ps_donor_put(d). */
void ps_donor_submit(struct ps_donor *d, struct xport_io *io)
{
	poll_note(d);
	atomic_fetch_add(&d->users, 1);
	if (atomic_load(&d->dstate) == PS_D_GONE) {
		io->t_submit_ns = 0;
		io->done(io, -ENOTCONN);
		return;
	}
	xport_submit(d->x, io);
}

/* Submits the pair a, b (a page run and its tags) to d at once, so they
 * leave in one post; each one's done() must call ps_donor_put(d). */
void ps_donor_submit2(struct ps_donor *d, struct xport_io *a,
		      struct xport_io *b)
{
	if (atomic_load(&d->dstate) == PS_D_GONE) {
		ps_donor_submit(d, a);
		ps_donor_submit(d, b);
		return;
	}
	poll_note(d);
	atomic_fetch_add(&d->users, 2);
	a->next = b;
	b->next = NULL;
	xport_submit_chain(d->x, a);
}

/* ---------------------------------------------------------------- pool */

struct ps_run *ps_run_get(struct pstore *ps)
{
	struct ps_run *run;

	pthread_mutex_lock(&ps->pool_lock);
	while (!ps->pool_free) {
		ps->pool_waiters++;
		pthread_cond_wait(&ps->pool_cv, &ps->pool_lock);
		ps->pool_waiters--;
	}
	run = ps->pool_free;
	ps->pool_free = run->next;
	pthread_mutex_unlock(&ps->pool_lock);
	run->next = run->prev = NULL;
	return run;
}

void ps_run_put(struct pstore *ps, struct ps_run *run)
{
	pthread_mutex_lock(&ps->pool_lock);
	run->next = ps->pool_free;
	ps->pool_free = run;
	if (ps->pool_waiters)
		pthread_cond_signal(&ps->pool_cv);
	pthread_mutex_unlock(&ps->pool_lock);
}

/* ------------------------------------------------------------- requests */

void ps_req_fail(struct pstore_req *r, int status)
{
	int zero = 0;

	atomic_compare_exchange_strong(&r->status, &zero, status);
}

void ps_req_put(struct pstore_req *r)
{
	if (atomic_fetch_sub(&r->pending, 1) == 1)
		r->done(r, atomic_load(&r->status));
}

/* A run on slab s ended (a write run also leaves the repair fence's
 * count): one lock round per run. */
void ps_slab_io_done(struct pstore *ps, uint32_t s, bool write)
{
	struct ps_slab *sl = &ps->slabs[s];

	pthread_mutex_lock(&ps->lock);
	if (write && --sl->wios == 0 && sl->fence)
		pthread_cond_broadcast(&ps->slab_cv);
	sl->ios--;
	if (!sl->ios && !sl->used && sl->state == SLAB_READY) {
		ps->free_pending = true;
		pthread_cond_signal(&ps->tick_cv);
	}
	pthread_mutex_unlock(&ps->lock);
}

/* --------------------------------------------------------------- writes */

/* The copy `r` of slab s (matched by donor and remote slab, in case the
 * map changed since) must not be read any more. */
void ps_mark_stale(struct pstore *ps, uint32_t s, const struct ps_rep *r,
		   bool lost)
{
	struct ps_slab *sl = &ps->slabs[s];

	pthread_mutex_lock(&ps->lock);
	for (unsigned int j = 0; j < sl->nrep; j++)
		if (sl->rep[j].donor == r->donor &&
		    sl->rep[j].rslab == r->rslab) {
			sl->rep[j].stale = true;
			sl->rep[j].lost |= lost;
		}
	ps_state_slab_save(ps, s); /* before the write is answered */
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
}

/* Parks run until its donors are back (ps_parked_retry()), unless its io
 * timeout has passed or the store stops: then false. A donor out of reach
 * may be back soon (a short outage of the network): wait for it, as a
 * disk retries, rather than fail a swap-in or a write at once. */
bool ps_park(struct ps_run *run)
{
	struct pstore *ps = run->ps;
	uint64_t now = mono_ns(), expired = atomic_load(&ps->park_expired_ns);
	bool parked = false;

	if (now >= run->t0_ns + ps->io_timeout_ns)
		return false;
	if (expired && mono_since(now, expired) < ps->io_timeout_ns)
		return false; /* the same outage outlasted a whole timeout */
	pthread_mutex_lock(&ps->lock);
	if (!ps->stopping) {
		run->park_next = ps->parked;
		ps->parked = run;
		parked = true;
	}
	pthread_mutex_unlock(&ps->lock);
	return parked;
}

static void write_finish(struct ps_run *run)
{
	struct pstore *ps = run->ps;
	struct pstore_req *r = run->req;
	unsigned int ok = atomic_load(&run->ok);
	unsigned int all = (1u << run->nrep) - 1;
	struct ps_slab *sl = &ps->slabs[run->slab];

	if (run->backup)
		all |= OK_BACKUP;
	/* sealed: a copy has the pages only with their tags */
	if (ps->seal)
		ok &= atomic_load(&run->tok) | ~((1u << run->nrep) - 1);
	/* a filling replica is not a readable copy yet */
	if ((ok & OK_UNREACHED) && !(ok & ~(OK_UNREACHED | run->fillmask)) &&
	    ps_park(run))
		return;
	ok &= ~OK_UNREACHED;
	if (!(ok & ~(unsigned int)run->fillmask)) {
		ps_req_fail(r, -EIO);
	} else if (ok != all) {
		/* some copies have the data: the failed ones are stale now */
		for (unsigned int k = 0; k < run->nrep; k++)
			if (!(ok & (1u << k)))
				ps_mark_stale(ps, run->slab, &run->rep[k],
					      false);
		if (run->backup && !(ok & OK_BACKUP)) {
			pthread_mutex_lock(&ps->lock);
			sl->backup = false;
			ps_state_slab_save(ps, run->slab);
			pthread_mutex_unlock(&ps->lock);
		}
		LOG_RATELIMITED(LOG_WARNING,
				"pstore: slab %" PRIu32
				": a copy failed a write, slab degraded",
				run->slab);
	}
	ps_ifl_remove(ps, run);
	ps_slab_io_done(ps, run->slab, true);
	ps_run_put(ps, run);
	ps_req_put(r);
}

static void write_target_done(struct ps_run *run)
{
	if (atomic_fetch_sub(&run->pending, 1) == 1)
		write_finish(run);
}

static void write_io_done(struct xport_io *io, int status)
{
	struct ps_run *run = io->priv;
	bool tags = io >= run->tio && io < run->tio + PS_MAX_COPIES;
	unsigned int k = (unsigned int)(tags ? io - run->tio : io - run->io);
	struct ps_donor *d = ps_donor_at(run->ps, run->rep[k].donor);

	ps_donor_put(d);
	if (!status && tags) {
		atomic_fetch_or(&run->tok, 1u << k);
	} else if (!status) {
		ps_lat_update(d, io);
		atomic_fetch_or(&run->ok, 1u << k);
	} else {
		LOG_RATELIMITED(LOG_WARNING,
				"donor %s: slab %" PRIu32 ": write failed: %s",
				d->addr, run->rep[k].rslab, strerror(-status));
		if (ps_unreached(status))
			atomic_fetch_or(&run->ok, OK_UNREACHED);
	}
	write_target_done(run);
}

static void write_backup_done(struct backup_io *bio, int status)
{
	struct ps_run *run = bio->priv;

	if (!status)
		atomic_fetch_or(&run->ok, OK_BACKUP);
	write_target_done(run);
}

/*
 * Makes slab s READY (allocating it on first touch, without ps->lock held
 * during the donor calls) and copies its live replicas into run; counts
 * the run in the slab's ios. 0 or -errno.
 */
/* Takes the slab's live copies (and backup) as run's targets; false when
 * none can hold the data. Under ps->lock. */
static bool write_targets(const struct ps_slab *sl, struct ps_run *run)
{
	run->nrep = 0;
	run->fillmask = 0;
	for (unsigned int j = 0; j < sl->nrep; j++) {
		if (sl->rep[j].stale)
			continue;
		if (sl->rep[j].filling)
			run->fillmask |= 1u << run->nrep;
		run->rep[run->nrep++] = sl->rep[j];
	}
	run->backup = sl->backup;
	return run->nrep > __builtin_popcount(run->fillmask) || run->backup;
}

/*
 * Sealed store: a slab with no copy left (its donors lost our session, or
 * every copy went bad) and no backup starts over on new donors, so new
 * writes succeed; its old pages fail their check there (EIO, as before:
 * their versions say they hold data). Under ps->lock, dropped around the
 * frees; the caller looks at the slab again.
 */
static void slab_restart(struct pstore *ps, uint32_t s, struct ps_slab *sl)
{
	struct ps_rep drop[PS_MAX_COPIES];
	unsigned int n = 0;

	for (unsigned int k = 0; k < sl->nrep; k++) {
		ps_donor_at(ps, sl->rep[k].donor)->slabs--;
		if (!sl->rep[k].lost)
			drop[n++] = sl->rep[k];
	}
	sl->nrep = 0;
	sl->state = SLAB_EMPTY;
	ps_state_slab_save(ps, s);
	LOG_RATELIMITED(LOG_WARNING,
			"pstore: slab %" PRIu32 ": no copy left, placed again "
			"for new writes (its old pages read EIO)",
			s);
	pthread_mutex_unlock(&ps->lock);
	for (unsigned int k = 0; k < n; k++)
		ps_free_copy(ps_donor_at(ps, drop[k].donor), drop[k].rslab);
	pthread_mutex_lock(&ps->lock);
}

static bool slab_dead(const struct ps_slab *sl)
{
	for (unsigned int k = 0; k < sl->nrep; k++)
		if (!sl->rep[k].stale)
			return false;
	return !sl->backup && !sl->repairing;
}

static int slab_for_write(struct pstore *ps, uint32_t s, struct ps_run *run)
{
	struct ps_slab *sl = &ps->slabs[s];
	int ret = 0;

	pthread_mutex_lock(&ps->lock);
	for (;;) {
		struct ps_rep rep[PSTORE_MAX_REPLICAS];
		unsigned int nrep = 0;

		if (sl->state == SLAB_READY && !sl->fence && ps->seal &&
		    slab_dead(sl)) {
			slab_restart(ps, s, sl);
			continue;
		}
		if (sl->state == SLAB_READY && !sl->fence)
			break;
		if (sl->state != SLAB_EMPTY) {
			pthread_cond_wait(&ps->slab_cv, &ps->lock);
			continue;
		}
		sl->state = SLAB_ALLOCATING;
		pthread_mutex_unlock(&ps->lock);
		ret = ps_slab_place(ps, s, rep, &nrep);
		pthread_mutex_lock(&ps->lock);
		if (ret) {
			sl->state = SLAB_EMPTY;
			pthread_cond_broadcast(&ps->slab_cv);
			goto out_unlock;
		}
		memcpy(sl->rep, rep, sizeof(rep));
		sl->nrep = (uint8_t)nrep;
		sl->backup = ps->backup != NULL;
		sl->state = SLAB_READY;
		ps_state_slab_save(ps, s); /* before its first write */
		pthread_cond_broadcast(&ps->slab_cv);
	}
	if (!write_targets(sl, run)) {
		ret = -EIO; /* no copy left to write to */
		goto out_unlock;
	}
	sl->ios++;
	sl->wios++;
out_unlock:
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

/* Sends run to its targets; the run may complete and be reused before
 * this returns. */
static void write_send(struct ps_run *run)
{
	struct pstore *ps = run->ps;
	uint32_t p = (uint32_t)(run->lpn % ps->pages_per_slab);
	uint64_t off = (uint64_t)p * PSTORE_PAGE;
	unsigned int nrep = run->nrep, n = run->npages;
	struct ps_donor *dst[PS_MAX_COPIES];
	struct xport_io *io[PS_MAX_COPIES], *tio[PS_MAX_COPIES] = { NULL };
	struct backup_io *bio = NULL;
	bool sealed = ps->seal != NULL;

	atomic_store(&run->ok, 0);
	atomic_store(&run->tok, 0);
	atomic_store(&run->pending,
		     (int)(nrep * (sealed ? 2 : 1) + (run->backup ? 1 : 0)));
	for (unsigned int k = 0; k < nrep; k++) {
		struct xport_io *x = &run->io[k];

		if (sealed) {
			struct xport_io *t = &run->tio[k];

			t->next = NULL;
			t->dir = XPORT_WRITE;
			t->slab = run->rep[k].rslab;
			t->off = ps_tag_off(ps, p);
			t->len = n * SEAL_TAG;
			t->buf = run->tags;
			t->done = write_io_done;
			t->priv = run;
			tio[k] = t;
		}

		x->next = NULL;
		x->dir = XPORT_WRITE;
		x->slab = run->rep[k].rslab;
		x->off = off;
		x->len = n * PSTORE_PAGE;
		x->buf = run->buf;
		x->done = write_io_done;
		x->priv = run;
		dst[k] = ps_donor_at(ps, run->rep[k].donor);
		io[k] = x;
	}
	if (run->backup) {
		bio = &run->bio;
		bio->dir = XPORT_WRITE;
		bio->off = run->lpn * PSTORE_PAGE;
		bio->len = n * PSTORE_PAGE;
		bio->buf = run->buf;
		bio->tags = sealed ? run->tags : NULL;
		bio->done = write_backup_done;
		bio->priv = run;
	}
	/* the run may complete and be reused once its last target is
	 * submitted: only locals from here on */
	for (unsigned int k = 0; k < nrep; k++) {
		if (tio[k])
			ps_donor_submit2(dst[k], io[k], tio[k]);
		else
			ps_donor_submit(dst[k], io[k]);
	}
	if (bio)
		backup_submit(ps->backup, bio);
}

static void submit_write_run(struct pstore *ps, struct pstore_req *r,
			     unsigned int i, unsigned int n)
{
	uint64_t lpn = r->lpn[i];
	uint32_t s = slab_of(ps, lpn);
	struct ps_run *run = ps_run_get(ps);
	int ret;

	run->ps = ps;
	run->req = r;
	run->buf = (char *)r->buf + (size_t)i * PSTORE_PAGE;
	run->lpn = lpn;
	run->npages = n;
	run->slab = s;
	run->dir = XPORT_WRITE;
	run->t0_ns = mono_ns();
	atomic_store(&run->ok, 0);
	/* visible to reads before anything can reach a donor */
	if (ps->seal) {
		ret = ps_ifl_add_sealed(ps, run);
		if (ret) {
			ps_run_put(ps, run);
			ps_req_fail(r, ret);
			return;
		}
	} else {
		ps_ifl_add(ps, run);
	}
	ret = slab_for_write(ps, s, run);
	if (ret) {
		if (ps->seal)
			ps_ver_undo(ps, run);
		ps_ifl_remove(ps, run);
		ps_run_put(ps, run);
		ps_req_fail(r, ret);
		return;
	}
	atomic_fetch_add(&r->pending, 1);
	write_send(run);
}

void ps_parked_retry(struct pstore *ps)
{
	struct ps_run *run, *next;
	bool stopping;

	pthread_mutex_lock(&ps->lock);
	run = ps->parked;
	ps->parked = NULL;
	stopping = ps->stopping;
	pthread_mutex_unlock(&ps->lock);
	for (; run; run = next) {
		struct ps_slab *sl = &ps->slabs[run->slab];
		bool expired =
			stopping || mono_ns() >= run->t0_ns + ps->io_timeout_ns;
		bool targets = !expired;

		next = run->park_next;
		if (expired && !stopping)
			atomic_store(&ps->park_expired_ns, mono_ns());
		if (run->dir == XPORT_READ && ps->seal) {
			ps_read_capture(run);
			run->badmask = 0; /* copy indices change below */
		}
		if (run->dir == XPORT_WRITE) {
			if (targets) {
				pthread_mutex_lock(&ps->lock);
				targets = write_targets(sl, run);
				pthread_mutex_unlock(&ps->lock);
			}
			if (targets) {
				write_send(run);
			} else {
				/* nothing reached: -EIO */
				atomic_store(&run->ok, 0);
				write_finish(run);
			}
			continue;
		}
		run->unreached = false;
		if (targets) {
			pthread_mutex_lock(&ps->lock);
			ps_read_order(ps, sl, run);
			pthread_mutex_unlock(&ps->lock);
		} else {
			run->cur = run->nrep;
			run->backup = false;
		}
		ps_read_next(run); /* with no copy left: -EIO */
	}
}

/* --------------------------------------------------------------- submit */

void pstore_submit(struct pstore *ps, struct pstore_req *r)
{
	unsigned int i = 0;

	tl_poll_on = true;
	tl_poll_many = false;
	tl_poll_d = NULL;
	atomic_store(&r->pending, 1); /* ours, dropped at the end */
	atomic_store(&r->status, 0);
	if (!r->done || (r->npages && (!r->lpn || !r->buf)) ||
	    (r->dir != XPORT_READ && r->dir != XPORT_WRITE)) {
		ps_req_fail(r, -EINVAL);
		goto out_put;
	}
	while (i < r->npages) {
		uint64_t lpn = r->lpn[i];
		unsigned int n = 1;

		if (lpn == PSTORE_NOPAGE || lpn >= ps->npages) {
			if (r->dir == XPORT_READ && lpn == PSTORE_NOPAGE) {
				memset((char *)r->buf + (size_t)i * PSTORE_PAGE,
				       0, PSTORE_PAGE);
			} else {
				LOG_RATELIMITED(
					LOG_ERR,
					"pstore: %s of bad page %" PRIu64,
					r->dir == XPORT_READ ? "read" : "write",
					lpn);
				ps_req_fail(r, -EINVAL);
			}
			i++;
			continue;
		}
		while (i + n < r->npages && n < PS_RUN_MAX_PAGES &&
		       r->lpn[i + n] == lpn + n &&
		       slab_of(ps, lpn + n) == slab_of(ps, lpn))
			n++;
		if (r->dir == XPORT_WRITE)
			submit_write_run(ps, r, i, n);
		else
			ps_submit_read_run(ps, r, i, n);
		i += n;
	}
out_put:
	/* before the put: r may be done and reused by then */
	r->poll_d = tl_poll_many ? NULL : tl_poll_d;
	tl_poll_on = false;
	ps_req_put(r);
}

int pstore_poll(struct pstore *ps, struct pstore_req *r, const atomic_int *done,
		uint64_t spin_ns)
{
	struct ps_donor *d = r->poll_d;
	int ret;

	(void)ps;
	if (!d || !ps_donor_get(d))
		return -EOPNOTSUPP;
	ret = xport_poll(d->x, done, spin_ns);
	ps_donor_put(d);
	return ret;
}

/* ---------------------------------------------------------------- pages */

int pstore_page_alloc(struct pstore *ps, uint64_t hint, uint64_t *lpn)
{
	int ret;

	pthread_mutex_lock(&ps->lock);
	ret = palloc_alloc(&ps->pa, hint, lpn);
	if (!ret)
		ps->slabs[slab_of(ps, *lpn)].used++;
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

void pstore_page_free(struct pstore *ps, uint64_t lpn)
{
	struct ps_slab *sl;

	if (lpn >= ps->npages) {
		LOG_RATELIMITED(LOG_ERR, "pstore: free of bad page %" PRIu64,
				lpn);
		return;
	}
	/* punch while the page is still ours: once it is free it can be
	 * taken and written again */
	if (ps->backup)
		backup_punch(ps->backup, lpn * PSTORE_PAGE, PSTORE_PAGE);
	pthread_mutex_lock(&ps->lock);
	if (palloc_free(&ps->pa, lpn)) {
		pthread_mutex_unlock(&ps->lock);
		LOG_RATELIMITED(LOG_ERR,
				"pstore: free of unallocated page %" PRIu64,
				lpn);
		return;
	}
	/* reads as zeros until written again; the count goes on, so the
	 * next write never reuses a nonce */
	if (ps->seal)
		atomic_fetch_and_explicit(&ps->ver[lpn], PS_VER_COUNT,
					  memory_order_relaxed);
	sl = &ps->slabs[slab_of(ps, lpn)];
	sl->used--;
	if (!sl->used && !sl->ios && sl->state == SLAB_READY) {
		ps->free_pending = true;
		pthread_cond_signal(&ps->tick_cv);
	}
	pthread_mutex_unlock(&ps->lock);
}

uint64_t pstore_pages_keep(struct pstore *ps, const uint64_t *keep)
{
	uint64_t n = 0, p = 0;

	/* a chunk at most per hold of the lock (palloc_next()) */
	while (p < ps->npages) {
		uint64_t q;

		pthread_mutex_lock(&ps->lock);
		q = palloc_next(&ps->pa, p, keep);
		pthread_mutex_unlock(&ps->lock);
		if (q >= ps->npages || q >> ps->pa.shift != p >> ps->pa.shift) {
			p = q; /* none in p's chunk: q is the next one's */
			continue;
		}
		pstore_page_free(ps, q);
		n++;
		p = q + 1;
	}
	return n;
}

uint64_t pstore_pages_total(struct pstore *ps)
{
	return ps->npages;
}

uint64_t pstore_pages_used(struct pstore *ps)
{
	uint64_t u;

	pthread_mutex_lock(&ps->lock);
	u = ps->pa.used;
	pthread_mutex_unlock(&ps->lock);
	return u;
}
