// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_state - the page store's part of a mount's state arena (issue
 * 14, fs/state.h): what a successor needs to carry on with the pages a
 * dead serving process wrote.
 *
 *   PS_SEC_META    settings (checked on resume), the session id, the
 *                  donor slots (address, drained) and how many there are
 *   PS_SEC_SECRET  the page key and mount id, each slot's session secret
 *                  (mlocked, never dumped: common/arena.h)
 *   PS_SEC_SLABS   per slab, two copies of its record {ready, replicas,
 *                  backup} and which one holds (see ps_state_slab_save())
 *   PS_SEC_VER     ps->ver itself: each page's seal version (pstore_priv.h)
 *   PS_SEC_BITS    the page allocator's chunk bitmaps and, in
 *   PS_SEC_PCHUNK  its chunk summary (placement/palloc.h: a bitmap
 *                  page is held only while its chunk is partly used)
 *   PS_SEC_MEM     a local-memory store (XPORT_MEM, no donors named):
 *   PS_SEC_MEMST   the memory its one donor serves, and that donor's
 *                  slab states (rdma/mem.c keeps them as they are)
 *
 * Consistency at any instant of a crash:
 * - a slab record is written in the copy not in use, then one release
 *   store of its selector publishes it: a successor sees the set before
 *   or after a change, never a mix. Changes are saved under ps->lock
 *   where they happen, before anything that relies on them: a slab is
 *   saved READY before its first write is submitted, a copy is saved
 *   stale before the write that skipped it is answered, a slab is saved
 *   not READY before its copies are given back.
 * - a page's version is bumped in the arena before its ciphertext leaves
 *   the process, so a successor never seals under a nonce already used;
 *   a write never answered may leave donors with an older or newer
 *   ciphertext than the version says: that page reads EIO until the
 *   kernel's resent write rewrites it.
 * - a donor slot is saved before the slot count that makes it visible.
 * - the section as a whole counts only once PS_STATE_READY is stored,
 *   at the end of the first pstore_open(): a server that died before
 *   that leaves a state that is laid out afresh.
 * - the page allocator orders its own stores (placement/palloc.h): an
 *   allocation is in the arena before pstore_page_alloc() returns it.
 * Not kept (rebuilt or lost harmlessly): per-slab page counts and the
 * store's (from the allocator), donor ranking and latency, the copies owed
 * back to donors (at worst a slab stays on a donor until our session
 * ends), a slab being allocated (the same), filling replicas (dropped on
 * resume and given back: repair starts again).
 */
#include "placement/pstore.h"

#include "common/arena.h"
#include "common/log.h"
#include "placement/pstore_priv.h"
#include "placement/pstore_state.h"
#include "rdma/handshake.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define PS_STATE_READY 0x31455453504d4e43ull /* "CNMPSTE1" */

struct ps_state_donor {
	char addr[PS_ADDR_MAX];
	_Atomic uint32_t dstate; /* enum ps_dstate */
	uint32_t kind;		 /* enum xport_kind asked for */
};

struct ps_state_meta {
	_Atomic uint64_t ready; /* PS_STATE_READY once laid out */
	uint64_t slab_size, npages;
	uint32_t pages_per_slab, replicas, transport, sealed, cipher;
	uint32_t max_donors;
	uint8_t session[PROTO_SESSION_LEN];
	_Atomic uint32_t ndonors;
	struct ps_state_donor donor[];
};

struct ps_state_secret {
	uint8_t seal_key[SEAL_KEY_LEN];
	uint8_t seal_id[SEAL_ID_LEN];
	struct hs_session sess[]; /* max_donors */
};

struct ps_state_rec {
	uint8_t ready, nrep, backup, lost;
	struct ps_rep rep[PS_MAX_COPIES];
};

struct ps_state_slab {
	_Atomic uint32_t cur; /* which rec[] holds */
	struct ps_state_rec rec[2];
};

static bool sealed_cfg(const struct pstore_cfg *cfg)
{
	return cfg->seal == PSTORE_SEAL_ON ||
	       (cfg->seal == PSTORE_SEAL_AUTO && cfg->transport != XPORT_MEM);
}

