// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state that outlives a serving process (fs/state.h, issue 14): the
 * arena, the blobs, and the namespace and page maps of fs/ resumed by a
 * successor after the server that built them died without any cleanup
 * (_exit, or SIGKILL at a random instant).
 *
 * The FUSE ops run on fake requests (fs_fake.h): a test calls an op and
 * reads its reply.
 */
#include "common/arena.h"
#include "fs/fs.h"
#include "fs/state.h"
#include "placement/pstore.h"
#include "tests/unit/check_run.h"
#include "tests/unit/fs/fs_fake.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static fuse_ino_t create(struct cnmfs *fs, fuse_ino_t dir, const char *name)
{
	struct fuse_file_info fi = { .flags = O_RDWR };
	struct fuse_req *r = req_new(fs);
	fuse_ino_t ino;

	ops->create(r, dir, name, 0640, &fi);
	if (r->err)
		return 0;
	ino = r->e.ino;
	r = req_new(fs);
	ops->release(r, ino, &fi);
	return ino;
}

static int setsize(struct cnmfs *fs, fuse_ino_t ino, off_t size)
{
	struct fuse_req *r = req_new(fs);
	struct stat st = { .st_size = size };

	ops->setattr(r, ino, &st, FUSE_SET_ATTR_SIZE, NULL);
	return r->err;
}

static int falloc(struct cnmfs *fs, fuse_ino_t ino, off_t off, off_t len)
{
	struct fuse_req *r = req_new(fs);

	ops->fallocate(r, ino, 0, off, len, NULL);
	return r->err;
}

static int op2(struct cnmfs *fs, int which, fuse_ino_t a, const char *x,
	       fuse_ino_t b, const char *y)
{
	struct fuse_req *r = req_new(fs);

	switch (which) {
	case 'u':
		ops->unlink(r, a, x);
		break;
	case 'd':
		ops->rmdir(r, a, x);
		break;
	case 'r':
		ops->rename(r, a, x, b, y, 0);
		break;
	case 'l':
		ops->link(r, a, b, y);
		break;
	case 's':
		ops->symlink(r, x, b, y);
		break;
	}
	return r->err;
}

/* The names in dir, in readdir order, "a,b,c" (no . and ..). */
static void list(struct cnmfs *fs, fuse_ino_t dir, char *out, size_t len)
{
	struct fuse_req *r = req_new(fs);
	size_t pos = 0;

	out[0] = '\0';
	ops->readdir(r, dir, sizeof(r->buf), 0, NULL);
	ck_assert_int_eq(r->err, 0);
	for (size_t i = 0; i < r->len; i += strlen(r->buf + i) + 1) {
		const char *n = r->buf + i;

		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		pos += (size_t)snprintf(out + pos, len - pos, "%s%s",
					pos ? "," : "", n);
	}
}

/* A server with a local-memory page store on the state too. */
static struct cnmfs *server_ps(struct state **st, struct pstore **ps)
{
	struct pstore_cfg pc = { .transport = XPORT_MEM,
				 .capacity = CAP,
				 .w_free = 1 };
	struct cnmfs_params fp = { .capacity = CAP,
				   .requests = 2,
				   .mountpoint = "/test" };
	struct cnmfs *fs;
	char err[256];

	ck_assert_int_eq(state_attach(dup(state_fd(st0)), st), 0);
	pc.arena = state_arena(*st);
	ck_assert_msg(!pstore_open(&pc, ps, err, sizeof(err)), "%s", err);
	fp.arena = state_arena(*st);
	ck_assert_int_eq(cnmfs_create(&fp, *ps, &fs), 0);
	return fs;
}

static void fill(char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 131 + seed) % 251);
}

static int rw(struct cnmfs *fs, int write, fuse_ino_t ino, char *buf,
	      size_t len, off_t off)
{
	struct fuse_file_info fi = { .flags = O_RDWR | O_DIRECT };
	struct fuse_req *r = req_new(fs);

	if (write)
		ops->write(r, ino, buf, len, off, &fi);
	else
		ops->read(r, ino, len, off, &fi);
	if (!write && !r->err)
		memcpy(buf, r->buf, r->len < len ? r->len : len);
	return r->err;
}

