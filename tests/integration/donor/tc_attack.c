// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tc_attack - cnm_testclient's attacks: one bad input at a time against a
 * donor, checking its answer, its one log line and a victim's data
 * (attack KIND), and the denial-of-service attempts before authentication
 * (loris, slow).
 */
#include "common/clock.h"
#include "rdma/auth.h"
#include "rdma/handshake.h"
#include "rdma/proto.h"
#include "tests/integration/donor/cnm_testclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Lines of the donor log naming 127.0.0.1:port. */
static int log_lines(int port, const char *want, int *matching)
{
	char needle[64], line[1024];
	FILE *f;
	int n = 0;

	*matching = 0;
	snprintf(needle, sizeof(needle), "client 127.0.0.1:%d:", port);
	f = fopen(g_log, "r");
	if (!f)
		die("cannot open log %s", g_log);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, needle))
			continue;
		n++;
		if (strstr(line, want))
			(*matching)++;
	}
	fclose(f);
	return n;
}

/* Waits for the donor's one line about port, then checks it is one. */
static void expect_log_line(int port, const char *want)
{
	uint64_t end = deadline_after_ms(10000);
	int n = 0, m = 0;

	if (!g_log)
		return;
	while (mono_ns() < end) {
		n = log_lines(port, want, &m);
		if (n)
			break;
		usleep(20000);
	}
	/* give a wrong second line the chance to show up */
	usleep(200000);
	n = log_lines(port, want, &m);
	if (n != 1 || m != 1)
		die("donor logged %d lines about 127.0.0.1:%d (%d with '%s'), "
		    "want exactly 1",
		    n, port, m, want);
}

/* Expects ERROR (status want) and then the close. */
static void expect_error_and_close(int fd, int want)
{
	struct proto_hdr h;
	char body[PROTO_ERRTEXT_MAX];
	int ret;

	ret = hs_recv_msg(fd, &h, body, sizeof(body), TMO);
	if (ret)
		die("no ERROR message: %s", strerror(-ret));
	if (h.op != PROTO_OP_ERROR || (int)h.status != want)
		die("got %s status %u, want error status %d",
		    proto_op_name(h.op), h.status, want);
	ret = hs_recv_msg(fd, &h, body, sizeof(body), TMO);
	if (ret != -ECONNRESET)
		die("connection not closed after ERROR (%d)", ret);
}

static void send_raw(int fd, const void *buf, size_t len)
{
	if (hs_write_full(fd, buf, len, TMO))
		die("send failed");
}

static void send_hdr(int fd, uint16_t op, uint16_t flags, uint32_t len,
		     uint32_t magic)
{
	struct wire_hdr w;

	proto_hdr_enc(&w,
		      &(struct proto_hdr){
			      .op = op, .flags = flags, .id = 7, .len = len });
	if (magic)
		w.magic = magic;
	send_raw(fd, &w, sizeof(w));
}

static void heartbeat_ok(int fd)
{
	int ret = rpc(fd, PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0, NULL, 0);

	if (ret)
		die("connection unusable after a refused request: %s",
		    strerror(-ret));
}

/* Sends READs of the whole slab until the socket has taken nothing for
 * half a second: both sides' buffers are full. */
static void stuff_reads(int fd, uint32_t slab)
{
	struct wire_io io = { .slab = slab, .len = (uint32_t)g_slab };
	uint8_t msg[sizeof(struct wire_hdr) + sizeof(io)];
	uint64_t idle_since = mono_ns();
	size_t off = 0;
	unsigned int n = 0;
	ssize_t w;

	proto_io_swap(&io);
	memcpy(msg + sizeof(struct wire_hdr), &io, sizeof(io));
	while (mono_ns() - idle_since < 500000000ull) {
		if (!off)
			proto_hdr_enc(msg,
				      &(struct proto_hdr){ .op = PROTO_OP_READ,
							   .id = ++n,
							   .len = sizeof(io) });
		w = send(fd, msg + off, sizeof(msg) - off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN)
			die("send: %s", strerror(errno));
		if (w <= 0) {
			usleep(10000);
			continue;
		}
		off = (off + (size_t)w) % sizeof(msg);
		idle_since = mono_ns();
	}
	if (n < 8)
		die("only %u reads went out", n);
}

