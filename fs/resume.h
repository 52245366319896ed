/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resume - how a serving process takes over a FUSE connection that an
 * earlier one (now dead) initialized (issue 14).
 *
 * The supervisor (fs/supervisor.h) holds /dev/fuse and the mount's state
 * (fs/state.h) for the life of the mount. The first serving process reads
 * the kernel's FUSE_INIT itself, keeps its bytes in the state
 * (STATE_BLOB_FUSE_INIT), then lets libfuse answer it. A successor finds the blob there:
 * it feeds libfuse the same bytes (a synthetic INIT: libfuse's reply to the
 * kernel fails with ENOENT, which libfuse ignores, since the kernel's INIT
 * was answered long ago) so that the session takes the negotiated protocol,
 * then writes FUSE_NOTIFY_RESEND (Linux >= 6.9): the kernel puts every
 * request the dead process read but never answered back on its queue, with
 * FUSE_UNIQUE_RESEND (bit 63) set in its unique, and the new loop answers
 * it like any other.
 *
 * The blob is written before libfuse answers the INIT: a process killed
 * between the two leaves the kernel's INIT in its processing list, and the
 * successor's replayed reply (same unique) completes it.
 *
 * Threading: start-up only, from the main thread of the serving process,
 * before the FUSE loop starts. Nothing here blocks but the read of the
 * first INIT.
 */
#ifndef CNM_FS_RESUME_H
#define CNM_FS_RESUME_H

struct fuse_session;

struct state;

/*
 * Brings se (mounted on the connection) past FUSE_INIT: the kernel's own
 * INIT on a first start (kept in st's STATE_BLOB_FUSE_INIT), the kept one
 * replayed otherwise. *replayed: 1 if it was replayed. 0 or -errno (a
 * first request that is not INIT: -EPROTO).
 */
int resume_init(struct fuse_session *se, struct state *st, int *replayed);
/*
 * FUSE_NOTIFY_RESEND on fuse_fd: the kernel queues again every request
 * read but not answered. -EINVAL from a kernel older than 6.9.
 */
int resume_resend(int fuse_fd);

#endif
