// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * state.c - a mount's state arena (fs/state.h): its layout from the
 * page store's and the fs's sections plus the state header, the count of
 * servers and the blobs of the process half.
 *
 * A blob is double-buffered: put writes the slot not in use, then one
 * release store of the selector (with the length) publishes it.
 */
#include "fs/state.h"

#include "common/arena.h"
#include "fs/fs.h"
#include "placement/pstore.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* bumped whenever a section's record layout changes: a successor of
 * another layout refuses the state instead of misreading it */
#define STATE_LAYOUT                                                           \
	3u /* 3: the page allocator by chunk (placement/palloc.h) */
#define STATE_SEC_HDR 1u

struct state_blob_slot {
	/* bits 0-30: length + 1 (0: never put); bit 31: which buf holds */
	_Atomic uint32_t sel;
	uint8_t buf[2][STATE_BLOB_MAX];
};

struct state_hdr {
	_Atomic uint32_t servers; /* state_attach() calls so far */
	uint32_t pad;
	struct state_blob_slot blob[STATE_BLOB_N];
};

struct state {
	struct arena *a;
	struct state_hdr *h;
};

int state_create(const struct pstore_cfg *pc, const struct cnmfs_params *fp,
		 struct state **out)
{
	struct arena_sec secs[ARENA_MAX_SECTIONS];
	unsigned int n = 0;
	struct state *st;
	int ret;

	*out = NULL;
	secs[n++] = (struct arena_sec){ STATE_SEC_HDR, 0,
					sizeof(struct state_hdr) };
	ret = pstore_arena_sections(pc, secs + n, ARENA_MAX_SECTIONS - n);
	if (ret < 0)
		return ret;
	n += (unsigned int)ret;
	ret = cnmfs_arena_sections(fp, secs + n, ARENA_MAX_SECTIONS - n);
	if (ret < 0)
		return ret;
	n += (unsigned int)ret;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = arena_create("cnetmem-state", STATE_LAYOUT, secs, n, &st->a);
	if (ret)
		goto out_free;
	st->h = arena_section(st->a, STATE_SEC_HDR, NULL);
	*out = st;
	return 0;

out_free:
	free(st);
	return ret;
}

int state_attach(int fd, struct state **out)
{
	struct state *st;
	uint64_t len;
	int ret;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = arena_attach(fd, STATE_LAYOUT, &st->a);
	if (ret)
		goto out_free;
	st->h = arena_section(st->a, STATE_SEC_HDR, &len);
	if (!st->h || len < sizeof(*st->h)) {
		ret = -EPROTO;
		goto out_detach;
	}
	atomic_fetch_add(&st->h->servers, 1);
	*out = st;
	return 0;

out_detach:
	/* the fd stays the caller's on failure */
	{
		int keep = dup(fd);

		arena_close(st->a);
		if (keep >= 0 && keep != fd) {
			dup2(keep, fd);
			close(keep);
		}
	}
out_free:
	free(st);
	return ret;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	arena_close(st->a);
	free(st);
}

int state_fd(const struct state *st)
{
	return arena_fd(st->a);
}

struct arena *state_arena(const struct state *st)
{
	return st->a;
}

uint32_t state_restarts(const struct state *st)
{
	uint32_t n = atomic_load(&st->h->servers);

	return n ? n - 1 : 0;
}

int state_blob_put(struct state *st, enum state_blob b, const void *buf,
		   size_t len)
{
	struct state_blob_slot *s;
	uint32_t next;

	if ((unsigned int)b >= STATE_BLOB_N || len > STATE_BLOB_MAX)
		return -EINVAL;
	s = &st->h->blob[b];
	next = (atomic_load_explicit(&s->sel, memory_order_relaxed) >> 31) ^ 1;
	memcpy(s->buf[next], buf, len);
	atomic_store_explicit(&s->sel, next << 31 | (uint32_t)(len + 1),
			      memory_order_release);
	return 0;
}

int state_blob_get(const struct state *st, enum state_blob b, void *buf,
		   size_t len)
{
	const struct state_blob_slot *s;
	uint32_t sel, n;

	if ((unsigned int)b >= STATE_BLOB_N)
		return -EINVAL;
	s = &st->h->blob[b];
	sel = atomic_load_explicit(&s->sel, memory_order_acquire);
	n = sel & 0x7fffffffu;
	if (!n)
		return -ENOENT;
	if (n - 1 > len)
		return -ENOSPC;
	memcpy(buf, s->buf[sel >> 31], n - 1);
	return (int)(n - 1);
}
