// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_conn - a donor TCP connection as a non-blocking state machine
 * (donor/tcp_conn.h), run by its event loop whenever its socket is ready:
 *
 *   tconn_run:  loop
 *                 not closing, output has room, no READ payload pending:
 *                   queued EVICTs -> output
 *                   rx_step: RX_MSG   header + fixed body buffered?
 *                                     dmsg_check_hdr(), dmsg_decode_body(),
 *                                     dconn_request() (donor/serve.h),
 *                                     which queues its reply; tc_io() starts
 *                                     a READ payload or RX_WRITE/RX_DRAIN
 *                            RX_WRITE the data into the slab (from the
 *                                     buffer, or recv(2) straight in)
 *                            RX_DRAIN a refused WRITE's data, dropped
 *                   progress -> loop
 *                 tx_flush: output, then the READ payload from its slab
 *                 nothing left to do -> wait for EPOLLIN / EPOLLOUT
 *
 * The session's I/O lock (session_io_begin()) is held only around one
 * non-blocking copy or system call, never while waiting: a slab freed
 * under a transfer that started (by the client, through another of its
 * connections) closes the connection, never sends other bytes.
 *
 * A broken stream (bad header, bad body, handshake failure) gets ERROR or
 * an error reply, one warning naming the peer and the reason, and a close
 * once the answer left. A refused request on a sound stream (range, slab
 * not the client's, no space) gets an error reply and the connection goes
 * on.
 */
#include "donor/tcp_conn.h"

#include "donor/dmsg.h"

#include "common/clock.h"
#include "common/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HDR	   sizeof(struct wire_hdr)
#define DIRECT_MIN 4096 /* longer WRITE data bypasses the buffer */
#define REPLY_ROOM 512	/* the longest reply or ERROR, and then some */
#define EVICT_MSG  (HDR + sizeof(struct wire_evict))
#define DONE	   1 /* rx_step made progress */
#define WAIT	   0 /* rx_step needs more input */
#define TX_BLOCKED 1
#define RUN_BUDGET 64 /* requests before the other connections' turn */

_Static_assert(HDR + sizeof(struct wire_hello) <= REPLY_ROOM, "hello reply");
_Static_assert(HDR + sizeof(struct wire_state) <= REPLY_ROOM, "query reply");
_Static_assert(HDR + PROTO_ERRTEXT_MAX <= REPLY_ROOM, "error message");
_Static_assert(HDR + sizeof(union dmsg_body) <= TCONN_IN_BUF, "request");

static size_t in_avail(const struct tconn *c)
{
	return c->in_len - c->in_off;
}

static size_t out_queued(const struct tconn *c)
{
	return c->out_len - c->out_off;
}

/* Room for n more bytes of output, moving what is queued to the front. */
static int out_room(struct tconn *c, size_t n)
{
	if (!out_queued(c)) {
		c->out_off = 0;
		c->out_len = 0;
	} else if (TCONN_OUT_BUF - c->out_len < n && c->out_off) {
		memmove(c->out, c->out + c->out_off, out_queued(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	return TCONN_OUT_BUF - c->out_len >= n;
}

/* No request may be read: a payload is going out, or no room to reply. */
static int tx_busy(struct tconn *c)
{
	return c->tx || !out_room(c, REPLY_ROOM + EVICT_MSG);
}

/* Queues one message; the room was checked before the request was read. */
static int out_msg(struct tconn *c, const struct proto_hdr *h, const void *body,
		   uint32_t len)
{
	if (!out_room(c, HDR + len)) {
		/* our own bug: tx_busy() kept REPLY_ROOM free */
		LOG_RATELIMITED(LOG_ERR, "client %s: no room for a reply",
				c->dc.sc.peer);
		return -ENOBUFS;
	}
	proto_hdr_enc(c->out + c->out_len, h);
	if (len)
		memcpy(c->out + c->out_len + HDR, body, len);
	c->out_len += HDR + len;
	return 0;
}

static int out_reply(struct tconn *c, uint16_t op, uint64_t id, uint32_t status,
		     const void *body, uint32_t len)
{
	struct proto_hdr h = { .op = op,
			       .flags = PROTO_F_REPLY,
			       .id = id,
			       .len = status ? 0 : len,
			       .status = status };

	return out_msg(c, &h, body, h.len);
}

/* dconn_ops.reply */
static int tc_reply(struct dconn *dc, const struct proto_hdr *req,
		    uint32_t status, const void *body, uint32_t len)
{
	return out_reply((struct tconn *)dc, req->op, req->id, status, body,
			 len);
}

/* dconn_ops.error: ERROR(why) with status err; the core logged it. */
static void tc_error(struct dconn *dc, uint64_t id, uint32_t err,
		     const char *why)
{
	struct tconn *c = (struct tconn *)dc;
	size_t n = strlen(why);
	struct proto_hdr h = { .op = PROTO_OP_ERROR, .id = id, .status = err };

	if (n > PROTO_ERRTEXT_MAX)
		n = PROTO_ERRTEXT_MAX;
	h.len = (uint32_t)n;
	out_msg(c, &h, why, h.len);
	c->closing = 1;
}

/*
 * MSG_MORE while the next request is already here in full: its reply
 * follows at once, so replies to a pipelined burst leave in few segments.
 * Never while we might wait for the network, or a reply would sit corked.
 */
static int more_flag(const struct tconn *c)
{
	struct wire_hdr w;

	if (c->closing || in_avail(c) < sizeof(w))
		return 0;
	memcpy(&w, c->in + c->in_off, sizeof(w));
	if (le32toh(w.magic) != PROTO_MAGIC)
		return 0;
	return in_avail(c) - sizeof(w) >= le32toh(w.len) ? MSG_MORE : 0;
}

/* Moves iovec progress w: output first, then the READ payload. */
static void tx_advance(struct tconn *c, size_t w)
{
	size_t k = out_queued(c) < w ? out_queued(c) : w;

	c->out_off += k;
	c->tx_done += (uint32_t)(w - k);
}

/*
 * Sends the queued output and the READ payload. 0 when all of it left,
 * TX_BLOCKED when the socket is full, -errno to close.
 */
static int tx_flush(struct tconn *c)
{
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov };
	void *addr;
	ssize_t w;
	int ret, err, done;

	for (;;) {
		mh.msg_iovlen = 0;
		if (out_queued(c))
			iov[mh.msg_iovlen++] =
				(struct iovec){ c->out + c->out_off,
						out_queued(c) };
		if (c->tx) {
			ret = session_io_begin(c->dc.s, c->tio.slab,
					       c->tio.off + c->tx_done,
					       c->tio.len - c->tx_done, &addr);
			if (ret) {
				LOG_RATELIMITED(
					LOG_WARNING,
					"client %s: slab %u freed while "
					"being read; closing",
					c->dc.sc.peer, c->tio.slab);
				return ret;
			}
			iov[mh.msg_iovlen++] =
				(struct iovec){ addr, c->tio.len - c->tx_done };
		}
		if (!mh.msg_iovlen)
			return 0;
		w = sendmsg(c->src.fd, &mh,
			    MSG_NOSIGNAL | MSG_DONTWAIT | more_flag(c));
		err = errno;
		if (w > 0) {
			tx_advance(c, (size_t)w);
			c->t_last = mono_ns();
		}
		if (c->tx) {
			done = c->tx_done == c->tio.len;
			session_io_end(c->dc.s, c->tio.slab,
				       done ? c->tio.len : 0, 0);
			if (done) {
				c->tx = 0;
				donor_observe_io(c->dc.d, mono_ns() - c->t_tx);
			}
		}
		if (w >= 0)
			continue;
		if (err == EINTR)
			continue;
		if (err == EAGAIN)
			return TX_BLOCKED;
		return err == EPIPE ? -ECONNRESET : -err;
	}
}

/* Puts the EVICTs other threads queued into the output, as room allows. */
static void evicts_out(struct tconn *c)
{
	unsigned int i = 0;

	if (c->dc.phase != DMSG_READY || !atomic_exchange(&c->ev_pending, 0))
		return;
	pthread_mutex_lock(&c->evlock);
	for (; i < c->ev_n && out_room(c, EVICT_MSG + REPLY_ROOM); i++) {
		struct wire_evict ev = { .slab = c->ev_slab[i],
					 .deadline_ms = c->ev_deadline[i] };
		struct proto_hdr h = { .op = PROTO_OP_EVICT,
				       .len = sizeof(ev) };

		proto_evict_swap(&ev);
		out_msg(c, &h, &ev, sizeof(ev));
	}
	memmove(c->ev_slab, c->ev_slab + i, (c->ev_n - i) * sizeof(uint32_t));
	memmove(c->ev_deadline, c->ev_deadline + i,
		(c->ev_n - i) * sizeof(uint64_t));
	c->ev_n -= i;
	if (c->ev_n)
		atomic_store(&c->ev_pending, 1); /* after this output */
	pthread_mutex_unlock(&c->evlock);
}

void tconn_evict(struct session_conn *sc, uint32_t slab, uint64_t deadline_ms)
{
	struct tconn *c = (struct tconn *)sc;

	pthread_mutex_lock(&c->evlock);
	if (c->ev_n < TCONN_EVQ_LEN) {
		c->ev_slab[c->ev_n] = slab;
		c->ev_deadline[c->ev_n] = deadline_ms;
		c->ev_n++;
	}
	pthread_mutex_unlock(&c->evlock);
	atomic_store(&c->ev_pending, 1);
	tcp_server_evict_wake(c);
}

/* The end of the stream or of the socket: logs what was cut short. */
static int rx_closed(struct tconn *c, int err)
{
	const char *how = err == -ECONNRESET ? "closed" : strerror(-err);
	struct proto_hdr h;
	const char *why;

	if (c->rx != RX_MSG) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: truncated write (%s); closing",
				c->dc.sc.peer, how);
	} else if (in_avail(c) && in_avail(c) < HDR) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: truncated header (%s); closing",
				c->dc.sc.peer, how);
	} else if (in_avail(c) &&
		   !dmsg_check_hdr(c->dc.phase, c->in + c->in_off, &h, &why)) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: truncated %s message (%s); closing",
				c->dc.sc.peer, proto_op_name(h.op), how);
	} else if (c->dc.phase == DMSG_AUTH) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: closed during the handshake "
				"(did it refuse our key?)",
				c->dc.sc.peer);
	} else {
		log_debug("client %s: disconnected", c->dc.sc.peer);
	}
	return err;
}

