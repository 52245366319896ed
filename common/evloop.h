/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * evloop - a fixed pool of event loops: n threads, each with its own
 * epoll set, so that a process's thread count does not grow with its
 * connections (the donor's listeners, the client's TCP transport). A
 * listener embeds a struct evl_src per file descriptor it watches
 * (level-triggered) and gets ready() called on the loop the source was
 * added to; every source stays on that loop.
 *
 * Per loop, the listener's ops are called on the loop's thread:
 *   wake()    after evl_wake() (from any thread): new connections, queued
 *             messages
 *   expire()  once the earliest deadline given by evl_deadline() has
 *             passed; it returns the next deadline (EVL_NEVER: none)
 *   after()   at the end of each batch of events: sources closed during
 *             the batch may be freed there, not before (a later event of
 *             the same batch may still name them); NULL: nothing to free
 *
 * Threading: evloop_start(), evloop_join() and evloop_stop() from one
 * controlling thread;
 * evl_wake(), evloop_pick() and evl_index() from any thread; evl_add(),
 * evl_mod() and evl_del() from any thread for a source no loop serves
 * yet, else from the source's own loop; evl_arm() from any thread that
 * the listener lets serve the source at that moment (see evl_arm);
 * evl_deadline() from the loop's own thread. Nothing here blocks but epoll_wait(2) itself.
 */
#ifndef CNM_COMMON_EVLOOP_H
#define CNM_COMMON_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#define EVL_NEVER UINT64_MAX

struct evloop;
struct evl;

struct evl_src {
	/* events: EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR as epoll gave them */
	void (*ready)(struct evl_src *s, uint32_t events);
	int fd;
	uint32_t events; /* the mask registered */
};

struct evloop_ops {
	void (*wake)(struct evl *l, void *arg);
	uint64_t (*expire)(struct evl *l, void *arg, uint64_t now_ns);
	void (*after)(struct evl *l, void *arg);
};

/*
 * Starts n loops (n >= 1), each its own thread named name ("cnm-tcp/0");
 * ops and arg are borrowed until evloop_stop(). 0 or -errno.
 */
int evloop_start(unsigned int n, const char *name, const struct evloop_ops *ops,
		 void *arg, struct evloop **out);
/* Stops and joins every loop, but keeps them: another thread may still
 * evl_wake() one (it does nothing) until evloop_stop(), so a listener
 * can close its connections, which others may still wake, in between. */
void evloop_join(struct evloop *ev);
/* Joins (when evloop_join() did not) and frees every loop; sources left
 * are the caller's to close. NULL: no-op. */
void evloop_stop(struct evloop *ev);
unsigned int evloop_size(const struct evloop *ev);
/* Whether the calling thread is a loop of any evloop (of any module). */
bool evloop_on_thread(void);
struct evl *evloop_get(struct evloop *ev, unsigned int i);
unsigned int evl_index(const struct evl *l);

int evl_add(struct evl *l, struct evl_src *s, uint32_t events);
/* Changes the mask when it differs from s->events. 0 or -errno. */
int evl_mod(struct evl *l, struct evl_src *s, uint32_t events);
void evl_del(struct evl *l, struct evl_src *s);
/* Sets the mask to events, always (an EPOLLONESHOT source is armed again
 * so). epoll_ctl(2) is thread-safe: the listener serialises this with
 * evl_del() of s itself (rdma/tcp_loop.c: under its receive claim).
 * 0 or -errno. */
int evl_arm(struct evl *l, struct evl_src *s, uint32_t events);
/* Makes the loop call ops->wake() soon; any thread. */
void evl_wake(struct evl *l);
/* ops->expire() runs once mono_ns() >= at (or earlier). Loop thread. */
void evl_deadline(struct evl *l, uint64_t at);

#endif
