// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rdma_poll - the rdma_client checks of xport_poll() over real verbs
 * (issue 17, rdma/verbs_poll.c): the thread that posted an io reaps the
 * connection's CQ itself instead of waiting for the loop thread.
 *
 *   poll-own       four threads, each with a window of ios in flight,
 *                  collect their own completions (xport_poll with a spin
 *                  long enough to see them): every io completes once,
 *                  every byte read back matches, and completions ran on
 *                  the polling threads (else the poll path did nothing)
 *   poll-race      pollers with spins of 0, 2 us and 50 us race each
 *                  other and the loop (one thread never polls): every io
 *                  completes once, within WAIT_MS, bytes checked
 *   poll-teardown  pollers keep ios in flight while a forged rkey makes
 *                  the donor refuse one: the error completion ends the
 *                  link under the pollers; every io completes once (ok or
 *                  an error), none hangs, the transport reconnects and a
 *                  polled write and read-back of a page match
 *   poll-kill FILE the same, but FILE is created once the pollers run,
 *                  and the suite kills the donor then: every io completes
 *                  once, some with an error, none hangs
 *
 * Threading: main plus PT_THREADS pollers; done() runs on a poller or on
 * the transport's loop thread.
 */
#include "cnm_config.h"

#include "common/clock.h"
#include "rdma/auth.h"
#include "rdma/verbs_probe.h"
#include "rdma/xport.h"
#include "tests/rdma/rdma_client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE	      4096u
#define PT_THREADS    4
#define PT_PAGES      128 /* per thread */
#define PT_WINDOW     8
#define WAIT_MS	      20000
#define NO_POLL	      UINT64_MAX
#define PT_ROUNDS_MAX 200 /* until stopped: the link-end checks */
/* a spin that sees an io's completion here: Soft-RoCE does the NIC's
 * work on the guest's one emulated CPU, which the pollers share (with 5
 * ms most polls gave up; with 40 ms every one collected its io) */
#define OWN_SPIN 40000000ull

struct preq {
	struct xport_io io;
	atomic_int done; /* calls of done() */
	int status;
	pid_t tid; /* the thread done() ran on */
};

struct pjob {
	struct xport *x;
	uint32_t slab;
	uint8_t *buf;	  /* PT_PAGES pages of this thread's */
	uint32_t first;	  /* slab page of buf's first page */
	uint64_t spin_ns; /* NO_POLL: wait only */
	int rounds;	  /* write then read of every page, rounds times */
	atomic_int *stop; /* teardown: end the round at the next window */
	struct preq *r;	  /* PT_PAGES * 2 * rounds */
	unsigned long polls, hits, own, failed, hung;
	pid_t tid;
};

static atomic_ulong nfailed; /* ios that failed, of every thread */

static void preq_done(struct xport_io *io, int status)
{
	struct preq *r = (struct preq *)io;

	r->status = status;
	r->tid = (pid_t)syscall(SYS_gettid);
	atomic_fetch_add(&r->done, 1);
}

/* Collects r's completion: polls first unless NO_POLL, then waits. 0 or
 * -ETIMEDOUT when it never came. */
static int collect(struct pjob *j, struct preq *r)
{
	uint64_t end = deadline_after_ms(WAIT_MS);

	if (j->spin_ns != NO_POLL && !atomic_load(&r->done)) {
		j->polls++;
		if (!xport_poll(j->x, &r->done, j->spin_ns))
			j->hits++;
	}
	while (!atomic_load(&r->done)) {
		if (mono_ns() > end)
			return -ETIMEDOUT;
		usleep(20);
	}
	if (r->tid == j->tid)
		j->own++;
	if (r->status) {
		j->failed++;
		atomic_fetch_add(&nfailed, 1);
	}
	return 0;
}

/* One pass over the job's pages in direction dir, PT_WINDOW at a time;
 * reqs from r on. Returns the number of reqs used. */
static unsigned int pass(struct pjob *j, int dir, struct preq *r)
{
	unsigned int i, k, n = 0;

	for (i = 0; i < PT_PAGES && !j->hung; i += PT_WINDOW) {
		if (j->stop && atomic_load(j->stop) > 1)
			break;
		for (k = i; k < i + PT_WINDOW && k < PT_PAGES; k++) {
			struct preq *q = &r[n + k - i];

			memset(q, 0, sizeof(*q));
			q->io.dir = (uint8_t)dir;
			q->io.slab = j->slab;
			q->io.off = (uint64_t)(j->first + k) * PAGE;
			q->io.len = PAGE;
			q->io.buf = j->buf + (size_t)k * PAGE;
			q->io.done = preq_done;
			xport_submit(j->x, &q->io);
		}
		for (k = 0; k < PT_WINDOW && i + k < PT_PAGES; k++)
			if (collect(j, &r[n + k]))
				j->hung++;
		n += k;
	}
	return n;
}

