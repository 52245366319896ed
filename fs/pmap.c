// SPDX-License-Identifier: GPL-2.0-or-later
/* pmap - radix-tree page maps over a preallocated node pool. */
#include "fs/pmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LEAF_BITS  7
#define LEAF_N	   (1u << LEAF_BITS) /* 128 entries */
#define NODE_BITS  6
#define NODE_N	   (1u << NODE_BITS) /* 64 children */
#define MAX_HEIGHT 9		     /* 7 + 8 * 6 = 55 bits */

union node {
	union node *child[NODE_N];
	uint32_t e[LEAF_N];
	union node *next_free;
};

_Static_assert(sizeof(union node) == PMAP_NODE_BYTES, "node size");

struct pmap_pool {
	pthread_mutex_t lock;
	union node *base;     /* mmap'd, nodes_total nodes */
	uint64_t nodes_total; /* fixed: the budget's worth of nodes */
	uint64_t budget;      /* bytes, fixed */
	uint64_t bump;	      /* protected by lock: nodes never handed out */
	union node *free;     /* protected by lock */
	/* bytes of the budget in use: nodes and charges; protected by lock */
	uint64_t meta_used;
	atomic_uint_fast64_t nodes_used;
	atomic_uint_fast64_t charged;
	atomic_uint_fast64_t refused;
	uint64_t capacity; /* pages, fixed */
	atomic_uint_fast64_t used;
};

uint64_t pmap_default_budget(uint64_t capacity_pages)
{
	/* a leaf per page, an interior node per 63 of them, a root chain */
	uint64_t nodes = capacity_pages + capacity_pages / 63 + 64;

	return nodes * sizeof(union node) + PMAP_NS_BUDGET;
}

int pmap_pool_create(uint64_t capacity_pages, uint64_t budget,
		     struct pmap_pool **out)
{
	struct pmap_pool *p;
	uint64_t nodes;
	int ret = 0;

	if (!budget)
		budget = pmap_default_budget(capacity_pages);
	nodes = budget / sizeof(union node);
	if (nodes < 4)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	/* Reserved, not touched: pages are faulted in as nodes are used. */
	p->base = mmap(NULL, nodes * sizeof(union node), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->base == MAP_FAILED) {
		ret = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->nodes_total = nodes;
	p->budget = budget;
	p->capacity = capacity_pages;
	*out = p;
	return 0;

out_free:
	free(p);
	return ret;
}

void pmap_pool_destroy(struct pmap_pool *p)
{
	if (!p)
		return;
	munmap(p->base, p->nodes_total * sizeof(union node));
	pthread_mutex_destroy(&p->lock);
	free(p);
}

uint64_t pmap_pool_nodes_total(struct pmap_pool *p)
{
	return p->nodes_total;
}

uint64_t pmap_pool_nodes_used(struct pmap_pool *p)
{
	return atomic_load(&p->nodes_used);
}

/* Takes bytes of the budget; under p->lock. */
static bool budget_take(struct pmap_pool *p, uint64_t bytes)
{
	if (bytes > p->budget || p->meta_used > p->budget - bytes) {
		atomic_fetch_add(&p->refused, 1);
		return false;
	}
	p->meta_used += bytes;
	return true;
}

int pmap_pool_charge(struct pmap_pool *p, uint64_t bytes)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = budget_take(p, bytes);
	pthread_mutex_unlock(&p->lock);
	if (!ok)
		return -ENOSPC;
	atomic_fetch_add(&p->charged, bytes);
	return 0;
}

void pmap_pool_uncharge(struct pmap_pool *p, uint64_t bytes)
{
	pthread_mutex_lock(&p->lock);
	p->meta_used -= bytes;
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_sub(&p->charged, bytes);
}

void pmap_pool_meta(struct pmap_pool *p, struct pmap_meta *m)
{
	m->budget = p->budget;
	m->node_bytes = atomic_load(&p->nodes_used) * sizeof(union node);
	m->charged_bytes = atomic_load(&p->charged);
	m->refused = atomic_load(&p->refused);
	pthread_mutex_lock(&p->lock);
	m->touched_bytes = p->bump * sizeof(union node);
	pthread_mutex_unlock(&p->lock);
}

static union node *node_get(struct pmap_pool *p)
{
	union node *n = NULL;

	pthread_mutex_lock(&p->lock);
	if (!budget_take(p, sizeof(*n))) {
		/* refused: counted */
	} else if (p->free) {
		n = p->free;
		p->free = n->next_free;
	} else if (p->bump < p->nodes_total) {
		n = &p->base[p->bump++];
	} else {
		p->meta_used -= sizeof(*n); /* cannot happen: budget first */
	}
	pthread_mutex_unlock(&p->lock);
	if (n) {
		memset(n, 0, sizeof(*n));
		atomic_fetch_add(&p->nodes_used, 1);
	}
	return n;
}

static void node_put(struct pmap_pool *p, union node *n)
{
	pthread_mutex_lock(&p->lock);
	n->next_free = p->free;
	p->free = n;
	p->meta_used -= sizeof(*n);
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_sub(&p->nodes_used, 1);
}

int pmap_reserve(struct pmap_pool *p, uint64_t n)
{
	uint_fast64_t cur = atomic_load(&p->used);

	do {
		if (n > p->capacity || cur > p->capacity - n)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak(&p->used, &cur, cur + n));
	return 0;
}

void pmap_unreserve(struct pmap_pool *p, uint64_t n)
{
	atomic_fetch_sub(&p->used, n);
}

uint64_t pmap_capacity(struct pmap_pool *p)
{
	return p->capacity;
}

