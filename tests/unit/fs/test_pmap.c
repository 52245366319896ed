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
			a_full_sequential_file_fits_the_default_pool));
}
