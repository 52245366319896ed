// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit test of what a torn-down TCP connection leaves behind: WRITEs that
 * timed out while a donor did not read must never reach that donor later
 * (an orphaned socket retransmitting them once the link is back wrote old
 * pages into slabs that the new connection had refilled: the link-cut
 * fault test's stale replica). A fake donor on 127.0.0.1 with a small
 * receive buffer stops reading; its backlog is counted before the client
 * gives up and everything read after it.
 */
#include "rdma/xport.h"
#include "tests/unit/check_run.h"
#include "tests/unit/rdma/fake_hs.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NWRITES	  16
#define WRITE_LEN (256u << 10)

struct stall {
	int lfd;
	char port[16];
	pthread_t thread;
	sem_t stalled;	   /* posted once the fake stops reading */
	sem_t release;	   /* the fake reads again */
	int queued;	   /* bytes in its receive queue when released */
	long long drained; /* bytes it read after that, to the end */
};

/* Accepts one connection, shakes hands, reads nothing until released,
 * then reads to the end of the stream. */
static void *stall_main(void *arg)
{
	static char buf[1 << 16];
	struct stall *st = arg;
	ssize_t n;
	int fd;

	fd = accept(st->lfd, NULL, NULL);
	if (fd < 0 || fake_handshake(fd)) {
		st->drained = -1;
		goto out;
	}
	sem_post(&st->stalled);
	sem_wait(&st->release);
	if (ioctl(fd, FIONREAD, &st->queued))
		st->queued = -1;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		st->drained += n;
out:
	if (fd >= 0)
		close(fd);
	sem_post(&st->stalled);
	return NULL;
}

static void stall_start(struct stall *st)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int rcvbuf = 8192; /* accepted sockets inherit it: fills at once */

	memset(st, 0, sizeof(*st));
	sem_init(&st->stalled, 0, 0);
	sem_init(&st->release, 0, 0);
	st->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(st->lfd, 0);
	ck_assert_int_eq(setsockopt(st->lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				    sizeof(rcvbuf)),
			 0);
	ck_assert_int_eq(bind(st->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(st->lfd, 8), 0);
	ck_assert_int_eq(getsockname(st->lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(st->port, sizeof(st->port), "%u", ntohs(sa.sin_port));
	ck_assert_int_eq(pthread_create(&st->thread, NULL, stall_main, st), 0);
}

static void sem_wait_bounded(sem_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20; /* against hangs only */
	ck_assert_int_eq(sem_timedwait(s, &ts), 0);
}

struct evs {
	sem_t down;
	atomic_int ndown;
};

static void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct evs *e = arg;

	(void)x;
	if (ev->type == XPORT_EV_DOWN && atomic_fetch_add(&e->ndown, 1) == 0)
		sem_post(&e->down);
}

struct wr {
	struct xport_io io[NWRITES];
	sem_t done;
	atomic_int failed;
};

static void wr_done(struct xport_io *io, int status)
{
	struct wr *w = io->priv;

	if (status)
		atomic_fetch_add(&w->failed, 1);
	sem_post(&w->done);
}

START_TEST(timed_out_writes_never_reach_the_donor_after_teardown)
{
	static char data[WRITE_LEN];
	static struct wr w;
	struct xport_cfg cfg = { 0 };
	struct stall st;
	struct evs e;
	struct xport *x;

	stall_start(&st);
	memset(&e, 0, sizeof(e));
	sem_init(&e.down, 0, 0);
	cfg.host = "127.0.0.1";
	cfg.port = st.port;
	cfg.kind = XPORT_TCP;
	cfg.slab_size = 1 << 20;
	cfg.ctl_timeout_ms = 2000;
	cfg.io_timeout_ms = 300;
	cfg.session[0] = 42;
	cfg.event = on_event;
	cfg.event_arg = &e;
	ck_assert_int_eq(xport_open(&cfg, &x), 0);
	ck_assert_int_eq(xport_wait_up(x, 10000), 0);
	sem_wait_bounded(&st.stalled);

	memset(&w, 0, sizeof(w));
	sem_init(&w.done, 0, 0);
	for (unsigned int i = 0; i < NWRITES; i++) {
		w.io[i].dir = XPORT_WRITE;
		w.io[i].slab = 3;
		w.io[i].off = (uint64_t)(i % 4) * WRITE_LEN;
		w.io[i].len = WRITE_LEN;
		w.io[i].buf = data;
		w.io[i].done = wr_done;
		w.io[i].priv = &w;
		xport_submit(x, &w.io[i]);
	}
	for (unsigned int i = 0; i < NWRITES; i++)
		sem_wait_bounded(&w.done);
	ck_assert_int_eq(atomic_load(&w.failed), NWRITES);
	/* DOWN comes after teardown closed the socket */
	sem_wait_bounded(&e.down);

	sem_post(&st.release);
	sem_wait_bounded(&st.stalled);
	pthread_join(st.thread, NULL);
	ck_assert_int_ge(st.queued, 0);
	ck_assert_int_ge(st.drained, 0);
	/* what sat in its receive queue may still be read; nothing more */
	ck_assert_int_le(st.drained, st.queued);

	xport_close(x);
	close(st.lfd);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"tcp_teardown", &(const struct cnm_tcase_opt){ .timeout = 30 },
		CNM_TESTS(
			timed_out_writes_never_reach_the_donor_after_teardown));
}