/* recv(2) into dst: DONE, WAIT or -errno (-ECONNRESET: end of stream). */
static int rx_recv(struct tconn *c, void *dst, size_t n, size_t *got)
{
	ssize_t r;

	for (;;) {
		r = recv(c->src.fd, dst, n, MSG_DONTWAIT);
		if (r > 0) {
			*got = (size_t)r;
			c->t_last = mono_ns();
			return DONE;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return WAIT;
		return errno == ECONNRESET ? -ECONNRESET : -errno;
	}
}

/* Reads what the socket has into the buffer, keeping `need` bytes of
 * room after the unread input. */
static int in_fill(struct tconn *c, size_t need)
{
	size_t got = 0;
	int ret;

	if (!in_avail(c)) {
		c->in_off = 0;
		c->in_len = 0;
	} else if (TCONN_IN_BUF - c->in_off < need ||
		   c->in_len == TCONN_IN_BUF) {
		memmove(c->in, c->in + c->in_off, in_avail(c));
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	ret = rx_recv(c, c->in + c->in_len, TCONN_IN_BUF - c->in_len, &got);
	c->in_len += got;
	return ret < 0 ? rx_closed(c, ret) : ret;
}

/* The WRITE is in: counted, answered, and the next request may come. */
static int write_done(struct tconn *c)
{
	c->rx = RX_MSG;
	if (c->rx_err)
		return out_reply(c, c->rh.op, c->rh.id, c->rx_err, NULL, 0);
	donor_observe_io(c->dc.d, mono_ns() - c->t_rx);
	return out_reply(c, c->rh.op, c->rh.id, 0, NULL, 0);
}

/* RX_WRITE: n bytes of data at src (NULL: recv(2) them) into the slab. */
static int write_some(struct tconn *c, const void *src, size_t n)
{
	size_t got = n;
	void *addr;
	int ret;

	ret = session_io_begin(c->dc.s, c->rio.slab, c->rio.off + c->rx_done,
			       (uint32_t)n, &addr);
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: slab %u freed while being written; "
				"closing",
				c->dc.sc.peer, c->rio.slab);
		return ret;
	}
	if (src) {
		memcpy(addr, src, n);
		ret = DONE;
	} else {
		ret = rx_recv(c, addr, n, &got);
	}
	if (ret == DONE)
		c->rx_done += (uint32_t)got;
	session_io_end(c->dc.s, c->rio.slab, 0,
		       c->rx_done == c->rio.len ? c->rio.len : 0);
	return ret < 0 ? rx_closed(c, ret) : ret;
}

