/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * itest - what the commands of pstore_itest share (itest.c): the page
 * pattern, writer and reader threads, opening a store and writing it,
 * its JSON, and CHECK(), which counts a failed check in `failures`.
 * itest_lose.c holds the lose-each and hang-one commands.
 *
 * Threading: run_workers() starts and joins its own threads; everything
 * else runs on the main thread.
 */
#ifndef CNM_TEST_ITEST_H
#define CNM_TEST_ITEST_H

#include "placement/pstore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SLAB	    (1ull << 20)
#define CAPACITY    (128ull << 20)
#define INFLIGHT    32
#define MAX_THREADS 16

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__);                 \
			fprintf(stderr, "\n");                                 \
			failures++;                                            \
		}                                                              \
	} while (0)

/* one single-page request of a worker */
struct wreq {
	struct pstore_req r;
	uint64_t lpn;
	char *buf;
	atomic_int *left;
	atomic_int *errors;
	pthread_mutex_t *lock;
	pthread_cond_t *cv;
};

extern int failures;

double now_s(void);
void fill(void *buf, uint64_t lpn, uint32_t gen);
int page_ok(const void *buf, uint64_t lpn, uint32_t gen);
/* threads threads read or write lpn[0..n) (gen's pattern), many requests
 * in flight each; returns the I/O errors and wrong pages. */
int run_workers(struct pstore *ps, uint64_t *lpn, unsigned int n,
		unsigned int threads, enum xport_dir dir, uint32_t gen);
uint64_t *alloc_pages(struct pstore *ps, const struct pstore_cfg *cfg,
		      unsigned int *seed, unsigned int npages);
int open_store(struct pstore_cfg *cfg, struct pstore **ps);
int open_and_write(struct pstore_cfg *cfg, unsigned int threads,
		   unsigned int npages, unsigned int seed, uint32_t gen,
		   struct pstore **ps, uint64_t **lpn);
void get_json(struct pstore *ps, char *json, size_t size, const char *want,
	      const char *why);

/* pstore_itest lose-each (itest_lose.c) */
int cmd_lose_each(struct pstore_cfg *cfg, unsigned int threads,
		  unsigned int npages, const char *pid_list);
/* pstore_itest hang-one (itest_lose.c): stop_pid NULL: the fault
 * transport's hang of donor 0, else SIGSTOP/SIGCONT of that process */
int cmd_hang_one(struct pstore_cfg *cfg, unsigned int threads,
		 unsigned int npages, const char *stop_pid);

#endif
