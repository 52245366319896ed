// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * itest - the harness pstore_itest's commands share (see itest.h).
 *
 * Threading: run_workers() runs one thread per worker and joins them; a
 * worker's completions signal it under its own lock.
 */
#include "itest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int failures;

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fill(void *buf, uint64_t lpn, uint32_t gen)
{
	uint64_t *p = buf;

	for (unsigned int i = 0; i < PSTORE_PAGE / 8; i++)
		p[i] = (lpn * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)gen << 56) ^
		       i;
}

int page_ok(const void *buf, uint64_t lpn, uint32_t gen)
{
	uint64_t want[PSTORE_PAGE / 8];

	fill(want, lpn, gen);
	return memcmp(buf, want, PSTORE_PAGE) == 0;
}

static void wreq_done(struct pstore_req *r, int status)
{
	struct wreq *w = (struct wreq *)r;

	if (status) {
		fprintf(stderr, "page %" PRIu64 ": %s: %s\n", w->lpn,
			r->dir == XPORT_WRITE ? "write" : "read",
			strerror(-status));
		atomic_fetch_add(w->errors, 1);
	}
	pthread_mutex_lock(w->lock);
	if (atomic_fetch_sub(w->left, 1) == 1)
		pthread_cond_signal(w->cv);
	pthread_mutex_unlock(w->lock);
}

static int run_workers_(struct pstore *ps, uint64_t *lpn, unsigned int n,
			unsigned int threads, enum xport_dir dir, uint32_t gen);

struct worker {
	struct pstore *ps;
	unsigned int id;
	uint64_t *lpn;
	unsigned int n;
	uint32_t gen;
	enum xport_dir dir;
	int errors; /* I/O errors and mismatches */
};

/* Keeps INFLIGHT single-page requests in flight at a time. */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	static __thread struct wreq req[INFLIGHT];
	static __thread char buf[INFLIGHT][PSTORE_PAGE];
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	atomic_int left, errors = 0;

	for (unsigned int i = 0; i < wk->n; i += INFLIGHT) {
		unsigned int m = wk->n - i < INFLIGHT ? wk->n - i : INFLIGHT;

		atomic_store(&left, (int)m);
		for (unsigned int k = 0; k < m; k++) {
			struct wreq *w = &req[k];

			memset(w, 0, sizeof(*w));
			w->lpn = wk->lpn[i + k];
			w->buf = buf[k];
			w->left = &left;
			w->errors = &errors;
			w->lock = &lock;
			w->cv = &cv;
			w->r.dir = wk->dir;
			w->r.npages = 1;
			w->r.lpn = &w->lpn;
			w->r.buf = w->buf;
			w->r.done = wreq_done;
			if (wk->dir == XPORT_WRITE)
				fill(w->buf, w->lpn, wk->gen);
			else
				memset(w->buf, 0xee, PSTORE_PAGE);
			pstore_submit(wk->ps, &w->r);
		}
		pthread_mutex_lock(&lock);
		while (atomic_load(&left))
			pthread_cond_wait(&cv, &lock);
		pthread_mutex_unlock(&lock);
		if (wk->dir == XPORT_READ) {
			for (unsigned int k = 0; k < m; k++)
				if (!page_ok(buf[k], req[k].lpn, wk->gen)) {
					if (wk->errors < 5)
						fprintf(stderr,
							"page %" PRIu64
							": wrong data\n",
							req[k].lpn);
					wk->errors++;
				}
		}
	}
	wk->errors += atomic_load(&errors);
	return NULL;
}

int run_workers(struct pstore *ps, uint64_t *lpn, unsigned int n,
		unsigned int threads, enum xport_dir dir, uint32_t gen)
{
	struct timespec t0, t1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = run_workers_(ps, lpn, n, threads, dir, gen);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "phase %s: %.3f s\n",
		dir == XPORT_READ ? "read" : "write",
		(double)(t1.tv_sec - t0.tv_sec) +
			(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return ret;
}

static int run_workers_(struct pstore *ps, uint64_t *lpn, unsigned int n,
			unsigned int threads, enum xport_dir dir, uint32_t gen)
{
	pthread_t t[MAX_THREADS];
	struct worker wk[MAX_THREADS];
	unsigned int per = n / threads;
	int errors = 0;

	for (unsigned int i = 0; i < threads; i++) {
		wk[i] = (struct worker){ ps,
					 i,
					 lpn + i * per,
					 i == threads - 1 ? n - i * per : per,
					 gen,
					 dir,
					 0 };
		pthread_create(&t[i], NULL, worker_main, &wk[i]);
	}
	for (unsigned int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		errors += wk[i].errors;
	}
	return errors;
}

/*
 * npages pages at random hints; seed goes on for the caller (spread
 * shuffles with it). NULL when out of memory.
 */
uint64_t *alloc_pages(struct pstore *ps, const struct pstore_cfg *cfg,
		      unsigned int *seed, unsigned int npages)
{
	uint64_t *lpn = calloc(npages, sizeof(*lpn));
	int ret;

	if (!lpn)
		return NULL;
	for (unsigned int i = 0; i < npages; i++) {
		uint64_t hint =
			(uint64_t)rand_r(seed) % (cfg->capacity / PSTORE_PAGE);

		ret = pstore_page_alloc(ps, hint, &lpn[i]);
		CHECK(ret == 0, "page alloc %u: %d", i, ret);
	}
	return lpn;
}

int open_store(struct pstore_cfg *cfg, struct pstore **ps)
{
	char err[512];
	int ret = pstore_open(cfg, ps, err, sizeof(err));

	if (ret)
		fprintf(stderr, "FAIL: pstore_open: %s (%d)\n", err, ret);
	return ret;
}

/* Opens the store and writes npages pages of generation gen: 1 if it
 * could not start. */
int open_and_write(struct pstore_cfg *cfg, unsigned int threads,
		   unsigned int npages, unsigned int seed, uint32_t gen,
		   struct pstore **ps, uint64_t **lpn)
{
	int errors;

	if (open_store(cfg, ps))
		return 1;
	*lpn = alloc_pages(*ps, cfg, &seed, npages);
	if (!*lpn)
		return 1;
	errors = run_workers(*ps, *lpn, npages, threads, XPORT_WRITE, gen);
	CHECK(errors == 0, "%d write errors", errors);
	return 0;
}

/* Fills json with the store's state; with want set, it must contain it. */
void get_json(struct pstore *ps, char *json, size_t size, const char *want,
	      const char *why)
{
	int ret = pstore_json(ps, json, size);

	CHECK(ret > 0, "pstore_json: %d", ret);
	if (want)
		CHECK(strstr(json, want) != NULL, "%s", why);
}
