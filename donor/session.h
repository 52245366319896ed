/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * session - the donor's core, shared by every listener (TCP in
 * donor/tcp_server.c, RDMA in donor/rdma_server.c): sessions, which slabs
 * each owns, the range check of every I/O, byte counters, the host memory
 * watch, grace periods, eviction (RECLAIM and the watermarks) and the
 * state reported by QUERY.
 *
 * A session is named by the 16-byte id its client chose; several
 * connections may share it. It belongs to the identity (rdma/auth.h) that
 * created it and holds the secret that handshake agreed on: attaching to
 * it again takes the same identity and a proof of the secret (donor/
 * serve.c checks both through session_lookup() before session_attach()).
 * When its last connection detaches, it keeps its slabs for the grace
 * period (a client that reconnects with the same id finds its data), then
 * its slabs are zeroed and freed. An identity with a quota holds at most
 * that many bytes of slabs over all its sessions.
 *
 * A listener's connection embeds a struct session_conn and:
 *   session_lookup(), session_attach()  after the handshake
 *   session_alloc()/session_free()      ALLOC / FREE
 *   session_io_begin() ... _io_end()    around every READ/WRITE data copy
 *   session_state()                     QUERY
 *   donor_reclaim()                     RECLAIM
 *   session_detach()                    when the connection goes away
 *
 * Threading: any thread may call any function. One mutex per struct donor
 * guards sessions, slab ownership and eviction state; it is held for table
 * updates only, never across I/O, and the evict callback runs under it (so
 * it must only queue, never block). Each session has an rwlock held for
 * reading across a READ/WRITE's data copy (session_io_begin() to
 * session_io_end(); this may block on the network) and for writing while
 * one of its slabs is freed, so a slab is never freed under an I/O. Only
 * the session's own frees ever wait on that lock. A housekeeping thread
 * owned by struct donor samples /proc/meminfo, ends grace periods and
 * watches eviction deadlines.
 */
#ifndef CNM_DONOR_SESSION_H
#define CNM_DONOR_SESSION_H

#include "donor/pool.h"
#include "rdma/auth.h"
#include "rdma/proto.h"

#include <stddef.h>
#include <stdint.h>

struct donor;
struct session;

struct donor_cfg {
	unsigned int grace_ms;	    /* keep a detached session's slabs */
	unsigned int max_conns;	    /* connections at once; 0 = no limit */
	uint64_t low_watermark;	    /* host MemAvailable; 0 = off */
	uint64_t high_watermark;    /* 0 = off */
	unsigned int evict_wait_ms; /* deadline sent with EVICT */
	uint32_t caps;		    /* PROTO_CAP_* served */
	const char *meminfo_path;   /* NULL: /proc/meminfo */
	unsigned int tick_ms;	    /* housekeeping period; 0 = 250 */
};

/*
 * What a listener's connection provides. evict() is called with the
 * donor's lock held: it must queue the EVICT and wake the connection's
 * thread, never block or call back into the donor. It may be called from
 * inside session_attach() (a returning session is told again about slabs
 * it was asked for), so queue EVICTs until the handshake is done.
 */
struct session_conn {
	void (*evict)(struct session_conn *c, uint32_t slab,
		      uint64_t deadline_ms);
	char peer[64];		   /* "ip:port", for logs */
	struct session_conn *next; /* owned by the session's list */
};

/* Takes the pool (destroyed by donor_destroy()); starts housekeeping. */
int donor_create(const struct donor_cfg *cfg, struct pool *pool,
		 struct donor **out);
/* All connections must have detached. Frees every slab and the pool. */
void donor_destroy(struct donor *d);
struct pool *donor_pool(struct donor *d);

/*
 * 1 if session `id` exists, with its owner (NULL: keyless) and secret
 * copied out; 0 if not.
 */
int session_lookup(struct donor *d, const uint8_t id[PROTO_SESSION_LEN],
		   const struct auth_ident **owner,
		   uint8_t secret[AUTH_KEY_LEN]);

/* Who attaches, as the handshake proved it (all borrowed for the call;
 * ident for the donor's lifetime). */
