// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_resume_itest - a page store in a state arena (fs/state.h) whose
 * serving process is SIGKILLed mid-write, again and again, over real
 * donors (TCP), driven by the shell test next to it.
 *
 *   pstore_resume_itest [--replicas R] [--rounds N] [--backup PATH]
 *                       HOST:PORT...
 *
 * The parent plays the supervisor: state_create(), then N times: fork a
 * server that attaches, opens the store on the arena (the first one lays
 * it out, the others resume it: same donors, sessions, key, slab map),
 * checks every page against the reference, then writes pages in batches
 * until the parent SIGKILLs it at a random moment. The reference lives in
 * memory shared with the parent: per page the generation of its last
 * acknowledged write and of the write in flight. A page must read back
 * as its acknowledged generation, or as the one in flight when that write
 * was never acknowledged (or EIO then: the kernel would resend it); such
 * a page is then rewritten and must read back right. A last server
 * checks everything once more and closes the store cleanly.
 *
 * Exit status 0 on success, 1 on a failed check (with a line saying which).
 */
#include "common/arena.h"
#include "fs/fs.h"
#include "fs/state.h"
#include "placement/pstore.h"
#include "rdma/auth.h"
#include "rdma/xport.h"

#include <errno.h>
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

#define SLAB	 (1ull << 20)
#define CAPACITY (32ull << 20)
#define NPAGES	 2048u
#define BATCH	 64u

struct ref {
	_Atomic uint32_t acked;	 /* generation acknowledged, 0: never */
	_Atomic uint32_t flight; /* generation in flight, 0: none */
};

static struct ref *refs; /* NPAGES, shared with the parent */

struct wreq {
	struct pstore_req r;
	uint64_t lpn;
	uint32_t gen;
	int status;
	atomic_int *left;
	pthread_mutex_t *lock;
	pthread_cond_t *cv;
};

static void fill(void *buf, uint64_t lpn, uint32_t gen)
{
	uint64_t *p = buf;

	for (unsigned int i = 0; i < PSTORE_PAGE / 8; i++)
		p[i] = (lpn * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)gen << 40) ^
		       i;
}

static int page_is(const void *buf, uint64_t lpn, uint32_t gen)
{
	static _Thread_local uint64_t want[PSTORE_PAGE / 8];

	if (!gen) {
		memset(want, 0, sizeof(want));
		return memcmp(buf, want, PSTORE_PAGE) == 0;
	}
	fill(want, lpn, gen);
	return memcmp(buf, want, PSTORE_PAGE) == 0;
}

static void wreq_done(struct pstore_req *r, int status)
{
	struct wreq *w = (struct wreq *)r;

	w->status = status;
	/* the reference moves only once the store answered: as fs/ would
	 * answer the kernel */
	if (r->dir == XPORT_WRITE && !status) {
		atomic_store(&refs[w->lpn].acked, w->gen);
		atomic_store(&refs[w->lpn].flight, 0);
	}
	pthread_mutex_lock(w->lock);
	if (atomic_fetch_sub(w->left, 1) == 1)
		pthread_cond_signal(w->cv);
	pthread_mutex_unlock(w->lock);
}

/* Runs n requests (one page each) on pages lpn[0..n) and waits. */
static void run_batch(struct pstore *ps, enum xport_dir dir,
		      const uint64_t *lpn, const uint32_t *gen, unsigned int n,
		      char *bufs, struct wreq *w)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	atomic_int left = (int)n;

	for (unsigned int i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].lpn = lpn[i];
		w[i].gen = gen ? gen[i] : 0;
		w[i].left = &left;
		w[i].lock = &lock;
		w[i].cv = &cv;
		w[i].r.dir = dir;
		w[i].r.npages = 1;
		w[i].r.lpn = &w[i].lpn;
		w[i].r.buf = bufs + (size_t)i * PSTORE_PAGE;
		w[i].r.done = wreq_done;
		if (dir == XPORT_WRITE) {
			fill(w[i].r.buf, lpn[i], gen[i]);
			atomic_store(&refs[lpn[i]].flight, gen[i]);
		}
	}
	for (unsigned int i = 0; i < n; i++)
		pstore_submit(ps, &w[i].r);
	pthread_mutex_lock(&lock);
	while (atomic_load(&left))
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
}

