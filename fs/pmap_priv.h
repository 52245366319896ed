/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pmap_priv - the page maps' insides shared by fs/pmap.c (the pool and
 * the trees) and fs/pmap_resume.c (a pool resumed from a state arena):
 * the node and pool layouts, the run words and small pure helpers. Not a
 * public header: everything else goes through fs/pmap.h. See fs/pmap.c
 * for what runs and root runs are.
 *
 * Threading: as fs/pmap.h; the helpers here touch nothing shared.
 */
#ifndef CNM_FS_PMAP_PRIV_H
#define CNM_FS_PMAP_PRIV_H

#include "fs/pmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LEAF_BITS  7
#define LEAF_N	   (1u << LEAF_BITS) /* 128 entries */
#define NODE_BITS  6
#define NODE_N	   (1u << NODE_BITS) /* 64 children */
#define MAX_HEIGHT 9		     /* 7 + 8 * 6 = 55 bits */

#define RUN_BIT	   (1ull << 63)
#define IS_RUN(c)  (((c)&RUN_BIT) != 0)
#define RUN_V(c)   ((uint32_t)(c))
/* a root word: entries [0, n) of run v, holes after; 1 <= n <= LEAF_N */
#define ROOT_RUN(v, n) (RUN_BIT | (uint64_t)(n) << 32 | (v))
#define ROOT_N(rh)     ((rh) >> 32 & 0x7fffffffu)

union node {
	_Atomic uint64_t child[NODE_N]; /* node indexes, 0: none */
	_Atomic uint32_t e[LEAF_N];
	uint64_t next_free; /* index, 0: none */
};

_Static_assert(sizeof(union node) == PMAP_NODE_BYTES, "node size");

struct pmap_pool {
	pthread_mutex_t lock;
	union node *base;     /* nodes_total nodes; node 0 is never used */
	int shared;	      /* base is the caller's memory (a state arena) */
	uint8_t *mark;	      /* resuming: nodes reached from a map */
	uint64_t nodes_total; /* fixed: the budget's worth of nodes */
	uint64_t budget;      /* bytes, fixed */
	uint64_t bump;	      /* protected by lock: nodes never handed out */
	uint64_t free;	      /* protected by lock, 0: none */
	/* bytes of the budget in use: nodes and charges; protected by lock */
	uint64_t meta_used;
	uint64_t resume_nodes; /* resuming: nodes the maps stand for */
	atomic_uint_fast64_t nodes_used;
	atomic_uint_fast64_t charged;
	atomic_uint_fast64_t refused;
	uint64_t capacity; /* pages, fixed */
	atomic_uint_fast64_t used;
};

#define RH(root, h) ((root) << 8 | (h))
#define RH_ROOT(rh) ((rh) >> 8)
#define RH_H(rh)    ((unsigned int)((rh)&0xff))

static inline union node *N(const struct pmap_pool *p, uint64_t i)
{
	return &p->base[i];
}

/* Number of file pages a subtree of this height covers. */
static inline uint64_t span(unsigned int height)
{
	return height ? 1ull << (LEAF_BITS + (height - 1) * NODE_BITS) : 0;
}

/* Nodes a full subtree of this height has: what a run of it is charged. */
static inline uint64_t run_nodes(unsigned int height)
{
	return height <= 1 ? 1 : 1 + NODE_N * run_nodes(height - 1);
}

/* The run word of a subtree of this height starting with entry v, 0 when
 * it cannot be one (a hole, or an lpn run past the largest entry). */
static inline uint64_t run_word(uint32_t v, unsigned int height)
{
	if (v == PMAP_RESERVED)
		return RUN_BIT | v;
	if (!PMAP_IS_LPN(v) || (uint64_t)v + span(height) - 1 > UINT32_MAX)
		return 0;
	return RUN_BIT | v;
}

/* Whether entries [0, n) of run v are entries (an lpn run stays below
 * the largest entry). */
static inline bool root_run_ok(uint32_t v, uint64_t n)
{
	if (!n || n > LEAF_N)
		return false;
	return v == PMAP_RESERVED ||
	       (PMAP_IS_LPN(v) && (uint64_t)v + n - 1 <= UINT32_MAX);
}

#endif
