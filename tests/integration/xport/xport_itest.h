/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xport_itest - what the parts of the transport integration test share
 * (xport_itest.c: main; xport_itest_lib.c: keys, checks, events, the
 * transport's configuration, synchronous I/O and random data;
 * xport_itest_load.c: pipelined and burst load; xport_itest_checks.c: the
 * checks; xport_itest_bench.c: the measurements).
 *
 * Threading: check() and the globals belong to the main thread; a worker
 * or burst thread touches only its own struct and the transport.
 */
#ifndef CNM_TESTS_XPORT_ITEST_H
#define CNM_TESTS_XPORT_ITEST_H

#include "common/clock.h"
#include "rdma/auth.h"
#include "rdma/xport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE	    4096u
#define SLAB	    (1u << 20)
#define MAX_PAGES   8 /* per request */
#define WINDOW	    32
#define HANG_MS	    30000 /* "never a hang": far above any timeout used */
#define IO_TIMEOUT  10000 /* the default; a loaded CI box stalls */
#define CTL_TIMEOUT 3000

extern int failures; /* checks that failed */
extern const char *host, *port;
/* $CNM_KEY and $CNM_OPKEY (tests/lib/common.sh): the client's key and the
 * operator's, for RECLAIM */
extern struct auth_key g_key, g_opkey;

void check(int ok, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct evlog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int up, down, evict;
	int down_err;
	uint32_t evict_slab;
};

struct sreq {
	struct xport_io io;
	sem_t sem;
	int status;
	atomic_int calls;
};

struct areq {
	struct xport_io io;
	struct worker *w;
	atomic_int busy; /* 1 from submit to done: catches double done */
	int status;
	uint8_t buf[MAX_PAGES * PAGE];
	uint8_t expect[MAX_PAGES * PAGE];
};

struct worker {
	struct xport *x;
	uint32_t slab;
	uint64_t base; /* region inside the slab */
	unsigned int pages;
	unsigned int nops;
	uint64_t seed;
	uint8_t *shadow;
	struct areq *reqs; /* WINDOW */
	sem_t free_sem;
	pthread_mutex_t lock;
	int freelist[WINDOW]; /* protected by lock */
	int nfree;
	/* results */
	atomic_uint completed, errors, bad_data, double_done;
	unsigned int submitted;
	int first_err;
	int stop_on_error;
	atomic_int saw_error;
};

/* xport_itest_lib.c */
/* Loads the key file named by environment variable var, if set. */
void env_key(const char *var, const char *name, struct auth_key *k);
void on_event(void *arg, struct xport *x, const struct xport_event *ev);
void evlog_init(struct evlog *e);
int evlog_wait(struct evlog *e, int *counter, int n, unsigned int ms);
void cfg_init(struct xport_cfg *cfg, struct evlog *ev, int seed);
void sreq_done(struct xport_io *io, int status);
int sem_wait_ms(sem_t *s, unsigned int ms);
void sreq_submit(struct xport *x, struct sreq *r, uint8_t dir, uint32_t slab,
		 uint64_t off, void *buf, uint32_t len);
int sync_io(struct xport *x, uint8_t dir, uint32_t slab, uint64_t off,
	    void *buf, uint32_t len);
uint64_t rnd_next(uint64_t *s);
void rnd_fill(uint64_t *s, void *buf, size_t len);
int open_up(struct xport_cfg *cfg, struct xport **x);
int connect_checked(struct xport_cfg *cfg, struct xport **x,
		    struct xport_slab *s);
uint64_t hist_multi(const uint64_t *h);
/* xport_itest_load.c */
void areq_done(struct xport_io *io, int status);
void worker_init(struct worker *w, struct xport *x, uint32_t slab,
		 uint64_t base, unsigned int pages, uint64_t seed);
void worker_fini(struct worker *w);
void *worker_main(void *arg);
int worker_drain(struct worker *w, unsigned int ms);
int worker_verify(struct worker *w);
uint64_t run_bursts(struct xport *x, uint32_t slab);

/* the checks (xport_itest_checks.c) and the measurements (_bench.c) */
int cmd_data(void);
int cmd_auth(const char *good, const char *bad);
int cmd_kill(pid_t pid, const char *mark);
int cmd_evict(void);
int cmd_stall(pid_t pid);
int cmd_bench(void);

#endif
