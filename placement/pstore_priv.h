/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pstore_priv - the page store's insides, shared by its files: the
 * objects, their locks and the calls one file makes into another. Not a
 * public header: only placement/pstore*.c include it; everything else
 * goes through pstore.h (tests also through pstore_test.h).
 *
 *   pstore.c         the data path: runs, writes, pages, parked runs
 *   pstore_read.c    the read path (checks sealed pages)
 *   pstore_ifl.c     the in-flight write table, sealed page versions
 *   pstore_place.c   new copies: ranking candidates, slab placement
 *   pstore_tick.c    the tick thread: frees empty slabs, QUERYs donors
 *   pstore_repair.c  the repair thread: re-replication and migration
 *   pstore_open.c    open and close, donor events, add and drain
 *   pstore_stats.c   pstore_json()
 *   pstore_test.c    a look into a store for tests (pstore_test.h), in
 *                    a test-only library, never in cnetmem
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
 * Threading: callers (submit, alloc/free, stats), transport completion
 * threads and backup workers (done callbacks), the tick (frees empty
 * slabs, QUERY every donor each second), the repair thread (re-replicates
 * degraded slabs, migrates evicted and drained ones).
 *
 * Locks, never held across a network or disk call, never nested except
 * ifl stripe -> nothing:
 *   ps->lock        page allocator (ps->pa), slab states and replica sets, donor
 *                   ranking fields; slab_cv waits for ALLOCATING/FREEING,
 *                   for a repair fence to drop, for a slab's writes to end
 *   ps->pool_lock   run free list; pool_cv is the backpressure wait
 *   ps->ifl[i]      the in-flight write lists of slabs s with s % NIFL == i
 *   ps->admin_lock  donor add/drain and registered buffers (taken before
 *                   ps->lock, never on the I/O path)
 *   ps->rank_lock   the ranking scratch (rank_cand); after admin_lock,
 *                   before ps->lock, never held across a network call
 */
#ifndef CNM_PLACEMENT_PSTORE_PRIV_H
#define CNM_PLACEMENT_PSTORE_PRIV_H

#include "placement/backup.h"
#include "placement/palloc.h"
#include "placement/pstore.h"
#include "placement/rank.h"
#include "placement/seal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* donor slots come in chunks, allocated as donors are added and never
 * moved: a slot's address and index stay valid for the store's life */
#define PS_DCHUNK_SHIFT	 6
#define PS_DCHUNK	 (1u << PS_DCHUNK_SHIFT)
#define PS_MAX_DONORS	 65535 /* ps_rep.donor is 16 bits */
#define PS_SKIP_MAX	 32    /* donors one slab placement tries at most */
#define PS_DCHUNKS	 ((PS_MAX_DONORS + PS_DCHUNK) / PS_DCHUNK)
#define PS_RUN_MAX_PAGES 64 /* 256 KiB per xport_io */
#define PS_NIFL		 64
/* R replicas plus one being filled (repair, migration) */
#define PS_MAX_COPIES (PSTORE_MAX_REPLICAS + 1)
#define PS_ADDR_MAX   280
#define PS_MAX_REGS   16 /* pstore_register() regions remembered */
/* sealed pages: ps->ver[lpn] is the page's write counter (low 31 bits,
 * only grows, the AEAD nonce) and whether it holds data (PS_VER_DATA;
 * clear: never written since allocated, reads as zeros without I/O) */
#define PS_VER_DATA  0x80000000u
#define PS_VER_COUNT 0x7fffffffu
/* integrity failures after which a donor is faulty: it takes no new slab
 * and its copies that another copy can stand in for are rebuilt */
#define PS_FAULTY_AFTER 8
/* reads retried when a write raced them (a page's version moved) */
#define PS_RACE_RETRIES 3

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
	bool lost;	/* its last copy was lost: counted in lost_pages */
	struct ps_rep rep[PS_MAX_COPIES];
	/* protected by ps->ifl[slab % PS_NIFL] */
	struct ps_run *ifl_head, *ifl_tail; /* in-flight writes, oldest first */
};

