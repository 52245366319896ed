// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnm_testclient - speaks the donor protocol (through rdma/handshake.c) for
 * the donor's integration tests.
 *
 *   cnm_testclient HOST:PORT [options] COMMAND [ARGS]
 *     hello                   handshake only
 *     query                   print the state as KEY=VALUE lines
 *     alloc N                 alloc N slabs, print their ids
 *     fill SEED N             alloc N slabs, fill with a pattern, print ids
 *     verify SEED ID...       read slabs back (SEED 0: must be zeros)
 *     free ID...              free slabs
 *     stress CLIENTS OPS      pipelined random I/O, verified byte for byte
 *     attack KIND             one bad input, checking the donor's answer,
 *                             the one log line (--log) and a victim's data
 *     watch SEED              fill a slab, print "ready", heartbeat until
 *                             the connection fails: exit 0 on a clean
 *                             -ECONNRESET, 1 on anything else or a hang
 *     latency N               N synchronous 4 KiB writes, then reads
 *     await-evict ID          connect, wait for EVICT of slab ID
 *     expect-evict            alloc a slab, print "ready", wait for EVICT,
 *                             free the slab
 *     loris SECONDS           trickle a HELLO one byte a second: exit 0
 *                             when the donor closes within SECONDS
 *     slow N SECONDS          N connections that send half a HELLO and
 *                             stall (those dropped come straight back, a
 *                             flood), while this process authenticates
 *                             every 200 ms: exit 0 when every one passed
 *     many N PID              N connections of one session open at once,
 *                             each writing a KiB of a shared slab and
 *                             reading another's, verified; prints the
 *                             thread counts of donor PID around it
 *     fd-full PID SECONDS     authenticated connections until donor PID
 *                             takes no more (out of descriptors), more
 *                             left waiting; prints its CPU use over
 *                             SECONDS while full; all close, then one
 *                             more must be served
 *   options: --key-file F, --key-name NAME, --session HEX (an id without
 *            its secret, as sniffed), --session-file F (id and secret,
 *            kept across runs), --forge-resume (claim a secret we do not
 *            have), --insecure (no key), --slab-size SIZE, --log FILE
 *
 * Exit: 0 ok, 1 failure, 2 EACCES, 3 EPROTONOSUPPORT, 4 slab refused
 * (EINVAL), 5 ENOSPC.
 */
#include "tests/integration/donor/cnm_testclient.h"
#include "common/clock.h"
#include "common/parse.h"
#include "rdma/auth.h"
#include "rdma/dclient.h"
#include "rdma/handshake.h"
#include "rdma/proto.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WINDOW	  32
#define MAX_OP	  (64 << 10)
#define SLABS_MAX 64

char g_host[256], g_port[32];
struct auth_key g_key;
static uint8_t g_session[PROTO_SESSION_LEN];
static const char *g_session_file;
static int g_forge;

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The secrets of the sessions this process made, by id. */
static struct {
	uint8_t id[PROTO_SESSION_LEN];
	struct hs_session s;
	int used;
} g_secrets[64];

static struct hs_session *secret_of(const uint8_t *session)
{
	unsigned int i;

	for (i = 0; i < 64; i++)
		if (g_secrets[i].used &&
		    !memcmp(g_secrets[i].id, session, PROTO_SESSION_LEN))
			return &g_secrets[i].s;
	for (i = 0; i < 64 && g_secrets[i].used; i++)
		;
	if (i == 64)
		die("too many sessions");
	g_secrets[i].used = 1;
	memcpy(g_secrets[i].id, session, PROTO_SESSION_LEN);
	if (g_forge) {
		/* a peer claiming a secret it does not have */
		auth_random(g_secrets[i].s.secret, AUTH_KEY_LEN);
		g_secrets[i].s.have = 1;
	}
	return &g_secrets[i].s;
}

static void hex_put(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}
uint64_t g_slab = 1 << 20;
const char *g_log;

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "cnm_testclient: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

int exit_code(int err)
{
	switch (err) {
	case -EACCES:
		return 2;
	case -EPROTONOSUPPORT:
		return 3;
	case -EINVAL:
		return 4;
	case -ENOSPC:
		return 5;
	default:
		return 1;
	}
}

