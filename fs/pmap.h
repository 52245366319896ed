/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pmap - per-file page maps (file page index -> logical page) and the
 * mount's capacity accounting.
 *
 * A file's map is a radix tree: interior nodes of 64 children, leaves of 128
 * 32-bit entries (one leaf maps 512 KiB of file). Every node is 512 bytes
 * and comes from the mount's node pool, reserved (not touched) at mount time
 * and sized from the capacity, so the I/O path never calls malloc: a full
 * pool is -ENOSPC, like a full mount. The tree grows in height as a file
 * grows; nodes left empty by pmap_clear() go back to the pool.
 *
 * An entry is PMAP_HOLE (reads as zeros, no capacity), PMAP_RESERVED
 * (fallocated: capacity counted, no logical page yet, reads as zeros) or
 * PMAP_LPN(lpn) for a page that lives in the page store. lpn < 2^32 - 2, so
 * one mount holds at most 16 TiB.
 *
 * Capacity: pmap_reserve() / pmap_unreserve() count pages against the
 * mount's --size (holes cost nothing; reserved and written pages do).
 *
 * Threading: the pool (nodes and capacity) may be used from any thread; it
 * has its own lock and atomics. A struct pmap has no lock of its own: the
 * caller serializes all calls on one map (fs/ holds the inode's lock).
 */
#ifndef CNM_FS_PMAP_H
#define CNM_FS_PMAP_H

#include <stdint.h>

#define PMAP_HOLE	0u
#define PMAP_RESERVED	1u
#define PMAP_LPN(lpn)	((uint32_t)(lpn) + 2u)
#define PMAP_IS_LPN(e)	((e) >= 2u)
#define PMAP_TO_LPN(e)	((uint64_t)(e)-2u)
#define PMAP_MAX_LPN	(UINT32_MAX - 2ull)
#define PMAP_NODE_BYTES 512u
/* One past the largest file page index a map can hold (2^55 > 2^63/4096). */
#define PMAP_MAX_INDEX (1ull << 55)

struct pmap_pool;

/* One file's map; embed it, treat the fields as private. */
struct pmap {
	void *root;
	unsigned int height; /* 0: empty; 1: root is a leaf */
};

/*
 * capacity_pages: the mount's size in pages. nodes: 0 for the default, one
 * leaf per 128 pages of capacity plus a quarter for interior nodes and
 * sparse files (about 5 bytes per 4 KiB page), at least 1024.
 */
int pmap_pool_create(uint64_t capacity_pages, uint64_t nodes,
		     struct pmap_pool **out);
void pmap_pool_destroy(struct pmap_pool *p);
uint64_t pmap_pool_nodes_total(struct pmap_pool *p);
uint64_t pmap_pool_nodes_used(struct pmap_pool *p);

/* Takes n pages of capacity; -ENOSPC (and nothing taken) if they do not fit. */
int pmap_reserve(struct pmap_pool *p, uint64_t n);
void pmap_unreserve(struct pmap_pool *p, uint64_t n);
uint64_t pmap_capacity(struct pmap_pool *p);
uint64_t pmap_used(struct pmap_pool *p);

void pmap_init(struct pmap *m);
/* The entry at idx (PMAP_HOLE beyond the tree). */
uint32_t pmap_get(const struct pmap *m, uint64_t idx);
/* Sets the entry at idx; -ENOSPC when the node pool is exhausted, -EFBIG
 * for idx >= PMAP_MAX_INDEX. Setting PMAP_HOLE frees no nodes (pmap_clear
 * does). */
int pmap_set(struct pmap_pool *p, struct pmap *m, uint64_t idx, uint32_t v);

/*
 * Sets every entry in [first, last) to PMAP_HOLE, calling fn(arg, idx, old)
 * for each entry that was not a hole (to free its page and capacity), and
 * gives emptied nodes back to the pool. Returns how many entries it cleared.
 */
uint64_t pmap_clear(struct pmap_pool *p, struct pmap *m, uint64_t first,
		    uint64_t last,
		    void (*fn)(void *arg, uint64_t idx, uint32_t old),
		    void *arg);

/*
 * The first index >= start whose entry is not a hole (want_data 1) or is a
 * hole (want_data 0); PMAP_MAX_INDEX when there is none.
 */
uint64_t pmap_find(const struct pmap *m, uint64_t start, int want_data);

#endif
