// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rdma_client - the client side of the rdma suite, run inside the qemu
 * guest against a real cnetmem-donor over Soft-RoCE. Every check goes
 * through the transport interface (rdma/xport.h) with kind XPORT_RDMA.
 *
 *   rdma_client HOST PORT KEYFILE CHECK [ARG]
 *     alloc     connect, allocate two slabs, query, free one
 *     rw        pipelined RDMA WRITE then READ of random pages from four
 *               threads, verified byte for byte (registered buffers and
 *               bounce-copied ones); ops per post must exceed 1
 *     lat       4 KiB WRITE and READ latency, one request at a time
 *               (prints figures, checks data)
 *     ctl       control calls from four threads at once (more than the
 *               credits): every one answered, no receiver-not-ready
 *     evict     RECLAIM makes the donor send EVICT (an unsolicited SEND);
 *               the client sees XPORT_EV_EVICT and frees the slab
 *     badkey    a wrong pre-shared key: wait_up must fail with EACCES
 *     foreign   a second session forging the first one's slab address and
 *               rkey must be refused (remote access error), data intact
 *     kill FILE keeps I/O flowing, creates FILE, and then requires every
 *               request to complete (with errors) after the donor dies
 *     poll-own, poll-race, poll-teardown, poll-kill FILE
 *               see rdma_poll.c
 *     silent    see rdma_donor_cost.c
 *     conns PID see rdma_donor_cost.c
 *
 * Prints "ok: ..." or "fail: ..." lines; exit 0 only when the check holds.
 * Threading: main plus the submitter threads of `rw`; completions arrive on
 * the transport's thread.
 */
#include "cnm_config.h"

#include "common/clock.h"
#include "common/log.h"
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
#include <unistd.h>

#define PAGE	   4096u
#define SLAB_SIZE  (16ull << 20)
#define RW_PAGES   1024 /* pages written and read per rw check */
#define RW_THREADS 4
#define RW_WINDOW  32 /* in flight per thread */
#define LAT_ROUNDS 200
#define WAIT_MS	   20000

const char *host, *port;
struct auth_key key;
static struct auth_key opkey; /* the operator's, KEYFILE.op */

struct req {
	struct xport_io io;
	atomic_int done;
	int status;
};

static void req_done(struct xport_io *io, int status)
{
	struct req *r = (struct req *)io;

	r->status = status;
	atomic_store(&r->done, 1);
}

static int req_wait(struct req *r, unsigned int ms)
{
	uint64_t end = deadline_after_ms(ms);

	while (!atomic_load(&r->done)) {
		if (mono_ns() > end)
			return -ETIMEDOUT;
		usleep(50);
	}
	return r->status;
}

static void req_init(struct req *r, int dir, uint32_t slab, uint64_t off,
		     void *buf, uint32_t len)
{
	memset(r, 0, sizeof(*r));
	r->io.dir = (uint8_t)dir;
	r->io.slab = slab;
	r->io.off = off;
	r->io.len = len;
	r->io.buf = buf;
	r->io.done = req_done;
	atomic_store(&r->done, 0);
}

int open_x(const struct auth_key *k, uint8_t sess_byte,
	   unsigned int reconnect_ms, struct xport **out)
{
	struct xport_cfg cfg = { 0 };
	int ret;

	cfg.host = host;
	cfg.port = port;
	cfg.kind = XPORT_RDMA;
	cfg.key = k;
	cfg.slab_size = SLAB_SIZE;
	memset(cfg.session, sess_byte, sizeof(cfg.session));
	cfg.io_timeout_ms = 8000;
	cfg.ctl_timeout_ms = 5000;
	cfg.reconnect_min_ms = reconnect_ms / 4;
	cfg.reconnect_max_ms = reconnect_ms;
	ret = xport_open(&cfg, out);
	if (ret) {
		printf("fail: xport_open %s:%s: %s\n", host, port,
		       strerror(-ret));
		return ret;
	}
	ret = xport_wait_up(*out, 10000);
	if (ret) {
		printf("fail: connect: %s\n", strerror(-ret));
		xport_close(*out);
		*out = NULL;
	}
	return ret;
}

