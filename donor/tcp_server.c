// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_server - the donor's TCP listener: one acceptor thread, one thread
 * per connection that reads requests in order and answers each before
 * reading the next (the client pipelines; TCP keeps the queue).
 *
 *   conn thread:  handshake (HELLO, AUTH; hs_timeout_ms in total)
 *                 loop: poll(socket, evict eventfd)
 *                       eventfd -> send queued EVICTs
 *                       socket  -> read header, dmsg_check_hdr()
 *                                  read fixed body, dmsg_decode_body()
 *                                  dconn_request() (donor/serve.h) acts
 *                                  and replies; its io op here: READ
 *                                  writev straight from the slab, WRITE
 *                                  recv straight into it
 *
 * A broken stream (bad header, bad body, handshake failure) gets ERROR or
 * an error reply, one warning naming the peer and the reason, and a close.
 * A refused request on a sound stream (range, slab not the client's, no
 * space) gets an error reply and the connection goes on.
 */
#include "donor/dmsg.h"
#include "donor/serve.h"
#include "donor/server.h"

#include "common/clock.h"
#include "common/log.h"
#include "rdma/handshake.h"

#include <endian.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define EVQ_LEN	       64
#define MSG_TIMEOUT_MS 30000 /* to finish a message once it started */
#define DRAIN_BUF      (64 << 10)
#define IN_BUF	       (64 << 10) /* requests are read in bulk from here */
#define DIRECT_MIN     4096	  /* longer payloads bypass the buffer */

struct tconn {
	struct dconn dc; /* first; dc.sc.peer names the client */
	struct donor_server *srv;
	int fd;
	int evfd;
	pthread_t thread;
	atomic_int done;
	int authing;	  /* protected by srv->lock: still in the handshake */
	int dropped;	  /* protected by srv->lock: shut down by accept_one */
	uint64_t t_start; /* mono_ns() at accept */
	pthread_mutex_t evlock;
	uint32_t ev_slab[EVQ_LEN]; /* protected by evlock */
	uint64_t ev_deadline[EVQ_LEN];
	unsigned int ev_n;
	atomic_int ev_pending; /* EVICTs queued since the last look */
	struct tconn *next;    /* protected by srv->lock */
	size_t in_off, in_len; /* buffered input: in[in_off, in_len) */
	uint8_t in[IN_BUF];
	uint8_t drain[DRAIN_BUF];
};

struct donor_server {
	struct donor *d;
	struct donor_server_cfg cfg;
	int lfd;
	int stopfd;
	pthread_t acceptor;
	pthread_mutex_t lock;
	struct tconn *conns; /* protected by lock */
	atomic_int stopping;
};

static void peer_name(const struct sockaddr *sa, socklen_t len, char *buf,
		      size_t buflen)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(buf, buflen, "?");
		return;
	}
	snprintf(buf, buflen, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
		 host, serv);
}

/* Sends the whole iovec; blocking socket with a send timeout. */
static int send_iov_flags(int fd, struct iovec *iov, int n, int flags)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
	ssize_t w;

	while (mh.msg_iovlen) {
		w = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		while (mh.msg_iovlen && (size_t)w >= mh.msg_iov->iov_len) {
			w -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + w;
			mh.msg_iov->iov_len -= w;
		}
	}
	return 0;
}

static int send_iov(int fd, struct iovec *iov, int n)
{
	return send_iov_flags(fd, iov, n, 0);
}

static size_t in_avail(const struct tconn *c)
{
	return c->in_len - c->in_off;
}

/*
 * MSG_MORE while the next request is already here in full: its reply
 * follows at once, so replies to a pipelined burst leave in few segments.
 * Never while we might wait for the network, or a reply would sit corked.
 */
static int more_flag(const struct tconn *c)
{
	struct wire_hdr w;

	if (in_avail(c) < sizeof(w))
		return 0;
	memcpy(&w, c->in + c->in_off, sizeof(w));
	if (le32toh(w.magic) != PROTO_MAGIC)
		return 0;
	return in_avail(c) - sizeof(w) >= le32toh(w.len) ? MSG_MORE : 0;
}

