// SPDX-License-Identifier: GPL-2.0-or-later
#include "fs/pmap.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

static struct pmap_pool *pool;

static void setup(void)
{
	ck_assert_int_eq(pmap_pool_create(1 << 20, 0, &pool), 0);
}

static void teardown(void)
{
	pmap_pool_destroy(pool);
}

START_TEST(unset_entries_read_as_holes)
{
	struct pmap m;

	pmap_init(&m);
	ck_assert_uint_eq(pmap_get(&m, 0), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 123456789), PMAP_HOLE);
	ck_assert_int_eq(pmap_set(pool, &m, 5, PMAP_LPN(77)), 0);
	ck_assert_uint_eq(pmap_get(&m, 4), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 1ull << 40), PMAP_HOLE);
	ck_assert_uint_eq(PMAP_TO_LPN(pmap_get(&m, 5)), 77);
	pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
}
END_TEST

START_TEST(set_get_across_growing_heights)
{
	static const uint64_t idx[] = {
		0,	    1,		127,
		128,	    8191,	8192,
		1ull << 20, 1ull << 33, (1ull << 51) - 1
	};
	const int n = sizeof(idx) / sizeof(idx[0]);
	struct pmap m;

	pmap_init(&m);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pmap_set(pool, &m, idx[i], PMAP_LPN(i + 10)),
				 0);
	for (int i = 0; i < n; i++)
		ck_assert_uint_eq(pmap_get(&m, idx[i]), PMAP_LPN(i + 10));
	ck_assert_uint_eq(pmap_get(&m, 2), PMAP_HOLE);
	ck_assert_int_eq(pmap_set(pool, &m, PMAP_MAX_INDEX, 5), -EFBIG);
	ck_assert_uint_eq(pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  n);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 0);
}
END_TEST

struct seen {
	uint64_t n, sum_idx, sum_lpn;
};

static void count_cb(void *arg, uint64_t idx, uint32_t old)
{
	struct seen *s = arg;

	s->n++;
	s->sum_idx += idx;
	if (PMAP_IS_LPN(old))
		s->sum_lpn += PMAP_TO_LPN(old);
}

START_TEST(clear_range_frees_only_that_range)
{
	struct seen s = { 0 };
	struct pmap m;
	uint64_t i, expect = 0;

	pmap_init(&m);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(pmap_set(pool, &m, i, PMAP_LPN(i)), 0);
	ck_assert_uint_eq(pmap_clear(pool, &m, 100, 300, count_cb, &s), 200);
	for (i = 100; i < 300; i++)
		expect += i;
	ck_assert_uint_eq(s.n, 200);
	ck_assert_uint_eq(s.sum_idx, expect);
	ck_assert_uint_eq(s.sum_lpn, expect);
	ck_assert_uint_eq(pmap_get(&m, 99), PMAP_LPN(99));
	ck_assert_uint_eq(pmap_get(&m, 100), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 299), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 300), PMAP_LPN(300));
	/* a whole leaf (indices 128..255) went back to the pool */
	ck_assert_uint_eq(pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  800);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 0);
	ck_assert_uint_eq(pmap_get(&m, 500), PMAP_HOLE);
}
END_TEST

START_TEST(find_data_and_holes)
{
	struct pmap m;

	pmap_init(&m);
	ck_assert_uint_eq(pmap_find(&m, 0, 1), PMAP_MAX_INDEX);
	ck_assert_uint_eq(pmap_find(&m, 7, 0), 7);
	ck_assert_int_eq(pmap_set(pool, &m, 10, PMAP_LPN(1)), 0);
	ck_assert_int_eq(pmap_set(pool, &m, 11, PMAP_RESERVED), 0);
	ck_assert_int_eq(pmap_set(pool, &m, 100000, PMAP_LPN(2)), 0);
	ck_assert_uint_eq(pmap_find(&m, 0, 1), 10);
	ck_assert_uint_eq(pmap_find(&m, 10, 0), 12);
	ck_assert_uint_eq(pmap_find(&m, 12, 1), 100000);
	ck_assert_uint_eq(pmap_find(&m, 100000, 0), 100001);
	ck_assert_uint_eq(pmap_find(&m, 100001, 1), PMAP_MAX_INDEX);
	ck_assert_uint_eq(pmap_find(&m, 3, 0), 3);
	pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
}
END_TEST

