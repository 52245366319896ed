// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_tick - the page store's tick thread: gives empty slabs back to
 * their donors whenever free_pending says one may be empty, and QUERYs
 * the donors for the ranking inputs (free slabs, trend) and their health.
 * A donor that leaves queries unanswered is down; its copies are lost to
 * the repair thread after PS_DOWN_GRACE_MS, or at once when it turns out
 * to have restarted.
 *
 * Backoff while idle: a donor that is up is QUERYd once a second while
 * something changes (its free slabs, our slabs there, an I/O error or
 * timeout on it), else at twice the last interval, up to
 * PS_QUERY_MAX_MS. A mount over 1,000 donors then sends about 125
 * QUERYs a second when idle rather than 1,000, and a donor serving
 * thousands of idle mounts answers an eighth of the QUERYs; a donor that
 * is down, checking or suspect is still asked every second, and an I/O
 * error or timeout on it makes the next tick ask it at once (so a cut
 * link is found as fast as without the backoff). Donors push what
 * cannot wait (EVICT), so polling less loses no request.
 *
 * Threading: one thread per store, from pstore_open() to pstore_close();
 * it holds ps->lock while it looks and drops it around every donor call.
 */
#include "placement/pstore_priv.h"
#include "placement/pstore_state.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define PS_TICK_MS	 1000
#define PS_DOWN_GRACE_MS 3000 /* then a down donor's copies are lost */
#define PS_SILENT_MAX	 2    /* unanswered QUERYs in a row: down */
#define PS_QUERY_MAX_MS	 8000 /* QUERY interval of an idle donor */

/* Gives back every READY slab with no page and no I/O; lock held on entry
 * and exit, dropped around the donor calls. */
static void free_empty_slabs(struct pstore *ps)
{
	ps->free_pending = false;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		struct ps_rep rep[PS_MAX_COPIES];
		unsigned int nrep;

		if (sl->state != SLAB_READY || sl->used || sl->ios ||
		    sl->repairing)
			continue;
		sl->state = SLAB_FREEING;
		ps_state_slab_save(ps, s); /* before its copies go */
		nrep = sl->nrep;
		memcpy(rep, sl->rep, sizeof(rep));
		pthread_mutex_unlock(&ps->lock);
		for (unsigned int k = 0; k < nrep; k++)
			ps_free_copy(ps_donor_at(ps, rep[k].donor),
				     rep[k].rslab);
		pthread_mutex_lock(&ps->lock);
		for (unsigned int k = 0; k < nrep; k++) {
			struct ps_donor *d = ps_donor_at(ps, rep[k].donor);

			d->slabs--;
			d->free_slabs++;
		}
		sl->nrep = 0;
		sl->backup = false;
		sl->lost = false;
		sl->state = SLAB_EMPTY;
		pthread_cond_broadcast(&ps->slab_cv);
	}
}

/* Another copy of slab sl than rep[k] can serve reads now: live on a
 * donor that is up, or the backup. Under ps->lock. */
static bool served_elsewhere(struct pstore *ps, const struct ps_slab *sl,
			     unsigned int k)
{
	if (sl->backup)
		return true;
	for (unsigned int j = 0; j < sl->nrep; j++)
		if (j != k && !sl->rep[j].stale && !sl->rep[j].filling &&
		    atomic_load(&ps_donor_at(ps, sl->rep[j].donor)->up))
			return true;
	return false;
}

/* Some copy of sl holds its data (up or not), or the backup does; under
 * ps->lock. */
static bool slab_has_copy(const struct ps_slab *sl)
{
	if (sl->backup)
		return true;
	for (unsigned int j = 0; j < sl->nrep; j++)
		if (!sl->rep[j].stale && !sl->rep[j].filling)
			return true;
	return false;
}

/*
 * Marks the copies on donor di stale, so the repair thread rebuilds them
 * elsewhere; returns how many were live, and in *kept how many live ones
 * were left alone. gone: the donor no longer holds them (it restarted or
 * dropped our session), so they are never freed there either: it may hand
 * the same ids to our new slabs. A donor that is only out of reach keeps
 * its copies for its grace period: a copy no other one can stand in for
 * is kept, so that an outage of every link (ours) loses nothing; it is
 * given up on a later tick once another copy is up. Under ps->lock.
 */
