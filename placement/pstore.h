/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pstore - the page store: a mount's logical page space.
 *
 * The filesystem (fs/) maps file pages to logical pages (lpn) it takes from
 * pstore_page_alloc(); pstore maps each logical slab (slab_size bytes of
 * logical space) to a replica set: R distinct donors (struct xport each),
 * chosen by rank (placement/rank.h) on the slab's first write, plus the
 * optional disk backup, a sparse local file at the same logical offsets.
 *
 *   write: one xport_io per run of pages contiguous in a slab per replica
 *          (the transport's batching queue merges further); done() once
 *          every replica and the backup answered. Rule: a write succeeds
 *          when at least one copy (a donor replica or the backup) took
 *          every page; the replicas that failed it are marked stale (never
 *          read again, the slab counts as degraded) so no read returns old
 *          data. -EIO when no copy took it; -ENOSPC when a new slab finds
 *          no donor with room. Fewer healthy donors than R give a slab
 *          with fewer replicas (degraded) rather than an error.
 *   read:  from the live replica with the lowest measured latency; on
 *          error the next replica, then the backup; -EIO only when every
 *          copy failed. Pages never written (PSTORE_NOPAGE, or a slab that
 *          was never written) read as zeros without I/O. Pages covered by
 *          a write still in flight are copied from that write's buffer
 *          (the newest one), so a read never returns data older than a
 *          write submitted before it.
 *
 * A slab whose pages are all freed is given back to its donors (by a
 * background thread, once no I/O on it is in flight); with a backup,
 * freed pages are punched out of the file.
 *
 * Repair: a slab with fewer than R live copies (a failed write, a slab
 * placed while donors were down) gets new replicas in the background on
 * ranked donors that hold no live copy of it, copied from a live replica
 * or the backup chunk by chunk (at most 256 MiB/s, so the workload keeps
 * running); writes go to the new replica meanwhile and each chunk's copy
 * briefly holds back new writes to the slab, so no write is lost. A donor's EVICT request for one of our slabs takes the
 * same path: the slab gets a copy on another ranked donor (never one that
 * already holds it), the map switches while writes are held back, then
 * the evicted copy is freed. Stats count degraded, repaired and migrated
 * slabs.
 *
 * With transport XPORT_MEM and no donors, one local-memory donor holds
 * the whole capacity; donors named "mem:NAME[:SIZE]" each make one more
 * (tests use this for replicas).
 *
 * Memory: sub-requests come from a pool made at open (max_inflight_pages
 * entries, each a run of up to 64 pages); a full pool makes
 * pstore_submit() wait (backpressure), it never allocates.
 *
 * Threading: pstore_submit(), page alloc/free and the stats calls from any
 * thread; pstore_submit() may wait for a pool entry, for another thread's
 * slab allocation or for a repair chunk, so never call it from done(). done() runs on
 * a transport completion thread, a backup worker (or in the caller for
 * requests that need no I/O) and must not block. Slab allocation on first
 * touch does a control call to the donor from the submitting thread
 * without holding pstore's locks. Two background threads per store: one
 * frees empty slabs and refreshes donor stats (QUERY each second), one
 * repairs degraded slabs and migrates evicted or drained ones; neither
 * holds a pstore lock across a network call. pstore_close() comes after
 * every done().
 */
#ifndef CNM_PLACEMENT_PSTORE_H
#define CNM_PLACEMENT_PSTORE_H

#include "rdma/xport.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PSTORE_PAGE_SHIFT   12
#define PSTORE_PAGE	    (1u << PSTORE_PAGE_SHIFT)
#define PSTORE_NOPAGE	    UINT64_MAX /* in lpn[]: reads as zeros, no I/O */
#define PSTORE_MAX_REPLICAS 4

struct pstore;
struct ps_donor;

/* Pages sealed (placement/seal.h) before they leave the mount: AUTO is on
 * for every donor transport and off for XPORT_MEM (the pages never leave
 * the process); OFF only for benchmarks and diagnostics. */
enum pstore_seal { PSTORE_SEAL_AUTO, PSTORE_SEAL_ON, PSTORE_SEAL_OFF };

struct pstore_cfg {
	const char *const *donors; /* "HOST:PORT", borrowed during open */
	int ndonors;
	enum xport_kind transport; /* XPORT_MEM: local memory, no donors */
	const struct auth_key *key;
	uint64_t capacity;  /* logical bytes (the mount's --size) */
	uint64_t slab_size; /* default 64 MiB */
	unsigned int replicas;
	const char *backup_path;	   /* NULL: no disk backup */
	unsigned int sample_d;		   /* 0: min(ndonors, 2R+1) */
	double w_free, w_trend, w_latency; /* rank weights */
	double band; /* rank.h; 0: RANK_DEF_BAND, below 0: none */
	unsigned int max_chain, max_op_bytes; /* batching limits */
	unsigned int io_timeout_ms, ctl_timeout_ms;
	unsigned int max_inflight_pages; /* pool size; 0 = default (8192) */
	enum pstore_seal seal;
	/* NULL: the store lives in this process only. Else a state arena
	 * (fs/state.h) with the sections pstore_arena_sections() asked for:
	 * a fresh one is filled as the store runs; one a dead server left
	 * is resumed: its donors (cfg->donors is then ignored), session id
	 * and secrets, page key, slab map and versions; the donors are
	 * reconnected with RESUME, so they must still be in their grace
	 * period. capacity, slab_size, replicas, transport and seal must
	 * match what the arena holds (-EINVAL otherwise). Borrowed until
	 * pstore_close(). */
	struct arena *arena;
};

struct arena_sec;
/* The sections a store of cfg needs in its arena, into secs[0..max);
 * returns how many (at most PSTORE_ARENA_SECS) or -EINVAL. */
#define PSTORE_ARENA_SECS 8
int pstore_arena_sections(const struct pstore_cfg *cfg, struct arena_sec *secs,
			  unsigned int max);

struct pstore_req {
	enum xport_dir dir;
	unsigned int npages;
	const uint64_t *lpn; /* npages entries, borrowed until done() */
	/* npages * PSTORE_PAGE bytes, borrowed; a write's pages are sealed
	 * in place when the store seals pages: after pstore_submit() the
	 * buffer holds ciphertext, never reuse it as the data */
	void *buf;
	void (*done)(struct pstore_req *r, int status); /* 0 or -errno */
	void *priv;
	/* private to pstore */
	atomic_int pending;
	atomic_int status;
	struct ps_donor *poll_d; /* the one donor it went to, or NULL */
};

/* 0 or -errno; err gets a sentence for the user (unreachable donor...). */
int pstore_open(const struct pstore_cfg *cfg, struct pstore **out, char *err,
		size_t errlen);
void pstore_close(struct pstore *ps);

/* Takes a free logical page, preferring hint (then the next after it) so
 * sequential files get contiguous pages; -ENOSPC when full. */
int pstore_page_alloc(struct pstore *ps, uint64_t hint, uint64_t *lpn);
void pstore_page_free(struct pstore *ps, uint64_t lpn);
/* A resumed store (issue 14): frees every allocated page whose bit is
 * clear in keep (pstore_pages_total() bits: the pages the resumed maps
 * name), the pages a crash left between allocation and map; how many. */
uint64_t pstore_pages_keep(struct pstore *ps, const uint64_t *keep);
uint64_t pstore_pages_total(struct pstore *ps);
uint64_t pstore_pages_used(struct pstore *ps);

void pstore_submit(struct pstore *ps, struct pstore_req *r);
/*
 * The thread that called pstore_submit(r) collects its reply itself
 * (xport_poll(), issue 17) until *done (which r's done() sets): when r
 * went to a single donor whose transport can, it receives that link's
 * replies for up to spin_ns busy, then blocked for a bounded while. 0
 * once *done; -EAGAIN or -EOPNOTSUPP when it did not or gave up (r went
 * to several copies or none yet, a slab being allocated, the backup,
 * local memory, a link that is down): wait for done() as usual, which
 * always comes. Never from a done() callback.
 */
int pstore_poll(struct pstore *ps, struct pstore_req *r, const atomic_int *done,
		uint64_t spin_ns);

/* Marks buffer memory for zero-copy transports (fs pool buffers). */
int pstore_register(struct pstore *ps, void *addr, size_t len);

/*
 * Donors while mounted (issue 6: cnetmemctl donor-add / donor-drain /
 * donor-undrain).
 * add: connects to "HOST:PORT" (same transport, key and session as the
 * others), waits up to ctl_timeout_ms, then new slabs may go there; 0 or
 * -errno with a sentence in err (-EEXIST if already in use).
 * drain: the donor takes no new slab, every slab it holds moves to other
 * ranked donors (as on EVICT), then it is disconnected. Blocks until done
 * or timeout_ms (-ETIMEDOUT: still draining, call again; why, when not
 * NULL, then says what holds it up, e.g. no other donor to take the
 * slabs); -ENOENT for an unknown donor. Any thread but a done() callback.
 * undrain: cancels a drain; the donor takes slabs again. -ENOENT for an
 * unknown donor, -EINVAL when it is not draining.
 */
int pstore_donor_add(struct pstore *ps, const char *addr, char *err,
		     size_t errlen);
int pstore_donor_drain(struct pstore *ps, const char *addr,
		       unsigned int timeout_ms, char *why, size_t whylen);
int pstore_donor_undrain(struct pstore *ps, const char *addr);

/* How the stats are written: compact, as cnetmemctl and the tests read
 * them; the one real number (latency_us) in tenths without noise. */
#define PSTORE_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/*
 * The store's state as a JSON object (jansson; the caller owns it, NULL
 * on ENOMEM): "slab_size", "replicas", "slabs", "degraded_slabs", "lost_pages" (pages
 * whose every copy was lost), "degraded_ms" (how long some slab has had
 * fewer than R live copies), "donors": [{addr, transport, state, slabs,
 * bytes_read, bytes_written, latency_us, restarts, histograms
 * {"le": [upper bounds], "counts": [one more than bounds]}, ...}],
 * "backup".
 */
json_t *pstore_stats(struct pstore *ps);
/* The same object as text (PSTORE_JSON_FLAGS) in buf: the length,
 * -ENOSPC if buf is too small, or -ENOMEM. */
int pstore_json(struct pstore *ps, char *buf, size_t len);

#endif
