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
 *                                  act, reply (READ: writev straight from
 *                                  the slab; WRITE: recv straight into it)
 *
 * A broken stream (bad header, bad body, handshake failure) gets ERROR or
 * an error reply, one warning naming the peer and the reason, and a close.
 * A refused request on a sound stream (range, slab not the client's, no
 * space) gets an error reply and the connection goes on.
 */
#include "donor/dmsg.h"
#include "donor/server.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/service.h"
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
	struct session_conn sc; /* sc.peer names the client */
	struct donor_server *srv;
	int fd;
	int evfd;
	pthread_t thread;
	atomic_int done;
	struct session *s;
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

/* Waits until fd is readable: 0, -ETIMEDOUT or -errno; -1 waits forever. */
static int wait_in(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

/* Reads what the socket has into the buffer: 0, 1 on EOF, or -errno. */
static int in_fill(struct tconn *c, int timeout_ms)
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
		ret = wait_in(c->fd, timeout_ms);
		if (ret)
			return ret;
	}
}

/* Takes exactly n bytes of input: 0, -ECONNRESET, -ETIMEDOUT or -errno. */
static int in_read(struct tconn *c, void *dst, size_t n, int timeout_ms)
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
					    (unsigned int)timeout_ms);
		ret = in_fill(c, timeout_ms);
		if (ret)
			return ret > 0 ? -ECONNRESET : ret;
	}
}

static int reply(struct tconn *c, uint16_t op, uint64_t id, uint32_t status,
		 const void *body, uint32_t len)
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

