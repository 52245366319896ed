// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * itest_lose - pstore_itest lose-each: the donors are lost one after the
 * other, each the way its transport loses a connection (SIGKILL of a tcp
 * donor, the fault transport's break over a local one), and what a reader
 * sees and what the store's stats say is printed in words that must not
 * depend on the transport, so the shell test can compare the two runs.
 *
 * Threading: the main thread; completions come on the store's threads
 * and signal it under a lock.
 */
#include "itest.h"

#include "placement/pstore_test.h"
#include "rdma/fault.h"

#include <errno.h>
#include <signal.h>
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
