// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of batch_form's merge and chain rules and of the leader queue. */
#include "rdma/batch.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define K4	     4096u
#define CTL_DIR	     2 /* an opaque backend entry, as tcp.c uses */
#define MAX_TEST_IOS 64

static struct xport_io ios[MAX_TEST_IOS];
static unsigned int nios;
static struct batch_op ops[MAX_TEST_IOS];
static const struct batch_limits lim_def = { 32, 512u << 10, 0 };

static struct xport_io *mk(uint8_t dir, uint32_t slab, uint64_t off,
			   uint32_t len)
{
	struct xport_io *io = &ios[nios++];

	memset(io, 0, sizeof(*io));
	io->dir = dir;
	io->slab = slab;
	io->off = off;
	io->len = len;
	return io;
}

/* Links ios[0..nios) in order and returns the list. */
static struct xport_io *list_all(void)
{
	unsigned int i;

	for (i = 0; i < nios; i++)
		ios[i].next = i + 1 < nios ? &ios[i + 1] : NULL;
	return nios ? &ios[0] : NULL;
}

static void reset(void)
{
	nios = 0;
	memset(ops, 0, sizeof(ops));
}

/* ios of op, as indexes into ios[], -1 terminated in out */
static void op_ios(const struct batch_op *op, int *out)
{
	struct xport_io *io;
	unsigned int n = 0;

	for (io = op->ios; io; io = io->next)
		out[n++] = (int)(io - ios);
	out[n] = -1;
	ck_assert_uint_eq(n, op->nios);
}

START_TEST(contiguous_ios_merge_in_offset_order)
{
	struct xport_io *l;
	int idx[8];

	reset();
	mk(XPORT_WRITE, 3, 0, K4);
	mk(XPORT_WRITE, 3, K4, K4);
	mk(XPORT_WRITE, 3, 2 * K4, K4);
	mk(XPORT_WRITE, 3, 3 * K4, 2 * K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 1);
	ck_assert_ptr_null(l);
	ck_assert_uint_eq(ops[0].off, 0);
	ck_assert_uint_eq(ops[0].len, 5 * K4);
	ck_assert_uint_eq(ops[0].slab, 3);
	ck_assert_uint_eq(ops[0].dir, XPORT_WRITE);
	op_ios(&ops[0], idx);
	ck_assert_int_eq(idx[0], 0);
	ck_assert_int_eq(idx[3], 3);
	ck_assert_int_eq(idx[4], -1);
}
END_TEST

START_TEST(descending_ios_merge_by_prepending)
{
	struct xport_io *l;
	int idx[8];

	reset();
	mk(XPORT_READ, 1, 2 * K4, K4);
	mk(XPORT_READ, 1, K4, K4);
	mk(XPORT_READ, 1, 0, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 1);
	ck_assert_uint_eq(ops[0].off, 0);
	ck_assert_uint_eq(ops[0].len, 3 * K4);
	op_ios(&ops[0], idx);
	ck_assert_int_eq(idx[0], 2);
	ck_assert_int_eq(idx[1], 1);
	ck_assert_int_eq(idx[2], 0);
}
END_TEST

START_TEST(gap_makes_two_ops_in_one_chain)
{
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, K4);
	mk(XPORT_WRITE, 1, 2 * K4, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 2);
	ck_assert_uint_eq(ops[0].off, 0);
	ck_assert_uint_eq(ops[1].off, 2 * K4);
	ck_assert_uint_eq(ops[0].nios, 1);
	ck_assert_uint_eq(ops[1].nios, 1);
}
END_TEST

START_TEST(slab_boundary_is_never_crossed)
{
	struct xport_io *l;
	const uint64_t slab = 64ull << 20;

	reset();
	/* the end of slab 1 and the start of slab 2, and same offsets in
	 * different slabs: nothing merges */
	mk(XPORT_WRITE, 1, slab - K4, K4);
	mk(XPORT_WRITE, 2, 0, K4);
	mk(XPORT_WRITE, 3, slab, K4);
	mk(XPORT_WRITE, 2, 2 * K4, K4);
	mk(XPORT_WRITE, 1, slab, K4); /* same slab: merges with the first */
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 4);
	ck_assert_uint_eq(ops[0].slab, 1);
	ck_assert_uint_eq(ops[0].nios, 2);
	ck_assert_uint_eq(ops[1].slab, 2);
	ck_assert_uint_eq(ops[1].nios, 1);
	ck_assert_uint_eq(ops[2].slab, 3);
	ck_assert_uint_eq(ops[3].slab, 2);
}
END_TEST

