// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * palloc - logical pages allocated by chunk (palloc.h): a summary byte per
 * chunk, a bitmap only for chunks partly allocated.
 *
 * Invariants (between calls): count[c] is the number of set bits the
 * chunk stands for; sum[c] is FREE when count[c] is 0, FULL when it is
 * the chunk's size, PART otherwise; a PART chunk's bitmap has no bit set
 * past npages. A FREE or FULL chunk's bitmap is never read: it may hold
 * anything (a page given back reads zeros, one not yet given back its old
 * bits).
 */
#include "placement/palloc.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t chunk_words(const struct palloc *pa)
{
	return (1ull << pa->shift) / 64;
}

static uint64_t *chunk_bits(const struct palloc *pa, uint32_t c)
{
	return pa->bits + (uint64_t)c * chunk_words(pa);
}

static void crash_point(const struct palloc *pa)
{
	if (pa->crash_point)
		pa->crash_point(pa->crash_arg);
}

/* pages in chunk c (the last one may be short) */
static uint64_t chunk_pages(const struct palloc *pa, uint32_t c)
{
	uint64_t first = (uint64_t)c << pa->shift;
	uint64_t n = pa->npages - first;

	return n < (1ull << pa->shift) ? n : 1ull << pa->shift;
}

uint64_t palloc_bits_bytes(uint64_t npages, unsigned int shift)
{
	uint64_t nchunks = (npages + (1ull << shift) - 1) >> shift;

	return nchunks * ((1ull << shift) / 8);
}

uint64_t palloc_sum_bytes(uint64_t npages, unsigned int shift)
{
	return (npages + (1ull << shift) - 1) >> shift;
}

/* Gives chunk c's bitmap page back when it is whole pages (real chunks;
 * a test's small chunks share pages and are left alone). Only a
 * published FREE or FULL chunk's: the next PART rewrites it whole. A
 * failure leaves the page as it is: memory, never a wrong bit. */
static void chunk_release(const struct palloc *pa, uint32_t c)
{
	uint64_t len = chunk_words(pa) * 8;
	long psz = sysconf(_SC_PAGESIZE);
	void *p = chunk_bits(pa, c);

	if (psz <= 0 || len % (uint64_t)psz || (uintptr_t)p % (uint64_t)psz)
		return;
	if (!madvise(p, len, MADV_REMOVE))
		return;
	/* EINVAL: locked (the daemon's mlockall, on fault): unlocked,
	 * dropped and locked on fault again, as rdma/mem.c gives a slab
	 * back; nobody reads the page meanwhile */
	if (errno != EINVAL || munlock(p, len))
		goto out_warn;
	if (madvise(p, len, MADV_REMOVE)) {
		int err = errno;

		mlock2(p, len, MLOCK_ONFAULT);
		errno = err;
		goto out_warn;
	}
	if (mlock2(p, len, MLOCK_ONFAULT))
		LOG_RATELIMITED(LOG_WARNING,
				"page allocator: chunk %u: cannot lock its "
				"bitmap page again: %s",
				c, strerror(errno));
	return;

out_warn:
	LOG_RATELIMITED(LOG_WARNING,
			"page allocator: chunk %u: cannot give its bitmap "
			"page back: %s",
			c, strerror(errno));
}

/* Writes chunk c's bitmap as its summary says it is (FREE: no bit, FULL:
 * the chunk's pages), before it becomes PART. */
static void chunk_fill(struct palloc *pa, uint32_t c, int state)
{
	uint64_t *w = chunk_bits(pa, c), n = chunk_pages(pa, c);

	memset(w, 0, chunk_words(pa) * 8);
	crash_point(pa);
	if (state != PALLOC_FULL)
		return;
	memset(w, 0xff, n / 64 * 8);
	if (n % 64)
		w[n / 64] = (1ull << (n % 64)) - 1;
	crash_point(pa);
}

static void chunk_publish(struct palloc *pa, uint32_t c, int old)
{
	int state = PALLOC_PART;

	if (!pa->count[c])
		state = PALLOC_FREE;
	else if (pa->count[c] == chunk_pages(pa, c))
		state = PALLOC_FULL;
	if (state == old)
		return;
	atomic_store_explicit(&pa->sum[c], (uint8_t)state,
			      memory_order_release);
	crash_point(pa);
	if (state != PALLOC_PART)
		chunk_release(pa, c);
}

/* Sets (set) or clears page p's bit; the chunk's count is already the
 * new one. Publishes the chunk's new state as palloc.h orders it. */