#define NO_DEADLINE UINT64_MAX

/* The deadline ms milliseconds from now (common/clock.h time). */
static uint64_t after_ms(unsigned int ms)
{
	return mono_ns() + (uint64_t)ms * 1000000ull;
}

/* Milliseconds left until deadline for poll(2): -1 forever, 0 if past. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = mono_ns();

	if (deadline == NO_DEADLINE)
		return -1;
	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/*
 * Waits until fd is readable or the absolute deadline passes (a peer
 * trickling bytes does not move it): 0, -ETIMEDOUT or -errno.
 */
static int wait_in(int fd, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&pfd, 1, ms_left(deadline));
	while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

/* Reads what the socket has into the buffer: 0, 1 on EOF, or -errno. */
static int in_fill(struct tconn *c, uint64_t deadline)
{
	ssize_t n;
	int ret;

	if (c->in_off == c->in_len) {
		c->in_off = 0;
		c->in_len = 0;
	} else if (c->in_len == IN_BUF) {
		memmove(c->in, c->in + c->in_off, in_avail(c));
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	for (;;) {
		n = recv(c->fd, c->in + c->in_len, IN_BUF - c->in_len,
			 MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += n;
			return 0;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errno == ECONNRESET ? 1 : -errno;
		ret = wait_in(c->fd, deadline);
		if (ret)
			return ret;
	}
}

/* Takes exactly n bytes of input by the deadline: 0, -ECONNRESET,
 * -ETIMEDOUT or -errno. */
static int in_read(struct tconn *c, void *dst, size_t n, uint64_t deadline)
{
	uint8_t *p = dst;
	size_t k;
	int ret;

	for (;;) {
		k = in_avail(c) < n ? in_avail(c) : n;
		memcpy(p, c->in + c->in_off, k);
		c->in_off += k;
		p += k;
		n -= k;
		if (!n)
			return 0;
		/* the buffer is empty now: big payloads go straight in */
		if (n >= DIRECT_MIN)
			return hs_read_full(c->fd, p, n,
					    (unsigned int)ms_left(deadline));
		ret = in_fill(c, deadline);
		if (ret)
			return ret > 0 ? -ECONNRESET : ret;
	}
}

static int send_reply(struct tconn *c, uint16_t op, uint64_t id,
		      uint32_t status, const void *body, uint32_t len)
{
	uint8_t hdr[sizeof(struct wire_hdr)];
	struct proto_hdr h = { .op = op,
			       .flags = PROTO_F_REPLY,
			       .id = id,
			       .len = status ? 0 : len,
			       .status = status };
	struct iovec iov[2] = { { hdr, sizeof(hdr) },
				{ (void *)body, status ? 0 : len } };

	proto_hdr_enc(hdr, &h);
	return send_iov_flags(c->fd, iov, h.len ? 2 : 1, more_flag(c));
}

/* dconn_ops.reply */
static int tc_reply(struct dconn *dc, const struct proto_hdr *req,
		    uint32_t status, const void *body, uint32_t len)
{
	return send_reply((struct tconn *)dc, req->op, req->id, status, body,
			  len);
}

/* dconn_ops.error: ERROR(why) with status err; the core logged it. */
static void tc_error(struct dconn *dc, uint64_t id, uint32_t err,
		     const char *why)
{
	struct tconn *c = (struct tconn *)dc;
	uint8_t hdr[sizeof(struct wire_hdr)];
	size_t n = strlen(why);
	struct proto_hdr h = { .op = PROTO_OP_ERROR, .id = id, .status = err };
	struct iovec iov[2];

	if (n > PROTO_ERRTEXT_MAX)
		n = PROTO_ERRTEXT_MAX;
	h.len = n;
	proto_hdr_enc(hdr, &h);
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ (void *)why, n };
	send_iov(c->fd, iov, 2);
}

static void conn_evict(struct session_conn *sc, uint32_t slab,
		       uint64_t deadline_ms)
{
	struct tconn *c = (struct tconn *)sc;
	uint64_t one = 1;

	pthread_mutex_lock(&c->evlock);
	if (c->ev_n < EVQ_LEN) {
		c->ev_slab[c->ev_n] = slab;
		c->ev_deadline[c->ev_n] = deadline_ms;
		c->ev_n++;
	}
	pthread_mutex_unlock(&c->evlock);
	atomic_store(&c->ev_pending, 1);
	if (write(c->evfd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the thread is awake anyway */
	}
}

static int send_evicts(struct tconn *c)
{
	uint32_t slab[EVQ_LEN];
	uint64_t dl[EVQ_LEN];
	unsigned int n;
	int ret = 0;

	pthread_mutex_lock(&c->evlock);
	n = c->ev_n;
	memcpy(slab, c->ev_slab, n * sizeof(slab[0]));
	memcpy(dl, c->ev_deadline, n * sizeof(dl[0]));
	c->ev_n = 0;
	pthread_mutex_unlock(&c->evlock);
	for (unsigned int i = 0; i < n && !ret; i++) {
		struct wire_evict ev = { .slab = slab[i],
					 .deadline_ms = dl[i] };
		uint8_t hdr[sizeof(struct wire_hdr)];
		struct proto_hdr h = { .op = PROTO_OP_EVICT,
				       .len = sizeof(ev) };
		struct iovec iov[2] = { { hdr, sizeof(hdr) },
					{ &ev, sizeof(ev) } };

		proto_evict_swap(&ev);
		proto_hdr_enc(hdr, &h);
		ret = send_iov(c->fd, iov, 2);
	}
	return ret;
}

/*
 * Reads one request header: 1 on a clean close before any byte, 0 with
 * *h set, or a negative errno (after logging and answering).
 */
static int read_hdr(struct tconn *c, enum dmsg_phase phase, uint64_t deadline,
		    struct proto_hdr *h)
{
	uint8_t raw[sizeof(struct wire_hdr)];
	const char *why;
	int ret;

	if (!in_avail(c)) {
		/* before authentication nobody may hold a thread for long */
		ret = in_fill(c, phase != DMSG_READY ? deadline : NO_DEADLINE);
		if (ret == -ETIMEDOUT)
			LOG_RATELIMITED(
				LOG_WARNING,
				"client %s: no %s within %u ms; closing",
				c->dc.sc.peer,
				phase == DMSG_HELLO ? "hello" : "auth",
				c->srv->cfg.hs_timeout_ms);
		if (ret)
			return ret;
	}
	ret = in_read(c, raw, sizeof(raw), deadline);
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: truncated header (%s); closing",
				c->dc.sc.peer,
				ret == -ETIMEDOUT ? "timed out" : "closed");
		return ret;
	}
	ret = dmsg_check_hdr(phase, raw, h, &why);
	if (ret) {
		dconn_fail(&c->dc, 0, ret, why);
		return ret;
	}
	return 0;
}