/* RX_WRITE and RX_DRAIN: the data that follows a WRITE. */
static int rx_data(struct tconn *c)
{
	size_t left = c->rio.len - c->rx_done;
	size_t k = in_avail(c) < left ? in_avail(c) : left;
	int ret = DONE;

	if (!left)
		return write_done(c) ? -ENOBUFS : DONE;
	if (k) {
		/* what came with the request first */
		if (c->rx == RX_WRITE)
			ret = write_some(c, c->in + c->in_off, k);
		else
			c->rx_done += (uint32_t)k;
		if (ret == DONE)
			c->in_off += k;
		return ret;
	}
	if (c->rx == RX_WRITE && left >= DIRECT_MIN) {
		/* big data goes straight to the slab */
		return write_some(c, NULL, left);
	}
	return in_fill(c, 0);
}

/* RX_MSG: one request, when its header and fixed body are in. */
static int rx_msg(struct tconn *c)
{
	uint8_t raw[sizeof(union dmsg_body)];
	struct proto_hdr h;
	union dmsg_body b;
	enum dmsg_phase phase;
	const char *why;
	size_t n;
	int ret;

	if (in_avail(c) < HDR)
		return in_fill(c, HDR);
	ret = dmsg_check_hdr(c->dc.phase, c->in + c->in_off, &h, &why);
	if (ret) {
		dconn_fail(&c->dc, 0, ret, why);
		return DONE;
	}
	n = dmsg_fixed_len(&h);
	if (n > sizeof(raw)) {
		dconn_fail(&c->dc, h.id, EMSGSIZE,
			   "body length does not match the opcode");
		return DONE;
	}
	if (in_avail(c) < HDR + n)
		return in_fill(c, HDR + n);
	memcpy(raw, c->in + c->in_off + HDR, n);
	c->in_off += HDR + n;
	ret = dmsg_decode_body(&h, raw, &b, &why);
	if (ret) {
		dconn_fail(&c->dc, h.id, ret, why);
		return DONE;
	}
	phase = c->dc.phase;
	ret = dconn_request(&c->dc, &h, &b);
	if (ret)
		c->closing = 1; /* after the answer it queued */
	else if (phase != DMSG_READY && c->dc.phase == DMSG_READY)
		return tcp_server_authed(c) ? -ECONNRESET : DONE;
	return DONE;
}