int ps_geometry(const struct pstore_cfg *cfg, struct ps_geom *g)
{
	if (!cfg || cfg->capacity < PSTORE_PAGE ||
	    cfg->replicas > PSTORE_MAX_REPLICAS ||
	    (cfg->slab_size && (cfg->slab_size % PSTORE_PAGE ||
				cfg->slab_size / PSTORE_PAGE > UINT32_MAX)))
		return -EINVAL;
	g->slab_size = cfg->slab_size ? cfg->slab_size : PS_DEF_SLAB;
	g->sealed = sealed_cfg(cfg);
	/* sealed: a remote slab holds its pages, then their tags */
	g->pages_per_slab =
		(uint32_t)(g->slab_size /
			   (PSTORE_PAGE + (g->sealed ? SEAL_TAG : 0)));
	if (!g->pages_per_slab)
		return -EINVAL;
	g->npages = cfg->capacity / PSTORE_PAGE;
	g->nslabs = (uint32_t)((g->npages + g->pages_per_slab - 1) /
			       g->pages_per_slab);
	return 0;
}

int pstore_arena_sections(const struct pstore_cfg *cfg, struct arena_sec *secs,
			  unsigned int max)
{
	struct ps_geom g;

	if (max < PSTORE_ARENA_SECS || ps_geometry(cfg, &g))
		return -EINVAL;
	secs[0] = (struct arena_sec){
		PS_SEC_META, 0,
		sizeof(struct ps_state_meta) +
			PS_STATE_DONORS * sizeof(struct ps_state_donor)
	};
	secs[1] =
		(struct arena_sec){ PS_SEC_SECRET, ARENA_SEC_SECRET,
				    sizeof(struct ps_state_secret) +
					    PS_STATE_DONORS *
						    sizeof(struct hs_session) };
	secs[2] = (struct arena_sec){ PS_SEC_SLABS, 0,
				      (uint64_t)g.nslabs *
					      sizeof(struct ps_state_slab) };
	secs[3] = (struct arena_sec){ PS_SEC_VER, 0,
				      g.sealed ? g.npages * sizeof(uint32_t)
					       : 0 };
	secs[4] =
		(struct arena_sec){ PS_SEC_BITS, 0,
				    palloc_bits_bytes(g.npages, PALLOC_SHIFT) };
	secs[5] =
		(struct arena_sec){ PS_SEC_PCHUNK, 0,
				    palloc_sum_bytes(g.npages, PALLOC_SHIFT) };
	if (cfg->transport != XPORT_MEM || cfg->ndonors > 0)
		return 6;
	/* as donor_cfg() (pstore_open.c) sizes the local-memory donor */
	secs[6] = (struct arena_sec){ PS_SEC_MEM, 0,
				      (uint64_t)g.nslabs * g.slab_size };
	secs[7] = (struct arena_sec){ PS_SEC_MEMST, 0, g.nslabs };
	return 8;
}

static void errf(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "state: %s", what);
}