static void *pjob_run(void *arg)
{
	struct pjob *j = arg;
	unsigned int used = 0;
	int round;

	j->tid = (pid_t)syscall(SYS_gettid);
	for (round = 0; round < j->rounds && !j->hung; round++) {
		used += pass(j, XPORT_WRITE, j->r + used);
		used += pass(j, XPORT_READ, j->r + used);
	}
	return NULL;
}

/* Every request completed exactly once. */
static unsigned long calls_wrong(const struct preq *r, unsigned int n)
{
	unsigned long bad = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		bad += r[i].io.done && atomic_load(&r[i].done) != 1;
	return bad;
}

/* Runs the jobs to the end; 0 when none hung and every io completed
 * once. stop, when set, is raised to 1 by the caller meanwhile. */
static int run_jobs(struct pjob *j, unsigned int nreq)
{
	pthread_t t[PT_THREADS];
	unsigned long hung = 0, bad = 0;
	int i;

	for (i = 0; i < PT_THREADS; i++)
		pthread_create(&t[i], NULL, pjob_run, &j[i]);
	for (i = 0; i < PT_THREADS; i++)
		pthread_join(t[i], NULL);
	usleep(200 * 1000); /* a second completion would come by now */
	for (i = 0; i < PT_THREADS; i++) {
		hung += j[i].hung;
		bad += calls_wrong(j[i].r, nreq);
		printf("thread %d: spin %s%llu ns: %lu polls, %lu hits, %lu "
		       "completed on the thread, %lu failed\n",
		       i, j[i].spin_ns == NO_POLL ? "none " : "",
		       j[i].spin_ns == NO_POLL
			       ? 0ull
			       : (unsigned long long)j[i].spin_ns,
		       j[i].polls, j[i].hits, j[i].own, j[i].failed);
	}
	if (hung) {
		printf("fail: %lu requests never completed\n", hung);
		fflush(stdout);
		_exit(1); /* the transport may still own them */
	}
	if (bad) {
		printf("fail: %lu requests completed more than once\n", bad);
		return 1;
	}
	return 0;
}

struct pcheck {
	struct xport *x;
	struct xport_slab s;
	int have_slab;
	uint8_t *wbuf, *rbuf, *orig; /* orig: what wbuf held first */
	struct pjob j[PT_THREADS];
	unsigned int nreq;
};

static void pcheck_free(struct pcheck *c)
{
	int i;

	/* the donor's memory is small: the checks after this one need it */
	if (c->have_slab && xport_state(c->x) == XPORT_UP &&
	    xport_free(c->x, c->s.slab))
		printf("warning: slab %u not freed\n", c->s.slab);
	if (c->x)
		xport_close(c->x);
	for (i = 0; i < PT_THREADS; i++) {
		free(c->j[i].r);
	}
	free(c->wbuf);
	free(c->rbuf);
	free(c->orig);
}

/* Connects (session sess), allocates a slab, fills the write buffer with
 * random bytes and makes the jobs: writes from wbuf, reads into rbuf. */
static int pcheck_init(struct pcheck *c, uint8_t sess, unsigned int recon_ms,
		       const uint64_t *spin, int rounds)
{
	size_t len = (size_t)PT_THREADS * PT_PAGES * PAGE;
	int i;

	memset(c, 0, sizeof(*c));
	c->nreq = (unsigned int)(2 * PT_PAGES * rounds);
	c->wbuf = aligned_alloc(PAGE, len);
	c->rbuf = aligned_alloc(PAGE, len);
	c->orig = malloc(len);
	if (!c->wbuf || !c->rbuf || !c->orig ||
	    open_x(&key, sess, recon_ms, &c->x))
		return -1;
	if (xport_register(c->x, c->wbuf, len) ||
	    xport_register(c->x, c->rbuf, len) || xport_alloc(c->x, &c->s)) {
		printf("fail: register or alloc\n");
		return -1;
	}
	c->have_slab = 1;
	auth_random(c->wbuf, len);
	memcpy(c->orig, c->wbuf, len);
	memset(c->rbuf, 0, len);
	for (i = 0; i < PT_THREADS; i++) {
		struct pjob *j = &c->j[i];

		j->x = c->x;
		j->slab = c->s.slab;
		j->buf = c->wbuf + (size_t)i * PT_PAGES * PAGE;
		j->first = (uint32_t)(i * PT_PAGES);
		j->spin_ns = spin[i];
		j->rounds = rounds;
		j->r = calloc(c->nreq, sizeof(*j->r));
		if (!j->r)
			return -1;
	}
	return 0;
}