static unsigned int give_up_copies(struct pstore *ps, unsigned int di,
				   bool gone, unsigned int *kept)
{
	unsigned int n = 0, lost_slabs = 0;
	uint64_t lost_pages = 0;

	*kept = 0;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			struct ps_rep *r = &sl->rep[k];

			if (r->donor != di)
				continue;
			if (!gone && !r->stale &&
			    !served_elsewhere(ps, sl, k)) {
				(*kept)++;
				continue;
			}
			n += !r->stale;
			r->stale = true;
			r->lost |= gone;
		}
		ps_state_slab_save(ps, s);
		if (gone && !sl->lost && !slab_has_copy(sl)) {
			sl->lost = true;
			ps->lost_pages += sl->used;
			lost_slabs++;
			lost_pages += sl->used;
		}
	}
	if (lost_slabs)
		log_err("donor %s: %u slabs had their only copy there: %" PRIu64
			" pages lost (reads of them fail)",
			ps_donor_at(ps, di)->addr, lost_slabs, lost_pages);
	pthread_cond_broadcast(&ps->repair_cv);
	return n;
}

/* A donor down for PS_DOWN_GRACE_MS (called every tick from then on): its
 * copies count as lost where another copy serves. If it comes back, the
 * stale copies are freed there by the repair. */
static void lost_copies(struct pstore *ps, unsigned int di)
{
	struct ps_donor *d = ps_donor_at(ps, di);
	unsigned int kept, n = give_up_copies(ps, di, false, &kept);

	if (n)
		log_warn("donor %s: down for %u ms, its %u copies are lost; "
			 "re-replicating",
			 d->addr, PS_DOWN_GRACE_MS, n);
	if (kept && kept != d->kept_logged)
		log_warn(
			"donor %s: down, %u slabs have no other copy: kept "
			"for when it comes back (reads of them fail meanwhile)",
			d->addr, kept);
	d->kept_logged = kept;
}

/* A donor that came back without our slabs (restarted, or our session
 * there expired); before it is marked up. */
static void came_back_empty(struct pstore *ps, unsigned int di, const char *why)
{
	unsigned int kept, n = give_up_copies(ps, di, true, &kept);

	ps_owed_settle(ps, di, true);

	if (n)
		log_warn("donor %s: %s, its %u copies of our slabs are lost; "
			 "re-replicating",
			 ps_donor_at(ps, di)->addr, why, n);
	else
		log_notice("donor %s: %s", ps_donor_at(ps, di)->addr, why);
}

/* Donor di has copies we gave back while it was out of reach; under
 * ps->lock. */
static bool owes(const struct pstore *ps, unsigned int di)
{
	for (uint32_t i = 0; i < ps->nowed; i++)
		if (ps->owed[i].donor == di)
			return true;
	return false;
}