static void page_change(struct palloc *pa, uint64_t p, bool set)
{
	uint32_t c = (uint32_t)(p >> pa->shift);
	int old = atomic_load_explicit(&pa->sum[c], memory_order_relaxed);
	uint64_t *w = &pa->bits[p / 64], m = 1ull << (p % 64);
	bool part = pa->count[c] && pa->count[c] < chunk_pages(pa, c);

	if (part && old != PALLOC_PART)
		chunk_fill(pa, c, old);
	if (part || old == PALLOC_PART) {
		/* the change itself: in the bitmap of a PART chunk, or in the
		 * one built for it; a chunk leaving PART keeps its bits
		 * right until its summary says FREE or FULL */
		if (set)
			*w |= m;
		else
			*w &= ~m;
		crash_point(pa);
	}
	chunk_publish(pa, c, old);
}

bool palloc_test(const struct palloc *pa, uint64_t p)
{
	uint32_t c;
	int s;

	if (p >= pa->npages)
		return false;
	c = (uint32_t)(p >> pa->shift);
	s = atomic_load_explicit(&pa->sum[c], memory_order_relaxed);
	if (s != PALLOC_PART)
		return s == PALLOC_FULL;
	return pa->bits[p / 64] & (1ull << (p % 64));
}

/* The first page of chunk c at or after from (inside c) that is free
 * (want_free), or allocated and clear in keep (NULL: any), else
 * UINT64_MAX. */
static uint64_t chunk_scan(const struct palloc *pa, uint32_t c, uint64_t from,
			   bool want_free, const uint64_t *keep)
{
	uint64_t end = ((uint64_t)c << pa->shift) + chunk_pages(pa, c);
	int s = atomic_load_explicit(&pa->sum[c], memory_order_relaxed);

	if (from >= end || s == (want_free ? PALLOC_FULL : PALLOC_FREE))
		return UINT64_MAX;
	if (want_free && s == PALLOC_FREE)
		return from;
	for (uint64_t w = from / 64; w * 64 < end; w++) {
		uint64_t b = s == PALLOC_FULL ? ~0ull : pa->bits[w];

		if (want_free)
			b = ~b;
		else if (keep)
			b &= ~keep[w];
		if (w == from / 64)
			b &= ~0ull << (from % 64);
		if ((w + 1) * 64 > end)
			b &= (1ull << (end % 64)) - 1;
		if (b)
			return w * 64 + (uint64_t)__builtin_ctzll(b);
	}
	return UINT64_MAX;
}

int palloc_alloc(struct palloc *pa, uint64_t hint, uint64_t *page)
{
	uint64_t start, p = UINT64_MAX;
	uint32_t c0;

	if (pa->used >= pa->npages)
		return -ENOSPC;
	start = hint < pa->npages ? hint : pa->cursor;
	if (start >= pa->npages)
		start = 0;
	c0 = (uint32_t)(start >> pa->shift);
	/* from start to the end, then from 0 up to start: start's chunk is
	 * looked at twice, from start then from its first page */
	for (uint64_t k = 0; k <= pa->nchunks && p == UINT64_MAX; k++) {
		uint32_t c = (uint32_t)((c0 + k) % pa->nchunks);
		uint64_t from = (uint64_t)c << pa->shift;

		if (k == 0)
			from = start;
		if (pa->count[c] < chunk_pages(pa, c))
			p = chunk_scan(pa, c, from, true, NULL);
	}
	if (p == UINT64_MAX)
		return -ENOSPC; /* the counts disagree with the bits: never */
	pa->count[p >> pa->shift]++;
	pa->used++;
	page_change(pa, p, true);
	pa->cursor = p + 1;
	*page = p;
	return 0;
}

int palloc_free(struct palloc *pa, uint64_t p)
{
	if (!palloc_test(pa, p))
		return -EINVAL;
	pa->count[p >> pa->shift]--;
	pa->used--;
	page_change(pa, p, false);
	return 0;
}

uint64_t palloc_next(const struct palloc *pa, uint64_t from,
		     const uint64_t *keep)
{
	uint32_t c;
	uint64_t p;

	if (from >= pa->npages)
		return pa->npages;
	c = (uint32_t)(from >> pa->shift);
	p = chunk_scan(pa, c, from, false, keep);
	return p != UINT64_MAX
		       ? p
		       : ((uint64_t)c << pa->shift) + chunk_pages(pa, c);
}