int ps_state_find(struct pstore *ps, const struct pstore_cfg *cfg,
		  const struct ps_geom *g, char *err, size_t errlen)
{
	struct arena *a = cfg->arena;
	struct ps_state_meta *m;
	uint64_t len[6];

	if (!a)
		return 0;
	m = arena_section(a, PS_SEC_META, &len[0]);
	ps->sv_secret = arena_section(a, PS_SEC_SECRET, &len[1]);
	ps->sv_slabs = arena_section(a, PS_SEC_SLABS, &len[2]);
	ps->ver = arena_section(a, PS_SEC_VER, &len[3]);
	if (!m || !ps->sv_secret || !ps->sv_slabs || !ps->ver ||
	    !arena_section(a, PS_SEC_BITS, &len[4]) ||
	    !arena_section(a, PS_SEC_PCHUNK, &len[5]) ||
	    len[0] < sizeof(*m) + PS_STATE_DONORS * sizeof(m->donor[0]) ||
	    len[2] < (uint64_t)g->nslabs * sizeof(struct ps_state_slab) ||
	    (g->sealed && len[3] < g->npages * sizeof(uint32_t)) ||
	    len[4] < palloc_bits_bytes(g->npages, PALLOC_SHIFT) ||
	    len[5] < palloc_sum_bytes(g->npages, PALLOC_SHIFT)) {
		errf(err, errlen, "the arena was not laid out for this store");
		return -EINVAL;
	}
	if (!g->sealed)
		ps->ver = NULL;
	ps->sv_meta = m;
	ps->arena = a;
	if (atomic_load(&m->ready) != PS_STATE_READY) {
		/* fresh, or its first server died before the first I/O:
		 * only the settings and secrets may have been written (the
		 * slab map, versions and bitmap change only after ready; a
		 * memfd starts zeroed, and touching them would fault in
		 * every page) */
		uint32_t n = atomic_load(&m->ndonors);

		if (n > PS_STATE_DONORS)
			n = PS_STATE_DONORS;
		/* the slots it filled; the rest was never touched */
		memset(m->donor, 0, n * sizeof(m->donor[0]));
		memset(m, 0, sizeof(*m));
		explicit_bzero(ps->sv_secret,
			       sizeof(*ps->sv_secret) +
				       n * sizeof(struct hs_session));
		m->slab_size = g->slab_size;
		m->npages = g->npages;
		m->pages_per_slab = g->pages_per_slab;
		m->replicas = cfg->replicas ? cfg->replicas : 1;
		m->transport = cfg->transport;
		m->sealed = g->sealed;
		m->max_donors = PS_STATE_DONORS;
		return 0;
	}
	if (m->slab_size != g->slab_size || m->npages != g->npages ||
	    m->pages_per_slab != g->pages_per_slab ||
	    m->replicas != (cfg->replicas ? cfg->replicas : 1) ||
	    m->transport != (uint32_t)cfg->transport ||
	    m->sealed != (uint32_t)g->sealed) {
		errf(err, errlen,
		     "the mount's settings differ from the state's");
		return -EINVAL;
	}
	if (cfg->transport == XPORT_MEM &&
	    (cfg->ndonors > 0 || !arena_section(a, PS_SEC_MEM, NULL))) {
		/* named local donors: their pages lived in the dead process */
		errf(err, errlen,
		     "a store of named local-memory donors cannot be resumed");
		return -EOPNOTSUPP;
	}
	ps->resumed = true;
	return 0;
}

int ps_state_seal(struct pstore *ps)
{
	struct ps_state_meta *m = ps->sv_meta;
	int ret;

	if (!ps->arena)
		return seal_new(0, &ps->seal);
	if (ps->resumed)
		return seal_new_from(m->cipher == SEAL_XCHACHA20POLY1305,
				     ps->sv_secret->seal_key,
				     ps->sv_secret->seal_id, &ps->seal);
	ret = seal_new(0, &ps->seal);
	if (ret)
		return ret;
	seal_export(ps->seal, ps->sv_secret->seal_key, ps->sv_secret->seal_id);
	m->cipher = seal_cipher(ps->seal);
	return 0;
}

void ps_state_session(struct pstore *ps, uint8_t session[PROTO_SESSION_LEN])
{
	if (!ps->arena)
		return;
	if (ps->resumed)
		memcpy(session, ps->sv_meta->session, PROTO_SESSION_LEN);
	else
		memcpy(ps->sv_meta->session, session, PROTO_SESSION_LEN);
}

unsigned int ps_state_ndonors(const struct pstore *ps)
{
	return ps->resumed ? atomic_load(&ps->sv_meta->ndonors) : 0;
}

const char *ps_state_donor_addr(const struct pstore *ps, unsigned int i)
{
	return ps->sv_meta->donor[i].addr;
}

bool ps_state_donor_gone(const struct pstore *ps, unsigned int i)
{
	return atomic_load(&ps->sv_meta->donor[i].dstate) == PS_D_GONE;
}

void ps_state_mem(struct pstore *ps, unsigned int idx, struct xport_cfg *xc)
{
	uint64_t len = 0, slen = 0;
	void *mem, *st;

	if (!ps->arena || idx || xc->kind != XPORT_MEM)
		return;
	mem = arena_section(ps->arena, PS_SEC_MEM, &len);
	st = arena_section(ps->arena, PS_SEC_MEMST, &slen);
	if (!mem || !st || len < xc->mem_bytes ||
	    slen < xc->mem_bytes / ps->slab_size)
		return;
	xc->mem_base = mem;
	xc->mem_slabs = st;
}