/* Reads and decodes the fixed body of h; logs and answers on error. */
static int read_body(struct tconn *c, const struct proto_hdr *h,
		     uint64_t deadline, union dmsg_body *b)
{
	uint8_t raw[sizeof(union dmsg_body)];
	size_t n = dmsg_fixed_len(h);
	const char *why;
	int ret;

	if (n > sizeof(raw)) {
		dconn_fail(&c->dc, h->id, EMSGSIZE,
			   "body length does not match the opcode");
		return -EMSGSIZE;
	}
	ret = in_read(c, raw, n, deadline);
	if (ret) {
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: truncated %s message (%s); closing",
				c->dc.sc.peer, proto_op_name(h->op),
				ret == -ETIMEDOUT ? "timed out" : "closed");
		return ret;
	}
	ret = dmsg_decode_body(h, raw, b, &why);
	if (ret)
		dconn_fail(&c->dc, h->id, ret, why);
	return ret;
}

/*
 * HELLO and AUTH, through the request core, within hs_timeout_ms in
 * total. 0 once authenticated, else -errno (logged and answered).
 */
static int handshake(struct tconn *c)
{
	/* absolute (sshd's LoginGraceTime): trickling bytes gains nothing */
	uint64_t deadline = after_ms(c->srv->cfg.hs_timeout_ms);
	struct proto_hdr h;
	union dmsg_body b;
	int ret = 0;

	while (!ret && c->dc.phase != DMSG_READY) {
		ret = read_hdr(c, c->dc.phase, deadline, &h);
		if (ret > 0 && c->dc.phase == DMSG_AUTH)
			LOG_RATELIMITED(
				LOG_WARNING,
				"client %s: closed during the handshake "
				"(did it refuse our key?)",
				c->dc.sc.peer);
		if (ret > 0)
			ret = -ECONNRESET;
		if (!ret)
			ret = read_body(c, &h, deadline, &b);
		if (!ret)
			ret = dconn_request(&c->dc, &h, &b);
	}
	return ret;
}

