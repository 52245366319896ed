// SPDX-License-Identifier: GPL-2.0-or-later
/* session - sessions, slab ownership, eviction and state of a donor. */
#include "donor/session.h"

#include "common/clock.h"
#include "common/log.h"
#include "donor/meminfo.h"
#include "rdma/handshake.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slab_rec {
	_Atomic(struct session *) owner; /* set on the first chunk only */
	uint64_t size;
	_Atomic uint64_t last_use_ms;
	uint64_t evict_deadline_ms; /* protected by donor lock */
	uint8_t evicting;	    /* protected by donor lock */
	uint8_t warned;		    /* protected by donor lock */
};

struct session {
	struct donor *d;
	uint8_t id[PROTO_SESSION_LEN];
	const struct auth_ident *owner; /* NULL: keyless; fixed at creation */
	uint8_t secret[AUTH_KEY_LEN];	/* fixed at creation */
	char name[16];	    /* hex of the id's first bytes, for logs */
	uint64_t slab_size; /* fixed at creation */
	pthread_rwlock_t io;
	/* the rest is protected by d->lock */
	struct session_conn *conns;
	unsigned int nconns;
	uint32_t nslabs;
	uint32_t reserved; /* allocs between the quota check and the pool */
	uint64_t detached_ms;
	struct session *next;
};

struct donor {
	struct donor_cfg cfg;
	struct pool *pool;
	struct slab_rec *slabs; /* per chunk */
	uint64_t start_ms;
	_Atomic uint64_t bytes_read, bytes_written;
	_Atomic uint64_t reads, writes, io_refused, allocs, allocs_refused,
		frees, evicts_asked, io_ns_sum;
	_Atomic uint64_t io_hist[DONOR_IO_HIST];
	_Atomic uint32_t caps;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* protected by lock */
	struct session *sessions;
	unsigned int nconns;
	/* kept as they change, so a QUERY scans nothing */
	unsigned int nclients;	/* sessions with a connection */
	unsigned int nevicting; /* owned slabs asked back */
	int refusing;		/* below the low watermark: ALLOC says ENOSPC */
	int stop;
	struct trend trend; /* host MemAvailable */
	struct trend offer; /* what it can still give: see sample_meminfo */
	uint64_t last_sample_ms;
	pthread_t housekeeper;
};

static uint64_t now_ms(void)
{
	return mono_ns() / 1000000;
}

static void sample_meminfo(struct donor *d, uint64_t now)
{
	uint64_t avail, offer, room;

	if (meminfo_read(d->cfg.meminfo_path ? d->cfg.meminfo_path
					     : "/proc/meminfo",
			 &avail))
		return;
	trend_add(&d->trend, now, avail);
	/* The pool is reserved up front, so our own slabs never show in
	 * MemAvailable: what clients rank on is the memory we can still
	 * give, the free pool capped by the host's room above the low
	 * watermark. It falls as clients fill us or the host runs short. */
	offer = pool_free_bytes(d->pool);
	room = avail > d->cfg.low_watermark ? avail - d->cfg.low_watermark : 0;
	trend_add(&d->offer, now, offer < room ? offer : room);
	d->last_sample_ms = now;
}

/* Caller holds d->lock. Marks up to `bytes` of LRU slabs for eviction. */
static unsigned int reclaim_locked(struct donor *d, uint64_t bytes)
{
	uint64_t got = 0, now = now_ms();
	unsigned int asked = 0;

	while (got < bytes) {
		struct slab_rec *best = NULL;
		uint32_t best_id = 0;

		for (uint32_t i = 0; i < pool_chunks(d->pool); i++) {
			struct slab_rec *r = &d->slabs[i];

			if (!atomic_load(&r->owner) || r->evicting)
				continue;
			if (!best || atomic_load(&r->last_use_ms) <
					     atomic_load(&best->last_use_ms)) {
				best = r;
				best_id = i;
			}
		}
		if (!best)
			break;
		struct session *s = atomic_load(&best->owner);

		best->evicting = 1;
		d->nevicting++;
		best->warned = 0;
		best->evict_deadline_ms = now + d->cfg.evict_wait_ms;
		got += best->size;
		asked++;
		log_info("session %s: slab %u: asking the client to give it "
			 "back within %u ms",
			 s->name, best_id, d->cfg.evict_wait_ms);
		if (s->conns)
			s->conns->evict(s->conns, best_id,
					d->cfg.evict_wait_ms);
	}
	atomic_fetch_add(&d->evicts_asked, asked);
	return asked;
}

