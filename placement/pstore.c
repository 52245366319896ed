// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore - logical pages -> slabs -> replica sets on donors; see pstore.h.
 *
 * Objects:
 *
 *   donor slot   one struct xport plus what ranking needs (free slabs and
 *                trend from the last QUERY, our latency EWMA); ACTIVE ->
 *                DRAINING -> GONE. Slots are added at the end and never
 *                reused, so an index names a donor for the store's life;
 *                a GONE slot's xport is closed once its user count is 0.
 *   slab         EMPTY -> ALLOCATING -> READY -> FREEING -> EMPTY; READY
 *                carries up to R replicas {donor, remote slab, stale,
 *                evict} plus one "filling" replica while being repaired.
 *   run          one pool entry: a run of pages contiguous in one slab of
 *                one request, with one xport_io per replica and one backup
 *                job. Runs come from a preallocated free list.
 *
 * Locks, never held across a network or disk call, never nested except
 * ifl stripe -> nothing:
 *   ps->lock        page bitmap, slab states and replica sets, donor
 *                   ranking fields; slab_cv waits for ALLOCATING/FREEING,
 *                   for a repair fence to drop, for a slab's writes to end
 *   ps->pool_lock   run free list; pool_cv is the backpressure wait
 *   ps->ifl[i]      the in-flight write lists of slabs s with s % NIFL == i
 *   ps->admin_lock  donor add/drain and registered buffers (taken before
 *                   ps->lock, never on the I/O path)
 *
 * Threads: callers (submit, alloc/free, stats), transport completion
 * threads and backup workers (done callbacks), the tick (frees empty
 * slabs, QUERY every donor each second), the repair thread (re-replicates
 * degraded slabs, migrates evicted and drained ones).
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
#include "common/parse.h"
#include "placement/backup.h"
#include "placement/pstore_test.h"
#include "placement/rank.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PS_MAX_DONORS	 RANK_MAX
#define PS_RUN_MAX_PAGES 64 /* 256 KiB per xport_io */
#define PS_NIFL		 64
/* R replicas plus one being filled (repair, migration) */
#define PS_MAX_COPIES	 (PSTORE_MAX_REPLICAS + 1)
#define PS_DEF_SLAB	 (64ull << 20)
#define PS_DEF_POOL	 8192
#define PS_DEF_CTL_MS	 5000
#define PS_TICK_MS	 1000
#define PS_DOWN_GRACE_MS 3000 /* then a down donor's copies are lost */
#define PS_SILENT_MAX	 2    /* unanswered QUERYs in a row: down */
#define PS_REFUSED_MS	 1000 /* a refused donor gets this long to appear */
#define PS_ADDR_MAX	 280
#define PS_MAX_REGS	 16 /* pstore_register() regions remembered */
/* repair and migration copy at most 256 KiB per ms (256 MiB/s) */
#define PS_REPAIR_CHUNK_NS 1000000ull

enum ps_slab_state { SLAB_EMPTY, SLAB_ALLOCATING, SLAB_READY, SLAB_FREEING };

/* A donor slot: ACTIVE takes new slabs; DRAINING only gives its slabs
 * away; GONE is disconnected (x closed) and never used again. */
enum ps_dstate { PS_D_ACTIVE, PS_D_DRAINING, PS_D_GONE };

struct ps_rep {
	uint16_t donor; /* slot index */
	bool stale;	/* a write failed here: not a valid copy any more */
	bool filling;	/* being filled by repair: written, not read */
	bool evict;	/* the donor wants it back: migrate, then free */
	bool lost;	/* the donor no longer holds it: never freed there (the
			 * id may be one of our new slabs on it by then) */
	uint32_t rslab; /* donor's slab id */
};

struct ps_run;

struct ps_slab {
	/* protected by ps->lock */
	uint8_t state;
	uint8_t nrep;
	bool backup;	/* the backup file holds every page written here */
	uint32_t used;	/* logical pages allocated in this slab */
	uint32_t ios;	/* runs in flight; the slab is not freed meanwhile */
	uint32_t wios;	/* write runs past the fence check, in flight */
	bool repairing; /* the repair thread owns a filling replica */
	bool fence;	/* repair copies a chunk: new writes wait */
	struct ps_rep rep[PS_MAX_COPIES];
	/* protected by ps->ifl[slab % PS_NIFL] */
	struct ps_run *ifl_head, *ifl_tail; /* in-flight writes, oldest first */
};

struct ps_donor {
	struct pstore *ps;
	struct xport *x;
	char addr[PS_ADDR_MAX];
	enum xport_kind kind;
	atomic_bool up;	       /* set by open, events and the tick */
	atomic_bool was_up;    /* an XPORT_EV_UP came before */
	atomic_int dstate;     /* enum ps_dstate */
	atomic_int users;      /* ios and calls using x: see donor_get() */
	atomic_int fail_err;   /* test hook: fail every io with this */
	atomic_bool hold;      /* test hook: park ios until released */
	struct xport_io *held; /* protected by ps->hold_lock */
	_Atomic uint64_t lat_ns;
	/* protected by ps->lock */
	uint64_t free_slabs; /* last QUERY, minus what we took since */
	int64_t trend_bps;
	uint32_t slabs;		  /* our slabs it holds */
	uint64_t down_since_ns;	  /* tick thread only */
	uint64_t uptime_ms;	  /* its uptime at the last QUERY; tick only */
	unsigned int silent;	  /* QUERYs in a row unanswered; tick only */
	unsigned int kept_logged; /* kept copies last logged; tick only */
};

struct ps_run {
	struct ps_run *next, *prev; /* free list; slab in-flight list */
	struct pstore *ps;
	struct pstore_req *req;
	char *buf;
	uint64_t lpn; /* first page */
	uint32_t npages;
	uint32_t slab;
	uint8_t dir;
	uint8_t nrep; /* write: targets; read: replicas in try order */
	uint8_t cur;  /* read: next replica to try */
	bool backup;  /* write: to the backup too; read: may fall back to it */
	uint8_t fillmask; /* write: targets that are filling replicas */
	atomic_int pending;
	atomic_uint ok; /* bit k: replica k has the data; bit MAX: backup */
	struct ps_rep rep[PS_MAX_COPIES];
	struct xport_io io[PS_MAX_COPIES];
	struct backup_io bio;
};

#define OK_BACKUP (1u << PS_MAX_COPIES)

struct pstore {
	uint64_t slab_size;
	uint32_t pages_per_slab;
	uint64_t npages;
	uint32_t nslabs;
	unsigned int replicas;
	unsigned int sample_d;
	struct rank_weights w;
	unsigned int ctl_timeout_ms;
	_Atomic uint64_t rng;

	/* slots [0, ndonors) are initialised; an added donor's slot is
	 * filled before ndonors grows (release), never moved or freed */
	_Atomic unsigned int ndonors;
	struct ps_donor *donors;    /* PS_MAX_DONORS slots */
	pthread_mutex_t admin_lock; /* serialises donor add, drain, register */
	struct {
		void *addr;
		size_t len;
	} regs[PS_MAX_REGS]; /* registered buffers, under admin_lock */
	unsigned int nregs;
	struct xport_cfg xc_base; /* for donors added later */
	struct auth_key key;
	struct backup *backup;

	pthread_mutex_t lock;
	pthread_cond_t slab_cv;
	uint64_t *bits;	       /* protected by lock */
	uint64_t used;	       /* protected by lock */
	uint64_t cursor;       /* protected by lock */
	struct ps_slab *slabs; /* see struct ps_slab */
	bool free_pending;     /* protected by lock: a slab may be freed */
	bool stopping;	       /* protected by lock */
	pthread_cond_t tick_cv;
	pthread_t tick_thread;
	bool tick_started;
	pthread_cond_t repair_cv;
	pthread_t repair_thread;
	bool repair_started;
	char *repair_buf; /* PS_RUN_MAX_PAGES pages, repair thread only */
	_Atomic uint64_t repaired; /* slabs brought back to R copies */
	_Atomic uint64_t migrated; /* slabs moved off a donor that evicts */
	atomic_bool repair_off;	   /* test hook */

	pthread_mutex_t ifl[PS_NIFL];
	pthread_mutex_t hold_lock; /* test hook only */

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;
	struct ps_run *pool_free;  /* protected by pool_lock */
	unsigned int pool_waiters; /* protected by pool_lock */
	struct ps_run *runs;
	unsigned int nruns;
};

/* ---------------------------------------------------------------- util */