/* ---- tests ---- */

START_TEST(blobs_read_whole_and_servers_are_counted)
{
	struct state *a, *b;
	char buf[STATE_BLOB_MAX];

	ck_assert_int_eq(
		state_blob_get(st0, STATE_BLOB_FUSE_INIT, buf, sizeof(buf)),
		-ENOENT);
	ck_assert_int_eq(state_attach(dup(state_fd(st0)), &a), 0);
	ck_assert_uint_eq(state_restarts(a), 0);
	ck_assert_int_eq(state_blob_put(a, STATE_BLOB_FUSE_INIT, "init1", 5),
			 0);
	ck_assert_int_eq(state_blob_put(a, STATE_BLOB_FUSE_INIT, "ini2", 4), 0);
	ck_assert_int_eq(state_blob_put(a, STATE_BLOB_FUSE_INIT, buf,
					STATE_BLOB_MAX + 1),
			 -EINVAL);
	state_close(a);
	ck_assert_int_eq(state_attach(dup(state_fd(st0)), &b), 0);
	ck_assert_uint_eq(state_restarts(b), 1);
	ck_assert_int_eq(
		state_blob_get(b, STATE_BLOB_FUSE_INIT, buf, sizeof(buf)), 4);
	ck_assert(!memcmp(buf, "ini2", 4));
	ck_assert_int_eq(state_blob_get(b, STATE_BLOB_FUSE_INIT, buf, 3),
			 -ENOSPC);
	state_close(b);
}
END_TEST

START_TEST(attach_refuses_what_is_not_a_state)
{
	struct state *st;
	int fd = memfd_create("x", MFD_ALLOW_SEALING), bad;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	/* not sealed against shrinking: not ours */
	ck_assert_int_eq(state_attach(fd, &st), -EINVAL);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	/* sealed but no header: another layout */
	ck_assert_int_eq(state_attach(fd, &st), -EPROTO);
	/* the fd stays the caller's on failure */
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	close(fd);
	bad = open("/dev/null", O_RDWR);
	ck_assert_int_eq(state_attach(bad, &st), -EINVAL);
	close(bad);
}
END_TEST

START_TEST(secret_section_is_locked_in_memory)
{
	char line[256];
	long locked = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &locked) == 1)
			break;
	fclose(f);
	/* the store's secrets: the page key and every donor's session */
	ck_assert_int_gt(locked, 0);
}
END_TEST

/* Builds a tree, then dies without a word: the successor sees it whole. */
static void build_tree(struct cnmfs *fs, fuse_ino_t *keep)
{
	fuse_ino_t d, f, g;

	d = mkdir_(fs, FUSE_ROOT_ID, "dir");
	ck_assert_uint_ne(d, 0);
	ck_assert_uint_ne(mkdir_(fs, d, "sub"), 0);
	f = create(fs, d, "swapfile");
	ck_assert_uint_ne(f, 0);
	ck_assert_int_eq(falloc(fs, f, 0, 10 << 20), 0);
	g = create(fs, FUSE_ROOT_ID, "sparse");
	ck_assert_int_eq(setsize(fs, g, 1ll << 40), 0);
	ck_assert_int_eq(falloc(fs, g, 1ll << 30, 8192), 0);
	ck_assert_int_eq(op2(fs, 'l', f, NULL, FUSE_ROOT_ID, "hardlink"), 0);
	ck_assert_int_eq(op2(fs, 's', 0, "dir/swapfile", FUSE_ROOT_ID, "sym"),
			 0);
	ck_assert_uint_ne(create(fs, d, "gone"), 0);
	ck_assert_int_eq(op2(fs, 'u', d, "gone", 0, NULL), 0);
	ck_assert_uint_ne(create(fs, FUSE_ROOT_ID, "old"), 0);
	ck_assert_int_eq(op2(fs, 'r', FUSE_ROOT_ID, "old", d, "new"), 0);
	keep[0] = d;
	keep[1] = f;
	keep[2] = g;
	{
		/* a handle the kernel keeps open across the restart */
		struct fuse_file_info fi = { .flags = O_RDWR };

		ops->open(req_new(fs), f, &fi);
		ck_assert_int_eq(cnmfs_open_files(fs), 1);
	}
}