static int rx_step(struct tconn *c)
{
	return c->rx == RX_MSG ? rx_msg(c) : rx_data(c);
}

/* dconn_ops.io: READ queues its header and sends the data from the slab
 * with it; WRITE takes the data that follows into the slab. */
static int tc_io(struct dconn *dc, const struct proto_hdr *h,
		 const struct wire_io *io)
{
	struct tconn *c = (struct tconn *)dc;
	uint64_t t0 = mono_ns();
	void *addr;
	int ret;

	ret = session_io_begin(dc->s, io->slab, io->off, io->len, &addr);
	if (!ret)
		session_io_end(dc->s, io->slab, 0, 0);
	if (ret)
		dconn_io_refused(dc, h, io, ret);
	if (h->op == PROTO_OP_WRITE) {
		c->rx = ret ? RX_DRAIN : RX_WRITE;
		c->rh = *h;
		c->rio = *io;
		c->rx_done = 0;
		c->rx_err = (uint32_t)-ret;
		c->t_rx = t0;
		return 0;
	}
	if (ret)
		return out_reply(c, h->op, h->id, (uint32_t)-ret, NULL, 0);
	ret = out_msg(c,
		      &(struct proto_hdr){ .op = h->op,
					   .flags = PROTO_F_REPLY,
					   .id = h->id,
					   .len = io->len },
		      NULL, 0);
	if (!ret && !io->len)
		donor_observe_io(dc->d, mono_ns() - t0);
	if (ret || !io->len)
		return ret;
	c->tx = 1;
	c->tio = *io;
	c->tx_done = 0;
	c->t_tx = t0;
	return 0;
}