/* The victim's requests are answered and its data is intact. */
static void victim_served(int vfd, uint32_t vslab, const char *kind)
{
	int ret;

	heartbeat_ok(vfd);
	ret = check_slab(vfd, 77, vslab);
	if (ret)
		die("victim during %s: %s", kind, strerror(-ret));
}

int cmd_attack(const char *kind)
{
	uint8_t vs[PROTO_SESSION_LEN], as[PROTO_SESSION_LEN];
	static uint8_t buf[8192];
	struct wire_hello hello;
	struct hs_client hc;
	struct hs_params p = { .key = &g_key, .slab_size = g_slab };
	uint32_t vslab, aslab, ids[256];
	int vfd, fd, port, ret, n = 0;
	struct proto_hdr h;

	/* the victim: its data must survive every attack untouched */
	auth_random(vs, sizeof(vs));
	auth_random(as, sizeof(as));
	vfd = must_open(vs);
	if (do_alloc(vfd, &vslab))
		die("victim alloc");
	fill_slab(vfd, 77, vslab);

	if (!strcmp(kind, "garbage")) {
		fd = tcp_connect();
		port = local_port(fd);
		for (size_t i = 0; i < 64; i++)
			buf[i] = (uint8_t)xorshift(&rnd_state);
		buf[0] = 'X'; /* never the magic */
		send_raw(fd, buf, 64);
		expect_error_and_close(fd, EBADMSG);
		expect_log_line(port, "garbage");
	} else if (!strcmp(kind, "truncated-header")) {
		fd = tcp_connect();
		port = local_port(fd);
		send_raw(fd, "CNMW\x03\x00", 6);
		close(fd);
		fd = -1;
		expect_log_line(port, "truncated header");
	} else if (!strcmp(kind, "oversize")) {
		fd = must_open(as);
		port = local_port(fd);
		send_hdr(fd, PROTO_OP_WRITE, 0, PROTO_MAX_BODY + 4096, 0);
		expect_error_and_close(fd, EMSGSIZE);
		expect_log_line(port, "length over the maximum");
	} else if (!strcmp(kind, "unknown-opcode")) {
		fd = must_open(as);
		port = local_port(fd);
		send_hdr(fd, 99, 0, 0, 0);
		expect_error_and_close(fd, EOPNOTSUPP);
		expect_log_line(port, "unknown opcode");
	} else if (!strcmp(kind, "wrong-version")) {
		fd = tcp_connect();
		port = local_port(fd);
		hs_hello_build(&p, &hc);
		hello = hc.sent;
		hello.version = PROTO_VERSION + 1;
		proto_hello_swap(&hello);
		send_hdr(fd, PROTO_OP_HELLO, 0, sizeof(hello), 0);
		send_raw(fd, &hello, sizeof(hello));
		ret = hs_recv_msg(fd, &h, buf, sizeof(buf), TMO);
		if (ret || h.op != PROTO_OP_HELLO ||
		    h.status != EPROTONOSUPPORT)
			die("wrong version answered %d/%s/%u", ret,
			    proto_op_name(h.op), h.status);
		if (hs_recv_msg(fd, &h, buf, sizeof(buf), TMO) != -ECONNRESET)
			die("connection not closed after a wrong version");
		expect_log_line(port, "unsupported protocol version");
	} else if (!strcmp(kind, "wrong-proof")) {
		struct wire_auth wa;

		fd = tcp_connect();
		port = local_port(fd);
		hs_hello_build(&p, &hc);
		hello = hc.sent;
		proto_hello_swap(&hello);
		send_hdr(fd, PROTO_OP_HELLO, 0, sizeof(hello), 0);
		send_raw(fd, &hello, sizeof(hello));
		ret = hs_recv_msg(fd, &h, buf, sizeof(buf), TMO);
		if (ret || h.op != PROTO_OP_HELLO || h.status)
			die("hello answered %d/%u", ret, h.status);
		auth_random(wa.proof, sizeof(wa.proof));
		send_hdr(fd, PROTO_OP_AUTH, 0, sizeof(wa), 0);
		send_raw(fd, &wa, sizeof(wa));
		ret = hs_recv_msg(fd, &h, buf, sizeof(buf), TMO);
		if (ret || h.op != PROTO_OP_AUTH || h.status != EACCES)
			die("a wrong proof answered %d/%s/%u", ret,
			    proto_op_name(h.op), h.status);
		if (hs_recv_msg(fd, &h, buf, sizeof(buf), TMO) != -ECONNRESET)
			die("connection not closed after a wrong proof");
		expect_log_line(port, "authentication failed");
	} else if (!strcmp(kind, "silent")) {
		/* connects and says nothing: dropped after the deadline */
		fd = tcp_connect();
		port = local_port(fd);
		ret = hs_recv_msg(fd, &h, buf, sizeof(buf), 30000);
		if (ret != -ECONNRESET)
			die("a silent client was not dropped (%d)", ret);
		expect_log_line(port, "no hello within");
	} else if (!strcmp(kind, "before-auth")) {
		fd = tcp_connect();
		port = local_port(fd);
		send_hdr(fd, PROTO_OP_QUERY, 0, 0, 0);
		expect_error_and_close(fd, EACCES);
		expect_log_line(port, "before authentication");
	} else if (!strcmp(kind, "read-outside-slab") ||
		   !strcmp(kind, "write-outside-slab") ||
		   !strcmp(kind, "write-offset-overflow")) {
		int wr = kind[0] == 'w';
		uint64_t off = strstr(kind, "overflow") ? UINT64_MAX - 100
							: g_slab - 100;

		fd = must_open(as);
		port = local_port(fd);
		if (do_alloc(fd, &aslab))
			die("attacker alloc");
		ret = do_io(fd, wr ? PROTO_OP_WRITE : PROTO_OP_READ, aslab, off,
			    4096, buf);
		if (ret != -EFAULT)
			die("%s answered %d, want -EFAULT", kind, ret);
		heartbeat_ok(fd);
		expect_log_line(port, "range outside the slab");
	} else if (!strcmp(kind, "read-other-session") ||
		   !strcmp(kind, "write-other-session")) {
		int wr = kind[0] == 'w';

		fd = must_open(as);
		port = local_port(fd);
		memset(buf, 0xAA, 4096);
		ret = do_io(fd, wr ? PROTO_OP_WRITE : PROTO_OP_READ, vslab, 0,
			    4096, buf);
		if (ret != -EINVAL)
			die("%s answered %d, want -EINVAL", kind, ret);
		heartbeat_ok(fd);
		expect_log_line(port, "slab not held by this client");
	} else if (!strcmp(kind, "never-reads")) {
		/* READs of a whole slab, never a reply read, until neither
		 * side's socket takes more: the donor stops reading from it,
		 * and serves the victim meanwhile (even with one thread) */
		fd = must_open(as);
		if (do_alloc(fd, &aslab))
			die("alloc");
		stuff_reads(fd, aslab);
		victim_served(vfd, vslab, kind);
	} else if (!strcmp(kind, "stalled-write")) {
		/* half a WRITE's data, then nothing: others are served */
		struct wire_io io = { .len = 65536 };

		fd = must_open(as);
		port = local_port(fd);
		if (do_alloc(fd, &aslab))
			die("alloc");
		io.slab = aslab;
		proto_io_swap(&io);
		send_hdr(fd, PROTO_OP_WRITE, 0, sizeof(io) + 65536, 0);
		send_raw(fd, &io, sizeof(io));
		send_raw(fd, buf, 4000);
		victim_served(vfd, vslab, kind);
		close(fd);
		fd = -1;
		expect_log_line(port, "truncated write");
	} else if (!strcmp(kind, "alloc-too-much")) {
		fd = must_open(as);
		port = local_port(fd);
		while (n < 256 && !(ret = do_alloc(fd, &ids[n])))
			n++;
		if (ret != -ENOSPC)
			die("allocating past the end answered %d", ret);
		heartbeat_ok(fd);
		expect_log_line(port, "no free slab");
		for (int i = 0; i < n; i++)
			if (do_free(fd, ids[i]))
				die("free %u", ids[i]);
	} else {
		die("unknown attack %s", kind);
	}
	if (fd >= 0)
		close(fd);
	/* the donor still serves the victim, whose data is intact */
	heartbeat_ok(vfd);
	ret = check_slab(vfd, 77, vslab);
	if (ret)
		die("victim data after %s: %s", kind, strerror(-ret));
	close(vfd);
	/* and new clients still get in */
	auth_random(vs, sizeof(vs));
	vfd = must_open(vs);
	heartbeat_ok(vfd);
	close(vfd);
	printf("attack %s: refused, logged once, victim intact\n", kind);
	return 0;
}