/* Refreshes ranking inputs and health; lock held on entry and exit. */
static void refresh_donors(struct pstore *ps)
{
	for (unsigned int i = 0; i < ps->ndonors && !ps->stopping; i++) {
		struct ps_donor *d = ps_donor_at(ps, i);
		struct wire_state st;
		struct xport_stats xs;
		bool up, checking = !atomic_load(&d->up), idle;
		uint64_t now = mono_ns();
		int ret;

		if (!ps_donor_get(d))
			continue;
		pthread_mutex_unlock(&ps->lock);
		xport_get_stats(d->x, &xs);
		/* backing off, and no I/O on it failed since: not yet */
		if (!checking && !d->silent && now < d->next_query_ns &&
		    xs.errors + xs.timeouts == d->q_errors) {
			ps_donor_put(d);
			pthread_mutex_lock(&ps->lock);
			continue;
		}
		up = xport_state(d->x) == XPORT_UP;
		ret = up ? xport_query(d->x, &st) : -ENOTCONN;
		xport_get_stats(d->x, &xs);
		ps_donor_put(d);
		pthread_mutex_lock(&ps->lock);
		/* idle: nothing changed since the last QUERY */
		idle = !ret && !checking && st.free_slabs == d->q_free &&
		       d->slabs == d->q_slabs &&
		       xs.errors + xs.timeouts == d->q_errors;
		d->query_ms =
			idle && d->query_ms ? 2 * d->query_ms : PS_TICK_MS;
		if (d->query_ms > PS_QUERY_MAX_MS)
			d->query_ms = PS_QUERY_MAX_MS;
		d->next_query_ns = now + d->query_ms * 1000000ull;
		d->q_slabs = d->slabs;
		d->q_errors = xs.errors + xs.timeouts;
		if (!ret)
			d->q_free = st.free_slabs;
		/* heartbeat: a connected donor that leaves a QUERY unanswered
		 * is suspect, PS_SILENT_MAX in a row and it is down (a cut link
		 * shows no connection error until TCP gives up) */
		d->silent = ret == -ETIMEDOUT ? d->silent + 1 : 0;
		if (d->silent == 1)
			log_warn("donor %s: suspect: no answer to a query",
				 d->addr);
		else if (d->silent == PS_SILENT_MAX)
			log_warn("donor %s: down: %u queries unanswered",
				 d->addr, d->silent);
		/* up again only on an answered QUERY (restart check below) */
		up = up && (ret == 0 ||
			    (atomic_load(&d->up) && ret != -ENOTCONN &&
			     ret != -ECONNRESET && d->silent < PS_SILENT_MAX));
		if (!ret) {
			d->free_slabs = st.free_slabs;
			d->total_slabs = st.total_slabs;
			d->trend_bps = st.host_trend_bps;
			/* a donor younger than last time restarted: what it
			 * held for us is gone, even though it answers again;
			 * so is all of it when our session there expired (it
			 * does not drop a session's slabs otherwise). Known
			 * before it is used again (see on_event): while it is
			 * not up no slab is allocated or freed there, so its
			 * count and ours agree. */
			if (st.uptime_ms < d->uptime_ms) {
				d->restarts++;
				came_back_empty(ps, i, "restarted");
			} else if (checking && (d->slabs || owes(ps, i)) &&
				   !st.session_slabs)
				came_back_empty(ps, i,
						"our session there expired");
			d->uptime_ms = st.uptime_ms;
		}
		if (up != atomic_exchange(&d->up, up))
			log_notice("donor %s: %s", d->addr,
				   up ? "up again" : "not taking slabs: down");
		if (up) {
			d->down_since_ns = 0;
			/* it kept our session: what we dropped meanwhile */
			ps_owed_settle(ps, i, false);
			continue;
		}
		if (!d->down_since_ns) {
			d->down_since_ns = mono_ns();
		} else if (mono_ns() - d->down_since_ns >=
			   PS_DOWN_GRACE_MS * 1000000ull) {
			lost_copies(ps, i);
		}
	}
}

void *ps_tick_main(void *arg)
{
	struct pstore *ps = arg;
	uint64_t next = mono_ns() + PS_TICK_MS * 1000000ull;

	pthread_mutex_lock(&ps->lock);
	while (!ps->stopping) {
		struct timespec ts;

		if (ps->free_pending) {
			free_empty_slabs(ps);
			continue;
		}
		if (mono_ns() >= next) {
			refresh_donors(ps);
			if (!ps_degraded_slabs(ps))
				ps->degraded_since_ns = 0;
			else if (!ps->degraded_since_ns)
				ps->degraded_since_ns = mono_ns();
			if (ps->parked) {
				pthread_mutex_unlock(&ps->lock);
				ps_parked_retry(ps);
				pthread_mutex_lock(&ps->lock);
			}
			next = mono_ns() + PS_TICK_MS * 1000000ull;
			continue;
		}
		ps_deadline_in(&ts, 100);
		pthread_cond_timedwait(&ps->tick_cv, &ps->lock, &ts);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}
