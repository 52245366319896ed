// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_open - a page store's life: pstore_open() connects the donors
 * (it fails unless R of them answer), opens the backup and starts the
 * tick and repair threads; pstore_close() stops them and gives our slabs
 * back. In between, the donor slots change: transport events (up, down,
 * EVICT), pstore_donor_add(), pstore_donor_drain(); pstore_register()
 * registers buffers with every donor, present and future.
 *
 * Threading: pstore_open() and pstore_close() come before and after every
 * other call. Donor add, drain and pstore_register() hold ps->admin_lock
 * (taken before ps->lock) across their donor calls; a drain waits for
 * the repair thread to move the donor's slabs away. on_event() runs on a
 * transport's event thread and takes ps->lock only for an EVICT.
 */
#include "placement/pstore.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "placement/backup.h"
#include "placement/pstore_priv.h"
#include "placement/pstore_state.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PS_DEF_POOL   8192
#define PS_DEF_CTL_MS 5000
#define PS_REFUSED_MS 1000 /* a refused donor gets this long to appear */

/* Timed waits (deadline_timespec()) use CLOCK_MONOTONIC deadlines. */
static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

/*
 * The donor wants remote slab rslab back: flag the copy; the repair
 * thread moves the slab to another ranked donor, then frees it. Short
 * critical section: called from the transport's event thread.
 */
void ps_evict_mark(struct pstore *ps, unsigned int di, uint32_t rslab)
{
	bool found = false;

	pthread_mutex_lock(&ps->lock);
	for (uint32_t s = 0; s < ps->nslabs && !found; s++) {
		struct ps_slab *sl = &ps->slabs[s];

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			if (sl->rep[k].donor == di &&
			    sl->rep[k].rslab == rslab && !sl->rep[k].stale) {
				sl->rep[k].evict = true;
				ps_state_slab_save(ps, s);
				found = true;
				break;
			}
		}
	}
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
	/* a hostile donor may send a flood of these */
	LOG_RATELIMITED(LOG_NOTICE,
			"donor %s: slab %" PRIu32 ": evict request%s",
			ps_donor_at(ps, di)->addr, rslab,
			found ? ", migrating" : " for a slab we do not hold");
}

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct ps_donor *d = arg;

	switch (ev->type) {
	case XPORT_EV_UP:
		/* a reconnect: the tick's QUERY first tells whether the donor
		 * restarted (its slab ids then mean nothing), then marks it up:
		 * until then it gets no new slab and no free */
		if (!atomic_exchange(&d->was_up, true)) {
			atomic_store(&d->up, true);
			log_notice("donor %s: up", d->addr);
		} else {
			log_notice("donor %s: reconnected, checking it",
				   d->addr);
		}
		break;
	case XPORT_EV_DOWN:
		atomic_store(&d->up, false);
		log_warn("donor %s: down: %s", d->addr, strerror(-ev->error));
		break;
	case XPORT_EV_EVICT:
		ps_evict_mark(d->ps, d->idx, ev->slab);
		break;
	}
}