/* One byte of a HELLO a second: the donor must close by its deadline. */
int cmd_loris(int seconds)
{
	struct hs_params p = { .key = &g_key, .slab_size = g_slab };
	uint8_t msg[sizeof(struct wire_hdr) + sizeof(struct wire_hello)];
	struct proto_hdr h = { .op = PROTO_OP_HELLO,
			       .id = 1,
			       .len = sizeof(struct wire_hello) };
	uint64_t t0 = mono_ns();
	struct hs_client hc;
	int fd = tcp_connect();

	hs_hello_build(&p, &hc);
	proto_hello_swap(&hc.sent);
	proto_hdr_enc(msg, &h);
	memcpy(msg + sizeof(struct wire_hdr), &hc.sent, sizeof(hc.sent));
	for (size_t i = 0; i < sizeof(msg); i++) {
		char c;

		/* closed? (a reset or EOF ends the trickle) */
		if (recv(fd, &c, 1, MSG_DONTWAIT) == 0 ||
		    send(fd, &msg[i], 1, MSG_NOSIGNAL) != 1) {
			printf("closed after %zu bytes, %.1f s\n", i,
			       (mono_ns() - t0) / 1e9);
			close(fd);
			return (mono_ns() - t0) / 1000000000ull <
					       (uint64_t)seconds
				       ? 0
				       : -ETIMEDOUT;
		}
		sleep(1);
		if ((mono_ns() - t0) / 1000000000ull > (uint64_t)seconds + 5)
			break;
	}
	printf("still open after %.1f s\n", (mono_ns() - t0) / 1e9);
	close(fd);
	return -ETIMEDOUT;
}

