// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_ns_redo - what a namespace request the kernel sends again needs: its
 * unique, and a test hook that kills the first serving process between
 * doing such a request and answering it.
 *
 * When a serving process dies, its successor asks the kernel to resend
 * every request the dead one read and did not answer (fs/resume.h). The
 * kernel resends the same request with the same unique, FUSE_UNIQUE_RESEND
 * (bit 63) added (fuse_resend() in Linux's fs/fuse/dev.c, since 6.9).
 * Reads and writes are simply done again; a namespace change is not
 * idempotent, so every name record keeps the unique of the request that
 * made it and a removed name is kept, marked with the unique of the
 * request that removed it, until that request is answered (fs_state.c):
 * fs_dir.c answers a resent request that finds its own mark as the first
 * execution would have.
 *
 * libfuse (3.18) gives no accessor for a request's unique: it is read from
 * struct fuse_req, whose first two members have been the session pointer
 * and the unique since libfuse 3.0 (lib/fuse_i.h). If a libfuse ever
 * changed that, the unique read would be wrong and the worst outcome is
 * today's answer (EEXIST or ENOENT to a resent request), never a wrong
 * change: a mark matches only a resent request's own unique.
 *
 * Threading: any FUSE worker thread; nothing here takes a lock.
 */
#include "fs/fs_priv.h"

#include "common/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* the head of libfuse's private struct fuse_req (lib/fuse_i.h) */
struct fuse_req_head {
	struct fuse_session *se;
	uint64_t unique;
};

uint64_t fs_req_unique(fuse_req_t req)
{
#if FUSE_MAJOR_VERSION == 3
	return req ? ((const struct fuse_req_head *)req)->unique : 0;
#else
	return 0;
#endif
}

/* ---- test hook ---- */

#define KILL_ENV "CNETMEM_TEST_KILL_BEFORE_REPLY"

static const struct {
	const char *name;
	enum op op;
} kill_ops[] = {
	{ "mknod", OP_MKNOD },	   { "mkdir", OP_MKDIR },
	{ "unlink", OP_UNLINK },   { "rmdir", OP_RMDIR },
	{ "symlink", OP_SYMLINK }, { "rename", OP_RENAME },
	{ "link", OP_LINK },	   { "create", OP_CREATE },
};

static pthread_once_t kill_once = PTHREAD_ONCE_INIT;
static int kill_op = -1; /* set once by kill_init() */
static atomic_bool killed;

static void kill_init(void)
{
	const char *v = getenv(KILL_ENV);

	if (!v || !*v)
		return;
	for (size_t i = 0; i < sizeof(kill_ops) / sizeof(kill_ops[0]); i++)
		if (!strcmp(v, kill_ops[i].name))
			kill_op = (int)kill_ops[i].op;
	if (kill_op < 0)
		log_warn(KILL_ENV "=%s: not a namespace operation", v);
}

void fs_redo_test_kill(struct cnmfs *fs, enum op op, uint64_t unique)
{
	pthread_once(&kill_once, kill_init);
	if (kill_op != (int)op || fs->daemon_restarts ||
	    !fs->daemon_supervisor || (unique & FS_UNIQUE_RESEND) ||
	    atomic_exchange(&killed, true))
		return;
	log_notice("mount %s: " KILL_ENV ": killed after %s took effect, "
		   "before its reply",
		   fs->mountpoint, getenv(KILL_ENV));
	raise(SIGKILL);
}