static void print_stats(struct xport *x, const char *what)
{
	struct xport_stats st;
	char hist[256];
	size_t n = 0;
	int i;

	xport_get_stats(x, &st);
	for (i = 0; i < XPORT_HIST; i++)
		n += (size_t)snprintf(hist + n, sizeof(hist) - n, "%s%llu",
				      i ? "," : "",
				      (unsigned long long)st.ops_per_post[i]);
	printf("stats %s: kind=%s posts=%llu ops=%llu ios=%llu "
	       "ops_per_post=%.2f hist=[%s] errors=%llu\n",
	       what, xport_kind_name(st.kind), (unsigned long long)st.posts,
	       (unsigned long long)st.ops, (unsigned long long)st.ios,
	       st.posts ? (double)st.ops / (double)st.posts : 0.0, hist,
	       (unsigned long long)st.errors);
}

static int check_alloc(void)
{
	struct xport_slab a, b;
	struct wire_state ws;
	struct xport *x;
	int ret;

	if (open_x(&key, 1, 0, &x))
		return 1;
	ret = xport_alloc(x, &a);
	if (!ret)
		ret = xport_alloc(x, &b);
	if (ret) {
		printf("fail: alloc: %s\n", strerror(-ret));
		goto out;
	}
	if (a.size != SLAB_SIZE || !a.rkey || !a.addr || a.slab == b.slab) {
		printf("fail: slab %u size %llu rkey %#x addr %#llx\n", a.slab,
		       (unsigned long long)a.size, a.rkey,
		       (unsigned long long)a.addr);
		ret = -EPROTO;
		goto out;
	}
	ret = xport_query(x, &ws);
	if (ret || ws.session_slabs != 2 || !(ws.caps & PROTO_CAP_RDMA)) {
		printf("fail: query: %s, session_slabs %u caps %#x\n",
		       strerror(-ret), ws.session_slabs, ws.caps);
		ret = ret ? ret : -EPROTO;
		goto out;
	}
	ret = xport_free(x, b.slab);
	if (ret) {
		printf("fail: free: %s\n", strerror(-ret));
		goto out;
	}
	printf("ok: slabs %u (rkey %#x addr %#llx) and %u; query says %u "
	       "slabs held, %u free\n",
	       a.slab, a.rkey, (unsigned long long)a.addr, b.slab,
	       ws.session_slabs, ws.free_slabs);
out:
	xport_close(x);
	return ret ? 1 : 0;
}

struct rw_job {
	struct xport *x;
	uint32_t slab;
	int dir;
	uint8_t *buf;	    /* RW_PAGES pages, page i at i * PAGE */
	const uint32_t *pg; /* remote page of local page i */
	unsigned int first, n;
	int errors;
};

/* Keeps RW_WINDOW requests in flight over pages [first, first+n). */
static void *rw_thread(void *arg)
{
	struct rw_job *j = arg;
	struct req *r = calloc(RW_WINDOW, sizeof(*r));
	unsigned int next = 0, done = 0, i;

	if (!r) {
		j->errors++;
		return NULL;
	}
	for (i = 0; i < RW_WINDOW; i++)
		atomic_store(&r[i].done, 1);
	while (done < j->n) {
		for (i = 0; i < RW_WINDOW; i++) {
			unsigned int p;

			if (!atomic_load(&r[i].done))
				continue;
			if (r[i].io.done) {
				if (r[i].status)
					j->errors++;
				done++;
				r[i].io.done = NULL;
			}
			if (next >= j->n)
				continue;
			p = j->first + next++;
			req_init(&r[i], j->dir, j->slab,
				 (uint64_t)j->pg[p] * PAGE, j->buf + p * PAGE,
				 PAGE);
			xport_submit(j->x, &r[i].io);
		}
		usleep(20);
	}
	free(r);
	return NULL;
}

static int run_rw(struct xport *x, uint32_t slab, int dir, uint8_t *buf,
		  const uint32_t *pg)
{
	struct rw_job j[RW_THREADS];
	pthread_t t[RW_THREADS];
	int i, errors = 0;

	for (i = 0; i < RW_THREADS; i++) {
		j[i] = (struct rw_job){ .x = x,
					.slab = slab,
					.dir = dir,
					.buf = buf,
					.pg = pg,
					.first = (unsigned int)i * RW_PAGES /
						 RW_THREADS,
					.n = RW_PAGES / RW_THREADS };
		pthread_create(&t[i], NULL, rw_thread, &j[i]);
	}
	for (i = 0; i < RW_THREADS; i++) {
		pthread_join(t[i], NULL);
		errors += j[i].errors;
	}
	return errors;
}

