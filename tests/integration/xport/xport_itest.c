// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_itest - integration checks of the TCP transport against a real
 * cnetmem-donor (started by the shell test on 127.0.0.1). One line per
 * check: "ok - ..." or "not ok - ...". Exit 0 when every check passed.
 *
 *   xport_itest data  HOST PORT          pipelined random reads/writes,
 *                                        several threads and connections,
 *                                        verified byte for byte; chains
 *   xport_itest auth  HOST PORT KEY BAD  right key works; wrong and no
 *                                        key refused with -EACCES
 *   xport_itest kill  HOST PORT PID MARK SIGKILL the donor mid-transfer:
 *                                        every pending request fails in
 *                                        time; touch MARK, wait for the
 *                                        restarted donor (EV_UP), work
 *   xport_itest evict HOST PORT          RECLAIM makes the donor send
 *                                        EVICT: XPORT_EV_EVICT for our slab
 *   xport_itest stall HOST PORT PID      SIGSTOP the donor: requests time
 *                                        out, SIGCONT: reconnect under the
 *                                        same session, the data is there
 *   xport_itest bench HOST PORT          latency and throughput figures
 *                                        (HOST "mem": the XPORT_MEM backend)
 *
 * No check here depends on timing beyond generous upper bounds that only
 * catch hangs.
 */
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

static int failures;
static const char *host, *port;
/* $CNM_KEY and $CNM_OPKEY (tests/lib/common.sh): the client's key and the
 * operator's, for RECLAIM */
static struct auth_key g_key, g_opkey;