START_TEST(exhausted_node_pool_is_enospc)
{
	struct pmap_pool *small;
	struct pmap m;
	uint64_t i;
	int ret = 0;

	struct pmap_meta meta;

	ck_assert_int_eq(pmap_pool_create(1 << 20, 4 * PMAP_NODE_BYTES, &small),
			 0);
	pmap_init(&m);
	/* one leaf per 128 pages: sparse pages use up four nodes quickly */
	for (i = 0; i < 64 && !ret; i++)
		ret = pmap_set(small, &m, i * 128, PMAP_LPN(i));
	ck_assert_int_eq(ret, -ENOSPC);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 4);
	pmap_pool_meta(small, &meta);
	ck_assert_uint_eq(meta.refused, 1);
	ck_assert_uint_eq(meta.node_bytes, 4 * PMAP_NODE_BYTES);
	/* what was set before stays readable */
	ck_assert_uint_eq(pmap_get(&m, 0), PMAP_LPN(0));
	pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 0);
	/* and the nodes are usable again */
	ck_assert_int_eq(pmap_set(small, &m, 5, PMAP_LPN(5)), 0);
	pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	pmap_pool_destroy(small);
}
END_TEST

START_TEST(capacity_is_counted_and_bounded)
{
	struct pmap_pool *p;

	ck_assert_int_eq(pmap_pool_create(100, 0, &p), 0);
	ck_assert_uint_eq(pmap_capacity(p), 100);
	ck_assert_int_eq(pmap_reserve(p, 60), 0);
	ck_assert_int_eq(pmap_reserve(p, 41), -ENOSPC);
	ck_assert_uint_eq(pmap_used(p), 60);
	ck_assert_int_eq(pmap_reserve(p, 40), 0);
	ck_assert_int_eq(pmap_reserve(p, 1), -ENOSPC);
	pmap_unreserve(p, 30);
	ck_assert_uint_eq(pmap_used(p), 70);
	ck_assert_int_eq(pmap_reserve(p, 30), 0);
	ck_assert_int_eq(pmap_reserve(p, UINT64_MAX), -ENOSPC);
	pmap_unreserve(p, 100);
	ck_assert_uint_eq(pmap_used(p), 0);
	pmap_pool_destroy(p);
}
END_TEST

START_TEST(default_budget_holds_one_leaf_per_page_of_capacity)
{
	struct pmap_pool *p;
	uint64_t pages = 1ull << 14; /* 64 MiB */
	struct pmap m[64];
	struct pmap_meta meta;

	ck_assert_int_eq(pmap_pool_create(pages, 0, &p), 0);
	ck_assert_uint_ge(pmap_pool_nodes_total(p), pages + pages / 64);
	/* the worst case: one page per leaf, far apart, in 64 files */
	for (uint64_t i = 0; i < pages; i++) {
		if (i < 64)
			pmap_init(&m[i]);
		ck_assert_int_eq(
			pmap_set(p, &m[i % 64], (i / 64) * 128, PMAP_LPN(i)),
			0);
	}
	pmap_pool_meta(p, &meta);
	ck_assert_uint_eq(meta.refused, 0);
	for (int i = 0; i < 64; i++)
		pmap_clear(p, &m[i], 0, PMAP_MAX_INDEX, NULL, NULL);
	pmap_pool_meta(p, &meta);
	ck_assert_uint_eq(meta.node_bytes, 0);
	pmap_pool_destroy(p);
}
END_TEST