static const char *reason(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return "connection refused";
	case -EACCES:
	case -EPERM:
		return "authentication failed (wrong key?)";
	case -ETIMEDOUT:
		return "timed out";
	case -EPROTONOSUPPORT:
		return "protocol or transport not supported";
	case -EHOSTUNREACH:
		return "host unreachable";
	default:
		return strerror(-err);
	}
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends to err (keeps it NUL-terminated, truncates quietly). */
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!err || !errlen)
		return;
	used = strnlen(err, errlen);
	if (used + 1 >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

/* Parses donor i of cfg into an xport_cfg; host/port in the buffers. */
static int donor_cfg(const struct pstore *ps, const char *spec,
		     struct xport_cfg *xc, char *host, size_t hostlen,
		     char *port, size_t portlen)
{
	if (ps->xc_base.kind == XPORT_MEM) {
		/* "mem", or "mem:NAME[:SIZE]" for several local donors */
		const char *size = strrchr(spec, ':');
		uint64_t bytes = 0;

		snprintf(host, hostlen, "%s", spec);
		snprintf(port, portlen, "mem");
		xc->mem_bytes = (uint64_t)ps->nslabs * ps->slab_size;
		if (size && size != strchr(spec, ':') &&
		    parse_size(size + 1, &bytes) == 0)
			xc->mem_bytes = bytes;
		return 0;
	}
	return parse_hostport(spec, NULL, host, hostlen, port, portlen);
}

static const char *sep(const char *err, size_t errlen)
{
	return err && errlen && err[0] ? "; " : "";
}

static void ps_free(struct pstore *ps)
{
	for (unsigned int i = 0; i < ps->ndonors; i++)
		if (atomic_load(&ps_donor_at(ps, i)->dstate) != PS_D_GONE)
			xport_close(ps_donor_at(ps, i)->x);
	pthread_mutex_destroy(&ps->admin_lock);
	pthread_mutex_destroy(&ps->rank_lock);
	backup_close(ps->backup);
	for (unsigned int i = 0; i < PS_NIFL; i++) {
		pthread_mutex_destroy(&ps->ifl[i]);
		pthread_cond_destroy(&ps->ifl_cv[i]);
	}
	seal_free(ps->seal);
	if (!ps->arena)
		free(ps->ver);
	pthread_cond_destroy(&ps->pool_cv);
	pthread_mutex_destroy(&ps->pool_lock);
	pthread_cond_destroy(&ps->tick_cv);
	pthread_cond_destroy(&ps->repair_cv);
	free(ps->repair_buf);
	pthread_cond_destroy(&ps->slab_cv);
	pthread_mutex_destroy(&ps->lock);
	free(ps->runs);
	free(ps->owed);
	free(ps->slabs);
	palloc_fini(&ps->pa);
	for (unsigned int c = 0; c < PS_DCHUNKS && ps->dchunk[c]; c++)
		free(ps->dchunk[c]);
	free(ps->rank_cand);
	free(ps);
}

/*
 * Waits for one donor until the deadline, but gives up on a refused
 * connection after PS_REFUSED_MS (nobody listens there: a mount should
 * say so at once, not after the whole control timeout) and at once on
 * errors that retrying cannot fix (wrong key, protocol).
 */
static int wait_donor(struct ps_donor *d, uint64_t deadline)
{
	uint64_t refused_since = 0;
	int ret;

	for (;;) {
		uint64_t now = mono_ns();
		unsigned int left =
			now < deadline
				? (unsigned int)((deadline - now) / 1000000)
				: 0;

		ret = xport_wait_up(d->x, left < 200 ? (left ? left : 1) : 200);
		now = mono_ns();
		if (!ret || now >= deadline || ret == -EACCES ||
		    ret == -EPERM || ret == -EPROTONOSUPPORT ||
		    ret == -EPROTO || ret == -ECONNABORTED)
			break;
		if (ret != -ECONNREFUSED) {
			refused_since = 0;
			continue;
		}
		if (!refused_since)
			refused_since = now;
		else if (now - refused_since >= PS_REFUSED_MS * 1000000ull)
			break;
	}
	return ret;
}

/*
 * Makes room for slot n: its chunk of slots, and ranking scratch for n + 1
 * candidates. At open or under admin_lock; 0 or -ENOMEM.
 */
static int slot_reserve(struct pstore *ps, unsigned int n)
{
	unsigned int c = n >> PS_DCHUNK_SHIFT, cap;
	struct rank_donor *cand, *old;

	if (!ps->dchunk[c]) {
		ps->dchunk[c] = calloc(PS_DCHUNK, sizeof(struct ps_donor));
		if (!ps->dchunk[c])
			return -ENOMEM;
	}
	if (n < ps->rank_cap)
		return 0;
	cap = ps->rank_cap ? 2 * ps->rank_cap : PS_DCHUNK;
	while (cap <= n)
		cap *= 2;
	cand = calloc(cap, sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	pthread_mutex_lock(&ps->rank_lock);
	old = ps->rank_cand;
	ps->rank_cand = cand;
	ps->rank_cap = cap;
	pthread_mutex_unlock(&ps->rank_lock);
	free(old);
	return 0;
}

/* Fills slot idx for donor spec and starts connecting. */
static int slot_open(struct pstore *ps, unsigned int idx, const char *spec,
		     char *err, size_t errlen)
{
	struct ps_donor *d = ps_donor_at(ps, idx);
	struct xport_cfg xc = ps->xc_base;
	char host[256], port[32];
	int ret;

	ret = donor_cfg(ps, spec, &xc, host, sizeof(host), port, sizeof(port));
	if (ret) {
		errf(err, errlen, "bad donor address \"%s\"", spec);
		return ret;
	}
	memset(d, 0, sizeof(*d));
	d->ps = ps;
	d->idx = idx;
	snprintf(d->addr, sizeof(d->addr), "%s", spec);
	xc.host = host;
	xc.port = port;
	xc.event = on_event;
	xc.event_arg = d;
	xc.sess = ps_state_donor_sess(ps, idx);
	ps_state_mem(ps, idx, &xc);
	ret = xport_open(&xc, &d->x);
	if (ret)
		errf(err, errlen, "donor %s: %s", spec, reason(ret));
	return ret;
}

/* Waits for slot d and reads its state; 0 when it can take slabs. */
static int slot_ready(struct pstore *ps, struct ps_donor *d, uint64_t deadline,
		      char *err, size_t errlen)
{
	struct xport_stats xs;
	struct wire_state st;
	int ret;

	ret = wait_donor(d, deadline);
	if (!ret)
		ret = xport_query(d->x, &st);
	if (ret) {
		errf(err, errlen, "%sdonor %s: %s", sep(err, errlen), d->addr,
		     reason(ret));
		log_warn("donor %s: %s", d->addr, reason(ret));
		return ret;
	}
	if (st.slab_size && st.slab_size != ps->slab_size) {
		errf(err, errlen,
		     "%sdonor %s: slab size %" PRIu64 " instead of %" PRIu64,
		     sep(err, errlen), d->addr, st.slab_size, ps->slab_size);
		return -EPROTO;
	}
	xport_get_stats(d->x, &xs);
	d->kind = xs.kind;
	pthread_mutex_lock(&ps->lock);
	d->free_slabs = st.free_slabs;
	d->total_slabs = st.total_slabs;
	d->trend_bps = st.host_trend_bps;
	pthread_mutex_unlock(&ps->lock);
	atomic_store(&d->up, true);
	return 0;
}

static int open_donors(struct pstore *ps, const struct pstore_cfg *cfg,
		       char *err, size_t errlen)
{
	static const char *const mem_only[] = { "mem" };
	const char *const *specs = cfg->donors;
	unsigned int n = cfg->ndonors > 0 ? (unsigned int)cfg->ndonors : 0;
	uint8_t session[PROTO_SESSION_LEN];
	uint64_t deadline;
	unsigned int up = 0;
	int first_err = 0;

	if (cfg->transport == XPORT_MEM && n == 0) {
		specs = mem_only;
		n = 1;
	}
	if (ps->resumed)
		n = ps_state_ndonors(ps); /* the slots a dead server had */
	if (n == 0 || n > PS_MAX_DONORS) {
		errf(err, errlen, "%s donors (1 to %d)", n ? "too many" : "no",
		     PS_MAX_DONORS);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++)
		if (slot_reserve(ps, i))
			return -ENOMEM;
	if (getrandom(session, sizeof(session), 0) != sizeof(session)) {
		for (size_t i = 0; i < sizeof(session); i++)
			session[i] = (uint8_t)ps_rand(ps);
	}
	ps_state_session(ps, session);
	if (cfg->key)
		ps->key = *cfg->key;
	ps->xc_base.kind = cfg->transport;
	ps->xc_base.key = cfg->key ? &ps->key : NULL;
	ps->xc_base.slab_size = ps->slab_size;
	memcpy(ps->xc_base.session, session, sizeof(session));
	ps->xc_base.max_chain = cfg->max_chain;
	ps->xc_base.max_op_bytes = cfg->max_op_bytes;
	ps->xc_base.ctl_timeout_ms = cfg->ctl_timeout_ms;
	ps->xc_base.io_timeout_ms = cfg->io_timeout_ms;
	ps->io_timeout_ns =
		(cfg->io_timeout_ms ? cfg->io_timeout_ms : 10000) * 1000000ull;
	ps->xc_base.reconnect_min_ms = 100;
	ps->xc_base.reconnect_max_ms = cfg->transport == XPORT_MEM ? 0 : 5000;
	for (unsigned int i = 0; i < n; i++) {
		const char *spec =
			ps->resumed ? ps_state_donor_addr(ps, i) : specs[i];
		int ret = slot_open(ps, i, spec, err, errlen);

		if (!ret && ps->resumed && ps_state_donor_gone(ps, i)) {
			/* drained away before: a slot, no connection */
			xport_close(ps_donor_at(ps, i)->x);
			atomic_store(&ps_donor_at(ps, i)->dstate, PS_D_GONE);
		}
		if (!ret)
			ret = ps_state_donor_save(ps, i);
		if (ret)
			return ret;
		ps->ndonors++;
	}

	deadline = deadline_after_ms(ps->ctl_timeout_ms);
	for (unsigned int i = 0; i < n; i++) {
		int ret;

		if (atomic_load(&ps_donor_at(ps, i)->dstate) == PS_D_GONE)
			continue;
		ret = slot_ready(ps, ps_donor_at(ps, i), deadline, err, errlen);

		if (!ret)
			up++;
		else if (!first_err)
			first_err = ret;
	}
	if (ps->resumed && up < ps->replicas) {
		/* its slabs are there: reads wait for donors coming back */
		log_warn("pstore: resumed with %u of %u donors reachable", up,
			 n);
	} else if (up < ps->replicas) {
		char msg[64];

		snprintf(msg, sizeof(msg),
			 " (%u of %u donors reachable, %u needed)", up, n,
			 ps->replicas);
		errf(err, errlen, "%s", msg);
		return first_err ? first_err : -EHOSTUNREACH;
	}
	if (err && errlen)
		err[0] = '\0'; /* enough donors: the others come back later */
	return 0;
}

int pstore_open(const struct pstore_cfg *cfg, struct pstore **out, char *err,
		size_t errlen)
{
	struct pstore *ps;
	struct ps_geom g;
	unsigned int pool;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	if (!cfg || ps_geometry(cfg, &g) ||
	    !(cfg->w_free >= 0 && cfg->w_trend >= 0 && cfg->w_latency >= 0) ||
	    cfg->band > 1) {
		errf(err, errlen, "bad page store settings");
		return -EINVAL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->slab_size = g.slab_size;
	ps->pages_per_slab = g.pages_per_slab;
	ps->npages = g.npages;
	ps->nslabs = g.nslabs;
	ret = ps_state_find(ps, cfg, &g, err, errlen);
	if (ret) {
		free(ps);
		return ret;
	}
	if (g.sealed) {
		ret = ps_state_seal(ps);
		if (ret) {
			errf(err, errlen, "page encryption: %s",
			     strerror(-ret));
			free(ps);
			return ret;
		}
		ps->tag_base = (uint64_t)ps->pages_per_slab * PSTORE_PAGE;
	}
	ps->replicas = cfg->replicas ? cfg->replicas : 1;
	ps->sample_d = cfg->sample_d;
	ps->w.free = cfg->w_free;
	ps->w.trend = cfg->w_trend;
	ps->w.latency = cfg->w_latency;
	if (ps->w.free == 0 && ps->w.trend == 0 && ps->w.latency == 0)
		ps->w.free = ps->w.trend = ps->w.latency = 1;
	ps->w.band = cfg->band ? cfg->band : RANK_DEF_BAND;
	ps->ctl_timeout_ms =
		cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : PS_DEF_CTL_MS;
	atomic_store(&ps->rng, mono_ns());
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->slab_cv, NULL);
	cond_init_mono(&ps->tick_cv);
	cond_init_mono(&ps->repair_cv);
	pthread_mutex_init(&ps->pool_lock, NULL);
	pthread_cond_init(&ps->pool_cv, NULL);
	for (unsigned int i = 0; i < PS_NIFL; i++) {
		pthread_mutex_init(&ps->ifl[i], NULL);
		pthread_cond_init(&ps->ifl_cv[i], NULL);
	}
	pthread_mutex_init(&ps->admin_lock, NULL);
	pthread_mutex_init(&ps->rank_lock, NULL);

	ret = ps_state_palloc(ps);
	if (ret)
		goto out_free;
	ps->slabs = calloc(ps->nslabs, sizeof(*ps->slabs));
	/* a slab has at most one copy per donor, plus one being replaced */
	ps->owed_cap = 2 * ps->nslabs;
	ps->owed = calloc(ps->owed_cap, sizeof(*ps->owed));
	pool = cfg->max_inflight_pages ? cfg->max_inflight_pages : PS_DEF_POOL;
	ps->runs = calloc(pool, sizeof(*ps->runs));
	/* the pages of a chunk, then their tags */
	ps->repair_buf =
		malloc((size_t)PS_RUN_MAX_PAGES * (PSTORE_PAGE + SEAL_TAG));
	if (ps->seal && !ps->arena)
		ps->ver = calloc(ps->npages, sizeof(*ps->ver));
	if (!ps->slabs || !ps->owed || !ps->runs || !ps->repair_buf ||
	    (ps->seal && !ps->ver)) {
		ret = -ENOMEM;
		goto out_free;
	}
	ps->nruns = pool;
	for (unsigned int i = 0; i < pool; i++) {
		ps->runs[i].next = ps->pool_free;
		ps->pool_free = &ps->runs[i];
	}

	ret = open_donors(ps, cfg, err, errlen);
	if (ret)
		goto out_free;
	if (cfg->backup_path) {
		ret = (ps->resumed ? backup_resume : backup_open)(
			cfg->backup_path, ps->npages * PSTORE_PAGE, 0,
			&ps->backup);
		if (ret) {
			errf(err, errlen, "backup %s: %s", cfg->backup_path,
			     strerror(-ret));
			goto out_free;
		}
	}
	ps_state_resume_slabs(ps);
	ret = -pthread_create(&ps->tick_thread, NULL, ps_tick_main, ps);
	if (ret)
		goto out_free;
	ps->tick_started = true;
	/* repairs degraded slabs and migrates evicted ones (any R) */
	ret = -pthread_create(&ps->repair_thread, NULL, ps_repair_main, ps);
	if (ret)
		goto out_stop_tick;
	ps->repair_started = true;
	ps_state_published(ps);
	*out = ps;
	return 0;

out_stop_tick:
	pthread_mutex_lock(&ps->lock);
	ps->stopping = true;
	pthread_cond_broadcast(&ps->tick_cv);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->tick_thread, NULL);
out_free:
	ps_free(ps);
	return ret;
}

void pstore_close(struct pstore *ps)
{
	if (!ps)
		return;
	pthread_mutex_lock(&ps->lock);
	ps->stopping = true;
	pthread_cond_broadcast(&ps->tick_cv);
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_cond_broadcast(&ps->slab_cv);
	pthread_mutex_unlock(&ps->lock);
	if (ps->tick_started)
		pthread_join(ps->tick_thread, NULL);
	if (ps->repair_started)
		pthread_join(ps->repair_thread, NULL);
	ps_parked_retry(ps); /* stopping: fails every parked read */
	/* give our slabs back to the donors that can still hear us */
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];

		if (sl->state != SLAB_READY)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			struct ps_donor *d = ps_donor_at(ps, sl->rep[k].donor);

			/* a lost copy's id may name another of our slabs */
			if (!sl->rep[k].lost &&
			    atomic_load(&d->dstate) != PS_D_GONE &&
			    atomic_load(&d->up) &&
			    xport_state(d->x) == XPORT_UP)
				xport_free(d->x, sl->rep[k].rslab);
		}
	}
	ps_free(ps);
}

