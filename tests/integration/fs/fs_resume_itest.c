// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_resume_itest - a whole serving process (fs/ over the page store over
 * real donors, TCP) kept in a state arena (fs/state.h), SIGKILLed while
 * it writes a swap-like direct file, again and again; driven by the shell
 * test next to it.
 *
 *   fs_resume_itest [--replicas R] [--rounds N] HOST:PORT...
 *
 * The parent plays the supervisor (state_create()); each server attaches,
 * opens the store and the fs on the arena, finds the file by name (the
 * same nodeid as before), reads every page through the fs and checks it
 * against the reference kept in memory shared with the parent (per page:
 * the generation of its last acknowledged write and of the one in
 * flight), rewrites the pages whose write was never acknowledged (as the
 * kernel resends an unanswered write), then writes random pages from
 * several threads until it is killed. The FUSE ops run on fake requests:
 * this file defines the fuse_reply_* and fuse_req_* functions fs/ calls.
 *
 * Exit status 0 on success, 1 on a failed check (with a line saying which).
 */
#include "fs/fs.h"
#include "fs/state.h"
#include "placement/pstore.h"
#include "rdma/auth.h"
#include "rdma/xport.h"
#include "tests/unit/fuse_fakes.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE	 4096u
#define CAPACITY (64ull << 20)
#define FPAGES	 4096u /* the file: 16 MiB */
#define THREADS	 4
#define RUN	 8u /* pages per write */

/* ---- fake requests: one per call, the reply wakes the caller ---- */

struct fuse_req {
	struct cnmfs *fs;
	struct fuse_ctx ctx;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int done;
	int err;
	struct fuse_entry_param e;
	char *buf; /* read: PAGE * RUN bytes */
	size_t len;
};

static void req_init(struct fuse_req *r, struct cnmfs *fs, char *buf)
{
	memset(r, 0, sizeof(*r));
	r->fs = fs;
	r->buf = buf;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cv, NULL);
}

static void req_wait(struct fuse_req *r)
{
	pthread_mutex_lock(&r->lock);
	while (!r->done)
		pthread_cond_wait(&r->cv, &r->lock);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cv);
}

static int reply(struct fuse_req *r, int err)
{
	pthread_mutex_lock(&r->lock);
	r->err = err;
	r->done = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void *__wrap_fuse_req_userdata(fuse_req_t req)
{
	return req->fs;
}

const struct fuse_ctx *__wrap_fuse_req_ctx(fuse_req_t req)
{
	return &req->ctx;
}

int __wrap_fuse_reply_err(fuse_req_t req, int err)
{
	return reply(req, err);
}

void __wrap_fuse_reply_none(fuse_req_t req)
{
	reply(req, 0);
}

int __wrap_fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	req->e = *e;
	return reply(req, 0);
}

int __wrap_fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi)
{
	req->e = *e;
	return reply(req, 0);
}

int __wrap_fuse_reply_attr(fuse_req_t req, const struct stat *attr,
			   double attr_timeout)
{
	return reply(req, 0);
}

int __wrap_fuse_reply_readlink(fuse_req_t req, const char *link)
{
	return reply(req, 0);
}

int __wrap_fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	if (req->buf && size)
		memcpy(req->buf, buf, size);
	req->len = size;
	return reply(req, 0);
}

int __wrap_fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	return reply(req, 0);
}

int __wrap_fuse_reply_write(fuse_req_t req, size_t count)
{
	req->len = count;
	return reply(req, 0);
}

int __wrap_fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
{
	return reply(req, 0);
}

int __wrap_fuse_reply_xattr(fuse_req_t req, size_t count)
{
	return reply(req, 0);
}

int __wrap_fuse_reply_lseek(fuse_req_t req, off_t off)
{
	return reply(req, 0);
}

size_t __wrap_fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize,
				const char *name, const struct stat *stbuf,
				off_t off)
{
	return 0;
}

/* ---- the reference ---- */

struct ref {
	_Atomic uint32_t acked;	 /* generation acknowledged, 0: never */
	_Atomic uint32_t flight; /* generation in flight, 0: none */
};

struct shared {
	_Atomic fuse_ino_t ino; /* the file's nodeid */
	_Atomic uint32_t gen;	/* generations handed out */
	struct ref page[FPAGES];
};

