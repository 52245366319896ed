// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pmap - radix-tree page maps over a preallocated node pool.
 *
 * Nodes name their children by index in the pool (0: none), never by
 * pointer, and a map's root and height are one 64-bit word, so a pool in
 * a state arena (fs/state.h) reads the same in a successor mapped at
 * another address. Every change is one store of an entry, a child index
 * or the root word, made after what it points to is complete: a crash
 * leaves the old or the new map. Free lists are not kept: a resumed pool
 * rebuilds them from the maps (fs/pmap_resume.c).
 *
 * Runs: a child slot holds a node's index, 0 (none: every entry of that
 * subtree is a hole) or a run word, RUN_BIT | v: every entry of the
 * subtree is v (v == PMAP_RESERVED, an fallocated range) or v + i for the
 * subtree's i-th entry (v an lpn entry: consecutive logical pages, what a
 * sequential write gets). pmap_set() collapses a node into a run when it
 * becomes one (the run word is stored in its slot, then the node is
 * unreferenced and goes back to the pool), and upward while the parent is
 * one too; a set that breaks a run expands it into a node of runs one
 * level down (filled, then published by one store of its index).
 *
 * Root runs: a map whose entries are [0, n) of a run (n <= 128) and holes
 * after (a small file written from its start, a file up to 512 KiB
 * fallocated) keeps ROOT_RUN(v, n) as its root word and no node at all. A
 * set at n that continues the run makes it ROOT_RUN(v, n + 1) (one
 * store); any other change expands it into a root leaf first.
 *
 * Budget: a run is charged as the nodes it stands for (a leaf run one
 * node, a run of height h 1 + 64 x that of h - 1), so the budget counts
 * the tree as it was before runs existed, and the pool's memory (the
 * nodes really in use, pmap_pool_nodes_used()) is never more than that.
 * So expanding a run never takes budget and always finds a free node: a
 * clear or a set back to a hole or reserved page never fails on a run.
 */
#include "fs/pmap.h"
#include "fs/pmap_priv.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

uint64_t pmap_default_budget(uint64_t capacity_pages)
{
	/* a leaf per page, an interior node per 63 of them, a root chain */
	uint64_t nodes = capacity_pages + capacity_pages / 63 + 64;

	return nodes * sizeof(union node) + PMAP_NS_BUDGET;
}

uint64_t pmap_pool_bytes(uint64_t capacity_pages, uint64_t budget)
{
	if (!budget)
		budget = pmap_default_budget(capacity_pages);
	return (budget / sizeof(union node) + 1) * sizeof(union node);
}

int pmap_pool_create(uint64_t capacity_pages, uint64_t budget,
		     struct pmap_pool **out)
{
	return pmap_pool_create_at(capacity_pages, budget, NULL, 0, out);
}

