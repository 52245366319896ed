/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pool - the donor's memory: one region reserved up front (mmap, touched,
 * mlocked; MAP_HUGETLB when the host has huge pages, else normal pages
 * with MADV_HUGEPAGE), carved into POOL_CHUNK-byte chunks. A slab is a
 * contiguous run of chunks found first-fit in a bitmap; its id is the index
 * of its first chunk, so ids are stable and small.
 *
 * A freed slab is zeroed before its chunks go back to the free map, so no
 * client ever sees another's data. Ownership of slabs is not kept here
 * (see donor/session.h); the pool only knows used and free chunks.
 *
 * Threading: every function may be called from any thread; one internal
 * mutex guards the bitmap and is held only for bitmap scans, never across
 * zeroing or I/O. pool_addr() is lock-free (the region never moves).
 */
#ifndef CNM_DONOR_POOL_H
#define CNM_DONOR_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_CHUNK (1ull << 20)

struct pool;

enum pool_flags {
	POOL_NO_LOCK = 1,    /* skip mlock (unit tests without CAP_IPC_LOCK) */
	POOL_NO_HUGETLB = 2, /* never try MAP_HUGETLB */
};

/*
 * Reserves bytes (rounded down to whole chunks, at least one). -EINVAL for
 * less than a chunk, -ENOMEM when the memory cannot be had or locked (err
 * says why and what to do).
 */
int pool_create(uint64_t bytes, unsigned int flags, struct pool **out,
		char *err, size_t errlen);
/*
 * The same, calling progress(done, total, arg) from the calling thread
 * every POOL_PROGRESS_STEP bytes touched while the region is reserved (a
 * large pool takes seconds per tens of GiB).
 */
#define POOL_PROGRESS_STEP (1ull << 30)
typedef void (*pool_progress_fn)(uint64_t done, uint64_t total, void *arg);
int pool_create_progress(uint64_t bytes, unsigned int flags,
			 pool_progress_fn progress, void *arg,
			 struct pool **out, char *err, size_t errlen);
void pool_destroy(struct pool *p);

/* Allocates a contiguous slab of size bytes (a multiple of POOL_CHUNK);
 * 0 with *slab set, -ENOSPC when no run is free, -EINVAL for a bad size. */
int pool_alloc(struct pool *p, uint64_t size, uint32_t *slab);
/* Zeroes the slab's memory, then frees its chunks. The caller guarantees
 * nobody touches the slab any more. */
void pool_release(struct pool *p, uint32_t slab, uint64_t size);

/* Address of byte 0 of slab (any id below pool_chunks()). */
void *pool_addr(const struct pool *p, uint32_t slab);
uint32_t pool_chunks(const struct pool *p);
uint64_t pool_total_bytes(const struct pool *p);
uint64_t pool_free_bytes(struct pool *p);
/* How many slabs of size bytes could still be allocated right now. */
uint32_t pool_free_slabs(struct pool *p, uint64_t size);
/* 1 if the region is backed by MAP_HUGETLB pages. */
int pool_hugetlb(const struct pool *p);

#endif