START_TEST(max_op_bytes_splits_a_run)
{
	struct batch_limits lim = { 32, 4 * K4, 0 };
	struct xport_io *l;
	unsigned int i;

	reset();
	for (i = 0; i < 10; i++)
		mk(XPORT_WRITE, 1, i * K4, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim, ops), 3);
	ck_assert_uint_eq(ops[0].len, 4 * K4);
	ck_assert_uint_eq(ops[1].off, 4 * K4);
	ck_assert_uint_eq(ops[1].len, 4 * K4);
	ck_assert_uint_eq(ops[2].len, 2 * K4);
}
END_TEST

START_TEST(io_larger_than_max_op_bytes_is_its_own_op)
{
	struct batch_limits lim = { 32, 2 * K4, 0 };
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, 4 * K4);
	mk(XPORT_WRITE, 1, 4 * K4, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim, ops), 2);
	ck_assert_uint_eq(ops[0].len, 4 * K4);
	ck_assert_uint_eq(ops[1].len, K4);
}
END_TEST

START_TEST(max_ios_per_op_splits_a_run)
{
	struct batch_limits lim = { 32, 1u << 20, 3 };
	struct xport_io *l;
	unsigned int i;

	reset();
	for (i = 0; i < 7; i++)
		mk(XPORT_READ, 1, i * 512, 512);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim, ops), 3);
	ck_assert_uint_eq(ops[0].nios, 3);
	ck_assert_uint_eq(ops[1].nios, 3);
	ck_assert_uint_eq(ops[2].nios, 1);
	ck_assert_uint_eq(ops[2].off, 6 * 512);
}
END_TEST

START_TEST(max_chain_leaves_the_rest_in_order)
{
	struct batch_limits lim = { 3, 512u << 10, 0 };
	struct xport_io *l;
	unsigned int i;

	reset();
	for (i = 0; i < 5; i++)
		mk(XPORT_WRITE, 1, 2 * i * K4, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim, ops), 3);
	ck_assert_ptr_eq(l, &ios[3]);
	ck_assert_ptr_eq(ios[3].next, &ios[4]);
	ck_assert_uint_eq(batch_form(&l, &lim, ops), 2);
	ck_assert_ptr_null(l);
	ck_assert_ptr_eq(ops[0].ios, &ios[3]);
	ck_assert_ptr_eq(ops[1].ios, &ios[4]);
}
END_TEST

START_TEST(full_chain_still_takes_ios_that_merge)
{
	struct batch_limits lim = { 2, 512u << 10, 0 };
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, K4);
	mk(XPORT_WRITE, 1, 8 * K4, K4);
	mk(XPORT_WRITE, 1, 9 * K4, K4);	 /* merges: the chain is full */
	mk(XPORT_WRITE, 1, 20 * K4, K4); /* does not fit */
	mk(XPORT_WRITE, 1, K4, K4);	 /* would merge, must not jump ahead */
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim, ops), 2);
	ck_assert_uint_eq(ops[1].nios, 2);
	ck_assert_ptr_eq(l, &ios[3]);
	ck_assert_ptr_eq(ios[3].next, &ios[4]);
}
END_TEST

START_TEST(reads_and_writes_mixed_merge_per_direction)
{
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, K4);
	mk(XPORT_READ, 1, 8 * K4, K4);
	mk(XPORT_WRITE, 1, K4, K4);
	mk(XPORT_READ, 1, 9 * K4, K4);
	mk(XPORT_READ, 1, 2 * K4, K4); /* adjacent to the writes: no merge */
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 3);
	ck_assert_uint_eq(ops[0].dir, XPORT_WRITE);
	ck_assert_uint_eq(ops[0].len, 2 * K4);
	ck_assert_uint_eq(ops[1].dir, XPORT_READ);
	ck_assert_uint_eq(ops[1].off, 8 * K4);
	ck_assert_uint_eq(ops[1].len, 2 * K4);
	ck_assert_uint_eq(ops[2].dir, XPORT_READ);
	ck_assert_uint_eq(ops[2].off, 2 * K4);
}
END_TEST