uint64_t rnd_state = 88172645463325252ull;
uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Byte i of slab `slab` under seed (0: zeros). */
uint8_t pattern(uint64_t seed, uint32_t slab, uint64_t i)
{
	uint64_t x;

	if (!seed)
		return 0;
	x = (seed * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)slab << 40) ^ (i / 8);
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return (uint8_t)(x >> ((i % 8) * 8));
}

int tcp_connect(void)
{
	struct dcl c = { .timeout_ms = TMO };

	if (dcl_connect(&c, g_host, g_port))
		die("%s:%s: %s", g_host, g_port, c.err);
	return c.fd;
}

int local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	getsockname(fd, (struct sockaddr *)&sa, &sl);
	return ntohs(sa.sin_port);
}

int open_session(const uint8_t *session, char *err, size_t errlen)
{
	return open_session_tmo(session, TMO, err, errlen);
}

int open_session_tmo(const uint8_t *session, unsigned int tmo_ms, char *err,
		     size_t errlen)
{
	struct hs_params p = { .key = &g_key, .slab_size = g_slab };
	struct dcl c = { .timeout_ms = tmo_ms };
	int ret;

	memcpy(p.session, session, PROTO_SESSION_LEN);
	p.sess = secret_of(session);
	ret = dcl_open(&c, g_host, g_port, &p);
	if (!ret && g_session_file &&
	    !memcmp(session, g_session, PROTO_SESSION_LEN) && p.sess->have) {
		FILE *f = fopen(g_session_file, "w");

		if (!f)
			die("%s: %s", g_session_file, strerror(errno));
		hex_put(f, session, PROTO_SESSION_LEN);
		fputc(' ', f);
		hex_put(f, p.sess->secret, AUTH_KEY_LEN);
		fputc('\n', f);
		fclose(f);
	}
	if (ret) {
		snprintf(err, errlen, "%s", c.err);
		return ret;
	}
	return c.fd;
}

int must_open(const uint8_t *session)
{
	char err[256];
	int fd = open_session(session, err, sizeof(err));

	if (fd < 0) {
		fprintf(stderr, "cnm_testclient: %s\n", err);
		exit(exit_code(fd));
	}
	return fd;
}

/* One synchronous request; returns -status or a transport error. */
int rpc(int fd, uint16_t op, const void *body, uint32_t len, const void *data,
	uint32_t dlen, void *out, uint32_t outmax)
{
	static uint64_t id = 100;
	struct dcl c = { .fd = fd, .next_id = id, .timeout_ms = TMO };
	int ret;

	ret = dcl_call(&c, op, body, len, data, dlen, out, outmax, NULL);
	id = c.next_id;
	if (ret && c.err[0])
		fprintf(stderr, "cnm_testclient: %s\n", c.err);
	return ret;
}

int do_alloc(int fd, uint32_t *slab)
{
	struct wire_slab s;
	int ret = rpc(fd, PROTO_OP_ALLOC, NULL, 0, NULL, 0, &s, sizeof(s));

	if (!ret) {
		proto_slab_swap(&s);
		*slab = s.slab;
		if (s.size != g_slab)
			die("alloc gave %llu bytes",
			    (unsigned long long)s.size);
	}
	return ret;
}

int do_io(int fd, uint16_t op, uint32_t slab, uint64_t off, uint32_t len,
	  void *buf)
{
	struct wire_io io = { .slab = slab, .len = len, .off = off };

	proto_io_swap(&io);
	if (op == PROTO_OP_WRITE)
		return rpc(fd, op, &io, sizeof(io), buf, len, NULL, 0);
	return rpc(fd, op, &io, sizeof(io), NULL, 0, buf, len);
}

int do_free(int fd, uint32_t slab)
{
	struct wire_slab_ref r = { .slab = slab };

	proto_slab_ref_swap(&r);
	return rpc(fd, PROTO_OP_FREE, &r, sizeof(r), NULL, 0, NULL, 0);
}

void fill_slab(int fd, uint64_t seed, uint32_t slab)
{
	static uint8_t buf[MAX_OP];
	int ret;

	for (uint64_t off = 0; off < g_slab; off += MAX_OP) {
		for (uint32_t i = 0; i < MAX_OP; i++)
			buf[i] = pattern(seed, slab, off + i);
		ret = do_io(fd, PROTO_OP_WRITE, slab, off, MAX_OP, buf);
		if (ret)
			die("write slab %u: %s", slab, strerror(-ret));
	}
}

