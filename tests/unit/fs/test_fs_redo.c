// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Requests a serving process cannot trust (issue 14's leftovers): a
 * namespace change the kernel resends after the server that did it died
 * before answering (fs/fs_ns_redo.c), and nodeids this server never gave.
 * The FUSE ops run on fake requests (fs_fake.h).
 */
#include "tests/unit/check_run.h"
#include "tests/unit/fs/fs_fake.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Issue 14's redone namespace changes: a server does a namespace change
 * and dies before its reply; the successor gets the same request again,
 * its unique with FUSE_UNIQUE_RESEND (as Linux resends it), and answers
 * what the first execution would have. Each server runs in a child that
 * answers the previous server's request, checks it (exit 10 + the step
 * on a failed check), then does its own and dies in the reply.
 */
#define RESEND (1ull << 63)

enum { R_MKDIR, R_CREATE, R_RENAME, R_LINK, R_UNLINK, R_RMDIR, R_SYMLINK };

#define NRESENT (R_SYMLINK + 1)

/* Request step of the table with unique u; its errno, entry in *ino. */
static int redo_op(struct cnmfs *fs, int step, uint64_t u, int die,
		   fuse_ino_t *ino)
{
	struct fuse_file_info fi = { .flags = O_RDWR };
	struct fuse_req *r = req_new(fs);
	fuse_ino_t c2;

	r->unique = u;
	r->die = die;
	switch (step) {
	case R_MKDIR:
		ops->mkdir(r, FUSE_ROOT_ID, "m", 0700);
		break;
	case R_CREATE:
		ops->create(r, FUSE_ROOT_ID, "c", 0600, &fi);
		break;
	case R_RENAME:
		ops->rename(r, FUSE_ROOT_ID, "c", FUSE_ROOT_ID, "c2", 0);
		break;
	case R_LINK:
		c2 = lookup(fs, FUSE_ROOT_ID, "c2");
		r = req_new(fs); /* the lookup's was the same */
		r->unique = u;
		r->die = die;
		ops->link(r, c2, FUSE_ROOT_ID, "hl");
		break;
	case R_UNLINK:
		ops->unlink(r, FUSE_ROOT_ID, "hl");
		break;
	case R_RMDIR:
		ops->rmdir(r, FUSE_ROOT_ID, "m");
		break;
	case R_SYMLINK:
		ops->symlink(r, "c2", FUSE_ROOT_ID, "sl");
		break;
	}
	*ino = r->err ? 0 : r->e.ino;
	return r->err;
}

/* What the namespace is after step: 0 if right. */
static int redo_check(struct cnmfs *fs, int step, fuse_ino_t ino)
{
	fuse_ino_t c2 = lookup(fs, FUSE_ROOT_ID, "c2");

	switch (step) {
	case R_MKDIR:
		return !ino || lookup(fs, FUSE_ROOT_ID, "m") != ino;
	case R_CREATE:
		/* the open the first execution counted, once */
		return !ino || lookup(fs, FUSE_ROOT_ID, "c") != ino ||
		       cnmfs_open_files(fs) != 1;
	case R_RENAME:
		return !c2 || lookup(fs, FUSE_ROOT_ID, "c");
	case R_LINK:
		return ino != c2 || getattr(fs, c2).st_nlink != 2;
	case R_UNLINK:
		return lookup(fs, FUSE_ROOT_ID, "hl") ||
		       getattr(fs, c2).st_nlink != 1;
	case R_RMDIR:
		return lookup(fs, FUSE_ROOT_ID, "m") != 0;
	case R_SYMLINK:
		return !ino || lookup(fs, FUSE_ROOT_ID, "sl") != ino;
	}
	return 1;
}