/* Timed waits below use CLOCK_MONOTONIC deadlines. */
static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static uint64_t ps_rand(void *arg)
{
	struct pstore *ps = arg;
	uint64_t z = atomic_fetch_add(&ps->rng, 0x9e3779b97f4a7c15ull);

	/* splitmix64 */
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint32_t slab_of(const struct pstore *ps, uint64_t lpn)
{
	return (uint32_t)(lpn / ps->pages_per_slab);
}

static void lat_update(struct ps_donor *d, const struct xport_io *io)
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
static bool donor_get(struct ps_donor *d)
{
	atomic_fetch_add(&d->users, 1);
	if (atomic_load(&d->dstate) == PS_D_GONE) {
		atomic_fetch_sub(&d->users, 1);
		return false;
	}
	return true;
}

static void donor_put(struct ps_donor *d)
{
	atomic_fetch_sub(&d->users, 1);
}

static bool donor_takes_slabs(struct ps_donor *d)
{
	return atomic_load(&d->up) && atomic_load(&d->dstate) == PS_D_ACTIVE;
}

/* Gives copy rslab back to d; -ENOTCONN without a call when d is down (a
 * donor that is down drops the session's slabs itself, or at our close).
 * Without ps->lock: it waits for the donor's answer. */
static int free_copy(struct ps_donor *d, uint32_t rslab)
{
	int ret = -ENOTCONN;

	if (atomic_load(&d->up) && donor_get(d)) {
		ret = xport_free(d->x, rslab);
		donor_put(d);
	}
	return ret;
}

/* Submits io to d; the io's done() must call donor_put(d). */
static void donor_submit(struct ps_donor *d, struct xport_io *io)
{
	int err = atomic_load_explicit(&d->fail_err, memory_order_relaxed);

	atomic_fetch_add(&d->users, 1);
	if (atomic_load(&d->dstate) == PS_D_GONE)
		err = -ENOTCONN;
	if (err) {
		io->t_submit_ns = 0;
		io->done(io, err);
		return;
	}
	if (atomic_load_explicit(&d->hold, memory_order_relaxed)) {
		struct pstore *ps = d->ps;

		pthread_mutex_lock(&ps->hold_lock);
		if (atomic_load(&d->hold)) {
			io->next = d->held;
			d->held = io;
			pthread_mutex_unlock(&ps->hold_lock);
			return;
		}
		pthread_mutex_unlock(&ps->hold_lock);
	}
	xport_submit(d->x, io);
}

/* ---------------------------------------------------------------- pool */

static struct ps_run *run_get(struct pstore *ps)
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

static void run_put(struct pstore *ps, struct ps_run *run)
{
	pthread_mutex_lock(&ps->pool_lock);
	run->next = ps->pool_free;
	ps->pool_free = run;
	if (ps->pool_waiters)
		pthread_cond_signal(&ps->pool_cv);
	pthread_mutex_unlock(&ps->pool_lock);
}

/* ------------------------------------------------------------- requests */

static void req_fail(struct pstore_req *r, int status)
{
	int zero = 0;

	atomic_compare_exchange_strong(&r->status, &zero, status);
}

static void req_put(struct pstore_req *r)
{
	if (atomic_fetch_sub(&r->pending, 1) == 1)
		r->done(r, atomic_load(&r->status));
}

/* A run on slab s ended (a write run also leaves the repair fence's
 * count): one lock round per run. */
static void slab_io_done(struct pstore *ps, uint32_t s, bool write)
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

/* ------------------------------------------------------ in-flight table */

static void ifl_add(struct pstore *ps, struct ps_run *run)
{
	struct ps_slab *sl = &ps->slabs[run->slab];
	pthread_mutex_t *l = &ps->ifl[run->slab % PS_NIFL];

	pthread_mutex_lock(l);
	run->next = NULL;
	run->prev = sl->ifl_tail;
	if (sl->ifl_tail)
		sl->ifl_tail->next = run;
	else
		sl->ifl_head = run;
	sl->ifl_tail = run;
	pthread_mutex_unlock(l);
}

static void ifl_remove(struct pstore *ps, struct ps_run *run)
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
	pthread_mutex_unlock(l);
	run->next = run->prev = NULL;
}

/*
 * Copies pages [lpn, lpn+n) that an in-flight write covers into buf;
 * returns the mask of the pages it served (n <= 64).
 */
static uint64_t ifl_serve(struct pstore *ps, uint32_t s, uint64_t lpn,
			  unsigned int n, char *buf)
{
	struct ps_slab *sl = &ps->slabs[s];
	pthread_mutex_t *l = &ps->ifl[s % PS_NIFL];
	uint64_t mask = 0, all = n == 64 ? ~0ull : (1ull << n) - 1;

	pthread_mutex_lock(l);
	/* newest first: the first write found for a page is the latest */
	for (struct ps_run *w = sl->ifl_tail; w && mask != all; w = w->prev) {
		uint64_t lo = w->lpn > lpn ? w->lpn : lpn;
		uint64_t hi = w->lpn + w->npages < lpn + n ? w->lpn + w->npages
							   : lpn + n;

		for (uint64_t p = lo; p < hi; p++) {
			uint64_t bit = 1ull << (p - lpn);

			if (mask & bit)
				continue;
			memcpy(buf + (p - lpn) * PSTORE_PAGE,
			       w->buf + (p - w->lpn) * PSTORE_PAGE,
			       PSTORE_PAGE);
			mask |= bit;
		}
	}
	pthread_mutex_unlock(l);
	return mask;
}

/* --------------------------------------------------------------- writes */

/* The copy `r` of slab s (matched by donor and remote slab, in case the
 * map changed since) must not be read any more. */
static void mark_stale(struct pstore *ps, uint32_t s, const struct ps_rep *r,
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
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
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
	/* a filling replica is not a readable copy yet */
	if (!(ok & ~(unsigned int)run->fillmask)) {
		req_fail(r, -EIO);
	} else if (ok != all) {
		/* some copies have the data: the failed ones are stale now */
		for (unsigned int k = 0; k < run->nrep; k++)
			if (!(ok & (1u << k)))
				mark_stale(ps, run->slab, &run->rep[k], false);
		if (run->backup && !(ok & OK_BACKUP)) {
			pthread_mutex_lock(&ps->lock);
			sl->backup = false;
			pthread_mutex_unlock(&ps->lock);
		}
		LOG_RATELIMITED(LOG_WARNING,
				"pstore: slab %" PRIu32
				": a copy failed a write, slab degraded",
				run->slab);
	}
	ifl_remove(ps, run);
	slab_io_done(ps, run->slab, true);
	run_put(ps, run);
	req_put(r);
}

static void write_target_done(struct ps_run *run)
{
	if (atomic_fetch_sub(&run->pending, 1) == 1)
		write_finish(run);
}