START_TEST(namespace_charges_share_the_budget_and_are_refused_past_it)
{
	struct pmap_pool *p;
	struct pmap m;
	struct pmap_meta meta;

	ck_assert_int_eq(pmap_pool_create(1 << 20, 8 * PMAP_NODE_BYTES, &p), 0);
	pmap_init(&m);
	ck_assert_int_eq(pmap_pool_charge(p, 7 * PMAP_NODE_BYTES), 0);
	ck_assert_int_eq(pmap_pool_charge(p, PMAP_NODE_BYTES + 1), -ENOSPC);
	ck_assert_int_eq(pmap_set(p, &m, 0, PMAP_LPN(0)), 0); /* last node */
	ck_assert_int_eq(pmap_set(p, &m, 128, PMAP_LPN(1)), -ENOSPC);
	pmap_pool_meta(p, &meta);
	ck_assert_uint_eq(meta.charged_bytes, 7 * PMAP_NODE_BYTES);
	ck_assert_uint_eq(meta.refused, 2);
	pmap_pool_uncharge(p, 7 * PMAP_NODE_BYTES);
	ck_assert_int_eq(pmap_set(p, &m, 128, PMAP_LPN(1)), 0);
	pmap_clear(p, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	pmap_pool_destroy(p);
}
END_TEST

START_TEST(a_full_sequential_file_fits_the_default_pool)
{
	struct pmap_pool *p;
	uint64_t pages = 1ull << 18; /* 1 GiB */
	struct pmap m;

	ck_assert_int_eq(pmap_pool_create(pages, 0, &p), 0);
	pmap_init(&m);
	for (uint64_t i = 0; i < pages; i++)
		ck_assert_int_eq(pmap_set(p, &m, i, PMAP_LPN(i)), 0);
	for (uint64_t i = 0; i < pages; i += 4099)
		ck_assert_uint_eq(pmap_get(&m, i), PMAP_LPN(i));
	ck_assert_uint_eq(pmap_clear(p, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  pages);
	pmap_pool_destroy(p);
}
END_TEST

/* ---- runs: leaves and subtrees held as one word ---- */

#define LEAF 128ull
#define SUB2 8192ull /* pages under a node of height 2 */

/* Sets [first, first + n) to consecutive lpns from lpn. (Hot loops
 * check once at the end: each ck_assert is a write to Check's pipe.) */
static void set_seq(struct pmap_pool *p, struct pmap *m, uint64_t first,
		    uint64_t n, uint64_t lpn)
{
	int ret = 0;

	for (uint64_t i = 0; i < n && !ret; i++)
		ret = pmap_set(p, m, first + i, PMAP_LPN(lpn + i));
	ck_assert_int_eq(ret, 0);
}

/* The first index in [first, first + n) whose entry is not want(i), or
 * UINT64_MAX. */
#define FIRST_WRONG(m, first, n, want)                                         \
	({                                                                     \
		uint64_t w_ = UINT64_MAX;                                      \
		for (uint64_t i = (first); i < (first) + (n); i++)             \
			if (pmap_get((m), i) != (want)) {                      \
				w_ = i;                                        \
				break;                                         \
			}                                                      \
		w_;                                                            \
	})

START_TEST(a_leaf_of_consecutive_pages_collapses_into_a_run)
{
	struct pmap m;

	pmap_init(&m);
	/* index 128 on: a root node above the leaf, whose slot takes the run */
	set_seq(pool, &m, LEAF, LEAF - 1, 5000);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 2);
	set_seq(pool, &m, 2 * LEAF - 1, 1, 5000 + LEAF - 1);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1); /* the root */
	ck_assert_uint_eq(
		FIRST_WRONG(&m, LEAF, LEAF, PMAP_LPN(5000 + i - LEAF)),
		UINT64_MAX);
	ck_assert_uint_eq(pmap_get(&m, LEAF - 1), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 2 * LEAF), PMAP_HOLE);
	/* not consecutive: stays a leaf */
	set_seq(pool, &m, 3 * LEAF, LEAF, 9000);
	ck_assert_int_eq(pmap_set(pool, &m, 3 * LEAF + 7, PMAP_LPN(1)), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 2);
	ck_assert_uint_eq(pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  2 * LEAF);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 0);
}
END_TEST

START_TEST(reserved_leaves_and_their_parents_collapse_into_runs)
{
	struct pmap_meta meta;
	struct pmap m;
	int ret = 0;

	pmap_init(&m);
	/* two nodes of height 2 (64 MiB of file), fallocated */
	for (uint64_t i = 0; i < 2 * SUB2 && !ret; i++)
		ret = pmap_set(pool, &m, i, PMAP_RESERVED);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1);
	pmap_pool_meta(pool, &meta);
	ck_assert_uint_eq(meta.node_bytes, PMAP_NODE_BYTES);
	/* memory touched: a few nodes, not one per leaf */
	ck_assert_uint_le(meta.touched_bytes, 4 * PMAP_NODE_BYTES);
	ck_assert_uint_eq(FIRST_WRONG(&m, 0, 2 * SUB2, PMAP_RESERVED),
			  UINT64_MAX);
	ck_assert_uint_eq(pmap_get(&m, 2 * SUB2), PMAP_HOLE);
	/* consecutive lpns over a whole node of height 2 collapse too */
	set_seq(pool, &m, SUB2, SUB2, 100000);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1);
	ck_assert_uint_eq(pmap_get(&m, SUB2 + 4321), PMAP_LPN(104321));
	ck_assert_uint_eq(pmap_get(&m, 4321), PMAP_RESERVED);
	ck_assert_uint_eq(pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  2 * SUB2);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 0);
}
END_TEST