START_TEST(overlapping_ios_are_never_reordered)
{
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, K4);	/* A */
	mk(XPORT_WRITE, 1, K4, K4);	/* B: merges into A */
	mk(XPORT_READ, 1, K4, K4);	/* C: reads B's page, after it */
	mk(XPORT_WRITE, 1, 2 * K4, K4); /* D: no overlap with C: into A */
	mk(XPORT_WRITE, 1, K4, K4);	/* E: overwrites what C reads */
	mk(XPORT_WRITE, 1, 0, K4);	/* F: same range as A: after A */
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 3);
	ck_assert_uint_eq(ops[0].len, 3 * K4);
	ck_assert_uint_eq(ops[0].nios, 3);
	ck_assert_ptr_eq(ops[1].ios, &ios[2]);
	/* E and F are contiguous and both after C */
	ck_assert_uint_eq(ops[2].dir, XPORT_WRITE);
	ck_assert_uint_eq(ops[2].off, 0);
	ck_assert_uint_eq(ops[2].len, 2 * K4);
	ck_assert_ptr_eq(ops[2].ios, &ios[5]);
	ck_assert_ptr_eq(ops[2].ios->next, &ios[4]);
}
END_TEST

START_TEST(same_range_twice_keeps_order)
{
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, K4);
	mk(XPORT_WRITE, 1, 0, K4);
	mk(XPORT_WRITE, 1, 0, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 3);
	ck_assert_ptr_eq(ops[0].ios, &ios[0]);
	ck_assert_ptr_eq(ops[1].ios, &ios[1]);
	ck_assert_ptr_eq(ops[2].ios, &ios[2]);
}
END_TEST

START_TEST(opaque_entries_are_barriers)
{
	struct xport_io *l;

	reset();
	mk(XPORT_WRITE, 1, 0, K4);
	mk(CTL_DIR, 0, 0, 0);
	mk(CTL_DIR, 0, 0, 0);
	mk(XPORT_WRITE, 1, K4, K4);
	l = list_all();
	ck_assert_uint_eq(batch_form(&l, &lim_def, ops), 4);
	ck_assert_uint_eq(ops[1].dir, CTL_DIR);
	ck_assert_uint_eq(ops[2].dir, CTL_DIR);
	ck_assert_uint_eq(ops[3].off, K4);
}
END_TEST

/* --- the queue: leader election, determinism through a gated post --- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int in_post, release;
	unsigned int posts, nops[16];
	atomic_uint done_count[MAX_TEST_IOS];
	pthread_t leader_tid;
	int other_thread_posted;
};

static struct gate g;

static void gate_init(void)
{
	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
}

static void gated_post(void *ctx, struct batch_op *o, unsigned int n)
{
	struct batch_queue *q = ctx;
	struct xport_io *io;
	unsigned int i;

	ck_assert_ptr_eq(o, q->ops);
	pthread_mutex_lock(&g.lock);
	if (!g.posts)
		g.leader_tid = pthread_self();
	else if (!pthread_equal(pthread_self(), g.leader_tid))
		g.other_thread_posted = 1;
	if (g.posts < 16)
		g.nops[g.posts] = n;
	g.posts++;
	g.in_post = 1;
	pthread_cond_broadcast(&g.cond);
	while (!g.release)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < n; i++)
		for (io = o[i].ios; io; io = io->next)
			atomic_fetch_add(&g.done_count[io - ios], 1);
}

struct sub_arg {
	struct batch_queue *q;
	struct xport_io *io;
};

static void *submitter(void *arg)
{
	struct sub_arg *a = arg;

	batch_submit(a->q, a->io);
	return NULL;
}

START_TEST(leader_drains_what_others_queued_meanwhile)
{
	struct batch_limits lim = { 32, 512u << 10, 0 };
	struct batch_queue q;
	struct sub_arg args[9];
	pthread_t th[9];
	unsigned int i;

	reset();
	gate_init();
	for (i = 0; i < 9; i++)
		mk(XPORT_WRITE, 1, 2 * i * K4, K4);
	ck_assert_int_eq(batch_queue_init(&q, &lim, gated_post, &q), 0);
	args[0].q = &q;
	args[0].io = &ios[0];
	ck_assert_int_eq(pthread_create(&th[0], NULL, submitter, &args[0]), 0);
	pthread_mutex_lock(&g.lock);
	while (!g.in_post)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	/* the leader sits in post(): the others append and return at once */
	for (i = 1; i < 9; i++) {
		args[i].q = &q;
		args[i].io = &ios[i];
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, submitter, &args[i]), 0);
		pthread_join(th[i], NULL);
	}
	pthread_mutex_lock(&g.lock);
	g.release = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	pthread_join(th[0], NULL);
	ck_assert_int_eq(g.other_thread_posted, 0);
	ck_assert_uint_eq(g.posts, 2);
	ck_assert_uint_eq(g.nops[0], 1);
	ck_assert_uint_eq(g.nops[1], 8);
	for (i = 0; i < 9; i++)
		ck_assert_uint_eq(atomic_load(&g.done_count[i]), 1);
	ck_assert_ptr_null(q.head);
	ck_assert_int_eq(q.leader, 0);
	batch_queue_destroy(&q);
}
END_TEST

