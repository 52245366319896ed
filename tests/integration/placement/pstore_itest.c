// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pstore_itest - the page store over real donors (TCP), driven by the
 * shell tests next to it.
 *
 *   pstore_itest spread [--replicas R] [--threads T] [--pages N]
 *                [--backup PATH] [--kill PID,PID,...] HOST:PORT...
 *       T threads write N random pages (many requests in flight each),
 *       read them back verified; checks that every slab has R replicas on
 *       distinct donors, that the donors' QUERY accounts for every copy
 *       and no donor holds more than its even share + 1 slab, and that
 *       ops per post > 1 over all donors. With --kill, SIGKILLs those
 *       donors and reads everything again, byte for byte, from the backup.
 *
 *   pstore_itest evict [--replicas R] HOST:PORT...
 *       writes pages, asks donor 0 (RECLAIM) for half the slabs it holds,
 *       waits until they moved to other donors and were freed, then reads
 *       everything with each donor failing in turn.
 *
 *   pstore_itest drain --add HOST:PORT [--replicas R] HOST:PORT...
 *       writes pages, adds the --add donor, drains the first donor while
 *       writers go on, then checks that it holds nothing, that every slab
 *       has R replicas on distinct donors and every page reads back from
 *       each surviving replica.
 *
 *   pstore_itest kill-one --kill PID [--replicas R] HOST:PORT...
 *       writes pages, SIGKILLs PID (the first donor), reads everything
 *       (no error allowed), waits until no slab is degraded
 *       (printing how long it took) and checks every page on each
 *       surviving replica.
 *
 *   pstore_itest lose-each --kill PID,PID,... HOST:PORT...
 *   pstore_itest lose-each --mem fault:NAME...
 *       writes pages, then loses each donor in turn (SIGKILL of the tcp
 *       donor's PID, or the fault transport's break over a local donor)
 *       and prints, in words that must not depend on the transport, what
 *       the reader saw and what the store's stats say: the donor's state,
 *       the repair, the slabs left degraded, the error once no copy is
 *       left.
 *
 *   pstore_itest hang-one --stop PID HOST:PORT...
 *   pstore_itest hang-one --mem fault:NAME...
 *       writes pages, then donor 0 stops answering while connected
 *       (SIGSTOP of the tcp donor's PID, or the fault transport's hang)
 *       until its io timeout declares it dead, then answers again
 *       (SIGCONT, or the hang's end), and prints, in words that must not
 *       depend on the transport, what the reader saw and what the
 *       store's stats say.
 *
 *   pstore_itest open-error EXPECT [--key FILE] [--replicas R] HOST:PORT...
 *       pstore_open must fail and its message must contain EXPECT.
 *
 * Exit status 0 on success, 1 on a failed check (with a line saying which).
 */
#include "common/log.h"
#include "common/parse.h"
#include "placement/pstore.h"
#include "placement/pstore_test.h"
#include "rdma/auth.h"
#include "rdma/fault.h"
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
#include <time.h>
#include <unistd.h>

#include "itest.h"

static void usage(void)
{
	fprintf(stderr, "usage: pstore_itest spread|open-error ... (see the "
			"source)\n");
}

/*
 * Every slab in use has cfg->replicas copies on distinct donors; with
 * gone set, none on donor 0 (gone ends the message saying why not).
 * Returns the number of slabs in use.
 */
static unsigned int check_replicas(struct pstore *ps,
				   const struct pstore_cfg *cfg,
				   const char *gone)
{
	unsigned int nslabs = 0;
	/* fewer than SLAB / PSTORE_PAGE when pages are sealed (their tags
	 * share the remote slab) */
	uint64_t pps = pstore_test_pages_per_slab(ps);

	for (uint64_t s = 0; s * pps < cfg->capacity / PSTORE_PAGE; s++) {
		unsigned int d[PSTORE_MAX_REPLICAS];
		uint32_t rs[PSTORE_MAX_REPLICAS];
		int n = pstore_test_slab_replicas(ps, s * pps, d, rs);

		if (n == 0)
			continue;
		nslabs++;
		CHECK(n == (int)cfg->replicas, "slab %" PRIu64 ": %d replicas",
		      s, n);
		for (int a = 0; a < n; a++) {
			if (gone)
				CHECK(d[a] != 0, "slab %" PRIu64 " %s", s,
				      gone);
			for (int b = 0; b < a; b++)
				CHECK(d[a] != d[b],
				      "slab %" PRIu64
				      ": two replicas on donor %u",
				      s, d[a]);
		}
	}
	return nslabs;
}

/*
 * Every replica has the data: with one donor (from first on) failing at
 * a time, its slabs are read from the others.
 */
static void read_without_each(struct pstore *ps, uint64_t *lpn,
			      unsigned int npages, unsigned int threads,
			      uint32_t gen, unsigned int first)
{
	for (unsigned int i = first; i < pstore_test_ndonors(ps); i++) {
		int errors;

		struct xport *x = pstore_test_xport(ps, i);

		CHECK(xfault_fail(x, XFAULT_IO, -ECONNRESET) == 0,
		      "donor %u: no fault transport", i);
		errors = run_workers(ps, lpn, npages, threads, XPORT_READ, gen);
		CHECK(errors == 0, "without donor %u: %d pages wrong", i,
		      errors);
		xfault_fail(x, XFAULT_IO, 0);
	}
}

/* Prints the store's JSON, closes it and gives the exit status. */
static int close_store(struct pstore *ps, uint64_t *lpn, const char *json)
{
	printf("%s\n", json);
	free(lpn);
	pstore_close(ps);
	return failures ? 1 : 0;
}

static int cmd_spread(struct pstore_cfg *cfg, unsigned int threads,
		      unsigned int npages, const char *kill_list)
{
	struct pstore *ps;
	static char json[65536];
	uint64_t *lpn;
	unsigned int seed = 4242, ndonors, nslabs;
	uint32_t held_sum = 0, held_max = 0;
	uint64_t ops = 0, posts = 0;
	int ret, errors;
	double t_start = now_s();

	if (open_store(cfg, &ps))
		return 1;
	fprintf(stderr, "phase open: %.3f s\n", now_s() - t_start);
	lpn = alloc_pages(ps, cfg, &seed, npages);
	if (!lpn)
		return 1;
	/* random order: no two neighbours in flight merge */
	for (unsigned int i = npages - 1; i > 0; i--) {
		unsigned int j = (unsigned int)rand_r(&seed) % (i + 1);
		uint64_t t = lpn[i];

		lpn[i] = lpn[j];
		lpn[j] = t;
	}

	errors = run_workers(ps, lpn, npages, threads, XPORT_WRITE, 1);
	CHECK(errors == 0, "%d write errors", errors);
	errors = run_workers(ps, lpn, npages, threads, XPORT_READ, 1);
	CHECK(errors == 0, "%d read errors or mismatches", errors);

	read_without_each(ps, lpn, npages, threads, 1, 0);

	/* placement: R distinct donors per slab */
	ndonors = pstore_test_ndonors(ps);
	nslabs = check_replicas(ps, cfg, NULL);
	for (unsigned int i = 0; i < ndonors; i++) {
		struct wire_state st;
		struct xport_stats xs;

		ret = xport_query(pstore_test_xport(ps, i), &st);
		CHECK(ret == 0, "donor %u: query: %d", i, ret);
		held_sum += st.session_slabs;
		if (st.session_slabs > held_max)
			held_max = st.session_slabs;
		xport_get_stats(pstore_test_xport(ps, i), &xs);
		ops += xs.ops;
		posts += xs.posts;
		printf("donor %u: %" PRIu32 " slabs, %" PRIu64
		       " ops in %" PRIu64 " posts\n",
		       i, st.session_slabs, xs.ops, xs.posts);
	}
	printf("%u slabs x %u replicas over %u donors; ops per post %.2f\n",
	       nslabs, cfg->replicas, ndonors, posts ? (double)ops / posts : 0);
	CHECK(held_sum == nslabs * cfg->replicas,
	      "donors hold %" PRIu32 " slabs, expected %u", held_sum,
	      nslabs * cfg->replicas);
	/* even share of the copies, plus one slab of slack */
	CHECK(held_max <= (nslabs * cfg->replicas + ndonors - 1) / ndonors + 1,
	      "a donor holds %" PRIu32 " of %u slab copies", held_max,
	      nslabs * cfg->replicas);
	CHECK(posts > 0 && ops > posts,
	      "no batching: %" PRIu64 " ops in %" PRIu64 " posts", ops, posts);
	get_json(ps, json, sizeof(json), NULL, NULL);

	if (kill_list && *kill_list) {
		char *list = strdup(kill_list), *save = NULL;

		for (char *p = strtok_r(list, ",", &save); p;
		     p = strtok_r(NULL, ",", &save)) {
			pid_t pid = (pid_t)atoi(p);

			CHECK(pid > 0 && kill(pid, SIGKILL) == 0, "kill %s: %s",
			      p, strerror(errno));
		}
		free(list);
		printf("killed every donor; reading back from the backup\n");
		errors = run_workers(ps, lpn, npages, threads, XPORT_READ, 1);
		CHECK(errors == 0, "%d pages did not read back from the backup",
		      errors);
	}
	printf("%s\n", json);
	free(lpn);
	t_start = now_s();
	pstore_close(ps);
	fprintf(stderr, "phase close: %.3f s\n", now_s() - t_start);
	return failures ? 1 : 0;
}

static uint32_t query_slabs(struct pstore *ps, unsigned int i,
			    uint32_t *evicting)
{
	struct wire_state st;
	int ret = xport_query(pstore_test_xport(ps, i), &st);

	CHECK(ret == 0, "donor %u: query: %d", i, ret);
	if (evicting)
		*evicting = ret ? 0 : st.evicting;
	return ret ? 0 : st.session_slabs;
}

/* RECLAIM needs the operator's key ($CNM_OPKEY, tests/lib/common.sh),
 * over a connection of its own to donor "HOST:PORT". */
static int operator_reclaim(const char *donor, uint64_t bytes)
{
	struct xport_cfg xc = { .kind = XPORT_TCP, .slab_size = SLAB };
	const char *path = getenv("CNM_OPKEY");
	char host[256], port[32], err[256];
	struct auth_key key = { 0 };
	struct xport *x;
	int ret;

	if (parse_hostport(donor, NULL, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	if (path) {
		ret = auth_key_load(path, &key, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "CNM_OPKEY: %s\n", err);
			return ret;
		}
		snprintf(key.name, sizeof(key.name), AUTH_OPERATOR);
		xc.key = &key;
	}
	xc.host = host;
	xc.port = port;
	auth_random(xc.session, sizeof(xc.session));
	ret = xport_open(&xc, &x);
	if (ret)
		return ret;
	ret = xport_wait_up(x, 5000);
	if (!ret)
		ret = xport_reclaim(x, bytes);
	xport_close(x);
	return ret;
}

static int cmd_evict(struct pstore_cfg *cfg, unsigned int threads,
		     unsigned int npages)
{
	struct pstore *ps;
	static char json[65536];
	uint64_t *lpn;
	uint32_t before, after = 0, evicting = 1, asked;
	int ret, errors, tries;
	double t0;

	if (open_and_write(cfg, threads, npages, 99, 1, &ps, &lpn))
		return 1;
	before = query_slabs(ps, 0, NULL);
	asked = before / 2;
	CHECK(asked > 0, "donor 0 holds %" PRIu32 " slabs", before);
	t0 = now_s();
	ret = operator_reclaim(cfg->donors[0], (uint64_t)asked * SLAB);
	CHECK(ret == 0, "reclaim: %d", ret);
	/* meanwhile the data stays readable (and writable) */
	errors = run_workers(ps, lpn, npages, threads, XPORT_WRITE, 2);
	CHECK(errors == 0, "%d write errors during migration", errors);
	for (tries = 0; tries < 300; tries++) {
		after = query_slabs(ps, 0, &evicting);
		if (!evicting && after <= before - asked)
			break;
		usleep(100000);
	}
	printf("donor 0: %" PRIu32 " slabs, asked back %" PRIu32
	       ", now %" PRIu32 " (%" PRIu32 " still evicting) after %.2f s\n",
	       before, asked, after, evicting, now_s() - t0);
	CHECK(evicting == 0 && after <= before - asked,
	      "donor 0 still holds %" PRIu32 " slabs, %" PRIu32 " evicting",
	      after, evicting);
	check_replicas(ps, cfg, NULL);
	read_without_each(ps, lpn, npages, threads, 2, 0);
	get_json(ps, json, sizeof(json), "\"degraded_slabs\":0,",
		 "degraded slabs left");
	return close_store(ps, lpn, json);
}

struct bg_writer {
	struct pstore *ps;
	uint64_t *lpn;
	unsigned int n, threads;
	atomic_int stop;
	int errors, rounds;
};

static void *bg_main(void *arg)
{
	struct bg_writer *b = arg;

	while (!atomic_load(&b->stop)) {
		b->errors += run_workers(b->ps, b->lpn, b->n, b->threads,
					 XPORT_WRITE, 3);
		b->rounds++;
	}
	return NULL;
}

static int cmd_drain(struct pstore_cfg *cfg, unsigned int threads,
		     unsigned int npages, const char *add)
{
	struct pstore *ps;
	char err[512];
	static char json[65536];
	uint64_t *lpn;
	struct bg_writer bg;
	pthread_t t;
	int ret;
	double t0;

	if (open_and_write(cfg, threads, npages, 7, 3, &ps, &lpn))
		return 1;
	ret = pstore_donor_add(ps, add, err, sizeof(err));
	CHECK(ret == 0, "donor add %s: %s (%d)", add, err, ret);
	/* the same pages are rewritten (same data) while the drain runs */
	bg = (struct bg_writer){ ps, lpn, npages, threads, 0, 0, 0 };
	pthread_create(&t, NULL, bg_main, &bg);
	t0 = now_s();
	ret = pstore_donor_drain(ps, cfg->donors[0], 60000, NULL, 0);
	printf("drained %s in %.2f s (%d)\n", cfg->donors[0], now_s() - t0,
	       ret);
	atomic_store(&bg.stop, 1);
	pthread_join(t, NULL);
	CHECK(ret == 0, "drain: %d", ret);
	CHECK(bg.errors == 0, "%d write errors during the drain", bg.errors);
	check_replicas(ps, cfg, "still on the drained donor");
	read_without_each(ps, lpn, npages, threads, 3, 1);
	get_json(ps, json, sizeof(json), "\"state\":\"drained\",\"slabs\":0",
		 "the drained donor is not shown drained");
	return close_store(ps, lpn, json);
}

static int cmd_kill_one(struct pstore_cfg *cfg, unsigned int threads,
			unsigned int npages, const char *pid_s)
{
	struct pstore *ps;
	static char json[65536];
	uint64_t *lpn;
	int ret, errors, tries, degraded = -1;
	double t0;

	if (open_and_write(cfg, threads, npages, 11, 4, &ps, &lpn))
		return 1;
	CHECK(kill((pid_t)atoi(pid_s), SIGKILL) == 0, "kill %s: %s", pid_s,
	      strerror(errno));
	t0 = now_s();
	/* reads go on without an error; no write tells pstore the copies
	 * there are gone: the donor being down past the grace does */
	errors = run_workers(ps, lpn, npages, threads, XPORT_READ, 4);
	CHECK(errors == 0, "%d read errors after the kill", errors);
	for (tries = 0; tries < 600; tries++) {
		const char *p;

		ret = pstore_json(ps, json, sizeof(json));
		p = ret > 0 ? strstr(json, "\"degraded_slabs\":") : NULL;
		degraded = p ? atoi(p + strlen("\"degraded_slabs\":")) : -1;
		if (degraded == 0)
			break;
		usleep(50000);
	}
	printf("killed donor 0; full replication again after %.2f s\n",
	       now_s() - t0);
	CHECK(degraded == 0, "%d slabs still degraded", degraded);
	check_replicas(ps, cfg, "on the dead donor");
	read_without_each(ps, lpn, npages, threads, 4, 1);
	return close_store(ps, lpn, json);
}

static int cmd_open_error(struct pstore_cfg *cfg, const char *expect)
{
	struct pstore *ps = NULL;
	char err[512];
	int ret;

	ret = pstore_open(cfg, &ps, err, sizeof(err));
	printf("pstore_open: %d: %s\n", ret, err);
	CHECK(ret < 0, "pstore_open succeeded");
	CHECK(strstr(err, expect) != NULL, "message lacks \"%s\"", expect);
	if (!ret)
		pstore_close(ps);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "pages", required_argument, NULL, 'n' },
		{ "backup", required_argument, NULL, 'b' },
		{ "kill", required_argument, NULL, 'k' },
		{ "key", required_argument, NULL, 'K' },
		{ "add", required_argument, NULL, 'a' },
		{ "mem", no_argument, NULL, 'm' },
		{ "stop", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct pstore_cfg cfg = { 0 };
	struct auth_key key = { 0 };
	const char *cmd, *kill_list = NULL, *expect = NULL, *add = NULL;
	const char *stop_pid = NULL;
	unsigned int threads = 4, npages = 8192;
	char err[256];
	int c;

	if (argc < 2) {
		usage();
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "open-error")) {
		if (argc < 3) {
			usage();
			return 2;
		}
		expect = argv[2];
		argv += 1;
		argc -= 1;
	}
	/* every donor under a fault transport: it passes everything through
	 * until a check fails a donor on purpose */
	xfault_wrap_all(true);
	cfg.transport = XPORT_TCP;
	cfg.capacity = CAPACITY;
	cfg.slab_size = SLAB;
	cfg.replicas = 2;
	/* free slabs decide: latency between loopback donors is noise */
	cfg.w_free = 1;
	cfg.ctl_timeout_ms = 3000;
	cfg.io_timeout_ms = 20000;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			cfg.replicas = (unsigned int)atoi(optarg);
			break;
		case 't':
			threads = (unsigned int)atoi(optarg);
			break;
		case 'n':
			npages = (unsigned int)atoi(optarg);
			break;
		case 'b':
			cfg.backup_path = optarg;
			break;
		case 'k':
			kill_list = optarg;
			break;
		case 'a':
			add = optarg;
			break;
		case 'm':
			cfg.transport = XPORT_MEM;
			break;
		case 's':
			stop_pid = optarg;
			break;
		case 'K':
			if (auth_init() ||
			    auth_key_load(optarg, &key, err, sizeof(err))) {
				fprintf(stderr, "key: %s\n", err);
				return 2;
			}
			cfg.key = &key;
			break;
		default:
			usage();
			return 2;
		}
	}
	/* tests/lib/common.sh gives every donor $CNM_KEY */
	if (!cfg.key && getenv("CNM_KEY")) {
		if (auth_init() ||
		    auth_key_load(getenv("CNM_KEY"), &key, err, sizeof(err))) {
			fprintf(stderr, "CNM_KEY: %s\n", err);
			return 2;
		}
		cfg.key = &key;
	}
	if (threads < 1 || threads > MAX_THREADS || optind >= argc) {
		usage();
		return 2;
	}
	cfg.donors = (const char *const *)&argv[optind];
	cfg.ndonors = argc - optind;
	if (!strcmp(cmd, "spread"))
		return cmd_spread(&cfg, threads, npages, kill_list);
	if (!strcmp(cmd, "evict"))
		return cmd_evict(&cfg, threads, npages);
	if (!strcmp(cmd, "kill-one") && kill_list)
		return cmd_kill_one(&cfg, threads, npages, kill_list);
	if (!strcmp(cmd, "lose-each"))
		return cmd_lose_each(&cfg, threads, npages, kill_list);
	if (!strcmp(cmd, "hang-one"))
		return cmd_hang_one(&cfg, threads, npages, stop_pid);
	if (!strcmp(cmd, "drain") && add)
		return cmd_drain(&cfg, threads, npages, add);
	if (expect)
		return cmd_open_error(&cfg, expect);
	usage();
	return 2;
}