/* n connections stalled mid-HELLO, refreshed as the donor drops them,
 * while real handshakes go on: every real one must pass. */
int cmd_slow(int n, int seconds)
{
	static const uint8_t half[] = { 0x43, 0x4e, 0x4d, 0x57, 0x01 };
	int fds[256], ok = 0, fd;
	char err[256];
	uint64_t end = deadline_after_ms(seconds * 1000u);

	if (n > 256)
		n = 256;
	for (int i = 0; i < n; i++) {
		fds[i] = tcp_connect();
		send(fds[i], half, sizeof(half), MSG_NOSIGNAL);
	}
	while (mono_ns() < end) {
		uint8_t sess[PROTO_SESSION_LEN];

		/* a flood: the dropped ones come straight back */
		for (int i = 0; i < n; i++) {
			char c;

			if (recv(fds[i], &c, 1, MSG_DONTWAIT) == 0 ||
			    send(fds[i], half, 1, MSG_NOSIGNAL) != 1) {
				close(fds[i]);
				fds[i] = tcp_connect();
				send(fds[i], half, sizeof(half), MSG_NOSIGNAL);
			}
		}
		auth_random(sess, sizeof(sess));
		fd = open_session(sess, err, sizeof(err));
		if (fd < 0) {
			printf("a real client was refused: %s\n", err);
			return fd;
		}
		close(fd);
		ok++;
		usleep(200000);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	printf("%d real handshakes passed beside %d slow connections\n", ok, n);
	return ok ? 0 : -EIO;
}