START_TEST(a_set_inside_a_run_expands_it_and_a_repair_collapses_it)
{
	struct pmap m;

	pmap_init(&m);
	set_seq(pool, &m, 0, 2 * SUB2, 7);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1);
	/* the same value: nothing to do */
	ck_assert_int_eq(pmap_set(pool, &m, 5000, PMAP_LPN(5007)), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1);
	/* another: the height-2 run and the leaf run under it expand */
	ck_assert_int_eq(pmap_set(pool, &m, 5000, PMAP_LPN(1)), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 3);
	ck_assert_uint_eq(
		FIRST_WRONG(&m, 0, 2 * SUB2,
			    i == 5000 ? PMAP_LPN(1) : PMAP_LPN(7 + i)),
		UINT64_MAX);
	ck_assert_int_eq(pmap_set(pool, &m, 5001, PMAP_HOLE), 0);
	ck_assert_int_eq(pmap_set(pool, &m, 9000, PMAP_RESERVED), 0);
	ck_assert_uint_eq(pmap_get(&m, 5001), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 9000), PMAP_RESERVED);
	ck_assert_uint_eq(pmap_get(&m, 9001), PMAP_LPN(9008));
	ck_assert_uint_eq(pmap_find(&m, 0, 0), 5001);
	/* put back: everything collapses again */
	ck_assert_int_eq(pmap_set(pool, &m, 5000, PMAP_LPN(5007)), 0);
	ck_assert_int_eq(pmap_set(pool, &m, 5001, PMAP_LPN(5008)), 0);
	ck_assert_int_eq(pmap_set(pool, &m, 9000, PMAP_LPN(9007)), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1);
	ck_assert_uint_eq(pmap_find(&m, 0, 0), 2 * SUB2);
	pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 0);
}
END_TEST

START_TEST(find_and_clear_work_across_runs)
{
	struct seen s = { 0 };
	uint64_t expect_idx = 0, expect_lpn = 0;
	struct pmap m;

	pmap_init(&m);
	set_seq(pool, &m, SUB2, 3 * SUB2, 40);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 1);
	ck_assert_uint_eq(pmap_find(&m, 0, 1), SUB2);
	ck_assert_uint_eq(pmap_find(&m, SUB2 + 9, 1), SUB2 + 9);
	ck_assert_uint_eq(pmap_find(&m, SUB2, 0), 4 * SUB2);
	ck_assert_uint_eq(pmap_find(&m, 5, 0), 5);
	/* a range cutting runs at both ends, one whole run inside */
	ck_assert_uint_eq(
		pmap_clear(pool, &m, SUB2 + 100, 3 * SUB2 + 5, count_cb, &s),
		2 * SUB2 - 95);
	for (uint64_t i = SUB2 + 100; i < 3 * SUB2 + 5; i++) {
		expect_idx += i;
		expect_lpn += 40 + i - SUB2;
	}
	ck_assert_uint_eq(s.n, 2 * SUB2 - 95);
	ck_assert_uint_eq(s.sum_idx, expect_idx);
	ck_assert_uint_eq(s.sum_lpn, expect_lpn);
	ck_assert_uint_eq(pmap_get(&m, SUB2 + 99), PMAP_LPN(40 + 99));
	ck_assert_uint_eq(pmap_get(&m, SUB2 + 100), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 3 * SUB2 + 4), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 3 * SUB2 + 5),
			  PMAP_LPN(40 + 2 * SUB2 + 5));
	ck_assert_uint_eq(pmap_find(&m, SUB2 + 50, 0), SUB2 + 100);
	ck_assert_uint_eq(pmap_find(&m, SUB2 + 100, 1), 3 * SUB2 + 5);
	/* a truncate inside the last run */
	ck_assert_uint_eq(
		pmap_clear(pool, &m, 4 * SUB2 - 3, PMAP_MAX_INDEX, NULL, NULL),
		3);
	ck_assert_uint_eq(pmap_get(&m, 4 * SUB2 - 4),
			  PMAP_LPN(40 + 3 * SUB2 - 4));
	ck_assert_uint_eq(pmap_clear(pool, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  100 + SUB2 - 5 - 3);
	ck_assert_uint_eq(pmap_pool_nodes_used(pool), 0);
}
END_TEST

START_TEST(the_budget_counts_a_run_as_the_nodes_it_stands_for)
{
	struct pmap_pool *small;
	struct pmap_meta meta;
	struct pmap m;

	/* a root and three leaves' worth */
	ck_assert_int_eq(pmap_pool_create(1 << 20, 4 * PMAP_NODE_BYTES, &small),
			 0);
	pmap_init(&m);
	set_seq(small, &m, 0, 3 * LEAF, 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 1);
	ck_assert_int_eq(pmap_set(small, &m, 3 * LEAF, PMAP_LPN(9)), -ENOSPC);
	pmap_pool_meta(small, &meta);
	ck_assert_uint_eq(meta.refused, 1);
	ck_assert_uint_eq(meta.node_bytes, PMAP_NODE_BYTES);
	/* the budget is full, yet breaking a run never fails */
	ck_assert_int_eq(pmap_set(small, &m, 5, PMAP_HOLE), 0);
	ck_assert_int_eq(pmap_set(small, &m, LEAF + 5, PMAP_RESERVED), 0);
	ck_assert_uint_eq(
		pmap_clear(small, &m, 2 * LEAF + 1, 2 * LEAF + 2, NULL, NULL),
		1);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 4);
	ck_assert_uint_eq(pmap_get(&m, 4), PMAP_LPN(4));
	ck_assert_uint_eq(pmap_get(&m, 5), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, LEAF + 5), PMAP_RESERVED);
	ck_assert_uint_eq(pmap_get(&m, 2 * LEAF + 1), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 2 * LEAF + 2), PMAP_LPN(2 * LEAF + 2));
	/* a whole run cleared gives its budget back */
	pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 0);
	set_seq(small, &m, 0, 3 * LEAF, 0);
	pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	pmap_pool_destroy(small);
}
END_TEST