struct ps_donor {
	struct pstore *ps;
	unsigned int idx; /* its slot index */
	struct xport *x;
	char addr[PS_ADDR_MAX];
	enum xport_kind kind;
	atomic_bool up;	    /* set by open, events and the tick */
	atomic_bool was_up; /* an XPORT_EV_UP came before */
	atomic_int dstate;  /* enum ps_dstate */
	atomic_int users;   /* ios and calls using x: see ps_donor_get() */
	_Atomic uint64_t lat_ns;
	_Atomic uint64_t bad_pages; /* pages that failed their AEAD check */
	atomic_bool faulty;	    /* bad_pages reached PS_FAULTY_AFTER */
	/* protected by ps->lock */
	uint64_t free_slabs;  /* last QUERY, minus what we took since */
	uint64_t total_slabs; /* its pool in our slab size, last QUERY */
	int64_t trend_bps;
	uint32_t slabs;		  /* our slabs it holds */
	uint64_t down_since_ns;	  /* tick thread only */
	uint64_t uptime_ms;	  /* its uptime at the last QUERY; tick only */
	unsigned int silent;	  /* QUERYs in a row unanswered; tick only */
	unsigned int kept_logged; /* kept copies last logged; tick only */
	uint32_t restarts;	  /* restarts seen (younger uptime) */
	/* QUERY backoff (pstore_tick.c); tick only */
	uint64_t next_query_ns;
	unsigned int query_ms;
	uint64_t q_free, q_errors;
	uint32_t q_slabs;
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
	/* sealed store: each page's tag and version; tio[k] moves the tags
	 * of copy k (the tag area, see ps_tag_off()) beside io[k] */
	struct xport_io tio[PS_MAX_COPIES];
	uint8_t tags[PS_RUN_MAX_PAGES][SEAL_TAG];
	uint32_t ver[PS_RUN_MAX_PAGES];
	uint32_t oldver[PS_RUN_MAX_PAGES]; /* write: before this write */
	atomic_uint tok;    /* write: bit k: copy k has the tags */
	atomic_int rpend;   /* read: ios of the current copy in flight */
	atomic_int rstatus; /* read: first error of the current copy */
	uint8_t badmask;    /* read: copies that failed the check */
	/* read: donors whose failures this run counted (once per run, not
	 * again when it is retried after a park) */
	uint8_t ncounted;
	uint16_t counted[PS_MAX_COPIES];
	uint8_t races; /* read: retries after a racing write */
	/* read: pages an in-flight write covered when their versions were
	 * captured (ps_read_capture()): failing, they raced, not went bad */
	uint64_t busy;
	/* write: listed in flight, its buffer being sealed (under the ifl
	 * stripe lock) */
	bool sealing;
	/* read: a copy failed only because its donor is out of reach; the
	 * run then waits (parked) for it until t0_ns + the io timeout */
	bool unreached;
	uint64_t t0_ns;
	struct ps_run *park_next; /* ps->parked list, under ps->lock */
};

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
	struct ps_donor *dchunk[PS_DCHUNKS]; /* see ps_donor_at() */
	pthread_mutex_t admin_lock; /* serialises donor add, drain, register */
	/* the candidates one ranking builds: room for every slot (grown
	 * under admin_lock before a slot becomes visible); under rank_lock */
	pthread_mutex_t rank_lock;
	struct rank_donor *rank_cand;
	unsigned int rank_cap;
	struct {
		void *addr;
		size_t len;
	} regs[PS_MAX_REGS]; /* registered buffers, under admin_lock */
	unsigned int nregs;
	struct xport_cfg xc_base; /* for donors added later */
	struct auth_key key;
	struct backup *backup;
	/* NULL: pages travel and rest in plaintext (mem backend, or the
	 * --insecure-plaintext-pages diagnostic option) */
	struct seal *seal;
	_Atomic uint32_t *ver; /* npages entries when sealed, see PS_VER_* */
	uint64_t tag_base;     /* byte offset of a remote slab's tag area */

	pthread_mutex_t lock;
	pthread_cond_t slab_cv;
	struct palloc pa;      /* the logical pages; protected by lock */
	struct ps_slab *slabs; /* see struct ps_slab */
	/* copies given back while their donor was out of reach: freed there
	 * once a QUERY shows it kept our session, forgotten if it did not;
	 * protected by lock */
	struct ps_owed {
		uint16_t donor;
		uint32_t rslab;
	} * owed;
	uint32_t nowed, owed_cap;
	bool free_pending; /* protected by lock: a slab may be freed */
	/* protected by lock: pages whose every copy was lost (a donor came
	 * back without them and no other copy or backup had them) */
	uint64_t lost_pages;
	/* protected by lock: since when some slab has had fewer than R live
	 * copies without a break (tick), 0 while none has */
	uint64_t degraded_since_ns;
	struct ps_run
		*parked; /* protected by lock: reads waiting for a donor */
	uint64_t io_timeout_ns;
	/* when a parked run last waited its whole io timeout in vain (0: a
	 * donor was reached since): for an io timeout after that, runs that
	 * reach no donor fail at once instead of parking, so that requests
	 * served one at a time (a FUSE ring thread, fs/fs.h) do not each
	 * wait out the same outage */
	_Atomic uint64_t park_expired_ns;
	bool stopping; /* protected by lock */
	pthread_cond_t tick_cv;
	pthread_t tick_thread;
	bool tick_started;
	pthread_cond_t repair_cv;
	pthread_t repair_thread;
	bool repair_started;
	char *repair_buf; /* PS_RUN_MAX_PAGES pages, repair thread only */
	_Atomic uint64_t repaired;   /* slabs brought back to R copies */
	_Atomic uint64_t migrated;   /* slabs moved off a donor that evicts */
	_Atomic uint64_t backup_bad; /* backup pages that failed the check */

	pthread_mutex_t ifl[PS_NIFL];
	/* sealed: a write waits here for overlapping writes to end */
	pthread_cond_t ifl_cv[PS_NIFL];

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;
	struct ps_run *pool_free;  /* protected by pool_lock */
	unsigned int pool_waiters; /* protected by pool_lock */
	struct ps_run *runs;
	unsigned int nruns;

	/* the state arena (pstore_state.c), NULL without; resumed: opened
	 * on what a dead server left there */
	struct arena *arena;
	struct ps_state_meta *sv_meta;
	struct ps_state_secret *sv_secret;
	struct ps_state_slab *sv_slabs;
	bool resumed;
};