/* Loads the key file named by environment variable var, if set. */
static void env_key(const char *var, const char *name, struct auth_key *k)
{
	const char *path = getenv(var);
	char err[256];

	if (!path)
		return;
	if (auth_init() || auth_key_load(path, k, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", var, err);
		exit(2);
	}
	snprintf(k->name, sizeof(k->name), "%s", name);
}

static void check(int ok, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(int ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("%s - %s", ok ? "ok" : "not ok", what);
	if (fmt && *fmt) {
		printf(" (");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf(")");
	}
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

/* --- events --- */

struct evlog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int up, down, evict;
	int down_err;
	uint32_t evict_slab;
};

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct evlog *e = arg;

	pthread_mutex_lock(&e->lock);
	if (ev->type == XPORT_EV_UP)
		e->up++;
	else if (ev->type == XPORT_EV_DOWN) {
		e->down++;
		e->down_err = ev->error;
	} else {
		e->evict++;
		e->evict_slab = ev->slab;
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void evlog_init(struct evlog *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
}

/* Waits until *counter >= n; 0 or -ETIMEDOUT. */
static int evlog_wait(struct evlog *e, int *counter, int n, unsigned int ms)
{
	struct timespec ts = deadline_timespec(deadline_after_ms(ms));
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	while (*counter < n && !ret)
		ret = pthread_cond_clockwait(&e->cond, &e->lock,
					     CLOCK_MONOTONIC, &ts)
			      ? -ETIMEDOUT
			      : 0;
	if (*counter >= n)
		ret = 0;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static void cfg_init(struct xport_cfg *cfg, struct evlog *ev, int seed)
{
	unsigned int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->host = host;
	cfg->port = port;
	cfg->kind = XPORT_TCP;
	cfg->key = g_key.set ? &g_key : NULL;
	cfg->slab_size = SLAB;
	cfg->io_timeout_ms = IO_TIMEOUT;
	cfg->ctl_timeout_ms = CTL_TIMEOUT;
	if (getrandom(cfg->session, PROTO_SESSION_LEN, 0) != PROTO_SESSION_LEN)
		for (i = 0; i < PROTO_SESSION_LEN; i++)
			cfg->session[i] = (uint8_t)(seed * 31 + i + getpid());
	if (ev) {
		cfg->event = on_event;
		cfg->event_arg = ev;
	}
}

/* --- synchronous io --- */

struct sreq {
	struct xport_io io;
	sem_t sem;
	int status;
	atomic_int calls;
};

static void sreq_done(struct xport_io *io, int status)
{
	struct sreq *r = (struct sreq *)io;

	r->status = status;
	atomic_fetch_add(&r->calls, 1);
	sem_post(&r->sem);
}

static int sem_wait_ms(sem_t *s, unsigned int ms)
{
	struct timespec ts = deadline_timespec(deadline_after_ms(ms));

	while (sem_clockwait(s, CLOCK_MONOTONIC, &ts))
		if (errno != EINTR)
			return -ETIMEDOUT;
	return 0;
}

/* Submits r; its sem is posted when done (the caller destroys it). */
static void sreq_submit(struct xport *x, struct sreq *r, uint8_t dir,
			uint32_t slab, uint64_t off, void *buf, uint32_t len)
{
	memset(r, 0, sizeof(*r));
	sem_init(&r->sem, 0, 0);
	r->io = (struct xport_io){ .dir = dir,
				   .slab = slab,
				   .len = len,
				   .off = off,
				   .buf = buf,
				   .done = sreq_done };
	xport_submit(x, &r->io);
}

static int sync_io(struct xport *x, uint8_t dir, uint32_t slab, uint64_t off,
		   void *buf, uint32_t len)
{
	struct sreq r;
	int ret;

	sreq_submit(x, &r, dir, slab, off, buf, len);
	ret = sem_wait_ms(&r.sem, HANG_MS);
	if (ret) {
		fprintf(stderr, "sync io hung\n");
		exit(2); /* the request still references our stack */
	}
	sem_destroy(&r.sem);
	return r.status;
}

/* --- random data --- */

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void rnd_fill(uint64_t *s, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = rnd_next(s);

		memcpy(p + i, &v, 8);
	}
}

/* --- pipelined random load (data, kill) --- */

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

static void areq_done(struct xport_io *io, int status)
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

static void worker_init(struct worker *w, struct xport *x, uint32_t slab,
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

static void worker_fini(struct worker *w)
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
static void *worker_main(void *arg)
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
static int worker_drain(struct worker *w, unsigned int ms)
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
static int worker_verify(struct worker *w)
{
	uint8_t *buf = malloc((size_t)w->pages * PAGE);
	int ret;

	ret = sync_io(w->x, XPORT_READ, w->slab, w->base, buf, w->pages * PAGE);
	if (!ret && memcmp(buf, w->shadow, (size_t)w->pages * PAGE))
		ret = -EILSEQ;
	free(buf);
	return ret;
}

static int open_up(struct xport_cfg *cfg, struct xport **x)
{
	int ret = xport_open(cfg, x);

	if (ret)
		return ret;
	ret = xport_wait_up(*x, 5000);
	if (ret) {
		xport_close(*x);
		*x = NULL;
	}
	return ret;
}

/* Connects (a check) and, with s, allocates a slab (a check); 0 or the
 * first error. */
static int connect_checked(struct xport_cfg *cfg, struct xport **x,
			   struct xport_slab *s)
{
	int ret = open_up(cfg, x);

	check(!ret, "connect", "%d", ret);
	if (ret || !s)
		return ret;
	ret = xport_alloc(*x, s);
	check(!ret, "alloc", "%d", ret);
	return ret;
}

static uint64_t hist_multi(const uint64_t *h)
{
	uint64_t n = 0;
	int b;

	for (b = 1; b < XPORT_HIST; b++)
		n += h[b];
	return n;
}

/* --- bursts: many threads submitting at the same moment --- */

#define BURST_THR	 8
#define BURST_IOS	 16
#define BURST_MIN_ROUNDS 4
#define BURST_MAX_ROUNDS 200
#define BURST_LEN	 (64u << 10)

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
static uint64_t run_bursts(struct xport *x, uint32_t slab)
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

/* --- checks --- */

#define NCONN	 3
#define NTHR	 3
#define DATA_OPS 2500

static int cmd_data(void)
{
	struct xport *x[NCONN];
	struct xport_cfg cfg;
	struct xport_slab s[NCONN];
	struct xport_stats st, tot = { 0 };
	static struct worker w[NCONN][NTHR];
	pthread_t th[NCONN][NTHR];
	unsigned int bad = 0, errs = 0, dbl = 0, hung = 0, verr = 0;
	uint64_t multi = 0, big = 0;
	int i, j, b, ret;

	for (i = 0; i < NCONN; i++) {
		cfg_init(&cfg, NULL, i);
		ret = open_up(&cfg, &x[i]);
		check(!ret, "connect", "connection %d: %d", i, ret);
		if (ret)
			return 1;
		ret = xport_alloc(x[i], &s[i]);
		check(!ret && s[i].size == SLAB, "alloc a slab",
		      "connection %d: %d", i, ret);
		if (ret)
			return 1;
	}
	for (i = 0; i < NCONN; i++)
		for (j = 0; j < NTHR; j++) {
			worker_init(&w[i][j], x[i], s[i].slab,
				    (uint64_t)j * (SLAB / NTHR / PAGE) * PAGE,
				    SLAB / NTHR / PAGE,
				    0x9e3779b9u * (i * 7 + j + 1));
			w[i][j].nops = DATA_OPS;
			pthread_create(&th[i][j], NULL, worker_main, &w[i][j]);
		}
	for (i = 0; i < NCONN; i++)
		for (j = 0; j < NTHR; j++) {
			pthread_join(th[i][j], NULL);
			if (worker_drain(&w[i][j], HANG_MS))
				hung++;
		}
	for (i = 0; i < NCONN; i++)
		for (j = 0; j < NTHR; j++) {
			bad += atomic_load(&w[i][j].bad_data);
			errs += atomic_load(&w[i][j].errors);
			dbl += atomic_load(&w[i][j].double_done);
			if (!hung && worker_verify(&w[i][j]))
				verr++;
		}
	check(!hung, "every request completed", "%u workers hung", hung);
	check(!errs, "no request failed", "%u errors", errs);
	check(!dbl, "no request completed twice", "%u", dbl);
	check(!bad, "reads saw every earlier write, byte for byte",
	      "%u bad reads", bad);
	check(!verr, "final read-back of every region matches", "%u bad", verr);
	for (i = 0; i < NCONN; i++) {
		xport_get_stats(x[i], &st);
		tot.posts += st.posts;
		tot.ops += st.ops;
		tot.ios += st.ios;
		tot.bytes_read += st.bytes_read;
		tot.bytes_written += st.bytes_written;
		multi += hist_multi(st.ops_per_post);
		for (b = 3; b < XPORT_HIST; b++)
			big += st.kib_per_op[b];
		check(st.state == XPORT_UP && st.kind == XPORT_TCP,
		      "stats name the backend and state", "conn %d", i);
	}
	printf("# %llu ios, %llu ops, %llu posts: %.2f ops/post, %.2f "
	       "ios/op, %llu chains of 2+ ops, %llu ops of 8 KiB+\n",
	       (unsigned long long)tot.ios, (unsigned long long)tot.ops,
	       (unsigned long long)tot.posts, (double)tot.ops / tot.posts,
	       (double)tot.ios / tot.ops, (unsigned long long)multi,
	       (unsigned long long)big);
	multi += run_bursts(x[0], s[0].slab);
	check(multi > 0, "chains of more than one op under load (stats)",
	      "%llu such chains", (unsigned long long)multi);
	for (i = 0; i < NCONN; i++) {
		struct wire_state ws;
		uint64_t rtt = 0;

		ret = xport_query(x[i], &ws);
		check(!ret && ws.session_slabs == 1 && ws.slab_size == SLAB,
		      "query reports the session's slab", "%d", ret);
		ret = xport_heartbeat(x[i], &rtt);
		check(!ret && rtt > 0, "heartbeat", "%d", ret);
		ret = xport_free(x[i], s[i].slab);
		check(!ret, "free the slab", "%d", ret);
		ret = xport_free(x[i], s[i].slab);
		check(ret < 0, "double free refused", "%d", ret);
		xport_close(x[i]);
		for (j = 0; j < NTHR; j++)
			worker_fini(&w[i][j]);
	}
	return failures != 0;
}

static int cmd_auth(const char *good, const char *bad)
{
	struct auth_key kg, kb;
	struct xport_cfg cfg;
	struct xport *x;
	char err[256];
	uint64_t t0;
	int ret;

	if (auth_init() || auth_key_load(good, &kg, err, sizeof(err)) ||
	    auth_key_load(bad, &kb, err, sizeof(err))) {
		fprintf(stderr, "keys: %s\n", err);
		return 2;
	}
	cfg_init(&cfg, NULL, 1);
	cfg.key = &kg;
	ret = open_up(&cfg, &x);
	check(!ret, "the right key is accepted", "%d", ret);
	if (!ret) {
		struct xport_slab s;

		ret = xport_alloc(x, &s);
		check(!ret, "alloc with the right key", "%d", ret);
		xport_close(x);
	}

	cfg.key = &kb;
	t0 = mono_ns();
	ret = xport_open(&cfg, &x);
	if (!ret) {
		ret = xport_wait_up(x, HANG_MS);
		check(ret == -EACCES, "a wrong key is refused with -EACCES",
		      "%d after %llu ms", ret,
		      (unsigned long long)(mono_ns() - t0) / 1000000);
		check(xport_state(x) != XPORT_UP, "not up with a wrong key",
		      NULL);
		xport_close(x);
	}

	cfg.key = NULL;
	cfg.reconnect_max_ms = 1000; /* still refused at once, no spin */
	t0 = mono_ns();
	ret = xport_open(&cfg, &x);
	if (!ret) {
		struct xport_slab s;
		uint8_t buf[PAGE];

		ret = xport_wait_up(x, HANG_MS);
		check(ret == -EACCES, "a missing key is refused with -EACCES",
		      "%d after %llu ms", ret,
		      (unsigned long long)(mono_ns() - t0) / 1000000);
		ret = sync_io(x, XPORT_WRITE, 1, 0, buf, PAGE);
		check(ret == -ENOTCONN, "io without a session fails -ENOTCONN",
		      "%d", ret);
		ret = xport_alloc(x, &s);
		check(ret == -ENOTCONN, "alloc without a session fails", "%d",
		      ret);
		xport_close(x);
	}
	return failures != 0;
}

/* Starts pipelined load on one connection; returns the workers. */
static void start_load(struct xport *x, uint32_t slab, struct worker *w,
		       pthread_t *th, int n, unsigned int nops)
{
	int j;

	for (j = 0; j < n; j++) {
		worker_init(&w[j], x, slab,
			    (uint64_t)j * (SLAB / n / PAGE) * PAGE,
			    SLAB / n / PAGE, 77 + j);
		w[j].nops = nops;
		w[j].stop_on_error = 1;
		pthread_create(&th[j], NULL, worker_main, &w[j]);
	}
}

static int cmd_kill(pid_t pid, const char *mark)
{
	struct worker w[4];
	pthread_t th[4];
	struct xport_cfg cfg;
	struct xport_stats st;
	struct xport_slab s;
	struct evlog ev;
	struct xport *x;
	uint8_t buf[PAGE], back[PAGE];
	unsigned int errs = 0, hung = 0, dbl = 0, done = 0, sub = 0;
	uint64_t t0, seed = 5;
	int j, ret, fd;

	evlog_init(&ev);
	cfg_init(&cfg, &ev, 3);
	cfg.reconnect_min_ms = 50;
	cfg.reconnect_max_ms = 400;
	if (connect_checked(&cfg, &x, &s))
		return 1;
	start_load(x, s.slab, w, th, 4, 1u << 30);
	/* let the load run until plenty has completed, then crash it */
	t0 = mono_ns();
	while (atomic_load(&w[0].completed) < 500 &&
	       mono_ns() - t0 < 10000000000ull)
		usleep(1000);
	check(kill(pid, SIGKILL) == 0, "donor killed mid-transfer", NULL);
	t0 = mono_ns();
	for (j = 0; j < 4; j++) {
		pthread_join(th[j], NULL);
		if (worker_drain(&w[j], IO_TIMEOUT + CTL_TIMEOUT + 5000))
			hung++;
		errs += atomic_load(&w[j].errors);
		dbl += atomic_load(&w[j].double_done);
		done += atomic_load(&w[j].completed);
		sub += w[j].submitted;
	}
	check(!hung && done == sub,
	      "every pending request completed after the kill",
	      "%u of %u, %llu ms", done, sub,
	      (unsigned long long)(mono_ns() - t0) / 1000000);
	check(errs > 0 && w[0].first_err < 0,
	      "pending requests failed with an error", "%u errors, first %d",
	      errs, w[0].first_err);
	check(!dbl, "no request completed twice", "%u", dbl);
	ret = evlog_wait(&ev, &ev.down, 1, HANG_MS);
	pthread_mutex_lock(&ev.lock);
	j = ev.down_err;
	pthread_mutex_unlock(&ev.lock);
	check(ret == 0 && j < 0, "XPORT_EV_DOWN emitted", "error %d", j);
	ret = sync_io(x, XPORT_WRITE, s.slab, 0, buf, PAGE);
	check(ret == -ENOTCONN, "io while the donor is down fails at once",
	      "%d", ret);
	for (j = 0; j < 4; j++)
		worker_fini(&w[j]);

	/* tell the shell to restart the donor on the same port */
	fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "1\n", 2) != 2) {
		perror(mark);
		return 2;
	}
	close(fd);
	check(evlog_wait(&ev, &ev.up, 2, HANG_MS) == 0,
	      "reconnected to the restarted donor (XPORT_EV_UP)", NULL);
	ret = xport_alloc(x, &s);
	check(!ret, "alloc after the restart", "%d", ret);
	rnd_fill(&seed, buf, PAGE);
	ret = sync_io(x, XPORT_WRITE, s.slab, 4 * PAGE, buf, PAGE);
	if (!ret)
		ret = sync_io(x, XPORT_READ, s.slab, 4 * PAGE, back, PAGE);
	check(!ret && !memcmp(buf, back, PAGE),
	      "data round-trips after the restart", "%d", ret);
	xport_get_stats(x, &st);
	check(st.reconnects >= 1, "stats count the reconnect", "%llu",
	      (unsigned long long)st.reconnects);
	xport_close(x);
	return failures != 0;
}

/* RECLAIM as the operator, over a connection of its own. */
static int operator_reclaim(uint64_t bytes)
{
	struct xport_cfg cfg;
	struct xport *x;
	int ret;

	cfg_init(&cfg, NULL, 7);
	if (g_opkey.set)
		cfg.key = &g_opkey;
	ret = open_up(&cfg, &x);
	if (ret)
		return ret;
	ret = xport_reclaim(x, bytes);
	xport_close(x);
	return ret;
}

static int cmd_evict(void)
{
	struct xport_cfg cfg;
	struct xport_slab s;
	struct evlog ev;
	struct xport *x;
	uint32_t slab;
	int ret;

	evlog_init(&ev);
	cfg_init(&cfg, &ev, 6);
	if (connect_checked(&cfg, &x, NULL))
		return 1;
	/* two slabs, the first given back: the one left is not slab 0 */
	ret = xport_alloc(x, &s);
	if (!ret) {
		slab = s.slab;
		ret = xport_alloc(x, &s);
		if (!ret)
			ret = xport_free(x, slab);
	}
	check(!ret, "alloc", "%d", ret);
	if (ret)
		return 1;
	/* a client may not reclaim; the operator may */
	ret = xport_reclaim(x, SLAB);
	check(ret == -EPERM || !g_opkey.set,
	      "the donor refuses a client's reclaim", "%d", ret);
	ret = operator_reclaim(SLAB);
	check(!ret, "the donor takes the operator's reclaim request", "%d",
	      ret);
	ret = evlog_wait(&ev, &ev.evict, 1, HANG_MS);
	pthread_mutex_lock(&ev.lock);
	slab = ev.evict_slab;
	pthread_mutex_unlock(&ev.lock);
	check(!ret && slab == s.slab,
	      "the donor's EVICT arrives as XPORT_EV_EVICT for our slab",
	      "slab %u, ours %u", slab, s.slab);
	ret = xport_free(x, s.slab);
	check(!ret, "the evicted slab is freed", "%d", ret);
	check(xport_state(x) == XPORT_UP, "still up after the eviction", NULL);
	xport_close(x);
	return failures != 0;
}

/* kill() returns before the target stops: wait for state 'T' */
static int wait_stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 5000; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return -errno;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't'))
				return 0;
		}
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static int cmd_stall(pid_t pid)
{
	struct xport_cfg cfg;
	struct xport_stats st;
	struct xport_slab s;
	struct evlog ev;
	struct xport *x;
	uint8_t buf[PAGE], back[PAGE];
	uint64_t seed = 9, t0;
	int ret;

	evlog_init(&ev);
	cfg_init(&cfg, &ev, 4);
	cfg.io_timeout_ms = 500;
	cfg.ctl_timeout_ms = 1000;
	cfg.reconnect_min_ms = 50;
	cfg.reconnect_max_ms = 200;
	if (connect_checked(&cfg, &x, &s))
		return 1;
	rnd_fill(&seed, buf, PAGE);
	ret = sync_io(x, XPORT_WRITE, s.slab, 0, buf, PAGE);
	check(!ret, "write before the stall", "%d", ret);

	check(kill(pid, SIGSTOP) == 0 && wait_stopped(pid) == 0,
	      "donor stopped (SIGSTOP)", NULL);
	t0 = mono_ns();
	ret = sync_io(x, XPORT_READ, s.slab, 0, back, PAGE);
	check(ret == -ETIMEDOUT, "a request to a stalled donor times out",
	      "%d after %llu ms", ret,
	      (unsigned long long)(mono_ns() - t0) / 1000000);
	check(evlog_wait(&ev, &ev.down, 1, HANG_MS) == 0,
	      "the timed-out connection is reset (XPORT_EV_DOWN)", NULL);
	ret = xport_heartbeat(x, NULL);
	check(ret == -ENOTCONN || ret == -ETIMEDOUT,
	      "control calls fail while down", "%d", ret);
	kill(pid, SIGCONT);
	check(evlog_wait(&ev, &ev.up, 2, HANG_MS) == 0,
	      "reconnected once the donor answers (XPORT_EV_UP)", NULL);
	memset(back, 0, sizeof(back));
	ret = sync_io(x, XPORT_READ, s.slab, 0, back, PAGE);
	check(!ret && !memcmp(buf, back, PAGE),
	      "same session after the reconnect: the slab kept its data", "%d",
	      ret);
	xport_get_stats(x, &st);
	check(st.timeouts >= 1, "stats count the timeout", "%llu",
	      (unsigned long long)st.timeouts);
	xport_close(x);
	return failures != 0;
}