/* 0 when slab holds the pattern, else the error or -EILSEQ. */
int check_slab(int fd, uint64_t seed, uint32_t slab)
{
	static uint8_t buf[MAX_OP];
	int ret;

	for (uint64_t off = 0; off < g_slab; off += MAX_OP) {
		ret = do_io(fd, PROTO_OP_READ, slab, off, MAX_OP, buf);
		if (ret)
			return ret;
		for (uint32_t i = 0; i < MAX_OP; i++) {
			if (buf[i] != pattern(seed, slab, off + i)) {
				fprintf(stderr,
					"cnm_testclient: slab %u byte %llu: "
					"%02x, want %02x\n",
					slab, (unsigned long long)(off + i),
					buf[i], pattern(seed, slab, off + i));
				return -EILSEQ;
			}
		}
	}
	return 0;
}

static int cmd_query(int fd)
{
	struct wire_state st;
	int ret = rpc(fd, PROTO_OP_QUERY, NULL, 0, NULL, 0, &st, sizeof(st));

	if (ret)
		return ret;
	proto_state_swap(&st);
	printf("total_bytes=%llu\nfree_bytes=%llu\nslab_size=%llu\n"
	       "total_slabs=%u\nfree_slabs=%u\nsession_slabs=%u\nclients=%u\n"
	       "host_avail_bytes=%llu\nhost_trend_bps=%lld\nbytes_read=%llu\n"
	       "bytes_written=%llu\nuptime_ms=%llu\ncaps=%u\nevicting=%u\n",
	       (unsigned long long)st.total_bytes,
	       (unsigned long long)st.free_bytes,
	       (unsigned long long)st.slab_size, st.total_slabs, st.free_slabs,
	       st.session_slabs, st.clients,
	       (unsigned long long)st.host_avail_bytes,
	       (long long)st.host_trend_bps, (unsigned long long)st.bytes_read,
	       (unsigned long long)st.bytes_written,
	       (unsigned long long)st.uptime_ms, st.caps, st.evicting);
	return 0;
}

/* ---- stress: pipelined random I/O with a shadow copy ---- */

struct op {
	uint16_t op;
	uint32_t slab_idx;
	uint32_t len;
	uint64_t off;
	uint8_t data[MAX_OP];
};

struct worker {
	int fd, nops, failed;
	uint32_t slab[2];
	uint8_t *shadow[2];
	struct op ring[WINDOW];
	sem_t room;
	uint64_t seed;
	pthread_t tx, rx;
	uint8_t rbuf[MAX_OP];
};

static void *stress_tx(void *arg)
{
	struct worker *w = arg;
	uint8_t hdr[sizeof(struct wire_hdr)];

	for (int i = 0; i < w->nops; i++) {
		struct op *o = &w->ring[i % WINDOW];
		struct wire_io io;
		struct proto_hdr h = { .id = i + 1 };

		sem_wait(&w->room);
		if (w->failed)
			break;
		o->op = xorshift(&w->seed) & 1 ? PROTO_OP_WRITE : PROTO_OP_READ;
		o->slab_idx = xorshift(&w->seed) & 1;
		o->len = 1 + xorshift(&w->seed) % MAX_OP;
		o->off = xorshift(&w->seed) % (g_slab - o->len + 1);
		if (o->op == PROTO_OP_WRITE)
			for (uint32_t k = 0; k < o->len; k++)
				o->data[k] = (uint8_t)xorshift(&w->seed);
		io = (struct wire_io){ .slab = w->slab[o->slab_idx],
				       .len = o->len,
				       .off = o->off };
		proto_io_swap(&io);
		h.op = o->op;
		h.len = sizeof(io) + (o->op == PROTO_OP_WRITE ? o->len : 0);
		proto_hdr_enc(hdr, &h);
		if (hs_write_full(w->fd, hdr, sizeof(hdr), TMO) ||
		    hs_write_full(w->fd, &io, sizeof(io), TMO) ||
		    (o->op == PROTO_OP_WRITE &&
		     hs_write_full(w->fd, o->data, o->len, TMO))) {
			w->failed = 1;
			break;
		}
	}
	return NULL;
}