unsigned int donor_reclaim(struct donor *d, uint64_t bytes)
{
	unsigned int n;

	pthread_mutex_lock(&d->lock);
	n = reclaim_locked(d, bytes);
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void release_session_slabs(struct donor *d, struct session *s)
{
	for (uint32_t i = 0; i < pool_chunks(d->pool); i++) {
		struct slab_rec *r = &d->slabs[i];
		uint64_t size;

		if (atomic_load(&r->owner) != s)
			continue;
		pthread_mutex_lock(&d->lock);
		size = r->size;
		atomic_store(&r->owner, NULL);
		d->nevicting -= r->evicting;
		r->evicting = 0;
		pthread_mutex_unlock(&d->lock);
		pool_release(d->pool, i, size);
	}
}

static void session_destroy(struct session *s)
{
	explicit_bzero(s->secret, sizeof(s->secret));
	pthread_rwlock_destroy(&s->io);
	free(s);
}

static void housekeeping(struct donor *d)
{
	uint64_t now = now_ms(), avail;
	struct session **pp, *dead = NULL;
	unsigned int evicting = 0;

	pthread_mutex_lock(&d->lock);
	if (now - d->last_sample_ms >= 1000)
		sample_meminfo(d, now);
	for (pp = &d->sessions; *pp;) {
		struct session *s = *pp;

		/* detached after now was read: its grace has just begun */
		if (!s->nconns &&
		    mono_since(now, s->detached_ms) >= d->cfg.grace_ms) {
			*pp = s->next;
			s->next = dead;
			dead = s;
			continue;
		}
		pp = &s->next;
	}
	for (uint32_t i = 0; i < pool_chunks(d->pool); i++) {
		struct slab_rec *r = &d->slabs[i];
		struct session *s = atomic_load(&r->owner);

		if (!s || !r->evicting)
			continue;
		evicting++;
		if (!r->warned && now >= r->evict_deadline_ms) {
			r->warned = 1;
			log_warn("session %s: slab %u: not handed back by its "
				 "deadline; keeping it (no data is dropped)",
				 s->name, i);
		}
	}
	avail = trend_last(&d->trend);
	if (d->cfg.low_watermark && avail && avail < d->cfg.low_watermark) {
		if (!d->refusing)
			log_warn("host memory available %llu below the low "
				 "watermark: refusing new slabs, asking for "
				 "slabs back",
				 (unsigned long long)avail);
		d->refusing = 1;
		if (!evicting)
			reclaim_locked(d, d->cfg.low_watermark - avail);
	} else if (d->refusing &&
		   avail > (d->cfg.high_watermark ? d->cfg.high_watermark
						  : d->cfg.low_watermark)) {
		log_notice("host memory available %llu above the high "
			   "watermark: offering slabs again",
			   (unsigned long long)avail);
		d->refusing = 0;
	}
	pthread_mutex_unlock(&d->lock);

	while (dead) {
		struct session *s = dead;

		dead = s->next;
		log_info("session %s: grace period over, freeing %u slabs",
			 s->name, s->nslabs);
		release_session_slabs(d, s);
		session_destroy(s);
	}
}

static void *housekeeper_main(void *arg)
{
	struct donor *d = arg;
	struct timespec ts;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)d->cfg.tick_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
		if (d->stop)
			break;
		pthread_mutex_unlock(&d->lock);
		housekeeping(d);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int donor_create(const struct donor_cfg *cfg, struct pool *pool,
		 struct donor **out)
{
	pthread_condattr_t ca;
	struct donor *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	if (!d->cfg.tick_ms)
		d->cfg.tick_ms = 250;
	if (!d->cfg.evict_wait_ms)
		d->cfg.evict_wait_ms = 30000;
	d->pool = pool;
	atomic_store(&d->caps, cfg->caps);
	d->slabs = calloc(pool_chunks(pool), sizeof(*d->slabs));
	if (!d->slabs) {
		ret = -ENOMEM;
		goto out_free;
	}
	d->start_ms = now_ms();
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_condattr_destroy(&ca);
	sample_meminfo(d, d->start_ms);
	ret = -pthread_create(&d->housekeeper, NULL, housekeeper_main, d);
	if (ret)
		goto out_sync;
	*out = d;
	return 0;
out_sync:
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d->slabs);
out_free:
	free(d);
	return ret;
}

