// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_itest_load - load for xport_itest: pipelined random reads and
 * writes checked against a shadow copy (workers), and bursts of requests
 * from many threads at the same moment.
 */
#include "xport_itest.h"

#define BURST_THR	 8
#define BURST_IOS	 16
#define BURST_MIN_ROUNDS 4
#define BURST_MAX_ROUNDS 200
#define BURST_LEN	 (64u << 10)

/* --- pipelined random load (data, kill) --- */

void areq_done(struct xport_io *io, int status)
{
	struct areq *r = (struct areq *)io;
	struct worker *w = r->w;

	if (atomic_exchange(&r->busy, 0) != 1)
		atomic_fetch_add(&w->double_done, 1);
	if (status) {
		if (!atomic_fetch_add(&w->errors, 1))
			w->first_err = status;
		atomic_store(&w->saw_error, 1);
	} else if (io->dir == XPORT_READ &&
		   memcmp(r->buf, r->expect, io->len)) {
		atomic_fetch_add(&w->bad_data, 1);
	}
	atomic_fetch_add(&w->completed, 1);
	pthread_mutex_lock(&w->lock);
	w->freelist[w->nfree++] = (int)(r - w->reqs);
	pthread_mutex_unlock(&w->lock);
	sem_post(&w->free_sem);
}

void worker_init(struct worker *w, struct xport *x, uint32_t slab,
		 uint64_t base, unsigned int pages, uint64_t seed)
{
	int i;

	memset(w, 0, sizeof(*w));
	w->x = x;
	w->slab = slab;
	w->base = base;
	w->pages = pages;
	w->seed = seed | 1;
	w->shadow = calloc(pages, PAGE);
	w->reqs = calloc(WINDOW, sizeof(*w->reqs));
	if (!w->shadow || !w->reqs) {
		perror("calloc");
		exit(2);
	}
	sem_init(&w->free_sem, 0, WINDOW);
	pthread_mutex_init(&w->lock, NULL);
	for (i = 0; i < WINDOW; i++) {
		w->freelist[i] = i;
		w->reqs[i].w = w;
	}
	w->nfree = WINDOW;
}

void worker_fini(struct worker *w)
{
	free(w->shadow);
	free(w->reqs);
	sem_destroy(&w->free_sem);
	pthread_mutex_destroy(&w->lock);
}

/*
 * Requests on one connection execute in submission order, so a read must
 * see every write submitted before it: its expected data is the shadow at
 * submit time.
 */
void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int i, next_seq = 0;
	int k;

	for (i = 0; i < w->nops; i++) {
		unsigned int np, pg;
		struct areq *r;
		uint64_t v;

		if (w->stop_on_error && atomic_load(&w->saw_error))
			break;
		if (sem_wait_ms(&w->free_sem, HANG_MS)) {
			fprintf(stderr, "worker: no request came back\n");
			break;
		}
		pthread_mutex_lock(&w->lock);
		k = w->freelist[--w->nfree];
		pthread_mutex_unlock(&w->lock);
		r = &w->reqs[k];
		v = rnd_next(&w->seed);
		np = 1 + v % MAX_PAGES;
		if (v & 0x100) { /* runs of single pages: merge material */
			np = 1;
			pg = next_seq;
		} else {
			pg = (v >> 16) % w->pages;
		}
		if (pg + np > w->pages)
			pg = w->pages - np;
		next_seq = (pg + np) % w->pages;
		memset(&r->io, 0, sizeof(r->io));
		r->io.dir = (v & 0x200) ? XPORT_READ : XPORT_WRITE;
		r->io.slab = w->slab;
		r->io.off = w->base + (uint64_t)pg * PAGE;
		r->io.len = np * PAGE;
		r->io.buf = r->buf;
		r->io.done = areq_done;
		if (r->io.dir == XPORT_WRITE) {
			rnd_fill(&w->seed, r->buf, r->io.len);
			memcpy(w->shadow + (size_t)pg * PAGE, r->buf,
			       r->io.len);
		} else {
			memcpy(r->expect, w->shadow + (size_t)pg * PAGE,
			       r->io.len);
			memset(r->buf, 0xee, r->io.len);
		}
		atomic_store(&r->busy, 1);
		w->submitted++;
		xport_submit(w->x, &r->io);
	}
	return NULL;
}