/* A pool in caller memory, as in a state arena. */
static struct pmap_pool *pool_at(void *mem, uint64_t len)
{
	struct pmap_pool *p;

	ck_assert_int_eq(pmap_pool_create_at(1 << 20, 256 * PMAP_NODE_BYTES,
					     mem, len, &p),
			 0);
	return p;
}

START_TEST(a_map_with_runs_resumes_in_a_new_pool)
{
	uint64_t len = pmap_pool_bytes(1 << 20, 256 * PMAP_NODE_BYTES), entries;
	_Atomic uint64_t word = 0, *child;
	struct pmap_pool *p, *q;
	void *mem = calloc(1, len);
	struct pmap m, r;

	ck_assert_ptr_nonnull(mem);
	p = pool_at(mem, len);
	pmap_init(&m);
	pmap_bind(&m, p, &word);
	set_seq(p, &m, 0, 2 * SUB2, 300); /* a height-2 run, then more */
	ck_assert_int_eq(pmap_set(p, &m, 3, PMAP_LPN(1)), 0); /* breaks it */
	for (uint64_t i = 0; i < LEAF; i++) /* a reserved run */
		ck_assert_int_eq(
			pmap_set(p, &m, 2 * SUB2 + LEAF + i, PMAP_RESERVED), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(p), 4);
	/* the process dies: the pool is left in mem, its memory reused */
	q = pool_at(mem, len);
	pmap_init(&r);
	pmap_bind(&r, q, &word);
	ck_assert_int_eq(pmap_pool_resume_begin(q), 0);
	ck_assert_int_eq(pmap_resume(q, &r, &entries), 0);
	pmap_pool_resume_end(q);
	ck_assert_uint_eq(entries, 2 * SUB2 + LEAF);
	ck_assert_uint_eq(pmap_pool_nodes_used(q), 4);
	ck_assert_uint_eq(FIRST_WRONG(&r, 0, 2 * SUB2,
				      i == 3 ? PMAP_LPN(1) : PMAP_LPN(300 + i)),
			  UINT64_MAX);
	ck_assert_uint_eq(pmap_get(&r, 2 * SUB2 + LEAF + 9), PMAP_RESERVED);
	/* the budget counts the runs as the subtrees they stand for: the
	 * root, two of height 2 (65 nodes each), one with a leaf (2) */
	ck_assert_int_eq(pmap_pool_charge(q, (256 - 133) * PMAP_NODE_BYTES), 0);
	ck_assert_int_eq(pmap_pool_charge(q, 1), -ENOSPC);
	pmap_pool_uncharge(q, (256 - 133) * PMAP_NODE_BYTES);
	/* a break of a resumed run needs no budget */
	ck_assert_int_eq(pmap_set(q, &r, SUB2 + 1, PMAP_HOLE), 0);
	ck_assert_uint_eq(pmap_get(&r, SUB2 + 2), PMAP_LPN(300 + SUB2 + 2));
	ck_assert_uint_eq(pmap_clear(q, &r, 0, PMAP_MAX_INDEX, NULL, NULL),
			  2 * SUB2 - 1 + LEAF);
	ck_assert_uint_eq(pmap_pool_nodes_used(q), 0);
	pmap_pool_destroy(q);

	/* a damaged run word (a run of holes) is refused */
	q = pool_at(mem, len);
	set_seq(q, &m, 0, 2 * SUB2, 300);
	pmap_pool_destroy(q);
	child = (_Atomic uint64_t *)((char *)mem + (atomic_load(&word) >> 8) *
							   PMAP_NODE_BYTES);
	ck_assert(atomic_load(&child[0]) >> 63); /* a run */
	atomic_store(&child[0], 1ull << 63);
	q = pool_at(mem, len);
	pmap_bind(&r, q, &word);
	ck_assert_int_eq(pmap_pool_resume_begin(q), 0);
	ck_assert_int_eq(pmap_resume(q, &r, &entries), -EUCLEAN);
	pmap_pool_resume_end(q);
	pmap_pool_destroy(q);
	pmap_pool_destroy(p);
	free(mem);
}
END_TEST