struct session_bind {
	const struct auth_ident *ident; /* NULL: keyless */
	int resume;			/* HELLO saw the session exist */
	const uint8_t *old_secret;	/* resume: the secret proved */
	const uint8_t *secret;		/* !resume: the new session's */
};

/*
 * Creates the session `id` (bound to b->ident and b->secret) or, when
 * b->resume, finds it, and attaches c to it. Returns 0, or a negative
 * errno: -EINVAL when slab_size is not a valid size for this pool or
 * differs from the size the existing session negotiated, -EUSERS when
 * max_conns connections are attached already, -ESTALE when the session
 * ended or changed since HELLO, -EBUSY when it appeared since HELLO or is
 * another identity's.
 */
int session_attach(struct donor *d, const uint8_t id[PROTO_SESSION_LEN],
		   uint64_t slab_size, const struct session_bind *b,
		   struct session_conn *c, struct session **out);
/* Detaches c; the last connection out starts the grace period. */
void session_detach(struct session *s, struct session_conn *c);

/* Allocates a slab of the session's size: 0, -ENOSPC (full, or the host
 * is below its low watermark), -EDQUOT (the owner's quota is reached).
 * out->addr is the slab's address here. */
int session_alloc(struct session *s, struct wire_slab *out);
/* Zeroes and frees one of the session's slabs: 0 or -EINVAL (not its). */
int session_free(struct session *s, uint32_t slab);

/*
 * Checks that [off, off+len) lies inside slab `slab` owned by s and takes
 * the session's I/O lock for reading. 0 with *addr set (then call
 * session_io_end() exactly once), -EINVAL when the slab is not the
 * session's, -EFAULT when the range is outside it.
 */
int session_io_begin(struct session *s, uint32_t slab, uint64_t off,
		     uint32_t len, void **addr);
/* Releases the I/O lock and counts the bytes moved. */
void session_io_end(struct session *s, uint32_t slab, uint64_t bytes_read,
		    uint64_t bytes_written);

uint64_t session_slab_size(const struct session *s);
/* The identity the session belongs to; NULL: keyless. */
const struct auth_ident *session_owner(const struct session *s);
/* Fills st (host order) as QUERY reports it to this session. */
void session_state(struct session *s, struct wire_state *st);
/* Asks owners to give back about `bytes` of their least recently used
 * slabs (EVICT). Returns how many slabs were asked. */
unsigned int donor_reclaim(struct donor *d, uint64_t bytes);
/* The PROTO_CAP_* the donor serves (HELLO, QUERY); main() clears
 * PROTO_CAP_RDMA when no RDMA listener could start. */
uint32_t donor_caps(struct donor *d);
void donor_set_caps(struct donor *d, uint32_t caps);
/* Upper bounds (seconds) of the buckets of the data request histogram
 * (the last bucket, above the last bound, is open). */
#define DONOR_IO_HIST 12
extern const double donor_io_le_s[DONOR_IO_HIST - 1];

/* The donor's counters and state, for its /metrics (donor/metrics.c). */
struct donor_metrics {
	uint64_t total_bytes, free_bytes, host_avail_bytes, uptime_ms;
	int64_t host_trend_bps;
	uint64_t bytes_read, bytes_written;
	uint64_t reads, writes; /* TCP data requests served */
	uint64_t io_refused;	/* data requests outside the sender's slabs */
	uint64_t allocs, allocs_refused; /* ALLOC served, refused (full) */
	uint64_t frees, evicts_asked;	 /* slabs freed, asked back (EVICT) */
	unsigned int sessions, conns, evicting, refusing;
	uint64_t io_hist[DONOR_IO_HIST]; /* per bucket, not cumulative */
	uint64_t io_ns_sum;
};
void donor_metrics_get(struct donor *d, struct donor_metrics *m);
/* A TCP READ or WRITE took ns from its header to its last byte. */
void donor_observe_io(struct donor *d, uint64_t ns);

/* Number of sessions (attached or in grace) and attached connections. */
void donor_counts(struct donor *d, unsigned int *sessions, unsigned int *conns);

#endif