static void *stress_rx(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->nops && !w->failed; i++) {
		struct op *o = &w->ring[i % WINDOW];
		struct proto_hdr h;
		uint8_t *sh;
		int ret;

		/* slot i is complete once its reply can arrive */
		ret = hs_recv_msg(w->fd, &h, w->rbuf, sizeof(w->rbuf), TMO);
		sh = w->shadow[o->slab_idx] + o->off;
		if (ret || h.id != (uint64_t)i + 1 || h.status ||
		    h.op != o->op) {
			fprintf(stderr,
				"cnm_testclient: op %d: ret %d id %llu "
				"status %u\n",
				i, ret, (unsigned long long)h.id, h.status);
			goto out_fail;
		}
		if (o->op == PROTO_OP_WRITE) {
			memcpy(sh, o->data, o->len);
		} else if (h.len != o->len || memcmp(sh, w->rbuf, o->len)) {
			fprintf(stderr,
				"cnm_testclient: op %d: read of %u bytes at "
				"%llu differs from what was written\n",
				i, o->len, (unsigned long long)o->off);
			goto out_fail;
		}
		sem_post(&w->room);
	}
	return NULL;
out_fail:
	/* let the sender run out instead of waiting for room forever */
	w->failed = 1;
	for (int k = 0; k < WINDOW; k++)
		sem_post(&w->room);
	return NULL;
}

static int cmd_stress(int nclients, int nops)
{
	struct worker *w = calloc(nclients, sizeof(*w));
	uint8_t sess[PROTO_SESSION_LEN];
	int failed = 0;

	if (!w)
		die("out of memory");
	for (int c = 0; c < nclients; c++) {
		auth_random(sess, sizeof(sess));
		w[c].fd = must_open(sess);
		w[c].nops = nops;
		w[c].seed = 0x1234567ull * (c + 1);
		sem_init(&w[c].room, 0, WINDOW);
		for (int s = 0; s < 2; s++) {
			if (do_alloc(w[c].fd, &w[c].slab[s]))
				die("alloc for client %d", c);
			/* a fresh slab must read back as zeros */
			w[c].shadow[s] = calloc(1, g_slab);
			if (!w[c].shadow[s])
				die("out of memory");
		}
	}
	for (int c = 0; c < nclients; c++) {
		pthread_create(&w[c].rx, NULL, stress_rx, &w[c]);
		pthread_create(&w[c].tx, NULL, stress_tx, &w[c]);
	}
	for (int c = 0; c < nclients; c++) {
		pthread_join(w[c].tx, NULL);
		if (w[c].failed)
			shutdown(w[c].fd, SHUT_RDWR);
		pthread_join(w[c].rx, NULL);
		failed |= w[c].failed;
	}
	/* a final full comparison of every slab with its shadow */
	for (int c = 0; c < nclients && !failed; c++) {
		for (int s = 0; s < 2; s++) {
			for (uint64_t off = 0; off < g_slab; off += MAX_OP) {
				if (do_io(w[c].fd, PROTO_OP_READ, w[c].slab[s],
					  off, MAX_OP, w[c].rbuf) ||
				    memcmp(w[c].rbuf, w[c].shadow[s] + off,
					   MAX_OP))
					die("client %d slab %d differs at "
					    "%llu",
					    c, s, (unsigned long long)off);
			}
		}
	}
	for (int c = 0; c < nclients; c++) {
		close(w[c].fd);
		free(w[c].shadow[0]);
		free(w[c].shadow[1]);
		sem_destroy(&w[c].room);
	}
	free(w);
	if (!failed)
		printf("stress: %d clients x %d pipelined ops verified\n",
		       nclients, nops);
	return failed ? -EILSEQ : 0;
}

/* ---- attacks ---- */

static int cmd_watch(uint64_t seed)
{
	uint32_t slab;
	int fd = must_open(g_session), ret;
	uint64_t end;

	if (do_alloc(fd, &slab))
		die("alloc");
	fill_slab(fd, seed, slab);
	printf("ready %u\n", slab);
	fflush(stdout);
	end = deadline_after_ms(30000);
	do {
		ret = rpc(fd, PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0, NULL, 0);
		usleep(50000);
	} while (!ret && mono_ns() < end);
	printf("connection ended: %s\n", strerror(-ret));
	close(fd);
	return ret == -ECONNRESET ? 0 : -EIO;
}