START_TEST(a_small_file_written_from_its_start_takes_no_node)
{
	struct pmap_pool *small;
	struct seen s = { 0 };
	struct pmap m;

	ck_assert_int_eq(pmap_pool_create(1 << 20, 4 * PMAP_NODE_BYTES, &small),
			 0);
	pmap_init(&m);
	set_seq(small, &m, 0, 10, 70);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 0);
	ck_assert_uint_eq(pmap_get(&m, 9), PMAP_LPN(79));
	ck_assert_uint_eq(pmap_get(&m, 10), PMAP_HOLE);
	ck_assert_uint_eq(pmap_find(&m, 0, 0), 10);
	ck_assert_uint_eq(pmap_find(&m, 3, 1), 3);
	ck_assert_uint_eq(pmap_find(&m, 10, 1), PMAP_MAX_INDEX);
	/* charged as the leaf it stands for */
	ck_assert_int_eq(pmap_pool_charge(small, 3 * PMAP_NODE_BYTES), 0);
	ck_assert_int_eq(pmap_pool_charge(small, 1), -ENOSPC);
	pmap_pool_uncharge(small, 3 * PMAP_NODE_BYTES);
	/* a truncate shortens it */
	ck_assert_uint_eq(
		pmap_clear(small, &m, 6, PMAP_MAX_INDEX, count_cb, &s), 4);
	ck_assert_uint_eq(s.sum_lpn, 76 + 77 + 78 + 79);
	ck_assert_uint_eq(pmap_get(&m, 5), PMAP_LPN(75));
	ck_assert_uint_eq(pmap_get(&m, 6), PMAP_HOLE);
	/* a set elsewhere, or a punch inside, makes it a leaf */
	ck_assert_int_eq(pmap_set(small, &m, 2, PMAP_RESERVED), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 1);
	ck_assert_uint_eq(pmap_get(&m, 2), PMAP_RESERVED);
	ck_assert_uint_eq(pmap_get(&m, 3), PMAP_LPN(73));
	pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 0);
	set_seq(small, &m, 0, 6, 70);
	ck_assert_uint_eq(pmap_clear(small, &m, 1, 2, NULL, NULL), 1);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 1);
	ck_assert_uint_eq(pmap_get(&m, 1), PMAP_HOLE);
	ck_assert_uint_eq(pmap_get(&m, 5), PMAP_LPN(75));
	pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL);
	/* fallocated up to 512 KiB, then grown past a leaf */
	for (uint64_t i = 0; i < LEAF; i++)
		ck_assert_int_eq(pmap_set(small, &m, i, PMAP_RESERVED), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 0);
	ck_assert_int_eq(pmap_set(small, &m, LEAF, PMAP_RESERVED), 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 2); /* root, leaf */
	ck_assert_uint_eq(pmap_get(&m, LEAF - 1), PMAP_RESERVED);
	ck_assert_uint_eq(pmap_get(&m, LEAF), PMAP_RESERVED);
	ck_assert_uint_eq(pmap_clear(small, &m, 0, PMAP_MAX_INDEX, NULL, NULL),
			  LEAF + 1);
	ck_assert_uint_eq(pmap_pool_nodes_used(small), 0);
	/* all the budget is back */
	ck_assert_int_eq(pmap_pool_charge(small, 4 * PMAP_NODE_BYTES), 0);
	pmap_pool_uncharge(small, 4 * PMAP_NODE_BYTES);
	pmap_pool_destroy(small);
}
END_TEST

START_TEST(a_root_run_resumes_and_a_damaged_one_is_refused)
{
	uint64_t len = pmap_pool_bytes(1 << 20, 256 * PMAP_NODE_BYTES), entries;
	static const uint64_t bad[] = {
		1ull << 63 | 0ull << 32 | 9,	     /* no entries */
		1ull << 63 | 129ull << 32 | 9,	     /* more than a leaf */
		1ull << 63 | 3ull << 32 | PMAP_HOLE, /* a run of holes */
		1ull << 63 | 3ull << 32 | (UINT32_MAX - 1), /* past the end */
		1ull << 63 | 1ull << 50 | 3ull << 32 | 9,   /* stray bits */
	};
	_Atomic uint64_t word = 0;
	void *mem = calloc(1, len);
	struct pmap_pool *p;
	struct pmap m;

	ck_assert_ptr_nonnull(mem);
	p = pool_at(mem, len);
	pmap_init(&m);
	pmap_bind(&m, p, &word);
	set_seq(p, &m, 0, 7, 1000);
	pmap_pool_destroy(p);
	p = pool_at(mem, len);
	pmap_init(&m);
	pmap_bind(&m, p, &word);
	ck_assert_int_eq(pmap_pool_resume_begin(p), 0);
	ck_assert_int_eq(pmap_resume(p, &m, &entries), 0);
	pmap_pool_resume_end(p);
	ck_assert_uint_eq(entries, 7);
	ck_assert_uint_eq(pmap_pool_nodes_used(p), 0);
	ck_assert_uint_eq(pmap_get(&m, 6), PMAP_LPN(1006));
	/* its leaf's worth of budget is counted */
	ck_assert_int_eq(pmap_pool_charge(p, 255 * PMAP_NODE_BYTES), 0);
	ck_assert_int_eq(pmap_pool_charge(p, 1), -ENOSPC);
	pmap_pool_destroy(p);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		atomic_store(&word, bad[i]);
		p = pool_at(mem, len);
		ck_assert_int_eq(pmap_pool_resume_begin(p), 0);
		ck_assert_int_eq(pmap_resume(p, &m, &entries), -EUCLEAN);
		pmap_pool_resume_end(p);
		pmap_pool_destroy(p);
	}
	free(mem);
}
END_TEST

