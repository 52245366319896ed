/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp_fake - a scripted fake donor on 127.0.0.1 for the TCP transport's
 * unit tests (test_tcp.c, test_tcp_poll.c): the handshake is the real
 * one (rdma/handshake.h); the rest is what the mode says. Helpers to
 * open a transport to it, and requests that wait for their done().
 */
#ifndef CNM_TESTS_UNIT_RDMA_TCP_FAKE_H
#define CNM_TESTS_UNIT_RDMA_TCP_FAKE_H

#include "rdma/xport.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K4 4096u

enum fake_mode {
	FAKE_SERVE,	 /* answers everything correctly */
	FAKE_SILENT,	 /* accepts, never says a word */
	FAKE_EVICT,	 /* handshake, EVICT, then serve */
	FAKE_GARBAGE,	 /* handshake, answers a request with garbage */
	FAKE_BAD_ID,	 /* handshake, answers with an id never sent */
	FAKE_NO_REPLY,	 /* handshake, reads requests, never answers */
	FAKE_ERROR_MSG,	 /* handshake, sends ERROR and closes */
	FAKE_FLAKY,	 /* serves, but drops the connection now and then */
	FAKE_SLOW,	 /* serves, each answer 150 ms after its request */
	FAKE_SKIP_FIRST, /* serves all but the first request, unanswered */
};

struct fake {
	enum fake_mode mode;
	int lfd;
	char port[16];
	pthread_t thread;
	atomic_int stop;
	atomic_int conns;
	unsigned int served;
};

struct evs {
	pthread_mutex_t lock;
	int up, down, evict, down_err;
	uint32_t slab;
	uint64_t deadline;
};

struct req {
	struct xport_io io;
	sem_t sem;
	int status;
	atomic_int calls;
	uint8_t buf[K4];
};

/* A transport to a fake donor; stays in place (the fake's thread has it). */
struct conn {
	struct fake f;
	struct xport_cfg cfg;
	struct evs e; /* with events only */
	struct xport *x;
};

/* the fake (FAKE_* of mode) on an ephemeral port; stop joins it */
void fake_start(struct fake *f, enum fake_mode mode);
void fake_stop(struct fake *f);
void closed_port(char *port, size_t len);
void on_event(void *arg, struct xport *x, const struct xport_event *ev);
int evs_get(struct evs *e, int *field);
int evs_wait(struct evs *e, int *field, int n);
void cfg_for(struct xport_cfg *cfg, const char *port, struct evs *e);
void req_done(struct xport_io *io, int status);
void req_init(struct req *r, uint8_t dir);
int req_wait(struct req *r);
int req_do(struct xport *x, struct req *r, uint8_t dir);
void conn_start(struct conn *c, enum fake_mode mode, bool events);
void conn_open(struct conn *c);
void conn_open_up(struct conn *c);
void conn_went_down(struct conn *c, int err);
void conn_stop(struct conn *c);

#endif