/* Reads every page and checks it against the reference; pages whose last
 * write was never acknowledged are rewritten. Returns failures. */
static int verify_all(struct pstore *ps, char *bufs, struct wreq *w,
		      uint32_t *next_gen, unsigned int *redone,
		      unsigned int *eio)
{
	uint64_t lpn[BATCH];
	uint32_t gen[BATCH];
	unsigned int nre = 0;
	int bad = 0;

	for (uint64_t p0 = 0; p0 < NPAGES; p0 += BATCH) {
		unsigned int n = 0;

		for (unsigned int i = 0; i < BATCH; i++)
			lpn[i] = p0 + i;
		run_batch(ps, XPORT_READ, lpn, NULL, BATCH, bufs, w);
		for (unsigned int i = 0; i < BATCH; i++) {
			uint64_t p = lpn[i];
			uint32_t a = atomic_load(&refs[p].acked);
			uint32_t f = atomic_load(&refs[p].flight);
			const char *b = bufs + (size_t)i * PSTORE_PAGE;
			int ok;

			if (w[i].status == -EIO && f) {
				(*eio)++;
				ok = 1;
			} else {
				ok = !w[i].status && (page_is(b, p, a) ||
						      (f && page_is(b, p, f)));
			}
			if (!ok) {
				fprintf(stderr,
					"FAIL: page %" PRIu64 ": %s (acked "
					"%" PRIu32 ", in flight %" PRIu32 ")\n",
					p,
					w[i].status ? strerror(-w[i].status)
						    : "wrong bytes",
					a, f);
				bad++;
			}
			if (f)
				lpn[n] = p, gen[n++] = (*next_gen)++;
		}
		if (n) {
			/* the write the kernel would resend: redo it */
			run_batch(ps, XPORT_WRITE, lpn, gen, n, bufs, w);
			for (unsigned int i = 0; i < n; i++)
				if (w[i].status) {
					fprintf(stderr,
						"FAIL: page %" PRIu64
						": rewrite: %s\n",
						lpn[i], strerror(-w[i].status));
					bad++;
				}
			run_batch(ps, XPORT_READ, lpn, NULL, n, bufs, w);
			for (unsigned int i = 0; i < n; i++)
				if (w[i].status ||
				    !page_is(bufs + (size_t)i * PSTORE_PAGE,
					     lpn[i], gen[i])) {
					fprintf(stderr,
						"FAIL: page %" PRIu64
						": rewritten, reads back "
						"wrong\n",
						lpn[i]);
					bad++;
				}
			nre += n;
		}
	}
	*redone += nre;
	return bad;
}

/* One serving process: attach, open, verify, write until killed (or, the
 * last one, until done). Exit status: 0 or 1. */