struct model {
	struct pmap_pool *p;
	struct pmap m;
	unsigned int seed;
	int ret, small; /* small: writes from 0 and truncates, often */
	uint32_t *e;
	uint64_t n, cleared, bad, shrank;
};

static void model_cb(void *arg, uint64_t idx, uint32_t old)
{
	struct model *md = arg;

	if (idx >= md->n || old != md->e[idx] || old == PMAP_HOLE)
		md->bad++;
	else
		md->e[idx] = PMAP_HOLE;
	md->cleared++;
}

/* Every entry, and finds from every 997th index, against the array. */
static void model_check(const struct pmap *m, const struct model *md)
{
	uint64_t i, j, f, bad = UINT64_MAX;

	for (i = 0; i < md->n && bad == UINT64_MAX; i++)
		if (pmap_get(m, i) != md->e[i])
			bad = i;
	ck_assert_uint_eq(bad, UINT64_MAX);
	for (i = 0; i < md->n && bad == UINT64_MAX; i += 997) {
		f = pmap_find(m, i, 1);
		for (j = i; j < f && j < md->n; j++)
			if (md->e[j] != PMAP_HOLE)
				bad = j;
		if (f < md->n && md->e[f] == PMAP_HOLE)
			bad = f;
		f = pmap_find(m, i, 0);
		for (j = i; j < f && j < md->n; j++)
			if (md->e[j] == PMAP_HOLE)
				bad = j;
		if (f < md->n && md->e[f] != PMAP_HOLE)
			bad = f;
	}
	ck_assert_uint_eq(bad, UINT64_MAX);
}

/* ops random writes, fallocates, single sets and clears on md->m, each
 * applied to md->e too; stops at the first difference (md->bad). */
static void model_ops(struct model *md, int ops)
{
	uint64_t a, len, cleared, used;

	for (int op = 0; op < ops && !md->ret && !md->bad; op++) {
		int kind = rand_r(&md->seed) % 8;
		uint32_t base = 2 + rand_r(&md->seed) % 100000, v;

		a = rand_r(&md->seed) % md->n;
		/* lengths that make and cut runs of leaves and subtrees */
		len = 1 + rand_r(&md->seed) % (kind < 3 ? 3 * SUB2 : 300);
		if (md->small && rand_r(&md->seed) % 3 == 0) {
			a = 0; /* files written from their start */
			len = 1 + rand_r(&md->seed) % 160;
		}
		if (md->small && kind == 3 && rand_r(&md->seed) % 2)
			a = rand_r(&md->seed) % 2 ? 0 : a; /* and truncated */
		if (a + len > md->n || (md->small && kind == 3 && a % 2 == 0))
			len = md->n - a;
		used = pmap_pool_nodes_used(md->p);
		if (kind == 3) { /* a punch or truncate */
			md->cleared = 0;
			cleared = pmap_clear(md->p, &md->m, a, a + len,
					     model_cb, md);
			if (cleared != md->cleared)
				md->bad++;
			continue;
		}
		for (uint64_t i = 0; i < len && !md->ret; i++) {
			if (kind < 2 || kind == 4) /* a sequential write */
				v = base + i;
			else if (kind == 2 || kind == 5) /* an fallocate */
				v = PMAP_RESERVED;
			else if (rand_r(&md->seed) % 3 == 0) /* single sets */
				v = PMAP_HOLE;
			else
				v = rand_r(&md->seed) % 2 ? PMAP_RESERVED
							  : base;
			md->ret = pmap_set(md->p, &md->m, a + i, v);
			md->e[a + i] = v;
			if (kind >= 6)
				break;
		}
		if (pmap_pool_nodes_used(md->p) < used)
			md->shrank++; /* a write made runs */
		if (op % 100 == 0)
			model_check(&md->m, md);
		for (int k = 0; k < 20; k++) {
			uint64_t i = rand_r(&md->seed) % md->n;

			if (pmap_get(&md->m, i) != md->e[i])
				md->bad++;
		}
	}
	ck_assert_int_eq(md->ret, 0);
	ck_assert_uint_eq(md->bad, 0);
	model_check(&md->m, md);
}

