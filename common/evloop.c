// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * evloop - n epoll loops on n threads (common/evloop.h).
 *
 *   loop thread:  epoll_wait(until the earliest deadline)
 *                   wake eventfd -> ops->wake()
 *                   a source     -> src->ready(events)
 *                 deadline passed -> ops->expire() gives the next one
 *                 ops->after()
 */
#include "common/evloop.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BATCH 64
/* a callback that holds its loop this long delays every other source of
 * the loop past its timeouts: said, so such a stall has a name in a log */
#define STALL_NS (250 * 1000000ull)

struct evl {
	struct evloop *ev;
	unsigned int idx;
	pthread_t thread;
	int started;
	int epfd;
	struct evl_src wake; /* an eventfd */
	uint64_t deadline;   /* loop thread only */
};

struct evloop {
	const struct evloop_ops *ops;
	void *arg;
	char name[12];
	atomic_int stopping;
	int joined; /* controlling thread only */
	unsigned int n;
	struct evl loops[];
};

static void wake_ready(struct evl_src *s, uint32_t events)
{
	uint64_t v;

	(void)events;
	/* clears the counter; the caller's own state says what to do */
	if (read(s->fd, &v, sizeof(v)) < 0) {
		/* already cleared by an earlier event */
	}
}

static int ms_until(uint64_t at)
{
	uint64_t now = mono_ns(), ms;

	if (at == EVL_NEVER)
		return -1;
	if (now >= at)
		return 0;
	ms = (at - now + 999999) / 1000000;
	return ms > 1000000 ? 1000000 : (int)ms;
}

static __thread bool tls_in_loop;

bool evloop_on_thread(void)
{
	return tls_in_loop;
}

static void stall_check(const struct evl *l, const char *what, uint64_t t0)
{
	uint64_t took = mono_ns() - t0;

	if (took >= STALL_NS)
		LOG_RATELIMITED(LOG_WARNING,
				"%s/%u: %s held the loop for %" PRIu64 " ms",
				l->ev->name, l->idx, what, took / 1000000);
}

static void *loop_main(void *arg)
{
	struct evl *l = arg;
	struct evloop *ev = l->ev;
	struct epoll_event evs[BATCH];
	uint64_t now, t0;
	int n, i;

	tls_in_loop = true;
	while (!atomic_load(&ev->stopping)) {
		n = epoll_wait(l->epfd, evs, BATCH, ms_until(l->deadline));
		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			struct evl_src *s = evs[i].data.ptr;

			if (s == &l->wake) {
				wake_ready(s, evs[i].events);
				if (atomic_load(&ev->stopping))
					break;
				t0 = mono_ns();
				ev->ops->wake(l, ev->arg);
				stall_check(l, "wake()", t0);
				continue;
			}
			t0 = mono_ns();
			s->ready(s, evs[i].events);
			stall_check(l, "a source's ready()", t0);
		}
		now = mono_ns();
		if (now >= l->deadline) {
			l->deadline = EVL_NEVER;
			evl_deadline(l, ev->ops->expire(l, ev->arg, now));
			stall_check(l, "expire()", now);
		}
		if (ev->ops->after) {
			t0 = mono_ns();
			ev->ops->after(l, ev->arg);
			stall_check(l, "after()", t0);
		}
	}
	return NULL;
}

static void loop_close(struct evl *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wake.fd >= 0)
		close(l->wake.fd);
}

void evloop_join(struct evloop *ev)
{
	unsigned int i;

	if (ev->joined)
		return;
	ev->joined = 1;
	atomic_store(&ev->stopping, 1);
	for (i = 0; i < ev->n; i++)
		evl_wake(&ev->loops[i]);
	for (i = 0; i < ev->n; i++)
		if (ev->loops[i].started)
			pthread_join(ev->loops[i].thread, NULL);
}

void evloop_stop(struct evloop *ev)
{
	unsigned int i;

	if (!ev)
		return;
	evloop_join(ev);
	for (i = 0; i < ev->n; i++)
		loop_close(&ev->loops[i]);
	free(ev);
}

int evloop_start(unsigned int n, const char *name, const struct evloop_ops *ops,
		 void *arg, struct evloop **out)
{
	struct evloop *ev;
	unsigned int i;
	int ret = 0;

	if (!n)
		return -EINVAL;
	ev = calloc(1, sizeof(*ev) + n * sizeof(ev->loops[0]));
	if (!ev)
		return -ENOMEM;
	ev->ops = ops;
	ev->arg = arg;
	ev->n = n;
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	for (i = 0; i < n; i++) {
		ev->loops[i].epfd = -1;
		ev->loops[i].wake.fd = -1;
	}
	for (i = 0; i < n && !ret; i++) {
		struct evl *l = &ev->loops[i];

		l->ev = ev;
		l->idx = i;
		l->deadline = EVL_NEVER;
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		l->wake.ready = wake_ready;
		if (l->epfd < 0 || l->wake.fd < 0) {
			ret = -errno;
			break;
		}
		ret = evl_add(l, &l->wake, EPOLLIN);
	}
	for (i = 0; i < n && !ret; i++) {
		struct evl *l = &ev->loops[i];
		char tname[16];

		ret = -pthread_create(&l->thread, NULL, loop_main, l);
		if (ret)
			break;
		l->started = 1;
		snprintf(tname, sizeof(tname), "%.8s/%u", ev->name, i % 1000);
		pthread_setname_np(l->thread, tname);
	}
	if (ret) {
		evloop_stop(ev);
		return ret;
	}
	*out = ev;
	return 0;
}

unsigned int evloop_size(const struct evloop *ev)
{
	return ev->n;
}

struct evl *evloop_get(struct evloop *ev, unsigned int i)
{
	return &ev->loops[i % ev->n];
}

unsigned int evl_index(const struct evl *l)
{
	return l->idx;
}

int evl_add(struct evl *l, struct evl_src *s, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = s };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &e))
		return -errno;
	s->events = events;
	return 0;
}

int evl_mod(struct evl *l, struct evl_src *s, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = s };

	if (events == s->events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &e))
		return -errno;
	s->events = events;
	return 0;
}

int evl_arm(struct evl *l, struct evl_src *s, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = s };

	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &e))
		return -errno;
	s->events = events;
	return 0;
}

void evl_del(struct evl *l, struct evl_src *s)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

void evl_wake(struct evl *l)
{
	uint64_t one = 1;

	if (write(l->wake.fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the loop is awake anyway */
	}
}

void evl_deadline(struct evl *l, uint64_t at)
{
	if (at < l->deadline)
		l->deadline = at;
}