/* Reads and drops len bytes of a refused WRITE so the stream stays sane. */
static int drain(struct tconn *c, uint32_t len)
{
	int ret = 0;

	while (len && !ret) {
		uint32_t n = len < DRAIN_BUF ? len : DRAIN_BUF;

		ret = in_read(c, c->drain, n, after_ms(MSG_TIMEOUT_MS));
		len -= n;
	}
	return ret;
}

/* dconn_ops.io: READ from the slab into the socket, WRITE the other
 * way, no copy in between. */
static int tc_io(struct dconn *dc, const struct proto_hdr *h,
		 const struct wire_io *io)
{
	struct tconn *c = (struct tconn *)dc;
	uint8_t hdr[sizeof(struct wire_hdr)];
	struct iovec iov[2];
	uint64_t t0;
	void *addr;
	int ret;

	t0 = mono_ns();
	ret = session_io_begin(dc->s, io->slab, io->off, io->len, &addr);
	if (ret) {
		dconn_io_refused(dc, h, io, ret);
		if (h->op == PROTO_OP_WRITE && drain(c, io->len))
			return -ECONNRESET;
		return send_reply(c, h->op, h->id, (uint32_t)-ret, NULL, 0);
	}
	if (h->op == PROTO_OP_READ) {
		proto_hdr_enc(hdr, &(struct proto_hdr){ .op = h->op,
							.flags = PROTO_F_REPLY,
							.id = h->id,
							.len = io->len });
		iov[0] = (struct iovec){ hdr, sizeof(hdr) };
		iov[1] = (struct iovec){ addr, io->len };
		ret = send_iov_flags(c->fd, iov, io->len ? 2 : 1, more_flag(c));
		session_io_end(dc->s, io->slab, ret ? 0 : io->len, 0);
		if (!ret)
			donor_observe_io(c->srv->d, mono_ns() - t0);
		return ret;
	}
	ret = in_read(c, addr, io->len, after_ms(MSG_TIMEOUT_MS));
	session_io_end(dc->s, io->slab, 0, ret ? 0 : io->len);
	if (!ret)
		donor_observe_io(c->srv->d, mono_ns() - t0);
	if (ret) {
		log_warn("client %s: truncated write (%s); closing",
			 dc->sc.peer,
			 ret == -ETIMEDOUT ? "timed out" : "closed");
		return ret;
	}
	return send_reply(c, h->op, h->id, 0, NULL, 0);
}

static const struct dconn_ops tcp_ops = {
	.reply = tc_reply,
	.error = tc_error,
	.io = tc_io,
};

