// SPDX-License-Identifier: GPL-2.0-or-later
/* pool - the donor's locked memory region and its chunk bitmap. */
#include "donor/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct pool {
	uint8_t *base;
	uint64_t bytes;
	uint32_t nchunks;
	int hugetlb;
	int locked;
	pthread_mutex_t lock;
	uint64_t *used; /* bitmap, protected by lock */
	uint32_t nfree; /* protected by lock */
	/* pool_free_slabs() answers, valid while gen is unchanged: a QUERY
	 * costs O(1) unless a slab came or went since the last one of that
	 * size; protected by lock */
	uint64_t gen;
	struct {
		uint64_t size, gen;
		uint32_t count;
	} memo[4];
	unsigned int memo_next;
};

static int bit(const uint64_t *m, uint32_t i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

static void set_bits(uint64_t *m, uint32_t first, uint32_t n, int v)
{
	for (uint32_t i = first; i < first + n; i++) {
		if (v)
			m[i / 64] |= 1ull << (i % 64);
		else
			m[i / 64] &= ~(1ull << (i % 64));
	}
}

int pool_create(uint64_t bytes, unsigned int flags, struct pool **out,
		char *err, size_t errlen)
{
	return pool_create_progress(bytes, flags, NULL, NULL, out, err, errlen);
}

int pool_create_progress(uint64_t bytes, unsigned int flags,
			 pool_progress_fn progress, void *arg,
			 struct pool **out, char *err, size_t errlen)
{
	struct pool *p;
	int ret = 0;

	bytes -= bytes % POOL_CHUNK;
	if (!bytes || bytes / POOL_CHUNK > UINT32_MAX) {
		snprintf(err, errlen,
			 "memory: need at least 1M and at most "
			 "4P");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->bytes = bytes;
	p->nchunks = bytes / POOL_CHUNK;
	p->nfree = p->nchunks;
	p->used = calloc((p->nchunks + 63) / 64, sizeof(uint64_t));
	if (!p->used) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->base = MAP_FAILED;
	if (!(flags & POOL_NO_HUGETLB) && bytes % (2ull << 20) == 0)
		p->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
				       MAP_POPULATE,
			       -1, 0);
	if (p->base != MAP_FAILED) {
		p->hugetlb = 1;
	} else {
		p->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p->base == MAP_FAILED) {
			ret = -ENOMEM;
			snprintf(err, errlen,
				 "memory: cannot map %llu bytes: %s",
				 (unsigned long long)bytes, strerror(errno));
			goto out_bitmap;
		}
		madvise(p->base, bytes, MADV_HUGEPAGE);
	}
	/* touch every page so the memory is really ours before we serve */
	for (uint64_t off = 0; off < bytes; off += 4096) {
		p->base[off] = 0;
		if (progress && off && off % POOL_PROGRESS_STEP == 0)
			progress(off, bytes, arg);
	}
	if (!(flags & POOL_NO_LOCK)) {
		if (mlock(p->base, bytes) < 0) {
			ret = -ENOMEM;
			snprintf(
				err, errlen,
				"memory: cannot lock %llu bytes: %s (raise "
				"the memlock limit, e.g. LimitMEMLOCK=infinity "
				"or ulimit -l unlimited)",
				(unsigned long long)bytes, strerror(errno));
			goto out_unmap;
		}
		p->locked = 1;
	}
	*out = p;
	return 0;
out_unmap:
	munmap(p->base, bytes);
out_bitmap:
	pthread_mutex_destroy(&p->lock);
	free(p->used);
out_free:
	free(p);
	return ret;
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	/* the memory held client data: wipe it before the kernel reuses it */
	memset(p->base, 0, p->bytes);
	if (p->locked)
		munlock(p->base, p->bytes);
	munmap(p->base, p->bytes);
	pthread_mutex_destroy(&p->lock);
	free(p->used);
	free(p);
}

int pool_alloc(struct pool *p, uint64_t size, uint32_t *slab)
{
	uint32_t n, run = 0;
	int ret = -ENOSPC;

	if (!size || size % POOL_CHUNK || size > p->bytes)
		return size > p->bytes ? -ENOSPC : -EINVAL;
	n = size / POOL_CHUNK;
	pthread_mutex_lock(&p->lock);
	if (p->nfree < n)
		goto out_unlock;
	for (uint32_t i = 0; i < p->nchunks; i++) {
		run = bit(p->used, i) ? 0 : run + 1;
		if (run == n) {
			*slab = i + 1 - n;
			set_bits(p->used, *slab, n, 1);
			p->nfree -= n;
			p->gen++;
			ret = 0;
			break;
		}
	}
out_unlock:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void pool_release(struct pool *p, uint32_t slab, uint64_t size)
{
	uint32_t n = size / POOL_CHUNK;

	/* the chunks stay marked used while they are wiped */
	memset(p->base + (uint64_t)slab * POOL_CHUNK, 0, size);
	pthread_mutex_lock(&p->lock);
	set_bits(p->used, slab, n, 0);
	p->nfree += n;
	p->gen++;
	pthread_mutex_unlock(&p->lock);
}

void *pool_addr(const struct pool *p, uint32_t slab)
{
	return p->base + (uint64_t)slab * POOL_CHUNK;
}

uint32_t pool_chunks(const struct pool *p)
{
	return p->nchunks;
}

uint64_t pool_total_bytes(const struct pool *p)
{
	return p->bytes;
}

uint64_t pool_free_bytes(struct pool *p)
{
	uint64_t v;

	pthread_mutex_lock(&p->lock);
	v = (uint64_t)p->nfree * POOL_CHUNK;
	pthread_mutex_unlock(&p->lock);
	return v;
}

uint32_t pool_free_slabs(struct pool *p, uint64_t size)
{
	uint32_t n = size / POOL_CHUNK, run = 0, count = 0;
	unsigned int k;

	if (!n)
		return 0;
	pthread_mutex_lock(&p->lock);
	for (k = 0; k < 4; k++) {
		if (p->memo[k].size == size && p->memo[k].gen == p->gen + 1) {
			count = p->memo[k].count;
			goto out_unlock;
		}
	}
	for (uint32_t i = 0; i < p->nchunks; i++) {
		/* whole words: all free adds 64 to the run, all used ends it */
		if (i % 64 == 0 && i + 64 <= p->nchunks && run + 64 < n &&
		    p->used[i / 64] == 0) {
			run += 64;
			i += 63;
			continue;
		}
		if (i % 64 == 0 && p->used[i / 64] == UINT64_MAX &&
		    i + 64 <= p->nchunks) {
			run = 0;
			i += 63;
			continue;
		}
		run = bit(p->used, i) ? 0 : run + 1;
		if (run == n) {
			count++;
			run = 0;
		}
	}
	/* gen + 1 so that a zeroed entry never matches */
	k = p->memo_next++ % 4;
	p->memo[k].size = size;
	p->memo[k].gen = p->gen + 1;
	p->memo[k].count = count;
out_unlock:
	pthread_mutex_unlock(&p->lock);
	return count;
}

int pool_hugetlb(const struct pool *p)
{
	return p->hugetlb;
}