static void write_io_done(struct xport_io *io, int status)
{
	struct ps_run *run = io->priv;
	unsigned int k = (unsigned int)(io - run->io);
	struct ps_donor *d = &run->ps->donors[run->rep[k].donor];

	donor_put(d);
	if (!status) {
		lat_update(d, io);
		atomic_fetch_or(&run->ok, 1u << k);
	} else {
		LOG_RATELIMITED(LOG_WARNING,
				"donor %s: slab %" PRIu32 ": write failed: %s",
				d->addr, run->rep[k].rslab, strerror(-status));
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

/* ------------------------------------------------------ slab allocation */

static int alloc_on(struct pstore *ps, unsigned int di, struct ps_rep *rep)
{
	struct ps_donor *d = &ps->donors[di];
	struct xport_slab xs;
	int ret;

	if (!donor_get(d))
		return -ENOTCONN;
	ret = xport_alloc(d->x, &xs);
	if (!ret && xs.size < ps->slab_size) {
		log_warn("donor %s: slab %" PRIu32 " is %" PRIu64
			 " bytes, want %" PRIu64,
			 d->addr, xs.slab, xs.size, ps->slab_size);
		xport_free(d->x, xs.slab);
		ret = -EPROTO;
	}
	donor_put(d);
	pthread_mutex_lock(&ps->lock);
	if (!ret) {
		if (d->free_slabs)
			d->free_slabs--;
		d->slabs++;
		rep->donor = (uint16_t)di;
		rep->rslab = xs.slab;
		rep->stale = false;
		rep->filling = false;
		rep->evict = false;
	} else if (ret == -ENOSPC) {
		d->free_slabs = 0; /* until the next QUERY says otherwise */
	}
	pthread_mutex_unlock(&ps->lock);
	if (ret && ret != -ENOSPC)
		LOG_RATELIMITED(LOG_WARNING, "donor %s: slab alloc failed: %s",
				d->addr, strerror(-ret));
	return ret;
}

/*
 * Chooses and allocates the replicas of a new slab; called with no lock
 * held. Donors that fail are excluded and ranking runs again for what is
 * missing. Fewer than R healthy donors give a degraded slab rather than
 * no slab; none gives -ENOSPC (all full) or -EIO.
 */
static int slab_alloc_remote(struct pstore *ps, uint32_t s, struct ps_rep *rep,
			     unsigned int *nrep)
{
	struct rank_donor cand[PS_MAX_DONORS];
	bool skip[PS_MAX_DONORS] = { false };
	unsigned int have = 0;
	int ret = -EIO, last = -EIO;

	while (have < ps->replicas) {
		unsigned int out[PSTORE_MAX_REPLICAS];
		unsigned int need = ps->replicas - have, elig = 0;
		unsigned int nd = ps->ndonors;

		pthread_mutex_lock(&ps->lock);
		for (unsigned int i = 0; i < nd; i++) {
			struct ps_donor *d = &ps->donors[i];

			cand[i].id = i;
			cand[i].healthy = !skip[i] && donor_takes_slabs(d);
			cand[i].free_slabs = d->free_slabs;
			cand[i].trend_bps = d->trend_bps;
			cand[i].latency_ns = atomic_load(&d->lat_ns);
			elig += cand[i].healthy && cand[i].free_slabs;
		}
		pthread_mutex_unlock(&ps->lock);
		if (elig == 0) {
			ret = last == -ENOSPC ? -ENOSPC : -EIO;
			/* every healthy donor said full */
			for (unsigned int i = 0; i < nd; i++)
				if (cand[i].healthy)
					ret = -ENOSPC;
			break;
		}
		if (need > elig)
			need = elig; /* degraded rather than nothing */
		ret = rank_choose(cand, nd, need, ps->sample_d, &ps->w, ps_rand,
				  ps, out);
		if (ret < 0)
			break;
		for (unsigned int k = 0; k < need; k++) {
			int r = alloc_on(ps, out[k], &rep[have]);

			skip[out[k]] = true;
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

/*
 * Makes slab s READY (allocating it on first touch, without ps->lock held
 * during the donor calls) and copies its live replicas into run; counts
 * the run in the slab's ios. 0 or -errno.
 */
static int slab_for_write(struct pstore *ps, uint32_t s, struct ps_run *run)
{
	struct ps_slab *sl = &ps->slabs[s];
	int ret = 0;

	pthread_mutex_lock(&ps->lock);
	for (;;) {
		struct ps_rep rep[PSTORE_MAX_REPLICAS];
		unsigned int nrep = 0;

		if (sl->state == SLAB_READY && !sl->fence)
			break;
		if (sl->state != SLAB_EMPTY) {
			pthread_cond_wait(&ps->slab_cv, &ps->lock);
			continue;
		}
		sl->state = SLAB_ALLOCATING;
		pthread_mutex_unlock(&ps->lock);
		ret = slab_alloc_remote(ps, s, rep, &nrep);
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
		pthread_cond_broadcast(&ps->slab_cv);
	}
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
	if (run->nrep == __builtin_popcount(run->fillmask) && !run->backup) {
		ret = -EIO; /* no copy left to write to */
		goto out_unlock;
	}
	sl->ios++;
	sl->wios++;
out_unlock:
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

static void submit_write_run(struct pstore *ps, struct pstore_req *r,
			     unsigned int i, unsigned int n)
{
	uint64_t lpn = r->lpn[i];
	uint32_t s = slab_of(ps, lpn);
	uint64_t off = (lpn % ps->pages_per_slab) * PSTORE_PAGE;
	struct ps_run *run = run_get(ps);
	struct ps_donor *dst[PS_MAX_COPIES];
	struct xport_io *io[PS_MAX_COPIES];
	struct backup_io *bio = NULL;
	unsigned int nrep;
	int ret;

	run->ps = ps;
	run->req = r;
	run->buf = (char *)r->buf + (size_t)i * PSTORE_PAGE;
	run->lpn = lpn;
	run->npages = n;
	run->slab = s;
	run->dir = XPORT_WRITE;
	atomic_store(&run->ok, 0);
	/* visible to reads before anything can reach a donor */
	ifl_add(ps, run);
	ret = slab_for_write(ps, s, run);
	if (ret) {
		ifl_remove(ps, run);
		run_put(ps, run);
		req_fail(r, ret);
		return;
	}
	nrep = run->nrep;
	atomic_store(&run->pending, (int)(nrep + (run->backup ? 1 : 0)));
	atomic_fetch_add(&r->pending, 1);
	for (unsigned int k = 0; k < nrep; k++) {
		struct xport_io *x = &run->io[k];

		x->next = NULL;
		x->dir = XPORT_WRITE;
		x->slab = run->rep[k].rslab;
		x->off = off;
		x->len = n * PSTORE_PAGE;
		x->buf = run->buf;
		x->done = write_io_done;
		x->priv = run;
		dst[k] = &ps->donors[run->rep[k].donor];
		io[k] = x;
	}
	if (run->backup) {
		bio = &run->bio;
		bio->dir = XPORT_WRITE;
		bio->off = lpn * PSTORE_PAGE;
		bio->len = n * PSTORE_PAGE;
		bio->buf = run->buf;
		bio->done = write_backup_done;
		bio->priv = run;
	}
	/* the run may complete and be reused once its last target is
   * submitted: only locals from here on */
	for (unsigned int k = 0; k < nrep; k++)
		donor_submit(dst[k], io[k]);
	if (bio)
		backup_submit(ps->backup, bio);
}

/* ---------------------------------------------------------------- reads */

static void read_finish(struct ps_run *run, int status)
{
	struct pstore *ps = run->ps;
	struct pstore_req *r = run->req;

	if (status)
		req_fail(r, status);
	slab_io_done(ps, run->slab, false);
	run_put(ps, run);
	req_put(r);
}

static void read_io_done(struct xport_io *io, int status);
static void read_backup_done(struct backup_io *bio, int status);

/* Tries the next copy of run, or ends it with -EIO. */
static void read_next(struct ps_run *run)
{
	struct pstore *ps = run->ps;

	if (run->cur < run->nrep) {
		struct ps_rep *rep = &run->rep[run->cur++];
		struct xport_io *x = &run->io[0];

		x->next = NULL;
		x->dir = XPORT_READ;
		x->slab = rep->rslab;
		x->off = (run->lpn % ps->pages_per_slab) * PSTORE_PAGE;
		x->len = run->npages * PSTORE_PAGE;
		x->buf = run->buf;
		x->done = read_io_done;
		x->priv = run;
		donor_submit(&ps->donors[rep->donor], x);
		return;
	}
	if (run->backup) {
		struct backup_io *bio = &run->bio;

		run->backup = false;
		bio->dir = XPORT_READ;
		bio->off = run->lpn * PSTORE_PAGE;
		bio->len = run->npages * PSTORE_PAGE;
		bio->buf = run->buf;
		bio->done = read_backup_done;
		bio->priv = run;
		backup_submit(ps->backup, bio);
		return;
	}
	LOG_RATELIMITED(LOG_ERR,
			"pstore: slab %" PRIu32 ": page %" PRIu64
			": every copy failed a read",
			run->slab, run->lpn);
	read_finish(run, -EIO);
}

static void read_io_done(struct xport_io *io, int status)
{
	struct ps_run *run = io->priv;
	struct ps_rep *rep = &run->rep[run->cur - 1];
	struct ps_donor *d = &run->ps->donors[rep->donor];

	donor_put(d);
	if (!status) {
		lat_update(d, io);
		read_finish(run, 0);
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
		mark_stale(run->ps, run->slab, rep, true);
	read_next(run);
}

static void read_backup_done(struct backup_io *bio, int status)
{
	struct ps_run *run = bio->priv;

	if (!status)
		read_finish(run, 0);
	else
		read_next(run);
}

/* Orders the live replicas of sl into run: up donors by latency, then
 * the others. Called under ps->lock. */
static void read_order(struct pstore *ps, struct ps_slab *sl,
		       struct ps_run *run)
{
	uint64_t key[PS_MAX_COPIES];

	run->nrep = 0;
	for (unsigned int j = 0; j < sl->nrep; j++) {
		struct ps_donor *d = &ps->donors[sl->rep[j].donor];
		unsigned int k = run->nrep;
		uint64_t lat;

		if (sl->rep[j].stale || sl->rep[j].filling)
			continue;
		if (atomic_load(&d->fail_err))
			lat = UINT64_MAX; /* test hook: last */
		else if (!atomic_load(&d->up))
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

static void submit_read_run(struct pstore *ps, struct pstore_req *r,
			    unsigned int i, unsigned int n)
{
	uint64_t lpn = r->lpn[i];
	uint32_t s = slab_of(ps, lpn);
	char *buf = (char *)r->buf + (size_t)i * PSTORE_PAGE;
	struct ps_slab *sl = &ps->slabs[s];
	uint64_t served = ifl_serve(ps, s, lpn, n, buf);
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
		run = run_get(ps);
		pthread_mutex_lock(&ps->lock);
		if (sl->state != SLAB_READY) {
			/* never written since the slab was (re)allocated */
			pthread_mutex_unlock(&ps->lock);
			run_put(ps, run);
			memset(buf + (size_t)a * PSTORE_PAGE, 0,
			       (size_t)(b - a) * PSTORE_PAGE);
			a = b;
			continue;
		}
		read_order(ps, sl, run);
		sl->ios++;
		pthread_mutex_unlock(&ps->lock);
		run->ps = ps;
		run->req = r;
		run->buf = buf + (size_t)a * PSTORE_PAGE;
		run->lpn = lpn + a;
		run->npages = b - a;
		run->slab = s;
		run->dir = XPORT_READ;
		atomic_fetch_add(&r->pending, 1);
		read_next(run);
		a = b;
	}
}

/* --------------------------------------------------------------- submit */

void pstore_submit(struct pstore *ps, struct pstore_req *r)
{
	unsigned int i = 0;

	atomic_store(&r->pending, 1); /* ours, dropped at the end */
	atomic_store(&r->status, 0);
	if (!r->done || (r->npages && (!r->lpn || !r->buf)) ||
	    (r->dir != XPORT_READ && r->dir != XPORT_WRITE)) {
		req_fail(r, -EINVAL);
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
				req_fail(r, -EINVAL);
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
			submit_read_run(ps, r, i, n);
		i += n;
	}
out_put:
	req_put(r);
}

/* ---------------------------------------------------------------- pages */

int pstore_page_alloc(struct pstore *ps, uint64_t hint, uint64_t *lpn)
{
	uint64_t nwords = (ps->npages + 63) / 64, start, p = UINT64_MAX;
	int ret = 0;

	pthread_mutex_lock(&ps->lock);
	if (ps->used >= ps->npages) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	start = hint < ps->npages ? hint : ps->cursor;
	if (start >= ps->npages)
		start = 0;
	/* from start to the end, then from 0: one pass over the words */
	for (uint64_t k = 0; k <= nwords && p == UINT64_MAX; k++) {
		uint64_t w = (start / 64 + k) % nwords;
		uint64_t free_bits = ~ps->bits[w];

		if (k == 0)
			free_bits &= ~0ull << (start % 64);
		if (w == nwords - 1 && ps->npages % 64)
			free_bits &= (1ull << (ps->npages % 64)) - 1;
		if (free_bits)
			p = w * 64 + (uint64_t)__builtin_ctzll(free_bits);
	}
	assert(p != UINT64_MAX); /* used < npages */
	ps->bits[p / 64] |= 1ull << (p % 64);
	ps->used++;
	ps->slabs[slab_of(ps, p)].used++;
	ps->cursor = p + 1;
	*lpn = p;
out_unlock:
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
	/* punch while the page is still ours: once its bit is clear it can
   * be taken and written again */
	if (ps->backup)
		backup_punch(ps->backup, lpn * PSTORE_PAGE, PSTORE_PAGE);
	pthread_mutex_lock(&ps->lock);
	if (!(ps->bits[lpn / 64] & (1ull << (lpn % 64)))) {
		pthread_mutex_unlock(&ps->lock);
		LOG_RATELIMITED(LOG_ERR,
				"pstore: free of unallocated page %" PRIu64,
				lpn);
		return;
	}
	ps->bits[lpn / 64] &= ~(1ull << (lpn % 64));
	ps->used--;
	sl = &ps->slabs[slab_of(ps, lpn)];
	sl->used--;
	if (!sl->used && !sl->ios && sl->state == SLAB_READY) {
		ps->free_pending = true;
		pthread_cond_signal(&ps->tick_cv);
	}
	pthread_mutex_unlock(&ps->lock);
}

uint64_t pstore_pages_total(struct pstore *ps)
{
	return ps->npages;
}

uint64_t pstore_pages_used(struct pstore *ps)
{
	uint64_t u;

	pthread_mutex_lock(&ps->lock);
	u = ps->used;
	pthread_mutex_unlock(&ps->lock);
	return u;
}

/* ------------------------------------------------- background: the tick */

/* Gives back every READY slab with no page and no I/O; lock held on entry
 * and exit, dropped around the donor calls. */
static void free_empty_slabs(struct pstore *ps)
{
	ps->free_pending = false;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		struct ps_rep rep[PS_MAX_COPIES];
		unsigned int nrep;

		if (sl->state != SLAB_READY || sl->used || sl->ios ||
		    sl->repairing)
			continue;
		sl->state = SLAB_FREEING;
		nrep = sl->nrep;
		memcpy(rep, sl->rep, sizeof(rep));
		pthread_mutex_unlock(&ps->lock);
		for (unsigned int k = 0; k < nrep; k++) {
			struct ps_donor *d = &ps->donors[rep[k].donor];
			int ret = free_copy(d, rep[k].rslab);

			if (ret)
				LOG_RATELIMITED(LOG_WARNING,
						"donor %s: slab %" PRIu32
						": free failed: %s",
						d->addr, rep[k].rslab,
						strerror(-ret));
		}
		pthread_mutex_lock(&ps->lock);
		for (unsigned int k = 0; k < nrep; k++) {
			struct ps_donor *d = &ps->donors[rep[k].donor];

			d->slabs--;
			d->free_slabs++;
		}
		sl->nrep = 0;
		sl->backup = false;
		sl->state = SLAB_EMPTY;
		pthread_cond_broadcast(&ps->slab_cv);
	}
}

/* Another copy of slab sl than rep[k] can serve reads now: live on a
 * donor that is up, or the backup. Under ps->lock. */
static bool served_elsewhere(struct pstore *ps, const struct ps_slab *sl,
			     unsigned int k)
{
	if (sl->backup)
		return true;
	for (unsigned int j = 0; j < sl->nrep; j++)
		if (j != k && !sl->rep[j].stale && !sl->rep[j].filling &&
		    atomic_load(&ps->donors[sl->rep[j].donor].up))
			return true;
	return false;
}

/*
 * Marks the copies on donor di stale, so the repair thread rebuilds them
 * elsewhere; returns how many were live, and in *kept how many live ones
 * were left alone. gone: the donor no longer holds them (it restarted or
 * dropped our session), so they are never freed there either: it may hand
 * the same ids to our new slabs. A donor that is only out of reach keeps
 * its copies for its grace period: a copy no other one can stand in for
 * is kept, so that an outage of every link (ours) loses nothing; it is
 * given up on a later tick once another copy is up. Under ps->lock.
 */
static unsigned int give_up_copies(struct pstore *ps, unsigned int di,
				   bool gone, unsigned int *kept)
{
	unsigned int n = 0;

	*kept = 0;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			struct ps_rep *r = &sl->rep[k];

			if (r->donor != di)
				continue;
			if (!gone && !r->stale &&
			    !served_elsewhere(ps, sl, k)) {
				(*kept)++;
				continue;
			}
			n += !r->stale;
			r->stale = true;
			r->lost |= gone;
		}
	}
	pthread_cond_broadcast(&ps->repair_cv);
	return n;
}

/* A donor down for PS_DOWN_GRACE_MS (called every tick from then on): its
 * copies count as lost where another copy serves. If it comes back, the
 * stale copies are freed there by the repair. */
static void lost_copies(struct pstore *ps, unsigned int di)
{
	struct ps_donor *d = &ps->donors[di];
	unsigned int kept, n = give_up_copies(ps, di, false, &kept);

	if (n)
		log_warn("donor %s: down for %u ms, its %u copies are lost; "
			 "re-replicating",
			 d->addr, PS_DOWN_GRACE_MS, n);
	if (kept && kept != d->kept_logged)
		log_warn(
			"donor %s: down, %u slabs have no other copy: kept "
			"for when it comes back (reads of them fail meanwhile)",
			d->addr, kept);
	d->kept_logged = kept;
}

/* A donor that came back without our slabs (restarted, or our session
 * there expired); before it is marked up. */
static void came_back_empty(struct pstore *ps, unsigned int di, const char *why)
{
	unsigned int kept, n = give_up_copies(ps, di, true, &kept);

	if (n)
		log_warn("donor %s: %s, its %u copies of our slabs are lost; "
			 "re-replicating",
			 ps->donors[di].addr, why, n);
	else
		log_notice("donor %s: %s", ps->donors[di].addr, why);
}

/* Refreshes ranking inputs and health; lock held on entry and exit. */
static void refresh_donors(struct pstore *ps)
{
	for (unsigned int i = 0; i < ps->ndonors && !ps->stopping; i++) {
		struct ps_donor *d = &ps->donors[i];
		struct wire_state st;
		bool up, checking = !atomic_load(&d->up);
		int ret;

		if (!donor_get(d))
			continue;
		pthread_mutex_unlock(&ps->lock);
		up = xport_state(d->x) == XPORT_UP;
		ret = up ? xport_query(d->x, &st) : -ENOTCONN;
		donor_put(d);
		pthread_mutex_lock(&ps->lock);
		/* heartbeat: a connected donor that leaves a QUERY unanswered
		 * is suspect, PS_SILENT_MAX in a row and it is down (a cut link
		 * shows no connection error until TCP gives up) */
		d->silent = ret == -ETIMEDOUT ? d->silent + 1 : 0;
		if (d->silent == 1)
			log_warn("donor %s: suspect: no answer to a query",
				 d->addr);
		else if (d->silent == PS_SILENT_MAX)
			log_warn("donor %s: down: %u queries unanswered",
				 d->addr, d->silent);
		/* up again only on an answered QUERY (restart check below) */
		up = up && (ret == 0 ||
			    (atomic_load(&d->up) && ret != -ENOTCONN &&
			     ret != -ECONNRESET && d->silent < PS_SILENT_MAX));
		if (!ret) {
			d->free_slabs = st.free_slabs;
			d->trend_bps = st.host_trend_bps;
			/* a donor younger than last time restarted: what it
			 * held for us is gone, even though it answers again;
			 * so is all of it when our session there expired (it
			 * does not drop a session's slabs otherwise). Known
			 * before it is used again (see on_event): while it is
			 * not up no slab is allocated or freed there, so its
			 * count and ours agree. */
			if (st.uptime_ms < d->uptime_ms)
				came_back_empty(ps, i, "restarted");
			else if (checking && d->slabs && !st.session_slabs)
				came_back_empty(ps, i,
						"our session there expired");
			d->uptime_ms = st.uptime_ms;
		}
		if (up != atomic_exchange(&d->up, up))
			log_notice("donor %s: %s", d->addr,
				   up ? "up again" : "not taking slabs: down");
		if (up) {
			d->down_since_ns = 0;
			continue;
		}
		if (!d->down_since_ns) {
			d->down_since_ns = mono_ns();
		} else if (mono_ns() - d->down_since_ns >=
			   PS_DOWN_GRACE_MS * 1000000ull) {
			lost_copies(ps, i);
		}
	}
}

static void *tick_main(void *arg)
{
	struct pstore *ps = arg;
	uint64_t next = mono_ns() + PS_TICK_MS * 1000000ull;

	pthread_mutex_lock(&ps->lock);
	while (!ps->stopping) {
		struct timespec ts;

		if (ps->free_pending) {
			free_empty_slabs(ps);
			continue;
		}
		if (mono_ns() >= next) {
			refresh_donors(ps);
			next = mono_ns() + PS_TICK_MS * 1000000ull;
			continue;
		}
		deadline_in(&ts, 100);
		pthread_cond_timedwait(&ps->tick_cv, &ps->lock, &ts);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

/* ------------------------------------------------ background: repair */

/*
 * Re-replication: a slab with fewer than R live copies gets a new replica
 * on a ranked donor that holds none of its live copies. The new replica
 * is "filling": every write goes to it too, reads never do. It is filled
 * chunk by chunk from a live replica (or the backup); for each chunk the
 * slab's fence holds back new writes and the copy waits until the writes
 * already submitted have finished, so the source has the latest data and
 * no write can land on the new replica between the copy's read and its
 * write. After the last chunk the replica turns live.
 */

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

	donor_put(w->d);
	sync_signal(w, status);
}

static void sync_bio_done(struct backup_io *bio, int status)
{
	sync_signal(bio->priv, status);
}

/* One synchronous io on a donor (or the backup when d is NULL). */
static int sync_io(struct pstore *ps, struct ps_donor *d, uint8_t dir,
		   uint32_t rslab, uint64_t off, uint64_t loff, uint32_t len,
		   void *buf)
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
		donor_submit(d, &io);
	} else {
		bio.dir = dir;
		bio.off = loff;
		bio.len = len;
		bio.buf = buf;
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
			struct ps_donor *d = &ps->donors[i];
			bool holds = false;

			if (!donor_takes_slabs(d) || !d->free_slabs ||
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

/* Copies chunk [p, p+n) pages of slab s from a live copy to dst. */
static int repair_chunk(struct pstore *ps, uint32_t s, uint32_t p,
			unsigned int n, const struct ps_rep *dst)
{
	struct ps_slab *sl = &ps->slabs[s];
	struct ps_rep src[PS_MAX_COPIES];
	unsigned int nsrc = 0;
	bool backup;
	uint64_t off = (uint64_t)p * PSTORE_PAGE;
	uint32_t len = n * PSTORE_PAGE;
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
		if (k == nsrc && !backup)
			break;
		ret = sync_io(ps, k < nsrc ? &ps->donors[src[k].donor] : NULL,
			      XPORT_READ, k < nsrc ? src[k].rslab : 0, off,
			      (uint64_t)s * ps->slab_size + off, len,
			      ps->repair_buf);
	}
	if (!ret)
		ret = sync_io(ps, &ps->donors[dst->donor], XPORT_WRITE,
			      dst->rslab, off, 0, len, ps->repair_buf);

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
	struct rank_donor cand[PS_MAX_DONORS];
	unsigned int ndrop = 0, nevicted = 0, keep = 0, out[1], idx = 0, nd;
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
	nd = ps->ndonors;
	for (unsigned int i = 0; i < nd; i++) {
		struct ps_donor *d = &ps->donors[i];

		cand[i].id = i;
		cand[i].healthy =
			donor_takes_slabs(d) && !atomic_load(&d->fail_err);
		for (unsigned int k = 0; k < sl->nrep; k++)
			if (sl->rep[k].donor == i)
				cand[i].healthy = false;
		cand[i].free_slabs = d->free_slabs;
		cand[i].trend_bps = d->trend_bps;
		cand[i].latency_ns = atomic_load(&d->lat_ns);
	}
	for (unsigned int k = 0; k < ndrop; k++)
		ps->donors[drop[k].donor].slabs--;
	pthread_mutex_unlock(&ps->lock);

	for (unsigned int k = 0; k < ndrop; k++) {
		struct ps_donor *d = &ps->donors[drop[k].donor];

		if (!drop[k].lost)
			free_copy(d, drop[k].rslab);
	}

	ret = rank_choose(cand, nd, 1, ps->sample_d, &ps->w, ps_rand, ps, out);
	if (ret == 1)
		ret = alloc_on(ps, out[0], &nrep_new);
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
				ps->donors[sl->rep[k].donor].slabs--;
				ps->donors[sl->rep[k].donor].free_slabs++;
				continue;
			}
			sl->rep[keep++] = sl->rep[k];
		}
		sl->nrep = (uint8_t)keep;
		sl->fence = false;
		pthread_cond_broadcast(&ps->slab_cv);
		atomic_fetch_add(nevicted ? &ps->migrated : &ps->repaired, 1);
	} else {
		/* failed: a stale replica is dropped on the next round */
		sl->rep[idx].filling = false;
		sl->rep[idx].stale = true;
	}
	pthread_mutex_unlock(&ps->lock);
	if (ret)
		LOG_RATELIMITED(LOG_WARNING,
				"pstore: slab %" PRIu32 ": repair failed: %s",
				s, strerror(-ret));
	else
		log_info("pstore: slab %" PRIu32 ": replica added on donor %s",
			 s, ps->donors[nrep_new.donor].addr);
	for (unsigned int k = 0; k < nevicted; k++) {
		struct ps_donor *d = &ps->donors[evicted[k].donor];
		int r = free_copy(d, evicted[k].rslab);

		if (r)
			LOG_RATELIMITED(LOG_WARNING,
					"donor %s: slab %" PRIu32
					": free after migration failed: %s",
					d->addr, evicted[k].rslab,
					strerror(-r));
		else
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

static void *repair_main(void *arg)
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
		deadline_in(&ts, 200);
		pthread_cond_timedwait(&ps->repair_cv, &ps->lock, &ts);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

/* ------------------------------------------------------- open and close */

/*
 * The donor wants remote slab rslab back: flag the copy; the repair
 * thread moves the slab to another ranked donor, then frees it. Short
 * critical section: called from the transport's event thread.
 */
static void evict_mark(struct pstore *ps, unsigned int di, uint32_t rslab)
{
	bool found = false;

	pthread_mutex_lock(&ps->lock);
	for (uint32_t s = 0; s < ps->nslabs && !found; s++) {
		struct ps_slab *sl = &ps->slabs[s];

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			if (sl->rep[k].donor == di &&
			    sl->rep[k].rslab == rslab && !sl->rep[k].stale) {
				sl->rep[k].evict = true;
				found = true;
				break;
			}
		}
	}
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
	log_notice("donor %s: slab %" PRIu32 ": evict request%s",
		   ps->donors[di].addr, rslab,
		   found ? ", migrating" : " for a slab we do not hold");
}

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct ps_donor *d = arg;

	switch (ev->type) {
	case XPORT_EV_UP:
		/* a reconnect: the tick's QUERY first tells whether the donor
		 * restarted (its slab ids then mean nothing), then marks it up:
		 * until then it gets no new slab and no free */
		if (!atomic_exchange(&d->was_up, true)) {
			atomic_store(&d->up, true);
			log_notice("donor %s: up", d->addr);
		} else {
			log_notice("donor %s: reconnected, checking it",
				   d->addr);
		}
		break;
	case XPORT_EV_DOWN:
		atomic_store(&d->up, false);
		log_warn("donor %s: down: %s", d->addr, strerror(-ev->error));
		break;
	case XPORT_EV_EVICT:
		evict_mark(d->ps, (unsigned int)(d - d->ps->donors), ev->slab);
		break;
	}
}

static const char *reason(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return "connection refused";
	case -EACCES:
	case -EPERM:
		return "authentication failed (wrong key?)";
	case -ETIMEDOUT:
		return "timed out";
	case -EPROTONOSUPPORT:
		return "protocol or transport not supported";
	case -EHOSTUNREACH:
		return "host unreachable";
	default:
		return strerror(-err);
	}
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends to err (keeps it NUL-terminated, truncates quietly). */
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!err || !errlen)
		return;
	used = strnlen(err, errlen);
	if (used + 1 >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

/* Parses donor i of cfg into an xport_cfg; host/port in the buffers. */
static int donor_cfg(const struct pstore *ps, const char *spec,
		     struct xport_cfg *xc, char *host, size_t hostlen,
		     char *port, size_t portlen)
{
	if (ps->xc_base.kind == XPORT_MEM) {
		/* "mem", or "mem:NAME[:SIZE]" for several local donors */
		const char *size = strrchr(spec, ':');
		uint64_t bytes = 0;

		snprintf(host, hostlen, "%s", spec);
		snprintf(port, portlen, "mem");
		xc->mem_bytes = (uint64_t)ps->nslabs * ps->slab_size;
		if (size && size != strchr(spec, ':') &&
		    parse_size(size + 1, &bytes) == 0)
			xc->mem_bytes = bytes;
		return 0;
	}
	return parse_hostport(spec, NULL, host, hostlen, port, portlen);
}

static const char *sep(const char *err, size_t errlen)
{
	return err && errlen && err[0] ? "; " : "";
}

static void ps_free(struct pstore *ps)
{
	for (unsigned int i = 0; i < ps->ndonors; i++)
		if (ps->donors &&
		    atomic_load(&ps->donors[i].dstate) != PS_D_GONE)
			xport_close(ps->donors[i].x);
	pthread_mutex_destroy(&ps->admin_lock);
	backup_close(ps->backup);
	for (unsigned int i = 0; i < PS_NIFL; i++)
		pthread_mutex_destroy(&ps->ifl[i]);
	pthread_mutex_destroy(&ps->hold_lock);
	pthread_cond_destroy(&ps->pool_cv);
	pthread_mutex_destroy(&ps->pool_lock);
	pthread_cond_destroy(&ps->tick_cv);
	pthread_cond_destroy(&ps->repair_cv);
	free(ps->repair_buf);
	pthread_cond_destroy(&ps->slab_cv);
	pthread_mutex_destroy(&ps->lock);
	free(ps->runs);
	free(ps->slabs);
	free(ps->bits);
	free(ps->donors);
	free(ps);
}

/*
 * Waits for one donor until the deadline, but gives up on a refused
 * connection after PS_REFUSED_MS (nobody listens there: a mount should
 * say so at once, not after the whole control timeout) and at once on
 * errors that retrying cannot fix (wrong key, protocol).
 */
static int wait_donor(struct ps_donor *d, uint64_t deadline)
{
	uint64_t refused_since = 0;
	int ret;

	for (;;) {
		uint64_t now = mono_ns();
		unsigned int left =
			now < deadline
				? (unsigned int)((deadline - now) / 1000000)
				: 0;

		ret = xport_wait_up(d->x, left < 200 ? (left ? left : 1) : 200);
		now = mono_ns();
		if (!ret || now >= deadline || ret == -EACCES ||
		    ret == -EPERM || ret == -EPROTONOSUPPORT ||
		    ret == -EPROTO || ret == -ECONNABORTED)
			break;
		if (ret != -ECONNREFUSED) {
			refused_since = 0;
			continue;
		}
		if (!refused_since)
			refused_since = now;
		else if (now - refused_since >= PS_REFUSED_MS * 1000000ull)
			break;
	}
	return ret;
}

/* Fills slot d for donor spec and starts connecting. */
static int slot_open(struct pstore *ps, struct ps_donor *d, const char *spec,
		     char *err, size_t errlen)
{
	struct xport_cfg xc = ps->xc_base;
	char host[256], port[32];
	int ret;

	ret = donor_cfg(ps, spec, &xc, host, sizeof(host), port, sizeof(port));
	if (ret) {
		errf(err, errlen, "bad donor address \"%s\"", spec);
		return ret;
	}
	memset(d, 0, sizeof(*d));
	d->ps = ps;
	snprintf(d->addr, sizeof(d->addr), "%s", spec);
	xc.host = host;
	xc.port = port;
	xc.event = on_event;
	xc.event_arg = d;
	ret = xport_open(&xc, &d->x);
	if (ret)
		errf(err, errlen, "donor %s: %s", spec, reason(ret));
	return ret;
}

/* Waits for slot d and reads its state; 0 when it can take slabs. */
static int slot_ready(struct pstore *ps, struct ps_donor *d, uint64_t deadline,
		      char *err, size_t errlen)
{
	struct xport_stats xs;
	struct wire_state st;
	int ret;

	ret = wait_donor(d, deadline);
	if (!ret)
		ret = xport_query(d->x, &st);
	if (ret) {
		errf(err, errlen, "%sdonor %s: %s", sep(err, errlen), d->addr,
		     reason(ret));
		log_warn("donor %s: %s", d->addr, reason(ret));
		return ret;
	}
	if (st.slab_size && st.slab_size != ps->slab_size) {
		errf(err, errlen,
		     "%sdonor %s: slab size %" PRIu64 " instead of %" PRIu64,
		     sep(err, errlen), d->addr, st.slab_size, ps->slab_size);
		return -EPROTO;
	}
	xport_get_stats(d->x, &xs);
	d->kind = xs.kind;
	pthread_mutex_lock(&ps->lock);
	d->free_slabs = st.free_slabs;
	d->trend_bps = st.host_trend_bps;
	pthread_mutex_unlock(&ps->lock);
	atomic_store(&d->up, true);
	return 0;
}

static int open_donors(struct pstore *ps, const struct pstore_cfg *cfg,
		       char *err, size_t errlen)
{
	static const char *const mem_only[] = { "mem" };
	const char *const *specs = cfg->donors;
	unsigned int n = cfg->ndonors > 0 ? (unsigned int)cfg->ndonors : 0;
	uint8_t session[PROTO_SESSION_LEN];
	uint64_t deadline;
	unsigned int up = 0;
	int first_err = 0;

	if (cfg->transport == XPORT_MEM && n == 0) {
		specs = mem_only;
		n = 1;
	}
	if (n == 0 || n > PS_MAX_DONORS) {
		errf(err, errlen, "%s donors (1 to %d)", n ? "too many" : "no",
		     PS_MAX_DONORS);
		return -EINVAL;
	}
	ps->donors = calloc(PS_MAX_DONORS, sizeof(*ps->donors));
	if (!ps->donors)
		return -ENOMEM;
	if (getrandom(session, sizeof(session), 0) != sizeof(session)) {
		for (size_t i = 0; i < sizeof(session); i++)
			session[i] = (uint8_t)ps_rand(ps);
	}
	if (cfg->key)
		ps->key = *cfg->key;
	ps->xc_base.kind = cfg->transport;
	ps->xc_base.key = cfg->key ? &ps->key : NULL;
	ps->xc_base.slab_size = ps->slab_size;
	memcpy(ps->xc_base.session, session, sizeof(session));
	ps->xc_base.max_chain = cfg->max_chain;
	ps->xc_base.max_op_bytes = cfg->max_op_bytes;
	ps->xc_base.ctl_timeout_ms = cfg->ctl_timeout_ms;
	ps->xc_base.io_timeout_ms = cfg->io_timeout_ms;
	ps->xc_base.reconnect_min_ms = 100;
	ps->xc_base.reconnect_max_ms = cfg->transport == XPORT_MEM ? 0 : 5000;
	for (unsigned int i = 0; i < n; i++) {
		int ret = slot_open(ps, &ps->donors[i], specs[i], err, errlen);

		if (ret)
			return ret;
		ps->ndonors++;
	}

	deadline = mono_ns() + (uint64_t)ps->ctl_timeout_ms * 1000000ull;
	for (unsigned int i = 0; i < n; i++) {
		int ret = slot_ready(ps, &ps->donors[i], deadline, err, errlen);

		if (!ret)
			up++;
		else if (!first_err)
			first_err = ret;
	}
	if (up < ps->replicas) {
		char msg[64];

		snprintf(msg, sizeof(msg),
			 " (%u of %u donors reachable, %u needed)", up, n,
			 ps->replicas);
		errf(err, errlen, "%s", msg);
		return first_err ? first_err : -EHOSTUNREACH;
	}
	if (err && errlen)
		err[0] = '\0'; /* enough donors: the others come back later */
	return 0;
}

int pstore_open(const struct pstore_cfg *cfg, struct pstore **out, char *err,
		size_t errlen)
{
	struct pstore *ps;
	unsigned int pool;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	if (!cfg || cfg->capacity < PSTORE_PAGE ||
	    cfg->replicas > PSTORE_MAX_REPLICAS ||
	    (cfg->slab_size && (cfg->slab_size % PSTORE_PAGE ||
				cfg->slab_size / PSTORE_PAGE > UINT32_MAX)) ||
	    !(cfg->w_free >= 0 && cfg->w_trend >= 0 && cfg->w_latency >= 0)) {
		errf(err, errlen, "bad page store settings");
		return -EINVAL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->slab_size = cfg->slab_size ? cfg->slab_size : PS_DEF_SLAB;
	ps->pages_per_slab = (uint32_t)(ps->slab_size / PSTORE_PAGE);
	ps->npages = cfg->capacity / PSTORE_PAGE;
	ps->nslabs = (uint32_t)((ps->npages + ps->pages_per_slab - 1) /
				ps->pages_per_slab);
	ps->replicas = cfg->replicas ? cfg->replicas : 1;
	ps->sample_d = cfg->sample_d;
	ps->w.free = cfg->w_free;
	ps->w.trend = cfg->w_trend;
	ps->w.latency = cfg->w_latency;
	if (ps->w.free == 0 && ps->w.trend == 0 && ps->w.latency == 0)
		ps->w.free = ps->w.trend = ps->w.latency = 1;
	ps->ctl_timeout_ms =
		cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : PS_DEF_CTL_MS;
	atomic_store(&ps->rng, mono_ns());
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->slab_cv, NULL);
	cond_init_mono(&ps->tick_cv);
	cond_init_mono(&ps->repair_cv);
	pthread_mutex_init(&ps->pool_lock, NULL);
	pthread_cond_init(&ps->pool_cv, NULL);
	for (unsigned int i = 0; i < PS_NIFL; i++)
		pthread_mutex_init(&ps->ifl[i], NULL);
	pthread_mutex_init(&ps->hold_lock, NULL);
	pthread_mutex_init(&ps->admin_lock, NULL);

	ps->bits = calloc((ps->npages + 63) / 64, sizeof(*ps->bits));
	ps->slabs = calloc(ps->nslabs, sizeof(*ps->slabs));
	pool = cfg->max_inflight_pages ? cfg->max_inflight_pages : PS_DEF_POOL;
	ps->runs = calloc(pool, sizeof(*ps->runs));
	ps->repair_buf = malloc((size_t)PS_RUN_MAX_PAGES * PSTORE_PAGE);
	if (!ps->bits || !ps->slabs || !ps->runs || !ps->repair_buf) {
		ret = -ENOMEM;
		goto out_free;
	}
	ps->nruns = pool;
	for (unsigned int i = 0; i < pool; i++) {
		ps->runs[i].next = ps->pool_free;
		ps->pool_free = &ps->runs[i];
	}

	ret = open_donors(ps, cfg, err, errlen);
	if (ret)
		goto out_free;
	if (cfg->backup_path) {
		ret = backup_open(cfg->backup_path, ps->npages * PSTORE_PAGE, 0,
				  &ps->backup);
		if (ret) {
			errf(err, errlen, "backup %s: %s", cfg->backup_path,
			     strerror(-ret));
			goto out_free;
		}
	}
	ret = -pthread_create(&ps->tick_thread, NULL, tick_main, ps);
	if (ret)
		goto out_free;
	ps->tick_started = true;
	/* repairs degraded slabs and migrates evicted ones (any R) */
	ret = -pthread_create(&ps->repair_thread, NULL, repair_main, ps);
	if (ret)
		goto out_stop_tick;
	ps->repair_started = true;
	*out = ps;
	return 0;

out_stop_tick:
	pthread_mutex_lock(&ps->lock);
	ps->stopping = true;
	pthread_cond_broadcast(&ps->tick_cv);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->tick_thread, NULL);
out_free:
	ps_free(ps);
	return ret;
}

void pstore_close(struct pstore *ps)
{
	if (!ps)
		return;
	pthread_mutex_lock(&ps->lock);
	ps->stopping = true;
	pthread_cond_broadcast(&ps->tick_cv);
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_cond_broadcast(&ps->slab_cv);
	pthread_mutex_unlock(&ps->lock);
	if (ps->tick_started)
		pthread_join(ps->tick_thread, NULL);
	if (ps->repair_started)
		pthread_join(ps->repair_thread, NULL);
	/* give our slabs back to the donors that can still hear us */
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			struct ps_donor *d = &ps->donors[sl->rep[k].donor];

			/* a lost copy's id may name another of our slabs */
			if (!sl->rep[k].lost &&
			    atomic_load(&d->dstate) != PS_D_GONE &&
			    atomic_load(&d->up) &&
			    xport_state(d->x) == XPORT_UP)
				xport_free(d->x, sl->rep[k].rslab);
		}
	}
	ps_free(ps);
}

