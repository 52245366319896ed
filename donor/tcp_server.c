// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_server - the donor's TCP listener: a fixed pool of event loops
 * (common/evloop.h, --threads, one per CPU by default) serves every
 * connection; connections run as non-blocking state machines
 * (donor/tcp_conn.h) with the one request handler (donor/serve.h).
 *
 *   any loop:   the listening socket (EPOLLEXCLUSIVE in every loop)
 *               -> accept_one(): max-startups, max-clients, a struct
 *                  tconn with its buffers; the least busy loop gets it
 *                  (its wake queue when it is another loop)
 *               out of descriptors (EMFILE, ENFILE) or kernel memory:
 *                  the loop stops watching the listener for
 *                  ACCEPT_PAUSE_MS (nginx's answer), so a socket that
 *                  stays readable cannot spin it; logged once a spell
 *   its loop:   socket ready -> tconn_run(); < 0: closed
 *               wake        -> adopt new connections; send queued EVICTs
 *               expire      -> close connections past their deadline
 *                              (handshake from the accept; no progress
 *                              on a message or on replies for 30 s);
 *                              watch a paused listener again
 *               after       -> free the connections closed in the batch
 *
 * Threading: srv->lock guards the list of all connections and their
 * authing/dropped flags (the accepting loop drops the oldest handshake of
 * any loop by shutdown(2), which its own loop then notices); each loop's
 * list is its thread's alone, its wake queue is guarded by inlock.
 * Nothing blocks while holding a lock.
 */
#include "common/evloop.h"
#include "donor/server.h"
#include "donor/tcp_conn.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 32 /* accepts per wakeup, for fairness */
#define THREADS_MAX  64
/* how long a loop leaves the listener alone after an accept ran out of
 * descriptors: one failed accept4(2) per loop this often costs nothing,
 * and a freed descriptor is used within this */
#define ACCEPT_PAUSE_MS 100

struct tloop {
	struct donor_server *srv;
	struct evl *evl;
	struct evl_src lsrc;   /* the listening socket, in this loop */
	uint64_t paused_until; /* 0, or when lsrc is watched again; this
				* loop's thread only */
	struct tconn *conns;   /* this loop's thread only */
	struct tconn *dead;    /* closed in this batch, freed after it */
	atomic_uint n;	       /* connections, to place new ones */
	atomic_int evicts;     /* a connection has EVICTs queued */
	pthread_mutex_t inlock;
	struct tconn *incoming; /* protected by inlock */
};

struct donor_server {
	struct donor *d;
	struct donor_server_cfg cfg;
	int lfd;
	struct evloop *ev;
	struct tloop *loops;
	unsigned int nloops;
	pthread_mutex_t lock;
	struct tconn *conns;	    /* protected by lock */
	unsigned int nconns, nauth; /* protected by lock; not dropped ones */
	/* mono_ns() when accepts began to run out of descriptors, 0 when
	 * they do not: one warning a spell, one notice at its end */
	_Atomic uint64_t starved_since;
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

void tcp_server_evict_wake(struct tconn *c)
{
	atomic_store(&c->tl->evicts, 1);
	evl_wake(c->evl);
}

int tcp_server_authed(struct tconn *c)
{
	struct donor_server *srv = c->srv;
	int ret;

	pthread_mutex_lock(&srv->lock);
	c->authing = 0;
	if (!c->dropped)
		srv->nauth--;
	ret = c->dropped ? -ECONNRESET : 0;
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

/* Closes c on its loop; the memory goes after the batch. */
static void conn_close(struct tloop *tl, struct tconn *c)
{
	struct donor_server *srv = tl->srv;

	evl_del(tl->evl, &c->src);
	pthread_mutex_lock(&srv->lock);
	*c->gprev = c->gnext;
	if (c->gnext)
		c->gnext->gprev = c->gprev;
	if (!c->dropped) {
		srv->nconns--;
		if (c->authing)
			srv->nauth--;
	}
	pthread_mutex_unlock(&srv->lock);
	/* no EVICT reaches c once its session is detached */
	tconn_fini(c);
	shutdown(c->src.fd, SHUT_RDWR);
	close(c->src.fd);
	*c->lprev = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	atomic_fetch_sub(&tl->n, 1);
	c->dead = 1;
	c->lnext = tl->dead;
	tl->dead = c;
}

static void conn_deadline(struct tloop *tl, struct tconn *c)
{
	c->deadline = tconn_deadline(c, tl->srv->cfg.hs_timeout_ms);
	evl_deadline(tl->evl, c->deadline);
}

static void conn_run(struct tloop *tl, struct tconn *c)
{
	if (tconn_run(c)) {
		conn_close(tl, c);
		return;
	}
	conn_deadline(tl, c);
}

static void conn_ready(struct evl_src *s, uint32_t events)
{
	struct tconn *c =
		(struct tconn *)((char *)s - offsetof(struct tconn, src));

	(void)events;
	if (!c->dead)
		conn_run(c->tl, c);
}

/* Takes c into this loop. */
static void adopt(struct tloop *tl, struct tconn *c)
{
	c->tl = tl;
	c->evl = tl->evl;
	c->src.ready = conn_ready;
	c->lnext = tl->conns;
	c->lprev = &tl->conns;
	if (tl->conns)
		tl->conns->lprev = &c->lnext;
	tl->conns = c;
	if (evl_add(tl->evl, &c->src, EPOLLIN)) {
		LOG_RATELIMITED(LOG_ERR, "client %s: cannot watch: %s",
				c->dc.sc.peer, strerror(errno));
		conn_close(tl, c);
		return;
	}
	log_debug("client %s: connected", c->dc.sc.peer);
	conn_deadline(tl, c);
}

/* The loop with the fewest connections. */
static struct tloop *least_busy(struct donor_server *srv)
{
	struct tloop *best = &srv->loops[0];

	for (unsigned int i = 1; i < srv->nloops; i++)
		if (atomic_load(&srv->loops[i].n) < atomic_load(&best->n))
			best = &srv->loops[i];
	return best;
}

/*
 * sshd's MaxStartups, so that connections still authenticating never
 * lock out clients that can: when their room is full, the oldest of them
 * (nearest its deadline anyway) makes way. Caller holds srv->lock.
 */
static void drop_oldest_startup(struct donor_server *srv)
{
	struct tconn *c, *oldest = NULL;

	for (c = srv->conns; c; c = c->gnext)
		if (c->authing && !c->dropped &&
		    (!oldest || c->t_start < oldest->t_start))
			oldest = c;
	if (!oldest)
		return;
	oldest->dropped = 1;
	srv->nauth--;
	srv->nconns--;
	/* its loop sees the end of the stream and closes it */
	shutdown(oldest->src.fd, SHUT_RDWR);
	LOG_RATELIMITED(LOG_WARNING,
			"client %s: dropped: %u connections still "
			"authenticating (max-startups)",
			oldest->dc.sc.peer, srv->nauth + 1);
}

/*
 * An accept ran out of descriptors (or kernel memory): the pending
 * connection stays queued and the socket readable, so this loop stops
 * watching it for ACCEPT_PAUSE_MS; loop_expire() watches it again.
 * EPOLLEXCLUSIVE cannot be modified, only deleted and added back.
 */
static void accept_pause(struct tloop *tl, int err)
{
	struct donor_server *srv = tl->srv;
	uint64_t now = mono_ns(), none = 0;
	unsigned int n;

	evl_del(tl->evl, &tl->lsrc);
	tl->paused_until = now + ACCEPT_PAUSE_MS * 1000000ull;
	evl_deadline(tl->evl, tl->paused_until);
	if (!atomic_compare_exchange_strong(&srv->starved_since, &none, now))
		return;
	pthread_mutex_lock(&srv->lock);
	n = srv->nconns;
	pthread_mutex_unlock(&srv->lock);
	LOG_RATELIMITED(LOG_WARNING,
			"donor: accept: %s with %u connections open; new "
			"ones wait in the backlog until a descriptor frees",
			strerror(err), n);
}

/* An accept worked: ends a spell without descriptors, if one ran. */
static void accept_unstarved(struct donor_server *srv)
{
	uint64_t since = atomic_load(&srv->starved_since);

	if (!since ||
	    !atomic_compare_exchange_strong(&srv->starved_since, &since, 0))
		return;
	LOG_RATELIMITED(LOG_NOTICE,
			"donor: accepting again after %llu ms "
			"without descriptors",
			(unsigned long long)((mono_ns() - since) / 1000000));
}

/* evloop_ops.expire, for the listener: watches it again once its pause
 * is over; returns when to look again (EVL_NEVER: not paused). */
static uint64_t accept_resume(struct tloop *tl, uint64_t now)
{
	int ret;

	if (!tl->paused_until || now < tl->paused_until)
		return tl->paused_until ? tl->paused_until : EVL_NEVER;
	ret = evl_add(tl->evl, &tl->lsrc, EPOLLIN | EPOLLEXCLUSIVE);
	if (!ret) {
		tl->paused_until = 0;
		return EVL_NEVER;
	}
	LOG_RATELIMITED(LOG_ERR, "donor: cannot watch the listener: %s",
			strerror(-ret));
	tl->paused_until = now + ACCEPT_PAUSE_MS * 1000000ull;
	return tl->paused_until;
}

/* Accepts one connection: 0, -EAGAIN when there is none, or -errno when
 * the kernel is out of descriptors or memory (the connection waits). */
static int accept_one(struct tloop *tl)
{
	struct donor_server *srv = tl->srv;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct tloop *to;
	struct tconn *c;
	int fd, ret;

	fd = accept4(srv->lfd, (struct sockaddr *)&ss, &sl,
		     SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		ret = errno;
		if (ret == EAGAIN)
			return -EAGAIN;
		/* the connection stays queued: retrying at once would spin */
		if (ret == EMFILE || ret == ENFILE || ret == ENOBUFS ||
		    ret == ENOMEM)
			return -ret;
		if (ret != EINTR && ret != ECONNABORTED)
			LOG_RATELIMITED(LOG_WARNING, "donor: accept: %s",
					strerror(ret));
		return 0;
	}
	accept_unstarved(srv);
	pthread_mutex_lock(&srv->lock);
	if (srv->nauth >= srv->cfg.max_startups)
		drop_oldest_startup(srv);
	if (srv->nconns >= srv->cfg.max_conns) {
		pthread_mutex_unlock(&srv->lock);
		LOG_RATELIMITED(LOG_WARNING,
				"donor: %u connections open, refusing more",
				srv->nconns);
		close(fd);
		return 0;
	}
	srv->nconns++;
	srv->nauth++;
	pthread_mutex_unlock(&srv->lock);
	/* its buffers, once, for its whole life */
	c = calloc(1, sizeof(*c));
	ret = c ? tconn_init(c, srv, srv->d, srv->cfg.kr, fd) : -ENOMEM;
	if (c)
		peer_name((struct sockaddr *)&ss, sl, c->dc.sc.peer,
			  sizeof(c->dc.sc.peer));
	pthread_mutex_lock(&srv->lock);
	if (ret) {
		srv->nconns--;
		srv->nauth--;
	} else {
		c->authing = 1;
		c->gnext = srv->conns;
		c->gprev = &srv->conns;
		if (srv->conns)
			srv->conns->gprev = &c->gnext;
		srv->conns = c;
	}
	pthread_mutex_unlock(&srv->lock);
	if (ret) {
		LOG_RATELIMITED(LOG_ERR, "donor: cannot take a client: %s",
				strerror(-ret));
		free(c);
		close(fd);
		return 0;
	}
	to = least_busy(srv);
	atomic_fetch_add(&to->n, 1);
	if (to == tl) {
		adopt(tl, c);
		return 0;
	}
	c->tl = to;
	c->evl = to->evl;
	pthread_mutex_lock(&to->inlock);
	c->lnext = to->incoming;
	to->incoming = c;
	pthread_mutex_unlock(&to->inlock);
	evl_wake(to->evl);
	return 0;
}

static void listen_ready(struct evl_src *s, uint32_t events)
{
	struct tloop *tl =
		(struct tloop *)((char *)s - offsetof(struct tloop, lsrc));
	int ret = 0;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH && !ret; i++)
		ret = accept_one(tl);
	if (ret && ret != -EAGAIN)
		accept_pause(tl, -ret);
}

/* evloop_ops.wake: new connections, EVICTs to send. */
static void loop_wake(struct evl *l, void *arg)
{
	struct donor_server *srv = arg;
	struct tloop *tl = &srv->loops[evl_index(l)];
	struct tconn *c, *next;

	pthread_mutex_lock(&tl->inlock);
	c = tl->incoming;
	tl->incoming = NULL;
	pthread_mutex_unlock(&tl->inlock);
	for (; c; c = next) {
		next = c->lnext;
		adopt(tl, c);
	}
	if (!atomic_exchange(&tl->evicts, 0))
		return;
	for (c = tl->conns; c; c = next) {
		next = c->lnext;
		if (atomic_load(&c->ev_pending))
			conn_run(tl, c);
	}
}

/* evloop_ops.expire: closes the connections past their deadline. */
static uint64_t loop_expire(struct evl *l, void *arg, uint64_t now)
{
	struct donor_server *srv = arg;
	struct tloop *tl = &srv->loops[evl_index(l)];
	uint64_t next = accept_resume(tl, now);
	struct tconn *c, *cn;

	for (c = tl->conns; c; c = cn) {
		cn = c->lnext;
		c->deadline = tconn_deadline(c, srv->cfg.hs_timeout_ms);
		if (c->deadline <= now) {
			tconn_log_expired(c, srv->cfg.hs_timeout_ms);
			conn_close(tl, c);
		} else if (c->deadline < next) {
			next = c->deadline;
		}
	}
	return next;
}

/* evloop_ops.after: frees what the batch closed. */
static void loop_after(struct evl *l, void *arg)
{
	struct donor_server *srv = arg;
	struct tloop *tl = &srv->loops[evl_index(l)];
	struct tconn *c;

	while ((c = tl->dead)) {
		tl->dead = c->lnext;
		free(c);
	}
}

static const struct evloop_ops tcp_loop_ops = {
	.wake = loop_wake,
	.expire = loop_expire,
	.after = loop_after,
};

static unsigned int threads_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > THREADS_MAX ? THREADS_MAX : (unsigned int)n;
}

/* After the loops stopped: every connection left, whatever its state. */
static void free_conns(struct donor_server *srv)
{
	struct tconn *c;

	while ((c = srv->conns)) {
		srv->conns = c->gnext;
		tconn_fini(c);
		close(c->src.fd);
	}
	for (unsigned int i = 0; i < srv->nloops; i++) {
		struct tloop *tl = &srv->loops[i];
		struct tconn *lists[] = { tl->dead, tl->conns, tl->incoming };

		for (unsigned int k = 0; k < 3; k++)
			while ((c = lists[k])) {
				lists[k] = c->lnext;
				free(c);
			}
		pthread_mutex_destroy(&tl->inlock);
	}
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
	unsigned int i;
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
	srv->nloops = cfg->threads ? cfg->threads : threads_default();
	pthread_mutex_init(&srv->lock, NULL);
	srv->loops = calloc(srv->nloops, sizeof(srv->loops[0]));
	if (!srv->loops) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	for (i = 0; i < srv->nloops; i++) {
		srv->loops[i].srv = srv;
		pthread_mutex_init(&srv->loops[i].inlock, NULL);
	}
	ret = bind_listener(cfg->host, cfg->port, &srv->lfd, bound_port, err,
			    errlen);
	if (ret)
		goto out_free;
	fcntl(srv->lfd, F_SETFL, fcntl(srv->lfd, F_GETFL) | O_NONBLOCK);
	ret = evloop_start(srv->nloops, "cnm-tcp", &tcp_loop_ops, srv,
			   &srv->ev);
	if (ret) {
		snprintf(err, errlen, "cannot start %u threads: %s",
			 srv->nloops, strerror(-ret));
		goto out_close;
	}
	/* the loops are idle until the listening socket is in them */
	for (i = 0; i < srv->nloops && !ret; i++) {
		struct tloop *tl = &srv->loops[i];

		tl->evl = evloop_get(srv->ev, i);
		tl->lsrc.fd = srv->lfd;
		tl->lsrc.ready = listen_ready;
		ret = evl_add(tl->evl, &tl->lsrc, EPOLLIN | EPOLLEXCLUSIVE);
	}
	if (!ret) {
		*out = srv;
		return 0;
	}
	snprintf(err, errlen, "epoll: %s", strerror(-ret));
	evloop_stop(srv->ev);
out_close:
	close(srv->lfd);
out_free:
	if (srv->loops)
		for (i = 0; i < srv->nloops; i++)
			pthread_mutex_destroy(&srv->loops[i].inlock);
	free(srv->loops);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return ret;
}

static void tcp_server_stop(struct donor_server *srv)
{
	if (!srv)
		return;
	/* an EVICT may still wake a connection's loop until it is closed */
	evloop_join(srv->ev);
	close(srv->lfd);
	free_conns(srv);
	evloop_stop(srv->ev);
	free(srv->loops);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* the listener every build has; it adds no capability bit */
const struct donor_listener tcp_listener = {
	.start = tcp_server_start,
	.stop = tcp_server_stop,
	.name = "tcp",
};
