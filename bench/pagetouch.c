// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pagetouch - a page-touching workload that verifies every page it reads.
 *
 * Meant to run inside a memory cgroup smaller than --size, so that its pages
 * go to swap and come back. Every page holds a pattern derived from its
 * index and a per-page generation; a page read back with any other content
 * is a verification error (counted, first few reported, exit status 1).
 *
 * --marker TEXT (up to 64 bytes) is written at byte 64 of every page and
 * checked with the rest: tests look for it where pages must not show.
 *
 * Phases (each timed and printed as one JSON line on stdout):
 *   seq_write  every page written once, threads on contiguous shares
 *   seq_read   every page read back in order and verified
 *   rand       --touches random pages per thread: verify, then rewrite
 *              with the next generation (each thread its own share)
 *   verify     a final pass over every page
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE	    4096u
#define WORDS	    (PAGE / sizeof(uint64_t))
#define MAX_THREADS 64
#define MARKER_OFF  64 /* --marker bytes go here in each page */
#define MARKER_MAX  64

struct run {
	const char *marker; /* --marker: written into every page, checked */
	size_t marker_len;
	uint8_t *mem;
	uint8_t *gen; /* per-page generation, small, stays resident */
	uint64_t npages;
	unsigned int threads;
	uint64_t touches;
	uint64_t seed;
	atomic_uint_fast64_t errors;
};

struct worker {
	struct run *run;
	unsigned int id;
	void (*fn)(struct worker *w);
	uint64_t first, count; /* this thread's share of pages */
};

static uint64_t pattern(uint64_t page, uint8_t gen, unsigned int word)
{
	uint64_t x = (page << 8 | gen) * 0x9e3779b97f4a7c15ull + word;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ull;
}

static void fill(struct run *r, uint64_t page)
{
	uint64_t *p = (uint64_t *)(r->mem + page * PAGE);

	for (unsigned int i = 0; i < WORDS; i++)
		p[i] = pattern(page, r->gen[page], i);
	if (r->marker_len)
		memcpy((uint8_t *)p + MARKER_OFF, r->marker, r->marker_len);
}

static void check(struct run *r, uint64_t page)
{
	const uint64_t *p = (const uint64_t *)(r->mem + page * PAGE);
	unsigned int i = MARKER_OFF / 8;

	if (r->marker_len &&
	    memcmp((const uint8_t *)p + MARKER_OFF, r->marker, r->marker_len))
		goto bad;
	for (i = 0; i < WORDS; i++) {
		/* the words the marker covers hold the marker */
		if (r->marker_len && i >= MARKER_OFF / 8 &&
		    i < (MARKER_OFF + r->marker_len + 7) / 8)
			continue;
		if (p[i] != pattern(page, r->gen[page], i))
			goto bad;
	}
	return;
bad:
	if (atomic_fetch_add(&r->errors, 1) < 5)
		fprintf(stderr,
			"pagetouch: page %" PRIu64 " word %u: bad content\n",
			page, i);
}

static void seq_write(struct worker *w)
{
	for (uint64_t pg = w->first; pg < w->first + w->count; pg++) {
		w->run->gen[pg] = 1;
		fill(w->run, pg);
	}
}

static void seq_read(struct worker *w)
{
	for (uint64_t pg = w->first; pg < w->first + w->count; pg++)
		check(w->run, pg);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void rand_touch(struct worker *w)
{
	uint64_t s = w->run->seed * 2654435761u + w->id + 1, pg;

	for (uint64_t i = 0; i < w->run->touches; i++) {
		pg = w->first + xorshift(&s) % w->count;
		check(w->run, pg);
		w->run->gen[pg] =
			w->run->gen[pg] == 255 ? 1 : w->run->gen[pg] + 1;
		fill(w->run, pg);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->fn(w);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int phase(struct run *r, const char *name, void (*fn)(struct worker *),
		 uint64_t pages_touched)
{
	struct worker w[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	uint64_t share = r->npages / r->threads;
	double t0 = now_s(), secs;

	for (unsigned int i = 0; i < r->threads; i++) {
		w[i] = (struct worker){ .run = r,
					.id = i,
					.fn = fn,
					.first = i * share,
					.count = share };
		if (i == r->threads - 1)
			w[i].count = r->npages - w[i].first;
		if (pthread_create(&t[i], NULL, worker_main, &w[i])) {
			fprintf(stderr, "pagetouch: cannot start threads\n");
			return -1;
		}
	}
	for (unsigned int i = 0; i < r->threads; i++)
		pthread_join(t[i], NULL);
	secs = now_s() - t0;
	printf("{\"phase\":\"%s\",\"threads\":%u,\"pages\":%" PRIu64
	       ",\"secs\":%.3f,\"mb_s\":%.1f,\"errors\":%" PRIu64 "}\n",
	       name, r->threads, pages_touched, secs,
	       pages_touched * (double)PAGE / 1048576.0 / secs,
	       (uint64_t)atomic_load(&r->errors));
	fflush(stdout);
	return 0;
}

static int parse_mib(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'G' || *end == 'g')
		v <<= 30;
	else if (*end == 'M' || *end == 'm' || *end == '\0')
		v <<= 20;
	else
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "touches", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 'r' },
		{ "phases", required_argument, NULL, 'p' },
		{ "marker", required_argument, NULL, 'm' },
		{ 0 }
	};
	struct run r = { .threads = 1, .seed = 1 };
	const char *phases = "seq_write,seq_read,rand,verify";
	uint64_t size = 256ull << 20;
	int c;

	while ((c = getopt_long(argc, argv, "s:t:n:r:p:m:", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_mib(optarg, &size))
				goto usage;
			break;
		case 't':
			r.threads = atoi(optarg);
			break;
		case 'n':
			r.touches = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			r.seed = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			phases = optarg;
			break;
		case 'm':
			r.marker = optarg;
			r.marker_len = strlen(optarg);
			if (!r.marker_len || r.marker_len > MARKER_MAX)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (r.threads < 1 || r.threads > MAX_THREADS || size < PAGE * 64)
		goto usage;
	r.npages = size / PAGE;
	if (!r.touches)
		r.touches = r.npages / r.threads;
	r.mem = mmap(NULL, r.npages * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.gen = calloc(r.npages, 1);
	if (r.mem == MAP_FAILED || !r.gen) {
		fprintf(stderr, "pagetouch: cannot allocate %" PRIu64 " MiB\n",
			size >> 20);
		return 2;
	}
	/* 4 KiB pages, as swap sees them from real applications */
	madvise(r.mem, r.npages * PAGE, MADV_NOHUGEPAGE);
	if (strstr(phases, "seq_write") &&
	    phase(&r, "seq_write", seq_write, r.npages))
		return 2;
	if (strstr(phases, "seq_read") &&
	    phase(&r, "seq_read", seq_read, r.npages))
		return 2;
	if (strstr(phases, "rand") &&
	    phase(&r, "rand", rand_touch, r.touches * r.threads))
		return 2;
	if (strstr(phases, "verify") && phase(&r, "verify", seq_read, r.npages))
		return 2;
	munmap(r.mem, r.npages * PAGE);
	free(r.gen);
	return atomic_load(&r.errors) ? 1 : 0;
usage:
	fprintf(stderr,
		"usage: pagetouch [--size MiB|NG] [--threads N] [--touches N]"
		" [--seed N] [--phases seq_write,seq_read,rand,verify]"
		" [--marker TEXT]\n");
	return 2;
}
