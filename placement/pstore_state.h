/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pstore_state - the page store's sections of a state arena (issue 14):
 * see pstore_state.c for what is kept and why it is consistent at any
 * instant. Private to placement/pstore*.c. Every call is a no-op (or
 * 0) for a store without an arena.
 *
 * Threading: ps_state_find(), ps_state_seal(), ps_state_session() and
 * ps_state_resume_slabs() run in pstore_open() only; ps_state_slab_save()
 * and ps_state_slabs_save() under ps->lock; ps_state_donor_save() at open
 * or under ps->admin_lock.
 */
#ifndef CNM_PLACEMENT_PSTORE_STATE_H
#define CNM_PLACEMENT_PSTORE_STATE_H

#include "placement/pstore.h"
#include "placement/pstore_priv.h"

#include <stdbool.h>
#include <stdint.h>

#define PS_DEF_SLAB (64ull << 20)
/* donor slots a store with an arena can have over its life: as many as
 * without one (the slots' addresses are reserved, touched as used; the
 * secrets, 36 bytes a slot, are locked in memory: 2.3 MiB) */
#define PS_STATE_DONORS PS_MAX_DONORS

/* arena section ids of the page store (fs/state.h gives out the others) */
enum {
	PS_SEC_META = 16,
	PS_SEC_SECRET,
	PS_SEC_SLABS,
	PS_SEC_VER,
	PS_SEC_BITS,
	PS_SEC_MEM,    /* a local-memory store: the memory it serves */
	PS_SEC_MEMST,  /* and its slabs' states (rdma/mem.c) */
	PS_SEC_PCHUNK, /* the page allocator's chunk summary (palloc.h) */
};

struct pstore;
struct hs_session;

struct ps_geom {
	uint64_t slab_size, npages;
	uint32_t pages_per_slab, nslabs;
	bool sealed;
};

/* The store's geometry from cfg; -EINVAL for bad sizes. */
int ps_geometry(const struct pstore_cfg *cfg, struct ps_geom *g);

/* Finds cfg->arena's sections; ps->ver then lives there.
 * A fresh arena is laid out; one already in use sets ps->resumed after
 * checking it matches cfg. 0 or -errno with a sentence in err. */
int ps_state_find(struct pstore *ps, const struct pstore_cfg *cfg,
		  const struct ps_geom *g, char *err, size_t errlen);
/* ps->seal: a new key (kept in the arena) or the resumed one. */
int ps_state_seal(struct pstore *ps);
/* Keeps a fresh store's session id, or replaces it with the resumed one. */
void ps_state_session(struct pstore *ps, uint8_t session[PROTO_SESSION_LEN]);
/* Resumed: the donor slots to open again, their addresses, and whether
 * a slot was drained away (GONE). */
unsigned int ps_state_ndonors(const struct pstore *ps);
const char *ps_state_donor_addr(const struct pstore *ps, unsigned int i);
bool ps_state_donor_gone(const struct pstore *ps, unsigned int i);
/* Slot i's session secret in the arena (xport_cfg.sess), NULL without. */
struct hs_session *ps_state_donor_sess(struct pstore *ps, unsigned int i);
/* Saves slot i (new: its address, then the count; else its dstate);
 * -ENOSPC past PS_STATE_DONORS. */
int ps_state_donor_save(struct pstore *ps, unsigned int i);
/* A local-memory store's only donor (slot 0) serves the arena's memory. */
void ps_state_mem(struct pstore *ps, unsigned int idx, struct xport_cfg *xc);
/* Publishes slab s's replica set as it is now; under ps->lock. */
void ps_state_slab_save(struct pstore *ps, uint32_t s);
void ps_state_slabs_save(struct pstore *ps); /* every slab */
/* ps->pa over the arena's sections (attached to what they hold) or its
 * own memory without an arena; 0 or -errno. */
int ps_state_palloc(struct pstore *ps);
/* The end of a first pstore_open(): the arena counts from now on. */
void ps_state_published(struct pstore *ps);
/* Resumed: the slab map and page counts from the arena (after the donor
 * slots are open). */
void ps_state_resume_slabs(struct pstore *ps);

#endif