static int server(int fd, struct pstore_cfg *cfg, uint32_t round, int last)
{
	static char bufs[BATCH * PSTORE_PAGE];
	static struct wreq w[BATCH];
	unsigned int redone = 0, eio = 0;
	uint32_t next_gen = (round + 1) << 20;
	uint64_t lpn[BATCH];
	uint32_t gen[BATCH];
	struct state *st;
	struct pstore *ps;
	char err[256];
	int ret, bad;

	ret = state_attach(fd, &st);
	if (ret) {
		fprintf(stderr, "FAIL: state_attach: %s\n", strerror(-ret));
		return 1;
	}
	if (state_restarts(st) != round) {
		fprintf(stderr, "FAIL: state_restarts %" PRIu32 ", want %u\n",
			state_restarts(st), round);
		return 1;
	}
	cfg->arena = state_arena(st);
	ret = pstore_open(cfg, &ps, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "FAIL: server %u: pstore_open: %s\n", round,
			err);
		return 1;
	}
	if (round == 0) {
		for (uint64_t p = 0; p < NPAGES; p++) {
			uint64_t got;

			if (pstore_page_alloc(ps, p, &got) || got != p) {
				fprintf(stderr,
					"FAIL: page alloc %" PRIu64 "\n", p);
				return 1;
			}
		}
	} else if (pstore_pages_used(ps) != NPAGES) {
		fprintf(stderr,
			"FAIL: resumed with %" PRIu64 " pages used, want %u\n",
			pstore_pages_used(ps), NPAGES);
		return 1;
	}
	bad = verify_all(ps, bufs, w, &next_gen, &redone, &eio);
	printf("server %u: every page checked, %u unacknowledged rewritten "
	       "(%u read EIO)\n",
	       round, redone, eio);
	fflush(stdout);
	if (bad)
		return 1;
	srand48((long)getpid());
	/* batches of random distinct pages until killed */
	for (unsigned int b = 0; !last || b < 40; b++) {
		uint64_t base =
			(uint64_t)(lrand48() % (NPAGES / BATCH)) * BATCH;

		for (unsigned int i = 0; i < BATCH; i++) {
			lpn[i] = base + i;
			gen[i] = next_gen++;
		}
		run_batch(ps, XPORT_WRITE, lpn, gen, BATCH, bufs, w);
		for (unsigned int i = 0; i < BATCH; i++)
			if (w[i].status) {
				fprintf(stderr,
					"FAIL: page %" PRIu64 ": write: %s\n",
					lpn[i], strerror(-w[i].status));
				return 1;
			}
	}
	bad = verify_all(ps, bufs, w, &next_gen, &redone, &eio);
	pstore_close(ps);
	state_close(st);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "backup", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct cnmfs_params fp = { .capacity = CAPACITY };
	struct pstore_cfg cfg = { 0 };
	struct auth_key key = { 0 };
	unsigned int rounds = 3;
	struct state *st;
	char err[256];
	int c, ret, failed = 0;

	cfg.transport = XPORT_TCP;
	cfg.capacity = CAPACITY;
	cfg.slab_size = SLAB;
	cfg.replicas = 1;
	cfg.w_free = 1;
	cfg.ctl_timeout_ms = 3000;
	cfg.io_timeout_ms = 20000;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			cfg.replicas = (unsigned int)atoi(optarg);
			break;
		case 'n':
			rounds = (unsigned int)atoi(optarg);
			break;
		case 'b':
			cfg.backup_path = optarg;
			break;
		default:
			return 2;
		}
	}
	if (getenv("CNM_KEY")) {
		if (auth_key_load(getenv("CNM_KEY"), &key, err, sizeof(err))) {
			fprintf(stderr, "CNM_KEY: %s\n", err);
			return 2;
		}
		cfg.key = &key;
	}
	cfg.donors = (const char *const *)&argv[optind];
	cfg.ndonors = argc - optind;
	refs = mmap(NULL, NPAGES * sizeof(*refs), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (refs == MAP_FAILED)
		return 2;
	ret = state_create(&cfg, &fp, &st);
	if (ret) {
		fprintf(stderr, "FAIL: state_create: %s\n", strerror(-ret));
		return 1;
	}
	srand48((long)time(NULL) ^ getpid());
	for (uint32_t r = 0; r <= rounds && !failed; r++) {
		int last = r == rounds, status;
		pid_t pid = fork();

		if (pid < 0)
			return 2;
		if (!pid) {
			int fd = dup(state_fd(st));

			_exit(server(fd, &cfg, r, last));
		}
		if (!last) {
			/* long enough to open and check, then mid-write */
			usleep(1500000 + (useconds_t)(lrand48() % 1500000));
			kill(pid, SIGKILL);
		}
		if (waitpid(pid, &status, 0) != pid)
			return 2;
		if (WIFEXITED(status) && WEXITSTATUS(status)) {
			fprintf(stderr, "FAIL: server %" PRIu32 " failed\n", r);
			failed = 1;
		} else if (!last && !WIFSIGNALED(status)) {
			fprintf(stderr,
				"FAIL: server %" PRIu32
				" ended before it was killed\n",
				r);
			failed = 1;
		} else if (!last) {
			printf("server %" PRIu32 " killed\n", r);
		}
		fflush(stdout);
	}
	state_close(st);
	if (!failed)
		printf("ok: %u kills, every page as acknowledged\n", rounds);
	return failed;
}