int pstore_register(struct pstore *ps, void *addr, size_t len)
{
	int ret = 0;

	pthread_mutex_lock(&ps->admin_lock);
	if (ps->nregs == PS_MAX_REGS) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	for (unsigned int i = 0; i < ps->ndonors && !ret; i++) {
		struct ps_donor *d = &ps->donors[i];

		if (!donor_get(d))
			continue;
		ret = xport_register(d->x, addr, len);
		donor_put(d);
	}
	if (!ret) {
		/* for donors added later */
		ps->regs[ps->nregs].addr = addr;
		ps->regs[ps->nregs].len = len;
		ps->nregs++;
	}
out_unlock:
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}

int pstore_donor_add(struct pstore *ps, const char *addr, char *err,
		     size_t errlen)
{
	unsigned int n;
	struct ps_donor *d;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	pthread_mutex_lock(&ps->admin_lock);
	n = ps->ndonors;
	for (unsigned int i = 0; i < n; i++) {
		if (atomic_load(&ps->donors[i].dstate) != PS_D_GONE &&
		    !strcmp(ps->donors[i].addr, addr)) {
			errf(err, errlen, "donor %s: already in use", addr);
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	if (n == PS_MAX_DONORS) {
		errf(err, errlen, "no room for another donor (%d)",
		     PS_MAX_DONORS);
		ret = -ENOSPC;
		goto out_unlock;
	}
	d = &ps->donors[n];
	ret = slot_open(ps, d, addr, err, errlen);
	if (ret)
		goto out_unlock;
	ret = slot_ready(ps, d,
			 mono_ns() + (uint64_t)ps->ctl_timeout_ms * 1000000ull,
			 err, errlen);
	for (unsigned int i = 0; i < ps->nregs && !ret; i++)
		ret = xport_register(d->x, ps->regs[i].addr, ps->regs[i].len);
	if (ret) {
		xport_close(d->x);
		memset(d, 0, sizeof(*d));
		goto out_unlock;
	}
	/* the slot is complete: make it visible */
	atomic_store(&ps->ndonors, n + 1);
	log_notice("donor %s: added", addr);
out_unlock:
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}

/* Flags every copy on d for migration and drops its stale copies;
 * returns how many of our slabs d still holds. */
static uint32_t drain_mark(struct pstore *ps, unsigned int di)
{
	struct ps_donor *d = &ps->donors[di];
	uint32_t drop[64], held;
	unsigned int ndrop = 0;

	pthread_mutex_lock(&ps->lock);
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int keep = 0;

		if (sl->state != SLAB_READY || sl->repairing)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			struct ps_rep *r = &sl->rep[k];

			if (r->donor == di && r->stale && ndrop < 64) {
				drop[ndrop++] = r->rslab;
				d->slabs--;
				continue;
			}
			if (r->donor == di)
				r->evict = true;
			sl->rep[keep++] = *r;
		}
		sl->nrep = (uint8_t)keep;
	}
	held = d->slabs;
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
	for (unsigned int k = 0; k < ndrop; k++)
		free_copy(d, drop[k]);
	return held;
}

