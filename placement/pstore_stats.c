// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_stats - pstore_json(): the page store's state as JSON members,
 * for the mount's stats file (MOUNTPOINT/.cnetmem-stats): totals, slabs
 * degraded, repaired and migrated, then one object per donor slot with
 * its transport's counters and histograms, then the backup.
 *
 * Threading: any thread; the slab and donor counts are read under
 * ps->lock, the transport stats with the lock dropped.
 */
#include "placement/pstore.h"

#include "placement/backup.h"
#include "placement/pstore_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct jbuf {
	char *p;
	size_t len, used;
	bool full;
};

static void jp(struct jbuf *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void jp(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->p + j->used, j->len - j->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->len - j->used)
		j->full = true;
	else
		j->used += (size_t)n;
}

/* JSON string body: escapes quotes, backslashes and control bytes. */
static void jstr(struct jbuf *j, const char *s)
{
	jp(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jp(j, "\\%c", c);
		else if (c < 0x20)
			jp(j, "\\u%04x", c);
		else
			jp(j, "%c", c);
	}
	jp(j, "\"");
}

static void jhist(struct jbuf *j, const char *name, const uint64_t *h)
{
	jp(j, ",\"%s\":[", name);
	for (unsigned int i = 0; i < XPORT_HIST; i++)
		jp(j, "%s%" PRIu64, i ? "," : "", h[i]);
	jp(j, "]");
}

static const char *state_name(enum xport_state s)
{
	switch (s) {
	case XPORT_CONNECTING:
		return "connecting";
	case XPORT_UP:
		return "up";
	case XPORT_DOWN:
		return "down";
	case XPORT_CLOSED:
		return "closed";
	}
	return "unknown";
}

int pstore_json(struct pstore *ps, char *buf, size_t len)
{
	struct jbuf j = { buf, len, 0, false };
	uint32_t *held;
	uint32_t slabs = 0, degraded = 0;
	unsigned int nd = ps->ndonors;
	uint64_t used;

	if (!buf || !len)
		return -ENOSPC;
	held = calloc(nd ? nd : 1, sizeof(*held));
	if (!held)
		return -ENOMEM;
	buf[0] = '\0';
	pthread_mutex_lock(&ps->lock);
	used = ps->used;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int live = 0;

		if (sl->state != SLAB_READY)
			continue;
		slabs++;
		/* a copy on a donor that is down does not count */
		for (unsigned int k = 0; k < sl->nrep; k++)
			live += !sl->rep[k].stale && !sl->rep[k].filling &&
				atomic_load(
					&ps_donor_at(ps, sl->rep[k].donor)->up);
		if (live < ps->replicas)
			degraded++;
	}
	for (unsigned int i = 0; i < nd; i++)
		held[i] = ps_donor_at(ps, i)->slabs;
	pthread_mutex_unlock(&ps->lock);

	jp(&j,
	   "\"slab_size\":%" PRIu64 ",\"replicas\":%u,\"pages_total\":%" PRIu64
	   ",\"pages_used\":%" PRIu64 ",\"slabs\":%" PRIu32
	   ",\"degraded_slabs\":%" PRIu32 ",\"repaired_slabs\":%" PRIu64
	   ",\"migrated_slabs\":%" PRIu64 ",\"donors\":[",
	   ps->slab_size, ps->replicas, ps->npages, used, slabs, degraded,
	   atomic_load(&ps->repaired), atomic_load(&ps->migrated));
	for (unsigned int i = 0; i < nd; i++) {
		struct ps_donor *d = ps_donor_at(ps, i);
		struct xport_stats st = { .kind = d->kind };
		const char *state = "drained";

		if (ps_donor_get(d)) {
			xport_get_stats(d->x, &st);
			ps_donor_put(d);
			state = atomic_load(&d->dstate) == PS_D_DRAINING
					? "draining"
					: state_name(st.state);
			/* connected, but not used until a QUERY says it
			 * still holds what we left there */
			if (st.state == XPORT_UP && !atomic_load(&d->up))
				state = "checking";
		}
		jp(&j, "%s{\"addr\":", i ? "," : "");
		jstr(&j, d->addr);
		jp(&j,
		   ",\"transport\":\"%s\",\"state\":\"%s\",\"slabs\":%" PRIu32
		   ",\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64
		   ",\"latency_us\":%.1f,\"ios\":%" PRIu64 ",\"ops\":%" PRIu64
		   ",\"posts\":%" PRIu64 ",\"write_ops\":%" PRIu64
		   ",\"write_posts\":%" PRIu64 ",\"errors\":%" PRIu64
		   ",\"timeouts\":%" PRIu64 ",\"reconnects\":%" PRIu64,
		   xport_kind_name(st.kind), state, held[i], st.bytes_read,
		   st.bytes_written, (double)atomic_load(&d->lat_ns) / 1000.0,
		   st.ios, st.ops, st.posts, st.write_ops, st.write_posts,
		   st.errors, st.timeouts, st.reconnects);
		jhist(&j, "ops_per_post", st.ops_per_post);
		jhist(&j, "kib_per_op", st.kib_per_op);
		jp(&j, "}");
	}
	jp(&j, "],\"backup\":");
	if (ps->backup) {
		jp(&j, "{\"path\":");
		jstr(&j, backup_path(ps->backup));
		jp(&j, ",\"bytes\":%" PRIu64 "}", backup_bytes(ps->backup));
	} else {
		jp(&j, "null");
	}
	free(held);
	if (j.full)
		return -ENOSPC;
	return (int)j.used;
}
