// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the shared primitives: reply status -> -errno
 * (rdma/proto.h), deadlines (common/clock.h) and the deadline-bounded
 * socket loops and connect (common/sock.h), over a socketpair and a
 * listener on 127.0.0.1 with an ephemeral port.
 */
#include "common/clock.h"
#include "common/sock.h"
#include "rdma/proto.h"
#include "tests/unit/check_run.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(status_errno_maps_zero_errno_and_out_of_range)
{
	ck_assert_int_eq(proto_status_errno(0), 0);
	ck_assert_int_eq(proto_status_errno(ENOSPC), -ENOSPC);
	ck_assert_int_eq(proto_status_errno(4095), -4095);
	ck_assert_int_eq(proto_status_errno(4096), -EPROTO);
	ck_assert_int_eq(proto_status_errno(UINT32_MAX), -EPROTO);
	ck_assert_int_eq(proto_status_errno(0x80000000u), -EPROTO);
}
END_TEST

START_TEST(deadline_left_counts_down_to_zero)
{
	uint64_t d = deadline_after_ms(1000);
	int left = deadline_left_ms(d);

	ck_assert_int_gt(left, 0);
	ck_assert_int_le(left, 1000);
	ck_assert_int_eq(deadline_left_ms(mono_ns() - 1), 0);
	ck_assert_int_eq(deadline_left_ms(deadline_after_ms(0)), 0);
	ck_assert_int_eq(deadline_left_ms(DEADLINE_NEVER), -1);
	ck_assert_int_gt(deadline_left_ms(deadline_after_ms(UINT32_MAX)), 0);
}
END_TEST

START_TEST(send_and_recv_all_move_every_byte)
{
	static char out[1 << 20], in[1 << 20];
	int sv[2];
	pid_t pid;
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		close(sv[0]);
		_exit(sock_send_all(sv[1], out, sizeof(out),
				    deadline_after_ms(10000))
			      ? 1
			      : 0);
	}
	close(sv[1]);
	ck_assert_int_eq(
		sock_recv_all(sv[0], in, sizeof(in), deadline_after_ms(10000)),
		0);
	ck_assert(!memcmp(in, out, sizeof(in)));
	/* the peer is gone: a receive says so instead of waiting */
	ck_assert_int_eq(sock_recv_all(sv[0], in, 1, deadline_after_ms(1000)),
			 -ECONNRESET);
	close(sv[0]);
}
END_TEST

START_TEST(recv_all_times_out_on_a_silent_peer)
{
	char b[4];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(send(sv[1], "ab", 2, 0), 2);
	ck_assert_int_eq(
		sock_recv_all(sv[0], b, sizeof(b), deadline_after_ms(50)),
		-ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(send_all_to_a_closed_peer_fails_without_sigpipe)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	ck_assert_int_eq(sock_send_all(sv[0], "x", 1, deadline_after_ms(1000)),
			 -EPIPE);
	close(sv[0]);
}
END_TEST

/* A listener on 127.0.0.1, ephemeral port written to port. */
static int listener(char *port, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(port, len, "%u", ntohs(sin.sin_port));
	return fd;
}

START_TEST(connect_host_reaches_a_listener_and_talks)
{
	char port[16], b[3];
	int lfd = listener(port, sizeof(port)), fd = -1, afd;

	ck_assert_int_eq(sock_connect_host("127.0.0.1", port,
					   deadline_after_ms(5000), &fd),
			 0);
	ck_assert_int_ge(fd, 0);
	afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	ck_assert_int_eq(sock_send_all(fd, "abc", 3, deadline_after_ms(1000)),
			 0);
	ck_assert_int_eq(sock_recv_all(afd, b, 3, deadline_after_ms(1000)), 0);
	ck_assert(!memcmp(b, "abc", 3));
	close(afd);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(connect_host_reports_refused_and_unresolvable)
{
	char port[16];
	int lfd = listener(port, sizeof(port)), fd = 5;

	close(lfd); /* nothing listens there now */
	ck_assert_int_eq(sock_connect_host("127.0.0.1", port,
					   deadline_after_ms(5000), &fd),
			 -ECONNREFUSED);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(sock_connect_host("no-such-host.invalid", "1",
					   deadline_after_ms(5000), &fd),
			 -EHOSTUNREACH);
}
END_TEST

START_TEST(connect_host_cancel_gives_up_when_the_fd_is_readable)
{
	uint64_t one = 1;
	int efd = eventfd(0, EFD_CLOEXEC), fd;

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
	/* cancelled before it starts: no attempt, whatever the route */
	ck_assert_int_eq(sock_connect_host_cancel("192.0.2.1", "9",
						  deadline_after_ms(20000), efd,
						  &fd),
			 -ECONNABORTED);
	close(efd);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"prims", NULL,
		CNM_TESTS(
			status_errno_maps_zero_errno_and_out_of_range,
			deadline_left_counts_down_to_zero,
			send_and_recv_all_move_every_byte,
			recv_all_times_out_on_a_silent_peer,
			send_all_to_a_closed_peer_fails_without_sigpipe,
			connect_host_reaches_a_listener_and_talks,
			connect_host_reports_refused_and_unresolvable,
			connect_host_cancel_gives_up_when_the_fd_is_readable));
}