START_TEST(a_resent_namespace_change_a_dead_server_did_answers_success)
{
	uint64_t base = 1000;
	struct cnmfs *fs;
	struct state *st;
	fuse_ino_t ino;
	pid_t pid;
	int status;

	for (int step = 0; step <= NRESENT; step++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid)
			goto wait;
		fs = server(&st);
		if (step) {
			/* the kernel resends the previous server's request */
			if (redo_op(fs, step - 1,
				    (base + 2 * (step - 1)) | RESEND, 0, &ino))
				_exit(10 + step - 1);
			if (redo_check(fs, step - 1, ino))
				_exit(30 + step - 1);
		}
		if (step == NRESENT)
			_exit(0);
		redo_op(fs, step, base + 2 * step, 1, &ino);
		_exit(50 + step); /* the reply should have killed it */
	wait:
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && !WEXITSTATUS(status),
			      "step %d: exit %d", step, WEXITSTATUS(status));
	}
	fs = server(&st);
	/* only a resent request with the mark's own unique is answered so */
	{
		struct fuse_req *r = req_new(fs);

		r->unique = (base + 2 * R_SYMLINK) | RESEND;
		ops->mkdir(r, FUSE_ROOT_ID, "sl", 0700);
		ck_assert_int_eq(r->err, EEXIST);
		r = req_new(fs);
		r->unique = (base + 200) | RESEND; /* another request */
		ops->symlink(r, "c2", FUSE_ROOT_ID, "sl");
		ck_assert_int_eq(r->err, EEXIST);
		r = req_new(fs);
		r->unique = base + 2 * R_SYMLINK; /* not resent */
		ops->symlink(r, "c2", FUSE_ROOT_ID, "sl");
		ck_assert_int_eq(r->err, EEXIST);
		r = req_new(fs);
		r->unique = (base + 2 * R_UNLINK) | RESEND; /* answered */
		ops->unlink(r, FUSE_ROOT_ID, "hl");
		ck_assert_int_eq(r->err, ENOENT);
		/* a resent request the dead server never did: done now */
		r = req_new(fs);
		r->unique = (base + 100) | RESEND;
		ops->mkdir(r, FUSE_ROOT_ID, "fresh", 0700);
		ck_assert_int_eq(r->err, 0);
		ck_assert_uint_eq(lookup(fs, FUSE_ROOT_ID, "fresh"), r->e.ino);
	}
	cnmfs_destroy(fs);
	state_close(st);
}
END_TEST

/* Nodeids this server never gave (a restart, a buggy or hostile kernel)
 * get ESTALE, never a crash. */
START_TEST(unknown_nodeids_get_estale)
{
	struct fuse_file_info fi = { .flags = O_RDWR };
	struct fuse_forget_data fd = { .ino = 4242, .nlookup = 1 };
	struct state *st;
	struct cnmfs *fs = server(&st);
	fuse_ino_t bad[] = { 0, 4242, (fuse_ino_t)1 << 40, ~(fuse_ino_t)0 };
	struct stat sb = { .st_size = 1 };
	char buf[8] = "x";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fuse_ino_t b = bad[i];
		struct fuse_req *r;

#define EXPECT_STALE(call)                                                     \
	do {                                                                   \
		r = req_new(fs);                                               \
		call;                                                          \
		ck_assert_msg(r->err == ESTALE, #call " nodeid %lu: %d",       \
			      (unsigned long)b, r->err);                       \
	} while (0)
		EXPECT_STALE(ops->lookup(r, b, "x"));
		EXPECT_STALE(ops->getattr(r, b, NULL));
		EXPECT_STALE(ops->setattr(r, b, &sb, FUSE_SET_ATTR_SIZE, NULL));
		EXPECT_STALE(ops->readlink(r, b));
		EXPECT_STALE(ops->mknod(r, b, "x", S_IFREG | 0600, 0));
		EXPECT_STALE(ops->mkdir(r, b, "x", 0700));
		EXPECT_STALE(ops->unlink(r, b, "x"));
		EXPECT_STALE(ops->rmdir(r, b, "x"));
		EXPECT_STALE(ops->symlink(r, "t", b, "x"));
		EXPECT_STALE(ops->rename(r, b, "x", FUSE_ROOT_ID, "y", 0));
		EXPECT_STALE(ops->rename(r, FUSE_ROOT_ID, "x", b, "y", 0));
		EXPECT_STALE(ops->link(r, b, FUSE_ROOT_ID, "y"));
		EXPECT_STALE(ops->link(r, FUSE_ROOT_ID, b, "y"));
		EXPECT_STALE(ops->open(r, b, &fi));
		EXPECT_STALE(ops->read(r, b, 4096, 0, &fi));
		EXPECT_STALE(ops->write(r, b, buf, 1, 0, &fi));
		EXPECT_STALE(ops->create(r, b, "x", 0600, &fi));
		EXPECT_STALE(ops->fallocate(r, b, 0, 0, 4096, &fi));
		EXPECT_STALE(ops->lseek(r, b, 0, SEEK_DATA, &fi));
		EXPECT_STALE(ops->opendir(r, b, &fi));
		EXPECT_STALE(ops->readdir(r, b, 4096, 0, &fi));
#undef EXPECT_STALE
		r = req_new(fs);
		ops->release(r, b, &fi);
		ck_assert_int_eq(r->err, 0);
		ops->forget(req_new(fs), b, 1);
		fd.ino = b;
		ops->forget_multi(req_new(fs), 1, &fd);
	}
	/* and the mount is unharmed */
	ck_assert_uint_ne(mkdir_(fs, FUSE_ROOT_ID, "after"), 0);
	cnmfs_destroy(fs);
	state_close(st);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"fs_redo",
		&(const struct cnm_tcase_opt){ .setup = supervisor_setup,
					       .teardown = supervisor_teardown,
					       .timeout = 60 },
		CNM_TESTS(
			a_resent_namespace_change_a_dead_server_did_answers_success,
			unknown_nodeids_get_estale));
}
