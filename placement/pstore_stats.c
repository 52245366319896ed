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

#include "common/clock.h"
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

/* A transport histogram: bucket i counts integers in [2^i, 2^(i+1)), so
 * its upper bound is le[i] = 2^(i+1) - 1; the last count is open-ended. */
static void jhist(struct jbuf *j, const char *name, const uint64_t *h)
{
	jp(j, ",\"%s\":{\"le\":[", name);
	for (unsigned int i = 0; i < XPORT_HIST - 1; i++)
		jp(j, "%s%u", i ? "," : "", (2u << i) - 1);
	jp(j, "],\"counts\":[");
	for (unsigned int i = 0; i < XPORT_HIST; i++)
		jp(j, "%s%" PRIu64, i ? "," : "", h[i]);
	jp(j, "]}");
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

uint32_t ps_degraded_slabs(struct pstore *ps)
{
	uint32_t degraded = 0;

	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int live = 0;

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++)
			live += !sl->rep[k].stale && !sl->rep[k].filling &&
				atomic_load(
					&ps_donor_at(ps, sl->rep[k].donor)->up);
		if (live < ps->replicas)
			degraded++;
	}
	return degraded;
}

int pstore_json(struct pstore *ps, char *buf, size_t len)
{
	struct jbuf j = { buf, len, 0, false };
	uint32_t *held, *restarts;
	uint32_t slabs = 0, degraded;
	unsigned int nd = ps->ndonors;
	uint64_t used, lost, since, degraded_ms = 0;

	if (!buf || !len)
		return -ENOSPC;
	/* two words a donor: off the stack, as donors are not capped */
	held = calloc(2 * (size_t)(nd ? nd : 1), sizeof(*held));
	if (!held)
		return -ENOMEM;
	restarts = held + (nd ? nd : 1);
	buf[0] = '\0';
	pthread_mutex_lock(&ps->lock);
	used = ps->used;
	for (uint32_t s = 0; s < ps->nslabs; s++)
		slabs += ps->slabs[s].state == SLAB_READY;
	degraded = ps_degraded_slabs(ps);
	lost = ps->lost_pages;
	since = ps->degraded_since_ns;
	for (unsigned int i = 0; i < nd; i++) {
		held[i] = ps_donor_at(ps, i)->slabs;
		restarts[i] = ps_donor_at(ps, i)->restarts;
	}
	pthread_mutex_unlock(&ps->lock);
	/* the tick sets since once a second: a degraded state it has not
	 * seen yet is 0 ms old */
	if (degraded && since)
		degraded_ms = (mono_ns() - since) / 1000000;

	jp(&j,
	   "\"slab_size\":%" PRIu64 ",\"replicas\":%u,\"pages_total\":%" PRIu64
	   ",\"pages_used\":%" PRIu64 ",\"slabs\":%" PRIu32
	   ",\"degraded_slabs\":%" PRIu32 ",\"repaired_slabs\":%" PRIu64
	   ",\"migrated_slabs\":%" PRIu64 ",\"lost_pages\":%" PRIu64
	   ",\"degraded_ms\":%" PRIu64 ",\"encryption\":\"%s\""
	   ",\"pages_per_slab\":%" PRIu32 ",\"donors\":[",
	   ps->slab_size, ps->replicas, ps->npages, used, slabs, degraded,
	   atomic_load(&ps->repaired), atomic_load(&ps->migrated), lost,
	   degraded_ms, ps->seal ? seal_cipher_name(ps->seal) : "off",
	   ps->pages_per_slab);
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
			if (atomic_load(&d->faulty) &&
			    atomic_load(&d->dstate) == PS_D_ACTIVE)
				state = "faulty";
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
		   ",\"timeouts\":%" PRIu64 ",\"reconnects\":%" PRIu64
		   ",\"restarts\":%" PRIu32 ",\"integrity_failures\":%" PRIu64,
		   xport_kind_name(st.kind), state, held[i], st.bytes_read,
		   st.bytes_written, (double)atomic_load(&d->lat_ns) / 1000.0,
		   st.ios, st.ops, st.posts, st.write_ops, st.write_posts,
		   st.errors, st.timeouts, st.reconnects, restarts[i],
		   atomic_load(&d->bad_pages));
		jhist(&j, "ops_per_post", st.ops_per_post);
		jhist(&j, "kib_per_op", st.kib_per_op);
		jp(&j, "}");
	}
	jp(&j, "],\"backup\":");
	if (ps->backup) {
		jp(&j, "{\"path\":");
		jstr(&j, backup_path(ps->backup));
		jp(&j,
		   ",\"bytes\":%" PRIu64 ",\"integrity_failures\":%" PRIu64 "}",
		   backup_bytes(ps->backup), atomic_load(&ps->backup_bad));
	} else {
		jp(&j, "null");
	}
	free(held);
	if (j.full)
		return -ENOSPC;
	return (int)j.used;
}
