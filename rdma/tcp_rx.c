// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_rx - the receive side of the TCP transport: an incremental parser
 * per connection, run by the connection's event loop (tcp_loop.c) each
 * time its socket is readable, and the loop's timer.
 *
 *   RX_HDR ---header---> reply:  look up the in-flight slot, then
 *     ^                          RX_BODY (control reply) or
 *     |                          RX_PAYLOAD (READ data) or complete
 *     |                  EVICT, ERROR: RX_BODY
 *     +---- message complete: done() / XPORT_EV_EVICT
 *
 * Replies are read through c->rbuf: one recv takes whatever the socket
 * holds (a burst of WRITE acks, READ data with the headers around it), so
 * a pipelined burst costs one syscall rather than two per reply. Only the
 * rest of a big READ payload goes straight into the ios' buffers. Every
 * recv is MSG_DONTWAIT: the parser keeps its place (c->rx_state, c->rs,
 * c->rio) and returns when the socket is empty; nothing is allocated.
 *
 * A message must be finished within io_timeout_ms of its first bytes
 * (c->msg_deadline), and the timer scan fails requests older than
 * io_timeout_ms; either ends the link.
 *
 * Threading: only the holder of the connection's receive claim runs
 * this file (its loop thread, or a thread collecting its own reply:
 * tcp_poll.c); it takes c->xc.lock only to look up and release in-flight
 * slots, never across a receive or a callback.
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/tcp_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum { RX_HDR, RX_BODY, RX_PAYLOAD };

static size_t rx_avail(const struct tcp_conn *c)
{
	return c->rlen - c->roff;
}

/* One non-blocking recv into the buffer: 0, or -errno (-EAGAIN when the
 * socket is empty, -ECONNRESET at EOF). */
static int rx_fill(struct tcp_conn *c)
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
		n = recv(c->src.fd, c->rbuf + c->rlen, TCP_RBUF - c->rlen,
			 MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	c->rlen += n;
	c->rx_bytes += (uint64_t)n;
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

/* The current message is over: its slot (if any) completes with status
 * and goes back to the free list. */
static void rx_complete(struct tcp_conn *c, int status)
{
	struct tcp_slot *s = c->rs;

	c->rs = NULL;
	c->rio = NULL;
	c->rx_state = RX_HDR;
	c->msg_deadline = 0;
	if (!s)
		return;
	tcp_complete_ios(c, s->ios, status);
	pthread_mutex_lock(&c->xc.lock);
	tcp_slot_put(c, s);
	pthread_mutex_unlock(&c->xc.lock);
}

/* A reply that breaks the protocol: its request fails, the link ends. */
static int rx_bad(struct tcp_conn *c)
{
	rx_complete(c, -ECONNRESET);
	LOG_RATELIMITED(LOG_WARNING, "donor %s: bad %s reply", c->xc.peer,
			proto_op_name(c->rh.op));
	return -EPROTO;
}

static int rx_unsolicited(struct tcp_conn *c)
{
	const struct proto_hdr *h = &c->rh;

	switch (h->op) {
	case PROTO_OP_EVICT:
		if (h->len != sizeof(struct wire_evict))
			return -EPROTO;
		break;
	case PROTO_OP_ERROR:
		if (h->len > PROTO_ERRTEXT_MAX)
			return -EPROTO;
		break;
	default:
		log_warn("donor %s: unexpected %s message", c->xc.peer,
			 proto_op_name(h->op));
		return -EPROTO;
	}
	c->rx_state = RX_BODY;
	return 0;
}

/* A whole header is buffered: decodes it and starts its message. */
static int rx_header(struct tcp_conn *c)
{
	struct proto_hdr *h = &c->rh;
	struct tcp_slot *s = NULL;
	uint32_t idx;
	int ret;

	ret = proto_hdr_dec(c->rbuf + c->roff, h);
	c->roff += sizeof(struct wire_hdr);
	if (ret) {
		log_warn("donor %s: %s", c->xc.peer, proto_strerror(ret));
		return -EPROTO;
	}
	if (!(h->flags & PROTO_F_REPLY))
		return rx_unsolicited(c);
	idx = (uint32_t)h->id;
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
		c->rs = s;
		return rx_bad(c);
	}
	c->rs = s;
	c->rstatus = proto_status_errno(h->status);
	if (s->dir == TCP_DIR_CTL) {
		if (h->len > sizeof(((struct tcp_ctl *)0)->reply))
			return rx_bad(c);
		c->rx_state = RX_BODY;
	} else if (s->op == PROTO_OP_READ && !c->rstatus) {
		if (h->len != s->len)
			return rx_bad(c);
		c->rio = s->ios;
		c->rdone = 0;
		c->rleft = s->len;
		c->rx_state = RX_PAYLOAD;
	} else if (h->len) {
		return rx_bad(c);
	} else {
		rx_complete(c, c->rstatus);
	}
	return 0;
}