static int check_rw(void)
{
	size_t len = (size_t)RW_PAGES * PAGE;
	uint8_t *wbuf = aligned_alloc(PAGE, len);
	uint8_t *rbuf = aligned_alloc(PAGE, len);
	uint32_t *pg = calloc(RW_PAGES, sizeof(*pg));
	uint32_t npg = (uint32_t)(SLAB_SIZE / PAGE);
	struct xport_stats st;
	struct xport_slab s;
	struct xport *x = NULL;
	size_t i, bad = 0;
	uint64_t t0, tw, tr;
	int ret = 1, e;

	if (!wbuf || !rbuf || !pg || open_x(&key, 2, 0, &x))
		goto out;
	/* the write buffer is registered (zero-copy SGEs); the first half
	 * of the read buffer is, the second half goes through bounce
	 * buffers */
	if (xport_register(x, wbuf, len) || xport_register(x, rbuf, len / 2)) {
		printf("fail: xport_register\n");
		goto out;
	}
	if (xport_alloc(x, &s)) {
		printf("fail: alloc\n");
		goto out;
	}
	auth_random(wbuf, len);
	memset(rbuf, 0, len);
	/* a random permutation of distinct remote pages */
	for (i = 0; i < RW_PAGES; i++) {
		uint32_t v;

		auth_random(&v, sizeof(v));
		pg[i] = (uint32_t)(i * (npg / RW_PAGES) + v % (npg / RW_PAGES));
	}
	for (i = RW_PAGES - 1; i > 0; i--) {
		uint32_t v, k, tmp;

		auth_random(&v, sizeof(v));
		k = v % (uint32_t)(i + 1);
		tmp = pg[i];
		pg[i] = pg[k];
		pg[k] = tmp;
	}
	t0 = mono_ns();
	e = run_rw(x, s.slab, XPORT_WRITE, wbuf, pg);
	tw = mono_ns() - t0;
	if (e) {
		printf("fail: %d writes failed\n", e);
		goto out;
	}
	print_stats(x, "after writes");
	t0 = mono_ns();
	e = run_rw(x, s.slab, XPORT_READ, rbuf, pg);
	tr = mono_ns() - t0;
	if (e) {
		printf("fail: %d reads failed\n", e);
		goto out;
	}
	print_stats(x, "after reads");
	for (i = 0; i < len; i++)
		bad += wbuf[i] != rbuf[i];
	if (bad) {
		printf("fail: %zu bytes differ after read-back\n", bad);
		goto out;
	}
	xport_get_stats(x, &st);
	printf("ok: %u random pages written and read back over rdma, %zu "
	       "bytes verified\n",
	       RW_PAGES, len);
	printf("ok: figure (emulated, rxe under qemu TCG): %d threads x %d "
	       "in flight, random 4 KiB pages: write %.1f MiB/s, read %.1f "
	       "MiB/s\n",
	       RW_THREADS, RW_WINDOW,
	       (double)len / 1048576.0 / ((double)tw / 1e9),
	       (double)len / 1048576.0 / ((double)tr / 1e9));
	if (st.posts && st.ops > st.posts) {
		printf("ok: chained posts: %llu ops in %llu posts (%.2f per "
		       "post)\n",
		       (unsigned long long)st.ops, (unsigned long long)st.posts,
		       (double)st.ops / (double)st.posts);
		ret = 0;
	} else {
		printf("fail: no chaining: %llu ops in %llu posts\n",
		       (unsigned long long)st.ops,
		       (unsigned long long)st.posts);
	}
out:
	if (x)
		xport_close(x);
	free(wbuf);
	free(rbuf);
	free(pg);
	return ret;
}

static int check_lat(void)
{
	uint8_t *w = aligned_alloc(PAGE, PAGE), *r = aligned_alloc(PAGE, PAGE);
	uint64_t tw = 0, tr = 0, t0;
	struct xport_slab s;
	struct xport *x = NULL;
	struct req q;
	int i, ret = 1;

	if (!w || !r || open_x(&key, 3, 0, &x))
		goto out;
	if (xport_register(x, w, PAGE) || xport_register(x, r, PAGE) ||
	    xport_alloc(x, &s))
		goto out;
	for (i = 0; i < LAT_ROUNDS; i++) {
		uint64_t off = (uint64_t)(i % 512) * PAGE;

		auth_random(w, PAGE);
		req_init(&q, XPORT_WRITE, s.slab, off, w, PAGE);
		t0 = mono_ns();
		xport_submit(x, &q.io);
		if (req_wait(&q, WAIT_MS))
			goto out_fail;
		tw += mono_ns() - t0;
		req_init(&q, XPORT_READ, s.slab, off, r, PAGE);
		t0 = mono_ns();
		xport_submit(x, &q.io);
		if (req_wait(&q, WAIT_MS))
			goto out_fail;
		tr += mono_ns() - t0;
		if (memcmp(w, r, PAGE))
			goto out_fail;
	}
	printf("ok: figure (emulated, rxe under qemu TCG): 4 KiB rdma write "
	       "%.1f us, read %.1f us, mean of %d one at a time\n",
	       (double)tw / LAT_ROUNDS / 1000.0,
	       (double)tr / LAT_ROUNDS / 1000.0, LAT_ROUNDS);
	ret = 0;
	goto out;
out_fail:
	printf("fail: latency round %d: status %d or data differs\n", i,
	       q.status);
out:
	if (x)
		xport_close(x);
	free(w);
	free(r);
	return ret;
}

