// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_itest_checks - the checks of xport_itest against a real donor:
 * data, auth, kill, evict and stall (see xport_itest.c).
 */
#include "xport_itest.h"

/* --- checks --- */

#define NCONN	 3
#define NTHR	 3
#define DATA_OPS 2500

int cmd_data(void)
{
	struct xport *x[NCONN];
	struct xport_cfg cfg;
	struct xport_slab s[NCONN];
	struct xport_stats st, tot = { 0 };
	static struct worker w[NCONN][NTHR];
	pthread_t th[NCONN][NTHR];
	unsigned int bad = 0, errs = 0, dbl = 0, hung = 0, verr = 0;
	uint64_t multi = 0, big = 0;
	int i, j, b, ret;

	for (i = 0; i < NCONN; i++) {
		cfg_init(&cfg, NULL, i);
		ret = open_up(&cfg, &x[i]);
		check(!ret, "connect", "connection %d: %d", i, ret);
		if (ret)
			return 1;
		ret = xport_alloc(x[i], &s[i]);
		check(!ret && s[i].size == SLAB, "alloc a slab",
		      "connection %d: %d", i, ret);
		if (ret)
			return 1;
	}
	for (i = 0; i < NCONN; i++)
		for (j = 0; j < NTHR; j++) {
			worker_init(&w[i][j], x[i], s[i].slab,
				    (uint64_t)j * (SLAB / NTHR / PAGE) * PAGE,
				    SLAB / NTHR / PAGE,
				    0x9e3779b9u * (i * 7 + j + 1));
			w[i][j].nops = DATA_OPS;
			pthread_create(&th[i][j], NULL, worker_main, &w[i][j]);
		}
	for (i = 0; i < NCONN; i++)
		for (j = 0; j < NTHR; j++) {
			pthread_join(th[i][j], NULL);
			if (worker_drain(&w[i][j], HANG_MS))
				hung++;
		}
	for (i = 0; i < NCONN; i++)
		for (j = 0; j < NTHR; j++) {
			bad += atomic_load(&w[i][j].bad_data);
			errs += atomic_load(&w[i][j].errors);
			dbl += atomic_load(&w[i][j].double_done);
			if (!hung && worker_verify(&w[i][j]))
				verr++;
		}
	check(!hung, "every request completed", "%u workers hung", hung);
	check(!errs, "no request failed", "%u errors", errs);
	check(!dbl, "no request completed twice", "%u", dbl);
	check(!bad, "reads saw every earlier write, byte for byte",
	      "%u bad reads", bad);
	check(!verr, "final read-back of every region matches", "%u bad", verr);
	for (i = 0; i < NCONN; i++) {
		xport_get_stats(x[i], &st);
		tot.posts += st.posts;
		tot.ops += st.ops;
		tot.ios += st.ios;
		tot.bytes_read += st.bytes_read;
		tot.bytes_written += st.bytes_written;
		multi += hist_multi(st.ops_per_post);
		for (b = 3; b < XPORT_HIST; b++)
			big += st.kib_per_op[b];
		check(st.state == XPORT_UP && st.kind == XPORT_TCP,
		      "stats name the backend and state", "conn %d", i);
	}
	printf("# %llu ios, %llu ops, %llu posts: %.2f ops/post, %.2f "
	       "ios/op, %llu chains of 2+ ops, %llu ops of 8 KiB+\n",
	       (unsigned long long)tot.ios, (unsigned long long)tot.ops,
	       (unsigned long long)tot.posts, (double)tot.ops / tot.posts,
	       (double)tot.ios / tot.ops, (unsigned long long)multi,
	       (unsigned long long)big);
	multi += run_bursts(x[0], s[0].slab);
	check(multi > 0, "chains of more than one op under load (stats)",
	      "%llu such chains", (unsigned long long)multi);
	for (i = 0; i < NCONN; i++) {
		struct wire_state ws;
		uint64_t rtt = 0;

		ret = xport_query(x[i], &ws);
		check(!ret && ws.session_slabs == 1 && ws.slab_size == SLAB,
		      "query reports the session's slab", "%d", ret);
		ret = xport_heartbeat(x[i], &rtt);
		check(!ret && rtt > 0, "heartbeat", "%d", ret);
		ret = xport_free(x[i], s[i].slab);
		check(!ret, "free the slab", "%d", ret);
		ret = xport_free(x[i], s[i].slab);
		check(ret < 0, "double free refused", "%d", ret);
		xport_close(x[i]);
		for (j = 0; j < NTHR; j++)
			worker_fini(&w[i][j]);
	}
	return failures != 0;
}