/* Sends ERROR(why) with status err (positive) and logs the one line. */
static void protocol_error(struct tconn *c, uint64_t id, int err,
			   const char *why)
{
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
	log_warn("client %s: %s; closing", c->sc.peer, why);
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
static int read_hdr(struct tconn *c, enum dmsg_phase phase,
		    unsigned int timeout_ms, struct proto_hdr *h)
{
	uint8_t raw[sizeof(struct wire_hdr)];
	const char *why;
	int ret;

	if (!in_avail(c)) {
		/* before authentication nobody may hold a thread for long */
		ret = in_fill(c, phase != DMSG_READY ? (int)timeout_ms : -1);
		if (ret == -ETIMEDOUT)
			log_warn("client %s: no %s within %u ms; closing",
				 c->sc.peer,
				 phase == DMSG_HELLO ? "hello" : "auth",
				 timeout_ms);
		if (ret)
			return ret;
	}
	ret = in_read(c, raw, sizeof(raw), (int)timeout_ms);
	if (ret) {
		log_warn("client %s: truncated header (%s); closing",
			 c->sc.peer,
			 ret == -ETIMEDOUT ? "timed out" : "closed");
		return ret;
	}
	ret = dmsg_check_hdr(phase, raw, h, &why);
	if (ret) {
		protocol_error(c, 0, -ret, why);
		return ret;
	}
	return 0;
}

/* Reads and decodes the fixed body of h; logs and answers on error. */
static int read_body(struct tconn *c, const struct proto_hdr *h,
		     unsigned int timeout_ms, union dmsg_body *b)
{
	uint8_t raw[sizeof(union dmsg_body)];
	size_t n = dmsg_fixed_len(h);
	const char *why;
	int ret;

	if (n > sizeof(raw)) {
		protocol_error(c, h->id, EMSGSIZE,
			       "body length does not match the opcode");
		return -EMSGSIZE;
	}
	ret = in_read(c, raw, n, (int)timeout_ms);
	if (ret) {
		log_warn("client %s: truncated %s message (%s); closing",
			 c->sc.peer, proto_op_name(h->op),
			 ret == -ETIMEDOUT ? "timed out" : "closed");
		return ret;
	}
	ret = dmsg_decode_body(h, raw, b, &why);
	if (ret)
		protocol_error(c, h->id, -ret, why);
	return ret;
}

static int handshake(struct tconn *c)
{
	struct donor_server *srv = c->srv;
	unsigned int tmo = srv->cfg.hs_timeout_ms;
	uint64_t start = mono_ns(), elapsed;
	struct wire_hello in, out, wire;
	struct proto_hdr h;
	union dmsg_body b;
	uint32_t status;
	int ret;

	ret = read_hdr(c, DMSG_HELLO, tmo, &h);
	if (ret)
		return ret > 0 ? -ECONNRESET : ret;
	ret = read_body(c, &h, tmo, &b);
	if (ret)
		return ret;
	in = b.hello;
	status = hs_donor_hello(srv->cfg.key, donor_caps(srv->d), &in, &out);
	if (!status) {
		ret = session_attach(srv->d, in.session, in.slab_size, &c->sc,
				     &c->s);
		status = -ret;
	}
	/* log first: whoever reads the reply may look for the line */
	if (status)
		log_warn("client %s: hello refused: %s", c->sc.peer,
			 status == EPROTONOSUPPORT ? "unsupported protocol "
						     "version"
			 : status == EACCES	   ? "client has no key and we "
						     "require one"
			 : status == EINVAL	   ? "slab size not possible"
			 : status == EUSERS	   ? "too many clients"
						   : strerror(status));
	wire = out;
	proto_hello_swap(&wire);
	reply(c, PROTO_OP_HELLO, h.id, status, &wire, sizeof(wire));
	if (status)
		return -(int)status;
	/* what is left of the handshake's time */
	elapsed = (mono_ns() - start) / 1000000;
	tmo = elapsed < tmo ? tmo - (unsigned int)elapsed : 1;
	ret = read_hdr(c, DMSG_AUTH, tmo, &h);
	if (ret) {
		if (ret > 0)
			log_warn("client %s: closed during the handshake "
				 "(did it refuse our key?)",
				 c->sc.peer);
		ret = ret > 0 ? -ECONNRESET : ret;
		goto out_detach;
	}
	ret = read_body(c, &h, tmo, &b);
	if (ret)
		goto out_detach;
	status = hs_donor_auth(srv->cfg.key, &in, &out, &b.auth);
	if (status)
		log_warn("client %s: authentication failed (wrong key)",
			 c->sc.peer);
	reply(c, PROTO_OP_AUTH, h.id, status, NULL, 0);
	if (status) {
		ret = -EACCES;
		goto out_detach;
	}
	log_debug("client %s: authenticated", c->sc.peer);
	return 0;
out_detach:
	session_detach(c->s, &c->sc);
	c->s = NULL;
	return ret;
}

/* Reads and drops len bytes of a refused WRITE so the stream stays sane. */
static int drain(struct tconn *c, uint32_t len)
{
	int ret = 0;

	while (len && !ret) {
		uint32_t n = len < DRAIN_BUF ? len : DRAIN_BUF;

		ret = in_read(c, c->drain, n, MSG_TIMEOUT_MS);
		len -= n;
	}
	return ret;
}

static const char *refusal(int err)
{
	return err == -EFAULT	? "range outside the slab"
	       : err == -EINVAL ? "slab not held by this client"
				: strerror(-err);
}

/* One request on an authenticated connection; 0 to go on, else close. */
static int serve_one(struct tconn *c, const struct proto_hdr *h,
		     const union dmsg_body *b)
{
	struct donor *d = c->srv->d;
	uint8_t hdr[sizeof(struct wire_hdr)];
	struct wire_state st;
	struct wire_slab slab;
	struct iovec iov[2];
	uint64_t t0;
	void *addr;
	int ret;

	switch (h->op) {
	case PROTO_OP_READ:
		t0 = mono_ns();
		ret = session_io_begin(c->s, b->io.slab, b->io.off, b->io.len,
				       &addr);
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"client %s: read slab %u off %llu len "
					"%u refused: %s",
					c->sc.peer, b->io.slab,
					(unsigned long long)b->io.off,
					b->io.len, refusal(ret));
			return reply(c, h->op, h->id, -ret, NULL, 0);
		}
		proto_hdr_enc(hdr, &(struct proto_hdr){ .op = h->op,
							.flags = PROTO_F_REPLY,
							.id = h->id,
							.len = b->io.len });
		iov[0] = (struct iovec){ hdr, sizeof(hdr) };
		iov[1] = (struct iovec){ addr, b->io.len };
		ret = send_iov_flags(c->fd, iov, b->io.len ? 2 : 1,
				     more_flag(c));
		session_io_end(c->s, b->io.slab, ret ? 0 : b->io.len, 0);
		if (!ret)
			donor_observe_io(d, mono_ns() - t0);
		return ret;
	case PROTO_OP_WRITE:
		t0 = mono_ns();
		ret = session_io_begin(c->s, b->io.slab, b->io.off, b->io.len,
				       &addr);
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"client %s: write slab %u off %llu len "
					"%u refused: %s",
					c->sc.peer, b->io.slab,
					(unsigned long long)b->io.off,
					b->io.len, refusal(ret));
			if (drain(c, b->io.len))
				return -ECONNRESET;
			return reply(c, h->op, h->id, -ret, NULL, 0);
		}
		ret = in_read(c, addr, b->io.len, MSG_TIMEOUT_MS);
		session_io_end(c->s, b->io.slab, 0, ret ? 0 : b->io.len);
		if (!ret)
			donor_observe_io(d, mono_ns() - t0);
		if (ret) {
			log_warn("client %s: truncated write (%s); closing",
				 c->sc.peer,
				 ret == -ETIMEDOUT ? "timed out" : "closed");
			return ret;
		}
		return reply(c, h->op, h->id, 0, NULL, 0);
	case PROTO_OP_QUERY:
		session_state(c->s, &st);
		proto_state_swap(&st);
		return reply(c, h->op, h->id, 0, &st, sizeof(st));
	case PROTO_OP_ALLOC:
		ret = session_alloc(c->s, &slab);
		if (ret) {
			LOG_RATELIMITED(LOG_WARNING,
					"client %s: alloc refused: %s",
					c->sc.peer,
					ret == -ENOSPC ? "no free slab"
						       : strerror(-ret));
			return reply(c, h->op, h->id, -ret, NULL, 0);
		}
		/* the address is for RDMA registration only */
		slab.addr = 0;
		proto_slab_swap(&slab);
		return reply(c, h->op, h->id, 0, &slab, sizeof(slab));
	case PROTO_OP_FREE:
		ret = session_free(c->s, b->ref.slab);
		if (ret)
			LOG_RATELIMITED(LOG_WARNING,
					"client %s: free slab %u refused: %s",
					c->sc.peer, b->ref.slab, refusal(ret));
		return reply(c, h->op, h->id, -ret, NULL, 0);
	case PROTO_OP_HEARTBEAT:
		return reply(c, h->op, h->id, 0, NULL, 0);
	case PROTO_OP_RECLAIM:
		ret = donor_reclaim(d, b->reclaim.bytes);
		log_notice("client %s: reclaim of %llu bytes: asked for %d "
			   "slabs back",
			   c->sc.peer, (unsigned long long)b->reclaim.bytes,
			   ret);
		service_status("reclaim of %llu bytes: asked clients for %d "
			       "slabs back",
			       (unsigned long long)b->reclaim.bytes, ret);
		return reply(c, h->op, h->id, 0, NULL, 0);
	default:
		protocol_error(c, h->id, EOPNOTSUPP, "unexpected opcode");
		return -EOPNOTSUPP;
	}
}

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
			ret = in_fill(c, 0);
			if (ret == -ETIMEDOUT)
				continue;
			if (ret)
				break; /* closed by the client, or reset */
		}
		ret = read_hdr(c, DMSG_READY, MSG_TIMEOUT_MS, &h);
		if (ret)
			break;
		if (read_body(c, &h, MSG_TIMEOUT_MS, &b))
			break;
		if (serve_one(c, &h, &b))
			break;
	}
}