/* --- measurements (no assertions on timing) --- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct tput {
	struct xport *x;
	uint32_t slab;
	unsigned int id, n, errors;
};

static void *tput_main(void *arg)
{
	struct tput *t = arg;
	static __thread uint8_t buf[PAGE];
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (sync_io(t->x, (i & 1) ? XPORT_READ : XPORT_WRITE, t->slab,
			    (uint64_t)((t->id * 31 + i * 7) % 256) * PAGE, buf,
			    PAGE))
			t->errors++;
	return NULL;
}

static int cmd_bench(void)
{
	enum { N = 5000, TN = 8, TOPS = 20000 };
	static uint64_t lat[N];
	uint8_t buf[PAGE] = { 1 };
	struct xport_cfg cfg;
	struct xport_stats st;
	struct xport_slab s;
	struct tput t[TN];
	pthread_t th[TN];
	struct xport *x;
	uint64_t t0, p0, o0;
	int i, d, ret;

	cfg_init(&cfg, NULL, 5);
	if (!strcmp(host, "mem")) { /* the local-memory backend */
		cfg.kind = XPORT_MEM;
		cfg.mem_bytes = 64 << 20;
	}
	ret = open_up(&cfg, &x);
	if (ret || xport_alloc(x, &s))
		return 1;
	for (d = 0; d < 2; d++) {
		for (i = 0; i < N; i++) {
			t0 = mono_ns();
			ret = sync_io(x, d ? XPORT_READ : XPORT_WRITE, s.slab,
				      (uint64_t)(i % 256) * PAGE, buf, PAGE);
			lat[i] = mono_ns() - t0;
			if (ret) {
				fprintf(stderr, "bench: io failed: %d\n", ret);
				return 1;
			}
		}
		qsort(lat, N, sizeof(lat[0]), cmp_u64);
		printf("sync 4 KiB %s: median %.1f us, p90 %.1f us, p99 %.1f "
		       "us\n",
		       d ? "read" : "write", lat[N / 2] / 1e3,
		       lat[N * 9 / 10] / 1e3, lat[N * 99 / 100] / 1e3);
	}
	xport_get_stats(x, &st);
	p0 = st.posts;
	o0 = st.ops;
	t0 = mono_ns();
	for (i = 0; i < TN; i++) {
		t[i] = (struct tput){ x, s.slab, i, TOPS / TN, 0 };
		pthread_create(&th[i], NULL, tput_main, &t[i]);
	}
	for (i = 0; i < TN; i++) {
		pthread_join(th[i], NULL);
		if (t[i].errors) {
			fprintf(stderr, "bench: %u ios failed\n", t[i].errors);
			return 1;
		}
	}
	t0 = mono_ns() - t0;
	xport_get_stats(x, &st);
	printf("%d sync submitters, 4 KiB r/w: %.0f ops/s, %.1f MiB/s, "
	       "%.2f ops/post\n",
	       TN, TOPS / (t0 / 1e9),
	       TOPS * (double)PAGE / (1 << 20) / (t0 / 1e9),
	       (double)(st.ops - o0) / (st.posts - p0));

	/* pipelined: 8 threads, 32 requests in flight each, 1-8 pages */
	{
		static struct worker w[TN];
		uint64_t ios0 = st.ios,
			 bytes0 = st.bytes_read + st.bytes_written;

		p0 = st.posts;
		o0 = st.ops;

		t0 = mono_ns();
		for (i = 0; i < TN; i++) {
			worker_init(&w[i], x, s.slab,
				    (uint64_t)i * (SLAB / TN / PAGE) * PAGE,
				    SLAB / TN / PAGE, 1000 + i);
			w[i].nops = 2500;
			pthread_create(&th[i], NULL, worker_main, &w[i]);
		}
		for (i = 0; i < TN; i++) {
			pthread_join(th[i], NULL);
			worker_drain(&w[i], HANG_MS);
		}
		t0 = mono_ns() - t0;
		xport_get_stats(x, &st);
		printf("%d pipelined submitters (32 in flight each), 4-32 KiB "
		       "r/w: %.0f ios/s, %.1f MiB/s, %.2f ops/post, %llu "
		       "errors\n",
		       TN, (st.ios - ios0) / (t0 / 1e9),
		       (st.bytes_read + st.bytes_written - bytes0) /
			       (double)(1 << 20) / (t0 / 1e9),
		       (double)(st.ops - o0) / (st.posts - p0),
		       (unsigned long long)st.errors);
		for (i = 0; i < TN; i++)
			worker_fini(&w[i]);
	}
	xport_close(x);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr,
			"usage: %s data|auth|kill|evict|stall|bench HOST "
			"PORT [ARGS]\n",
			argv[0]);
		return 2;
	}
	cmd = argv[1];
	host = argv[2];
	port = argv[3];
	env_key("CNM_KEY", AUTH_NAME_DEFAULT, &g_key);
	env_key("CNM_OPKEY", AUTH_OPERATOR, &g_opkey);
	if (!strcmp(cmd, "data"))
		return cmd_data();
	if (!strcmp(cmd, "auth") && argc == 6)
		return cmd_auth(argv[4], argv[5]);
	if (!strcmp(cmd, "kill") && argc == 6)
		return cmd_kill(atoi(argv[4]), argv[5]);
	if (!strcmp(cmd, "evict"))
		return cmd_evict();
	if (!strcmp(cmd, "stall") && argc == 5)
		return cmd_stall(atoi(argv[4]));
	if (!strcmp(cmd, "bench"))
		return cmd_bench();
	fprintf(stderr, "%s: bad arguments\n", argv[0]);
	return 2;
}