START_TEST(namespace_and_maps_survive_a_server_that_exits_without_cleanup)
{
	fuse_ino_t *keep = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct stat a, b;
	struct cnmfs *fs;
	struct state *st;
	char names[512];
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		fs = server(&st);
		build_tree(fs, keep);
		_exit(0); /* no destroy, no close */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && !WEXITSTATUS(status));

	fs = server(&st);
	ck_assert_uint_eq(state_restarts(st), 1);
	/* the nodeids the kernel knows are the same inodes */
	ck_assert_uint_eq(lookup(fs, FUSE_ROOT_ID, "dir"), keep[0]);
	ck_assert_uint_eq(lookup(fs, keep[0], "swapfile"), keep[1]);
	ck_assert_uint_eq(lookup(fs, FUSE_ROOT_ID, "sparse"), keep[2]);
	ck_assert_uint_eq(lookup(fs, FUSE_ROOT_ID, "hardlink"), keep[1]);
	ck_assert_uint_eq(lookup(fs, keep[0], "gone"), 0);
	ck_assert_uint_eq(lookup(fs, FUSE_ROOT_ID, "old"), 0);
	ck_assert_uint_ne(lookup(fs, keep[0], "new"), 0);
	a = getattr(fs, keep[1]);
	ck_assert_int_eq(a.st_size, 10 << 20);
	ck_assert_int_eq(a.st_blocks, (10 << 20) / 512);
	ck_assert_int_eq(a.st_nlink, 2);
	ck_assert_int_eq(a.st_mode, S_IFREG | 0640);
	b = getattr(fs, keep[2]);
	ck_assert_int_eq(b.st_size, 1ll << 40);
	ck_assert_int_eq(b.st_blocks, 8192 / 512);
	a = getattr(fs, keep[0]);
	ck_assert_int_eq(a.st_nlink, 3);
	ck_assert_int_eq(a.st_mode, S_IFDIR | 0750);
	list(fs, keep[0], names, sizeof(names));
	ck_assert_str_eq(names, "sub,swapfile,new");
	list(fs, FUSE_ROOT_ID, names, sizeof(names));
	ck_assert_str_eq(names, "dir,sparse,hardlink,sym");
	{
		struct fuse_req *r = req_new(fs);

		ops->readlink(r, lookup(fs, FUSE_ROOT_ID, "sym"));
		ck_assert_str_eq(r->buf, "dir/swapfile");
	}
	/* the open handle of the dead server: counted, released once */
	ck_assert_int_eq(cnmfs_open_files(fs), 1);
	{
		struct fuse_file_info fi = { .flags = O_RDWR };
		struct fuse_req *r;

		ops->release(req_new(fs), keep[1], &fi);
		ck_assert_int_eq(cnmfs_open_files(fs), 0);
		ops->release(req_new(fs), keep[1], &fi);
		ck_assert_int_eq(cnmfs_open_files(fs), 0);
		/* a stats handle the dead server gave out: a pointer of its
		 * own, never dereferenced here; the read gets fresh stats */
		fi.fh = 0x7f0000001000ull;
		fi.flags = O_RDONLY;
		r = req_new(fs);
		ops->read(r, 2, 4096, 0, &fi);
		ck_assert_int_eq(r->err, 0);
		ck_assert_int_gt(r->len, 0);
		ck_assert_int_eq(r->buf[0], '{');
		ops->release(req_new(fs), 2, &fi);
		fi.fh |= 1; /* a control handle of the dead server */
		r = req_new(fs);
		ops->read(r, 2, 4096, 0, &fi);
		ck_assert_int_eq(r->err, EIO);
	}
	/* and it carries on: new names, new inodes */
	ck_assert_uint_ne(create(fs, keep[0], "after"), 0);
	ck_assert_int_eq(op2(fs, 'u', keep[0], "swapfile", 0, NULL), 0);
	ck_assert_int_eq(getattr(fs, keep[1]).st_nlink, 1);
	cnmfs_destroy(fs);
	state_close(st);
	munmap(keep, 4096);
}
END_TEST

