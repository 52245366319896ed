// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp - XPORT_TCP: one TCP connection to a donor, pipelined by request id.
 *
 *   submitters ----> batch_queue ----> leader: reserve in-flight slots,
 *                                      one sendmsg per chain (headers,
 *                                      wire_io, WRITE payloads straight
 *                                      from the ios' buffers)
 *   conn thread:  connect (non-blocking, bounded), hs_client(), then
 *                 receive loop: reply header, match the id in the
 *                 in-flight table, READ payload straight into the ios'
 *                 buffers, done(); EVICT -> XPORT_EV_EVICT; every
 *                 scan period (the header recv's SO_RCVTIMEO) look at
 *                 the oldest request for io_timeout_ms;
 *                 on any failure: teardown (fail everything pending),
 *                 XPORT_EV_DOWN, backoff, reconnect, XPORT_EV_UP.
 *
 * Control calls (alloc, free, query, heartbeat, reclaim) are entries of
 * the same batch queue (an xport_io with dir TCP_DIR_CTL, which
 * batch_form never merges or reorders), so the batch leader is the only
 * thread that ever writes to the socket; the caller waits on the condvar
 * for its reply, up to ctl_timeout_ms, holding no lock.
 *
 * The conn thread never sends: an io submitted from it (a done() or event
 * callback resubmitting) is handed to the deferred-submit thread, since a
 * conn thread waiting for in-flight slots, or blocked in sendmsg while the
 * donor waits for us to read its replies, would wait for itself. A control
 * call from the conn thread fails with -EDEADLK for the same reason.
 *
 * Memory: the in-flight table, the control entries, the leader's headers
 * and iovecs are allocated at open; nothing is allocated per request.
 *
 * Locking: c->lock guards the state, the fd number, the in-flight table
 * and the control entries; it is never held across a send, a receive or a
 * callback. The socket is written only by the batch leader (one at a time)
 * and read only by the conn thread. Other threads break a connection by
 * shutdown(2) under the lock; only the conn thread closes the fd, after
 * the leader has left sendmsg (c->sending), so an fd number is never used
 * after it was closed and an io's buffer is never read after its done().
 */
#include "common/clock.h"
#include "common/log.h"
#include "rdma/batch.h"
#include "rdma/handshake.h"
#include "rdma/xport.h"
#include "rdma/xport_priv.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TCP_DEF_SLAB	     (64ull << 20)
#define TCP_DEF_CTL_MS	     5000
#define TCP_DEF_IO_MS	     10000
#define TCP_INFLIGHT	     1024 /* wire operations in flight */
#define TCP_NCTL	     16	  /* control calls in flight */
#define TCP_DIR_CTL	     2	  /* xport_io.dir of a control entry */
#define TCP_IOV		     1024 /* iovecs per sendmsg/readv */
#define TCP_OP_HDR	     (sizeof(struct wire_hdr) + sizeof(struct wire_io))
#define TCP_SCAN_MS_MAX	     100
#define TCP_RECONNECT_MIN_MS 100
#define TCP_RBUF	     (64u << 10) /* the conn thread's receive buffer */
#define TCP_RDIRECT	     (16u << 10) /* bigger payload rests: readv */

enum ctl_state { CTL_FREE, CTL_BUSY, CTL_DONE, CTL_ABANDONED };

struct tcp_conn;

struct tcp_ctl {
	struct xport_io io; /* first: the queue entry */
	struct tcp_conn *c;
	uint16_t op;
	uint32_t body_len;
	uint8_t body[16];
	uint32_t reply_len; /* written by the conn thread */
	uint8_t reply[sizeof(struct wire_state)]; /* written by conn thread */
	int status;				  /* protected by c->lock */
	enum ctl_state state;			  /* protected by c->lock */
};

struct tcp_slot {
	struct tcp_slot *prev, *next; /* in-flight list, or free list */
	uint64_t id;		      /* 0 when free */
	uint64_t t_sent;
	struct xport_io *ios;
	uint32_t len;
	uint32_t chain; /* the post that sent it */
	uint16_t op;	/* PROTO_OP_* */
	uint8_t dir;
};

struct tcp_conn {
	struct xport base;
	char *host, *port;
	char peer[300];
	struct auth_key key;
	struct hs_session hs_sess; /* conn thread: the session's secret */
	struct hs_params hs;
	unsigned int ctl_ms, io_ms, rc_min_ms, rc_max_ms, scan_ms;
	xport_event_fn event;
	void *event_arg;
	uint32_t max_io;
	struct batch_queue q;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* any change of what is below */
	enum xport_state state;
	int fd;	     /* -1 when none; closed by the conn thread only */
	int sending; /* the leader is between reserving and sendmsg end */
	uint32_t chain_seq; /* posts so far; the current one while sending */
	int closing;	    /* xport_close() started */
	int last_err;	    /* of the last connection attempt or loss */
	int given_up;	    /* the conn thread stopped trying */
	int ever_up;	    /* connected at least once */
	int slot_waiters;
	struct tcp_slot *slots;
	unsigned int nslots;
	struct tcp_slot *free_slots; /* linked by ->next */
	unsigned int nfree;
	struct tcp_slot inflight; /* sentinel of the list, oldest first */
	uint32_t seq;
	struct tcp_ctl ctl[TCP_NCTL];
	/* end of what c->lock guards */

	atomic_int up; /* state == XPORT_UP, for the submit fast path */

	/* the batch leader's (one at a time) */
	uint8_t (*hdrs)[TCP_OP_HDR];
	struct iovec *siov;
	struct tcp_slot **chain;

	/* the conn thread's */
	struct iovec *riov;
	uint8_t *rbuf; /* TCP_RBUF bytes received, [roff, rlen) not parsed */
	size_t roff, rlen;
	uint64_t msg_deadline; /* to finish reading the current message */
	int wake_fd;
	pthread_t thread;

	/* ios submitted from the conn thread, sent by the deferred thread */
	pthread_mutex_t dlock;
	pthread_cond_t dcond;
	struct xport_io *dhead, *dtail; /* protected by dlock */
	int dstop;			/* protected by dlock */
	pthread_t dthread;

	struct xstats st;
};

/* the connection whose conn thread this is, NULL elsewhere */
static __thread struct tcp_conn *tls_conn;

static struct tcp_conn *to_tcp(struct xport *x)
{
	return (struct tcp_conn *)x;
}

static void emit(struct tcp_conn *c, enum xport_event_type type, int error,
		 uint32_t slab, uint64_t deadline_ms)
{
	struct xport_event ev = {
		.type = type,
		.error = error,
		.slab = slab,
		.deadline_ms = deadline_ms,
	};

	if (c->event)
		c->event(c->event_arg, &c->base, &ev);
}

static void complete_ios(struct tcp_conn *c, struct xport_io *io, int status)
{
	uint64_t now = status ? 0 : mono_ns();

	while (io) {
		struct xport_io *next = io->next;

		if (io->dir != TCP_DIR_CTL)
			xstats_done(&c->st, io, status, now);
		io->done(io, status);
		io = next;
	}
}

/* --- in-flight table (c->lock held) --- */

static void slot_unlink(struct tcp_slot *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static struct tcp_slot *slot_take(struct tcp_conn *c, uint64_t now)
{
	struct tcp_slot *s = c->free_slots;

	c->free_slots = s->next;
	c->nfree--;
	if (++c->seq == 0)
		c->seq = 1;
	s->id = (uint64_t)c->seq << 32 | (uint64_t)(s - c->slots);
	s->t_sent = now;
	s->prev = c->inflight.prev;
	s->next = &c->inflight;
	c->inflight.prev->next = s;
	c->inflight.prev = s;
	return s;
}

static void slot_put(struct tcp_conn *c, struct tcp_slot *s)
{
	s->id = 0;
	s->ios = NULL;
	s->next = c->free_slots;
	c->free_slots = s;
	c->nfree++;
	if (c->slot_waiters)
		pthread_cond_broadcast(&c->cond);
}

/* Breaks the current connection: the conn thread sees it and tears down. */
static void break_locked(struct tcp_conn *c, int err)
{
	if (c->state == XPORT_UP) {
		c->state = XPORT_DOWN;
		atomic_store(&c->up, 0);
		c->last_err = err;
	}
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	pthread_cond_broadcast(&c->cond);
}

/* --- send side: the batch leader --- */

/* Drops the n bytes a partial sendmsg/readv moved from the front of iov. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

static int send_iov(int fd, struct iovec *iov, int cnt)
{
	struct msghdr mh = { 0 };
	ssize_t n;

	while (cnt > 0) {
		mh.msg_iov = iov;
		mh.msg_iovlen = cnt;
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

static void fail_chain(struct batch_op *ops, unsigned int nops,
		       struct tcp_conn *c, int err)
{
	unsigned int i;

	for (i = 0; i < nops; i++)
		complete_ios(c, ops[i].ios, err);
}

static void put_hdr(uint8_t *buf, uint16_t op, uint64_t id, uint32_t len)
{
	struct proto_hdr h = { .op = op, .id = id, .len = len };

	proto_hdr_enc(buf, &h);
}

static void tcp_post(void *ctx, struct batch_op *ops, unsigned int nops)
{
	struct tcp_conn *c = ctx;
	unsigned int i, niov = 0;
	uint64_t now = mono_ns();
	int fd, ret = 0;

	pthread_mutex_lock(&c->lock);
	while (c->state == XPORT_UP && c->nfree < nops) {
		c->slot_waiters++;
		pthread_cond_wait(&c->cond, &c->lock);
		c->slot_waiters--;
	}
	if (c->state != XPORT_UP) {
		ret = c->closing ? -ECONNABORTED : -ENOTCONN;
		pthread_mutex_unlock(&c->lock);
		fail_chain(ops, nops, c, ret);
		return;
	}
	fd = c->fd;
	c->sending = 1;
	c->chain_seq++;
	for (i = 0; i < nops; i++) {
		struct tcp_slot *s = slot_take(c, now);

		s->chain = c->chain_seq;
		s->ios = ops[i].ios;
		s->len = ops[i].len;
		s->dir = ops[i].dir;
		if (ops[i].dir == TCP_DIR_CTL)
			s->op = ((struct tcp_ctl *)ops[i].ios)->op;
		else if (ops[i].dir == XPORT_READ)
			s->op = PROTO_OP_READ;
		else
			s->op = PROTO_OP_WRITE;
		c->chain[i] = s;
	}
	pthread_mutex_unlock(&c->lock);

	/* the ios are ours until the donor answers, which it cannot do
	 * before it has received them: read them all before sending */
	for (i = 0; i < nops && !ret; i++) {
		struct tcp_slot *s = c->chain[i];
		uint8_t *h = c->hdrs[i];
		struct xport_io *io;

		if (s->dir == TCP_DIR_CTL) {
			struct tcp_ctl *ctl = (struct tcp_ctl *)ops[i].ios;

			put_hdr(h, ctl->op, s->id, ctl->body_len);
			memcpy(h + sizeof(struct wire_hdr), ctl->body,
			       ctl->body_len);
			c->siov[niov].iov_base = h;
			c->siov[niov++].iov_len =
				sizeof(struct wire_hdr) + ctl->body_len;
		} else {
			struct wire_io w = {
				.slab = ops[i].slab,
				.len = ops[i].len,
				.off = ops[i].off,
			};

			put_hdr(h, s->op, s->id,
				sizeof(w) +
					(s->op == PROTO_OP_WRITE ? s->len : 0));
			proto_io_swap(&w);
			memcpy(h + sizeof(struct wire_hdr), &w, sizeof(w));
			c->siov[niov].iov_base = h;
			c->siov[niov++].iov_len = TCP_OP_HDR;
		}
		if (s->op == PROTO_OP_WRITE) {
			for (io = ops[i].ios; io && !ret; io = io->next) {
				if (niov == TCP_IOV) {
					ret = send_iov(fd, c->siov, niov);
					niov = 0;
				}
				c->siov[niov].iov_base = io->buf;
				c->siov[niov++].iov_len = io->len;
			}
		}
		if (niov > TCP_IOV - 1) {
			ret = send_iov(fd, c->siov, niov);
			niov = 0;
		}
	}
	if (!ret && niov)
		ret = send_iov(fd, c->siov, niov);
	xstats_post(&c->st, ops, nops);

	pthread_mutex_lock(&c->lock);
	c->sending = 0;
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING, "donor %s: send failed: %s",
				c->peer, strerror(-ret));
		break_locked(c, ret == -ETIMEDOUT ? ret : -ECONNRESET);
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Counts and checks io; false when it was failed (done() called). */
static bool tcp_accept_io(struct tcp_conn *c, struct xport_io *io)
{
	int ret;

	XS_ADD(c->st.ios, 1);
	ret = xport_io_check(io, c->max_io);
	if (!ret && !atomic_load_explicit(&c->up, memory_order_relaxed))
		ret = -ENOTCONN;
	if (ret) {
		xstats_done(&c->st, io, ret, 0);
		io->done(io, ret);
		return false;
	}
	io->t_submit_ns = mono_ns();
	return true;
}

static void tcp_submit(struct xport *x, struct xport_io *io)
{
	struct tcp_conn *c = to_tcp(x);

	if (!tcp_accept_io(c, io))
		return;
	if (tls_conn == c) {
		io->next = NULL;
		pthread_mutex_lock(&c->dlock);
		if (c->dtail)
			c->dtail->next = io;
		else
			c->dhead = io;
		c->dtail = io;
		pthread_mutex_unlock(&c->dlock);
		pthread_cond_signal(&c->dcond);
		return;
	}
	batch_submit(&c->q, io);
}

/* The ios of a chain that pass the checks go to the queue together; on
 * the connection's own thread each goes the deferred way of tcp_submit().
 * done() of a failed io may end its caller's request: next is read first. */
static void tcp_submit_chain(struct xport *x, struct xport_io *io)
{
	struct tcp_conn *c = to_tcp(x);
	struct xport_io *head = NULL, **tail = &head, *next;

	for (; io; io = next) {
		next = io->next;
		if (tls_conn == c) {
			tcp_submit(x, io);
			continue;
		}
		if (!tcp_accept_io(c, io))
			continue;
		io->next = NULL;
		*tail = io;
		tail = &io->next;
	}
	if (head)
		batch_submit_chain(&c->q, head);
}

static void *deferred_main(void *arg)
{
	struct tcp_conn *c = arg;
	struct xport_io *io, *next;
	int stop;

	for (;;) {
		pthread_mutex_lock(&c->dlock);
		while (!c->dhead && !c->dstop)
			pthread_cond_wait(&c->dcond, &c->dlock);
		io = c->dhead;
		c->dhead = c->dtail = NULL;
		stop = c->dstop;
		pthread_mutex_unlock(&c->dlock);
		for (; io; io = next) {
			next = io->next;
			batch_submit(&c->q, io);
		}
		if (stop) {
			pthread_mutex_lock(&c->dlock);
			stop = !c->dhead;
			pthread_mutex_unlock(&c->dlock);
			if (stop)
				break;
		}
	}
	return NULL;
}

/* --- receive side: the conn thread --- */

/*
 * Replies are read through c->rbuf: one recv takes whatever the socket
 * holds (a burst of WRITE acks, READ data with the headers around it), so
 * a pipelined burst costs one syscall rather than two per reply. Only the
 * rest of a big READ payload goes straight into the ios' buffers.
 *
 * The socket's SO_RCVTIMEO is the timeout scan period, so that the conn
 * thread can wait for a header in one blocking recv; inside a message,
 * the reads go on until io_timeout_ms has passed since its header.
 */
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
		iov_advance(&iov, &cnt, (size_t)n);
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

static int status_err(uint32_t status)
{
	return status && status < 4096 ? -(int)status : status ? -EIO : 0;
}

static void ctl_done(struct xport_io *io, int status)
{
	struct tcp_ctl *ctl = (struct tcp_ctl *)io;
	struct tcp_conn *c = ctl->c;

	pthread_mutex_lock(&c->lock);
	if (ctl->state == CTL_ABANDONED) {
		ctl->state = CTL_FREE;
	} else {
		ctl->status = status;
		ctl->state = CTL_DONE;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* A reply for slot s, header h: reads its body, completes it. */
static int handle_reply(struct tcp_conn *c, int fd, const struct proto_hdr *h)
{
	uint32_t idx = (uint32_t)h->id;
	struct tcp_slot *s = NULL;
	int status = status_err(h->status), ret = 0;

	pthread_mutex_lock(&c->lock);
	if (idx < c->nslots && c->slots[idx].id == h->id &&
	    c->slots[idx].prev) {
		s = &c->slots[idx];
		slot_unlink(s);
	}
	pthread_mutex_unlock(&c->lock);
	if (!s || s->op != h->op) {
		LOG_RATELIMITED(LOG_WARNING,
				"donor %s: reply %s to unknown request %llu",
				c->peer, proto_op_name(h->op),
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
	complete_ios(c, s->ios, status);
	pthread_mutex_lock(&c->lock);
	slot_put(c, s);
	pthread_mutex_unlock(&c->lock);
	if (ret == -EPROTO)
		LOG_RATELIMITED(LOG_WARNING, "donor %s: bad %s reply", c->peer,
				proto_op_name(h->op));
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
				c->peer, ev.slab);
		emit(c, XPORT_EV_EVICT, 0, ev.slab, ev.deadline_ms);
		return 0;
	case PROTO_OP_ERROR:
		ret = read_full(c, fd, text, h->len);
		if (ret)
			return ret;
		text[h->len] = '\0';
		log_warn("donor %s: closed the connection: %s", c->peer, text);
		return -EPROTO;
	default:
		log_warn("donor %s: unexpected %s message", c->peer,
			 proto_op_name(h->op));
		return -EPROTO;
	}
}

/* Fails the requests older than io_timeout_ms; -ETIMEDOUT if any. */
static int scan_timeouts(struct tcp_conn *c)
{
	uint64_t now = mono_ns(), lim = (uint64_t)c->io_ms * 1000000;
	struct tcp_slot *s, *expired = NULL;
	unsigned int n = 0;

	pthread_mutex_lock(&c->lock);
	/* the chain being sent is the leader's until sendmsg returns (and
	 * SO_SNDTIMEO bounds that); it sits at the end of the list */
	while ((s = c->inflight.next) != &c->inflight &&
	       now - s->t_sent >= lim &&
	       !(c->sending && s->chain == c->chain_seq)) {
		slot_unlink(s);
		s->next = expired;
		expired = s;
	}
	pthread_mutex_unlock(&c->lock);
	if (!expired)
		return 0;
	while ((s = expired)) {
		struct xport_io *io;

		expired = s->next;
		for (io = s->ios; io; io = io->next)
			n++;
		complete_ios(c, s->ios, -ETIMEDOUT);
		pthread_mutex_lock(&c->lock);
		slot_put(c, s);
		pthread_mutex_unlock(&c->lock);
	}
	XS_ADD(c->st.timeouts, n);
	LOG_RATELIMITED(LOG_WARNING,
			"donor %s: %u requests timed out after %u ms, "
			"resetting the connection",
			c->peer, n, c->io_ms);
	return -ETIMEDOUT;
}

static int recv_loop(struct tcp_conn *c, int fd)
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
		c->msg_deadline = now + (uint64_t)c->io_ms * 1000000;
		ret = read_full(c, fd, hbuf, sizeof(hbuf));
		if (ret)
			break;
		ret = proto_hdr_dec(hbuf, &h);
		if (ret) {
			log_warn("donor %s: %s", c->peer, proto_strerror(ret));
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

/* After a loss (or close): fails everything pending, closes the fd. */
static void teardown(struct tcp_conn *c, int err)
{
	struct tcp_slot *s, *list;
	int fd, status;

	pthread_mutex_lock(&c->lock);
	break_locked(c, err);
	if (c->closing)
		c->state = XPORT_CLOSED;
	while (c->sending)
		pthread_cond_wait(&c->cond, &c->lock);
	list = c->inflight.next;
	c->inflight.prev->next = NULL;
	c->inflight.next = c->inflight.prev = &c->inflight;
	fd = c->fd;
	c->fd = -1;
	status = c->closing ? -ECONNABORTED : -ECONNRESET;
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		close(fd);
	while (list && list != &c->inflight) {
		s = list;
		list = s->next;
		s->prev = NULL;
		complete_ios(c, s->ios, status);
		pthread_mutex_lock(&c->lock);
		slot_put(c, s);
		pthread_mutex_unlock(&c->lock);
	}
}

/* --- connecting --- */

static int wait_connect(struct tcp_conn *c, int fd)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLOUT },
		{ .fd = c->wake_fd, .events = POLLIN },
	};
	socklen_t sl = sizeof(int);
	int n, soerr = 0;

	do {
		n = poll(pfd, 2, c->ctl_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (pfd[1].revents)
		return -ECONNABORTED;
	if (n == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl))
		return -errno;
	return -soerr;
}

static int set_timeouts(int fd, unsigned int rcv_ms, unsigned int snd_ms)
{
	struct timeval rtv = { .tv_sec = rcv_ms / 1000,
			       .tv_usec = (rcv_ms % 1000) * 1000 };
	struct timeval stv = { .tv_sec = snd_ms / 1000,
			       .tv_usec = (snd_ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof(rtv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof(stv)))
		return -errno;
	return 0;
}

/* One attempt: 0 with the connection UP, or -errno (logged when it
 * differs from the previous attempt's, so a retry loop stays quiet). */
static int tcp_connect(struct tcp_conn *c, int prev_err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct hs_result hr;
	char err[256];
	int fd = -1, ret, one = 1;

	ret = getaddrinfo(c->host, c->port, &hints, &res);
	if (ret) {
		snprintf(err, sizeof(err), "%s", gai_strerror(ret));
		ret = ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		goto out_log;
	}
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		pthread_mutex_lock(&c->lock);
		if (c->closing) {
			pthread_mutex_unlock(&c->lock);
			close(fd);
			fd = -1;
			ret = -ECONNABORTED;
			break;
		}
		c->fd = fd; /* so that close can shut it down */
		pthread_mutex_unlock(&c->lock);
		ret = connect(fd, ai->ai_addr, ai->ai_addrlen) ? -errno : 0;
		if (ret == -EINPROGRESS)
			ret = wait_connect(c, fd);
		if (!ret)
			break;
		pthread_mutex_lock(&c->lock);
		c->fd = -1;
		pthread_mutex_unlock(&c->lock);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	snprintf(err, sizeof(err), "%s", strerror(-ret));
	if (ret)
		goto out_log;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		ret = -errno;
		snprintf(err, sizeof(err), "%s", strerror(-ret));
		goto out_close;
	}
	ret = set_timeouts(fd, c->ctl_ms, c->ctl_ms);
	if (ret) {
		snprintf(err, sizeof(err), "%s", strerror(-ret));
		goto out_close;
	}
	ret = hs_client(fd, &c->hs, &hr, err, sizeof(err));
	if (ret)
		goto out_close;
	ret = set_timeouts(fd, c->scan_ms, c->io_ms);
	if (ret) {
		snprintf(err, sizeof(err), "%s", strerror(-ret));
		goto out_close;
	}
	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		ret = -ECONNABORTED;
	} else {
		c->state = XPORT_UP;
		atomic_store(&c->up, 1);
		c->last_err = 0;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		snprintf(err, sizeof(err), "closed");
		goto out_close;
	}
	log_info("donor %s: connected, slab size %llu", c->peer,
		 (unsigned long long)hr.slab_size);
	return 0;

out_close:
	pthread_mutex_lock(&c->lock);
	c->fd = -1;
	pthread_mutex_unlock(&c->lock);
	close(fd);
out_log:
	if (ret != prev_err && ret != -ECONNABORTED)
		log_warn("donor %s: cannot connect: %s", c->peer, err);
	return ret;
}

/* Sleeps up to ms; 1 when woken by close. */
static int sleep_or_close(struct tcp_conn *c, unsigned int ms)
{
	struct pollfd pfd = { .fd = c->wake_fd, .events = POLLIN };
	int n;

	do {
		n = poll(&pfd, 1, ms);
	} while (n < 0 && errno == EINTR);
	return n > 0;
}

static void *conn_main(void *arg)
{
	struct tcp_conn *c = arg;
	unsigned int backoff = c->rc_min_ms;
	int ret, prev_err = 0, closing;

	tls_conn = c;

	for (;;) {
		ret = tcp_connect(c, prev_err);
		if (!ret) {
			pthread_mutex_lock(&c->lock);
			if (c->ever_up)
				XS_ADD(c->st.reconnects, 1);
			c->ever_up = 1;
			pthread_mutex_unlock(&c->lock);
			emit(c, XPORT_EV_UP, 0, 0, 0);
			backoff = c->rc_min_ms;
			prev_err = 0;
			ret = recv_loop(c, c->fd);
			pthread_mutex_lock(&c->lock);
			closing = c->closing;
			pthread_mutex_unlock(&c->lock);
			if (!closing)
				log_warn("donor %s: connection lost: %s",
					 c->peer, strerror(-ret));
			teardown(c, closing ? -ECONNABORTED : ret);
			if (closing)
				break;
			emit(c, XPORT_EV_DOWN, ret, 0, 0);
		} else {
			pthread_mutex_lock(&c->lock);
			if (c->state != XPORT_CLOSED)
				c->state = XPORT_DOWN;
			c->last_err = ret;
			pthread_cond_broadcast(&c->cond);
			pthread_mutex_unlock(&c->lock);
		}
		prev_err = ret;
		pthread_mutex_lock(&c->lock);
		closing = c->closing;
		pthread_mutex_unlock(&c->lock);
		if (closing || !c->rc_max_ms)
			break;
		if (sleep_or_close(c, backoff))
			break;
		backoff =
			backoff * 2 < c->rc_max_ms ? backoff * 2 : c->rc_max_ms;
	}
	pthread_mutex_lock(&c->lock);
	c->given_up = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* --- control calls --- */

static uint64_t deadline_after(unsigned int ms)
{
	return mono_ns() + (uint64_t)ms * 1000000;
}

/* Waits on c->cond until deadline (CLOCK_MONOTONIC); ETIMEDOUT after. */
static int cond_wait_until(struct tcp_conn *c, uint64_t deadline)
{
	struct timespec ts = { .tv_sec = deadline / 1000000000,
			       .tv_nsec = deadline % 1000000000 };

	return pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

static int ctl_call(struct tcp_conn *c, uint16_t op, const void *body,
		    uint32_t body_len, void *reply, uint32_t reply_len)
{
	uint64_t deadline = deadline_after(c->ctl_ms);
	struct tcp_ctl *ctl = NULL;
	unsigned int i;
	int ret = 0;

	if (tls_conn == c) {
		LOG_RATELIMITED(LOG_ERR,
				"donor %s: %s called from a transport callback",
				c->peer, proto_op_name(op));
		return -EDEADLK;
	}
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->state != XPORT_UP) {
			ret = c->closing ? -ECONNABORTED : -ENOTCONN;
			break;
		}
		for (i = 0; i < TCP_NCTL && !ctl; i++)
			if (c->ctl[i].state == CTL_FREE)
				ctl = &c->ctl[i];
		if (ctl || cond_wait_until(c, deadline) == ETIMEDOUT)
			break;
	}
	if (!ctl && !ret)
		ret = -ETIMEDOUT;
	if (ret)
		goto out_unlock;
	ctl->state = CTL_BUSY;
	pthread_mutex_unlock(&c->lock);

	memset(&ctl->io, 0, sizeof(ctl->io));
	ctl->io.dir = TCP_DIR_CTL;
	ctl->io.done = ctl_done;
	ctl->io.t_submit_ns = mono_ns();
	ctl->op = op;
	ctl->body_len = body_len;
	if (body_len)
		memcpy(ctl->body, body, body_len);
	ctl->reply_len = 0;
	batch_submit(&c->q, &ctl->io);

	pthread_mutex_lock(&c->lock);
	while (ctl->state == CTL_BUSY)
		if (cond_wait_until(c, deadline) == ETIMEDOUT)
			break;
	if (ctl->state == CTL_BUSY) {
		/* the transport frees it when it completes (io timeout) */
		ctl->state = CTL_ABANDONED;
		ret = -ETIMEDOUT;
		LOG_RATELIMITED(LOG_WARNING, "donor %s: %s timed out", c->peer,
				proto_op_name(op));
		goto out_unlock;
	}
	ret = ctl->status;
	if (!ret && ctl->reply_len != reply_len)
		ret = -EPROTO;
	if (!ret && reply_len)
		memcpy(reply, ctl->reply, reply_len);
	ctl->state = CTL_FREE;
	pthread_cond_broadcast(&c->cond);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static int tcp_alloc(struct xport *x, struct xport_slab *out)
{
	struct wire_slab ws;
	int ret;

	ret = ctl_call(to_tcp(x), PROTO_OP_ALLOC, NULL, 0, &ws, sizeof(ws));
	if (ret)
		return ret;
	proto_slab_swap(&ws);
	out->slab = ws.slab;
	out->rkey = ws.rkey;
	out->size = ws.size;
	out->addr = ws.addr;
	return 0;
}

static int tcp_free(struct xport *x, uint32_t slab)
{
	struct wire_slab_ref r = { .slab = slab };

	proto_slab_ref_swap(&r);
	return ctl_call(to_tcp(x), PROTO_OP_FREE, &r, sizeof(r), NULL, 0);
}

static int tcp_query(struct xport *x, struct wire_state *out)
{
	int ret;

	ret = ctl_call(to_tcp(x), PROTO_OP_QUERY, NULL, 0, out, sizeof(*out));
	if (!ret)
		proto_state_swap(out);
	return ret;
}

static int tcp_heartbeat(struct xport *x, uint64_t *rtt_ns)
{
	uint64_t t0 = mono_ns();
	int ret;

	ret = ctl_call(to_tcp(x), PROTO_OP_HEARTBEAT, NULL, 0, NULL, 0);
	if (!ret && rtt_ns)
		*rtt_ns = mono_ns() - t0;
	return ret;
}

static int tcp_reclaim(struct xport *x, uint64_t bytes)
{
	struct wire_reclaim r = { .bytes = bytes };

	proto_reclaim_swap(&r);
	return ctl_call(to_tcp(x), PROTO_OP_RECLAIM, &r, sizeof(r), NULL, 0);
}

/* --- lifecycle --- */

static int permanent(int err)
{
	return err == -EACCES || err == -EPROTONOSUPPORT || err == -EINVAL;
}

static int tcp_wait_up(struct xport *x, unsigned int timeout_ms)
{
	struct tcp_conn *c = to_tcp(x);
	uint64_t deadline = deadline_after(timeout_ms);
	int ret;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->state == XPORT_UP) {
			ret = 0;
			break;
		}
		if (c->closing) {
			ret = -ECONNABORTED;
			break;
		}
		if (c->last_err && (c->given_up || permanent(c->last_err))) {
			ret = c->last_err;
			break;
		}
		if (cond_wait_until(c, deadline) == ETIMEDOUT) {
			ret = c->state == XPORT_UP ? 0
			      : c->last_err	   ? c->last_err
						   : -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static enum xport_state tcp_state(struct xport *x)
{
	struct tcp_conn *c = to_tcp(x);
	enum xport_state s;

	pthread_mutex_lock(&c->lock);
	s = c->state;
	pthread_mutex_unlock(&c->lock);
	return s;
}

static void tcp_get_stats(struct xport *x, struct xport_stats *out)
{
	struct tcp_conn *c = to_tcp(x);

	memset(out, 0, sizeof(*out));
	xstats_read(&c->st, out);
	out->kind = XPORT_TCP;
	out->state = tcp_state(x);
}

static const char *tcp_peer(struct xport *x)
{
	return to_tcp(x)->peer;
}

/* Frees what tcp_open() allocated (any of it may still be missing). */
static void free_conn(struct tcp_conn *c)
{
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	free(c->rbuf);
	free(c->riov);
	free(c->siov);
	free(c->chain);
	free(c->hdrs);
	free(c->slots);
	free(c->host);
	free(c->port);
	free(c);
}

static void tcp_destroy(struct tcp_conn *c)
{
	pthread_cond_destroy(&c->dcond);
	pthread_mutex_destroy(&c->dlock);
	batch_queue_destroy(&c->q);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free_conn(c);
}

static void stop_deferred(struct tcp_conn *c)
{
	pthread_mutex_lock(&c->dlock);
	c->dstop = 1;
	pthread_mutex_unlock(&c->dlock);
	pthread_cond_signal(&c->dcond);
	pthread_join(c->dthread, NULL);
}

static int tcp_open(const struct xport_cfg *cfg, struct xport **out)
{
	struct batch_limits lim = {
		.max_chain = cfg->max_chain ? cfg->max_chain : 32,
		.max_op_bytes =
			cfg->max_op_bytes ? cfg->max_op_bytes : 512u << 10,
	};
	pthread_condattr_t ca;
	struct tcp_conn *c;
	unsigned int i;
	int ret;

	if (lim.max_op_bytes > PROTO_MAX_IO || lim.max_op_bytes < 512 ||
	    lim.max_chain > TCP_INFLIGHT)
		return -EINVAL;
	if (cfg->slab_size && !hs_slab_size_ok(cfg->slab_size))
		return -EINVAL;
	/* nonces need libsodium; sodium_init() is idempotent, thread-safe */
	ret = auth_init();
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &xport_tcp_backend;
	c->fd = -1;
	c->wake_fd = -1;
	c->state = XPORT_CONNECTING;
	c->ctl_ms = cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : TCP_DEF_CTL_MS;
	c->io_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : TCP_DEF_IO_MS;
	c->rc_max_ms = cfg->reconnect_max_ms;
	c->rc_min_ms = cfg->reconnect_min_ms ? cfg->reconnect_min_ms
					     : TCP_RECONNECT_MIN_MS;
	if (c->rc_max_ms && c->rc_min_ms > c->rc_max_ms)
		c->rc_min_ms = c->rc_max_ms;
	c->scan_ms =
		c->io_ms / 4 < TCP_SCAN_MS_MAX ? c->io_ms / 4 : TCP_SCAN_MS_MAX;
	if (!c->scan_ms)
		c->scan_ms = 1;
	c->event = cfg->event;
	c->event_arg = cfg->event_arg;
	c->max_io = PROTO_MAX_IO;
	if (cfg->key)
		c->key = *cfg->key;
	c->hs.key = &c->key;
	c->hs.sess = cfg->sess ? cfg->sess : &c->hs_sess;
	c->hs.slab_size = cfg->slab_size ? cfg->slab_size : TCP_DEF_SLAB;
	memcpy(c->hs.session, cfg->session, PROTO_SESSION_LEN);
	c->hs.timeout_ms = c->ctl_ms;
	snprintf(c->peer, sizeof(c->peer),
		 strchr(cfg->host, ':') ? "[%s]:%s" : "%s:%s", cfg->host,
		 cfg->port);
	c->nslots = TCP_INFLIGHT;
	c->inflight.next = c->inflight.prev = &c->inflight;
	ret = -ENOMEM;
	c->host = strdup(cfg->host);
	c->port = strdup(cfg->port);
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->hdrs = calloc(lim.max_chain, sizeof(*c->hdrs));
	c->chain = calloc(lim.max_chain, sizeof(*c->chain));
	c->siov = calloc(TCP_IOV, sizeof(*c->siov));
	c->riov = calloc(TCP_IOV, sizeof(*c->riov));
	c->rbuf = malloc(TCP_RBUF);
	if (!c->host || !c->port || !c->slots || !c->hdrs || !c->chain ||
	    !c->siov || !c->riov || !c->rbuf)
		goto out_free;
	for (i = c->nslots; i-- > 0;) {
		c->slots[i].next = c->free_slots;
		c->free_slots = &c->slots[i];
	}
	c->nfree = c->nslots;
	for (i = 0; i < TCP_NCTL; i++)
		c->ctl[i].c = c;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		ret = -errno;
		goto out_free;
	}
	ret = batch_queue_init(&c->q, &lim, tcp_post, c);
	if (ret)
		goto out_free;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->dlock, NULL);
	pthread_cond_init(&c->dcond, NULL);
	ret = -pthread_create(&c->dthread, NULL, deferred_main, c);
	if (ret) {
		tcp_destroy(c);
		return ret;
	}
	ret = -pthread_create(&c->thread, NULL, conn_main, c);
	if (ret) {
		stop_deferred(c);
		tcp_destroy(c);
		return ret;
	}
	*out = &c->base;
	return 0;

out_free:
	free_conn(c);
	return ret;
}

static void tcp_close(struct xport *x)
{
	struct tcp_conn *c = to_tcp(x);
	uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	c->closing = 1;
	if (c->state == XPORT_UP)
		atomic_store(&c->up, 0);
	c->state = XPORT_CLOSED;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (write(c->wake_fd, &one, sizeof(one)) < 0)
		log_warn("donor %s: cannot wake the connection thread",
			 c->peer);
	pthread_join(c->thread, NULL);
	/* what callbacks resubmitted meanwhile fails as closed */
	stop_deferred(c);
	tcp_destroy(c);
}

const struct xport_backend xport_tcp_backend = {
	.name = "tcp",
	.open = tcp_open,
	.wait_up = tcp_wait_up,
	.submit = tcp_submit,
	.submit_chain = tcp_submit_chain,
	.reg = NULL,
	.alloc = tcp_alloc,
	.free_slab = tcp_free,
	.query = tcp_query,
	.heartbeat = tcp_heartbeat,
	.reclaim = tcp_reclaim,
	.state = tcp_state,
	.get_stats = tcp_get_stats,
	.peer = tcp_peer,
	.close = tcp_close,
};
