/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resume - how a serving process takes over a FUSE connection that an
 * earlier one (now dead) initialized (issue 14).
 *
 * The supervisor (fs/supervisor.h) holds /dev/fuse and a small record in a
 * memfd (struct resume_rec) for the life of the mount. The first serving
 * process reads the kernel's FUSE_INIT itself, stores its bytes in the
 * record, then lets libfuse answer it. A successor finds the record filled:
 * it feeds libfuse the same bytes (a synthetic INIT: libfuse's reply to the
 * kernel fails with ENOENT, which libfuse ignores, since the kernel's INIT
 * was answered long ago) so that the session takes the negotiated protocol,
 * then writes FUSE_NOTIFY_RESEND (Linux >= 6.9): the kernel puts every
 * request the dead process read but never answered back on its queue, with
 * FUSE_UNIQUE_RESEND (bit 63) set in its unique, and the new loop answers
 * it like any other.
 *
 * The record is written before libfuse answers the INIT: a process killed
 * between the two leaves the kernel's INIT in its processing list, and the
 * successor's replayed reply (same unique) completes it.
 *
 * Threading: start-up only, from the main thread of the serving process,
 * before the FUSE loop starts. Nothing here blocks but the read of the
 * first INIT.
 */
#ifndef CNM_FS_RESUME_H
#define CNM_FS_RESUME_H

#include <stdint.h>

struct fuse_session;

#define RESUME_MAGIC	0x434e4d52u /* "CNMR" */
#define RESUME_VERSION	1
#define RESUME_INIT_MAX 512 /* a FUSE_INIT request is 104 bytes today */

struct resume_rec {
	uint32_t magic;
	uint32_t version;
	uint32_t init_len; /* 0 until the INIT is stored; written last */
	uint32_t pad;
	uint8_t init[RESUME_INIT_MAX]; /* the kernel's INIT, header included */
};

/*
 * A new record in a memfd without FD_CLOEXEC (it is passed to every
 * serving process by number), sealed against shrinking. *fd: owned by the
 * caller. 0 or -errno.
 */
int resume_create(int *fd);
/* Maps the record of fd (borrowed); unmap with resume_unmap(). */
int resume_map(int fd, struct resume_rec **out);
void resume_unmap(struct resume_rec *r);
/*
 * Brings se (mounted on the connection) past FUSE_INIT: the kernel's own
 * INIT on a first start (stored in r), the stored one replayed otherwise.
 * *replayed: 1 if it was replayed. 0 or -errno (a record from another
 * version or a first request that is not INIT: -EPROTO).
 */
int resume_init(struct fuse_session *se, struct resume_rec *r, int *replayed);
/*
 * FUSE_NOTIFY_RESEND on fuse_fd: the kernel queues again every request
 * read but not answered. -EINVAL from a kernel older than 6.9.
 */
int resume_resend(int fuse_fd);

#endif
