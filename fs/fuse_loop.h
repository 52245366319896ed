/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse_loop - how FUSE requests reach the daemon, and the session loop.
 *
 * Two transports. /dev/fuse: libfuse's worker threads read requests from
 * the device and any thread writes the reply back. FUSE-over-io_uring
 * (libfuse >= 3.18.3 built with liburing, a kernel with
 * CONFIG_FUSE_IO_URING and /sys/module/fuse/parameters/enable_uring Y):
 * one ring per CPU, served by libfuse's ring thread pinned to that CPU;
 * the handler runs on the ring thread, and its reply goes back through the
 * same ring. The fs answers every ring request on the ring thread that
 * received it (fs/fs.h): a reply from another thread would take the ring's
 * queue lock, which the ring thread holds while its handlers run.
 *
 * auto and dev never ask for io_uring: Linux (6.18) resends the requests
 * a dead serving process had read from /dev/fuse (FUSE_NOTIFY_RESEND) but
 * not those it held on a ring, whose callers would then wait forever, so
 * only /dev/fuse keeps the promise of a restart (fs/supervisor.h). uring
 * asks for it, trading that for speed, whatever enable_uring says
 * (libfuse falls back to /dev/fuse without a word when the kernel
 * refuses). What
 * was asked for is logged at start; what is really in use shows in the
 * stats file ("fuse_transport") and in a log line at the first request
 * that comes through a ring. The daemon never writes enable_uring.
 *
 * Threading: start-up and the main thread only.
 */
#ifndef CNM_FS_FUSE_LOOP_H
#define CNM_FS_FUSE_LOOP_H

#include "fs/fs.h"

/*
 * Adds to args what the transport mode (enum fs_fuse_transport) needs and
 * logs the choice for mount mp. 0 or -ENOMEM.
 */
int floop_args(int mode, const char *mp, struct fuse_args *args);

/* Runs the session until unmount or exit with threads /dev/fuse workers;
 * the session loop's status. */
int floop_run(struct fuse_session *se, unsigned int threads);

#endif
