// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_rate - the client transport alone, against a real donor: one
 * connection (rdma/xport.h), one slab, `depth` ios of `size` bytes kept in
 * flight for `secs` seconds, first writes, then reads whose every byte is
 * checked. Prints one line:
 *
 *   write_ops_s write_mib_s read_ops_s read_mib_s errors
 *
 * It uses only the public xport interface, so the same source builds
 * against any tree (bench/xport_ab compares two).
 *
 * Threading: the main thread submits; completions come on the transport's
 * thread and resubmit from there (a done() may resubmit: rdma/xport.h).
 */
#include "rdma/auth.h"
#include "rdma/xport.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 256

struct slot {
	struct xport_io io;
	unsigned int idx;
	uint8_t *buf;
};

static struct xport *g_x;
static struct slot g_slot[MAX_DEPTH];
static uint32_t g_size, g_slab, g_nslots;
static atomic_ulong g_ops, g_errors;
static atomic_int g_stop, g_inflight;
static sem_t g_idle;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill(struct slot *s, unsigned int pos)
{
	memset(s->buf, (int)(pos * 7 + 1), g_size);
}

static void submit(struct slot *s, unsigned int pos);

static void done(struct xport_io *io, int status)
{
	struct slot *s = (struct slot *)io;
	unsigned int pos = (unsigned int)(io->off / g_size);
	uint8_t want = (uint8_t)(pos * 7 + 1);

	if (status)
		atomic_fetch_add(&g_errors, 1);
	else if (io->dir == XPORT_READ &&
		 (s->buf[0] != want || s->buf[g_size - 1] != want))
		atomic_fetch_add(&g_errors, 1);
	atomic_fetch_add(&g_ops, 1);
	if (!atomic_load(&g_stop)) {
		submit(s, (pos + g_nslots) % (g_nslots * 4));
		return;
	}
	if (atomic_fetch_sub(&g_inflight, 1) == 1)
		sem_post(&g_idle);
}

static uint8_t g_dir;

static void submit(struct slot *s, unsigned int pos)
{
	memset(&s->io, 0, sizeof(s->io));
	s->io.dir = g_dir;
	s->io.slab = g_slab;
	s->io.len = g_size;
	s->io.off = (uint64_t)pos * g_size;
	s->io.buf = s->buf;
	s->io.done = done;
	if (g_dir == XPORT_WRITE)
		fill(s, pos);
	xport_submit(g_x, &s->io);
}

/* One phase: ops per second. */
static double phase(uint8_t dir, double secs)
{
	unsigned long n0 = atomic_load(&g_ops);
	double t0 = now_s(), t;
	unsigned int i;

	g_dir = dir;
	atomic_store(&g_stop, 0);
	atomic_store(&g_inflight, (int)g_nslots);
	for (i = 0; i < g_nslots; i++)
		submit(&g_slot[i], i);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&g_stop, 1);
	sem_wait(&g_idle);
	t = now_s() - t0;
	return (atomic_load(&g_ops) - n0) / t;
}

int main(int argc, char **argv)
{
	struct xport_cfg cfg = { .kind = XPORT_TCP,
				 .slab_size = 64ull << 20,
				 .reconnect_max_ms = 0 };
	struct auth_key key = { 0 };
	struct xport_slab slab;
	double secs, w, r;
	char err[256];
	unsigned int i;
	int ret;

	if (argc != 7) {
		fprintf(stderr, "usage: xport_rate HOST PORT KEYFILE SECONDS "
				"DEPTH SIZE\n");
		return 2;
	}
	cfg.host = argv[1];
	cfg.port = argv[2];
	secs = atof(argv[4]);
	g_nslots = (unsigned int)atoi(argv[5]);
	g_size = (uint32_t)atoi(argv[6]);
	if (!g_nslots || g_nslots > MAX_DEPTH || g_size < 512 ||
	    (uint64_t)g_size * g_nslots * 4 > cfg.slab_size || secs <= 0) {
		fprintf(stderr, "xport_rate: bad depth, size or seconds\n");
		return 2;
	}
	if (auth_init() || auth_key_load(argv[3], &key, err, sizeof(err))) {
		fprintf(stderr, "xport_rate: key: %s\n", err);
		return 2;
	}
	cfg.key = &key;
	if (getrandom(cfg.session, sizeof(cfg.session), 0) < 0)
		return 2;
	sem_init(&g_idle, 0, 0);
	for (i = 0; i < g_nslots; i++) {
		g_slot[i].buf = aligned_alloc(4096, (g_size + 4095) & ~4095u);
		if (!g_slot[i].buf)
			return 2;
	}
	ret = xport_open(&cfg, &g_x);
	if (!ret)
		ret = xport_wait_up(g_x, 10000);
	if (!ret)
		ret = xport_alloc(g_x, &slab);
	if (ret) {
		fprintf(stderr, "xport_rate: %s:%s: %s\n", cfg.host, cfg.port,
			strerror(-ret));
		return 1;
	}
	g_slab = slab.slab;
	w = phase(XPORT_WRITE, secs);
	r = phase(XPORT_READ, secs);
	printf("%.0f %.1f %.0f %.1f %lu\n", w, w * g_size / 1048576.0, r,
	       r * g_size / 1048576.0, atomic_load(&g_errors));
	xport_free(g_x, g_slab);
	xport_close(g_x);
	return atomic_load(&g_errors) ? 1 : 0;
}