/*
 * A server renames, creates, unlinks and truncates in a loop and is
 * SIGKILLed at a random instant; after each kill a successor checks that
 * every operation the server finished is there, the one in progress is
 * done or not done (never half), and no name or page is lost.
 */
#define NFILES 64

struct log {
	_Atomic int phase[NFILES]; /* 0: "aN", 1: "bN" done, 2: in rename */
	_Atomic int64_t size[NFILES];
	_Atomic int64_t want[NFILES]; /* size being set, -1: none */
	_Atomic fuse_ino_t ino[NFILES];
};

static void churn(struct log *lg, unsigned int seed)
{
	struct state *st;
	struct cnmfs *fs = server(&st);
	char a[16], b[16];

	srand(seed);
	for (;;) {
		int i = rand() % NFILES, ph = atomic_load(&lg->phase[i]);

		snprintf(a, sizeof(a), "a%d", i);
		snprintf(b, sizeof(b), "b%d", i);
		if (!atomic_load(&lg->ino[i])) {
			fuse_ino_t ino = create(fs, FUSE_ROOT_ID, a);

			if (!ino)
				_exit(3);
			atomic_store(&lg->ino[i], ino);
			continue;
		}
		if (rand() % 2) {
			int64_t sz = (rand() % 64) * 4096 + rand() % 4096;

			atomic_store(&lg->want[i], sz);
			if (setsize(fs, atomic_load(&lg->ino[i]), sz))
				_exit(4);
			atomic_store(&lg->size[i], sz);
			atomic_store(&lg->want[i], -1);
			continue;
		}
		atomic_store(&lg->phase[i], 2);
		if (op2(fs, 'r', FUSE_ROOT_ID, ph ? b : a, FUSE_ROOT_ID,
			ph ? a : b))
			_exit(5);
		atomic_store(&lg->phase[i], !ph);
	}
}

START_TEST(namespace_stays_consistent_when_killed_at_random_instants)
{
	struct log *lg = mmap(NULL, sizeof(*lg), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < NFILES; i++)
		atomic_store(&lg->want[i], -1);
	for (unsigned int round = 0; round < 8; round++) {
		struct state *st;
		struct cnmfs *fs;
		char a[16], b[16];
		pid_t pid;
		int status;

		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (!pid)
			churn(lg, round * 7919 + 1);
		usleep(20000 + (useconds_t)(rand() % 80000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));

		fs = server(&st);
		for (int i = 0; i < NFILES; i++) {
			fuse_ino_t ino = atomic_load(&lg->ino[i]), ia, ib;
			int ph = atomic_load(&lg->phase[i]);
			int64_t want = atomic_load(&lg->want[i]);
			struct stat s;

			snprintf(a, sizeof(a), "a%d", i);
			snprintf(b, sizeof(b), "b%d", i);
			ia = lookup(fs, FUSE_ROOT_ID, a);
			ib = lookup(fs, FUSE_ROOT_ID, b);
			if (!ino) {
				/* a create cut short: at most the name */
				ck_assert(!ib);
				if (ia)
					atomic_store(&lg->ino[i], ia);
				continue;
			}
			if (ph == 2) {
				/* the rename in progress: one name, not both */
				ck_assert((ia == ino) != (ib == ino));
				ph = ib == ino;
				atomic_store(&lg->phase[i], ph);
			}
			ck_assert_uint_eq(ph ? ib : ia, ino);
			ck_assert_uint_eq(ph ? ia : ib, 0);
			s = getattr(fs, ino);
			ck_assert_int_eq(s.st_nlink, 1);
			if (s.st_size != atomic_load(&lg->size[i])) {
				ck_assert_int_eq(s.st_size, want);
				atomic_store(&lg->size[i], want);
			}
			atomic_store(&lg->want[i], -1);
		}
		/* this server dies too: the next round kills another */
		state_close(st);
	}
	munmap(lg, sizeof(*lg));
}
END_TEST