/* A round of writes and reads of wbuf (the reads land in wbuf: the same
 * bytes), then a read pass into rbuf: both must hold orig. */
static int write_then_read(struct pcheck *c)
{
	size_t len = (size_t)PT_THREADS * PT_PAGES * PAGE;
	unsigned long failed = 0;
	size_t i, bad = 0;
	int k, ret;

	for (k = 0; k < PT_THREADS; k++) {
		c->j[k].buf = c->wbuf + (size_t)k * PT_PAGES * PAGE;
		c->j[k].rounds = 1;
		memset(c->j[k].r, 0, c->nreq * sizeof(struct preq));
	}
	ret = run_jobs(c->j, c->nreq);
	for (k = 0; k < PT_THREADS; k++) {
		failed += c->j[k].failed;
		c->j[k].buf = c->rbuf + (size_t)k * PT_PAGES * PAGE;
		c->j[k].failed = 0;
	}
	if (ret || failed) {
		printf("fail: %lu requests failed\n", failed);
		return 1;
	}
	for (k = 0; k < PT_THREADS; k++) {
		memset(c->j[k].r, 0, c->nreq * sizeof(struct preq));
		pass(&c->j[k], XPORT_READ, c->j[k].r);
		failed += c->j[k].failed + c->j[k].hung;
	}
	for (i = 0; i < len; i++)
		bad += c->orig[i] != c->rbuf[i] || c->orig[i] != c->wbuf[i];
	if (failed || bad) {
		printf("fail: read-back: %lu failed, %zu bytes differ\n",
		       failed, bad);
		return 1;
	}
	printf("ok: %zu bytes written and read back, verified\n", len);
	return 0;
}

int check_poll_own(void)
{
	const uint64_t spin[PT_THREADS] = { OWN_SPIN, OWN_SPIN, OWN_SPIN,
					    OWN_SPIN };
	unsigned long own = 0, hits = 0, polls = 0;
	struct pcheck c;
	int i, ret = 1;

	if (pcheck_init(&c, 8, 0, spin, 1) || write_then_read(&c))
		goto out;
	for (i = 0; i < PT_THREADS; i++) {
		own += c.j[i].own;
		hits += c.j[i].hits;
		polls += c.j[i].polls;
	}
	if (!hits || !own) {
		printf("fail: the pollers collected nothing themselves (%lu "
		       "hits of %lu polls, %lu on the polling thread)\n",
		       hits, polls, own);
		goto out;
	}
	printf("ok: %lu of %lu polls collected their io; %lu ios completed "
	       "on the thread that polled\n",
	       hits, polls, own);
	ret = 0;
out:
	pcheck_free(&c);
	return ret;
}

int check_poll_race(void)
{
	const uint64_t spin[PT_THREADS] = { 0, 2000, 50000, NO_POLL };
	struct pcheck c;
	int ret = 1;

	if (pcheck_init(&c, 9, 0, spin, 4))
		goto out;
	/* four rounds of the racing mix, then the read-back check */
	if (run_jobs(c.j, c.nreq))
		goto out;
	if (write_then_read(&c))
		goto out;
	printf("ok: pollers racing the loop lost no completion\n");
	ret = 0;
out:
	pcheck_free(&c);
	return ret;
}

/* A read through a slab id of our own on an address and key the donor
 * never granted us: the donor refuses it, the link ends. */
static void forge_read(struct pcheck *c, struct preq *q)
{
	struct xport_slab fake = c->s;

	fake.slab = 0x7ffffff1u;
	fake.rkey ^= 0x5a5a00;
	xport_rdma_forge_slab(c->x, &fake);
	memset(q, 0, sizeof(*q));
	q->io.dir = XPORT_READ;
	q->io.slab = fake.slab;
	q->io.len = PAGE;
	q->io.buf = c->rbuf;
	q->io.done = preq_done;
	xport_submit(c->x, &q->io);
}

/* Runs the pollers until the link ends under them: a forged read ends
 * it (q), or the donor is killed once the file ready exists. 0 when
 * polls ran, every io completed once, none hung and some failed. */
