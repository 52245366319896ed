// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * resume - FUSE_INIT kept and replayed, FUSE_NOTIFY_RESEND (fs/resume.h).
 */
#include "fs/resume.h"

#include "common/log.h"
#include "fs/state.h"

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7 /* Linux 6.9, protocol 7.40 */
#endif

/* The kernel's INIT, read here rather than by the loop so it can be kept. */
static int first_init(struct fuse_session *se, struct state *st)
{
	struct fuse_buf buf = { 0 };
	const struct fuse_in_header *in;
	int ret;

	ret = fuse_session_receive_buf(se, &buf);
	if (ret <= 0) {
		ret = ret ? ret : -ENODEV; /* unmounted before INIT */
		goto out_free;
	}
	in = buf.mem;
	if (buf.size < sizeof(*in) || buf.size > STATE_BLOB_MAX ||
	    in->opcode != FUSE_INIT) {
		log_err("fuse: first request is not INIT (opcode %u, %zu "
			"bytes)",
			buf.size >= sizeof(*in) ? in->opcode : 0, buf.size);
		ret = -EPROTO;
		goto out_free;
	}
	/* kept before libfuse answers: see fs/resume.h */
	ret = state_blob_put(st, STATE_BLOB_FUSE_INIT, buf.mem, buf.size);
	if (ret)
		goto out_free;
	fuse_session_process_buf(se, &buf);
	ret = 0;
out_free:
	free(buf.mem);
	return ret;
}

int resume_init(struct fuse_session *se, struct state *st, int *replayed)
{
	uint8_t copy[STATE_BLOB_MAX];
	struct fuse_buf buf = { .mem = copy };
	int n;

	n = state_blob_get(st, STATE_BLOB_FUSE_INIT, copy, sizeof(copy));
	*replayed = n != -ENOENT;
	if (n == -ENOENT)
		return first_init(se, st);
	if (n < (int)sizeof(struct fuse_in_header) ||
	    ((struct fuse_in_header *)copy)->opcode != FUSE_INIT)
		return n < 0 ? n : -EPROTO;
	buf.size = (size_t)n;
	/* libfuse answers the kernel, which says ENOENT: nothing waits */
	fuse_session_process_buf(se, &buf);
	return 0;
}

int resume_resend(int fuse_fd)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh),
		.error = FUSE_NOTIFY_RESEND,
		.unique = 0,
	};
	ssize_t n;

	n = write(fuse_fd, &oh, sizeof(oh));
	if (n < 0)
		return -errno;
	return n == sizeof(oh) ? 0 : -EIO;
}