int cmd_auth(const char *good, const char *bad)
{
	struct auth_key kg, kb;
	struct xport_cfg cfg;
	struct xport *x;
	char err[256];
	uint64_t t0;
	int ret;

	if (auth_init() || auth_key_load(good, &kg, err, sizeof(err)) ||
	    auth_key_load(bad, &kb, err, sizeof(err))) {
		fprintf(stderr, "keys: %s\n", err);
		return 2;
	}
	cfg_init(&cfg, NULL, 1);
	cfg.key = &kg;
	ret = open_up(&cfg, &x);
	check(!ret, "the right key is accepted", "%d", ret);
	if (!ret) {
		struct xport_slab s;

		ret = xport_alloc(x, &s);
		check(!ret, "alloc with the right key", "%d", ret);
		xport_close(x);
	}

	cfg.key = &kb;
	t0 = mono_ns();
	ret = xport_open(&cfg, &x);
	if (!ret) {
		ret = xport_wait_up(x, HANG_MS);
		check(ret == -EACCES, "a wrong key is refused with -EACCES",
		      "%d after %llu ms", ret,
		      (unsigned long long)(mono_ns() - t0) / 1000000);
		check(xport_state(x) != XPORT_UP, "not up with a wrong key",
		      NULL);
		xport_close(x);
	}

	cfg.key = NULL;
	cfg.reconnect_max_ms = 1000; /* still refused at once, no spin */
	t0 = mono_ns();
	ret = xport_open(&cfg, &x);
	if (!ret) {
		struct xport_slab s;
		uint8_t buf[PAGE];

		ret = xport_wait_up(x, HANG_MS);
		check(ret == -EACCES, "a missing key is refused with -EACCES",
		      "%d after %llu ms", ret,
		      (unsigned long long)(mono_ns() - t0) / 1000000);
		ret = sync_io(x, XPORT_WRITE, 1, 0, buf, PAGE);
		check(ret == -ENOTCONN, "io without a session fails -ENOTCONN",
		      "%d", ret);
		ret = xport_alloc(x, &s);
		check(ret == -ENOTCONN, "alloc without a session fails", "%d",
		      ret);
		xport_close(x);
	}
	return failures != 0;
}

/* Starts pipelined load on one connection; returns the workers. */
static void start_load(struct xport *x, uint32_t slab, struct worker *w,
		       pthread_t *th, int n, unsigned int nops)
{
	int j;

	for (j = 0; j < n; j++) {
		worker_init(&w[j], x, slab,
			    (uint64_t)j * (SLAB / n / PAGE) * PAGE,
			    SLAB / n / PAGE, 77 + j);
		w[j].nops = nops;
		w[j].stop_on_error = 1;
		pthread_create(&th[j], NULL, worker_main, &w[j]);
	}
}