#define CTL_THREADS 4
#define CTL_CALLS   100

static void *ctl_thread(void *arg)
{
	struct xport *x = arg;
	struct wire_state ws;
	long bad = 0;
	int i;

	for (i = 0; i < CTL_CALLS; i++) {
		if (i % 2 ? xport_query(x, &ws) : xport_heartbeat(x, NULL))
			bad++;
	}
	return (void *)bad;
}

static int check_ctl(void)
{
	pthread_t t[CTL_THREADS];
	struct xport *x;
	long bad = 0;
	uint64_t rtt = 0;
	void *r;
	int i;

	if (open_x(&key, 8, 0, &x))
		return 1;
	for (i = 0; i < CTL_THREADS; i++)
		pthread_create(&t[i], NULL, ctl_thread, x);
	for (i = 0; i < CTL_THREADS; i++) {
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	if (!bad && xport_heartbeat(x, &rtt))
		bad++;
	xport_close(x);
	if (bad) {
		printf("fail: %ld of %d control calls failed\n", bad,
		       CTL_THREADS * CTL_CALLS + 1);
		return 1;
	}
	printf("ok: %d control calls from %d threads answered (credits "
	       "held); heartbeat rtt %.1f us (emulated)\n",
	       CTL_THREADS * CTL_CALLS + 1, CTL_THREADS, (double)rtt / 1000.0);
	return 0;
}

static atomic_int evicted = -1;

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	if (ev->type == XPORT_EV_EVICT)
		atomic_store(&evicted, (int)ev->slab);
}

/* RECLAIM as the operator (key KEYFILE.op), on a connection of its own. */
static int operator_reclaim(uint64_t bytes)
{
	struct xport_cfg cfg = { .host = host,
				 .port = port,
				 .kind = XPORT_RDMA,
				 .key = &opkey,
				 .slab_size = SLAB_SIZE };
	struct xport *x;
	int ret;

	memset(cfg.session, 7, sizeof(cfg.session));
	ret = xport_open(&cfg, &x);
	if (ret)
		return ret;
	ret = xport_wait_up(x, 10000);
	if (!ret)
		ret = xport_reclaim(x, bytes);
	xport_close(x);
	return ret;
}

static int check_evict(void)
{
	struct xport_cfg cfg = { 0 };
	struct xport_slab s;
	struct xport *x;
	uint64_t end;
	int ret = 1, slab;

	cfg.host = host;
	cfg.port = port;
	cfg.kind = XPORT_RDMA;
	cfg.key = &key;
	cfg.slab_size = SLAB_SIZE;
	memset(cfg.session, 9, sizeof(cfg.session));
	cfg.event = on_event;
	if (xport_open(&cfg, &x))
		return 1;
	if (xport_wait_up(x, 10000) || xport_alloc(x, &s)) {
		printf("fail: connect or alloc\n");
		goto out;
	}
	/* a client may not reclaim; the operator may (KEYFILE.op) */
	if (xport_reclaim(x, SLAB_SIZE) != -EPERM) {
		printf("fail: a client's reclaim was not refused\n");
		goto out;
	}
	if (operator_reclaim(SLAB_SIZE)) {
		printf("fail: reclaim\n");
		goto out;
	}
	end = deadline_after_ms(10000);
	while ((slab = atomic_load(&evicted)) < 0 && mono_ns() < end)
		usleep(1000);
	if (slab < 0) {
		printf("fail: no EVICT arrived\n");
		goto out;
	}
	if (xport_free(x, (uint32_t)slab)) {
		printf("fail: free of evicted slab %d\n", slab);
		goto out;
	}
	printf("ok: donor asked slab %d back by an unsolicited EVICT; freed\n",
	       slab);
	ret = 0;
out:
	xport_close(x);
	return ret;
}

