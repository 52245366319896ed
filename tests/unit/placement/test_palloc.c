// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The page allocator by chunk (placement/palloc.h) against a plain array
 * of its pages: random allocations and frees, attaches of its memory by a
 * new allocator, and processes killed at random instants.
 */
#include "placement/palloc.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* xorshift64*, deterministic per seed */
static uint64_t xs(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

/* What a test's allocator lives in: shared memory, so that a child's
 * stores outlive it as an arena's outlive a dead server. */
struct mem {
	uint64_t *bits;
	_Atomic uint8_t *sum;
	void *map;
	size_t len;
};

static void mem_get(struct mem *m, uint64_t npages, unsigned int shift)
{
	size_t b = palloc_bits_bytes(npages, shift);

	m->len = b + palloc_sum_bytes(npages, shift);
	m->map = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m->map, MAP_FAILED);
	m->bits = m->map;
	m->sum = (_Atomic uint8_t *)((char *)m->map + b);
}

static void mem_put(struct mem *m)
{
	munmap(m->map, m->len);
}

static int sum_of(const struct palloc *pa, uint32_t c)
{
	return atomic_load(&pa->sum[c]);
}

/* palloc_next() with a keep mask (every third page kept) walks exactly
 * the allocated pages the mask does not keep. */
static void check_next(const struct palloc *pa, const uint8_t *model)
{
	uint64_t *keep = calloc((pa->npages + 63) / 64, 8), want = 0, p = 0;

	ck_assert_ptr_nonnull(keep);
	for (uint64_t q = 0; q < pa->npages; q += 3)
		keep[q / 64] |= 1ull << (q % 64);
	for (;; p++) {
		uint64_t q;

		while (want < pa->npages && (!model[want] || want % 3 == 0))
			want++;
		do {
			q = palloc_next(pa, p, keep);
			if (q >= pa->npages || q >> pa->shift == p >> pa->shift)
				break;
			p = q; /* none in p's chunk: q is the next chunk's */
		} while (1);
		if (q >= pa->npages)
			break;
		ck_assert_uint_eq(q, want);
		p = q;
		want++;
	}
	ck_assert_uint_eq(want, pa->npages);
	free(keep);
}

/* Every page as the model has it, the counts, and each chunk's summary
 * as its count says. */
static void check_model(const struct palloc *pa, const uint8_t *model)
{
	uint64_t used = 0;

	check_next(pa, model);

	for (uint64_t p = 0; p < pa->npages; p++) {
		ck_assert_msg(palloc_test(pa, p) == !!model[p],
			      "page %llu: allocator %d, model %d",
			      (unsigned long long)p, palloc_test(pa, p),
			      model[p]);
		used += model[p];
	}
	ck_assert_uint_eq(pa->used, used);
	ck_assert_uint_eq(palloc_count(pa, 0, pa->npages), used);
	for (uint32_t c = 0; c < pa->nchunks; c++) {
		uint64_t first = (uint64_t)c << pa->shift,
			 n = 1ull << pa->shift;
		uint64_t k;
		int s = sum_of(pa, c);

		if (first + n > pa->npages)
			n = pa->npages - first;
		k = palloc_count(pa, first, n);
		ck_assert_uint_eq(pa->count[c], k);
		ck_assert_int_eq(s, k == 0   ? PALLOC_FREE
				    : k == n ? PALLOC_FULL
					     : PALLOC_PART);
	}
}

/* The page the allocator must give: the first free one at or after start,
 * wrapping around; UINT64_MAX when none. */
static uint64_t model_next_free(const uint8_t *model, uint64_t npages,
				uint64_t start)
{
	for (uint64_t k = 0; k < npages; k++) {
		uint64_t p = (start + k) % npages;

		if (!model[p])
			return p;
	}
	return UINT64_MAX;
}

/* One random operation on pa and model: mostly allocations while less
 * than fill of the pages are used, mostly frees above. */