/* Waits for every submitted request of w; 0 or -ETIMEDOUT (a hang). */
int worker_drain(struct worker *w, unsigned int ms)
{
	uint64_t deadline = deadline_after_ms(ms);

	while (atomic_load(&w->completed) < w->submitted) {
		if (mono_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

/* Reads the whole region back and compares it with the shadow. */
int worker_verify(struct worker *w)
{
	uint8_t *buf = malloc((size_t)w->pages * PAGE);
	int ret;

	ret = sync_io(w->x, XPORT_READ, w->slab, w->base, buf, w->pages * PAGE);
	if (!ret && memcmp(buf, w->shadow, (size_t)w->pages * PAGE))
		ret = -EILSEQ;
	free(buf);
	return ret;
}
/* --- bursts: many threads submitting at the same moment --- */

struct burst {
	struct xport *x;
	uint32_t slab;
	unsigned int id;
	pthread_barrier_t *bar;
	const uint64_t *multi0; /* chains of 2+ ops before the bursts */
	atomic_int *seen;	/* round in which one more was seen */
	struct sreq r[BURST_IOS];
	uint8_t buf[BURST_IOS][BURST_LEN];
	unsigned int errors;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	unsigned int round, i;

	for (round = 0; round < BURST_MAX_ROUNDS; round++) {
		pthread_barrier_wait(b->bar);
		if (atomic_load(b->seen) && round >= BURST_MIN_ROUNDS)
			break;
		for (i = 0; i < BURST_IOS; i++) {
			/* 64 KiB at every other 64 KiB: ops that do not
			 * merge, and enough bytes that the leader's
			 * sendmsg may wait for the donor to read */
			uint64_t off = ((b->id * BURST_IOS + i) % 8) * 2 *
				       (uint64_t)BURST_LEN;

			sreq_submit(b->x, &b->r[i],
				    (round & 1) ? XPORT_READ : XPORT_WRITE,
				    b->slab, off, b->buf[i], BURST_LEN);
		}
		for (i = 0; i < BURST_IOS; i++) {
			if (sem_wait_ms(&b->r[i].sem, HANG_MS)) {
				fprintf(stderr, "bursts: a request hung\n");
				exit(2); /* it still references our memory */
			}
			if (b->r[i].status)
				b->errors++;
			sem_destroy(&b->r[i].sem);
		}
		pthread_barrier_wait(b->bar);
		if (b->id == 0 && !atomic_load(b->seen)) {
			struct xport_stats st;

			xport_get_stats(b->x, &st);
			if (hist_multi(st.ops_per_post) > *b->multi0)
				atomic_store(b->seen, (int)round + 1);
		}
	}
	return NULL;
}

/*
 * Bursts of 64 KiB requests from BURST_THR threads at once on one
 * connection: while one leads (sendmsg), the others queue, so later
 * chains carry several ops. A loaded machine may run the threads one
 * after the other for a while, so the rounds go on until such a chain is
 * seen (bounded). Returns the number of chains of 2+ ops they made.
 */
uint64_t run_bursts(struct xport *x, uint32_t slab)
{
	static struct burst b[BURST_THR];
	pthread_t th[BURST_THR];
	pthread_barrier_t bar;
	struct xport_stats s0, s1;
	unsigned int i, errors = 0;
	atomic_int seen = 0;
	uint64_t multi0;

	xport_get_stats(x, &s0);
	multi0 = hist_multi(s0.ops_per_post);
	pthread_barrier_init(&bar, NULL, BURST_THR);
	for (i = 0; i < BURST_THR; i++) {
		b[i] = (struct burst){ .x = x,
				       .slab = slab,
				       .id = i,
				       .bar = &bar,
				       .multi0 = &multi0,
				       .seen = &seen };
		pthread_create(&th[i], NULL, burst_main, &b[i]);
	}
	for (i = 0; i < BURST_THR; i++) {
		pthread_join(th[i], NULL);
		errors += b[i].errors;
	}
	pthread_barrier_destroy(&bar);
	check(!errors, "bursts from 8 threads completed", "%u errors", errors);
	xport_get_stats(x, &s1);
	printf("# bursts: %llu ops in %llu posts: %.2f ops/post; first "
	       "chain of 2+ ops in round %d\n",
	       (unsigned long long)(s1.ops - s0.ops),
	       (unsigned long long)(s1.posts - s0.posts),
	       (double)(s1.ops - s0.ops) / (s1.posts - s0.posts),
	       atomic_load(&seen));
	return hist_multi(s1.ops_per_post) - multi0;
}
