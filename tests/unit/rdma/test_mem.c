// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the XPORT_MEM backend: slabs, errors, and many submitter
 * threads through the batching queue (every request completes exactly
 * once, data right, chains longer than one op under concurrency).
 */
#include "rdma/xport.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K4 4096u

struct waiter {
	struct xport_io io;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, status, calls;
	pthread_t tid;
};

static void waiter_done(struct xport_io *io, int status)
{
	struct waiter *w = (struct waiter *)io;

	pthread_mutex_lock(&w->lock);
	w->done = 1;
	w->calls++;
	w->status = status;
	w->tid = pthread_self();
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* One synchronous io; returns its status. */
static int sync_io(struct xport *x, uint8_t dir, uint32_t slab, uint64_t off,
		   void *buf, uint32_t len)
{
	struct waiter w;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.io.dir = dir;
	w.io.slab = slab;
	w.io.off = off;
	w.io.len = len;
	w.io.buf = buf;
	w.io.done = waiter_done;
	xport_submit(x, &w.io);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	ck_assert_int_eq(w.calls, 1);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return w.status;
}

static struct xport *open_mem(uint64_t bytes, uint64_t slab)
{
	struct xport_cfg cfg = {
		.kind = XPORT_MEM,
		.slab_size = slab,
		.mem_bytes = bytes,
	};
	struct xport *x;

	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	ck_assert_int_eq(xport_wait_up(x, 1000), 0);
	return x;
}

START_TEST(alloc_until_full_then_enospc)
{
	struct xport *x = open_mem(4 << 20, 1 << 20);
	struct xport_slab s[5];
	struct wire_state st;
	int i;

	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(xport_alloc(x, &s[i]), 0);
		ck_assert_uint_eq(s[i].size, 1 << 20);
	}
	ck_assert_int_eq(xport_alloc(x, &s[4]), -ENOSPC);
	ck_assert_int_eq(xport_query(x, &st), 0);
	ck_assert_uint_eq(st.total_slabs, 4);
	ck_assert_uint_eq(st.free_slabs, 0);
	ck_assert_int_eq(xport_free(x, s[2].slab), 0);
	ck_assert_int_eq(xport_free(x, s[2].slab), -EINVAL);
	ck_assert_int_eq(xport_alloc(x, &s[4]), 0);
	ck_assert_uint_eq(s[4].slab, s[2].slab);
	ck_assert_str_eq(xport_peer(x), "mem");
	xport_close(x);
}
END_TEST

START_TEST(freed_slab_reads_back_zeroed)
{
	struct xport *x = open_mem(1 << 20, 1 << 20);
	static uint8_t buf[2 * K4], zero[2 * K4];
	struct xport_slab s;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	memset(buf, 0xa5, sizeof(buf));
	ck_assert_int_eq(sync_io(x, XPORT_WRITE, s.slab, 8 * K4, buf, 2 * K4),
			 0);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(sync_io(x, XPORT_READ, s.slab, 8 * K4, buf, 2 * K4),
			 0);
	ck_assert_uint_eq(buf[0], 0xa5);
	ck_assert_uint_eq(buf[2 * K4 - 1], 0xa5);
	ck_assert_int_eq(xport_free(x, s.slab), 0);
	ck_assert_int_eq(xport_alloc(x, &s), 0);
	ck_assert_int_eq(sync_io(x, XPORT_READ, s.slab, 8 * K4, buf, 2 * K4),
			 0);
	ck_assert_int_eq(memcmp(buf, zero, sizeof(buf)), 0);
	xport_close(x);
}
END_TEST

START_TEST(bad_range_or_slab_is_refused)
{
	struct xport *x = open_mem(2 << 20, 1 << 20);
	static uint8_t buf[2 * K4];
	struct xport_stats st;
	struct xport_slab s;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	/* past the slab's end */
	ck_assert_int_eq(
		sync_io(x, XPORT_READ, s.slab, (1 << 20) - K4, buf, 2 * K4),
		-EFAULT);
	/* a slab never handed out, and one that does not exist */
	ck_assert_int_eq(sync_io(x, XPORT_WRITE, s.slab + 1, 0, buf, K4),
			 -EFAULT);
	ck_assert_int_eq(sync_io(x, XPORT_WRITE, 9999, 0, buf, K4), -EFAULT);
	ck_assert_int_eq(sync_io(x, XPORT_WRITE, 0, 0, buf, K4), -EFAULT);
	/* malformed requests */
	/* any length is a request (a run's page tags are 16 bytes a page) */
	ck_assert_int_eq(sync_io(x, XPORT_WRITE, s.slab, 0, buf, 100), 0);
	ck_assert_int_eq(sync_io(x, XPORT_WRITE, s.slab, 0, buf, 0), -EINVAL);
	ck_assert_int_eq(sync_io(x, 7, s.slab, 0, buf, K4), -EINVAL);
	ck_assert_int_eq(xport_free(x, 9999), -EINVAL);
	xport_get_stats(x, &st);
	ck_assert_uint_eq(st.errors, 6);
	ck_assert_int_eq(st.kind, XPORT_MEM);
	xport_close(x);
}
END_TEST