static void model_op(struct palloc *pa, uint8_t *model, uint64_t *cursor,
		     uint64_t *rng, unsigned int fill)
{
	uint64_t n = pa->npages, r = xs(rng), p;
	bool alloc = r % 100 < (pa->used * 100 < n * fill ? 70u : 30u);

	if (alloc) {
		uint64_t hint =
			(r >> 8) % 3 ? (r >> 16) % (n + n / 4) : UINT64_MAX;
		uint64_t start = hint < n ? hint : *cursor;
		uint64_t want =
			model_next_free(model, n, start < n ? start : 0);
		int ret = palloc_alloc(pa, hint, &p);

		if (want == UINT64_MAX) {
			ck_assert_int_eq(ret, -ENOSPC);
			return;
		}
		ck_assert_int_eq(ret, 0);
		ck_assert_uint_eq(p, want);
		model[p] = 1;
		*cursor = p + 1;
		return;
	}
	p = (r >> 16) % n;
	if (r % 7 == 0) {
		/* a free of whatever is there: -EINVAL when not allocated */
		ck_assert_int_eq(palloc_free(pa, p), model[p] ? 0 : -EINVAL);
		model[p] = 0;
		return;
	}
	/* a free of an allocated page, found from a random one */
	for (uint64_t k = 0; k < n; k++) {
		uint64_t q = (p + k) % n;

		if (model[q]) {
			ck_assert_int_eq(palloc_free(pa, q), 0);
			model[q] = 0;
			return;
		}
	}
}

static void random_run(uint64_t npages, unsigned int shift, uint64_t seed)
{
	uint8_t *model = calloc(npages, 1);
	uint64_t rng = seed, cursor = 0;
	struct palloc pa;
	struct mem m;

	ck_assert_ptr_nonnull(model);
	mem_get(&m, npages, shift);
	ck_assert_int_eq(palloc_init(&pa, npages, shift, m.bits, m.sum), 0);
	for (unsigned int i = 0; i < 40000; i++) {
		/* the fill level swings between empty and full */
		unsigned int fill = (i / 5000) % 2 ? 105 : 20;

		model_op(&pa, model, &cursor, &rng, fill);
		if (i % 997 == 0)
			check_model(&pa, model);
		if (i % 2500 == 2499) {
			/* a successor attaches to what this one left */
			palloc_fini(&pa);
			ck_assert_int_eq(
				palloc_init(&pa, npages, shift, m.bits, m.sum),
				0);
			check_model(&pa, model);
			cursor = 0;
		}
	}
	check_model(&pa, model);
	palloc_fini(&pa);
	mem_put(&m);
	free(model);
}

START_TEST(random_allocs_and_frees_match_a_plain_array_across_attaches)
{
	/* small chunks, a short last chunk; whole chunks; one chunk */
	random_run(1000, 6, 1);
	random_run(1024, 7, 2);
	random_run(50, 6, 3);
	random_run(3000, 8, 4);
}
END_TEST

START_TEST(enospc_comes_exactly_at_capacity_and_the_freed_page_is_found)
{
	uint64_t npages = 1000, p;
	struct palloc pa;
	struct mem m;

	mem_get(&m, npages, 6);
	ck_assert_int_eq(palloc_init(&pa, npages, 6, m.bits, m.sum), 0);
	for (uint64_t i = 0; i < npages; i++) {
		ck_assert_int_eq(palloc_alloc(&pa, UINT64_MAX, &p), 0);
		ck_assert_uint_eq(p, i);
	}
	ck_assert_int_eq(palloc_alloc(&pa, UINT64_MAX, &p), -ENOSPC);
	ck_assert_int_eq(palloc_alloc(&pa, 5, &p), -ENOSPC);
	for (uint32_t c = 0; c < pa.nchunks; c++)
		ck_assert_int_eq(sum_of(&pa, c), PALLOC_FULL);
	/* the only free page is found from anywhere */
	ck_assert_int_eq(palloc_free(&pa, 517), 0);
	ck_assert_int_eq(sum_of(&pa, 517 >> 6), PALLOC_PART);
	ck_assert_int_eq(palloc_alloc(&pa, 900, &p), 0);
	ck_assert_uint_eq(p, 517);
	ck_assert_int_eq(palloc_alloc(&pa, UINT64_MAX, &p), -ENOSPC);
	/* the last page of the short last chunk */
	ck_assert_int_eq(palloc_free(&pa, 999), 0);
	ck_assert_int_eq(palloc_alloc(&pa, 0, &p), 0);
	ck_assert_uint_eq(p, 999);
	ck_assert_int_eq(palloc_free(&pa, 1000), -EINVAL);
	ck_assert_int_eq(palloc_free(&pa, 3), 0);
	ck_assert_int_eq(palloc_free(&pa, 3), -EINVAL);
	palloc_fini(&pa);
	mem_put(&m);
}
END_TEST

