/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pstore_util - helpers of the page store unit tests (test_pstore.c,
 * test_pstore_seal.c): synchronous requests, page patterns, a store over
 * XPORT_MEM donors, each wrapped in the fault transport ("fault:NAME[:SIZE]",
 * rdma/fault.h), and the faults the tests inject through it.
 */
#ifndef CNM_TEST_PSTORE_UTIL_H
#define CNM_TEST_PSTORE_UTIL_H

#include "placement/pstore.h"
#include "placement/pstore_test.h"
#include "rdma/fault.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)

/* ------------------------------------------------------------ helpers */

struct sreq {
	struct pstore_req r;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int finished;
	int status;
};

static inline void sreq_done(struct pstore_req *r, int status)
{
	struct sreq *s = (struct sreq *)r;

	pthread_mutex_lock(&s->lock);
	s->status = status;
	s->finished++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

static inline void sreq_start(struct pstore *ps, struct sreq *s,
			      enum xport_dir dir, const uint64_t *lpn,
			      unsigned int n, void *buf)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->r.dir = dir;
	s->r.npages = n;
	s->r.lpn = lpn;
	s->r.buf = buf;
	s->r.done = sreq_done;
	pstore_submit(ps, &s->r);
}

static inline int sreq_wait(struct sreq *s)
{
	int st;

	pthread_mutex_lock(&s->lock);
	while (!s->finished)
		pthread_cond_wait(&s->cv, &s->lock);
	st = s->status;
	/* done() runs exactly once */
	ck_assert_int_eq(s->finished, 1);
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
	return st;
}

static inline int io(struct pstore *ps, enum xport_dir dir, const uint64_t *lpn,
		     unsigned int n, void *buf)
{
	struct sreq s;

	sreq_start(ps, &s, dir, lpn, n, buf);
	return sreq_wait(&s);
}

static inline int io1(struct pstore *ps, enum xport_dir dir, uint64_t lpn,
		      void *buf)
{
	return io(ps, dir, &lpn, 1, buf);
}

static inline void fill(void *buf, uint64_t lpn, uint32_t gen)
{
	uint64_t *p = buf;

	for (unsigned int i = 0; i < PSTORE_PAGE / 8; i++)
		p[i] = (lpn << 24) ^ ((uint64_t)gen << 48) ^ i;
}

static inline int check_page(const void *buf, uint64_t lpn, uint32_t gen)
{
	uint64_t want[PSTORE_PAGE / 8];

	fill(want, lpn, gen);
	return memcmp(buf, want, PSTORE_PAGE) == 0;
}

static inline int is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* latency and host trend are noise between mem donors of one process */
static double w_other = 1;
/* the suite runs twice: pages in plaintext, then sealed (as they are on
 * real donors) */
static enum pstore_seal seal_mode = PSTORE_SEAL_OFF;

static inline struct pstore *open_mem(unsigned int ndonors,
				      const char *const *names, unsigned int r,
				      uint64_t capacity, uint64_t slab_size,
				      const char *backup)
{
	static const char *const def[] = { "fault:a", "fault:b", "fault:c",
					   "fault:d" };
	struct pstore_cfg cfg = { 0 };
	struct pstore *ps = NULL;
	char err[256];
	int ret;

	cfg.donors = names ? names : def;
	cfg.ndonors = (int)ndonors;
	cfg.transport = XPORT_MEM;
	cfg.capacity = capacity;
	cfg.slab_size = slab_size;
	cfg.replicas = r;
	cfg.backup_path = backup;
	cfg.w_free = 1;
	cfg.w_trend = cfg.w_latency = w_other;
	cfg.seal = seal_mode;
	ret = pstore_open(&cfg, &ps, err, sizeof(err));
	ck_assert_msg(ret == 0, "pstore_open: %d %s", ret, err);
	return ps;
}

static inline uint32_t session_slabs(struct pstore *ps, unsigned int donor)
{
	struct wire_state st;

	ck_assert_int_eq(xport_query(pstore_test_xport(ps, donor), &st), 0);
	return st.session_slabs;
}

static inline void tmp_path(char *buf, size_t len, const char *tag)
{
	const char *dir = getenv("TMPDIR");

	snprintf(buf, len, "%s/cnm-pstore-%s-%d", dir ? dir : "/tmp", tag,
		 (int)getpid());
}