static struct shared *sh;
static const struct fuse_lowlevel_ops *ops;
static struct fuse_file_info fi = { .flags = O_RDWR | O_DIRECT };

static void fill(void *buf, uint64_t p, uint32_t gen)
{
	uint64_t *w = buf;

	for (unsigned int i = 0; i < PAGE / 8; i++)
		w[i] = (p * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)gen << 40) ^ i;
}

static int page_is(const void *buf, uint64_t p, uint32_t gen)
{
	uint64_t want[PAGE / 8];

	if (!gen) {
		memset(want, 0, sizeof(want));
	} else {
		fill(want, p, gen);
	}
	return !memcmp(buf, want, PAGE);
}

/* Writes pages [p, p+n) with fresh generations; the reference moves when
 * the fs answers, as the kernel would learn of it. */
static int write_run(struct cnmfs *fs, uint64_t p, unsigned int n)
{
	static _Thread_local char buf[RUN * PAGE];
	uint32_t gen[RUN];
	struct fuse_req r;

	for (unsigned int i = 0; i < n; i++) {
		gen[i] = atomic_fetch_add(&sh->gen, 1) + 1;
		fill(buf + (size_t)i * PAGE, p + i, gen[i]);
		atomic_store(&sh->page[p + i].flight, gen[i]);
	}
	req_init(&r, fs, NULL);
	ops->write(&r, atomic_load(&sh->ino), buf, (size_t)n * PAGE,
		   (off_t)(p * PAGE), &fi);
	req_wait(&r);
	if (r.err || r.len != (size_t)n * PAGE) {
		fprintf(stderr, "FAIL: pages %" PRIu64 "+%u: write: %s\n", p, n,
			r.err ? strerror(r.err) : "short");
		return 1;
	}
	for (unsigned int i = 0; i < n; i++) {
		atomic_store(&sh->page[p + i].acked, gen[i]);
		atomic_store(&sh->page[p + i].flight, 0);
	}
	return 0;
}

/* Reads and checks every page; rewrites the unacknowledged ones. */
static int verify(struct cnmfs *fs, unsigned int *redone, unsigned int *eio)
{
	static char buf[RUN * PAGE];
	int bad = 0;

	for (uint64_t p = 0; p < FPAGES; p += RUN) {
		struct fuse_req r;

		req_init(&r, fs, buf);
		ops->read(&r, atomic_load(&sh->ino), RUN * PAGE,
			  (off_t)(p * PAGE), &fi);
		req_wait(&r);
		for (unsigned int i = 0; i < RUN; i++) {
			uint32_t a = atomic_load(&sh->page[p + i].acked);
			uint32_t f = atomic_load(&sh->page[p + i].flight);
			const char *b = buf + (size_t)i * PAGE;

			if (r.err == EIO && f) {
				(*eio)++;
			} else if (r.err || r.len != RUN * PAGE ||
				   !(page_is(b, p + i, a) ||
				     (f && page_is(b, p + i, f)))) {
				fprintf(stderr,
					"FAIL: page %" PRIu64 ": %s (acked "
					"%" PRIu32 ", in flight %" PRIu32 ")\n",
					p + i,
					r.err ? strerror(r.err) : "wrong", a,
					f);
				bad++;
			}
		}
		for (unsigned int i = 0; i < RUN; i++) {
			if (!atomic_load(&sh->page[p + i].flight))
				continue;
			/* what the kernel would resend */
			bad += write_run(fs, p + i, 1);
			(*redone)++;
		}
	}
	return bad;
}

struct wctx {
	struct cnmfs *fs;
	unsigned int k;
};

/* Thread k writes the runs r with r % THREADS == k: one write per page at
 * a time, as the reference has room for one in flight. */
static void *writer(void *arg)
{
	struct wctx *w = arg;
	unsigned int seed = w->k * 7919 + (unsigned int)getpid();

	for (;;) {
		uint64_t run =
			(uint64_t)(rand_r(&seed) % (FPAGES / RUN / THREADS));

		if (write_run(w->fs, (run * THREADS + w->k) * RUN, RUN))
			_exit(1);
	}
	return NULL;
}

