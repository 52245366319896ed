// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_test - the hooks of pstore_test.h: fault injection and a look at
 * the slab map, for tests only.
 *
 * Threading: any thread; parked ios are under ps->hold_lock, the slab map
 * under ps->lock.
 */
#include "placement/pstore_test.h"

#include "placement/pstore_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

int pstore_test_fail_donor(struct pstore *ps, unsigned int donor, int err)
{
	if (donor >= ps->ndonors || err > 0)
		return -EINVAL;
	atomic_store(&ps_donor_at(ps, donor)->fail_err, err);
	return 0;
}

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

int pstore_test_hold_donor(struct pstore *ps, unsigned int donor, bool hold)
{
	struct ps_donor *d;
	struct xport_io *io, *rev = NULL;

	if (donor >= ps->ndonors)
		return -EINVAL;
	d = ps_donor_at(ps, donor);
	pthread_mutex_lock(&ps->hold_lock);
	atomic_store(&d->hold, hold);
	io = hold ? NULL : d->held;
	if (!hold)
		d->held = NULL;
	pthread_mutex_unlock(&ps->hold_lock);
	/* held newest first: submit in the original order */
	while (io) {
		struct xport_io *next = io->next;

		io->next = rev;
		rev = io;
		io = next;
	}
	while (rev) {
		struct xport_io *next = rev->next;

		rev->next = NULL;
		xport_submit(d->x, rev);
		rev = next;
	}
	return 0;
}

unsigned int pstore_test_held(struct pstore *ps, unsigned int donor)
{
	unsigned int n = 0;

	if (donor >= ps->ndonors)
		return 0;
	pthread_mutex_lock(&ps->hold_lock);
	for (struct xport_io *io = ps_donor_at(ps, donor)->held; io;
	     io = io->next)
		n++;
	pthread_mutex_unlock(&ps->hold_lock);
	return n;
}

int pstore_test_evict(struct pstore *ps, unsigned int donor, uint32_t rslab)
{
	if (donor >= ps->ndonors)
		return -EINVAL;
	ps_evict_mark(ps, donor, rslab);
	return 0;
}

void pstore_test_repair(struct pstore *ps, bool on)
{
	atomic_store(&ps->repair_off, !on);
	pthread_mutex_lock(&ps->lock);
	pthread_cond_broadcast(&ps->repair_cv);
	pthread_mutex_unlock(&ps->lock);
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
