// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_req - the pool of request contexts made by cnmfs_create(): each holds
 * the buffer, lpn array and page-store request of one FUSE read or write.
 * Besides the pool, one big context per FUSE-over-io_uring ring thread
 * (fs/fuse_loop.h), claimed by that thread on its first read or write.
 *
 * A ring thread's batch (issue 17): libfuse's ring thread runs the
 * handlers of every request one wake-up brought, then calls
 * io_uring_submit_and_wait() to send the replies and sleep. The daemon is
 * linked with -Wl,--wrap of that call (fs/meson.build), which makes it the
 * end of the batch: reads and writes of the batch (up to --ring-batch) are
 * submitted to the page store and left in flight, their done() only wakes
 * the ring thread, and the end of the batch collects each one (polling its
 * donor as fs_sync_io() does) and replies, from the ring thread as
 * before, before the thread sleeps. The handler of the batch's last
 * request (the ring's count of requests, read at the wrapped call, says
 * which) already does that, so libfuse sends its replies with the wait
 * that follows, one system call as without a batch; the wrapped call
 * finishes what is left (a batch whose last request was not a read or
 * write). So the requests of one wake-up reach
 * the donors together, a reply never leaves the ring thread, and a ring
 * thread never waits for a context: its own, or one the pool has free at
 * once, or it first finishes its batch so far. Batching starts on a thread
 * only once the end of a batch has run there: a libfuse that did not call
 * the wrapped function would get one request at a time, never a request
 * left without its reply.
 *
 * Threading: the pool under req_lock; a ring context and a batch belong to
 * one ring thread (thread-local).
 */
#include "fs/fs_priv.h"

#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

/*
 * A free context with room for npages, or NULL; req_lock held. Small
 * requests (most swap I/O) have their own pool so that they never queue
 * behind 1 MiB writes; they take a big context only when theirs are all
 * busy.
 */
static struct fsreq *pop_free(struct cnmfs *fs, unsigned int npages)
{
	int big = npages > SMALL_PAGES || !fs->free_reqs[0];
	struct fsreq *r = fs->free_reqs[big];

	if (r) {
		fs->free_reqs[big] = r->next_free;
		fs->nfree--;
	}
	return r;
}

/* A request context with room for npages; waits when there is none
 * (backpressure). */
struct fsreq *fs_req_get(struct cnmfs *fs, unsigned int npages)
{
	int waited = 0;
	struct fsreq *r;

	pthread_mutex_lock(&fs->req_lock);
	while (!(r = pop_free(fs, npages))) {
		if (fs_ring_batch_pending()) {
			/* its batch may hold the contexts it would wait for */
			pthread_mutex_unlock(&fs->req_lock);
			fs_ring_finish();
			pthread_mutex_lock(&fs->req_lock);
			continue;
		}
		if (!waited++)
			atomic_fetch_add(&fs->req_waits, 1);
		pthread_cond_wait(&fs->req_cond, &fs->req_lock);
	}
	pthread_mutex_unlock(&fs->req_lock);
	return r;
}

/* A pool context if one is free now, else NULL: a ring thread never waits. */
static struct fsreq *req_tryget(struct cnmfs *fs, unsigned int npages)
{
	struct fsreq *r;

	pthread_mutex_lock(&fs->req_lock);
	r = pop_free(fs, npages);
	pthread_mutex_unlock(&fs->req_lock);
	return r;
}

/*
 * The ring thread's own context, which nobody else takes, so a ring thread
 * never waits for one (ring_get()). Keyed by the mount, as a process may
 * hold two.
 */
static __thread struct cnmfs *tl_fs;
static __thread struct fsreq *tl_req;
/* this thread's batch: requests in flight, oldest first */
static __thread struct fsreq *tl_first, *tl_last_req;
static __thread unsigned int tl_pending;
/* the end of a batch ran on this thread: it may leave requests pending;
 * how many requests its ring held then (tl_queued(tl_ring)); how many
 * reads and writes of this batch it saw; the last one is being served */
static __thread int tl_batch_ends;
static __thread unsigned int (*tl_queued)(void *ring);
static __thread void *tl_ring;
static __thread unsigned int tl_seen;
static __thread int tl_at_last;

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