struct hs_session *ps_state_donor_sess(struct pstore *ps, unsigned int i)
{
	if (!ps->arena || i >= PS_STATE_DONORS)
		return NULL;
	return &ps->sv_secret->sess[i];
}

int ps_state_donor_save(struct pstore *ps, unsigned int i)
{
	struct ps_state_meta *m = ps->sv_meta;
	struct ps_donor *d = ps_donor_at(ps, i);

	if (!ps->arena)
		return 0;
	if (i >= PS_STATE_DONORS)
		return -ENOSPC;
	if (i < atomic_load(&m->ndonors)) {
		atomic_store(&m->donor[i].dstate, atomic_load(&d->dstate));
		return 0;
	}
	snprintf(m->donor[i].addr, sizeof(m->donor[i].addr), "%s", d->addr);
	m->donor[i].kind = m->transport;
	atomic_store(&m->donor[i].dstate, atomic_load(&d->dstate));
	atomic_store_explicit(&m->ndonors, i + 1, memory_order_release);
	return 0;
}

void ps_state_slab_save(struct pstore *ps, uint32_t s)
{
	struct ps_state_slab *v;
	struct ps_state_rec *r;
	struct ps_slab *sl;
	uint32_t next;

	if (!ps->arena)
		return;
	v = &ps->sv_slabs[s];
	sl = &ps->slabs[s];
	next = (atomic_load_explicit(&v->cur, memory_order_relaxed) & 1) ^ 1;
	r = &v->rec[next];
	memset(r, 0, sizeof(*r));
	r->ready = sl->state == SLAB_READY;
	if (r->ready) {
		r->nrep = sl->nrep;
		r->backup = sl->backup;
		r->lost = sl->lost;
		memcpy(r->rep, sl->rep, sizeof(r->rep));
	}
	atomic_store_explicit(&v->cur, next, memory_order_release);
}

void ps_state_slabs_save(struct pstore *ps)
{
	if (!ps->arena)
		return;
	for (uint32_t s = 0; s < ps->nslabs; s++)
		ps_state_slab_save(ps, s);
}

int ps_state_palloc(struct pstore *ps)
{
	_Atomic uint8_t *sum = NULL;
	uint64_t *bits = NULL;

	if (ps->arena) {
		bits = arena_section(ps->arena, PS_SEC_BITS, NULL);
		sum = arena_section(ps->arena, PS_SEC_PCHUNK, NULL);
	}
	return palloc_init(&ps->pa, ps->npages, PALLOC_SHIFT, bits, sum);
}

void ps_state_published(struct pstore *ps)
{
	if (ps->arena && !ps->resumed)
		atomic_store(&ps->sv_meta->ready, PS_STATE_READY);
}

void ps_state_resume_slabs(struct pstore *ps)
{
	unsigned int nd = atomic_load(&ps->ndonors);

	if (!ps->resumed)
		return;
	for (uint32_t s = 0; s < ps->nslabs; s++) {
		struct ps_state_slab *v = &ps->sv_slabs[s];
		const struct ps_state_rec *r =
			&v->rec[atomic_load_explicit(&v->cur,
						     memory_order_acquire) &
				1];
		struct ps_slab *sl = &ps->slabs[s];
		uint64_t first = (uint64_t)s * ps->pages_per_slab;
		unsigned int keep = 0;

		sl->used = (uint32_t)palloc_count(&ps->pa, first,
						  ps->pages_per_slab);
		if (!r->ready || r->nrep > PS_MAX_COPIES)
			continue;
		for (unsigned int k = 0; k < r->nrep; k++) {
			const struct ps_rep *rep = &r->rep[k];

			if (rep->donor >= nd)
				continue;
			if (rep->filling) {
				/* repair starts again: give it back */
				if (ps->nowed < ps->owed_cap)
					ps->owed[ps->nowed++] =
						(struct ps_owed){ rep->donor,
								  rep->rslab };
				continue;
			}
			sl->rep[keep++] = *rep;
			ps_donor_at(ps, rep->donor)->slabs++;
		}
		sl->nrep = (uint8_t)keep;
		sl->backup = r->backup && ps->backup;
		sl->lost = r->lost;
		sl->state = SLAB_READY;
		ps_state_slab_save(ps, s);
	}
	log_notice("pstore: resumed %" PRIu64 " pages on %u donors",
		   ps->pa.used, nd);
}