void donor_destroy(struct donor *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->housekeeper, NULL);
	while (d->sessions) {
		struct session *s = d->sessions;

		d->sessions = s->next;
		session_destroy(s);
	}
	/* pool_destroy() wipes all slab memory */
	pool_destroy(d->pool);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d->slabs);
	free(d);
}

struct pool *donor_pool(struct donor *d)
{
	return d->pool;
}

/* Caller holds d->lock. */
static struct session *find_locked(struct donor *d,
				   const uint8_t id[PROTO_SESSION_LEN])
{
	struct session *s;

	for (s = d->sessions; s; s = s->next)
		if (!memcmp(s->id, id, PROTO_SESSION_LEN))
			break;
	return s;
}

int session_lookup(struct donor *d, const uint8_t id[PROTO_SESSION_LEN],
		   const struct auth_ident **owner,
		   uint8_t secret[AUTH_KEY_LEN])
{
	struct session *s;

	pthread_mutex_lock(&d->lock);
	s = find_locked(d, id);
	if (s) {
		*owner = s->owner;
		memcpy(secret, s->secret, AUTH_KEY_LEN);
	}
	pthread_mutex_unlock(&d->lock);
	return s != NULL;
}

int session_attach(struct donor *d, const uint8_t id[PROTO_SESSION_LEN],
		   uint64_t slab_size, const struct session_bind *b,
		   struct session_conn *c, struct session **out)
{
	pthread_rwlockattr_t ra;
	struct session *s;
	int ret = 0;

	if (!hs_slab_size_ok(slab_size) ||
	    slab_size > pool_total_bytes(d->pool))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	if (d->cfg.max_conns && d->nconns >= d->cfg.max_conns) {
		ret = -EUSERS;
		goto out_unlock;
	}
	s = find_locked(d, id);
	/* the handshake proved what it saw at HELLO: it must still hold */
	if (s && (!b->resume || s->owner != b->ident ||
		  memcmp(s->secret, b->old_secret, AUTH_KEY_LEN))) {
		ret = b->resume && s->owner == b->ident ? -ESTALE : -EBUSY;
		goto out_unlock;
	}
	if (!s && b->resume) {
		ret = -ESTALE; /* ended between HELLO and AUTH */
		goto out_unlock;
	}
	if (s && s->slab_size != slab_size) {
		ret = -EINVAL;
		goto out_unlock;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		s->d = d;
		memcpy(s->id, id, PROTO_SESSION_LEN);
		s->owner = b->ident;
		if (b->secret)
			memcpy(s->secret, b->secret, AUTH_KEY_LEN);
		snprintf(s->name, sizeof(s->name), "%02x%02x%02x%02x%02x%02x",
			 id[0], id[1], id[2], id[3], id[4], id[5]);
		s->slab_size = slab_size;
		/* a FREE must not starve behind a stream of reads */
		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(
			&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&s->io, &ra);
		pthread_rwlockattr_destroy(&ra);
		s->next = d->sessions;
		d->sessions = s;
	}
	c->next = s->conns;
	s->conns = c;
	d->nclients += !s->nconns;
	s->nconns++;
	d->nconns++;
	*out = s;
	/* a returning client hears again about slabs it was asked for */
	for (uint32_t i = 0; s->nslabs && i < pool_chunks(d->pool); i++) {
		struct slab_rec *r = &d->slabs[i];

		if (atomic_load(&r->owner) == s && r->evicting) {
			uint64_t now = now_ms();

			c->evict(c, i,
				 r->evict_deadline_ms > now
					 ? r->evict_deadline_ms - now
					 : 0);
		}
	}
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void session_detach(struct session *s, struct session_conn *c)
{
	struct donor *d = s->d;
	struct session_conn **pp;

	pthread_mutex_lock(&d->lock);
	for (pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			s->nconns--;
			d->nclients -= !s->nconns;
			d->nconns--;
			break;
		}
	}
	if (!s->nconns && !s->nslabs) {
		/* nothing to keep: no grace period */
		struct session **pp2;

		for (pp2 = &d->sessions; *pp2 != s; pp2 = &(*pp2)->next)
			;
		*pp2 = s->next;
		pthread_mutex_unlock(&d->lock);
		session_destroy(s);
		return;
	}
	if (!s->nconns)
		s->detached_ms = now_ms();
	pthread_mutex_unlock(&d->lock);
}