START_TEST(idle_submitter_posts_at_once)
{
	struct batch_limits lim = { 0, 0, 0 }; /* defaults */
	struct batch_queue q;

	reset();
	gate_init();
	g.release = 1;
	ck_assert_int_eq(batch_queue_init(&q, &lim, gated_post, &q), 0);
	ck_assert_uint_eq(q.lim.max_chain, 32);
	ck_assert_uint_eq(q.lim.max_op_bytes, 512u << 10);
	batch_submit(&q, mk(XPORT_READ, 1, 0, K4));
	ck_assert_uint_eq(g.posts, 1);
	batch_submit(&q, mk(XPORT_READ, 1, K4, K4));
	ck_assert_uint_eq(g.posts, 2);
	ck_assert_uint_eq(atomic_load(&g.done_count[0]), 1);
	ck_assert_uint_eq(atomic_load(&g.done_count[1]), 1);
	batch_queue_destroy(&q);
}
END_TEST

START_TEST(a_chain_submitted_at_once_leaves_in_one_post)
{
	struct batch_limits lim = { 0, 0, 0 };
	struct batch_queue q;
	struct xport_io *a, *b;

	reset();
	gate_init();
	g.release = 1;
	ck_assert_int_eq(batch_queue_init(&q, &lim, gated_post, &q), 0);
	/* a page run and its tags far away in the same slab */
	a = mk(XPORT_READ, 1, 0, K4);
	b = mk(XPORT_READ, 1, 1 << 20, 16);
	a->next = b;
	b->next = NULL;
	batch_submit_chain(&q, a);
	ck_assert_uint_eq(g.posts, 1);
	ck_assert_uint_eq(g.nops[0], 2);
	ck_assert_uint_eq(atomic_load(&g.done_count[0]), 1);
	ck_assert_uint_eq(atomic_load(&g.done_count[1]), 1);
	batch_queue_destroy(&q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch");

	cnm_check_tcase(s, "form", NULL,
			CNM_TESTS(contiguous_ios_merge_in_offset_order,
				  a_chain_submitted_at_once_leaves_in_one_post,
				  descending_ios_merge_by_prepending,
				  gap_makes_two_ops_in_one_chain,
				  slab_boundary_is_never_crossed,
				  max_op_bytes_splits_a_run,
				  io_larger_than_max_op_bytes_is_its_own_op,
				  max_ios_per_op_splits_a_run,
				  max_chain_leaves_the_rest_in_order,
				  full_chain_still_takes_ios_that_merge,
				  reads_and_writes_mixed_merge_per_direction,
				  overlapping_ios_are_never_reordered,
				  same_range_twice_keeps_order,
				  opaque_entries_are_barriers));
	cnm_check_tcase(s, "queue", NULL,
			CNM_TESTS(leader_drains_what_others_queued_meanwhile,
				  idle_submitter_posts_at_once));
	return cnm_check_run(s);
}