static int server(int fd, struct pstore_cfg *pc, unsigned int round)
{
	struct cnmfs_params fp = { .capacity = CAPACITY,
				   .requests = 8,
				   .mountpoint = "/itest" };
	unsigned int redone = 0, eio = 0;
	static struct wctx w[THREADS];
	pthread_t t[THREADS];
	struct fuse_req r;
	struct state *st;
	struct pstore *ps;
	struct cnmfs *fs;
	char err[256];
	int ret;

	ret = state_attach(fd, &st);
	if (ret) {
		fprintf(stderr, "FAIL: state_attach: %s\n", strerror(-ret));
		return 1;
	}
	pc->arena = state_arena(st);
	ret = pstore_open(pc, &ps, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "FAIL: pstore_open: %s\n", err);
		return 1;
	}
	fp.arena = state_arena(st);
	ret = cnmfs_create(&fp, ps, &fs);
	if (ret) {
		fprintf(stderr, "FAIL: cnmfs_create: %s\n", strerror(-ret));
		return 1;
	}
	req_init(&r, fs, NULL);
	if (round == 0) {
		ops->create(&r, FUSE_ROOT_ID, "swapfile", 0600, &fi);
		req_wait(&r);
		atomic_store(&sh->ino, r.e.ino);
	} else {
		ops->lookup(&r, FUSE_ROOT_ID, "swapfile");
		req_wait(&r);
		if (r.err || r.e.ino != atomic_load(&sh->ino)) {
			fprintf(stderr,
				"FAIL: swapfile: nodeid %" PRIu64
				", was %" PRIu64 "\n",
				(uint64_t)r.e.ino,
				(uint64_t)atomic_load(&sh->ino));
			return 1;
		}
	}
	req_init(&r, fs, NULL);
	ops->open(&r, atomic_load(&sh->ino), &fi);
	req_wait(&r);
	if (round == 0) {
		struct stat s = { .st_size = (off_t)FPAGES * PAGE };

		req_init(&r, fs, NULL);
		ops->setattr(&r, atomic_load(&sh->ino), &s, FUSE_SET_ATTR_SIZE,
			     NULL);
		req_wait(&r);
	}
	if (verify(fs, &redone, &eio))
		return 1;
	printf("server %u: every page checked, %u unacknowledged rewritten "
	       "(%u read EIO)\n",
	       round, redone, eio);
	fflush(stdout);
	for (unsigned int i = 0; i < THREADS; i++) {
		w[i].fs = fs;
		w[i].k = i;
		pthread_create(&t[i], NULL, writer, &w[i]);
	}
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct cnmfs_params fp = { .capacity = CAPACITY };
	struct pstore_cfg pc = { 0 };
	struct auth_key key = { 0 };
	unsigned int rounds = 3;
	struct state *st;
	char err[256];
	int c, ret, failed = 0;

	pc.transport = XPORT_TCP;
	pc.capacity = CAPACITY;
	pc.slab_size = 1ull << 20;
	pc.replicas = 1;
	pc.w_free = 1;
	pc.ctl_timeout_ms = 3000;
	pc.io_timeout_ms = 20000;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			pc.replicas = (unsigned int)atoi(optarg);
		else if (c == 'n')
			rounds = (unsigned int)atoi(optarg);
		else
			return 2;
	}
	if (getenv("CNM_KEY")) {
		if (auth_key_load(getenv("CNM_KEY"), &key, err, sizeof(err))) {
			fprintf(stderr, "CNM_KEY: %s\n", err);
			return 2;
		}
		pc.key = &key;
	}
	pc.donors = (const char *const *)&argv[optind];
	pc.ndonors = argc - optind;
	ops = cnmfs_ops();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	ret = state_create(&pc, &fp, &st);
	if (ret) {
		fprintf(stderr, "FAIL: state_create: %s\n", strerror(-ret));
		return 1;
	}
	srand48((long)time(NULL) ^ getpid());
	for (unsigned int r = 0; r <= rounds && !failed; r++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			return 2;
		if (!pid)
			_exit(server(dup(state_fd(st)), &pc, r));
		/* to open and check, then mid-write; the last one too */
		usleep(2500000 + (useconds_t)(lrand48() % 1500000));
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid)
			return 2;
		if (WIFEXITED(status)) {
			fprintf(stderr, "FAIL: server %u failed\n", r);
			failed = 1;
		} else {
			printf("server %u killed\n", r);
			fflush(stdout);
		}
	}
	state_close(st);
	if (!failed)
		printf("ok: %u kills, every page as acknowledged\n", rounds);
	return failed;
}
