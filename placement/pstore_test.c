// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_test - the look into a store of pstore_test.h, for tests only:
 * built into a test-only library (placement_test_dep), never into cnetmem.
 * Faults are injected below the store, by the fault transport
 * (rdma/fault.h), not here.
 *
 * Threading: any thread; the slab map is read under ps->lock.
 */
#include "placement/pstore_test.h"

#include "placement/pstore_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

int pstore_test_slab_replicas(struct pstore *ps, uint64_t lpn,
			      unsigned int *donors, uint32_t *rslabs)
{
	struct ps_slab *sl;
	int n = 0;

	if (lpn >= ps->npages)
		return -EINVAL;
	sl = &ps->slabs[slab_of(ps, lpn)];
	pthread_mutex_lock(&ps->lock);
	if (sl->state == SLAB_READY) {
		for (unsigned int k = 0; k < sl->nrep; k++) {
			if (sl->rep[k].stale || sl->rep[k].filling)
				continue;
			donors[n] = sl->rep[k].donor;
			rslabs[n] = sl->rep[k].rslab;
			n++;
		}
	}
	pthread_mutex_unlock(&ps->lock);
	return n;
}

struct xport *pstore_test_xport(struct pstore *ps, unsigned int donor)
{
	return donor < ps->ndonors ? ps_donor_at(ps, donor)->x : NULL;
}

unsigned int pstore_test_ndonors(struct pstore *ps)
{
	return ps->ndonors;
}

uint32_t pstore_test_pages_per_slab(struct pstore *ps)
{
	return ps->pages_per_slab;
}

uint32_t pstore_test_page_version(struct pstore *ps, uint64_t lpn)
{
	if (!ps->ver || lpn >= ps->npages)
		return 0;
	return atomic_load(&ps->ver[lpn]);
}

uint64_t pstore_test_bad_pages(struct pstore *ps, unsigned int donor)
{
	if (donor >= ps->ndonors)
		return 0;
	return atomic_load(&ps_donor_at(ps, donor)->bad_pages);
}
