// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tc_scale - many connections to one donor (issue 15): the donor's thread
 * count must not grow with them, and every one of them must be served.
 * Test code, single-threaded.
 */
#include "common/clock.h"
#include "rdma/handshake.h"
#include "rdma/proto.h"
#include "tests/integration/donor/cnm_testclient.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define REGION 1024 /* bytes of the shared slab each connection writes */

/* Threads of process pid, from /proc/PID/task. */
static int threads_of(int pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		die("%s: %s", path, strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void raise_fd_limit(int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) ||
		    rl.rlim_cur < (rlim_t)n + 64)
			die("cannot have %d file descriptors", n + 64);
	}
}

/* Sends one request without waiting for its reply. */
static void send_io(int fd, uint16_t op, uint64_t id, uint32_t slab,
		    uint64_t off, const void *data)
{
	uint8_t msg[sizeof(struct wire_hdr) + sizeof(struct wire_io) + REGION];
	struct wire_io io = { .slab = slab, .off = off, .len = REGION };
	uint32_t dlen = op == PROTO_OP_WRITE ? REGION : 0;
	struct proto_hdr h = { .op = op, .id = id, .len = sizeof(io) + dlen };

	proto_hdr_enc(msg, &h);
	proto_io_swap(&io);
	memcpy(msg + sizeof(struct wire_hdr), &io, sizeof(io));
	if (dlen)
		memcpy(msg + sizeof(struct wire_hdr) + sizeof(io), data, dlen);
	if (hs_write_full(fd, msg, sizeof(struct wire_hdr) + sizeof(io) + dlen,
			  TMO))
		die("request %llu: send failed", (unsigned long long)id);
}

/* Takes the reply to id, with REGION bytes into buf for a READ. */
static void recv_reply(int fd, uint64_t id, void *buf)
{
	uint8_t body[REGION];
	struct proto_hdr h;
	int ret;

	ret = hs_recv_msg(fd, &h, body, sizeof(body), TMO);
	if (ret || h.id != id || h.status)
		die("reply to %llu: %d, id %llu, status %u",
		    (unsigned long long)id, ret, (unsigned long long)h.id,
		    h.status);
	if (buf)
		memcpy(buf, body, REGION);
}

/*
 * n connections of one session, all open at once: connection i writes
 * its own KiB of a shared slab, connection i + 1 reads it back, each
 * round sent on every connection before any reply is read. Prints the
 * donor's thread count before, with all open, and after the I/O.
 */
int cmd_many(int n, int pid)
{
	uint8_t sess[PROTO_SESSION_LEN], buf[REGION], want[REGION];
	int t_before, t_open, t_after, *fds;
	uint32_t slab;

	raise_fd_limit(n);
	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		die("out of memory");
	t_before = threads_of(pid);
	auth_random(sess, sizeof(sess));
	for (int i = 0; i < n; i++)
		fds[i] = must_open(sess); /* the others resume the session */
	t_open = threads_of(pid);
	if (do_alloc(fds[0], &slab))
		die("alloc");
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < REGION; k++)
			want[k] = pattern(9, slab, (uint64_t)i * REGION + k);
		send_io(fds[i], PROTO_OP_WRITE, 1000 + i, slab,
			(uint64_t)i * REGION, want);
	}
	for (int i = 0; i < n; i++)
		recv_reply(fds[i], 1000 + i, NULL);
	for (int i = 0; i < n; i++)
		send_io(fds[(i + 1) % n], PROTO_OP_READ, 5000 + i, slab,
			(uint64_t)i * REGION, NULL);
	for (int i = 0; i < n; i++) {
		recv_reply(fds[(i + 1) % n], 5000 + i, buf);
		for (int k = 0; k < REGION; k++)
			if (buf[k] !=
			    pattern(9, slab, (uint64_t)i * REGION + k))
				die("connection %d read a wrong byte %d of "
				    "region %d",
				    (i + 1) % n, k, i);
	}
	t_after = threads_of(pid);
	if (do_free(fds[0], slab))
		die("free");
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	printf("connections=%d threads_before=%d threads_open=%d "
	       "threads_after=%d\n",
	       n, t_before, t_open, t_after);
	return 0;
}

/* CPU time (user + system, clock ticks) of process pid so far. */
static unsigned long long cpu_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the name may hold spaces and parentheses: count from the last ) */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%llu %llu",
			 &ut, &st) != 2)
		die("%s: cannot parse", path);
	return ut + st;
}

/* ticks of CPU time as a percentage of wall_ns */
static unsigned long long pct_of(unsigned long long ticks, long hz,
				 uint64_t wall_ns)
{
	return ticks * 100ull * 1000000000ull / (unsigned long long)hz /
	       wall_ns;
}

#define FULL_MAX     4096 /* connections before we call the donor limitless */
#define FULL_WAITING 8	  /* connections left queued while it is full */

/*
 * Issue 15: a donor out of file descriptors must not spin on its
 * listener. Authenticates connections until one is not served within
 * 2 s (the donor cannot accept it), leaves FULL_WAITING more queued,
 * measures the donor's CPU time over `seconds` of wall time next to a
 * process that spins, then closes everything and expects the next
 * connection to be served. Prints "served=N cpu_pct=P spinner_pct=S".
 */
int cmd_fd_full(int pid, int seconds)
{
	uint8_t sess[PROTO_SESSION_LEN];
	int *fds, waiting[FULL_WAITING], n = 0, fd;
	unsigned long long t0, t1, s0, s1;
	static volatile unsigned long spin;
	uint64_t w0, w1;
	pid_t spinner;
	char err[256];
	long hz = sysconf(_SC_CLK_TCK);

	raise_fd_limit(FULL_MAX + FULL_WAITING);
	fds = calloc(FULL_MAX, sizeof(*fds));
	if (!fds)
		die("out of memory");
	auth_random(sess, sizeof(sess));
	for (;;) {
		fd = open_session_tmo(sess, 2000, err, sizeof(err));
		if (fd < 0)
			break;
		if (n == FULL_MAX)
			die("the donor served %d connections and more", n);
		fds[n++] = fd;
	}
	if (!n)
		die("the donor served no connection: %s", err);
	/* queued in the backlog: the listening socket stays readable */
	for (int i = 0; i < FULL_WAITING; i++)
		waiting[i] = tcp_connect();
	/* a process that spins, for scale: on a loaded machine a spinning
	 * donor gets about its share, a sleeping one next to nothing */
	spinner = fork();
	if (spinner < 0)
		die("fork: %s", strerror(errno));
	if (!spinner) {
		/* never outlives this process nor the measure, whatever
		 * happens to it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm((unsigned int)seconds + 10);
		for (;;)
			spin++;
	}
	w0 = mono_ns();
	t0 = cpu_ticks(pid);
	s0 = cpu_ticks(spinner);
	sleep((unsigned int)seconds);
	t1 = cpu_ticks(pid);
	s1 = cpu_ticks(spinner);
	w1 = mono_ns();
	kill(spinner, SIGKILL);
	waitpid(spinner, NULL, 0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	for (int i = 0; i < FULL_WAITING; i++)
		close(waiting[i]);
	free(fds);
	fd = open_session_tmo(sess, TMO, err, sizeof(err));
	if (fd < 0)
		die("not served again once clients left: %s", err);
	close(fd);
	printf("served=%d cpu_pct=%llu spinner_pct=%llu\n", n,
	       pct_of(t1 - t0, hz, w1 - w0), pct_of(s1 - s0, hz, w1 - w0));
	return 0;
}
