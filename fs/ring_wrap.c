// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ring_wrap - the end of a FUSE-over-io_uring ring thread's batch.
 * libfuse 3.18's ring thread loops: io_uring_submit_and_wait() (send the
 * replies, sleep for requests), then the handlers of every request that
 * came. The daemon is linked with -Wl,--wrap of that call (fs/meson.build),
 * so before the thread sleeps it replies to the reads and writes its batch
 * left in flight (fs_req.c). Linked into the daemon only.
 *
 * Threading: libfuse's ring threads.
 */
#include "fs/fs_priv.h"

#include <liburing.h>

int __real_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);
int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);

/* Completions (requests) the ring holds: libfuse advances its head only
 * after the handlers of the whole batch ran, so during a batch this counts
 * the batch and whatever came since. */
static unsigned int queued(void *ring)
{
	return io_uring_cq_ready(ring);
}

int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	fs_ring_batch_end(ring, queued);
	return __real_io_uring_submit_and_wait(ring, wait_nr);
}