START_TEST(attach_settles_chunks_a_crash_left_between_two_stores)
{
	uint64_t npages = 256;
	struct palloc pa;
	struct mem m;

	mem_get(&m, npages, 6);
	/* chunk 0: PART with every bit set (killed before FULL was
	 * published); 1: PART with none (before FREE); 2: FULL over a
	 * stale bitmap (before its page was given back); 3: PART, 3 bits */
	atomic_store(&m.sum[0], PALLOC_PART);
	m.bits[0] = ~0ull;
	atomic_store(&m.sum[1], PALLOC_PART);
	atomic_store(&m.sum[2], PALLOC_FULL);
	m.bits[2] = 0x5;
	atomic_store(&m.sum[3], PALLOC_PART);
	m.bits[3] = 0x7;
	ck_assert_int_eq(palloc_init(&pa, npages, 6, m.bits, m.sum), 0);
	ck_assert_int_eq(sum_of(&pa, 0), PALLOC_FULL);
	ck_assert_int_eq(sum_of(&pa, 1), PALLOC_FREE);
	ck_assert_int_eq(sum_of(&pa, 2), PALLOC_FULL);
	ck_assert_int_eq(sum_of(&pa, 3), PALLOC_PART);
	ck_assert_uint_eq(pa.used, 64 + 64 + 3);
	for (uint64_t p = 128; p < 192; p++)
		ck_assert(palloc_test(&pa, p));
	ck_assert_uint_eq(palloc_next(&pa, 64, NULL), 128);
	ck_assert_uint_eq(palloc_next(&pa, 130, NULL), 130);
	ck_assert_uint_eq(palloc_next(&pa, 195, NULL), 256);
	palloc_fini(&pa);
	mem_put(&m);
}
END_TEST

/* how many of the chunk bitmap pages [0, n) are in memory */
static unsigned int resident(const struct palloc *pa, unsigned int n)
{
	unsigned char v[64];
	unsigned int k = 0;

	ck_assert_uint_le(n, 64);
	ck_assert_int_eq(mincore(pa->bits, (size_t)n * 4096, v), 0);
	for (unsigned int i = 0; i < n; i++)
		k += v[i] & 1;
	return k;
}

static void only_partly_allocated(void)
{
	const uint64_t cp = 1ull << PALLOC_SHIFT;
	struct palloc pa;
	uint64_t p;

	/* its own memory, as a store without an arena */
	ck_assert_int_eq(palloc_init(&pa, 4 * cp, PALLOC_SHIFT, NULL, NULL), 0);
	ck_assert_uint_eq(resident(&pa, 4), 0);
	/* a dense fill of two chunks and one page of the third */
	for (uint64_t i = 0; i < 2 * cp + 1; i++)
		ck_assert_int_eq(palloc_alloc(&pa, UINT64_MAX, &p), 0);
	ck_assert_int_eq(sum_of(&pa, 0), PALLOC_FULL);
	ck_assert_int_eq(sum_of(&pa, 2), PALLOC_PART);
	ck_assert_uint_eq(resident(&pa, 4), 1);
	/* a hole in a full chunk takes its page, filling it gives it back */
	ck_assert_int_eq(palloc_free(&pa, 5), 0);
	ck_assert_uint_eq(resident(&pa, 4), 2);
	ck_assert(!palloc_test(&pa, 5));
	ck_assert(palloc_test(&pa, 4) && palloc_test(&pa, cp - 1));
	ck_assert_int_eq(palloc_alloc(&pa, 0, &p), 0);
	ck_assert_uint_eq(p, 5);
	ck_assert_uint_eq(resident(&pa, 4), 1);
	/* emptying a chunk gives its page back */
	ck_assert_int_eq(palloc_free(&pa, 2 * cp), 0);
	ck_assert_int_eq(sum_of(&pa, 2), PALLOC_FREE);
	ck_assert_uint_eq(resident(&pa, 4), 0);
	ck_assert_uint_eq(pa.used, 2 * cp);
	palloc_fini(&pa);
}

START_TEST(only_partly_allocated_chunks_hold_a_bitmap_page)
{
	if (sysconf(_SC_PAGESIZE) != 4096)
		return; /* the release is for 4 KiB pages only */
	only_partly_allocated();
}
END_TEST