static int cmd_expect_evict(void)
{
	struct wire_evict ev;
	struct proto_hdr h;
	uint32_t slab;
	int fd = must_open(g_session), ret;

	if (do_alloc(fd, &slab))
		die("alloc");
	printf("ready %u\n", slab);
	fflush(stdout);
	ret = hs_recv_msg(fd, &h, &ev, sizeof(ev), 30000);
	if (ret || h.op != PROTO_OP_EVICT || h.len != sizeof(ev))
		die("no EVICT (%d, %s)", ret, proto_op_name(h.op));
	proto_evict_swap(&ev);
	if (ev.slab != slab)
		die("EVICT names slab %u, we hold %u", ev.slab, slab);
	ret = do_free(fd, slab);
	printf("evicted %u, deadline %llu ms\n", slab,
	       (unsigned long long)ev.deadline_ms);
	close(fd);
	return ret;
}

/* Synchronous 4 KiB reads and writes: mean round trip, for reports. */
static int cmd_latency(int n)
{
	static uint8_t buf[4096];
	uint64_t t0, tr, tw;
	uint32_t slab;
	int fd = must_open(g_session), ret = 0;

	if (do_alloc(fd, &slab))
		die("alloc");
	t0 = mono_ns();
	for (int i = 0; i < n && !ret; i++)
		ret = do_io(fd, PROTO_OP_WRITE, slab, (i * 4096ull) % g_slab,
			    4096, buf);
	tw = mono_ns() - t0;
	t0 = mono_ns();
	for (int i = 0; i < n && !ret; i++)
		ret = do_io(fd, PROTO_OP_READ, slab, (i * 4096ull) % g_slab,
			    4096, buf);
	tr = mono_ns() - t0;
	if (!ret)
		printf("4k write %.1f us, 4k read %.1f us (mean of %d)\n",
		       tw / 1e3 / n, tr / 1e3 / n, n);
	close(fd);
	return ret;
}

