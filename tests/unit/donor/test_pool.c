// SPDX-License-Identifier: GPL-2.0-or-later
#include "donor/pool.h"
#include "donor/session.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* keyless binds: a new session, and the same one again */
static const uint8_t zero_secret[AUTH_KEY_LEN];
static const struct session_bind fresh = { .secret = zero_secret };
static const struct session_bind again = { .resume = 1,
					   .old_secret = zero_secret };

#define MIB (1ull << 20)

static struct pool *mkpool(uint64_t bytes)
{
	struct pool *p = NULL;
	char err[256];

	ck_assert_int_eq(pool_create(bytes, POOL_NO_LOCK | POOL_NO_HUGETLB, &p,
				     err, sizeof(err)),
			 0);
	return p;
}

START_TEST(pool_carves_whole_chunks)
{
	struct pool *p = mkpool(10 * MIB + 12345);
	struct pool *q;
	char err[256];

	ck_assert_uint_eq(pool_chunks(p), 10);
	ck_assert_uint_eq(pool_total_bytes(p), 10 * MIB);
	ck_assert_uint_eq(pool_free_bytes(p), 10 * MIB);
	ck_assert_uint_eq(pool_free_slabs(p, 4 * MIB), 2);
	ck_assert_int_eq(
		pool_create(MIB - 1, POOL_NO_LOCK, &q, err, sizeof(err)),
		-EINVAL);
	pool_destroy(p);
}
END_TEST

START_TEST(pool_allocates_contiguous_runs_first_fit)
{
	struct pool *p = mkpool(8 * MIB);
	uint32_t a, b, c, d;

	ck_assert_int_eq(pool_alloc(p, 2 * MIB, &a), 0);
	ck_assert_int_eq(pool_alloc(p, 2 * MIB, &b), 0);
	ck_assert_int_eq(pool_alloc(p, 2 * MIB, &c), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 2);
	ck_assert_uint_eq(c, 4);
	ck_assert_ptr_eq(pool_addr(p, b), (char *)pool_addr(p, a) + 2 * MIB);
	/* free the middle: 2 + 2 free chunks, but not 4 contiguous */
	pool_release(p, b, 2 * MIB);
	ck_assert_int_eq(pool_alloc(p, 4 * MIB, &d), -ENOSPC);
	ck_assert_int_eq(pool_alloc(p, 1 * MIB, &d), 0);
	ck_assert_uint_eq(d, 2); /* first fit */
	pool_destroy(p);
}
END_TEST

START_TEST(free_slab_counts_follow_every_alloc_and_release_after_a_query)
{
	struct pool *p = mkpool(200 * MIB);
	uint32_t s[100];

	/* 200 chunks: whole free words, then a used run across them */
	ck_assert_uint_eq(pool_free_slabs(p, 2 * MIB), 100);
	ck_assert_uint_eq(pool_free_slabs(p, 64 * MIB), 3);
	ck_assert_uint_eq(pool_free_slabs(p, 2 * MIB), 100); /* cached */
	for (int i = 0; i < 70; i++)
		ck_assert_int_eq(pool_alloc(p, 2 * MIB, &s[i]), 0);
	ck_assert_uint_eq(pool_free_slabs(p, 2 * MIB), 30);
	ck_assert_uint_eq(pool_free_slabs(p, 64 * MIB), 0);
	pool_release(p, s[3], 2 * MIB);
	ck_assert_uint_eq(pool_free_slabs(p, 2 * MIB), 31);
	for (int i = 0; i < 70; i++)
		if (i != 3)
			pool_release(p, s[i], 2 * MIB);
	ck_assert_uint_eq(pool_free_slabs(p, 64 * MIB), 3);
	ck_assert_uint_eq(pool_free_slabs(p, MIB), 200);
	pool_destroy(p);
}
END_TEST

START_TEST(pool_exhaustion_is_enospc)
{
	struct pool *p = mkpool(4 * MIB);
	uint32_t s;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pool_alloc(p, MIB, &s), 0);
	ck_assert_int_eq(pool_alloc(p, MIB, &s), -ENOSPC);
	ck_assert_int_eq(pool_alloc(p, 8 * MIB, &s), -ENOSPC);
	ck_assert_int_eq(pool_alloc(p, 12345, &s), -EINVAL);
	ck_assert_uint_eq(pool_free_bytes(p), 0);
	ck_assert_uint_eq(pool_free_slabs(p, MIB), 0);
	pool_destroy(p);
}
END_TEST

START_TEST(pool_zeroes_a_slab_before_reuse)
{
	struct pool *p = mkpool(2 * MIB);
	uint32_t s, t;
	uint8_t *m;

	ck_assert_int_eq(pool_alloc(p, 2 * MIB, &s), 0);
	m = pool_addr(p, s);
	memset(m, 0x5a, 2 * MIB);
	pool_release(p, s, 2 * MIB);
	ck_assert_int_eq(pool_alloc(p, 2 * MIB, &t), 0);
	m = pool_addr(p, t);
	for (uint64_t i = 0; i < 2 * MIB; i++)
		if (m[i])
			ck_abort_msg("byte %llu not zeroed",
				     (unsigned long long)i);
	pool_destroy(p);
}
END_TEST