/* The whole body (h.len bytes) is buffered. */
static int rx_body(struct tcp_conn *c)
{
	char text[PROTO_ERRTEXT_MAX + 1];
	struct wire_evict ev;
	struct tcp_ctl *ctl;

	if (c->rs) {
		ctl = (struct tcp_ctl *)c->rs->ios;
		rx_copy(c, ctl->reply, c->rh.len);
		ctl->reply_len = c->rh.len;
		rx_complete(c, c->rstatus);
		return 0;
	}
	c->rx_state = RX_HDR;
	c->msg_deadline = 0;
	if (c->rh.op == PROTO_OP_ERROR) {
		rx_copy(c, text, c->rh.len);
		text[c->rh.len] = '\0';
		log_warn("donor %s: closed the connection: %s", c->xc.peer,
			 text);
		return -EPROTO;
	}
	rx_copy(c, &ev, sizeof(ev));
	proto_evict_swap(&ev);
	/* a hostile donor may flood these: rate-limited */
	LOG_RATELIMITED(LOG_INFO, "donor %s: asks slab %u back", c->xc.peer,
			ev.slab);
	xconn_emit(&c->xc, XPORT_EV_EVICT, 0, ev.slab, ev.deadline_ms);
	return 0;
}

/* n more payload bytes landed in rio at rdone */
static void rx_advance(struct tcp_conn *c, size_t n)
{
	while (n && c->rio) {
		size_t k =
			c->rio->len - c->rdone < n ? c->rio->len - c->rdone : n;

		c->rdone += k;
		c->rleft -= k;
		n -= k;
		if (c->rdone == c->rio->len) {
			c->rio = c->rio->next;
			c->rdone = 0;
		}
	}
}

/* Buffered payload bytes into the ios. */
static void rx_payload_copy(struct tcp_conn *c)
{
	while (c->rio && c->rleft && rx_avail(c))
		rx_advance(c, rx_copy(c, (char *)c->rio->buf + c->rdone,
				      c->rio->len - c->rdone));
}