/* no network to wait for: an uncontended io is copied and completed in
 * the submitting thread before xport_submit() returns */
START_TEST(completion_runs_in_the_submitter_before_submit_returns)
{
	struct xport *x = open_mem(1 << 20, 1 << 20);
	static uint8_t buf[K4], back[K4];
	struct xport_stats st;
	struct xport_slab s;
	struct waiter w;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	memset(buf, 0x5a, sizeof(buf));
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.io.dir = XPORT_WRITE;
	w.io.slab = s.slab;
	w.io.len = K4;
	w.io.buf = buf;
	w.io.done = waiter_done;
	xport_submit(x, &w.io);
	ck_assert_int_eq(w.done, 1);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(w.status, 0);
	ck_assert(pthread_equal(w.tid, pthread_self()));
	ck_assert_int_eq(sync_io(x, XPORT_READ, s.slab, 0, back, K4), 0);
	ck_assert_mem_eq(back, buf, K4);
	/* one post carried a write, the read's did not */
	xport_get_stats(x, &st);
	ck_assert_uint_eq(st.posts, 2);
	ck_assert_uint_eq(st.write_posts, 1);
	ck_assert_uint_eq(st.write_ops, 1);
	xport_close(x);
}
END_TEST

START_TEST(bad_config_is_einval)
{
	struct xport_cfg cfg = { .kind = XPORT_MEM, .slab_size = 1 << 20 };
	struct xport *x;

	ck_assert_int_eq(xport_open(&cfg, &x), -EINVAL); /* no memory */
	cfg.mem_bytes = 1 << 20;
	cfg.slab_size = 1000;
	ck_assert_int_eq(xport_open(&cfg, &x), -EINVAL);
	cfg.kind = XPORT_TCP; /* no host */
	ck_assert_int_eq(xport_open(&cfg, &x), -EINVAL);
	cfg.kind = 42;
	cfg.host = "127.0.0.1";
	cfg.port = "1";
	ck_assert_int_eq(xport_open(&cfg, &x), -EINVAL);
	ck_assert_str_eq(xport_kind_name(XPORT_TCP), "tcp");
	ck_assert_str_eq(xport_kind_name(XPORT_MEM), "mem");
	ck_assert_str_eq(xport_kind_name(XPORT_RDMA), "rdma");
	ck_assert_str_eq(xport_kind_name(XPORT_AUTO), "auto");
}
END_TEST

/* --- concurrency: many submitters, each with a window of ios in flight */

#define NTHREADS 8
#define WINDOW	 32
#define PER_THR	 2000
#define PAGES	 256 /* pages per thread region */

struct creq {
	struct xport_io io;
	atomic_int calls;
	int status;
	sem_t *window;
};

struct cthr {
	struct xport *x;
	uint32_t slab;
	unsigned int id;
	sem_t window;
	struct creq *reqs;
	uint8_t *bufs; /* PER_THR pages */
	atomic_int bad;
};

static void creq_done(struct xport_io *io, int status)
{
	struct creq *r = (struct creq *)io;

	r->status = status;
	atomic_fetch_add(&r->calls, 1);
	sem_post(r->window);
}

static void fill(uint8_t *p, unsigned int thr, unsigned int page,
		 unsigned int gen)
{
	unsigned int i;

	for (i = 0; i < K4; i += 4) {
		uint32_t v =
			(thr << 24) ^ (page << 12) ^ (gen * 2654435761u) ^ i;

		memcpy(p + i, &v, 4);
	}
}