/* Bytes of slabs held by the sessions of identity `who`. Caller holds
 * d->lock. */
static uint64_t held_locked(struct donor *d, const struct auth_ident *who)
{
	uint64_t n = 0;

	for (struct session *s = d->sessions; s; s = s->next)
		if (s->owner == who)
			n += (uint64_t)(s->nslabs + s->reserved) * s->slab_size;
	return n;
}

int session_alloc(struct session *s, struct wire_slab *out)
{
	struct donor *d = s->d;
	uint32_t id;
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = d->refusing ? -ENOSPC : 0;
	if (!ret && s->owner && s->owner->quota &&
	    held_locked(d, s->owner) + s->slab_size > s->owner->quota)
		ret = -EDQUOT;
	/* counted from here on, so concurrent allocs cannot pass the quota */
	if (!ret)
		s->reserved++;
	pthread_mutex_unlock(&d->lock);
	if (ret) {
		atomic_fetch_add(&d->allocs_refused, 1);
		return ret;
	}
	ret = pool_alloc(d->pool, s->slab_size, &id);
	if (ret)
		atomic_fetch_add(&d->allocs_refused, 1);
	else
		atomic_fetch_add(&d->allocs, 1);
	pthread_mutex_lock(&d->lock);
	s->reserved--;
	if (ret) {
		pthread_mutex_unlock(&d->lock);
		return ret;
	}
	d->slabs[id].size = s->slab_size;
	d->nevicting -= d->slabs[id].evicting; /* 0: cleared when freed */
	d->slabs[id].evicting = 0;
	d->slabs[id].warned = 0;
	atomic_store(&d->slabs[id].last_use_ms, now_ms());
	atomic_store_explicit(&d->slabs[id].owner, s, memory_order_release);
	s->nslabs++;
	pthread_mutex_unlock(&d->lock);
	memset(out, 0, sizeof(*out));
	out->slab = id;
	out->size = s->slab_size;
	out->addr = (uint64_t)(uintptr_t)pool_addr(d->pool, id);
	return 0;
}

int session_free(struct session *s, uint32_t slab)
{
	struct donor *d = s->d;
	struct slab_rec *r;
	uint64_t size = 0;
	int ret = -EINVAL;

	if (slab >= pool_chunks(d->pool))
		return -EINVAL;
	r = &d->slabs[slab];
	/* waits for this session's I/O in flight, nobody else's */
	pthread_rwlock_wrlock(&s->io);
	pthread_mutex_lock(&d->lock);
	if (atomic_load(&r->owner) == s) {
		size = r->size;
		atomic_store(&r->owner, NULL);
		if (r->evicting)
			log_info("session %s: slab %u: handed back", s->name,
				 slab);
		d->nevicting -= r->evicting;
		r->evicting = 0;
		s->nslabs--;
		ret = 0;
	}
	pthread_mutex_unlock(&d->lock);
	if (!ret) {
		pool_release(d->pool, slab, size);
		atomic_fetch_add(&d->frees, 1);
	}
	pthread_rwlock_unlock(&s->io);
	return ret;
}

int session_io_begin(struct session *s, uint32_t slab, uint64_t off,
		     uint32_t len, void **addr)
{
	struct donor *d = s->d;
	struct slab_rec *r;
	uint64_t size;
	int ret = 0;

	if (slab >= pool_chunks(d->pool))
		return -EINVAL;
	r = &d->slabs[slab];
	pthread_rwlock_rdlock(&s->io);
	/* only this session's free changes owner from s, and it waits for
	 * the lock we hold */
	if (atomic_load_explicit(&r->owner, memory_order_acquire) != s) {
		ret = -EINVAL;
		goto out_unlock;
	}
	size = r->size;
	if (off > size || len > size - off) {
		ret = -EFAULT;
		goto out_unlock;
	}
	atomic_store_explicit(&r->last_use_ms, now_ms(), memory_order_relaxed);
	*addr = (uint8_t *)pool_addr(d->pool, slab) + off;
	return 0; /* the lock stays held until session_io_end() */
out_unlock:
	pthread_rwlock_unlock(&s->io);
	atomic_fetch_add_explicit(&d->io_refused, 1, memory_order_relaxed);
	return ret;
}