int pstore_donor_drain(struct pstore *ps, const char *addr,
		       unsigned int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct ps_donor *d = NULL;
	unsigned int di = 0;
	uint32_t held;
	int ret = 0;

	pthread_mutex_lock(&ps->admin_lock);
	for (unsigned int i = 0; i < ps->ndonors && !d; i++) {
		if (atomic_load(&ps->donors[i].dstate) != PS_D_GONE &&
		    !strcmp(ps->donors[i].addr, addr)) {
			d = &ps->donors[i];
			di = i;
		}
	}
	if (!d) {
		ret = -ENOENT;
		goto out_unlock;
	}
	atomic_store(&d->dstate, PS_D_DRAINING);
	log_notice("donor %s: draining", d->addr);
	while ((held = drain_mark(ps, di)) > 0) {
		if (mono_ns() >= deadline) {
			log_warn("donor %s: drain: %" PRIu32
				 " slabs still there",
				 d->addr, held);
			ret = -ETIMEDOUT;
			goto out_unlock;
		}
		usleep(20000);
	}
	/* nothing of ours is left there: disconnect */
	atomic_store(&d->dstate, PS_D_GONE);
	atomic_store(&d->up, false);
	while (atomic_load(&d->users))
		usleep(1000);
	xport_close(d->x);
	log_notice("donor %s: drained and disconnected", d->addr);
out_unlock:
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}