static inline struct ps_donor *ps_donor_at(const struct pstore *ps,
					   unsigned int i)
{
	return &ps->dchunk[i >> PS_DCHUNK_SHIFT][i & (PS_DCHUNK - 1)];
}

static inline uint32_t slab_of(const struct pstore *ps, uint64_t lpn)
{
	return (uint32_t)(lpn / ps->pages_per_slab);
}

/* Where the tags of pages [p, p+n) of a slab live in its remote copy:
 * after the data of the slab's pages_per_slab pages. */
static inline uint64_t ps_tag_off(const struct pstore *ps, uint32_t p)
{
	return ps->tag_base + (uint64_t)p * SEAL_TAG;
}

/* pstore.c: the pool of runs, requests, copies and small helpers */
struct ps_run *ps_run_get(struct pstore *ps); /* waits for a free one */
void ps_run_put(struct pstore *ps, struct ps_run *run);
void ps_req_fail(struct pstore_req *r, int status); /* first error wins */
void ps_req_put(struct pstore_req *r);		    /* done() at the last */
/* A run on slab s ended (a write run also leaves the fence's count). */
void ps_slab_io_done(struct pstore *ps, uint32_t s, bool write);
/* The copy r of slab s (matched by donor and remote slab) is not read any
 * more; lost: its donor no longer holds it. Takes ps->lock. */
void ps_mark_stale(struct pstore *ps, uint32_t s, const struct ps_rep *r,
		   bool lost);
/* Parks run until its donors are back (ps_parked_retry()); false past its
 * io timeout or when the store stops. */
bool ps_park(struct ps_run *run);
bool ps_unreached(int err); /* a donor out of reach, not one refusing */
void ps_lat_update(struct ps_donor *d, const struct xport_io *io);

/* pstore_ifl.c: the in-flight write table, page versions of a sealed
 * store (see the file) */
void ps_ifl_add(struct pstore *ps, struct ps_run *run);
/* Waits for overlapping in-flight writes, gives the run's pages their next
 * versions, seals the buffer in place, adds it; -EIO: no version left. */
int ps_ifl_add_sealed(struct pstore *ps, struct ps_run *run);
void ps_ifl_remove(struct pstore *ps, struct ps_run *run);
/* Copies (opens) the pages of [lpn, lpn+n) an in-flight write covers into
 * buf, returns their mask; sealed: ver[] gets the versions of the others. */