static int check_badkey(void)
{
	struct auth_key bad = key;
	struct xport_cfg cfg = { 0 };
	struct xport *x;
	int ret;

	bad.bytes[0] ^= 0x5a;
	bad.set = 1;
	cfg.host = host;
	cfg.port = port;
	cfg.kind = XPORT_RDMA;
	cfg.key = &bad;
	cfg.slab_size = SLAB_SIZE;
	memset(cfg.session, 4, sizeof(cfg.session));
	ret = xport_open(&cfg, &x);
	if (ret) {
		printf("fail: xport_open: %s\n", strerror(-ret));
		return 1;
	}
	ret = xport_wait_up(x, 10000);
	xport_close(x);
	if (ret != -EACCES) {
		printf("fail: wrong key: wait_up gave %d (%s), want EACCES\n",
		       ret, strerror(-ret));
		return 1;
	}
	printf("ok: wrong pre-shared key refused (EACCES)\n");
	return 0;
}

static int check_foreign(void)
{
	uint8_t *a = aligned_alloc(PAGE, PAGE), *b = aligned_alloc(PAGE, PAGE);
	struct xport *xa = NULL, *xb = NULL;
	struct xport_slab s, s2, fake, mine;
	struct req q;
	int ret = 1, st;

	if (!a || !b || open_x(&key, 5, 0, &xa) || open_x(&key, 6, 1000, &xb))
		goto out;
	if (xport_alloc(xa, &s) || xport_alloc(xb, &mine)) {
		printf("fail: alloc\n");
		goto out;
	}
	auth_random(a, PAGE);
	req_init(&q, XPORT_WRITE, s.slab, 0, a, PAGE);
	xport_submit(xa, &q.io);
	if (req_wait(&q, WAIT_MS)) {
		printf("fail: write by the owner: %d\n", q.status);
		goto out;
	}
	/* session B uses A's address and key under a slab id of its own */
	fake = s;
	fake.slab = 0x7ffffff0u;
	xport_rdma_forge_slab(xb, &fake);
	memset(b, 0, PAGE);
	req_init(&q, XPORT_READ, fake.slab, 0, b, PAGE);
	xport_submit(xb, &q.io);
	st = req_wait(&q, WAIT_MS);
	if (!st || st == -ETIMEDOUT || !memcmp(a, b, PAGE)) {
		printf("fail: foreign read: status %d, data %s\n", st,
		       memcmp(a, b, PAGE) ? "not leaked" : "LEAKED");
		goto out;
	}
	printf("ok: foreign rkey refused on read (%s)\n", strerror(-st));
	/* B reconnects by itself and gets its own slab back with a fresh
	 * key; a forged write must fail as well */
	if (xport_wait_up(xb, 10000) ||
	    xport_rdma_slab_info(xb, mine.slab, &s2)) {
		printf("fail: session B did not reconnect with its slab\n");
		goto out;
	}
	req_init(&q, XPORT_WRITE, mine.slab, 0, b, PAGE);
	xport_submit(xb, &q.io);
	if (req_wait(&q, WAIT_MS)) {
		printf("fail: B's own slab after reconnect: %d\n", q.status);
		goto out;
	}
	printf("ok: B reconnected; its slab %u came back with rkey %#x\n",
	       mine.slab, s2.rkey);
	xport_rdma_forge_slab(xb, &fake);
	memset(b, 0xee, PAGE);
	req_init(&q, XPORT_WRITE, fake.slab, 0, b, PAGE);
	xport_submit(xb, &q.io);
	st = req_wait(&q, WAIT_MS);
	if (!st || st == -ETIMEDOUT) {
		printf("fail: foreign write: status %d\n", st);
		goto out;
	}
	memset(b, 0, PAGE);
	req_init(&q, XPORT_READ, s.slab, 0, b, PAGE);
	xport_submit(xa, &q.io);
	if (req_wait(&q, WAIT_MS) || memcmp(a, b, PAGE)) {
		printf("fail: owner's data changed or unreadable (%d)\n",
		       q.status);
		goto out;
	}
	printf("ok: foreign rkey refused on write (%s); owner's page intact\n",
	       strerror(-st));
	ret = 0;
out:
	if (xb)
		xport_close(xb);
	if (xa)
		xport_close(xa);
	free(a);
	free(b);
	return ret;
}

