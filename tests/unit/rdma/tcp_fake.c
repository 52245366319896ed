// SPDX-License-Identifier: GPL-2.0-or-later
/* tcp_fake - the fake donor of the TCP transport's unit tests (tcp_fake.h). */
#include "tests/unit/rdma/tcp_fake.h"

#include "rdma/handshake.h"
#include "tests/unit/rdma/fake_hs.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Serves one request (or does what the mode says); 0 to go on. */
static int fake_serve_one(struct fake *f, int fd)
{
	static uint8_t data[1 << 20];
	struct proto_hdr h;
	struct wire_io io;
	uint8_t body[64];
	int ret;

	ret = hs_read_full(fd, body, sizeof(struct wire_hdr), 100);
	if (ret == -ETIMEDOUT)
		return atomic_load(&f->stop) ? -1 : 0;
	if (ret || proto_hdr_dec(body, &h))
		return -1;
	if (h.op == PROTO_OP_READ || h.op == PROTO_OP_WRITE) {
		if (hs_read_full(fd, &io, sizeof(io), 2000))
			return -1;
		proto_io_swap(&io);
		if (io.len > sizeof(data))
			return -1;
		if (h.op == PROTO_OP_WRITE &&
		    hs_read_full(fd, data, io.len, 2000))
			return -1;
	} else if (h.len && hs_read_full(fd, body, h.len, 2000)) {
		return -1;
	}
	if (f->mode == FAKE_NO_REPLY ||
	    (f->mode == FAKE_SKIP_FIRST && !f->served++))
		return 0;
	if (f->mode == FAKE_FLAKY && ++f->served % 997 == 0)
		return -1; /* drop it, with requests in flight */
	if (f->mode == FAKE_GARBAGE)
		return hs_write_full(fd, "this is not a header at all", 24,
				     2000)
			       ? -1
			       : 0;
	if (f->mode == FAKE_BAD_ID)
		h.id ^= 0x5555;
	if (f->mode == FAKE_SLOW)
		usleep(150000);
	h.flags = PROTO_F_REPLY;
	h.status = 0;
	h.len = 0;
	if (h.op == PROTO_OP_READ) {
		memset(data, 0x5a, io.len);
		h.len = io.len;
		return hs_send_msg(fd, &h, data, 2000) ? -1 : 0;
	}
	if (h.op == PROTO_OP_ALLOC) {
		struct wire_slab ws = { .slab = 3, .size = 1 << 20 };

		proto_slab_swap(&ws);
		h.len = sizeof(ws);
		return hs_send_msg(fd, &h, &ws, 2000) ? -1 : 0;
	}
	return hs_send_msg(fd, &h, NULL, 2000) ? -1 : 0;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = { .fd = f->lfd, .events = POLLIN };
	int fd;

	while (!atomic_load(&f->stop)) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&f->conns, 1);
		if (f->mode == FAKE_SILENT) {
			while (!atomic_load(&f->stop))
				usleep(10000);
			close(fd);
			continue;
		}
		if (fake_handshake(fd)) {
			close(fd);
			continue;
		}
		if (f->mode == FAKE_EVICT) {
			struct wire_evict ev = { .slab = 7,
						 .deadline_ms = 1234 };
			struct proto_hdr h = { .op = PROTO_OP_EVICT,
					       .len = sizeof(ev) };

			proto_evict_swap(&ev);
			hs_send_msg(fd, &h, &ev, 2000);
		}
		if (f->mode == FAKE_ERROR_MSG) {
			struct proto_hdr h = { .op = PROTO_OP_ERROR, .len = 4 };

			hs_send_msg(fd, &h, "bye!", 2000);
			close(fd);
			continue;
		}
		while (!fake_serve_one(f, fd))
			;
		close(fd);
	}
	return NULL;
}

void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 8), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(f->port, sizeof(f->port), "%u", ntohs(sa.sin_port));
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	close(f->lfd);
}

/* a port nobody listens on */
void closed_port(char *port, size_t len)
{
	struct fake f;

	fake_start(&f, FAKE_SILENT);
	snprintf(port, len, "%s", f.port);
	fake_stop(&f);
}

void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct evs *e = arg;

	pthread_mutex_lock(&e->lock);
	if (ev->type == XPORT_EV_UP) {
		e->up++;
	} else if (ev->type == XPORT_EV_DOWN) {
		e->down++;
		e->down_err = ev->error;
	} else {
		e->evict++;
		e->slab = ev->slab;
		e->deadline = ev->deadline_ms;
	}
	pthread_mutex_unlock(&e->lock);
}

int evs_get(struct evs *e, int *field)
{
	int v;

	pthread_mutex_lock(&e->lock);
	v = *field;
	pthread_mutex_unlock(&e->lock);
	return v;
}

/* Waits (bounded, only against hangs) until *field >= n. */
int evs_wait(struct evs *e, int *field, int n)
{
	int i;

	for (i = 0; i < 10000 && evs_get(e, field) < n; i++)
		usleep(1000);
	return evs_get(e, field) >= n;
}

void cfg_for(struct xport_cfg *cfg, const char *port, struct evs *e)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->host = "127.0.0.1";
	cfg->port = port;
	cfg->kind = XPORT_TCP;
	cfg->slab_size = 1 << 20;
	cfg->ctl_timeout_ms = 2000;
	cfg->io_timeout_ms = 2000;
	cfg->session[0] = 42;
	if (e) {
		memset(e, 0, sizeof(*e));
		pthread_mutex_init(&e->lock, NULL);
		cfg->event = on_event;
		cfg->event_arg = e;
	}
}

void req_done(struct xport_io *io, int status)
{
	struct req *r = (struct req *)io;

	r->status = status;
	atomic_fetch_add(&r->calls, 1);
	sem_post(&r->sem);
}

void req_init(struct req *r, uint8_t dir)
{
	memset(r, 0, sizeof(*r));
	sem_init(&r->sem, 0, 0);
	r->io.dir = dir;
	r->io.slab = 3;
	r->io.len = K4;
	r->io.buf = r->buf;
	r->io.done = req_done;
}

int req_wait(struct req *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20; /* against hangs only */
	ck_assert_int_eq(sem_timedwait(&r->sem, &ts), 0);
	ck_assert_int_eq(atomic_load(&r->calls), 1);
	return r->status;
}

/* One request of dir at slab 3, offset 0: its status. */
int req_do(struct xport *x, struct req *r, uint8_t dir)
{
	req_init(r, dir);
	xport_submit(x, &r->io);
	return req_wait(r);
}

/* Starts the fake; the config may be changed before conn_open(). */
void conn_start(struct conn *c, enum fake_mode mode, bool events)
{
	fake_start(&c->f, mode);
	cfg_for(&c->cfg, c->f.port, events ? &c->e : NULL);
}

void conn_open(struct conn *c)
{
	ck_assert_int_eq(xport_open(&c->cfg, &c->x), 0);
}

void conn_open_up(struct conn *c)
{
	conn_open(c);
	ck_assert_int_eq(xport_wait_up(c->x, 10000), 0);
}

/* The transport told of a loss (DOWN event) with error err. */
void conn_went_down(struct conn *c, int err)
{
	ck_assert(evs_wait(&c->e, &c->e.down, 1));
	ck_assert_int_eq(evs_get(&c->e, &c->e.down_err), err);
}

void conn_stop(struct conn *c)
{
	xport_close(c->x);
	fake_stop(&c->f);
}