static void serve(struct tconn *c)
{
	struct pollfd pfd[2] = { { .fd = c->fd, .events = POLLIN },
				 { .fd = c->evfd, .events = POLLIN } };
	struct proto_hdr h;
	union dmsg_body b;
	int ret;

	while (!atomic_load(&c->srv->stopping)) {
		if (atomic_exchange(&c->ev_pending, 0) && send_evicts(c))
			break;
		if (!in_avail(c)) {
			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (pfd[1].revents & POLLIN) {
				uint64_t v;

				/* clears the wakeup; ev_pending says what */
				if (read(c->evfd, &v, sizeof(v)) < 0) {
					/* already cleared */
				}
			}
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ret = in_fill(c, mono_ns()); /* no wait */
			if (ret == -ETIMEDOUT)
				continue;
			if (ret)
				break; /* closed by the client, or reset */
		}
		ret = read_hdr(c, DMSG_READY, after_ms(MSG_TIMEOUT_MS), &h);
		if (ret)
			break;
		if (read_body(c, &h, after_ms(MSG_TIMEOUT_MS), &b))
			break;
		if (dconn_request(&c->dc, &h, &b))
			break;
	}
}

static void *conn_main(void *arg)
{
	struct tconn *c = arg;
	int ret;

	ret = handshake(c);
	pthread_mutex_lock(&c->srv->lock);
	c->authing = 0;
	ret = ret ? ret : c->dropped ? -ECONNRESET : 0;
	pthread_mutex_unlock(&c->srv->lock);
	if (!ret) {
		serve(c);
		log_debug("client %s: disconnected", c->dc.sc.peer);
	}
	dconn_close(&c->dc);
	shutdown(c->fd, SHUT_RDWR);
	atomic_store(&c->done, 1);
	return NULL;
}

static void conn_free(struct tconn *c)
{
	close(c->fd);
	close(c->evfd);
	pthread_mutex_destroy(&c->evlock);
	free(c);
}

/* Joins connections whose threads have finished. Caller holds srv->lock. */
static void reap(struct donor_server *srv, int all)
{
	struct tconn **pp = &srv->conns;

	while (*pp) {
		struct tconn *c = *pp;

		if (all || atomic_load(&c->done)) {
			*pp = c->next;
			pthread_join(c->thread, NULL);
			conn_free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void accept_one(struct donor_server *srv)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct timeval tv = { .tv_sec = MSG_TIMEOUT_MS / 1000 };
	struct tconn *c, *oldest = NULL;
	unsigned int nconns = 0, nauth = 0;
	int fd, one = 1;

	fd = accept4(srv->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			LOG_RATELIMITED(LOG_WARNING, "donor: accept: %s",
					strerror(errno));
		return;
	}
	pthread_mutex_lock(&srv->lock);
	reap(srv, 0);
	for (c = srv->conns; c; c = c->next) {
		/* dropped ones are on their way out */
		if (c->dropped)
			continue;
		nconns++;
		if (!c->authing)
			continue;
		nauth++;
		if (!oldest || c->t_start < oldest->t_start)
			oldest = c;
	}
	/*
	 * sshd's MaxStartups, so that connections still authenticating
	 * never lock out clients that can: when their room is full, the
	 * oldest of them (nearest its deadline anyway) makes way.
	 */
	if (nauth >= srv->cfg.max_startups) {
		oldest->dropped = 1;
		shutdown(oldest->fd, SHUT_RDWR);
		LOG_RATELIMITED(LOG_WARNING,
				"client %s: dropped: %u connections still "
				"authenticating (max-startups)",
				oldest->dc.sc.peer, nauth);
	}
	pthread_mutex_unlock(&srv->lock);
	if (nconns >= srv->cfg.max_conns) {
		LOG_RATELIMITED(LOG_WARNING,
				"donor: %u connections open, refusing more",
				nconns);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		LOG_RATELIMITED(LOG_ERR, "donor: out of memory for a client");
		close(fd);
		return;
	}
	c->fd = fd;
	c->srv = srv;
	c->authing = 1;
	c->t_start = mono_ns();
	dconn_init(&c->dc, &tcp_ops, srv->d, srv->cfg.kr, 0, "client");
	c->dc.sc.evict = conn_evict;

	peer_name((struct sockaddr *)&ss, sl, c->dc.sc.peer,
		  sizeof(c->dc.sc.peer));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_init(&c->evlock, NULL);
	c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->evfd < 0 || pthread_create(&c->thread, NULL, conn_main, c)) {
		LOG_RATELIMITED(LOG_ERR, "client %s: cannot start: %s",
				c->dc.sc.peer, strerror(errno));
		if (c->evfd >= 0)
			close(c->evfd);
		close(fd);
		pthread_mutex_destroy(&c->evlock);
		free(c);
		return;
	}
	log_debug("client %s: connected", c->dc.sc.peer);
	pthread_mutex_lock(&srv->lock);
	c->next = srv->conns;
	srv->conns = c;
	reap(srv, 0);
	pthread_mutex_unlock(&srv->lock);
}

static void *acceptor_main(void *arg)
{
	struct donor_server *srv = arg;
	struct pollfd pfd[2] = { { .fd = srv->lfd, .events = POLLIN },
				 { .fd = srv->stopfd, .events = POLLIN } };

	while (!atomic_load(&srv->stopping)) {
		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN)
			accept_one(srv);
		pthread_mutex_lock(&srv->lock);
		reap(srv, 0);
		pthread_mutex_unlock(&srv->lock);
	}
	return NULL;
}