static int poll_through_link_end(struct pcheck *c, const char *ready,
				 struct preq *q)
{
	pthread_t t[PT_THREADS];
	unsigned long failed = 0, hits = 0, polls = 0;
	atomic_int stop = 0;
	uint64_t end;
	int i, fd;

	atomic_store(&nfailed, 0);
	for (i = 0; i < PT_THREADS; i++) {
		c->j[i].stop = &stop;
		pthread_create(&t[i], NULL, pjob_run, &c->j[i]);
	}
	usleep(300 * 1000); /* the pollers are busy */
	if (ready) {
		fd = open(ready, O_CREAT | O_WRONLY, 0644);
		if (fd >= 0)
			close(fd);
	} else {
		forge_read(c, q);
	}
	end = deadline_after_ms(WAIT_MS);
	while (!atomic_load(&nfailed) && mono_ns() < end)
		usleep(10 * 1000);
	usleep(300 * 1000); /* ios submitted past the end fail too */
	atomic_store(&stop, 2);
	for (i = 0; i < PT_THREADS; i++)
		pthread_join(t[i], NULL);
	usleep(200 * 1000); /* a second completion would come by now */
	for (i = 0; i < PT_THREADS; i++) {
		failed += c->j[i].failed;
		hits += c->j[i].hits;
		polls += c->j[i].polls;
		if (c->j[i].hung) {
			printf("fail: %lu requests of thread %d never "
			       "completed\n",
			       c->j[i].hung, i);
			fflush(stdout);
			_exit(1); /* the transport may still own them */
		}
		if (calls_wrong(c->j[i].r, c->nreq)) {
			printf("fail: thread %d: a request completed more "
			       "than once\n",
			       i);
			return 1;
		}
	}
	printf("ok: the link ended under the pollers: %lu ios failed, %lu of "
	       "%lu polls collected their io, none hung or completed twice\n",
	       failed, hits, polls);
	if (!failed || !polls) {
		printf("fail: %s\n", failed ? "nothing was polled"
					    : "no io of the pollers failed");
		return 1;
	}
	return 0;
}

int check_poll_teardown(void)
{
	const uint64_t spin[PT_THREADS] = { OWN_SPIN, 5000000, 50000, 0 };
	struct preq q = { 0 };
	struct pcheck c;
	uint8_t *page;
	int i, ret = 1;

	/* rounds until stopped: past the link's end ios fail at once */
	if (pcheck_init(&c, 10, 1000, spin, PT_ROUNDS_MAX) ||
	    poll_through_link_end(&c, NULL, &q))
		goto out;
	if (atomic_load(&q.done) != 1 || !q.status) {
		printf("fail: the forged read: %d completions, status %d\n",
		       atomic_load(&q.done), q.status);
		goto out;
	}
	printf("ok: forged read refused (%s)\n", strerror(-q.status));
	/* it reconnects; a polled write and read-back of a page match */
	if (xport_wait_up(c.x, 10000)) {
		printf("fail: no reconnect\n");
		goto out;
	}
	page = c.rbuf + PAGE;
	for (i = 0; i < 2; i++) {
		struct pjob *j = &c.j[0];

		memset(&q, 0, sizeof(q));
		q.io.dir = i ? XPORT_READ : XPORT_WRITE;
		q.io.slab = c.s.slab;
		q.io.len = PAGE;
		q.io.buf = i ? page : c.orig;
		q.io.done = preq_done;
		j->tid = (pid_t)syscall(SYS_gettid);
		j->failed = j->hung = 0;
		xport_submit(c.x, &q.io);
		if (collect(j, &q) || q.status) {
			printf("fail: %s after the reconnect: %d\n",
			       i ? "read" : "write", q.status);
			goto out;
		}
	}
	if (memcmp(page, c.orig, PAGE)) {
		printf("fail: the page read back after the reconnect "
		       "differs\n");
		goto out;
	}
	printf("ok: reconnected; a polled write and read-back match\n");
	ret = 0;
out:
	pcheck_free(&c);
	return ret;
}

int check_poll_kill(const char *ready)
{
	const uint64_t spin[PT_THREADS] = { OWN_SPIN, OWN_SPIN, 5000000, 0 };
	struct pcheck c;
	int ret = 1;

	if (pcheck_init(&c, 11, 0, spin, PT_ROUNDS_MAX) ||
	    poll_through_link_end(&c, ready, NULL))
		goto out;
	printf("ok: donor killed under the pollers; state %s\n",
	       xport_state(c.x) == XPORT_UP ? "up (?)" : "not up");
	ret = 0;
out:
	pcheck_free(&c);
	return ret;
}
