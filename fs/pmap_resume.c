// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pmap_resume - a node pool left in a state arena by a dead server,
 * taken over by its successor (fs/pmap.h, pmap_pool_resume_*): the maps
 * are walked from their root words, their nodes marked, and the free
 * list and budget rebuilt from what they reach (a pool keeps no free
 * list in the arena: see fs/pmap.c).
 *
 * Threading: resume_begin, resume and resume_end run in one thread
 * before the pool is used by any other.
 */
#include "fs/pmap.h"
#include "fs/pmap_priv.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/* Marks the subtree's nodes; counts entries that are not holes, and the
 * nodes the subtree stands for (runs as their full subtrees). False when
 * an index is out of the pool or reached twice, or a run word is not one
 * (a damaged map). */
static bool mark_node(struct pmap_pool *p, uint64_t ni, unsigned int h,
		      uint64_t *entries)
{
	if (!ni || ni >= p->nodes_total || p->mark[ni] || !h || h > MAX_HEIGHT)
		return false;
	p->mark[ni] = 1;
	p->resume_nodes++;
	if (h == 1) {
		for (unsigned int i = 0; i < LEAF_N; i++)
			*entries += atomic_load(&N(p, ni)->e[i]) != PMAP_HOLE;
		return true;
	}
	for (unsigned int i = 0; i < NODE_N; i++) {
		uint64_t c = atomic_load(&N(p, ni)->child[i]);

		if (IS_RUN(c)) {
			if (c != (RUN_BIT | RUN_V(c)) ||
			    run_word(RUN_V(c), h - 1) != c)
				return false;
			*entries += span(h - 1);
			p->resume_nodes += run_nodes(h - 1);
		} else if (c && !mark_node(p, c, h - 1, entries)) {
			return false;
		}
	}
	return true;
}

int pmap_pool_resume_begin(struct pmap_pool *p)
{
	p->resume_nodes = 0;
	p->mark = calloc(p->nodes_total, 1);
	return p->mark ? 0 : -ENOMEM;
}

int pmap_resume(struct pmap_pool *p, struct pmap *m, uint64_t *entries)
{
	uint64_t rh = atomic_load(m->rh);

	*entries = 0;
	m->pool = p;
	if (IS_RUN(rh)) {
		if (rh != ROOT_RUN(RUN_V(rh), ROOT_N(rh)) ||
		    !root_run_ok(RUN_V(rh), ROOT_N(rh)))
			return -EUCLEAN;
		*entries = ROOT_N(rh);
		p->resume_nodes++;
		return 0;
	}
	if (!RH_ROOT(rh))
		return 0;
	return mark_node(p, RH_ROOT(rh), RH_H(rh), entries) ? 0 : -EUCLEAN;
}

void pmap_pool_resume_end(struct pmap_pool *p)
{
	uint64_t top = 0, used = 0;

	for (uint64_t i = 1; i < p->nodes_total; i++)
		if (p->mark[i])
			top = i;
	/* free list: the unmarked nodes below the highest one in use */
	p->free = 0;
	for (uint64_t i = top; i >= 1; i--) {
		if (p->mark[i]) {
			used++;
			continue;
		}
		N(p, i)->next_free = p->free;
		p->free = i;
	}
	p->bump = top + 1;
	/* the budget counts what the maps stand for, runs as full subtrees */
	p->meta_used += p->resume_nodes * sizeof(union node);
	atomic_store(&p->nodes_used, used);
	free(p->mark);
	p->mark = NULL;
}