void session_io_end(struct session *s, uint32_t slab, uint64_t bytes_read,
		    uint64_t bytes_written)
{
	struct donor *d = s->d;

	pthread_rwlock_unlock(&s->io);
	if (bytes_read) {
		atomic_fetch_add_explicit(&d->bytes_read, bytes_read,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->reads, 1, memory_order_relaxed);
	}
	if (bytes_written) {
		atomic_fetch_add_explicit(&d->bytes_written, bytes_written,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->writes, 1, memory_order_relaxed);
	}
}

const double donor_io_le_s[DONOR_IO_HIST - 1] = {
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001,	 0.0025,   0.005,   0.01,   0.1,
};

void donor_observe_io(struct donor *d, uint64_t ns)
{
	unsigned int b = 0;

	while (b < DONOR_IO_HIST - 1 && (double)ns > donor_io_le_s[b] * 1e9)
		b++;
	atomic_fetch_add_explicit(&d->io_hist[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->io_ns_sum, ns, memory_order_relaxed);
}

void donor_metrics_get(struct donor *d, struct donor_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->total_bytes = pool_total_bytes(d->pool);
	m->free_bytes = pool_free_bytes(d->pool);
	pthread_mutex_lock(&d->lock);
	for (struct session *x = d->sessions; x; x = x->next)
		m->sessions++;
	m->conns = d->nconns;
	m->evicting = d->nevicting;
	m->host_avail_bytes = trend_last(&d->trend);
	m->host_trend_bps = trend_slope(&d->trend);
	m->refusing = d->refusing != 0;
	pthread_mutex_unlock(&d->lock);
	m->uptime_ms = now_ms() - d->start_ms;
	m->bytes_read = atomic_load(&d->bytes_read);
	m->bytes_written = atomic_load(&d->bytes_written);
	m->reads = atomic_load(&d->reads);
	m->writes = atomic_load(&d->writes);
	m->io_refused = atomic_load(&d->io_refused);
	m->allocs = atomic_load(&d->allocs);
	m->allocs_refused = atomic_load(&d->allocs_refused);
	m->frees = atomic_load(&d->frees);
	m->evicts_asked = atomic_load(&d->evicts_asked);
	for (unsigned int i = 0; i < DONOR_IO_HIST; i++)
		m->io_hist[i] = atomic_load(&d->io_hist[i]);
	m->io_ns_sum = atomic_load(&d->io_ns_sum);
}

const struct auth_ident *session_owner(const struct session *s)
{
	return s->owner;
}

uint64_t session_slab_size(const struct session *s)
{
	return s->slab_size;
}

void session_state(struct session *s, struct wire_state *st)
{
	struct donor *d = s->d;

	memset(st, 0, sizeof(*st));
	st->total_bytes = pool_total_bytes(d->pool);
	st->free_bytes = pool_free_bytes(d->pool);
	st->slab_size = s->slab_size;
	st->total_slabs = st->total_bytes / s->slab_size;
	st->free_slabs = pool_free_slabs(d->pool, s->slab_size);
	pthread_mutex_lock(&d->lock);
	st->clients = d->nclients;
	st->evicting = d->nevicting;
	st->session_slabs = s->nslabs;
	st->host_avail_bytes = trend_last(&d->trend);
	st->host_trend_bps = trend_slope(&d->offer);
	if (d->refusing)
		st->free_slabs = 0;
	pthread_mutex_unlock(&d->lock);
	st->bytes_read = atomic_load(&d->bytes_read);
	st->bytes_written = atomic_load(&d->bytes_written);
	st->uptime_ms = now_ms() - d->start_ms;
	st->caps = atomic_load(&d->caps);
}

void donor_counts(struct donor *d, unsigned int *sessions, unsigned int *conns)
{
	unsigned int n = 0;

	pthread_mutex_lock(&d->lock);
	for (struct session *x = d->sessions; x; x = x->next)
		n++;
	*conns = d->nconns;
	pthread_mutex_unlock(&d->lock);
	*sessions = n;
}

uint32_t donor_caps(struct donor *d)
{
	return atomic_load(&d->caps);
}

void donor_set_caps(struct donor *d, uint32_t caps)
{
	atomic_store(&d->caps, caps);
}
