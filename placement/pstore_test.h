/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pstore_test - a look into a pstore for tests only (the slab map, a
 * donor slot's transport, sealed page versions). Test programs get it from
 * placement_test_dep; it is not in the production library. Faults are
 * injected through the donors' transports: see rdma/fault.h.
 *
 * Threading: any thread.
 */
#ifndef CNM_PLACEMENT_PSTORE_TEST_H
#define CNM_PLACEMENT_PSTORE_TEST_H

#include "placement/pstore.h"

#include <stdint.h>

/* The live replicas of the slab holding lpn: slot indexes and donor slab
 * ids (PSTORE_MAX_REPLICAS entries each); returns how many. */
int pstore_test_slab_replicas(struct pstore *ps, uint64_t lpn,
			      unsigned int *donors, uint32_t *rslabs);
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