int cmd_kill(pid_t pid, const char *mark)
{
	struct worker w[4];
	pthread_t th[4];
	struct xport_cfg cfg;
	struct xport_stats st;
	struct xport_slab s;
	struct evlog ev;
	struct xport *x;
	uint8_t buf[PAGE], back[PAGE];
	unsigned int errs = 0, hung = 0, dbl = 0, done = 0, sub = 0;
	uint64_t t0, seed = 5;
	int j, ret, fd;

	evlog_init(&ev);
	cfg_init(&cfg, &ev, 3);
	cfg.reconnect_min_ms = 50;
	cfg.reconnect_max_ms = 400;
	if (connect_checked(&cfg, &x, &s))
		return 1;
	start_load(x, s.slab, w, th, 4, 1u << 30);
	/* let the load run until plenty has completed, then crash it */
	t0 = mono_ns();
	while (atomic_load(&w[0].completed) < 500 &&
	       mono_ns() - t0 < 10000000000ull)
		usleep(1000);
	check(kill(pid, SIGKILL) == 0, "donor killed mid-transfer", NULL);
	t0 = mono_ns();
	for (j = 0; j < 4; j++) {
		pthread_join(th[j], NULL);
		if (worker_drain(&w[j], IO_TIMEOUT + CTL_TIMEOUT + 5000))
			hung++;
		errs += atomic_load(&w[j].errors);
		dbl += atomic_load(&w[j].double_done);
		done += atomic_load(&w[j].completed);
		sub += w[j].submitted;
	}
	check(!hung && done == sub,
	      "every pending request completed after the kill",
	      "%u of %u, %llu ms", done, sub,
	      (unsigned long long)(mono_ns() - t0) / 1000000);
	check(errs > 0 && w[0].first_err < 0,
	      "pending requests failed with an error", "%u errors, first %d",
	      errs, w[0].first_err);
	check(!dbl, "no request completed twice", "%u", dbl);
	ret = evlog_wait(&ev, &ev.down, 1, HANG_MS);
	pthread_mutex_lock(&ev.lock);
	j = ev.down_err;
	pthread_mutex_unlock(&ev.lock);
	check(ret == 0 && j < 0, "XPORT_EV_DOWN emitted", "error %d", j);
	ret = sync_io(x, XPORT_WRITE, s.slab, 0, buf, PAGE);
	check(ret == -ENOTCONN, "io while the donor is down fails at once",
	      "%d", ret);
	for (j = 0; j < 4; j++)
		worker_fini(&w[j]);

	/* tell the shell to restart the donor on the same port */
	fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "1\n", 2) != 2) {
		perror(mark);
		return 2;
	}
	close(fd);
	check(evlog_wait(&ev, &ev.up, 2, HANG_MS) == 0,
	      "reconnected to the restarted donor (XPORT_EV_UP)", NULL);
	ret = xport_alloc(x, &s);
	check(!ret, "alloc after the restart", "%d", ret);
	rnd_fill(&seed, buf, PAGE);
	ret = sync_io(x, XPORT_WRITE, s.slab, 4 * PAGE, buf, PAGE);
	if (!ret)
		ret = sync_io(x, XPORT_READ, s.slab, 4 * PAGE, back, PAGE);
	check(!ret && !memcmp(buf, back, PAGE),
	      "data round-trips after the restart", "%d", ret);
	xport_get_stats(x, &st);
	check(st.reconnects >= 1, "stats count the reconnect", "%llu",
	      (unsigned long long)st.reconnects);
	xport_close(x);
	return failures != 0;
}

/* RECLAIM as the operator, over a connection of its own. */
static int operator_reclaim(uint64_t bytes)
{
	struct xport_cfg cfg;
	struct xport *x;
	int ret;

	cfg_init(&cfg, NULL, 7);
	if (g_opkey.set)
		cfg.key = &g_opkey;
	ret = open_up(&cfg, &x);
	if (ret)
		return ret;
	ret = xport_reclaim(x, bytes);
	xport_close(x);
	return ret;
}