/* One recvmsg straight into the ios' buffers: 0, -EAGAIN or -errno. */
static int rx_direct(struct tcp_conn *c)
{
	struct msghdr mh = { .msg_iov = c->riov };
	struct xport_io *io = c->rio;
	size_t done = c->rdone;
	ssize_t n;
	int cnt = 0;

	for (; io && cnt < TCP_IOV; io = io->next, done = 0) {
		c->riov[cnt].iov_base = (char *)io->buf + done;
		c->riov[cnt++].iov_len = io->len - done;
	}
	mh.msg_iovlen = cnt;
	do
		n = recvmsg(c->src.fd, &mh, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	c->rx_bytes += (uint64_t)n;
	rx_advance(c, (size_t)n);
	return 0;
}

void tcp_rx_reset(struct tcp_conn *c)
{
	c->roff = c->rlen = 0;
	c->rx_state = RX_HDR;
	c->rs = NULL;
	c->rio = NULL;
	c->msg_deadline = 0;
	c->rx_last_ns = mono_ns();
}

int tcp_rx_ready(struct tcp_conn *c)
{
	unsigned int budget = TCP_RX_BUDGET;
	uint64_t got = c->rx_bytes, now;
	bool begun;
	int ret = 0;

	for (;;) {
		switch (c->rx_state) {
		case RX_HDR:
			if (rx_avail(c) < sizeof(struct wire_hdr))
				goto fill;
			ret = rx_header(c);
			break;
		case RX_BODY:
			if (rx_avail(c) < c->rh.len)
				goto fill;
			ret = rx_body(c);
			break;
		default: /* RX_PAYLOAD */
			rx_payload_copy(c);
			if (!c->rleft) {
				rx_complete(c, 0);
				break;
			}
			if (c->rleft <= TCP_RDIRECT)
				goto fill;
			if (!budget--)
				goto out_later;
			ret = rx_direct(c);
			if (ret == -EAGAIN)
				goto out_later;
			break;
		}
		if (ret)
			return ret;
		continue;
	fill:
		if (!budget--)
			goto out_later;
		ret = rx_fill(c);
		if (ret == -EAGAIN)
			goto out_later;
		if (ret)
			return ret;
	}

out_later:
	begun = !c->msg_deadline && (c->rx_state != RX_HDR || rx_avail(c));
	if (c->rx_bytes == got && !begun)
		return 0;
	now = mono_ns();
	if (c->rx_bytes != got)
		c->rx_last_ns = now;
	/* a message begun must end within io_timeout_ms */
	if (begun)
		c->msg_deadline = now + (uint64_t)c->xc.io_ms * 1000000;
	return 0;
}

bool tcp_rx_idle(const struct tcp_conn *c)
{
	return c->rx_state == RX_HDR && !rx_avail(c);
}

void tcp_rx_abort(struct tcp_conn *c, int err)
{
	rx_complete(c, err == -ETIMEDOUT ? err : -ECONNRESET);
}

/*
 * Whether s is late: older than io_timeout_ms while the donor has sent
 * nothing for as long (a donor that keeps answering is alive, its queue
 * long: a busy healthy donor must not be taken for a dead one, or a page
 * whose other copy is away reads EIO), or older than TCP_AGE_MAX io
 * timeouts whatever comes (a donor that answers others but not it).
 */
static bool slot_late(const struct tcp_conn *c, const struct tcp_slot *s,
		      uint64_t now)
{
	uint64_t lim = (uint64_t)c->xc.io_ms * 1000000;
	uint64_t age = mono_since(now, s->t_sent);

	return age >= lim && (mono_since(now, c->rx_last_ns) >= lim ||
			      age >= TCP_AGE_MAX * lim);
}

/* Fails the requests that are late; -ETIMEDOUT if any. */
static int scan_timeouts(struct tcp_conn *c, uint64_t now)
{
	struct tcp_slot *s, *expired = NULL;
	uint64_t oldest = 0;
	unsigned int n = 0;

	pthread_mutex_lock(&c->xc.lock);
	/* the chain being sent is the leader's until sendmsg returns (and
	 * SO_SNDTIMEO bounds that); it sits at the end of the list */
	while ((s = c->inflight.next) != &c->inflight && slot_late(c, s, now) &&
	       !(c->sending && s->chain == c->chain_seq)) {
		if (!oldest)
			oldest = mono_since(now, s->t_sent);
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
			"donor %s: %u requests timed out (the oldest waited "
			"%" PRIu64 " ms, nothing received for %" PRIu64
			" ms), resetting the connection",
			c->xc.peer, n, oldest / 1000000,
			mono_since(now, c->rx_last_ns) / 1000000);
	return -ETIMEDOUT;
}

/* Whether the oldest request in flight is late. */
static bool oldest_expired(struct tcp_conn *c, uint64_t now)
{
	bool ret;

	pthread_mutex_lock(&c->xc.lock);
	ret = c->inflight.next != &c->inflight &&
	      slot_late(c, c->inflight.next, now);
	pthread_mutex_unlock(&c->xc.lock);
	return ret;
}

int tcp_rx_tick(struct tcp_conn *c, uint64_t now)
{
	int ret;

	/* replies already here are not late: the loop may have been busy
	 * (a callback, another connection) since they came */
	if (oldest_expired(c, now)) {
		ret = tcp_rx_ready(c);
		if (ret)
			return ret;
	}
	if (c->msg_deadline && now >= c->msg_deadline) {
		LOG_RATELIMITED(LOG_WARNING,
				"donor %s: message unfinished after %u ms",
				c->xc.peer, c->xc.io_ms);
		return -ETIMEDOUT;
	}
	return scan_timeouts(c, now);
}