static const struct dconn_ops tcp_ops = {
	.reply = tc_reply,
	.error = tc_error,
	.io = tc_io,
};

int tconn_run(struct tconn *c)
{
	uint32_t want = EPOLLIN;
	int ret = 0, rx, budget = RUN_BUDGET;

	for (;;) {
		rx = DONE; /* not tried */
		if (!c->closing && !tx_busy(c) && budget) {
			evicts_out(c);
			rx = rx_step(c);
			if (rx < 0)
				return rx;
			if (rx == DONE && --budget)
				continue;
		}
		ret = tx_flush(c);
		if (ret < 0)
			return ret;
		if (ret == TX_BLOCKED)
			break;
		if (c->closing)
			return -ECONNRESET; /* the answer left */
		/* all read and all sent, or the others' turn; else the
		 * output drained and we read on */
		if (rx == WAIT || !budget)
			break;
	}
	/* back-pressure: no EPOLLIN while the output holds requests back */
	if (ret == TX_BLOCKED)
		want = c->closing || tx_busy(c) ? EPOLLOUT : EPOLLIN | EPOLLOUT;
	else if (!budget)
		/* requests may wait in our buffer, not in the socket: a
		 * writable socket brings us back after the others' turn */
		want = EPOLLIN | EPOLLOUT;
	return evl_mod(c->evl, &c->src, want);
}

uint64_t tconn_deadline(const struct tconn *c, unsigned int hs_timeout_ms)
{
	/* absolute (sshd's LoginGraceTime): trickling bytes gains nothing */
	if (c->dc.phase != DMSG_READY)
		return c->t_start + (uint64_t)hs_timeout_ms * 1000000ull;
	if (c->rx != RX_MSG || in_avail(c) || out_queued(c) || c->tx)
		return c->t_last + (uint64_t)TCONN_MSG_TMO_MS * 1000000ull;
	return EVL_NEVER;
}

void tconn_log_expired(const struct tconn *c, unsigned int hs_timeout_ms)
{
	if (c->dc.phase != DMSG_READY)
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: no %s within %u ms; closing",
				c->dc.sc.peer,
				c->dc.phase == DMSG_HELLO ? "hello" : "auth",
				hs_timeout_ms);
	else if (out_queued(c) || c->tx)
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: replies not read for %u ms; "
				"closing",
				c->dc.sc.peer, TCONN_MSG_TMO_MS);
	else
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: truncated %s (timed out); closing",
				c->dc.sc.peer,
				c->rx == RX_MSG ? "message" : "write");
}

int tconn_init(struct tconn *c, struct donor_server *srv, struct donor *d,
	       const struct auth_keyring *kr, int fd)
{
	int one = 1;

	c->srv = srv;
	c->src.fd = fd;
	c->t_start = mono_ns();
	c->t_last = c->t_start;
	c->deadline = EVL_NEVER;
	dconn_init(&c->dc, &tcp_ops, d, kr, 0, "client");
	c->dc.sc.evict = tconn_evict;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		return -errno;
	return -pthread_mutex_init(&c->evlock, NULL);
}

void tconn_fini(struct tconn *c)
{
	dconn_close(&c->dc);
	pthread_mutex_destroy(&c->evlock);
}