static int check_kill(const char *ready)
{
	uint8_t *buf = aligned_alloc(PAGE, (size_t)RW_WINDOW * PAGE);
	struct req *r = calloc(RW_WINDOW, sizeof(*r));
	unsigned long ok = 0, failed = 0, round = 0;
	struct xport_slab s;
	struct xport *x = NULL;
	uint64_t end;
	int i, fd, ret = 1, created = 0;

	if (!buf || !r || open_x(&key, 7, 0, &x) || xport_alloc(x, &s))
		goto out;
	xport_register(x, buf, (size_t)RW_WINDOW * PAGE);
	end = deadline_after_ms(60000);
	while (mono_ns() < end) {
		for (i = 0; i < RW_WINDOW; i++)
			req_init(&r[i], round & 1 ? XPORT_READ : XPORT_WRITE,
				 s.slab, (uint64_t)i * PAGE, buf + i * PAGE,
				 PAGE);
		for (i = 0; i < RW_WINDOW; i++)
			xport_submit(x, &r[i].io);
		for (i = 0; i < RW_WINDOW; i++) {
			int st = req_wait(&r[i], WAIT_MS);

			if (st == -ETIMEDOUT && !atomic_load(&r[i].done)) {
				printf("fail: request %d hangs after the "
				       "donor died\n",
				       i);
				goto out_hang;
			}
			if (st)
				failed++;
			else
				ok++;
		}
		round++;
		if (!created && round >= 20) {
			fd = open(ready, O_CREAT | O_WRONLY, 0644);
			if (fd >= 0)
				close(fd);
			created = 1;
		}
		if (failed)
			break;
	}
	if (!failed) {
		printf("fail: no request failed (%lu ok)\n", ok);
		goto out;
	}
	printf("ok: donor killed mid-transfer: %lu requests completed, %lu "
	       "failed with errors, none hung; state %s\n",
	       ok, failed, xport_state(x) == XPORT_UP ? "up (?)" : "not up");
	ret = 0;
out:
	if (x)
		xport_close(x);
	free(buf);
	free(r);
	return ret;
out_hang:
	/* do not free requests the transport may still own */
	fflush(stdout);
	_exit(1);
}

int main(int argc, char **argv)
{
	char err[200], oppath[4096];
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5) {
		fprintf(stderr,
			"usage: rdma_client HOST PORT KEYFILE "
			"alloc|rw|lat|ctl|evict|badkey|foreign|kill FILE|"
			"silent|conns PID|poll-own|poll-race|poll-teardown|"
			"poll-kill FILE\n");
		return 2;
	}
	host = argv[1];
	port = argv[2];
	if (auth_init() || auth_key_load(argv[3], &key, err, sizeof(err))) {
		fprintf(stderr, "rdma_client: key: %s\n", err);
		return 2;
	}
	snprintf(oppath, sizeof(oppath), "%s.op", argv[3]);
	if (!access(oppath, R_OK)) {
		if (auth_key_load(oppath, &opkey, err, sizeof(err))) {
			fprintf(stderr, "rdma_client: key: %s\n", err);
			return 2;
		}
		snprintf(opkey.name, sizeof(opkey.name), AUTH_OPERATOR);
	}
	if (!strcmp(argv[4], "alloc"))
		ret = check_alloc();
	else if (!strcmp(argv[4], "rw"))
		ret = check_rw();
	else if (!strcmp(argv[4], "lat"))
		ret = check_lat();
	else if (!strcmp(argv[4], "ctl"))
		ret = check_ctl();
	else if (!strcmp(argv[4], "evict"))
		ret = check_evict();
	else if (!strcmp(argv[4], "badkey"))
		ret = check_badkey();
	else if (!strcmp(argv[4], "foreign"))
		ret = check_foreign();
	else if (!strcmp(argv[4], "kill") && argc > 5)
		ret = check_kill(argv[5]);
	else if (!strcmp(argv[4], "poll-kill") && argc > 5)
		ret = check_poll_kill(argv[5]);
	else if (!strcmp(argv[4], "poll-own"))
		ret = check_poll_own();
	else if (!strcmp(argv[4], "poll-race"))
		ret = check_poll_race();
	else if (!strcmp(argv[4], "poll-teardown"))
		ret = check_poll_teardown();
	else if (!strcmp(argv[4], "silent"))
		ret = check_silent();
	else if (!strcmp(argv[4], "conns") && argc > 5)
		ret = check_conns(argv[5]);
	else
		ret = 2;
	return ret;
}
