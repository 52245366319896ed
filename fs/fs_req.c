// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_req - the pool of request contexts made by cnmfs_create(): each holds
 * the buffer, lpn array and page-store request of one FUSE read or write.
 * Besides the pool, one big context per FUSE-over-io_uring ring thread
 * (fs/fuse_loop.h), claimed by that thread on its first read or write.
 */
#include "fs/fs_priv.h"

#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

/*
 * A request context with room for npages. Small requests (most swap I/O)
 * have their own pool so that they never queue behind 1 MiB writes; they
 * take a big context only when theirs are all busy. Waits when both are
 * empty (backpressure).
 */
struct fsreq *fs_req_get(struct cnmfs *fs, unsigned int npages)
{
	int small = npages <= SMALL_PAGES, waited = 0;
	struct fsreq *r;

	pthread_mutex_lock(&fs->req_lock);
	for (;;) {
		if (small && fs->free_reqs[0]) {
			r = fs->free_reqs[0];
			fs->free_reqs[0] = r->next_free;
			fs->nfree--;
			break;
		}
		if (fs->free_reqs[1]) {
			r = fs->free_reqs[1];
			fs->free_reqs[1] = r->next_free;
			fs->nfree--;
			break;
		}
		if (!waited++)
			atomic_fetch_add(&fs->req_waits, 1);
		pthread_cond_wait(&fs->req_cond, &fs->req_lock);
	}
	pthread_mutex_unlock(&fs->req_lock);
	return r;
}

/*
 * The ring thread's own context: a ring thread serves one request at a
 * time to completion, so one context each never runs out. Keyed by the
 * mount, as a process may hold two.
 */
static __thread struct cnmfs *tl_fs;
static __thread struct fsreq *tl_req;

static struct fsreq *ring_req(struct cnmfs *fs)
{
	unsigned int i;

	if (tl_fs == fs)
		return tl_req;
	i = atomic_fetch_add(&fs->ring_claimed, 1);
	tl_fs = fs;
	tl_req = i < fs->nring ? &fs->ring_reqs[i] : NULL;
	return tl_req;
}

void fs_note_transport(struct cnmfs *fs, fuse_req_t req)
{
	int uring = 0;

#if CNM_HAVE_FUSE_URING
	uring = fuse_req_is_uring(req);
#endif
	if (uring &&
	    !atomic_load_explicit(&fs->uring_seen, memory_order_relaxed) &&
	    !atomic_exchange(&fs->uring_seen, 1))
		log_notice("mount %s: FUSE requests arrive over io_uring "
			   "(a ring per CPU; replies from the ring thread)",
			   fs->mountpoint);
}

struct fsreq *fs_req_get_for(struct cnmfs *fs, fuse_req_t req,
			     unsigned int npages)
{
	struct fsreq *r = NULL;
	int inl = 0;

#if CNM_HAVE_FUSE_URING
	inl = fuse_req_is_uring(req);
#endif
	fs_note_transport(fs, req);
	if (inl) {
		r = ring_req(fs);
		if (!r)
			atomic_fetch_add(&fs->ring_overflow, 1);
	}
	if (!r)
		r = fs_req_get(fs, npages);
	r->inl = inl;
	return r;
}

void fs_req_put(struct cnmfs *fs, struct fsreq *r)
{
	if (r->ring)
		return; /* its ring thread's for good */
	pthread_mutex_lock(&fs->req_lock);
	r->next_free = fs->free_reqs[r->big];
	fs->free_reqs[r->big] = r;
	fs->nfree++;
	/* waiters differ in what they can take: wake them all */
	pthread_cond_broadcast(&fs->req_cond);
	pthread_mutex_unlock(&fs->req_lock);
}

static void sync_done(struct pstore_req *pr, int status)
{
	struct fsreq *r = pr->priv;

	r->status = status;
	atomic_store(&r->fin, 1);
	sem_post(&r->sem);
}

/*
 * Runs one page-store request and waits for it (no lock held). On a
 * ring thread (r->inl) it first collects the reply itself
 * (pstore_poll(), issue 17), so the donor's reply wakes this thread and
 * no other; where that does not apply it waits for done() on the
 * semaphore, which done() posts either way.
 */
int fs_sync_io(struct cnmfs *fs, struct fsreq *r, enum xport_dir dir,
	       const uint64_t *lpn, unsigned int n, void *buf)
{
	r->kind = RK_SYNC;
	r->pr.dir = dir;
	r->pr.npages = n;
	r->pr.lpn = lpn;
	r->pr.buf = buf;
	r->pr.done = sync_done;
	r->pr.priv = r;
	atomic_store(&r->fin, 0);
	pstore_submit(fs->ps, &r->pr);
	if (r->inl && fs->ring_poll_ns >= 0 && !atomic_load(&r->fin)) {
		atomic_fetch_add_explicit(&fs->ring_polls, 1,
					  memory_order_relaxed);
		if (!pstore_poll(fs->ps, &r->pr, &r->fin,
				 (uint64_t)fs->ring_poll_ns))
			atomic_fetch_add_explicit(&fs->ring_poll_hits, 1,
						  memory_order_relaxed);
	}
	while (sem_wait(&r->sem) && errno == EINTR)
		;
	return r->status;
}