/* Allocates a page near hint and writes generation gen to it through buf
 * (which keeps that data). */
static inline uint64_t write_new(struct pstore *ps, uint64_t hint, uint32_t gen,
				 char *buf)
{
	uint64_t p;

	ck_assert_int_eq(pstore_page_alloc(ps, hint, &p), 0);
	fill(buf, p, gen);
	ck_assert_int_eq(io1(ps, XPORT_WRITE, p, buf), 0);
	return p;
}

/* lpn[0..n): runs of per pages at hints 0, step, 2 * step, ... */
static inline void alloc_all(struct pstore *ps, uint64_t *lpn, unsigned int n,
			     unsigned int per, uint64_t step)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t hint = (uint64_t)(i / per) * step + i % per;

		ck_assert_int_eq(pstore_page_alloc(ps, hint, &lpn[i]), 0);
	}
}

/* Writes generation g to each of lpn[0..n), one page at a time; gen[],
 * if given, follows. */
static inline void write_all(struct pstore *ps, const uint64_t *lpn,
			     uint32_t *gen, unsigned int n, uint32_t g)
{
	static char buf[PSTORE_PAGE];

	for (unsigned int i = 0; i < n; i++) {
		if (gen)
			gen[i] = g;
		fill(buf, lpn[i], g);
		ck_assert_int_eq(io1(ps, XPORT_WRITE, lpn[i], buf), 0);
	}
}

/* Each of lpn[0..n) reads back generation g, one page at a time. */
static inline void read_all(struct pstore *ps, const uint64_t *lpn,
			    unsigned int n, uint32_t g)
{
	static char buf[PSTORE_PAGE];

	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(io1(ps, XPORT_READ, lpn[i], buf), 0);
		ck_assert(check_page(buf, lpn[i], g));
	}
}

/* The fault transport under donor slot d. */
static inline struct xport *fx(struct pstore *ps, unsigned int d)
{
	struct xport *x = pstore_test_xport(ps, d);

	ck_assert_msg(xfault_is(x), "donor %u is not a fault: donor", d);
	return x;
}

/* Every io to donor slot d fails with err from now on (0 heals it). */
static inline void fail_donor(struct pstore *ps, unsigned int d, int err)
{
	ck_assert_int_eq(xfault_fail(fx(ps, d), XFAULT_IO, err), 0);
}

/* Ios to donor slot d are held (true), or released in order (false). */
static inline void hold_donor(struct pstore *ps, unsigned int d, bool hold)
{
	ck_assert_int_eq(xfault_hold(fx(ps, d), hold), 0);
}

/*
 * on: no donor gives a new slab (ALLOC fails with EIO), so the repair
 * thread finds no place for a new copy and a degraded slab stays degraded
 * until !on. Only slabs already placed can be written meanwhile.
 */
static inline void no_new_copies(struct pstore *ps, bool on)
{
	for (unsigned int d = 0; d < pstore_test_ndonors(ps); d++)
		ck_assert_int_eq(
			xfault_fail(fx(ps, d), XFAULT_ALLOC, on ? -EIO : 0), 0);
}

/* With donor d failing, page p reads back generation gen (through buf). */
static inline void read_without(struct pstore *ps, unsigned int d, uint64_t p,
				uint32_t gen, char *buf)
{
	fail_donor(ps, d, -ECONNRESET);
	ck_assert_int_eq(io1(ps, XPORT_READ, p, buf), 0);
	ck_assert(check_page(buf, p, gen));
	fail_donor(ps, d, 0);
}

/* a page store suite's main(): the suite NAME of tests (30 s each) with
 * plaintext pages, then "NAME sealed" with sealed ones; the exit status */
static inline int pstore_check_main(const char *name, const TTest *const *tests)
{
	static const struct cnm_tcase_opt opt = { .timeout = 30 };
	char sealed[64];
	Suite *s;
	int failed;

	seal_mode = PSTORE_SEAL_OFF;
	failed = cnm_check_main(name, &opt, tests);
	snprintf(sealed, sizeof(sealed), "%s sealed", name);
	seal_mode = PSTORE_SEAL_ON;
	s = suite_create(sealed);
	cnm_check_tcase(s, name, &opt, tests);
	failed += cnm_check_run(s);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