static void batch_finish_one(struct cnmfs *fs);
static void batch_finish(struct cnmfs *fs);

/*
 * A ring thread's context for a new read or write: its own, or while its
 * own is in the batch a free pool context, or its own after finishing the
 * batch so far (at most fs->ring_batch requests in flight).
 */
static struct fsreq *ring_get(struct cnmfs *fs, unsigned int npages)
{
	struct fsreq *own = ring_req(fs), *r = NULL;
	int batch = tl_batch_ends && fs->ring_batch > 1;

	/* the last request of the batch we know of: finish the batch in its
	 * handler, where libfuse sends every reply with its next wait */
	tl_seen++;
	tl_at_last = !tl_queued || tl_queued(tl_ring) <= tl_seen;
	if (!own) {
		atomic_fetch_add(&fs->ring_overflow, 1);
		return NULL;
	}
	if (own->busy && batch && tl_pending < fs->ring_batch)
		r = req_tryget(fs, npages);
	if (!r) {
		if (own->busy)
			batch_finish(fs);
		r = own;
		r->busy = 1;
	}
	r->defer = batch;
	return r;
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
	if (inl)
		r = ring_get(fs, npages);
	if (!r) {
		r = fs_req_get(fs, npages);
		r->defer = 0;
	}
	r->inl = inl;
	return r;
}

void fs_req_put(struct cnmfs *fs, struct fsreq *r)
{
	if (r->ring) {
		r->busy = 0; /* its ring thread's for good */
		return;
	}
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
 * Waits for r's done() (no lock held). On a ring thread (r->inl) it first
 * collects the reply itself (pstore_poll(), issue 17), so the donor's
 * reply wakes this thread and no other; where that does not apply it waits
 * on the semaphore, which done() posts either way.
 */
static int req_wait(struct cnmfs *fs, struct fsreq *r)
{
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

/* Runs one page-store request and waits for it (no lock held). */
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
	return req_wait(fs, r);
}

/*
 * Submits the read or write r (its pr ready, done() its finish) and leaves
 * it in this ring thread's batch: done() then only wakes the thread, which
 * runs the real one at the end of the batch.
 */
void fs_ring_defer(struct cnmfs *fs, struct fsreq *r)
{
	r->finish = r->pr.done;
	r->pr.done = sync_done;
	r->pr.priv = r;
	atomic_store(&r->fin, 0);
	r->next_pending = NULL;
	if (tl_last_req)
		tl_last_req->next_pending = r;
	else
		tl_first = r;
	tl_last_req = r;
	tl_pending++;
	pstore_submit(fs->ps, &r->pr);
	/* done already (local memory completes inline): reply now, inside
	 * the batch, where libfuse sends it with the next wait */
	while (tl_first && atomic_load(&tl_first->fin))
		batch_finish_one(fs);
	if (tl_last_req == r)
		atomic_fetch_add_explicit(&fs->ring_batched, 1,
					  memory_order_relaxed);
	if (tl_at_last)
		batch_finish(fs);
}

/* Waits for the oldest request of this thread's batch and replies. */
static void batch_finish_one(struct cnmfs *fs)
{
	struct fsreq *r = tl_first;
	int status;

	tl_first = r->next_pending;
	if (!tl_first)
		tl_last_req = NULL;
	tl_pending--;
	status = req_wait(fs, r);
	r->finish(&r->pr, status);
}

static void batch_finish(struct cnmfs *fs)
{
	while (tl_first)
		batch_finish_one(fs);
}

/* libfuse's ring thread, between two batches (see the top, fs/ring_wrap.c):
 * queued(ring) tells how many requests its ring holds */
void fs_ring_batch_end(void *ring, unsigned int (*queued)(void *ring))
{
	tl_batch_ends = 1;
	tl_ring = ring;
	tl_queued = queued;
	tl_seen = 0;
	fs_ring_finish();
}

void fs_ring_finish(void)
{
	if (tl_first)
		batch_finish(tl_fs);
}

int fs_ring_batch_pending(void)
{
	return tl_first != NULL;
}