int pmap_pool_create_at(uint64_t capacity_pages, uint64_t budget, void *mem,
			uint64_t len, struct pmap_pool **out)
{
	struct pmap_pool *p;
	uint64_t nodes;
	int ret = 0;

	if (!budget)
		budget = pmap_default_budget(capacity_pages);
	nodes = budget / sizeof(union node);
	if (nodes < 4 || (mem && len < (nodes + 1) * sizeof(union node)))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	nodes++; /* node 0 stands for none */
	if (mem) {
		p->base = mem;
		p->shared = 1;
	} else {
		/* Reserved, not touched: pages fault in as nodes are used. */
		p->base = mmap(NULL, nodes * sizeof(union node),
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (p->base == MAP_FAILED) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	p->bump = 1;
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
	if (!p->shared)
		munmap(p->base, p->nodes_total * sizeof(union node));
	free(p->mark);
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
	m->touched_bytes = (p->bump - 1) * sizeof(union node);
	pthread_mutex_unlock(&p->lock);
}

/* A zeroed node's index, 0 when the budget is reached. Nobody can reach
 * the node before its index is stored in a map. */
static uint64_t node_get(struct pmap_pool *p)
{
	uint64_t i = 0;

	pthread_mutex_lock(&p->lock);
	if (!budget_take(p, sizeof(union node))) {
		/* refused: counted */
	} else if (p->free) {
		i = p->free;
		p->free = N(p, i)->next_free;
	} else if (p->bump < p->nodes_total) {
		i = p->bump++;
	} else {
		p->meta_used -= sizeof(union node); /* budget first */
	}
	pthread_mutex_unlock(&p->lock);
	if (i) {
		memset(N(p, i), 0, sizeof(union node));
		atomic_fetch_add(&p->nodes_used, 1);
	}
	return i;
}

/* A node's memory only, for a run being expanded: the run's budget
 * already covers it (see the top), so there is always one. */
static uint64_t node_get_mem(struct pmap_pool *p)
{
	uint64_t i = 0;

	pthread_mutex_lock(&p->lock);
	if (p->free) {
		i = p->free;
		p->free = N(p, i)->next_free;
	} else if (p->bump < p->nodes_total) {
		i = p->bump++;
	}
	pthread_mutex_unlock(&p->lock);
	if (i)
		atomic_fetch_add(&p->nodes_used, 1);
	return i;
}

/* Gives back a node's memory, not its budget: a node collapsed into a run
 * (unreferenced already). */
static void node_put_mem(struct pmap_pool *p, uint64_t i)
{
	pthread_mutex_lock(&p->lock);
	N(p, i)->next_free = p->free;
	p->free = i;
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_sub(&p->nodes_used, 1);
}

static void budget_give(struct pmap_pool *p, uint64_t nodes)
{
	pthread_mutex_lock(&p->lock);
	p->meta_used -= nodes * sizeof(union node);
	pthread_mutex_unlock(&p->lock);
}

static void node_put(struct pmap_pool *p, uint64_t i)
{
	pthread_mutex_lock(&p->lock);
	N(p, i)->next_free = p->free;
	p->free = i;
	p->meta_used -= sizeof(union node);
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
	m->pool = NULL;
	atomic_store(&m->own, 0);
	m->rh = &m->own;
}

void pmap_bind(struct pmap *m, struct pmap_pool *p, _Atomic uint64_t *word)
{
	m->pool = p;
	m->rh = word;
}

static unsigned int shift_of(unsigned int height)
{
	/* the index bits that select a child of a node of this height */
	return LEAF_BITS + (height - 2) * NODE_BITS;
}

/* The entry at offset off of a run (off < the run's span). */
static uint32_t run_entry(uint64_t c, uint64_t off)
{
	uint32_t v = RUN_V(c);

	return v == PMAP_RESERVED ? v : v + (uint32_t)off;
}

/* Node ni of this height as a run word, 0 when it is not one. */
static uint64_t node_run(const struct pmap_pool *p, uint64_t ni, unsigned int h)
{
	const union node *n = N(p, ni);
	uint64_t c0, sub;
	uint32_t v;

	if (h == 1) {
		v = atomic_load(&n->e[0]);
		c0 = run_word(v, 1);
		/* the last entry first: a sequential write fills it last */
		if (!c0 ||
		    atomic_load(&n->e[LEAF_N - 1]) != run_entry(c0, LEAF_N - 1))
			return 0;
		for (unsigned int i = 1; i < LEAF_N - 1; i++)
			if (atomic_load(&n->e[i]) != run_entry(c0, i))
				return 0;
		return c0;
	}
	c0 = atomic_load(&n->child[0]);
	if (!IS_RUN(c0) || !run_word(RUN_V(c0), h))
		return 0;
	sub = span(h - 1);
	for (unsigned int i = 1; i < NODE_N; i++)
		if (atomic_load(&n->child[i]) !=
		    (RUN_BIT | run_entry(c0, i * sub)))
			return 0;
	return RUN_BIT | RUN_V(c0);
}

/* Run c of this height as a new node of runs one level down (or of
 * entries), not yet published; 0 only if the pool's invariant broke. */
static uint64_t run_expand(struct pmap_pool *p, uint64_t c, unsigned int h)
{
	uint64_t ni = node_get_mem(p), sub;
	union node *n;

	if (!ni)
		return 0;
	n = N(p, ni);
	if (h == 1) {
		for (unsigned int i = 0; i < LEAF_N; i++)
			atomic_store_explicit(&n->e[i], run_entry(c, i),
					      memory_order_relaxed);
	} else {
		sub = span(h - 1);
		for (unsigned int i = 0; i < NODE_N; i++)
			atomic_store_explicit(&n->child[i],
					      RUN_BIT | run_entry(c, i * sub),
					      memory_order_relaxed);
	}
	return ni;
}

/* The root run rh as a root leaf, published; 0 or -ENOSPC (only if the
 * pool's invariant broke: the run's budget covers the leaf). */
static int root_run_expand(struct pmap_pool *p, struct pmap *m, uint64_t rh)
{
	uint64_t ni = node_get_mem(p), n = ROOT_N(rh);
	union node *leaf;

	if (!ni)
		return -ENOSPC;
	leaf = N(p, ni);
	for (unsigned int i = 0; i < LEAF_N; i++)
		atomic_store_explicit(&leaf->e[i],
				      i < n ? run_entry(rh, i) : PMAP_HOLE,
				      memory_order_relaxed);
	atomic_store_explicit(m->rh, RH(ni, 1), memory_order_release);
	return 0;
}

/* A set on a map that is empty or a root run, if it can stay one: 1 done,
 * 0 not (the caller goes on with the root word now in m), or -errno. */
static int root_run_set(struct pmap_pool *p, struct pmap *m, uint64_t idx,
			uint32_t v)
{
	uint64_t rh = atomic_load(m->rh), n = ROOT_N(rh);
	bool ok;

	if (!rh) {
		if (idx || !root_run_ok(v, 1))
			return 0;
		pthread_mutex_lock(&p->lock);
		ok = budget_take(p, sizeof(union node)); /* the leaf it is */
		pthread_mutex_unlock(&p->lock);
		if (!ok)
			return -ENOSPC;
		atomic_store_explicit(m->rh, ROOT_RUN(v, 1),
				      memory_order_release);
		return 1;
	}
	if (idx < n && run_entry(rh, idx) == v)
		return 1;
	if (idx == n && v == run_entry(rh, n) &&
	    root_run_ok(RUN_V(rh), n + 1)) {
		atomic_store_explicit(m->rh, ROOT_RUN(RUN_V(rh), n + 1),
				      memory_order_release);
		return 1;
	}
	if (idx >= n && v == PMAP_HOLE)
		return 1;
	return root_run_expand(p, m, rh);
}

uint32_t pmap_get(const struct pmap *m, uint64_t idx)
{
	uint64_t rh = atomic_load_explicit(m->rh, memory_order_acquire);
	uint64_t n = RH_ROOT(rh);
	unsigned int h = RH_H(rh);

	if (IS_RUN(rh))
		return idx < ROOT_N(rh) ? run_entry(rh, idx) : PMAP_HOLE;
	if (!n || idx >= span(h))
		return PMAP_HOLE;
	for (; h > 1; h--) {
		n = atomic_load_explicit(
			&N(m->pool, n)
				 ->child[(idx >> shift_of(h)) & (NODE_N - 1)],
			memory_order_acquire);
		if (!n)
			return PMAP_HOLE;
		if (IS_RUN(n))
			return run_entry(n, idx & (span(h - 1) - 1));
	}
	return atomic_load_explicit(&N(m->pool, n)->e[idx & (LEAF_N - 1)],
				    memory_order_relaxed);
}

/* After a set: the nodes on idx's path (nodes[h] in slots[h], below the
 * root) that are runs now become run words, from the leaf up. */
static void collapse_path(struct pmap_pool *p, _Atomic uint64_t **slots,
			  const uint64_t *nodes, unsigned int root_h)
{
	for (unsigned int h = 1; h < root_h; h++) {
		uint64_t c = node_run(p, nodes[h], h);

		if (!c)
			break;
		/* one store: the run replaces the node, then the node is
		 * unreferenced (a crash before the store keeps the node) */
		atomic_store_explicit(slots[h], c, memory_order_release);
		node_put_mem(p, nodes[h]);
	}
}

int pmap_set(struct pmap_pool *p, struct pmap *m, uint64_t idx, uint32_t v)
{
	uint64_t rh = atomic_load(m->rh), root, n;
	_Atomic uint64_t *slots[MAX_HEIGHT];
	uint64_t nodes[MAX_HEIGHT];
	unsigned int h, root_h;
	int ret;

	if (idx >= PMAP_MAX_INDEX)
		return -EFBIG;
	m->pool = p;
	if (!rh || IS_RUN(rh)) {
		ret = root_run_set(p, m, idx, v);
		if (ret)
			return ret < 0 ? ret : 0;
		rh = atomic_load(m->rh);
	}
	root = RH_ROOT(rh);
	h = RH_H(rh);
	if (!root) {
		if (v == PMAP_HOLE)
			return 0;
		h = 1;
		while (idx >= span(h))
			h++;
		root = node_get(p);
		if (!root)
			return -ENOSPC;
		atomic_store_explicit(m->rh, RH(root, h), memory_order_release);
	}
	while (idx >= span(h)) {
		uint64_t c;

		if (v == PMAP_HOLE)
			return 0;
		n = node_get(p);
		if (!n)
			return -ENOSPC;
		/* the old root (never collapsed: a root is a node) goes
		 * under the new one as a run if it is one */
		c = node_run(p, root, h);
		atomic_store(&N(p, n)->child[0], c ? c : root);
		/* the new root is complete: one store publishes it */
		atomic_store_explicit(m->rh, RH(n, h + 1),
				      memory_order_release);
		if (c)
			node_put_mem(p, root);
		root = n;
		h++;
	}
	root_h = h;
	n = root;
	for (; h > 1; h--) {
		_Atomic uint64_t *slot;
		uint64_t c;

		slot = &N(p, n)->child[(idx >> shift_of(h)) & (NODE_N - 1)];
		c = atomic_load(slot);
		if (IS_RUN(c)) {
			if (run_entry(c, idx & (span(h - 1) - 1)) == v)
				return 0;
			c = run_expand(p, c, h - 1);
			if (!c)
				return -ENOSPC;
			atomic_store_explicit(slot, c, memory_order_release);
		} else if (!c) {
			if (v == PMAP_HOLE)
				return 0;
			c = node_get(p);
			if (!c)
				return -ENOSPC;
			atomic_store_explicit(slot, c, memory_order_release);
		}
		slots[h - 1] = slot;
		nodes[h - 1] = c;
		n = c;
	}
	atomic_store_explicit(&N(p, n)->e[idx & (LEAF_N - 1)], v,
			      memory_order_release);
	if (v != PMAP_HOLE)
		collapse_path(p, slots, nodes, root_h);
	return 0;
}

struct clear_ctx {
	struct pmap_pool *p;
	uint64_t first, last, cleared;
	void (*fn)(void *arg, uint64_t idx, uint32_t old);
	void *arg;
};

/* Clears run c of this height at base, all of it: already unlinked. */
static void clear_run(struct clear_ctx *c, uint64_t run, unsigned int h,
		      uint64_t base)
{
	uint64_t n = span(h);

	budget_give(c->p, run_nodes(h));
	if (c->fn)
		for (uint64_t i = 0; i < n; i++)
			c->fn(c->arg, base + i, run_entry(run, i));
	c->cleared += n;
}

/* Clears [c->first, c->last) inside the subtree at *slot; frees it if
 * empty (unlinked first: a crash never leaves a link to a free node). */
static void clear_node(struct clear_ctx *c, _Atomic uint64_t *slot,
		       unsigned int h, uint64_t base)
{
	uint64_t ni = atomic_load(slot), lo, hi, sub;
	union node *n;
	int empty = 1;

	if (IS_RUN(ni)) {
		if (c->first <= base && c->last >= base + span(h)) {
			atomic_store(slot, 0);
			clear_run(c, ni, h, base);
			return;
		}
		/* part of it: as a node (the run's budget covers one) */
		lo = run_expand(c->p, ni, h);
		assert(lo); /* see "Budget" at the top */
		atomic_store_explicit(slot, lo, memory_order_release);
		ni = lo;
	}
	n = N(c->p, ni);
	if (h == 1) {
		for (unsigned int i = 0; i < LEAF_N; i++) {
			uint64_t idx = base + i;
			uint32_t e = atomic_load(&n->e[i]);

			if (e != PMAP_HOLE && idx >= c->first &&
			    idx < c->last) {
				atomic_store(&n->e[i], PMAP_HOLE);
				if (c->fn)
					c->fn(c->arg, idx, e);
				e = PMAP_HOLE;
				c->cleared++;
			}
			if (e != PMAP_HOLE)
				empty = 0;
		}
	} else {
		sub = span(h - 1);
		for (unsigned int i = 0; i < NODE_N; i++) {
			lo = base + i * sub;
			hi = lo + sub;
			if (atomic_load(&n->child[i]) && lo < c->last &&
			    hi > c->first)
				clear_node(c, &n->child[i], h - 1, lo);
			if (atomic_load(&n->child[i]))
				empty = 0;
		}
	}
	if (empty) {
		atomic_store(slot, 0);
		node_put(c->p, ni);
	}
}

uint64_t pmap_clear(struct pmap_pool *p, struct pmap *m, uint64_t first,
		    uint64_t last,
		    void (*fn)(void *arg, uint64_t idx, uint32_t old),
		    void *arg)
{
	struct clear_ctx c = { p, first, last, 0, fn, arg };
	uint64_t rh = atomic_load(m->rh), n = ROOT_N(rh);
	_Atomic uint64_t root;
	unsigned int h;
	int ret;

	if (IS_RUN(rh) && first < last && first < n) {
		if (last >= n) { /* a tail: the run gets shorter */
			atomic_store(m->rh,
				     first ? ROOT_RUN(RUN_V(rh), first) : 0);
			if (!first)
				budget_give(p, 1);
			for (uint64_t i = first; i < n && fn; i++)
				fn(arg, i, run_entry(rh, i));
			return n - first;
		}
		ret = root_run_expand(p, m, rh);
		assert(!ret); /* the run's budget covers the leaf */
		rh = atomic_load(m->rh);
	}
	if (IS_RUN(rh))
		return 0;
	root = RH_ROOT(rh);
	h = RH_H(rh);
	if (!root || first >= last || first >= span(h))
		return 0;
	/* the root is cleared through a copy of its index: the map's word
	 * changes once, at the end, if the whole tree went */
	clear_node(&c, &root, h, 0);
	if (!atomic_load(&root))
		atomic_store(m->rh, 0);
	return c.cleared;
}

/* First index >= start in this subtree matching want; UINT64_MAX if none. */
static uint64_t find_node(const struct pmap_pool *p, uint64_t ni,
			  unsigned int h, uint64_t base, uint64_t start,
			  int want_data)
{
	const union node *n;
	uint64_t sub, lo, r;

	if (!ni)
		return want_data ? UINT64_MAX : (start > base ? start : base);
	if (IS_RUN(ni)) /* no holes */
		return want_data ? (start > base ? start : base) : UINT64_MAX;
	n = N(p, ni);
	if (h == 1) {
		for (unsigned int i = 0; i < LEAF_N; i++) {
			if (base + i < start)
				continue;
			if ((atomic_load(&n->e[i]) != PMAP_HOLE) == !!want_data)
				return base + i;
		}
		return UINT64_MAX;
	}
	sub = span(h - 1);
	for (unsigned int i = 0; i < NODE_N; i++) {
		lo = base + i * sub;
		if (lo + sub <= start)
			continue;
		r = find_node(p, atomic_load(&n->child[i]), h - 1, lo, start,
			      want_data);
		if (r != UINT64_MAX)
			return r;
	}
	return UINT64_MAX;
}

uint64_t pmap_find(const struct pmap *m, uint64_t start, int want_data)
{
	uint64_t rh = atomic_load(m->rh), r;
	unsigned int h = RH_H(rh);

	if (start >= PMAP_MAX_INDEX)
		return PMAP_MAX_INDEX;
	if (IS_RUN(rh)) {
		if (start < ROOT_N(rh))
			return want_data ? start : ROOT_N(rh);
		return want_data ? PMAP_MAX_INDEX : start;
	}
	if (!RH_ROOT(rh) || start >= span(h))
		return want_data ? PMAP_MAX_INDEX : start;
	r = find_node(m->pool, RH_ROOT(rh), h, 0, start, want_data);
	if (r == UINT64_MAX)
		r = want_data ? PMAP_MAX_INDEX : span(h);
	return r;
}