START_TEST(local_memory_files_survive_a_server_that_exits_without_cleanup)
{
	fuse_ino_t *ino = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static char want[4096], got[4096];
	struct pstore *ps;
	struct cnmfs *fs;
	struct state *st;
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		fs = server_ps(&st, &ps);
		ino[0] = create(fs, FUSE_ROOT_ID, "ws");
		ck_assert_uint_ne(ino[0], 0);
		for (unsigned int i = 0; i < 256; i++) {
			fill(want, sizeof(want), i);
			ck_assert_int_eq(rw(fs, 1, ino[0], want, sizeof(want),
					    (off_t)i * 4096),
					 0);
		}
		fill(want, sizeof(want), 999);
		ck_assert_int_eq(
			rw(fs, 1, ino[0], want, sizeof(want), 40ll << 20), 0);
		_exit(0); /* no destroy, no close */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && !WEXITSTATUS(status));

	fs = server_ps(&st, &ps);
	ck_assert_uint_eq(lookup(fs, FUSE_ROOT_ID, "ws"), ino[0]);
	ck_assert_int_eq(getattr(fs, ino[0]).st_size, (40 << 20) + 4096);
	for (unsigned int i = 0; i < 256; i++) {
		fill(want, sizeof(want), i);
		ck_assert_int_eq(
			rw(fs, 0, ino[0], got, sizeof(got), (off_t)i * 4096),
			0);
		ck_assert_msg(!memcmp(got, want, sizeof(got)), "page %u", i);
	}
	fill(want, sizeof(want), 999);
	ck_assert_int_eq(rw(fs, 0, ino[0], got, sizeof(got), 40ll << 20), 0);
	ck_assert(!memcmp(got, want, sizeof(got)));
	/* a hole between reads as zeros */
	ck_assert_int_eq(rw(fs, 0, ino[0], got, sizeof(got), 20ll << 20), 0);
	memset(want, 0, sizeof(want));
	ck_assert(!memcmp(got, want, sizeof(got)));
	ck_assert_uint_eq(pstore_pages_used(ps), 257);
	cnmfs_destroy(fs);
	pstore_close(ps);
	state_close(st);
	munmap(ino, 4096);
}
END_TEST

START_TEST(a_store_on_a_state_takes_more_than_a_thousand_donors)
{
	static char names[1100][32];
	const char *donors[1100];
	struct pstore_cfg pc = { .transport = XPORT_MEM,
				 .capacity = CAP,
				 .slab_size = 1 << 20,
				 .w_free = 1,
				 .donors = donors,
				 .ndonors = 1100 };
	struct cnmfs_params fp = { .capacity = CAP, .requests = 2 };
	struct state *st, *srv;
	struct pstore *ps;
	char err[256];

	for (int i = 0; i < 1100; i++) {
		snprintf(names[i], sizeof(names[i]), "mem:d%d:1M", i);
		donors[i] = names[i];
	}
	ck_assert_int_eq(state_create(&pc, &fp, &st), 0);
	ck_assert_int_eq(state_attach(dup(state_fd(st)), &srv), 0);
	pc.arena = state_arena(srv);
	ck_assert_msg(!pstore_open(&pc, &ps, err, sizeof(err)), "%s", err);
	pstore_close(ps);
	state_close(srv);
	state_close(st);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"fs_state",
		&(const struct cnm_tcase_opt){ .setup = supervisor_setup,
					       .teardown = supervisor_teardown,
					       .timeout = 60 },
		CNM_TESTS(
			blobs_read_whole_and_servers_are_counted,
			attach_refuses_what_is_not_a_state,
			secret_section_is_locked_in_memory,
			namespace_and_maps_survive_a_server_that_exits_without_cleanup,
			namespace_stays_consistent_when_killed_at_random_instants,
			local_memory_files_survive_a_server_that_exits_without_cleanup,
			a_store_on_a_state_takes_more_than_a_thousand_donors));
}
