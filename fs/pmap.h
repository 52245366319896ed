/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pmap - per-file page maps (file page index -> logical page) and the
 * mount's capacity accounting.
 *
 * A file's map is a radix tree: interior nodes of 64 children, leaves of 128
 * 32-bit entries (one leaf maps 512 KiB of file). Every node is 512 bytes
 * and comes from the mount's node pool, so the I/O path never calls
 * malloc. The tree grows in height as a file grows; nodes left empty by
 * pmap_clear() go back to the pool. A subtree whose entries are all
 * PMAP_RESERVED, or consecutive logical pages (a sequential write, which
 * gets them: fs/fs_io.c asks for the page after the previous one), is held
 * as one word in its parent instead of nodes (a run): a dense file costs
 * a few nodes, not a leaf per 512 KiB, and a file whose pages are such a
 * run from its start up to 512 KiB (a small file) no node at all, its
 * run in the root word. pmap_pool_nodes_used() and the meta's node_bytes
 * count the nodes really in use.
 *
 * Metadata budget: the pool's address space is reserved at mount time for
 * the whole budget (MAP_NORESERVE, not touched: memory is taken page by
 * page as nodes are first used, and stays with the pool once touched).
 * The namespace (inodes, names) charges its bytes to the same budget
 * through pmap_pool_charge(). A node or a charge past the budget is
 * -ENOSPC and counted (pmap_pool_meta()). The budget charges a run as the
 * nodes it stands for (the tree as if there were no runs), so breaking a
 * run (a set inside it, a clear of part of it) never fails for want of a
 * node, and ENOSPC comes exactly where it did. The default budget holds a leaf
 * per page of capacity (a mount of 4 KiB files or of pages 512 KiB apart
 * is 1/8 metadata) plus its interior nodes, and 64 MiB for the namespace:
 * metadata never runs out before capacity unless the namespace passes
 * that 64 MiB (about 150,000 empty files) or files are sparse at
 * gigabyte strides.
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

#include <stdatomic.h>
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

/* One file's map; embed it, treat the fields as private. Its root and
 * height are one word (own, or a state record's: pmap_bind()). */
struct pmap {
	struct pmap_pool *pool; /* set by pmap_set() or pmap_bind() */
	_Atomic uint64_t *rh;
	_Atomic uint64_t own;
};

#define PMAP_NS_BUDGET (64ull << 20) /* the default budget's namespace part */

/* The default budget for a capacity: see above. */
uint64_t pmap_default_budget(uint64_t capacity_pages);

/*
 * capacity_pages: the mount's size in pages. budget: bytes of metadata
 * (nodes and charges), 0 for pmap_default_budget(); at least 4 nodes.
 */
int pmap_pool_create(uint64_t capacity_pages, uint64_t budget,
		     struct pmap_pool **out);
/* The same in the caller's memory mem (len >= pmap_pool_bytes()), e.g.
 * a state arena's section: zeroed for a new pool; a pool left there by a
 * dead server is resumed with pmap_pool_resume_begin(), pmap_resume() of
 * every map, then pmap_pool_resume_end(). mem is borrowed until destroy. */
int pmap_pool_create_at(uint64_t capacity_pages, uint64_t budget, void *mem,
			uint64_t len, struct pmap_pool **out);
uint64_t pmap_pool_bytes(uint64_t capacity_pages, uint64_t budget);
int pmap_pool_resume_begin(struct pmap_pool *p); /* 0 or -ENOMEM */
/* Takes map m (bound with pmap_bind()) into the resumed pool; *entries:
 * its entries that are not holes. -EUCLEAN: the map is damaged. */
int pmap_resume(struct pmap_pool *p, struct pmap *m, uint64_t *entries);
/* Every other node is free again; the budget counts the ones in use. */
void pmap_pool_resume_end(struct pmap_pool *p);
void pmap_pool_destroy(struct pmap_pool *p);
uint64_t pmap_pool_nodes_total(struct pmap_pool *p); /* the budget's worth */
uint64_t pmap_pool_nodes_used(struct pmap_pool *p);

/* Takes bytes of the budget for namespace memory; -ENOSPC (counted) when
 * it does not fit. Any thread. */
int pmap_pool_charge(struct pmap_pool *p, uint64_t bytes);
void pmap_pool_uncharge(struct pmap_pool *p, uint64_t bytes);

struct pmap_meta {
	uint64_t budget;	/* bytes */
	uint64_t node_bytes;	/* nodes in use, bytes */
	uint64_t touched_bytes; /* pool memory ever used (stays resident) */
	uint64_t charged_bytes; /* namespace */
	uint64_t refused;	/* -ENOSPC from the budget */
};
void pmap_pool_meta(struct pmap_pool *p, struct pmap_meta *m);

/* Takes n pages of capacity; -ENOSPC (and nothing taken) if they do not fit. */
int pmap_reserve(struct pmap_pool *p, uint64_t n);
void pmap_unreserve(struct pmap_pool *p, uint64_t n);
uint64_t pmap_capacity(struct pmap_pool *p);
uint64_t pmap_used(struct pmap_pool *p);

void pmap_init(struct pmap *m);
/* Keeps m's root word in *word (a state record), on pool p. */
void pmap_bind(struct pmap *m, struct pmap_pool *p, _Atomic uint64_t *word);
/* The entry at idx (PMAP_HOLE beyond the tree). */
uint32_t pmap_get(const struct pmap *m, uint64_t idx);
/* Sets the entry at idx; -ENOSPC when the budget is reached, -EFBIG
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
