/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sock - blocking TCP primitives bounded by a deadline (common/clock.h).
 *
 * sock_send_all/sock_recv_all move exactly len bytes or fail; they wait
 * with poll(2) until the deadline, so they work on blocking and
 * non-blocking sockets alike and never raise SIGPIPE. sock_connect_host
 * resolves host:port (getaddrinfo) and connects to the first address that
 * answers by the deadline; the socket it returns is blocking, close-on-
 * exec, with TCP_NODELAY.
 *
 * Returns: 0 or -errno; -ETIMEDOUT when the deadline passed,
 * -ECONNRESET when the peer closed in the middle of a receive,
 * -EHOSTUNREACH when the name does not resolve, -ECONNABORTED when the
 * cancel fd of sock_connect_host_cancel became readable.
 *
 * Threading: no shared state; any thread. Each call blocks its caller
 * up to its deadline and holds nothing while it does.
 */
#ifndef CNM_COMMON_SOCK_H
#define CNM_COMMON_SOCK_H

#include <stddef.h>
#include <stdint.h>

int sock_send_all(int fd, const void *buf, size_t len, uint64_t deadline);
int sock_recv_all(int fd, void *buf, size_t len, uint64_t deadline);
int sock_connect_host(const char *host, const char *port, uint64_t deadline,
		      int *fd);
/* As sock_connect_host; gives up with -ECONNABORTED as soon as cancel_fd
 * (an eventfd or pipe, -1 for none) is readable. */
int sock_connect_host_cancel(const char *host, const char *port,
			     uint64_t deadline, int cancel_fd, int *fd);

#endif