int cmd_evict(void)
{
	struct xport_cfg cfg;
	struct xport_slab s;
	struct evlog ev;
	struct xport *x;
	uint32_t slab;
	int ret;

	evlog_init(&ev);
	cfg_init(&cfg, &ev, 6);
	if (connect_checked(&cfg, &x, NULL))
		return 1;
	/* two slabs, the first given back: the one left is not slab 0 */
	ret = xport_alloc(x, &s);
	if (!ret) {
		slab = s.slab;
		ret = xport_alloc(x, &s);
		if (!ret)
			ret = xport_free(x, slab);
	}
	check(!ret, "alloc", "%d", ret);
	if (ret)
		return 1;
	/* a client may not reclaim; the operator may */
	ret = xport_reclaim(x, SLAB);
	check(ret == -EPERM || !g_opkey.set,
	      "the donor refuses a client's reclaim", "%d", ret);
	ret = operator_reclaim(SLAB);
	check(!ret, "the donor takes the operator's reclaim request", "%d",
	      ret);
	ret = evlog_wait(&ev, &ev.evict, 1, HANG_MS);
	pthread_mutex_lock(&ev.lock);
	slab = ev.evict_slab;
	pthread_mutex_unlock(&ev.lock);
	check(!ret && slab == s.slab,
	      "the donor's EVICT arrives as XPORT_EV_EVICT for our slab",
	      "slab %u, ours %u", slab, s.slab);
	ret = xport_free(x, s.slab);
	check(!ret, "the evicted slab is freed", "%d", ret);
	check(xport_state(x) == XPORT_UP, "still up after the eviction", NULL);
	xport_close(x);
	return failures != 0;
}

/* kill() returns before the target stops: wait for state 'T' */
static int wait_stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 5000; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return -errno;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't'))
				return 0;
		}
		usleep(1000);
	}
	return -ETIMEDOUT;
}

int cmd_stall(pid_t pid)
{
	struct xport_cfg cfg;
	struct xport_stats st;
	struct xport_slab s;
	struct evlog ev;
	struct xport *x;
	uint8_t buf[PAGE], back[PAGE];
	uint64_t seed = 9, t0;
	int ret;

	evlog_init(&ev);
	cfg_init(&cfg, &ev, 4);
	cfg.io_timeout_ms = 500;
	cfg.ctl_timeout_ms = 1000;
	cfg.reconnect_min_ms = 50;
	cfg.reconnect_max_ms = 200;
	if (connect_checked(&cfg, &x, &s))
		return 1;
	rnd_fill(&seed, buf, PAGE);
	ret = sync_io(x, XPORT_WRITE, s.slab, 0, buf, PAGE);
	check(!ret, "write before the stall", "%d", ret);

	check(kill(pid, SIGSTOP) == 0 && wait_stopped(pid) == 0,
	      "donor stopped (SIGSTOP)", NULL);
	t0 = mono_ns();
	ret = sync_io(x, XPORT_READ, s.slab, 0, back, PAGE);
	check(ret == -ETIMEDOUT, "a request to a stalled donor times out",
	      "%d after %llu ms", ret,
	      (unsigned long long)(mono_ns() - t0) / 1000000);
	check(evlog_wait(&ev, &ev.down, 1, HANG_MS) == 0,
	      "the timed-out connection is reset (XPORT_EV_DOWN)", NULL);
	ret = xport_heartbeat(x, NULL);
	check(ret == -ENOTCONN || ret == -ETIMEDOUT,
	      "control calls fail while down", "%d", ret);
	kill(pid, SIGCONT);
	check(evlog_wait(&ev, &ev.up, 2, HANG_MS) == 0,
	      "reconnected once the donor answers (XPORT_EV_UP)", NULL);
	memset(back, 0, sizeof(back));
	ret = sync_io(x, XPORT_READ, s.slab, 0, back, PAGE);
	check(!ret && !memcmp(buf, back, PAGE),
	      "same session after the reconnect: the slab kept its data", "%d",
	      ret);
	xport_get_stats(x, &st);
	check(st.timeouts >= 1, "stats count the timeout", "%llu",
	      (unsigned long long)st.timeouts);
	xport_close(x);
	return failures != 0;
}
