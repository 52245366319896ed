// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_rx - the receive side of the TCP transport: the conn thread's loop
 * while the connection is UP (rdma/conn.h calls it as run()).
 *
 * Replies are read through c->rbuf: one recv takes whatever the socket
 * holds (a burst of WRITE acks, READ data with the headers around it), so
 * a pipelined burst costs one syscall rather than two per reply. Only the
 * rest of a big READ payload goes straight into the ios' buffers.
 *
 * The socket's SO_RCVTIMEO is the timeout scan period, so that the conn
 * thread can wait for a header in one blocking recv; inside a message,
 * the reads go on until io_timeout_ms has passed since its header.
 *
 * Threading: only the conn thread runs this file; it takes c->xc.lock
 * only to look up and release in-flight slots, never across a receive or
 * a callback.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/tcp_priv.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static size_t rx_avail(const struct tcp_conn *c)
{
	return c->rlen - c->roff;
}

/* One recv into the buffer: 0, or -errno (-EAGAIN when SO_RCVTIMEO
 * expired, -ECONNRESET at EOF). */
static int rx_fill(struct tcp_conn *c, int fd)
{
	ssize_t n;

	if (c->roff == c->rlen) {
		c->roff = c->rlen = 0;
	} else if (c->roff && c->rlen > TCP_RBUF / 2) {
		memmove(c->rbuf, c->rbuf + c->roff, rx_avail(c));
		c->rlen -= c->roff;
		c->roff = 0;
	}
	do
		n = recv(fd, c->rbuf + c->rlen, TCP_RBUF - c->rlen, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	c->rlen += n;
	return 0;
}

/* Waits for at least len (<= TCP_RBUF / 2) buffered bytes, up to
 * c->msg_deadline. */
static int rx_need(struct tcp_conn *c, int fd, size_t len)
{
	int ret;

	while (rx_avail(c) < len) {
		ret = rx_fill(c, fd);
		if (ret == -EAGAIN) {
			if (mono_ns() < c->msg_deadline)
				continue;
			return -ETIMEDOUT;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* Copies up to len buffered bytes to buf; returns how many. */
static size_t rx_copy(struct tcp_conn *c, void *buf, size_t len)
{
	size_t k = rx_avail(c) < len ? rx_avail(c) : len;

	memcpy(buf, c->rbuf + c->roff, k);
	c->roff += k;
	return k;
}

/* Reads exactly len bytes (at most TCP_RBUF / 2) into buf. */
static int read_full(struct tcp_conn *c, int fd, void *buf, size_t len)
{
	int ret = rx_need(c, fd, len);

	if (!ret)
		rx_copy(c, buf, len);
	return ret;
}

static int readv_full(int fd, struct iovec *iov, int cnt, uint64_t deadline)
{
	ssize_t n;

	while (cnt > 0) {
		n = readv(fd, iov, cnt);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (mono_ns() < deadline)
					continue;
				return -ETIMEDOUT;
			}
			return -errno;
		}
		tcp_iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

/*
 * Reads a READ reply's data straight into the buffers of the op's ios:
 * first what the buffer holds; a small rest through the buffer (one recv
 * also brings the next replies), a big one with readv.
 */
static int read_payload(struct tcp_conn *c, int fd, struct tcp_slot *s)
{
	struct xport_io *io = s->ios;
	size_t done = 0, left = s->len;
	int n = 0, ret = 0;

	while (io && rx_avail(c) && left) {
		size_t k = rx_copy(c, (char *)io->buf + done, io->len - done);

		done += k;
		left -= k;
		if (done == io->len) {
			io = io->next;
			done = 0;
		}
	}
	if (!left)
		return 0;
	if (left <= TCP_RDIRECT) {
		ret = rx_need(c, fd, left);
		for (; io && !ret; io = io->next, done = 0)
			rx_copy(c, (char *)io->buf + done, io->len - done);
		return ret;
	}
	for (; io && !ret; io = io->next, done = 0) {
		c->riov[n].iov_base = (char *)io->buf + done;
		c->riov[n++].iov_len = io->len - done;
		if (n == TCP_IOV) {
			ret = readv_full(fd, c->riov, n, c->msg_deadline);
			n = 0;
		}
	}
	if (!ret && n)
		ret = readv_full(fd, c->riov, n, c->msg_deadline);
	return ret;
}

/* A reply for slot s, header h: reads its body, completes it. */
static int handle_reply(struct tcp_conn *c, int fd, const struct proto_hdr *h)
{
	uint32_t idx = (uint32_t)h->id;
	struct tcp_slot *s = NULL;
	int status = proto_status_errno(h->status), ret = 0;

	pthread_mutex_lock(&c->xc.lock);
	if (idx < c->nslots && c->slots[idx].id == h->id &&
	    c->slots[idx].prev) {
		s = &c->slots[idx];
		tcp_slot_unlink(s);
	}
	pthread_mutex_unlock(&c->xc.lock);
	if (!s || s->op != h->op) {
		LOG_RATELIMITED(LOG_WARNING,
				"donor %s: reply %s to unknown request %llu",
				c->xc.peer, proto_op_name(h->op),
				(unsigned long long)h->id);
		if (!s)
			return -EPROTO;
		ret = -EPROTO;
		status = -ECONNRESET;
		goto out_complete;
	}
	if (s->dir == TCP_DIR_CTL) {
		struct tcp_ctl *ctl = (struct tcp_ctl *)s->ios;

		ret = h->len <= sizeof(ctl->reply) ? 0 : -EPROTO;
		if (!ret)
			ret = read_full(c, fd, ctl->reply, h->len);
		ctl->reply_len = h->len;
	} else if (s->op == PROTO_OP_READ && !status) {
		ret = h->len == s->len ? read_payload(c, fd, s) : -EPROTO;
	} else if (h->len) {
		ret = -EPROTO;
	}
	if (ret)
		status = ret == -ETIMEDOUT ? ret : -ECONNRESET;
out_complete:
	tcp_complete_ios(c, s->ios, status);
	pthread_mutex_lock(&c->xc.lock);
	tcp_slot_put(c, s);
	pthread_mutex_unlock(&c->xc.lock);
	if (ret == -EPROTO)
		LOG_RATELIMITED(LOG_WARNING, "donor %s: bad %s reply",
				c->xc.peer, proto_op_name(h->op));
	return ret;
}

static int handle_unsolicited(struct tcp_conn *c, int fd,
			      const struct proto_hdr *h)
{
	char text[PROTO_ERRTEXT_MAX + 1];
	struct wire_evict ev;
	int ret;

	switch (h->op) {
	case PROTO_OP_EVICT:
		if (h->len != sizeof(ev))
			return -EPROTO;
		ret = read_full(c, fd, &ev, sizeof(ev));
		if (ret)
			return ret;
		proto_evict_swap(&ev);
		/* a hostile donor may flood these: rate-limited */
		LOG_RATELIMITED(LOG_INFO, "donor %s: asks slab %u back",
				c->xc.peer, ev.slab);
		xconn_emit(&c->xc, XPORT_EV_EVICT, 0, ev.slab, ev.deadline_ms);
		return 0;
	case PROTO_OP_ERROR:
		ret = read_full(c, fd, text, h->len);
		if (ret)
			return ret;
		text[h->len] = '\0';
		log_warn("donor %s: closed the connection: %s", c->xc.peer,
			 text);
		return -EPROTO;
	default:
		log_warn("donor %s: unexpected %s message", c->xc.peer,
			 proto_op_name(h->op));
		return -EPROTO;
	}
}

/* Fails the requests older than io_timeout_ms; -ETIMEDOUT if any. */
static int scan_timeouts(struct tcp_conn *c)
{
	uint64_t now = mono_ns(), lim = (uint64_t)c->xc.io_ms * 1000000;
	struct tcp_slot *s, *expired = NULL;
	unsigned int n = 0;

	pthread_mutex_lock(&c->xc.lock);
	/* the chain being sent is the leader's until sendmsg returns (and
	 * SO_SNDTIMEO bounds that); it sits at the end of the list */
	while ((s = c->inflight.next) != &c->inflight &&
	       now - s->t_sent >= lim &&
	       !(c->sending && s->chain == c->chain_seq)) {
		tcp_slot_unlink(s);
		s->next = expired;
		expired = s;
	}
	pthread_mutex_unlock(&c->xc.lock);
	if (!expired)
		return 0;
	while ((s = expired)) {
		struct xport_io *io;

		expired = s->next;
		for (io = s->ios; io; io = io->next)
			n++;
		tcp_complete_ios(c, s->ios, -ETIMEDOUT);
		pthread_mutex_lock(&c->xc.lock);
		tcp_slot_put(c, s);
		pthread_mutex_unlock(&c->xc.lock);
	}
	LOG_RATELIMITED(LOG_WARNING,
			"donor %s: %u requests timed out after %u ms, "
			"resetting the connection",
			c->xc.peer, n, c->xc.io_ms);
	return -ETIMEDOUT;
}

int tcp_recv_loop(struct tcp_conn *c, int fd)
{
	uint8_t hbuf[sizeof(struct wire_hdr)];
	uint64_t scan_ns = (uint64_t)c->scan_ms * 1000000;
	uint64_t now, next_scan = mono_ns() + scan_ns;
	struct proto_hdr h;
	int ret = 0;

	c->roff = c->rlen = 0;
	while (!ret) {
		/* one blocking recv for what the socket holds, only when no
		 * whole header is buffered; SO_RCVTIMEO (scan_ms) wakes us
		 * to look for timed-out requests, close() shuts the socket
		 * down */
		if (!rx_avail(c)) {
			ret = rx_fill(c, fd);
			now = mono_ns();
			if (ret == -EAGAIN) {
				ret = scan_timeouts(c);
				next_scan = now + scan_ns;
				continue;
			}
			if (ret)
				break;
		} else {
			now = mono_ns();
		}
		c->msg_deadline = now + (uint64_t)c->xc.io_ms * 1000000;
		ret = read_full(c, fd, hbuf, sizeof(hbuf));
		if (ret)
			break;
		ret = proto_hdr_dec(hbuf, &h);
		if (ret) {
			log_warn("donor %s: %s", c->xc.peer,
				 proto_strerror(ret));
			ret = -EPROTO;
			break;
		}
		if (h.flags & PROTO_F_REPLY)
			ret = handle_reply(c, fd, &h);
		else
			ret = handle_unsolicited(c, fd, &h);
		if (!ret && now >= next_scan) {
			ret = scan_timeouts(c);
			next_scan = now + scan_ns;
		}
	}
	return ret;
}
