// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp - XPORT_TCP: one TCP connection to a donor, pipelined by request id.
 * The connection core (rdma/conn.h) runs its life: this file and
 * tcp_rx.c only move bytes.
 *
 *   submitters ----> batch_queue ----> leader: reserve in-flight slots,
 *                                      one sendmsg per chain (headers,
 *                                      wire_io, WRITE payloads straight
 *                                      from the ios' buffers)
 *   connector:    connect() - sock_connect_host (bounded, cancelled by
 *                 close) and hs_client(), on the core's shared pool of
 *                 connector threads (rdma/conn.h, attach mode); then
 *                 attach() gives the socket to one of the process-wide
 *                 event loops (tcp_loop.c)
 *   a waiter:     xport_poll() (tcp_poll.c): a thread waiting for its
 *                 own reply takes the receive side from the loop and
 *                 runs the same parser itself
 *   event loop:   tcp_rx.c's parser on a readable socket: reply header,
 *                 match the id in the in-flight table, READ payload
 *                 straight into the ios' buffers, done(); EVICT ->
 *                 XPORT_EV_EVICT; the loop's timer looks at the oldest
 *                 request for io_timeout_ms
 *   connector:    teardown() once the link ended - fail everything
 *                 pending, close the fd.
 *
 * Control calls (ctl(), under the core's alloc, free, query, heartbeat,
 * reclaim) are entries of the same batch queue (an xport_io with dir
 * TCP_DIR_CTL, which batch_form never merges or reorders), so the batch
 * leader is the only thread that ever writes to the socket; the caller
 * waits on the core's condvar for its reply, up to ctl_timeout_ms,
 * holding no lock.
 *
 * A loop thread never sends: an io submitted from one (a done() or event
 * callback resubmitting) or from a connector is handed to the deferred-
 * submit worker of the connection's loop (tcp_loop.c), since a loop
 * waiting for in-flight slots, or blocked in sendmsg while the donor
 * waits for us to read its replies, would wait for itself. A control
 * call from a loop or a connector fails with -EDEADLK for the same reason.
 * While deferred ios of a connection wait, its other submitters defer
 * too (c->ndeferred), so that ios go out in the order of the submit
 * calls.
 *
 * Memory: the in-flight table, the control entries, the leader's headers
 * and iovecs are allocated at open; nothing is allocated per request.
 *
 * Threading: c->xc.lock (the core's) guards the state, the fd number, the
 * in-flight table and the control entries; it is never held across a
 * send, a receive or a callback. The socket is written only by the batch
 * leader (one at a time) and read only by the holder of its receive
 * claim (its loop thread, or a poller: tcp_poll.c). Other threads
 * break a connection by shutdown(2) under the lock; only teardown (on a
 * connector, after the loop let go of the socket) closes the fd, after
 * the leader has left sendmsg (c->sending), so an fd number is never
 * used after it was closed and an io's buffer is never read after its
 * done().
 */
#include "common/clock.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/sock.h"
#include "rdma/batch.h"
#include "rdma/handshake.h"
#include "rdma/tcp_priv.h"
#include "rdma/xport.h"

#include <errno.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

static struct tcp_conn *to_tcp(struct xport *x)
{
	return (struct tcp_conn *)x;
}

/* On a thread that must not send or wait for slots (see the top). */
/* On any transport's loop (a TCP loop or a poller acting as one, the
 * verbs loop of a mount that mixes transports) or c's connector. */
static bool must_defer(struct tcp_conn *c)
{
	return tcp_loop_on_thread() || evloop_on_thread() ||
	       xconn_on_thread(&c->xc);
}

/* Deferred, or behind ios deferred before: the connection sends in the
 * order of the submit calls, as the page store expects (a repair's
 * write issued from a READ's done() must not pass a newer write). */
static bool goes_deferred(struct tcp_conn *c)
{
	return must_defer(c) || atomic_load(&c->ndeferred);
}

/* --- in-flight table (c->xc.lock held) --- */

void tcp_complete_ios(struct tcp_conn *c, struct xport_io *io, int status)
{
	uint64_t now = status ? 0 : mono_ns();

	while (io) {
		struct xport_io *next = io->next;

		if (io->dir != TCP_DIR_CTL)
			xconn_io_done(&c->xc, io, status, now);
		io->done(io, status);
		io = next;
	}
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

void tcp_slot_put(struct tcp_conn *c, struct tcp_slot *s)
{
	s->id = 0;
	s->ios = NULL;
	s->next = c->free_slots;
	c->free_slots = s;
	c->nfree++;
	if (c->slot_waiters)
		pthread_cond_broadcast(&c->xc.cond);
}

/* Breaks the current connection: the conn thread sees it and tears down. */
static void break_locked(struct tcp_conn *c, int err)
{
	if (c->xc.state == XPORT_UP)
		xconn_set_down_locked(&c->xc, err);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	pthread_cond_broadcast(&c->xc.cond);
}

/* Drops the n bytes a partial sendmsg/readv moved from the front of iov. */
void tcp_iov_advance(struct iovec **iov, int *cnt, size_t n)
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
		tcp_iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

static void fail_chain(struct batch_op *ops, unsigned int nops,
		       struct tcp_conn *c, int err)
{
	unsigned int i;

	for (i = 0; i < nops; i++)
		tcp_complete_ios(c, ops[i].ios, err);
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

	pthread_mutex_lock(&c->xc.lock);
	while (c->xc.state == XPORT_UP && c->nfree < nops) {
		c->slot_waiters++;
		pthread_cond_wait(&c->xc.cond, &c->xc.lock);
		c->slot_waiters--;
	}
	if (c->xc.state != XPORT_UP) {
		ret = c->xc.closing ? -ECONNABORTED : -ENOTCONN;
		pthread_mutex_unlock(&c->xc.lock);
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
	pthread_mutex_unlock(&c->xc.lock);

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
	xstats_post(&c->xc.st, ops, nops);

	pthread_mutex_lock(&c->xc.lock);
	c->sending = 0;
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING, "donor %s: send failed: %s",
				c->xc.peer, strerror(-ret));
		break_locked(c, ret == -ETIMEDOUT ? ret : -ECONNRESET);
	}
	pthread_cond_broadcast(&c->xc.cond);
	pthread_mutex_unlock(&c->xc.lock);
}

static void tcp_submit(struct xport *x, struct xport_io *io)
{
	struct tcp_conn *c = to_tcp(x);

	if (!xconn_accept_io(&c->xc, io, c->max_io))
		return;
	if (goes_deferred(c)) {
		tcp_loop_defer(c, io);
		return;
	}
	batch_submit(&c->q, io);
}

/* The ios of a chain that pass the checks go to the queue together; on
 * a loop or connector thread, or behind deferred ones, all go the
 * deferred way of tcp_submit().
 * done() of a failed io may end its caller's request: next is read first. */
static void tcp_submit_chain(struct xport *x, struct xport_io *io)
{
	struct tcp_conn *c = to_tcp(x);
	struct xport_io *head = NULL, **tail = &head, *next;
	bool defer = goes_deferred(c); /* the whole chain, in order */

	for (; io; io = next) {
		next = io->next;
		if (defer) {
			if (xconn_accept_io(&c->xc, io, c->max_io))
				tcp_loop_defer(c, io);
			continue;
		}
		if (!xconn_accept_io(&c->xc, io, c->max_io))
			continue;
		io->next = NULL;
		*tail = io;
		tail = &io->next;
	}
	if (head)
		batch_submit_chain(&c->q, head);
}

static void ctl_done(struct xport_io *io, int status)
{
	struct tcp_ctl *ctl = (struct tcp_ctl *)io;
	struct tcp_conn *c = ctl->c;

	pthread_mutex_lock(&c->xc.lock);
	if (ctl->state == CTL_ABANDONED) {
		ctl->state = CTL_FREE;
	} else {
		ctl->status = status;
		ctl->state = CTL_DONE;
	}
	pthread_cond_broadcast(&c->xc.cond);
	pthread_mutex_unlock(&c->xc.lock);
}

/* A control call is an entry of the batch queue (see the top). */
static int tcp_ctl(struct xconn *xc, uint16_t op, const void *body,
		   uint32_t body_len, void *reply, uint32_t rmax,
		   uint32_t *rlen)
{
	struct tcp_conn *c = to_tcp(&xc->base);
	uint64_t deadline = deadline_after_ms(xc->ctl_ms);
	struct tcp_ctl *ctl = NULL;
	unsigned int i;
	int ret = 0;

	if (must_defer(c)) {
		LOG_RATELIMITED(LOG_ERR,
				"donor %s: %s called from a transport callback",
				c->xc.peer, proto_op_name(op));
		return -EDEADLK;
	}
	pthread_mutex_lock(&c->xc.lock);
	for (;;) {
		if (c->xc.state != XPORT_UP) {
			ret = c->xc.closing ? -ECONNABORTED : -ENOTCONN;
			break;
		}
		for (i = 0; i < TCP_NCTL && !ctl; i++)
			if (c->ctl[i].state == CTL_FREE)
				ctl = &c->ctl[i];
		if (ctl || xconn_cond_wait_until(xc, deadline) == ETIMEDOUT)
			break;
	}
	if (!ctl && !ret)
		ret = -ETIMEDOUT;
	if (ret)
		goto out_unlock;
	ctl->state = CTL_BUSY;
	pthread_mutex_unlock(&c->xc.lock);

	memset(&ctl->io, 0, sizeof(ctl->io));
	ctl->io.dir = TCP_DIR_CTL;
	ctl->io.done = ctl_done;
	ctl->io.t_submit_ns = mono_ns();
	ctl->op = op;
	ctl->body_len = body_len;
	if (body_len)
		memcpy(ctl->body, body, body_len);
	ctl->reply_len = 0;
	if (atomic_load(&c->ndeferred))
		tcp_loop_defer(c, &ctl->io); /* after the ios before it */
	else
		batch_submit(&c->q, &ctl->io);

	pthread_mutex_lock(&c->xc.lock);
	while (ctl->state == CTL_BUSY)
		if (xconn_cond_wait_until(xc, deadline) == ETIMEDOUT)
			break;
	if (ctl->state == CTL_BUSY) {
		/* the transport frees it when it completes (io timeout) */
		ctl->state = CTL_ABANDONED;
		ret = -ETIMEDOUT;
		LOG_RATELIMITED(LOG_WARNING, "donor %s: %s timed out",
				c->xc.peer, proto_op_name(op));
		goto out_unlock;
	}
	ret = ctl->status;
	if (!ret) {
		*rlen = ctl->reply_len;
		memcpy(reply, ctl->reply,
		       ctl->reply_len < rmax ? ctl->reply_len : rmax);
	}
	ctl->state = CTL_FREE;
	pthread_cond_broadcast(&c->xc.cond);
out_unlock:
	pthread_mutex_unlock(&c->xc.lock);
	return ret;
}

/*
 * Closes a connection's socket. Bytes the donor has not acknowledged are
 * dropped with a reset, not left to the kernel: their requests were
 * already failed (timed out), and an orphaned socket would go on
 * retransmitting them, so that a donor whose link comes back applies old
 * WRITEs after our new connection has reused their slab ids or refilled
 * those slabs (a live replica holding a stale page).
 */
static void close_unsent(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int unacked = 0;

	if (ioctl(fd, SIOCOUTQ, &unacked) || unacked > 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* After a loss, a failed attempt or close: fails everything pending,
 * closes the fd (the only place that does). */
static void tcp_teardown(struct xconn *xc, int err)
{
	struct tcp_conn *c = to_tcp(&xc->base);
	struct tcp_slot *s, *list;
	int fd, status;

	pthread_mutex_lock(&xc->lock);
	break_locked(c, err);
	while (c->sending)
		pthread_cond_wait(&xc->cond, &xc->lock);
	list = c->inflight.next;
	c->inflight.prev->next = NULL;
	c->inflight.next = c->inflight.prev = &c->inflight;
	fd = c->fd;
	c->fd = -1;
	status = xc->closing ? -ECONNABORTED : -ECONNRESET;
	pthread_mutex_unlock(&xc->lock);
	if (fd >= 0)
		close_unsent(fd);
	tcp_loop_flush(c, status);
	while (list && list != &c->inflight) {
		s = list;
		list = s->next;
		s->prev = NULL;
		tcp_complete_ios(c, s->ios, status);
		pthread_mutex_lock(&xc->lock);
		tcp_slot_put(c, s);
		pthread_mutex_unlock(&xc->lock);
	}
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

/* lock held: a connect or the loop's receive fails at once */
static void tcp_kick(struct xconn *xc)
{
	struct tcp_conn *c = to_tcp(&xc->base);

	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

/* One attempt: connect (bounded by ctl_ms, cancelled by close), then the
 * handshake; 0 with c->fd ready for attach(). */
static int tcp_connect(struct xconn *xc, char *err, size_t errlen)
{
	struct tcp_conn *c = to_tcp(&xc->base);
	struct hs_result hr;
	int fd, ret;

	ret = sock_connect_host_cancel(xc->host, xc->port,
				       deadline_after_ms(xc->ctl_ms),
				       xc->wake_fd, &fd);
	if (ret)
		return ret;
	pthread_mutex_lock(&xc->lock);
	if (xc->closing)
		ret = -ECONNABORTED;
	else
		c->fd = fd; /* so that close can shut it down */
	pthread_mutex_unlock(&xc->lock);
	if (ret)
		goto out_close;
	ret = set_timeouts(fd, xc->ctl_ms, xc->ctl_ms);
	if (!ret)
		ret = hs_client(fd, &xc->hs, &hr, err, errlen);
	if (!ret)
		ret = set_timeouts(fd, 0, xc->io_ms); /* recvs: MSG_DONTWAIT */
	if (ret)
		goto out_forget;
	log_debug("donor %s: slab size %llu", xc->peer,
		  (unsigned long long)hr.slab_size);
	return 0;

out_forget:
	pthread_mutex_lock(&xc->lock);
	c->fd = -1;
	pthread_mutex_unlock(&xc->lock);
out_close:
	close(fd);
	return ret;
}

/* Frees what tcp_open() allocated (any of it may still be missing). */
static void free_conn(struct tcp_conn *c)
{
	xconn_destroy(&c->xc);
	free(c->rbuf);
	free(c->riov);
	free(c->siov);
	free(c->chain);
	free(c->hdrs);
	free(c->slots);
	free(c);
}

static void tcp_destroy(struct tcp_conn *c)
{
	batch_queue_destroy(&c->q);
	free_conn(c);
}

/* xconn_ops.destroy: no connector or loop holds c any more */
static void tcp_close(struct xconn *xc)
{
	struct tcp_conn *c = to_tcp(&xc->base);

	/* what callbacks resubmitted meanwhile fails as closed */
	tcp_loop_put(c);
	tcp_destroy(c);
}

static const struct xconn_ops tcp_conn_ops = { .connect = tcp_connect,
					       .attach = tcp_loop_attach,
					       .teardown = tcp_teardown,
					       .ctl = tcp_ctl,
					       .kick = tcp_kick,
					       .destroy = tcp_close };

static int tcp_open(const struct xport_cfg *cfg, struct xport **out)
{
	struct batch_limits lim = {
		.max_chain = cfg->max_chain ? cfg->max_chain : 32,
		.max_op_bytes =
			cfg->max_op_bytes ? cfg->max_op_bytes : 512u << 10,
	};
	struct tcp_conn *c;
	unsigned int i;
	int ret;

	if (lim.max_op_bytes > PROTO_MAX_IO || lim.max_op_bytes < 512 ||
	    lim.max_chain > TCP_INFLIGHT)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	ret = xconn_init(&c->xc, &xport_tcp_backend, &tcp_conn_ops, XPORT_TCP,
			 cfg);
	if (ret)
		goto out_free;
	c->scan_ms = c->xc.io_ms / 4 < TCP_SCAN_MS_MAX ? c->xc.io_ms / 4
						       : TCP_SCAN_MS_MAX;
	if (!c->scan_ms)
		c->scan_ms = 1;
	c->max_io = PROTO_MAX_IO;
	c->nslots = TCP_INFLIGHT;
	c->inflight.next = c->inflight.prev = &c->inflight;
	ret = -ENOMEM;
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->hdrs = calloc(lim.max_chain, sizeof(*c->hdrs));
	c->chain = calloc(lim.max_chain, sizeof(*c->chain));
	c->siov = calloc(TCP_IOV, sizeof(*c->siov));
	c->riov = calloc(TCP_IOV, sizeof(*c->riov));
	c->rbuf = malloc(TCP_RBUF);
	if (!c->slots || !c->hdrs || !c->chain || !c->siov || !c->riov ||
	    !c->rbuf)
		goto out_free;
	for (i = c->nslots; i-- > 0;) {
		c->slots[i].next = c->free_slots;
		c->free_slots = &c->slots[i];
	}
	c->nfree = c->nslots;
	for (i = 0; i < TCP_NCTL; i++)
		c->ctl[i].c = c;
	ret = batch_queue_init(&c->q, &lim, tcp_post, c);
	if (ret)
		goto out_free;
	ret = tcp_loop_get(c);
	if (ret)
		goto out_destroy;
	ret = xconn_start(&c->xc, out);
	if (ret)
		goto out_put_loop;
	return 0;

out_put_loop:
	tcp_loop_put(c);
out_destroy:
	tcp_destroy(c);
	return ret;
out_free:
	free_conn(c);
	return ret;
}

XCONN_BACKEND(xport_tcp_backend, "tcp", .open = tcp_open, .submit = tcp_submit,
	      .submit_chain = tcp_submit_chain, .poll = tcp_poll);