/* Submits r, one page at off of t's slab, once t's window has room. */
static void creq_submit(struct cthr *t, struct creq *r, enum xport_dir dir,
			uint64_t off, uint8_t *buf)
{
	sem_wait(&t->window);
	r->window = &t->window;
	r->io.dir = dir;
	r->io.slab = t->slab;
	r->io.off = off;
	r->io.len = K4;
	r->io.buf = buf;
	r->io.done = creq_done;
	xport_submit(t->x, &r->io);
}

static void *cthread(void *arg)
{
	struct cthr *t = arg;
	unsigned int gen[PAGES] = { 0 };
	unsigned int i, w;
	uint8_t expect[K4];
	uint64_t base = (uint64_t)t->id * PAGES * K4;

	/* phase 1: write runs of pages (half contiguous, half scattered) */
	for (i = 0; i < PER_THR; i++) {
		unsigned int page = (i & 1) ? (i * 37u) % PAGES : i % PAGES;
		uint8_t *buf = t->bufs + (size_t)i * K4;

		fill(buf, t->id, page, i);
		gen[page] = i;
		creq_submit(t, &t->reqs[i], XPORT_WRITE,
			    base + (uint64_t)page * K4, buf);
	}
	for (w = 0; w < WINDOW; w++)
		sem_wait(&t->window);
	for (w = 0; w < WINDOW; w++)
		sem_post(&t->window);
	/* phase 2: read every page back, verify the last write won */
	for (i = 0; i < PAGES; i++)
		creq_submit(t, &t->reqs[PER_THR + i], XPORT_READ,
			    base + (uint64_t)i * K4,
			    t->bufs + (size_t)(PER_THR + i) * K4);
	for (w = 0; w < WINDOW; w++)
		sem_wait(&t->window);
	for (i = 0; i < PAGES; i++) {
		fill(expect, t->id, i, gen[i]);
		if (memcmp(expect, t->bufs + (size_t)(PER_THR + i) * K4, K4))
			atomic_fetch_add(&t->bad, 1);
	}
	return NULL;
}

START_TEST(many_submitters_complete_exactly_once_with_right_data)
{
	struct xport *x = open_mem(64 << 20, 64 << 20);
	static struct cthr t[NTHREADS];
	pthread_t th[NTHREADS];
	struct xport_stats st;
	struct xport_slab s;
	unsigned int i, j, b;
	uint64_t multi = 0, merged = 0;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	for (i = 0; i < NTHREADS; i++) {
		t[i].x = x;
		t[i].slab = s.slab;
		t[i].id = i;
		atomic_init(&t[i].bad, 0);
		sem_init(&t[i].window, 0, WINDOW);
		t[i].reqs = calloc(PER_THR + PAGES, sizeof(*t[i].reqs));
		t[i].bufs = malloc((size_t)(PER_THR + PAGES) * K4);
		ck_assert(t[i].reqs && t[i].bufs);
		ck_assert_int_eq(pthread_create(&th[i], NULL, cthread, &t[i]),
				 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	xport_get_stats(x, &st);
	xport_close(x);
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_int_eq(atomic_load(&t[i].bad), 0);
		for (j = 0; j < PER_THR + PAGES; j++) {
			ck_assert_int_eq(atomic_load(&t[i].reqs[j].calls), 1);
			ck_assert_int_eq(t[i].reqs[j].status, 0);
		}
		sem_destroy(&t[i].window);
		free(t[i].reqs);
		free(t[i].bufs);
	}
	ck_assert_uint_eq(st.ios, NTHREADS * (PER_THR + PAGES));
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.bytes_written, (uint64_t)NTHREADS * PER_THR * K4);
	ck_assert_uint_le(st.ops, st.ios);
	ck_assert_uint_ge(st.write_ops, 1);
	ck_assert_uint_le(st.write_ops, (uint64_t)NTHREADS * PER_THR);
	ck_assert_uint_le(st.write_posts, st.write_ops);
	ck_assert_uint_le(st.write_posts, st.posts);
	for (b = 1; b < XPORT_HIST; b++)
		multi += st.ops_per_post[b];
	for (b = 3; b < XPORT_HIST; b++)
		merged += st.kib_per_op[b]; /* ops of 8 KiB and more */
	printf("mem: %llu ios, %llu ops, %llu posts, %.2f ops/post, "
	       "%llu chains of 2+ ops, %llu merged ops\n",
	       (unsigned long long)st.ios, (unsigned long long)st.ops,
	       (unsigned long long)st.posts, (double)st.ops / st.posts,
	       (unsigned long long)multi, (unsigned long long)merged);
}
END_TEST

