/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * palloc - the page store's allocator of logical pages, whose memory
 * follows fragmentation, not capacity (issue 15).
 *
 * The pages are cut in chunks of 1 << shift pages (PALLOC_SHIFT: 32,768
 * pages, 128 MiB of logical space, a 4 KiB bitmap). A chunk is FREE (no
 * page allocated), FULL (every page) or PART; only a PART chunk's bitmap
 * is held: a FREE or FULL chunk is one byte of the summary and its bitmap
 * page is given back to the kernel (MADV_REMOVE). Dense files (swap
 * files, sequential writes) so cost no bitmap, and a free page is found
 * by walking the summary, not the whole bitmap.
 *
 * Both arrays may live in a state arena (common/arena.h), in which case
 * a crash of the process at any instant leaves them such that
 * palloc_init() of a successor sees every allocation that returned and
 * no free that returned, with no journal:
 * - a chunk becoming PART gets its whole bitmap written (zeros from
 *   FREE, ones from FULL) with the change in it, then one release store
 *   of its summary byte publishes it;
 * - a chunk becoming FREE or FULL is published by its summary byte first;
 *   only then is its bitmap page given back;
 * - inside a PART chunk, a change is one store of a bitmap word.
 * The per-chunk counts, the total and the cursor are process memory,
 * rebuilt by palloc_init(), which also settles what a crash left between
 * two steps (a PART chunk with every or no bit set, a bitmap page not
 * yet given back).
 *
 * Threading: none inside; the caller serialises every call (pstore.c:
 * under ps->lock). Nothing blocks; nothing allocates after init.
 */
#ifndef CNM_PLACEMENT_PALLOC_H
#define CNM_PLACEMENT_PALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PALLOC_SHIFT 15 /* a chunk's bitmap is one 4 KiB page */

enum { PALLOC_FREE = 0, PALLOC_PART = 1, PALLOC_FULL = 2 };

struct palloc {
	uint64_t npages;
	uint32_t nchunks;
	unsigned int shift;
	uint64_t *bits;	      /* chunk c's bitmap at bits + (c << shift) / 64 */
	_Atomic uint8_t *sum; /* nchunks: PALLOC_* */
	uint32_t *count;      /* pages allocated per chunk */
	uint64_t used;	      /* pages allocated */
	uint64_t cursor;      /* where a search without a hint starts */
	bool own;	      /* bits and sum are palloc's own mapping */
	/* tests only, NULL otherwise: called between every two stores a
	 * crash may separate, to look at what a successor would find */
	void (*crash_point)(void *arg);
	void *crash_arg;
};

/* Bytes the bitmaps (whole chunks) and the summary of npages need. */
uint64_t palloc_bits_bytes(uint64_t npages, unsigned int shift);
uint64_t palloc_sum_bytes(uint64_t npages, unsigned int shift);

/*
 * Takes over bits and sum (palloc_bits_bytes() and palloc_sum_bytes(),
 * borrowed until palloc_fini(); zeroed memory is an empty allocator) and
 * reads what they hold, settling what a crash left; both NULL: palloc
 * maps its own, zeroed. shift: 6 to PALLOC_SHIFT (tests use small
 * chunks). 0, -EINVAL, -ENOMEM.
 */
int palloc_init(struct palloc *pa, uint64_t npages, unsigned int shift,
		uint64_t *bits, _Atomic uint8_t *sum);
void palloc_fini(struct palloc *pa);

/* A free page, the first at or after hint (cursor when hint is past the
 * end), wrapping around; -ENOSPC when every page is allocated. */
int palloc_alloc(struct palloc *pa, uint64_t hint, uint64_t *page);
/* 0, or -EINVAL when page is past the end or not allocated. */
int palloc_free(struct palloc *pa, uint64_t page);
bool palloc_test(const struct palloc *pa, uint64_t page);
/* The first allocated page at or after from whose bit is clear in keep
 * (NULL: any allocated page), looking no further than the end of from's
 * chunk; npages or the chunk's end when there is none. */
uint64_t palloc_next(const struct palloc *pa, uint64_t from,
		     const uint64_t *keep);
/* Pages allocated in [first, first + n). */
uint64_t palloc_count(const struct palloc *pa, uint64_t first, uint64_t n);

#endif
