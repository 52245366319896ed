// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * resume - FUSE_INIT kept and replayed, FUSE_NOTIFY_RESEND (fs/resume.h).
 */
#include "fs/resume.h"

#include "common/log.h"

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7 /* Linux 6.9, protocol 7.40 */
#endif

int resume_create(int *fd)
{
	struct resume_rec *r = NULL;
	int ret = 0, f;

	f = memfd_create("cnetmem-resume", MFD_ALLOW_SEALING);
	if (f < 0)
		return -errno;
	if (ftruncate(f, sizeof(*r)) ||
	    fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		ret = -errno;
		goto out_close;
	}
	ret = resume_map(f, &r);
	if (ret)
		goto out_close;
	r->magic = RESUME_MAGIC;
	r->version = RESUME_VERSION;
	resume_unmap(r);
	*fd = f;
	return 0;
out_close:
	close(f);
	return ret;
}

int resume_map(int fd, struct resume_rec **out)
{
	void *p = mmap(NULL, sizeof(struct resume_rec), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

void resume_unmap(struct resume_rec *r)
{
	if (r)
		munmap(r, sizeof(*r));
}

/* The kernel's INIT, read here rather than by the loop so it can be kept. */
static int first_init(struct fuse_session *se, struct resume_rec *r)
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
	if (buf.size < sizeof(*in) || buf.size > RESUME_INIT_MAX ||
	    in->opcode != FUSE_INIT) {
		log_err("fuse: first request is not INIT (opcode %u, %zu "
			"bytes)",
			buf.size >= sizeof(*in) ? in->opcode : 0, buf.size);
		ret = -EPROTO;
		goto out_free;
	}
	memcpy(r->init, buf.mem, buf.size);
	/* published before libfuse answers: see fs/resume.h */
	__atomic_store_n(&r->init_len, (uint32_t)buf.size, __ATOMIC_RELEASE);
	fuse_session_process_buf(se, &buf);
	ret = 0;
out_free:
	free(buf.mem);
	return ret;
}

static int replay_init(struct fuse_session *se, const struct resume_rec *r,
		       uint32_t len)
{
	uint8_t copy[RESUME_INIT_MAX];
	struct fuse_buf buf = { .size = len, .mem = copy };

	if (len > RESUME_INIT_MAX || len < sizeof(struct fuse_in_header))
		return -EPROTO;
	memcpy(copy, r->init, len);
	if (((struct fuse_in_header *)copy)->opcode != FUSE_INIT)
		return -EPROTO;
	/* libfuse answers the kernel, which says ENOENT: nothing waits */
	fuse_session_process_buf(se, &buf);
	return 0;
}

int resume_init(struct fuse_session *se, struct resume_rec *r, int *replayed)
{
	uint32_t len;

	if (r->magic != RESUME_MAGIC || r->version != RESUME_VERSION) {
		log_err("resume record: version %u, this binary knows %u",
			r->version, RESUME_VERSION);
		return -EPROTO;
	}
	len = __atomic_load_n(&r->init_len, __ATOMIC_ACQUIRE);
	*replayed = len != 0;
	return len ? replay_init(se, r, len) : first_init(se, r);
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
