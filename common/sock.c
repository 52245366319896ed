// SPDX-License-Identifier: GPL-2.0-or-later
/* sock - deadline-bounded send/recv loops and connect, see sock.h. */
#include "common/sock.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits for events on fd (and POLLIN on cancel_fd when >= 0) until the
 * deadline: 0 when fd is ready, -ETIMEDOUT, -ECONNABORTED or -errno. */
static int wait_fd(int fd, short events, int cancel_fd, uint64_t deadline)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = events },
		{ .fd = cancel_fd, .events = POLLIN },
	};
	int n;

	do {
		n = poll(pfd, cancel_fd >= 0 ? 2 : 1,
			 deadline_left_ms(deadline));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (cancel_fd >= 0 && pfd[1].revents)
		return -ECONNABORTED;
	if (n == 0)
		return -ETIMEDOUT;
	return 0;
}

int sock_send_all(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const char *p = buf;
	ssize_t n;
	int ret;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(fd, POLLOUT, -1, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

int sock_recv_all(int fd, void *buf, size_t len, uint64_t deadline)
{
	char *p = buf;
	ssize_t n;
	int ret;

	while (len) {
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(fd, POLLIN, -1, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

/* One address: 0 with *out a connected blocking socket, or -errno. */
static int connect_one(const struct addrinfo *ai, uint64_t deadline,
		       int cancel_fd, int *out)
{
	socklen_t sl = sizeof(int);
	int fd, ret, soerr = 0, one = 1;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	ret = connect(fd, ai->ai_addr, ai->ai_addrlen) ? -errno : 0;
	if (ret == -EINPROGRESS) {
		ret = wait_fd(fd, POLLOUT, cancel_fd, deadline);
		if (!ret && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl))
			ret = -errno;
		if (!ret)
			ret = -soerr;
	}
	if (ret)
		goto out_close;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		ret = -errno;
		goto out_close;
	}
	*out = fd;
	return 0;

out_close:
	close(fd);
	return ret;
}

int sock_connect_host_cancel(const char *host, const char *port,
			     uint64_t deadline, int cancel_fd, int *fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int ret;

	*fd = -1;
	if (cancel_fd >= 0 && wait_fd(cancel_fd, POLLIN, -1, 0) == 0)
		return -ECONNABORTED; /* cancelled before it started */
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret)
		return ret == EAI_SYSTEM && errno ? -errno : -EHOSTUNREACH;
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		ret = connect_one(ai, deadline, cancel_fd, fd);
		if (!ret || ret == -ECONNABORTED || ret == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return ret;
}

int sock_connect_host(const char *host, const char *port, uint64_t deadline,
		      int *fd)
{
	return sock_connect_host_cancel(host, port, deadline, -1, fd);
}