/*
 * Bursts of 64 KiB writes from 8 threads at once: while one leads (and
 * copies), the others queue, so some chain carries several ops. A loaded
 * machine may run the threads one after the other for a while, so the
 * rounds go on until such a chain is seen (bounded); with a queue that
 * posted every io on its own, none ever is.
 */
#define BURST_THR    8
#define BURST_IOS    16
#define BURST_LEN    (64u << 10)
#define BURST_ROUNDS 500

struct burst {
	struct xport *x;
	uint32_t slab;
	unsigned int id;
	pthread_barrier_t *bar;
	sem_t sem;
	struct xport_io io[BURST_IOS];
	uint8_t *buf;
	atomic_int *seen;
	atomic_uint errors;
};

static void burst_done(struct xport_io *io, int status)
{
	struct burst *b = io->priv;

	if (status)
		atomic_fetch_add(&b->errors, 1);
	sem_post(&b->sem);
}

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	unsigned int round, i;

	for (round = 0; round < BURST_ROUNDS; round++) {
		pthread_barrier_wait(b->bar);
		if (atomic_load(b->seen))
			break;
		for (i = 0; i < BURST_IOS; i++) {
			struct xport_io *io = &b->io[i];

			memset(io, 0, sizeof(*io));
			io->dir = XPORT_WRITE;
			io->slab = b->slab;
			io->off = (uint64_t)(b->id * BURST_IOS + i) * 2 *
				  BURST_LEN;
			io->len = BURST_LEN;
			io->buf = b->buf + (size_t)i * BURST_LEN;
			io->done = burst_done;
			io->priv = b;
			xport_submit(b->x, io);
		}
		for (i = 0; i < BURST_IOS; i++)
			sem_wait(&b->sem);
		pthread_barrier_wait(b->bar);
		if (b->id == 0) {
			struct xport_stats st;
			uint64_t multi = 0;
			unsigned int k;

			xport_get_stats(b->x, &st);
			for (k = 1; k < XPORT_HIST; k++)
				multi += st.ops_per_post[k];
			if (multi)
				atomic_store(b->seen, (int)round + 1);
		}
	}
	return NULL;
}

START_TEST(concurrent_submitters_share_chains)
{
	struct xport *x = open_mem(32 << 20, 32 << 20);
	static struct burst b[BURST_THR];
	pthread_t th[BURST_THR];
	pthread_barrier_t bar;
	struct xport_stats st;
	struct xport_slab s;
	atomic_int seen = 0;
	unsigned int i;

	ck_assert_int_eq(xport_alloc(x, &s), 0);
	pthread_barrier_init(&bar, NULL, BURST_THR);
	for (i = 0; i < BURST_THR; i++) {
		b[i].x = x;
		b[i].slab = s.slab;
		b[i].id = i;
		b[i].bar = &bar;
		b[i].seen = &seen;
		atomic_init(&b[i].errors, 0);
		sem_init(&b[i].sem, 0, 0);
		b[i].buf = calloc(BURST_IOS, BURST_LEN);
		ck_assert_ptr_nonnull(b[i].buf);
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, burst_main, &b[i]), 0);
	}
	for (i = 0; i < BURST_THR; i++)
		pthread_join(th[i], NULL);
	xport_get_stats(x, &st);
	xport_close(x);
	pthread_barrier_destroy(&bar);
	for (i = 0; i < BURST_THR; i++) {
		ck_assert_uint_eq(atomic_load(&b[i].errors), 0);
		sem_destroy(&b[i].sem);
		free(b[i].buf);
	}
	printf("mem bursts: %llu ops in %llu posts (%.2f ops/post), "
	       "first chain of 2+ ops in round %d\n",
	       (unsigned long long)st.ops, (unsigned long long)st.posts,
	       (double)st.ops / st.posts, atomic_load(&seen));
	ck_assert_int_gt(atomic_load(&seen), 0);
	ck_assert_uint_gt(st.ops, st.posts);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"mem", &(const struct cnm_tcase_opt){ .timeout = 60 },
		CNM_TESTS(
			alloc_until_full_then_enospc,
			freed_slab_reads_back_zeroed,
			bad_range_or_slab_is_refused,
			completion_runs_in_the_submitter_before_submit_returns,
			bad_config_is_einval,
			many_submitters_complete_exactly_once_with_right_data,
			concurrent_submitters_share_chains));
}