/* ---------------------------------------------------------------- stats */

struct jbuf {
	char *p;
	size_t len, used;
	bool full;
};

static void jp(struct jbuf *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void jp(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->p + j->used, j->len - j->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->len - j->used)
		j->full = true;
	else
		j->used += (size_t)n;
}

/* JSON string body: escapes quotes, backslashes and control bytes. */
static void jstr(struct jbuf *j, const char *s)
{
	jp(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jp(j, "\\%c", c);
		else if (c < 0x20)
			jp(j, "\\u%04x", c);
		else
			jp(j, "%c", c);
	}
	jp(j, "\"");
}

static void jhist(struct jbuf *j, const char *name, const uint64_t *h)
{
	jp(j, ",\"%s\":[", name);
	for (unsigned int i = 0; i < XPORT_HIST; i++)
		jp(j, "%s%" PRIu64, i ? "," : "", h[i]);
	jp(j, "]");
}

static const char *state_name(enum xport_state s)
{
	switch (s) {
	case XPORT_CONNECTING:
		return "connecting";
	case XPORT_UP:
		return "up";
	case XPORT_DOWN:
		return "down";
	case XPORT_CLOSED:
		return "closed";
	}
	return "unknown";
}

int pstore_json(struct pstore *ps, char *buf, size_t len)
{
	struct jbuf j = { buf, len, 0, false };
	uint32_t held[PS_MAX_DONORS];
	uint32_t slabs = 0, degraded = 0;
	unsigned int nd = ps->ndonors;
	uint64_t used;

	if (!buf || !len)
		return -ENOSPC;
	buf[0] = '\0';
	pthread_mutex_lock(&ps->lock);
	used = ps->used;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int live = 0;

		if (sl->state != SLAB_READY)
			continue;
		slabs++;
		/* a copy on a donor that is down does not count */
		for (unsigned int k = 0; k < sl->nrep; k++)
			live += !sl->rep[k].stale && !sl->rep[k].filling &&
				atomic_load(&ps->donors[sl->rep[k].donor].up);
		if (live < ps->replicas)
			degraded++;
	}
	for (unsigned int i = 0; i < nd; i++)
		held[i] = ps->donors[i].slabs;
	pthread_mutex_unlock(&ps->lock);

	jp(&j,
	   "\"slab_size\":%" PRIu64 ",\"replicas\":%u,\"pages_total\":%" PRIu64
	   ",\"pages_used\":%" PRIu64 ",\"slabs\":%" PRIu32
	   ",\"degraded_slabs\":%" PRIu32 ",\"repaired_slabs\":%" PRIu64
	   ",\"migrated_slabs\":%" PRIu64 ",\"donors\":[",
	   ps->slab_size, ps->replicas, ps->npages, used, slabs, degraded,
	   atomic_load(&ps->repaired), atomic_load(&ps->migrated));
	for (unsigned int i = 0; i < nd; i++) {
		struct ps_donor *d = &ps->donors[i];
		struct xport_stats st = { .kind = d->kind };
		const char *state = "drained";

		if (donor_get(d)) {
			xport_get_stats(d->x, &st);
			donor_put(d);
			state = atomic_load(&d->dstate) == PS_D_DRAINING
					? "draining"
					: state_name(st.state);
			/* connected, but not used until a QUERY says it
			 * still holds what we left there */
			if (st.state == XPORT_UP && !atomic_load(&d->up))
				state = "checking";
		}
		jp(&j, "%s{\"addr\":", i ? "," : "");
		jstr(&j, d->addr);
		jp(&j,
		   ",\"transport\":\"%s\",\"state\":\"%s\",\"slabs\":%" PRIu32
		   ",\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64
		   ",\"latency_us\":%.1f,\"ios\":%" PRIu64 ",\"ops\":%" PRIu64
		   ",\"posts\":%" PRIu64 ",\"write_ops\":%" PRIu64
		   ",\"write_posts\":%" PRIu64 ",\"errors\":%" PRIu64
		   ",\"timeouts\":%" PRIu64 ",\"reconnects\":%" PRIu64,
		   xport_kind_name(st.kind), state, held[i], st.bytes_read,
		   st.bytes_written, (double)atomic_load(&d->lat_ns) / 1000.0,
		   st.ios, st.ops, st.posts, st.write_ops, st.write_posts,
		   st.errors, st.timeouts, st.reconnects);
		jhist(&j, "ops_per_post", st.ops_per_post);
		jhist(&j, "kib_per_op", st.kib_per_op);
		jp(&j, "}");
	}
	jp(&j, "],\"backup\":");
	if (ps->backup) {
		jp(&j, "{\"path\":");
		jstr(&j, backup_path(ps->backup));
		jp(&j, ",\"bytes\":%" PRIu64 "}", backup_bytes(ps->backup));
	} else {
		jp(&j, "null");
	}
	if (j.full)
		return -ENOSPC;
	return (int)j.used;
}

