// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_stats - pstore_stats(): the page store's state as a JSON object
 * (jansson), whose members the mount puts at the top level of its stats
 * file (MOUNTPOINT/.cnetmem-stats): totals, slabs
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
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define J(v) ((json_int_t)(v))

/* A transport histogram: bucket i counts integers in [2^i, 2^(i+1)), so
 * its upper bound is le[i] = 2^(i+1) - 1; the last count is open-ended. */
static json_t *hist_json(const uint64_t *h)
{
	json_t *le = json_array(), *counts = json_array();
	int err = !le || !counts;

	for (unsigned int i = 0; !err && i < XPORT_HIST - 1; i++)
		err = json_array_append_new(le, json_integer(J((2u << i) - 1)));
	for (unsigned int i = 0; !err && i < XPORT_HIST; i++)
		err = json_array_append_new(counts, json_integer(J(h[i])));
	if (err) {
		json_decref(le);
		json_decref(counts);
		return NULL;
	}
	return json_pack("{s:o,s:o}", "le", le, "counts", counts);
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

/* One donor slot; NULL on ENOMEM. */
static json_t *donor_json(struct ps_donor *d, uint32_t held, uint32_t restarts)
{
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
		/* connected, but not used until a QUERY says it still holds
		 * what we left there */
		if (st.state == XPORT_UP && !atomic_load(&d->up))
			state = "checking";
	}
	/* the latency in tenths of a microsecond, as a number */
	return json_pack(
		"{s:s,s:s,s:s,s:I,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		"s:I,s:I,s:o,s:o}",
		"addr", d->addr, "transport", xport_kind_name(st.kind), "state",
		state, "slabs", J(held), "bytes_read", J(st.bytes_read),
		"bytes_written", J(st.bytes_written), "latency_us",
		(double)((atomic_load(&d->lat_ns) + 50) / 100) / 10.0, "ios",
		J(st.ios), "ops", J(st.ops), "posts", J(st.posts), "write_ops",
		J(st.write_ops), "write_posts", J(st.write_posts), "errors",
		J(st.errors), "timeouts", J(st.timeouts), "reconnects",
		J(st.reconnects), "restarts", J(restarts), "integrity_failures",
		J(atomic_load(&d->bad_pages)), "ops_per_post",
		hist_json(st.ops_per_post), "kib_per_op",
		hist_json(st.kib_per_op));
}

json_t *pstore_stats(struct pstore *ps)
{
	uint32_t *held, *restarts;
	uint32_t slabs = 0, degraded;
	unsigned int nd = ps->ndonors;
	uint64_t used, lost, since, degraded_ms = 0;
	json_t *root = NULL, *donors, *backup;

	/* two words a donor: off the stack, as donors are not capped */
	held = calloc(2 * (size_t)(nd ? nd : 1), sizeof(*held));
	if (!held)
		return NULL;
	restarts = held + (nd ? nd : 1);
	pthread_mutex_lock(&ps->lock);
	used = ps->pa.used;
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

	donors = json_array();
	for (unsigned int i = 0; donors && i < nd; i++) {
		if (json_array_append_new(donors,
					  donor_json(ps_donor_at(ps, i),
						     held[i], restarts[i]))) {
			json_decref(donors);
			donors = NULL;
		}
	}
	backup = !ps->backup ? json_null()
			     : json_pack("{s:s,s:I,s:I}", "path",
					 backup_path(ps->backup), "bytes",
					 J(backup_bytes(ps->backup)),
					 "integrity_failures",
					 J(atomic_load(&ps->backup_bad)));
	root = json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:o,s:o}",
		"slab_size", J(ps->slab_size), "replicas", J(ps->replicas),
		"pages_total", J(ps->npages), "pages_used", J(used), "slabs",
		J(slabs), "degraded_slabs", J(degraded), "repaired_slabs",
		J(atomic_load(&ps->repaired)), "migrated_slabs",
		J(atomic_load(&ps->migrated)), "lost_pages", J(lost),
		"degraded_ms", J(degraded_ms), "encryption",
		ps->seal ? seal_cipher_name(ps->seal) : "off", "pages_per_slab",
		J(ps->pages_per_slab), "donors", donors, "backup", backup);
	free(held);
	return root;
}

int pstore_json(struct pstore *ps, char *buf, size_t len)
{
	json_t *root;
	size_t n;

	if (!buf || !len)
		return -ENOSPC;
	root = pstore_stats(ps);
	if (!root)
		return -ENOMEM;
	n = json_dumpb(root, buf, len, PSTORE_JSON_FLAGS);
	json_decref(root);
	if (!n || n >= len)
		return -ENOSPC;
	buf[n] = '\0';
	return (int)n;
}