uint64_t pmap_used(struct pmap_pool *p)
{
	return atomic_load(&p->used);
}

void pmap_init(struct pmap *m)
{
	m->root = NULL;
	m->height = 0;
}

/* Number of file pages a subtree of this height covers. */
static uint64_t span(unsigned int height)
{
	return height ? 1ull << (LEAF_BITS + (height - 1) * NODE_BITS) : 0;
}

static unsigned int shift_of(unsigned int height)
{
	/* the index bits that select a child of a node of this height */
	return LEAF_BITS + (height - 2) * NODE_BITS;
}

uint32_t pmap_get(const struct pmap *m, uint64_t idx)
{
	const union node *n = m->root;
	unsigned int h = m->height;

	if (!n || idx >= span(h))
		return PMAP_HOLE;
	for (; h > 1; h--) {
		n = n->child[(idx >> shift_of(h)) & (NODE_N - 1)];
		if (!n)
			return PMAP_HOLE;
	}
	return n->e[idx & (LEAF_N - 1)];
}

int pmap_set(struct pmap_pool *p, struct pmap *m, uint64_t idx, uint32_t v)
{
	union node *n, **slot;
	unsigned int h;

	if (idx >= PMAP_MAX_INDEX)
		return -EFBIG;
	if (!m->root) {
		if (v == PMAP_HOLE)
			return 0;
		m->height = 1;
		while (idx >= span(m->height))
			m->height++;
	}
	while (idx >= span(m->height)) {
		if (v == PMAP_HOLE)
			return 0;
		n = node_get(p);
		if (!n)
			return -ENOSPC;
		n->child[0] = m->root;
		m->root = n;
		m->height++;
	}
	slot = (union node **)&m->root;
	for (h = m->height; h > 1; h--) {
		if (!*slot) {
			if (v == PMAP_HOLE)
				return 0;
			*slot = node_get(p);
			if (!*slot)
				return -ENOSPC;
		}
		slot = &(*slot)->child[(idx >> shift_of(h)) & (NODE_N - 1)];
	}
	if (!*slot) {
		if (v == PMAP_HOLE)
			return 0;
		*slot = node_get(p);
		if (!*slot)
			return -ENOSPC;
	}
	(*slot)->e[idx & (LEAF_N - 1)] = v;
	return 0;
}

struct clear_ctx {
	struct pmap_pool *p;
	uint64_t first, last, cleared;
	void (*fn)(void *arg, uint64_t idx, uint32_t old);
	void *arg;
};

/* Clears [c->first, c->last) inside the subtree at *slot; frees it if empty. */
static void clear_node(struct clear_ctx *c, union node **slot, unsigned int h,
		       uint64_t base)
{
	union node *n = *slot;
	uint64_t lo, hi, sub;
	int empty = 1;

	if (h == 1) {
		for (unsigned int i = 0; i < LEAF_N; i++) {
			uint64_t idx = base + i;

			if (n->e[i] != PMAP_HOLE && idx >= c->first &&
			    idx < c->last) {
				if (c->fn)
					c->fn(c->arg, idx, n->e[i]);
				n->e[i] = PMAP_HOLE;
				c->cleared++;
			}
			if (n->e[i] != PMAP_HOLE)
				empty = 0;
		}
	} else {
		sub = span(h - 1);
		for (unsigned int i = 0; i < NODE_N; i++) {
			lo = base + i * sub;
			hi = lo + sub;
			if (n->child[i] && lo < c->last && hi > c->first)
				clear_node(c, &n->child[i], h - 1, lo);
			if (n->child[i])
				empty = 0;
		}
	}
	if (empty) {
		node_put(c->p, n);
		*slot = NULL;
	}
}

uint64_t pmap_clear(struct pmap_pool *p, struct pmap *m, uint64_t first,
		    uint64_t last,
		    void (*fn)(void *arg, uint64_t idx, uint32_t old),
		    void *arg)
{
	struct clear_ctx c = { p, first, last, 0, fn, arg };

	if (!m->root || first >= last || first >= span(m->height))
		return 0;
	clear_node(&c, (union node **)&m->root, m->height, 0);
	if (!m->root)
		m->height = 0;
	return c.cleared;
}

/* First index >= start in this subtree matching want; UINT64_MAX if none. */
static uint64_t find_node(const union node *n, unsigned int h, uint64_t base,
			  uint64_t start, int want_data)
{
	uint64_t sub, lo, r;

	if (!n)
		return want_data ? UINT64_MAX : (start > base ? start : base);
	if (h == 1) {
		for (unsigned int i = 0; i < LEAF_N; i++) {
			if (base + i < start)
				continue;
			if ((n->e[i] != PMAP_HOLE) == !!want_data)
				return base + i;
		}
		return UINT64_MAX;
	}
	sub = span(h - 1);
	for (unsigned int i = 0; i < NODE_N; i++) {
		lo = base + i * sub;
		if (lo + sub <= start)
			continue;
		r = find_node(n->child[i], h - 1, lo, start, want_data);
		if (r != UINT64_MAX)
			return r;
	}
	return UINT64_MAX;
}

uint64_t pmap_find(const struct pmap *m, uint64_t start, int want_data)
{
	uint64_t r;

	if (start >= PMAP_MAX_INDEX)
		return PMAP_MAX_INDEX;
	if (!m->root || start >= span(m->height))
		return want_data ? PMAP_MAX_INDEX : start;
	r = find_node(m->root, m->height, 0, start, want_data);
	if (r == UINT64_MAX)
		r = want_data ? PMAP_MAX_INDEX : span(m->height);
	return r;
}