START_TEST(attach_gives_back_the_bitmap_pages_a_crash_left)
{
	const uint64_t cp = 1ull << PALLOC_SHIFT;
	struct palloc pa;
	struct mem m;

	if (sysconf(_SC_PAGESIZE) != 4096)
		return;
	mem_get(&m, 3 * cp, PALLOC_SHIFT);
	/* killed after publishing chunk 0 FULL and chunk 1 FREE, before
	 * their pages went back; chunk 2 is PART */
	atomic_store(&m.sum[0], PALLOC_FULL);
	memset(m.bits, 0xff, 4096);
	memset(m.bits + 512, 0x11, 4096);
	atomic_store(&m.sum[2], PALLOC_PART);
	m.bits[1024] = 0x3;
	ck_assert_int_eq(palloc_init(&pa, 3 * cp, PALLOC_SHIFT, m.bits, m.sum),
			 0);
	ck_assert_uint_eq(resident(&pa, 3), 1);
	ck_assert_uint_eq(pa.used, cp + 2);
	ck_assert(palloc_test(&pa, 7) && !palloc_test(&pa, cp + 4));
	ck_assert(palloc_test(&pa, 2 * cp + 1) &&
		  !palloc_test(&pa, 2 * cp + 2));
	palloc_fini(&pa);
	mem_put(&m);
}
END_TEST

START_TEST(bitmap_pages_are_given_back_under_mlockall_as_the_daemon_has)
{
	if (sysconf(_SC_PAGESIZE) != 4096)
		return;
	/* as fs/main.c's protect_self(): MADV_REMOVE refuses locked pages */
	ck_assert_int_eq(mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT), 0);
	only_partly_allocated();
	munlockall();
}
END_TEST

/* The child's record of what returned, in shared memory: model[p] once
 * an allocation or free of p returned; op says what is under way. */
enum { OP_NONE, OP_ALLOC, OP_FREE };

struct shared {
	volatile int op;
	volatile uint64_t page; /* OP_FREE: the page */
	volatile uint8_t model[];
};

static void child_loop(struct mem *m, struct shared *sh, uint64_t npages,
		       unsigned int shift, uint64_t seed)
{
	uint64_t rng = seed, p;
	struct palloc pa;

	if (palloc_init(&pa, npages, shift, m->bits, m->sum))
		_exit(2);
	for (;;) {
		uint64_t r = xs(&rng);

		if (r % 2 == 0) {
			sh->op = OP_ALLOC;
			if (palloc_alloc(&pa, (r >> 8) % npages, &p) == 0)
				sh->model[p] = 1;
		} else {
			p = (r >> 8) % npages;
			if (!sh->model[p])
				continue;
			sh->page = p;
			sh->op = OP_FREE;
			if (palloc_free(&pa, p))
				_exit(3);
			sh->model[p] = 0;
		}
		sh->op = OP_NONE;
	}
}

START_TEST(a_kill_at_any_instant_keeps_every_change_that_returned)
{
	const uint64_t npages = 300;
	const unsigned int shift = 6;
	struct shared *sh;
	uint64_t rng = 77;
	struct palloc pa;
	struct mem m;

	mem_get(&m, npages, shift);
	sh = mmap(NULL, sizeof(*sh) + npages, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sh, MAP_FAILED);
	for (unsigned int i = 0; i < 150; i++) {
		struct timespec ts = { 0, (long)(xs(&rng) % 3000000) };
		unsigned int extra = 0;
		int st;
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			child_loop(&m, sh, npages, shift, xs(&rng) | 1);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st));
		ck_assert_int_eq(palloc_init(&pa, npages, shift, m.bits, m.sum),
				 0);
		/* the change under way may or may not have happened: the
		 * model takes what the allocator says for it alone */
		for (uint64_t p = 0; p < npages; p++) {
			if (palloc_test(&pa, p) == !!sh->model[p])
				continue;
			if (sh->op == OP_ALLOC && !sh->model[p] && !extra++) {
				sh->model[p] = 1;
				continue;
			}
			ck_assert_msg(sh->op == OP_FREE && sh->page == p &&
					      sh->model[p],
				      "kill %u: page %llu: allocator %d, "
				      "model %d, op %d",
				      i, (unsigned long long)p,
				      palloc_test(&pa, p), sh->model[p],
				      sh->op);
			sh->model[p] = 0;
		}
		check_model(&pa, (const uint8_t *)sh->model);
		sh->op = OP_NONE;
		palloc_fini(&pa);
	}
	munmap(sh, sizeof(*sh) + npages);
	mem_put(&m);
}
END_TEST

/* A successor attached at every crash point of an allocator: what it
 * reads matches the model but for the change under way. */
struct crash_look {
	struct mem *m;
	uint64_t npages;
	unsigned int shift;
	const uint8_t *model;
	int op;
	uint64_t page; /* OP_FREE */
	unsigned int looks;
	uint64_t *bits; /* a copy of m, as a crash would leave it */
	_Atomic uint8_t *sum;
	uint8_t *want;
};