uint64_t ps_ifl_serve(struct pstore *ps, uint32_t s, uint64_t lpn,
		      unsigned int n, char *buf, uint32_t *ver);
/* Sealed: run->ver[] from the pages' versions now; true when an in-flight
 * write covers one of its pages. */
bool ps_read_capture(struct ps_run *run);
/* Sealed read: pages of run in *mask an in-flight write covers are opened
 * from its buffer and leave *mask. */
void ps_ifl_serve_mask(struct ps_run *run, uint64_t *mask);
/* Sealed: a write that reached no copy gives the versions back. */
void ps_ver_undo(struct pstore *ps, struct ps_run *run);

/* pstore_read.c: the read path */
/* Orders sl's live copies into run (best latency first); under ps->lock. */
void ps_read_order(struct pstore *ps, struct ps_slab *sl, struct ps_run *run);
/* Tries run's next copy, then the backup; parks or ends it with -EIO. */
void ps_read_next(struct ps_run *run);
/* Reads pages [i, i+n) of r (one slab, contiguous) into r->buf. */
void ps_submit_read_run(struct pstore *ps, struct pstore_req *r, unsigned int i,
			unsigned int n);

/* pstore.c: donor slots and small helpers */
bool ps_donor_get(struct ps_donor *d);
void ps_donor_put(struct ps_donor *d);
/* Gives copy rslab back to d and logs a failure; while d is out of reach
 * it is owed (freed there once d is back). No ps->lock held: it waits for
 * the donor's answer. */
int ps_free_copy(struct ps_donor *d, uint32_t rslab);
/* Frees what ps_free_copy() could not free on donor di while it was out
 * of reach (di) or forgets it (forget: the donor lost our session). Under
 * ps->lock, dropped around each call. */
void ps_owed_settle(struct pstore *ps, unsigned int di, bool forget);
/* Tries the parked reads again (their donors may be back) or fails those
 * past their deadline (all of them when the store stops); no lock held. */
void ps_parked_retry(struct pstore *ps);
bool ps_donor_takes_slabs(struct ps_donor *d);
void ps_donor_submit(struct ps_donor *d, struct xport_io *io);
void ps_donor_submit2(struct ps_donor *d, struct xport_io *a,
		      struct xport_io *b);
/* ts = now + ms on CLOCK_MONOTONIC, the clock of tick_cv and repair_cv */
uint64_t ps_rand(void *arg);

/* pstore_place.c: new copies */
/* A new slab on donor slot di, written to rep; 0 or -errno. No lock held. */
int ps_alloc_on(struct pstore *ps, unsigned int di, struct ps_rep *rep);
/* The replica set of new slab s into rep[0..*nrep); see pstore_place.c. */
int ps_slab_place(struct pstore *ps, uint32_t s, struct ps_rep *rep,
		  unsigned int *nrep);
/* Fills ps->rank_cand[0..nd) for a choice; skip[0..nskip) and, for slab
 * s unless s is UINT32_MAX, donors holding a live copy of it are not
 * healthy. Takes ps->lock; rank_lock held. Returns the eligible count. */
unsigned int ps_rank_fill(struct pstore *ps, unsigned int nd,
			  const unsigned int *skip, unsigned int nskip,
			  uint32_t s, unsigned int *healthy);

/* pstore_stats.c: READY slabs with fewer than R live copies (a copy on a
 * donor that is down does not count); under ps->lock */
uint32_t ps_degraded_slabs(struct pstore *ps);
/* pstore.c: counts n pages of slab s that failed their check on copy
 * rep; may make the donor faulty. Any thread, no lock held. */
void ps_bad_pages(struct pstore *ps, uint32_t s, const struct ps_rep *rep,
		  unsigned int n, uint64_t lpn);

/* pstore_tick.c: the tick thread, started by pstore_open() */
void *ps_tick_main(void *arg);

/* pstore_repair.c: the repair thread, started by pstore_open() */
void *ps_repair_main(void *arg);

/* pstore_open.c: as if donor slot di sent EVICT for its slab rslab */
void ps_evict_mark(struct pstore *ps, unsigned int di, uint32_t rslab);

#endif