static int bind_listener(const char *host, const char *port, int *lfd,
			 uint16_t *bound, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, ret;

	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "listen %s:%s: %s", host, port,
			 gai_strerror(ret));
		return -EADDRNOTAVAIL;
	}
	ret = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s:%s: %s", host, port,
			 strerror(-ret));
		return ret;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*bound = ntohs(ss.ss_family == AF_INET6
			       ? ((struct sockaddr_in6 *)&ss)->sin6_port
			       : ((struct sockaddr_in *)&ss)->sin_port);
	*lfd = fd;
	return 0;
}

static int tcp_server_start(struct donor *d, const struct donor_server_cfg *cfg,
			    struct donor_server **out, uint16_t *bound_port,
			    char *err, size_t errlen)
{
	struct donor_server *srv;
	int ret;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->d = d;
	srv->cfg = *cfg;
	srv->cfg.host = NULL;
	srv->cfg.port = NULL;
	if (!srv->cfg.hs_timeout_ms)
		srv->cfg.hs_timeout_ms = 10000;
	if (!srv->cfg.max_conns)
		srv->cfg.max_conns = 1024;
	if (!srv->cfg.max_startups)
		srv->cfg.max_startups = 10;
	ret = bind_listener(cfg->host, cfg->port, &srv->lfd, bound_port, err,
			    errlen);
	if (ret)
		goto out_free;
	srv->stopfd = eventfd(0, EFD_CLOEXEC);
	if (srv->stopfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto out_close;
	}
	/* the acceptor takes the lock from its first loop on */
	pthread_mutex_init(&srv->lock, NULL);
	ret = -pthread_create(&srv->acceptor, NULL, acceptor_main, srv);
	if (!ret) {
		*out = srv;
		return 0;
	}
	snprintf(err, errlen, "cannot start a thread: %s", strerror(-ret));
	pthread_mutex_destroy(&srv->lock);
	close(srv->stopfd);
out_close:
	close(srv->lfd);
out_free:
	free(srv);
	return ret;
}

static void tcp_server_stop(struct donor_server *srv)
{
	uint64_t one = 1;

	if (!srv)
		return;
	atomic_store(&srv->stopping, 1);
	if (write(srv->stopfd, &one, sizeof(one)) < 0) {
		/* the acceptor also polls with a timeout */
	}
	pthread_join(srv->acceptor, NULL);
	close(srv->lfd);
	pthread_mutex_lock(&srv->lock);
	for (struct tconn *c = srv->conns; c; c = c->next) {
		shutdown(c->fd, SHUT_RDWR);
		if (write(c->evfd, &one, sizeof(one)) < 0) {
			/* the shutdown wakes it as well */
		}
	}
	reap(srv, 1);
	pthread_mutex_unlock(&srv->lock);
	close(srv->stopfd);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* the listener every build has; it adds no capability bit */
const struct donor_listener tcp_listener = {
	.start = tcp_server_start,
	.stop = tcp_server_stop,
	.name = "tcp",
};