static void look_at_crash(void *arg)
{
	struct crash_look *cl = arg;
	size_t b = palloc_bits_bytes(cl->npages, cl->shift);
	unsigned int extra = 0;
	struct palloc pa;

	memcpy(cl->bits, cl->m->bits, b);
	memcpy((void *)cl->sum, (void *)cl->m->sum,
	       palloc_sum_bytes(cl->npages, cl->shift));
	ck_assert_int_eq(
		palloc_init(&pa, cl->npages, cl->shift, cl->bits, cl->sum), 0);
	memcpy(cl->want, cl->model, cl->npages);
	for (uint64_t p = 0; p < cl->npages; p++) {
		if (palloc_test(&pa, p) == !!cl->want[p])
			continue;
		if (cl->op == OP_ALLOC && !cl->want[p] && !extra++) {
			cl->want[p] = 1;
			continue;
		}
		ck_assert_msg(cl->op == OP_FREE && cl->page == p,
			      "page %llu: a successor reads %d, op %d",
			      (unsigned long long)p, palloc_test(&pa, p),
			      cl->op);
		cl->want[p] = 0;
	}
	check_model(&pa, cl->want);
	palloc_fini(&pa);
	cl->looks++;
}

START_TEST(a_crash_between_any_two_stores_leaves_what_returned)
{
	const uint64_t npages = 300;
	const unsigned int shift = 6;
	uint8_t *model = calloc(npages, 1);
	uint64_t rng = 5;
	struct crash_look cl = { 0 };
	struct palloc pa;
	struct mem m;

	mem_get(&m, npages, shift);
	cl.m = &m;
	cl.npages = npages;
	cl.shift = shift;
	cl.model = model;
	cl.bits = malloc(palloc_bits_bytes(npages, shift));
	cl.sum = malloc(palloc_sum_bytes(npages, shift));
	cl.want = malloc(npages);
	ck_assert(model && cl.bits && cl.sum && cl.want);
	ck_assert_int_eq(palloc_init(&pa, npages, shift, m.bits, m.sum), 0);
	pa.crash_point = look_at_crash;
	pa.crash_arg = &cl;
	for (unsigned int i = 0; i < 6000; i++) {
		uint64_t r = xs(&rng), p = (r >> 8) % npages;
		bool fill = (i / 1000) % 2;

		if (r % 100 < (fill ? 80u : 30u)) {
			cl.op = OP_ALLOC;
			if (palloc_alloc(&pa, p, &p) == 0)
				model[p] = 1;
		} else if (model[p]) {
			cl.op = OP_FREE;
			cl.page = p;
			ck_assert_int_eq(palloc_free(&pa, p), 0);
			model[p] = 0;
		}
		cl.op = OP_NONE;
	}
	/* every kind of step was looked at, many times */
	ck_assert_uint_gt(cl.looks, 1000);
	check_model(&pa, model);
	palloc_fini(&pa);
	mem_put(&m);
	free(cl.bits);
	free((void *)cl.sum);
	free(cl.want);
	free(model);
}
END_TEST

START_TEST(bad_geometry_is_einval)
{
	struct palloc pa;
	struct mem m;

	mem_get(&m, 100, 6);
	ck_assert_int_eq(palloc_init(&pa, 0, 6, NULL, NULL), -EINVAL);
	ck_assert_int_eq(palloc_init(&pa, 100, 5, NULL, NULL), -EINVAL);
	ck_assert_int_eq(palloc_init(&pa, 100, PALLOC_SHIFT + 1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(palloc_init(&pa, 100, 6, m.bits, NULL), -EINVAL);
	mem_put(&m);
}
END_TEST

int main(void)
{
	static const struct cnm_tcase_opt opt = { .timeout = 120 };

	return cnm_check_main(
		"palloc", &opt,
		CNM_TESTS(
			random_allocs_and_frees_match_a_plain_array_across_attaches,
			enospc_comes_exactly_at_capacity_and_the_freed_page_is_found,
			attach_settles_chunks_a_crash_left_between_two_stores,
			only_partly_allocated_chunks_hold_a_bitmap_page,
			bitmap_pages_are_given_back_under_mlockall_as_the_daemon_has,
			attach_gives_back_the_bitmap_pages_a_crash_left,
			a_kill_at_any_instant_keeps_every_change_that_returned,
			a_crash_between_any_two_stores_leaves_what_returned,
			bad_geometry_is_einval));
}