int pstore_register(struct pstore *ps, void *addr, size_t len)
{
	int ret = 0;

	pthread_mutex_lock(&ps->admin_lock);
	if (ps->nregs == PS_MAX_REGS) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	for (unsigned int i = 0; i < ps->ndonors && !ret; i++) {
		struct ps_donor *d = ps_donor_at(ps, i);

		if (!ps_donor_get(d))
			continue;
		ret = xport_register(d->x, addr, len);
		ps_donor_put(d);
	}
	if (!ret) {
		/* for donors added later */
		ps->regs[ps->nregs].addr = addr;
		ps->regs[ps->nregs].len = len;
		ps->nregs++;
	}
out_unlock:
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}

int pstore_donor_add(struct pstore *ps, const char *addr, char *err,
		     size_t errlen)
{
	unsigned int n;
	struct ps_donor *d;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	pthread_mutex_lock(&ps->admin_lock);
	n = ps->ndonors;
	for (unsigned int i = 0; i < n; i++) {
		if (atomic_load(&ps_donor_at(ps, i)->dstate) != PS_D_GONE &&
		    !strcmp(ps_donor_at(ps, i)->addr, addr)) {
			errf(err, errlen, "donor %s: already in use", addr);
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	if (n == PS_MAX_DONORS) {
		errf(err, errlen, "no room for another donor (%d)",
		     PS_MAX_DONORS);
		ret = -ENOSPC;
		goto out_unlock;
	}
	ret = slot_reserve(ps, n);
	if (ret) {
		errf(err, errlen, "donor %s: out of memory", addr);
		goto out_unlock;
	}
	d = ps_donor_at(ps, n);
	ret = slot_open(ps, n, addr, err, errlen);
	if (ret)
		goto out_unlock;
	ret = slot_ready(ps, d, deadline_after_ms(ps->ctl_timeout_ms), err,
			 errlen);
	for (unsigned int i = 0; i < ps->nregs && !ret; i++)
		ret = xport_register(d->x, ps->regs[i].addr, ps->regs[i].len);
	if (!ret)
		ret = ps_state_donor_save(ps, n);
	if (ret) {
		xport_close(d->x);
		memset(d, 0, sizeof(*d));
		goto out_unlock;
	}
	/* the slot is complete: make it visible */
	atomic_store(&ps->ndonors, n + 1);
	log_notice("donor %s: added", addr);
out_unlock:
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}

/* Flags every copy on d for migration and drops its stale copies;
 * returns how many of our slabs d still holds. */
static uint32_t drain_mark(struct pstore *ps, unsigned int di)
{
	struct ps_donor *d = ps_donor_at(ps, di);
	uint32_t drop[64], held;
	unsigned int ndrop = 0;

	pthread_mutex_lock(&ps->lock);
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_slab *sl = &ps->slabs[s];
		unsigned int keep = 0;

		if (sl->state != SLAB_READY || sl->repairing)
			continue;
		for (unsigned int k = 0; k < sl->nrep; k++) {
			struct ps_rep *r = &sl->rep[k];

			if (r->donor == di && r->stale && ndrop < 64) {
				drop[ndrop++] = r->rslab;
				d->slabs--;
				continue;
			}
			if (r->donor == di)
				r->evict = true;
			sl->rep[keep++] = *r;
		}
		sl->nrep = (uint8_t)keep;
		ps_state_slab_save(ps, s);
	}
	held = d->slabs;
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
	for (unsigned int k = 0; k < ndrop; k++)
		ps_free_copy(d, drop[k]);
	return held;
}

/* Why a drain of donor di cannot finish: the other donors able to take
 * its slabs. Caller holds ps->admin_lock. */
static void drain_blocker(struct pstore *ps, unsigned int di, uint32_t held,
			  char *why, size_t whylen)
{
	unsigned int others = 0;

	for (unsigned int i = 0; i < ps->ndonors; i++)
		if (i != di &&
		    atomic_load(&ps_donor_at(ps, i)->dstate) == PS_D_ACTIVE &&
		    atomic_load(&ps_donor_at(ps, i)->up))
			others++;
	/* each slab keeps its replicas on distinct donors */
	if (others < ps->replicas)
		snprintf(why, whylen,
			 "%" PRIu32 " slabs still there and no other donor can "
			 "take them (%u other donor%s up, %u replica%s per "
			 "slab; add one with cnetmemctl donor-add, or cancel "
			 "with cnetmemctl donor-undrain)",
			 held, others, others == 1 ? "" : "s", ps->replicas,
			 ps->replicas == 1 ? "" : "s");
	else
		snprintf(why, whylen,
			 "%" PRIu32 " slabs still there, moving to %u other "
			 "donor%s (cancel with cnetmemctl donor-undrain)",
			 held, others, others == 1 ? "" : "s");
}

/* The donor in use at addr, with its index, or NULL. Caller holds
 * ps->admin_lock. */
static struct ps_donor *donor_in_use(struct pstore *ps, const char *addr,
				     unsigned int *di)
{
	for (unsigned int i = 0; i < ps->ndonors; i++) {
		if (atomic_load(&ps_donor_at(ps, i)->dstate) != PS_D_GONE &&
		    !strcmp(ps_donor_at(ps, i)->addr, addr)) {
			*di = i;
			return ps_donor_at(ps, i);
		}
	}
	return NULL;
}

int pstore_donor_undrain(struct pstore *ps, const char *addr)
{
	unsigned int di = 0;
	struct ps_donor *d;
	int ret = -ENOENT;

	pthread_mutex_lock(&ps->admin_lock);
	d = donor_in_use(ps, addr, &di);
	if (d && atomic_load(&d->dstate) != PS_D_DRAINING) {
		ret = -EINVAL;
	} else if (d) {
		/* its copies stay where they are and it takes slabs again */
		pthread_mutex_lock(&ps->lock);
		for (uint32_t s = 0; s < ps->nslabs; s++)
			for (unsigned int k = 0; k < ps->slabs[s].nrep; k++)
				if (ps->slabs[s].rep[k].donor == di)
					ps->slabs[s].rep[k].evict = false;
		ps_state_slabs_save(ps);
		atomic_store(&d->dstate, PS_D_ACTIVE);
		pthread_mutex_unlock(&ps->lock);
		log_notice("donor %s: drain cancelled", d->addr);
		ret = 0;
	}
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}

int pstore_donor_drain(struct pstore *ps, const char *addr,
		       unsigned int timeout_ms, char *why, size_t whylen)
{
	char text[256];
	uint64_t deadline = deadline_after_ms(timeout_ms);
	struct ps_donor *d = NULL;
	unsigned int di = 0;
	uint32_t held;
	int ret = 0;

	pthread_mutex_lock(&ps->admin_lock);
	d = donor_in_use(ps, addr, &di);
	if (!d) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (atomic_exchange(&d->dstate, PS_D_DRAINING) != PS_D_DRAINING)
		log_notice("donor %s: draining", d->addr);
	while ((held = drain_mark(ps, di)) > 0) {
		if (mono_ns() >= deadline) {
			drain_blocker(ps, di, held, text, sizeof(text));
			LOG_RATELIMITED(LOG_WARNING, "donor %s: drain: %s",
					d->addr, text);
			if (why)
				snprintf(why, whylen, "%s", text);
			ret = -ETIMEDOUT;
			goto out_unlock;
		}
		usleep(20000);
	}
	/* nothing of ours is left there: disconnect */
	atomic_store(&d->dstate, PS_D_GONE);
	ps_state_donor_save(ps, di);
	atomic_store(&d->up, false);
	pthread_mutex_lock(&ps->lock);
	ps_owed_settle(ps, di, true); /* the session ends with us */
	pthread_mutex_unlock(&ps->lock);
	while (atomic_load(&d->users))
		usleep(1000);
	xport_close(d->x);
	log_notice("donor %s: drained and disconnected", d->addr);
out_unlock:
	pthread_mutex_unlock(&ps->admin_lock);
	return ret;
}