uint64_t palloc_count(const struct palloc *pa, uint64_t first, uint64_t n)
{
	uint64_t end = first + n, total = 0;

	if (end > pa->npages)
		end = pa->npages;
	while (first < end) {
		uint32_t c = (uint32_t)(first >> pa->shift);
		uint64_t cend = ((uint64_t)c << pa->shift) + chunk_pages(pa, c);
		int s = atomic_load_explicit(&pa->sum[c], memory_order_relaxed);

		if (cend > end)
			cend = end;
		if (s == PALLOC_FULL)
			total += cend - first;
		for (; s == PALLOC_PART && first < cend; first++)
			total += !!(pa->bits[first / 64] &
				    (1ull << (first % 64)));
		first = cend;
	}
	return total;
}

/* Reads chunk c as a crash may have left it: counts its bits and settles
 * a PART chunk that is in fact FREE or FULL. */
static void chunk_attach(struct palloc *pa, uint32_t c, bool held)
{
	int s = atomic_load_explicit(&pa->sum[c], memory_order_acquire);
	uint64_t n = chunk_pages(pa, c), *w = chunk_bits(pa, c);

	if (s != PALLOC_PART && s != PALLOC_FULL) {
		/* FREE, or a byte we never wrote: nothing allocated */
		atomic_store_explicit(&pa->sum[c], PALLOC_FREE,
				      memory_order_relaxed);
		s = PALLOC_FREE;
	}
	pa->count[c] = s == PALLOC_FULL ? (uint32_t)n : 0;
	if (s == PALLOC_PART) {
		/* bits past npages were never set; clear them should they
		 * be anyway, so that they are never counted */
		if (n % 64)
			w[n / 64] &= (1ull << (n % 64)) - 1;
		for (uint64_t i = 0; i < (n + 63) / 64; i++)
			pa->count[c] += (uint32_t)__builtin_popcountll(w[i]);
		chunk_publish(pa, c, PALLOC_PART);
	} else if (held) {
		chunk_release(pa, c);
	}
	pa->used += pa->count[c];
}

/* Which chunks' bitmap pages are in memory (mincore), so that attach
 * gives back only those a crash left, not every page of a fresh state;
 * NULL when that cannot be told (then every FREE or FULL chunk's page is
 * given back). Chunks of whole pages only. */
static unsigned char *chunks_held(const struct palloc *pa)
{
	uint64_t len = chunk_words(pa) * 8;
	long psz = sysconf(_SC_PAGESIZE);
	unsigned char *v;

	if (psz <= 0 || len != (uint64_t)psz ||
	    (uintptr_t)pa->bits % (uint64_t)psz)
		return NULL;
	v = malloc(pa->nchunks);
	if (v && mincore(pa->bits, (size_t)pa->nchunks * len, v)) {
		free(v);
		v = NULL;
	}
	for (uint32_t c = 0; v && c < pa->nchunks; c++)
		v[c] &= 1;
	return v;
}

int palloc_init(struct palloc *pa, uint64_t npages, unsigned int shift,
		uint64_t *bits, _Atomic uint8_t *sum)
{
	unsigned char *held;
	int ret = 0;

	memset(pa, 0, sizeof(*pa));
	if (!npages || shift < 6 || shift > PALLOC_SHIFT || !bits != !sum ||
	    palloc_sum_bytes(npages, shift) > UINT32_MAX)
		return -EINVAL;
	pa->npages = npages;
	pa->shift = shift;
	pa->nchunks = (uint32_t)palloc_sum_bytes(npages, shift);
	pa->count = calloc(pa->nchunks, sizeof(*pa->count));
	if (!pa->count)
		return -ENOMEM;
	if (!bits) {
		/* shared: MADV_REMOVE gives a chunk's page back */
		uint64_t len = palloc_bits_bytes(npages, shift) +
			       palloc_sum_bytes(npages, shift);
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED) {
			ret = -ENOMEM;
			goto out_free;
		}
		bits = m;
		sum = (_Atomic uint8_t *)((char *)m +
					  palloc_bits_bytes(npages, shift));
		pa->own = true;
	}
	pa->bits = bits;
	pa->sum = sum;
	held = chunks_held(pa);
	for (uint32_t c = 0; c < pa->nchunks; c++)
		chunk_attach(pa, c, !held || held[c]);
	free(held);
	return 0;

out_free:
	free(pa->count);
	pa->count = NULL;
	return ret;
}

void palloc_fini(struct palloc *pa)
{
	if (pa->own)
		munmap(pa->bits,
		       palloc_bits_bytes(pa->npages, pa->shift) +
			       palloc_sum_bytes(pa->npages, pa->shift));
	free(pa->count);
	memset(pa, 0, sizeof(*pa));
}