/* Connects with the session and waits for EVICT naming slab. */
static int cmd_await_evict(uint32_t slab)
{
	struct wire_evict ev;
	struct proto_hdr h;
	int fd = must_open(g_session), ret;

	ret = hs_recv_msg(fd, &h, &ev, sizeof(ev), 30000);
	if (ret || h.op != PROTO_OP_EVICT || h.len != sizeof(ev))
		die("no EVICT (%d, %s)", ret, proto_op_name(h.op));
	proto_evict_swap(&ev);
	if (ev.slab != slab)
		die("EVICT names slab %u, want %u", ev.slab, slab);
	printf("asked for slab %u\n", slab);
	close(fd);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Reads "IDHEX SECRETHEX" if the file exists. */
static void load_session_file(const char *path)
{
	char id[2 * PROTO_SESSION_LEN + 1], sec[2 * AUTH_KEY_LEN + 1];
	struct hs_session *hs;
	FILE *f = fopen(path, "r");

	if (!f)
		return; /* a new session, written on success */
	if (fscanf(f, "%32s %64s", id, sec) != 2 || strlen(id) != 32 ||
	    strlen(sec) != 64)
		die("%s: not a session file", path);
	fclose(f);
	for (int k = 0; k < PROTO_SESSION_LEN; k++)
		g_session[k] = hexval(id[2 * k]) << 4 | hexval(id[2 * k + 1]);
	hs = secret_of(g_session);
	for (int k = 0; k < AUTH_KEY_LEN; k++)
		hs->secret[k] =
			hexval(sec[2 * k]) << 4 | hexval(sec[2 * k + 1]);
	hs->have = 1;
}

int main(int argc, char **argv)
{
	char err[256];
	int i = 2, fd, ret = 0;
	const char *cmd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3 || auth_init())
		die("usage: cnm_testclient HOST:PORT [options] COMMAND");
	if (parse_hostport(argv[1], NULL, g_host, sizeof(g_host), g_port,
			   sizeof(g_port)))
		die("bad address %s", argv[1]);
	auth_random(g_session, sizeof(g_session));
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--forge-resume")) {
			g_forge = 1;
			i--; /* a flag: no value */
		} else if (!strcmp(argv[i], "--insecure")) {
			i--; /* no key: the default */
		} else if (!strcmp(argv[i], "--key-file")) {
			if (auth_key_load(argv[i + 1], &g_key, err,
					  sizeof(err)))
				die("%s", err);
		} else if (!strcmp(argv[i], "--session")) {
			if (strlen(argv[i + 1]) != 2 * PROTO_SESSION_LEN)
				die("--session takes 32 hex digits");
			for (int k = 0; k < PROTO_SESSION_LEN; k++) {
				int hi = hexval(argv[i + 1][2 * k]);
				int lo = hexval(argv[i + 1][2 * k + 1]);

				if (hi < 0 || lo < 0)
					die("--session takes hex digits");
				g_session[k] = hi << 4 | lo;
			}
		} else if (!strcmp(argv[i], "--key-name")) {
			snprintf(g_key.name, sizeof(g_key.name), "%s",
				 argv[i + 1]);
		} else if (!strcmp(argv[i], "--session-file")) {
			g_session_file = argv[i + 1];
			load_session_file(g_session_file);
		} else if (!strcmp(argv[i], "--slab-size")) {
			if (parse_size(argv[i + 1], &g_slab))
				die("bad --slab-size");
		} else if (!strcmp(argv[i], "--log")) {
			g_log = argv[i + 1];
		} else {
			die("unknown option %s", argv[i]);
		}
	}
	if (i >= argc)
		die("no command");
	cmd = argv[i++];
	if (!strcmp(cmd, "hello")) {
		fd = open_session(g_session, err, sizeof(err));
		if (fd < 0) {
			printf("handshake: %s (%s)\n", err, strerror(-fd));
			return exit_code(fd);
		}
		printf("handshake ok\n");
		close(fd);
	} else if (!strcmp(cmd, "query")) {
		fd = must_open(g_session);
		ret = cmd_query(fd);
		close(fd);
	} else if (!strcmp(cmd, "fill") && i + 1 < argc) {
		uint64_t seed = strtoull(argv[i], NULL, 0);
		int n = atoi(argv[i + 1]);
		uint32_t slab;

		fd = must_open(g_session);
		for (int k = 0; k < n && !ret; k++) {
			ret = do_alloc(fd, &slab);
			if (!ret) {
				fill_slab(fd, seed, slab);
				printf("%u\n", slab);
			}
		}
		close(fd);
	} else if (!strcmp(cmd, "alloc") && i < argc) {
		int n = atoi(argv[i]);
		uint32_t slab;

		fd = must_open(g_session);
		for (int k = 0; k < n && !ret; k++) {
			ret = do_alloc(fd, &slab);
			if (!ret)
				printf("%u\n", slab);
		}
		close(fd);
	} else if (!strcmp(cmd, "verify") && i + 1 < argc) {
		uint64_t seed = strtoull(argv[i], NULL, 0);

		fd = must_open(g_session);
		for (int k = i + 1; k < argc && !ret; k++)
			ret = check_slab(fd, seed, (uint32_t)atoi(argv[k]));
		close(fd);
	} else if (!strcmp(cmd, "free")) {
		fd = must_open(g_session);
		for (int k = i; k < argc && !ret; k++)
			ret = do_free(fd, (uint32_t)atoi(argv[k]));
		close(fd);
	} else if (!strcmp(cmd, "stress") && i + 1 < argc) {
		ret = cmd_stress(atoi(argv[i]), atoi(argv[i + 1]));
	} else if (!strcmp(cmd, "attack") && i < argc) {
		ret = cmd_attack(argv[i]);
	} else if (!strcmp(cmd, "watch") && i < argc) {
		ret = cmd_watch(strtoull(argv[i], NULL, 0));
	} else if (!strcmp(cmd, "latency") && i < argc) {
		ret = cmd_latency(atoi(argv[i]));
	} else if (!strcmp(cmd, "await-evict") && i < argc) {
		ret = cmd_await_evict((uint32_t)atoi(argv[i]));
	} else if (!strcmp(cmd, "loris") && i < argc) {
		ret = cmd_loris(atoi(argv[i]));
	} else if (!strcmp(cmd, "slow") && i + 1 < argc) {
		ret = cmd_slow(atoi(argv[i]), atoi(argv[i + 1]));
	} else if (!strcmp(cmd, "many") && i + 1 < argc) {
		ret = cmd_many(atoi(argv[i]), atoi(argv[i + 1]));
	} else if (!strcmp(cmd, "fd-full") && i + 1 < argc) {
		ret = cmd_fd_full(atoi(argv[i]), atoi(argv[i + 1]));
	} else if (!strcmp(cmd, "expect-evict")) {
		ret = cmd_expect_evict();
	} else {
		die("unknown command %s", cmd);
	}
	if (ret)
		fprintf(stderr, "cnm_testclient: %s: %s\n", cmd,
			strerror(-ret));
	return ret ? exit_code(ret) : 0;
}
