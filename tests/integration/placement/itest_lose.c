// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * itest_lose - pstore_itest lose-each: the donors are lost one after the
 * other, each the way its transport loses a connection (SIGKILL of a tcp
 * donor, the fault transport's break over a local one), and what a reader
 * sees and what the store's stats say is printed in words that must not
 * depend on the transport, so the shell test can compare the two runs.
 * pstore_itest hang-one: the same for a donor that stays connected but
 * stops answering (SIGSTOP, or the fault transport's hang).
 *
 * Threading: the main thread; completions come on the store's threads
 * and signal it under a lock.
 */
#include "itest.h"

#include "placement/pstore_test.h"
#include "rdma/fault.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* As wreq_done(), quietly, keeping the status in *r->priv. */
static void lose_done(struct pstore_req *r, int status)
{
	struct wreq *w = (struct wreq *)r;

	*(int *)r->priv = status;
	pthread_mutex_lock(w->lock);
	if (atomic_fetch_sub(w->left, 1) == 1)
		pthread_cond_signal(w->cv);
	pthread_mutex_unlock(w->lock);
}

/* Reads every page, all requests in flight at once (a read with no copy
 * in reach waits out the io timeout): how many failed, the first error. */
static unsigned int read_each(struct pstore *ps, const uint64_t *lpn,
			      unsigned int npages, uint32_t gen, int *first_err)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct wreq *w = calloc(npages, sizeof(*w));
	char *buf = malloc((size_t)npages * PSTORE_PAGE);
	int *status = calloc(npages, sizeof(*status));
	atomic_int left = (int)npages, errors = 0;
	unsigned int failed = 0;

	*first_err = 0;
	if (!w || !buf || !status) {
		CHECK(0, "read_each: out of memory");
		failed = npages;
		goto out_free;
	}
	for (unsigned int i = 0; i < npages; i++) {
		w[i].lpn = lpn[i];
		w[i].left = &left;
		w[i].errors = &errors;
		w[i].lock = &lock;
		w[i].cv = &cv;
		w[i].r.dir = XPORT_READ;
		w[i].r.npages = 1;
		w[i].r.lpn = &w[i].lpn;
		w[i].r.buf = buf + (size_t)i * PSTORE_PAGE;
		w[i].r.done = lose_done;
		w[i].r.priv = &status[i];
		pstore_submit(ps, &w[i].r);
	}
	pthread_mutex_lock(&lock);
	while (atomic_load(&left))
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
	for (unsigned int i = 0; i < npages; i++) {
		int ret = status[i];

		if (!ret &&
		    !page_ok(buf + (size_t)i * PSTORE_PAGE, lpn[i], gen))
			ret = -EILSEQ; /* a wrong byte: never allowed */
		if (ret && !*first_err)
			*first_err = ret;
		failed += ret != 0;
	}
out_free:
	free(status);
	free(buf);
	free(w);
	return failed;
}

/* An int field of donor i's object in the store's JSON, or -1. */
static long donor_field(const char *json, unsigned int i, const char *key)
{
	const char *p = strstr(json, "\"donors\":[");
	char k[64];

	for (unsigned int n = 0; p && n <= i; n++)
		p = strstr(p + 1, "{\"addr\":");
	if (!p)
		return -1;
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(p, k);
	return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

static long store_field(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

/* Polls the JSON until donor i's state is want (up to 10 s). */
static int wait_state(struct pstore *ps, char *json, size_t size,
		      unsigned int i, const char *want)
{
	char w[64];

	snprintf(w, sizeof(w), "\"state\":\"%s\"", want);
	for (int tries = 0; tries < 200; tries++) {
		const char *p;

		get_json(ps, json, size, NULL, NULL);
		p = strstr(json, "\"donors\":[");
		for (unsigned int n = 0; p && n <= i; n++)
			p = strstr(p + 1, "{\"addr\":");
		p = p ? strstr(p, "\"state\":") : NULL;
		if (p && !strncmp(p, w, strlen(w)))
			return 0;
		usleep(50000);
	}
	return -1;
}

/* Polls until degraded_slabs is want (up to 30 s); returns it. */
static long wait_degraded(struct pstore *ps, char *json, size_t size, long want)
{
	long n = -1;

	for (int tries = 0; tries < 600 && n != want; tries++) {
		if (tries)
			usleep(50000);
		get_json(ps, json, size, NULL, NULL);
		n = store_field(json, "degraded_slabs");
	}
	return n;
}

/*
 * Loses the donors one after the other, each the way its transport loses
 * a connection: SIGKILL for a tcp donor (pids given), the fault
 * transport's break (ECONNRESET) for a fault: donor. Prints on stdout what
 * a reader and the store's stats show, in words that must not depend on
 * the transport (the shell test compares the two runs).
 */
int cmd_lose_each(struct pstore_cfg *cfg, unsigned int threads,
		  unsigned int npages, const char *pid_list)
{
	static char json[65536];
	const char *pids = pid_list;
	struct pstore *ps;
	uint64_t *lpn;
	unsigned int nd, failed;
	long held0, slabs;
	int err;

	/* a read with every copy out of reach fails after this */
	cfg->io_timeout_ms = 2000;
	if (open_and_write(cfg, threads, npages, 23, 5, &ps, &lpn))
		return 1;
	nd = pstore_test_ndonors(ps);
	get_json(ps, json, sizeof(json), NULL, NULL);
	held0 = donor_field(json, 0, "slabs");
	slabs = store_field(json, "slabs");
	printf("%u donors, %u replicas, %u pages written\n", nd, cfg->replicas,
	       npages);
	for (unsigned int i = 0; i < nd; i++) {
		if (pid_list) {
			CHECK(pids && kill((pid_t)atoi(pids), SIGKILL) == 0,
			      "kill donor %u: %s", i, strerror(errno));
			pids = pids ? strchr(pids, ',') : NULL;
			pids = pids ? pids + 1 : NULL;
		} else {
			CHECK(xfault_break(pstore_test_xport(ps, i),
					   -ECONNRESET) == 0,
			      "donor %u: no fault transport", i);
		}
		failed = read_each(ps, lpn, npages, 5, &err);
		printf("donor %u lost: %u of %u pages fail to read%s%s\n", i,
		       failed, npages, failed ? ": " : "",
		       failed ? strerror(-err) : "");
		CHECK(wait_state(ps, json, sizeof(json), i, "down") == 0,
		      "donor %u is not down", i);
		printf("donor %u: state down\n", i);
		if (i == 0) {
			/* past the grace its copies are lost and replaced */
			CHECK(wait_degraded(ps, json, sizeof(json), 0) == 0,
			      "slabs still degraded");
			printf("full replication again: %s\n",
			       store_field(json, "repaired_slabs") == held0
				       ? "one slab repaired for each slab "
					 "the donor held"
				       : "repaired slabs differ from the "
					 "slabs the donor held");
			printf("donor 0: %ld slabs\n",
			       donor_field(json, 0, "slabs"));
		} else if (i == 1) {
			/* no third donor to repair on: every slab degraded */
			printf("degraded: %s\n",
			       wait_degraded(ps, json, sizeof(json), slabs) ==
					       slabs
				       ? "every slab"
				       : "not every slab");
		}
	}
	/* the JSON goes to stderr: its counters differ between transports */
	fprintf(stderr, "%s\n", json);
	free(lpn);
	pstore_close(ps);
	return failures ? 1 : 0;
}

/* true once every thread of pid is stopped: kill() returns before a
 * thread running on another CPU has stopped, and it could still answer */
static bool all_stopped(pid_t pid)
{
	char path[64], line[512];
	bool all = true;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (all && (e = readdir(d))) {
		const char *st;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat",
			 (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* a thread that just ended */
		st = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		all = st && st[1] == ' ' && (st[2] == 'T' || st[2] == 't');
		fclose(f);
	}
	closedir(d);
	return all;
}

/* Donor 0 stops answering (stop) or answers again (!stop): SIGSTOP or
 * SIGCONT of the tcp donor's process, or the fault transport's hang. */
static void hang_donor0(struct pstore *ps, const char *pid, bool stop)
{
	int tries = 0;

	if (pid) {
		CHECK(kill((pid_t)atoi(pid), stop ? SIGSTOP : SIGCONT) == 0,
		      "%s donor 0: %s", stop ? "stop" : "continue",
		      strerror(errno));
		while (stop && !all_stopped((pid_t)atoi(pid)) && tries++ < 400)
			usleep(5000);
		CHECK(!stop || tries <= 400, "donor 0 did not stop");
	} else {
		CHECK(xfault_hang(pstore_test_xport(ps, 0), stop) == 0,
		      "donor 0: no fault transport");
	}
}

/*
 * Donor 0 stays connected but stops answering until its io timeout
 * declares it dead, then answers again. With another copy, every page is
 * written meanwhile (each write reaches donor 0 and times out there: the
 * reads alone would go to the faster copy, whichever it is); then read.
 * Prints what a writer and a reader see (the other copy serves, or EIO
 * when donor 0 held the only one) and what the stats say of donor 0
 * (down, requests timed out, one reconnect), in words that must not
 * depend on the transport; afterwards every page reads back right.
 */
int cmd_hang_one(struct pstore_cfg *cfg, unsigned int threads,
		 unsigned int npages, const char *stop_pid)
{
	static char json[65536];
	long timeouts, errors, reconnects;
	struct pstore *ps;
	unsigned int failed;
	uint32_t gen = 7;
	uint64_t *lpn;
	int err;

	/* short, so that donor 0 is back within the store's down grace */
	cfg->io_timeout_ms = 1000;
	cfg->ctl_timeout_ms = 500;
	if (open_and_write(cfg, threads, npages, 29, gen, &ps, &lpn))
		return 1;
	get_json(ps, json, sizeof(json), NULL, NULL);
	timeouts = donor_field(json, 0, "timeouts");
	errors = donor_field(json, 0, "errors");
	reconnects = donor_field(json, 0, "reconnects");
	printf("%u donors, %u replicas, %u pages written\n",
	       pstore_test_ndonors(ps), cfg->replicas, npages);

	hang_donor0(ps, stop_pid, true);
	if (cfg->replicas > 1) {
		gen = 8;
		failed = (unsigned int)run_workers(ps, lpn, npages, threads,
						   XPORT_WRITE, gen);
		printf("donor 0 hung: %u of %u pages fail to write\n", failed,
		       npages);
	}
	failed = read_each(ps, lpn, npages, gen, &err);
	printf("donor 0 hung: %u of %u pages fail to read%s%s\n", failed,
	       npages, failed ? ": " : "", failed ? strerror(-err) : "");
	CHECK(wait_state(ps, json, sizeof(json), 0, "down") == 0,
	      "donor 0 is not down");
	printf("donor 0: state down\n");
	printf("donor 0: %s, %s\n",
	       donor_field(json, 0, "timeouts") > timeouts
		       ? "requests timed out"
		       : "no request timed out",
	       donor_field(json, 0, "errors") > errors ? "errors counted"
						       : "no error counted");

	hang_donor0(ps, stop_pid, false);
	CHECK(wait_state(ps, json, sizeof(json), 0, "up") == 0,
	      "donor 0 is not up again");
	printf("donor 0: state up, %ld reconnect(s)\n",
	       donor_field(json, 0, "reconnects") - reconnects);
	failed = read_each(ps, lpn, npages, gen, &err);
	printf("donor 0 back: %u of %u pages fail to read%s%s\n", failed,
	       npages, failed ? ": " : "", failed ? strerror(-err) : "");
	/* the JSON goes to stderr: its counters differ between transports */
	fprintf(stderr, "%s\n", json);
	free(lpn);
	pstore_close(ps);
	return failures ? 1 : 0;
}
