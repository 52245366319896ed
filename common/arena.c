// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * arena.c - the memfd arena (common/arena.h).
 *
 * Layout: page 0 holds struct arena_hdr (magic, layout version, total
 * size, the section table); each section starts on an ARENA_ALIGN
 * boundary after it, in the order given. The header is written once by
 * arena_create() before the fd is handed to anyone, so an attaching
 * process never sees it half-written.
 */
#include "common/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARENA_MAGIC 0x414e524d4e4e4331ull /* "1CNNMRNA" */

struct arena_hdr {
	uint64_t magic;
	uint32_t layout;
	uint32_t nsec;
	uint64_t size;
	struct {
		uint32_t id;
		uint32_t flags;
		uint64_t off;
		uint64_t len;
	} sec[ARENA_MAX_SECTIONS];
};

struct arena {
	int fd;
	void *base;
	uint64_t size;
};

static uint64_t align_up(uint64_t v)
{
	return (v + ARENA_ALIGN - 1) & ~(uint64_t)(ARENA_ALIGN - 1);
}

/* Locks and hides from core dumps every secret section of a mapped arena. */
static int protect_secrets(struct arena *a)
{
	const struct arena_hdr *h = a->base;

	for (uint32_t i = 0; i < h->nsec; i++) {
		char *p = (char *)a->base + h->sec[i].off;

		if (!(h->sec[i].flags & ARENA_SEC_SECRET) || !h->sec[i].len)
			continue;
		if (mlock(p, h->sec[i].len))
			return -errno;
		madvise(p, align_up(h->sec[i].len), MADV_DONTDUMP);
	}
	return 0;
}

static int map_fd(int fd, uint64_t size, struct arena **out)
{
	struct arena *a;
	int ret;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = fd;
	a->size = size;
	a->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a->base == MAP_FAILED) {
		ret = -errno;
		goto out_free;
	}
	*out = a;
	return 0;

out_free:
	free(a);
	return ret;
}

int arena_create(const char *name, uint32_t layout,
		 const struct arena_sec *secs, unsigned int n,
		 struct arena **out)
{
	struct arena_hdr *h;
	struct arena *a;
	uint64_t size;
	int fd, ret;

	*out = NULL;
	if (n > ARENA_MAX_SECTIONS)
		return -EINVAL;
	size = align_up(sizeof(*h));
	for (unsigned int i = 0; i < n; i++) {
		if (!secs[i].id || secs[i].len > (1ull << 50))
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++)
			if (secs[j].id == secs[i].id)
				return -EINVAL;
		size += align_up(secs[i].len);
	}
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size)) {
		ret = -errno;
		goto out_close;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		goto out_close;
	}
	ret = map_fd(fd, size, &a);
	if (ret)
		goto out_close;
	h = a->base;
	h->magic = ARENA_MAGIC;
	h->layout = layout;
	h->nsec = n;
	h->size = size;
	size = align_up(sizeof(*h));
	for (unsigned int i = 0; i < n; i++) {
		h->sec[i].id = secs[i].id;
		h->sec[i].flags = secs[i].flags;
		h->sec[i].off = size;
		h->sec[i].len = secs[i].len;
		size += align_up(secs[i].len);
	}
	ret = protect_secrets(a);
	if (ret) {
		arena_close(a);
		return ret;
	}
	*out = a;
	return 0;

out_close:
	close(fd);
	return ret;
}

int arena_attach(int fd, uint32_t layout, struct arena **out)
{
	const struct arena_hdr *h;
	struct arena *a;
	struct stat sb;
	int seals, ret;

	*out = NULL;
	if (fstat(fd, &sb))
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) ||
	    (uint64_t)sb.st_size < ARENA_ALIGN)
		return -EINVAL;
	ret = map_fd(fd, (uint64_t)sb.st_size, &a);
	if (ret)
		return ret;
	h = a->base;
	if (h->magic != ARENA_MAGIC || h->layout != layout ||
	    h->nsec > ARENA_MAX_SECTIONS) {
		ret = -EPROTO;
		goto out_unmap;
	}
	ret = -EINVAL;
	if (h->size != a->size)
		goto out_unmap;
	for (uint32_t i = 0; i < h->nsec; i++)
		if (h->sec[i].off % ARENA_ALIGN || h->sec[i].off > a->size ||
		    h->sec[i].len > a->size - h->sec[i].off)
			goto out_unmap;
	ret = protect_secrets(a);
	if (ret)
		goto out_unmap;
	*out = a;
	return 0;

out_unmap:
	munmap(a->base, a->size);
	free(a);
	return ret;
}

void arena_close(struct arena *a)
{
	if (!a)
		return;
	munmap(a->base, a->size);
	close(a->fd);
	free(a);
}

int arena_fd(const struct arena *a)
{
	return a->fd;
}

uint64_t arena_size(const struct arena *a)
{
	return a->size;
}

void *arena_section(const struct arena *a, uint32_t id, uint64_t *len)
{
	const struct arena_hdr *h = a->base;

	for (uint32_t i = 0; i < h->nsec; i++) {
		if (h->sec[i].id != id)
			continue;
		if (len)
			*len = h->sec[i].len;
		return (char *)a->base + h->sec[i].off;
	}
	return NULL;
}