/* Clears the whole map: every entry the array has comes back once. */
static void model_clear_all(struct model *md)
{
	md->cleared = 0;
	pmap_clear(md->p, &md->m, 0, PMAP_MAX_INDEX, model_cb, md);
	ck_assert_uint_eq(md->bad, 0);
	for (uint64_t i = 0; i < md->n; i++)
		if (md->e[i] != PMAP_HOLE)
			md->bad++;
	ck_assert_uint_eq(md->bad, 0);
	ck_assert_uint_eq(pmap_pool_nodes_used(md->p), 0);
}

START_TEST(random_sets_and_clears_match_a_plain_array)
{
	struct model md = { .n = 5 * SUB2, .p = pool, .seed = 15 };

	md.e = calloc(md.n, sizeof(*md.e));
	ck_assert_ptr_nonnull(md.e);
	pmap_init(&md.m);
	model_ops(&md, 3000);
	ck_assert_uint_gt(md.shrank, 100);
	model_clear_all(&md);
	free(md.e);
}
END_TEST

START_TEST(random_sets_and_clears_match_a_plain_array_of_a_small_file)
{
	struct model md = { .n = 200, .p = pool, .seed = 12, .small = 1 };

	md.e = calloc(md.n, sizeof(*md.e));
	ck_assert_ptr_nonnull(md.e);
	pmap_init(&md.m);
	model_ops(&md, 4000);
	model_clear_all(&md);
	free(md.e);
}
END_TEST

START_TEST(random_sets_and_clears_match_a_plain_array_across_resumes)
{
	const uint64_t budget = 4096 * PMAP_NODE_BYTES;
	uint64_t len = pmap_pool_bytes(1 << 20, budget), entries, used, n;
	struct model md = { .n = 5 * SUB2, .seed = 1415 };
	_Atomic uint64_t word = 0;
	void *mem = calloc(1, len);

	md.e = calloc(md.n, sizeof(*md.e));
	ck_assert_ptr_nonnull(mem);
	ck_assert_ptr_nonnull(md.e);
	ck_assert_int_eq(pmap_pool_create_at(1 << 20, budget, mem, len, &md.p),
			 0);
	pmap_init(&md.m);
	pmap_bind(&md.m, md.p, &word);
	for (int round = 0; round < 6; round++) {
		model_ops(&md, 500);
		/* the process dies; a successor resumes the pool in mem */
		used = pmap_pool_nodes_used(md.p);
		pmap_pool_destroy(md.p);
		ck_assert_int_eq(
			pmap_pool_create_at(1 << 20, budget, mem, len, &md.p),
			0);
		pmap_init(&md.m);
		pmap_bind(&md.m, md.p, &word);
		ck_assert_int_eq(pmap_pool_resume_begin(md.p), 0);
		ck_assert_int_eq(pmap_resume(md.p, &md.m, &entries), 0);
		pmap_pool_resume_end(md.p);
		n = 0;
		for (uint64_t i = 0; i < md.n; i++)
			n += md.e[i] != PMAP_HOLE;
		ck_assert_uint_eq(entries, n);
		ck_assert_uint_eq(pmap_pool_nodes_used(md.p), used);
		model_check(&md.m, &md);
	}
	ck_assert_uint_gt(md.shrank, 100);
	model_clear_all(&md);
	pmap_pool_destroy(md.p);
	free(md.e);
	free(mem);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"pmap",
		&(const struct cnm_tcase_opt){ .setup = setup,
					       .teardown = teardown },
		CNM_TESTS(
			unset_entries_read_as_holes,
			set_get_across_growing_heights,
			clear_range_frees_only_that_range, find_data_and_holes,
			exhausted_node_pool_is_enospc,
			capacity_is_counted_and_bounded,
			default_budget_holds_one_leaf_per_page_of_capacity,
			namespace_charges_share_the_budget_and_are_refused_past_it,
			a_full_sequential_file_fits_the_default_pool,
			a_leaf_of_consecutive_pages_collapses_into_a_run,
			reserved_leaves_and_their_parents_collapse_into_runs,
			a_set_inside_a_run_expands_it_and_a_repair_collapses_it,
			find_and_clear_work_across_runs,
			the_budget_counts_a_run_as_the_nodes_it_stands_for,
			a_map_with_runs_resumes_in_a_new_pool,
			a_small_file_written_from_its_start_takes_no_node,
			a_root_run_resumes_and_a_damaged_one_is_refused,
			random_sets_and_clears_match_a_plain_array,
			random_sets_and_clears_match_a_plain_array_of_a_small_file,
			random_sets_and_clears_match_a_plain_array_across_resumes));
}
