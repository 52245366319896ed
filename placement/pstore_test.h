/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pstore_test - hooks into a pstore for tests only (fault injection and a
 * look at the slab map). Not for the filesystem.
 *
 * Threading: any thread; fail_donor takes effect for I/O submitted after
 * it returns.
 */
#ifndef CNM_PLACEMENT_PSTORE_TEST_H
#define CNM_PLACEMENT_PSTORE_TEST_H

#include "placement/pstore.h"

#include <stdbool.h>

/* Every io submitted to donor slot `donor` from now on fails with err
 * (a negative errno; 0 heals it). Reads try it last. */
int pstore_test_fail_donor(struct pstore *ps, unsigned int donor, int err);
/* The live replicas of the slab holding lpn: slot indexes and donor slab
 * ids (PSTORE_MAX_REPLICAS entries each); returns how many. */
int pstore_test_slab_replicas(struct pstore *ps, uint64_t lpn,
			      unsigned int *donors, uint32_t *rslabs);
/* hold: ios to that donor are parked (they stay in flight); !hold
 * submits the parked ones in order. */
int pstore_test_hold_donor(struct pstore *ps, unsigned int donor, bool hold);
/* How many ios are parked on that donor by hold_donor(). */
unsigned int pstore_test_held(struct pstore *ps, unsigned int donor);
/* As if donor slot `donor` sent EVICT for its slab rslab. */
int pstore_test_evict(struct pstore *ps, unsigned int donor, uint32_t rslab);
/* Turns background re-replication on (the default) or off. */
void pstore_test_repair(struct pstore *ps, bool on);
struct xport *pstore_test_xport(struct pstore *ps, unsigned int donor);
unsigned int pstore_test_ndonors(struct pstore *ps);
/* Logical pages per slab (fewer than slab_size / PSTORE_PAGE when pages
 * are sealed: their tags share the remote slab). */
uint32_t pstore_test_pages_per_slab(struct pstore *ps);
/* Sealed store: page lpn's version word (PS_VER_* of pstore_priv.h). */
uint32_t pstore_test_page_version(struct pstore *ps, uint64_t lpn);
/* Integrity failures counted against donor slot `donor`. */
uint64_t pstore_test_bad_pages(struct pstore *ps, unsigned int donor);

#endif