static void no_evict(struct session_conn *c, uint32_t slab, uint64_t dl)
{
}

START_TEST(sessions_touch_only_their_own_slabs)
{
	struct donor_cfg cfg = { .grace_ms = 60000, .tick_ms = 1000 };
	struct session_conn ca = { .evict = no_evict },
			    cb = { .evict = no_evict };
	uint8_t ida[PROTO_SESSION_LEN] = { 1 }, idb[PROTO_SESSION_LEN] = { 2 };
	struct session *a, *b;
	struct wire_slab sa, sb;
	struct donor *d;
	void *addr;

	ck_assert_int_eq(donor_create(&cfg, mkpool(4 * MIB), &d), 0);
	ck_assert_int_eq(session_attach(d, ida, MIB, &fresh, &ca, &a), 0);
	ck_assert_int_eq(session_attach(d, idb, 2 * MIB, &fresh, &cb, &b), 0);
	ck_assert_int_eq(session_alloc(a, &sa), 0);
	ck_assert_int_eq(session_alloc(b, &sb), 0);
	ck_assert_uint_eq(sb.size, 2 * MIB);
	/* own slab, inside */
	ck_assert_int_eq(session_io_begin(a, sa.slab, 0, MIB, &addr), 0);
	session_io_end(a, sa.slab, MIB, 0);
	ck_assert_int_eq(session_io_begin(a, sa.slab, MIB - 1, 1, &addr), 0);
	session_io_end(a, sa.slab, 0, 1);
	/* own slab, outside, and offsets that would overflow */
	ck_assert_int_eq(session_io_begin(a, sa.slab, MIB - 1, 2, &addr),
			 -EFAULT);
	ck_assert_int_eq(session_io_begin(a, sa.slab, MIB + 1, 0, &addr),
			 -EFAULT);
	ck_assert_int_eq(session_io_begin(a, sa.slab, UINT64_MAX, 2, &addr),
			 -EFAULT);
	ck_assert_int_eq(session_io_begin(a, sa.slab, 16, UINT32_MAX, &addr),
			 -EFAULT);
	/* another session's slab, an unallocated one, a bogus id */
	ck_assert_int_eq(session_io_begin(a, sb.slab, 0, 1, &addr), -EINVAL);
	ck_assert_int_eq(session_io_begin(b, sa.slab, 0, 1, &addr), -EINVAL);
	ck_assert_int_eq(session_io_begin(a, 3, 0, 1, &addr), -EINVAL);
	ck_assert_int_eq(session_io_begin(a, 1u << 31, 0, 1, &addr), -EINVAL);
	ck_assert_int_eq(session_free(b, sa.slab), -EINVAL);
	/* a session id comes back with the same slab size only */
	ck_assert_int_eq(session_attach(d, ida, 2 * MIB, &again, &cb, &b),
			 -EINVAL);
	ck_assert_int_eq(session_free(a, sa.slab), 0);
	ck_assert_int_eq(session_free(a, sa.slab), -EINVAL);
	ck_assert_int_eq(session_io_begin(a, sa.slab, 0, 1, &addr), -EINVAL);
	session_detach(a, &ca);
	session_detach(b, &cb);
	donor_destroy(d);
}
END_TEST

START_TEST(state_counts_slabs_and_bytes)
{
	struct donor_cfg cfg = { .grace_ms = 60000, .tick_ms = 1000 };
	struct session_conn c = { .evict = no_evict };
	uint8_t id[PROTO_SESSION_LEN] = { 7 };
	struct wire_state st;
	struct wire_slab s;
	struct session *a;
	struct donor *d;
	void *addr;

	ck_assert_int_eq(donor_create(&cfg, mkpool(8 * MIB), &d), 0);
	ck_assert_int_eq(session_attach(d, id, 2 * MIB, &fresh, &c, &a), 0);
	ck_assert_int_eq(session_alloc(a, &s), 0);
	ck_assert_int_eq(session_io_begin(a, s.slab, 0, 100, &addr), 0);
	session_io_end(a, s.slab, 100, 0);
	session_state(a, &st);
	ck_assert_uint_eq(st.total_bytes, 8 * MIB);
	ck_assert_uint_eq(st.free_bytes, 6 * MIB);
	ck_assert_uint_eq(st.total_slabs, 4);
	ck_assert_uint_eq(st.free_slabs, 3);
	ck_assert_uint_eq(st.session_slabs, 1);
	ck_assert_uint_eq(st.clients, 1);
	ck_assert_uint_eq(st.bytes_read, 100);
	ck_assert_uint_eq(donor_reclaim(d, 1), 1);
	session_state(a, &st);
	ck_assert_uint_eq(st.evicting, 1);
	session_detach(a, &c);
	donor_destroy(d);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"pool", NULL,
		CNM_TESTS(
			pool_carves_whole_chunks,
			pool_allocates_contiguous_runs_first_fit,
			free_slab_counts_follow_every_alloc_and_release_after_a_query,
			pool_exhaustion_is_enospc,
			pool_zeroes_a_slab_before_reuse,
			sessions_touch_only_their_own_slabs,
			state_counts_slabs_and_bytes));
}
