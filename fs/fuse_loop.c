// SPDX-License-Identifier: GPL-2.0-or-later
/* fuse_loop - transport choice and the session loop (fs/fuse_loop.h). */
#include "fs/fuse_loop.h"

#include "cnm_config.h"
#include "common/log.h"
#include "fs/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ENABLE_URING "/sys/module/fuse/parameters/enable_uring"

/* 1 when the kernel offers FUSE-over-io_uring now, 0 if it is off, -1 if
 * the kernel has none; why says. */
static int kernel_uring(const char **why)
{
	char c = 0;
	int fd, ok = 0;

	fd = open(ENABLE_URING, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = "the kernel has no FUSE-over-io_uring "
		       "(no " ENABLE_URING ")";
		return -1;
	}
	if (read(fd, &c, 1) == 1 && (c == 'Y' || c == '1'))
		ok = 1;
	close(fd);
	*why = ok ? "enable_uring is Y" : ENABLE_URING " is N";
	return ok;
}

int floop_args(int mode, const char *mp, struct fuse_args *args)
{
	const char *why = "fuse-transport=dev";
	int kernel = mode == FS_FUSE_URING ? kernel_uring(&why) : 0;

	if (mode == FS_FUSE_AUTO) {
		/* a restart could strand the requests on a dead ring */
		log_info("mount %s: fuse transport /dev/fuse (auto: only "
			 "/dev/fuse survives a restart of the serving process)",
			 mp);
		return 0;
	}
	if (mode == FS_FUSE_DEV) {
		log_info("mount %s: fuse transport /dev/fuse (%s)", mp, why);
		return 0;
	}
	if (!CNM_HAVE_FUSE_URING) {
		why = "this libfuse has no io_uring (built against libfuse "
		      "< 3.18.3; see .ci/build-libfuse)";
		kernel = -1;
	}
	if (kernel < 0) {
		log_warn(
			"mount %s: fuse-transport=uring: %s: /dev/fuse instead",
			mp, why);
		return 0;
	}
	if (!kernel)
		log_warn("mount %s: fuse-transport=uring: %s: libfuse will "
			 "fall back to /dev/fuse",
			 mp, why);
	else
		log_info("mount %s: fuse transport io_uring asked for (%s); a "
			 "request in flight on a ring when the serving process "
			 "dies is not resent (fs/README.md)",
			 mp, why);
	if (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, "io_uring"))
		return -ENOMEM;
	return 0;
}

int floop_run(struct fuse_session *se, unsigned int threads)
{
	struct fuse_loop_config *lc;
	int ret;

	lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	/* a fixed pool: as many idle threads allowed as threads, so none is
	 * ever torn down and re-created per request; with io_uring these
	 * serve only what the kernel still sends through /dev/fuse (INIT,
	 * FORGET, INTERRUPT) */
	fuse_loop_cfg_set_max_threads(lc, threads);
	fuse_loop_cfg_set_idle_threads(lc, threads);
	fuse_loop_cfg_set_clone_fd(lc, 0);
	ret = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret;
}
