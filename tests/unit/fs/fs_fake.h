/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs_fake - what the tests of the state a serving process leaves share
 * (test_fs_state.c, test_fs_redo.c): fake FUSE requests (fs_fake.c
 * defines the __wrap_ functions of tests/unit/fuse_fakes.h: an op is
 * called and its reply read from the request), a few ops on them, and
 * servers on one state made by a stand-in supervisor (a checked fixture).
 *
 * Threading: one thread; a request is static, valid until the next
 * req_new().
 */
#ifndef CNM_TESTS_UNIT_FS_FAKE_H
#define CNM_TESTS_UNIT_FS_FAKE_H

#include "fs/fs.h"
#include "fs/state.h"
#include "placement/pstore.h"
#include "tests/unit/fuse_fakes.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define CAP (64ull << 20)

/* It starts as libfuse's own does (fs/fs_ns_redo.c reads the unique). */
struct fuse_req {
	void *se;
	uint64_t unique; /* the kernel's id; 0: unknown */
	struct cnmfs *fs;
	int die; /* _exit(0) instead of replying: the server dies there */
	struct fuse_ctx ctx;
	int err; /* 0 or the positive errno replied */
	struct fuse_entry_param e;
	struct stat attr;
	char buf[8192];
	size_t len;
};

/* A fresh request on fs (unique 0: unknown). */
struct fuse_req *req_new(struct cnmfs *fs);

extern const struct fuse_lowlevel_ops *ops;
/* 0 when name is not in dir */
fuse_ino_t lookup(struct cnmfs *fs, fuse_ino_t dir, const char *name);
struct stat getattr(struct cnmfs *fs, fuse_ino_t ino);
/* 0 on failure */
fuse_ino_t mkdir_(struct cnmfs *fs, fuse_ino_t dir, const char *name);

/* the supervisor's state; the fixture makes it and sets ops */
extern struct state *st0;
void supervisor_setup(void);
void supervisor_teardown(void);
/* A server on the state: attaches, makes or resumes the fs. */
struct cnmfs *server(struct state **st);

#endif