/* ------------------------------------------------------------ test hooks */

int pstore_test_fail_donor(struct pstore *ps, unsigned int donor, int err)
{
	if (donor >= ps->ndonors || err > 0)
		return -EINVAL;
	atomic_store(&ps->donors[donor].fail_err, err);
	return 0;
}

int pstore_test_slab_replicas(struct pstore *ps, uint64_t lpn,
			      unsigned int *donors, uint32_t *rslabs)
{
	struct ps_slab *sl;
	int n = 0;

	if (lpn >= ps->npages)
		return -EINVAL;
	sl = &ps->slabs[slab_of(ps, lpn)];
	pthread_mutex_lock(&ps->lock);
	if (sl->state == SLAB_READY) {
		for (unsigned int k = 0; k < sl->nrep; k++) {
			if (sl->rep[k].stale || sl->rep[k].filling)
				continue;
			donors[n] = sl->rep[k].donor;
			rslabs[n] = sl->rep[k].rslab;
			n++;
		}
	}
	pthread_mutex_unlock(&ps->lock);
	return n;
}

int pstore_test_hold_donor(struct pstore *ps, unsigned int donor, bool hold)
{
	struct ps_donor *d;
	struct xport_io *io, *rev = NULL;

	if (donor >= ps->ndonors)
		return -EINVAL;
	d = &ps->donors[donor];
	pthread_mutex_lock(&ps->hold_lock);
	atomic_store(&d->hold, hold);
	io = hold ? NULL : d->held;
	if (!hold)
		d->held = NULL;
	pthread_mutex_unlock(&ps->hold_lock);
	/* held newest first: submit in the original order */
	while (io) {
		struct xport_io *next = io->next;

		io->next = rev;
		rev = io;
		io = next;
	}
	while (rev) {
		struct xport_io *next = rev->next;

		rev->next = NULL;
		xport_submit(d->x, rev);
		rev = next;
	}
	return 0;
}

unsigned int pstore_test_held(struct pstore *ps, unsigned int donor)
{
	unsigned int n = 0;

	if (donor >= ps->ndonors)
		return 0;
	pthread_mutex_lock(&ps->hold_lock);
	for (struct xport_io *io = ps->donors[donor].held; io; io = io->next)
		n++;
	pthread_mutex_unlock(&ps->hold_lock);
	return n;
}

int pstore_test_evict(struct pstore *ps, unsigned int donor, uint32_t rslab)
{
	if (donor >= ps->ndonors)
		return -EINVAL;
	evict_mark(ps, donor, rslab);
	return 0;
}

void pstore_test_repair(struct pstore *ps, bool on)
{
	atomic_store(&ps->repair_off, !on);
	pthread_mutex_lock(&ps->lock);
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
}

struct xport *pstore_test_xport(struct pstore *ps, unsigned int donor)
{
	return donor < ps->ndonors ? ps->donors[donor].x : NULL;
}

unsigned int pstore_test_ndonors(struct pstore *ps)
{
	return ps->ndonors;
}