static void *conn_main(void *arg)
{
	struct tconn *c = arg;

	if (!handshake(c)) {
		serve(c);
		session_detach(c->s, &c->sc);
		log_debug("client %s: disconnected", c->sc.peer);
	}
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
	struct tconn *c;
	unsigned int nconns = 0;
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
	for (c = srv->conns; c; c = c->next)
		nconns++;
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
	c->sc.evict = conn_evict;
	peer_name((struct sockaddr *)&ss, sl, c->sc.peer, sizeof(c->sc.peer));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_init(&c->evlock, NULL);
	c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->evfd < 0 || pthread_create(&c->thread, NULL, conn_main, c)) {
		LOG_RATELIMITED(LOG_ERR, "client %s: cannot start: %s",
				c->sc.peer, strerror(errno));
		if (c->evfd >= 0)
			close(c->evfd);
		close(fd);
		pthread_mutex_destroy(&c->evlock);
		free(c);
		return;
	}
	log_debug("client %s: connected", c->sc.peer);
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

int tcp_server_start(struct donor *d, const struct donor_server_cfg *cfg,
		     struct donor_server **out, uint16_t *bound_port, char *err,
		     size_t errlen)
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
	pthread_mutex_init(&srv->lock, NULL);
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
	ret = -pthread_create(&srv->acceptor, NULL, acceptor_main, srv);
	if (ret) {
		snprintf(err, errlen, "cannot start a thread: %s",
			 strerror(-ret));
		goto out_stopfd;
	}
	*out = srv;
	return 0;
out_stopfd:
	close(srv->stopfd);
out_close:
	close(srv->lfd);
out_free:
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return ret;
}

void tcp_server_stop(struct donor_server *srv)
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

int donor_addr_is_loopback(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE },
			*res, *ai;
	int ret = 1;

	if (getaddrinfo(host, "0", &hints, &res))
		return -ENOENT;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *a = (void *)ai->ai_addr;

			if ((ntohl(a->sin_addr.s_addr) >> 24) != 127)
				ret = 0;
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *a = (void *)ai->ai_addr;

			if (!IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
				ret = 0;
		} else {
			ret = 0;
		}
	}
	freeaddrinfo(res);
	return ret;
}
