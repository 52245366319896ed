// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xport_itest_lib - the shared setup of xport_itest: keys from the
 * environment, check(), the event log, the transport's configuration,
 * synchronous I/O, random data and connecting.
 */
#include "xport_itest.h"

int failures;
const char *host, *port;
struct auth_key g_key, g_opkey;

/* Loads the key file named by environment variable var, if set. */
void env_key(const char *var, const char *name, struct auth_key *k)
{
	const char *path = getenv(var);
	char err[256];

	if (!path)
		return;
	if (auth_init() || auth_key_load(path, k, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", var, err);
		exit(2);
	}
	snprintf(k->name, sizeof(k->name), "%s", name);
}

void check(int ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("%s - %s", ok ? "ok" : "not ok", what);
	if (fmt && *fmt) {
		printf(" (");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf(")");
	}
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

/* --- events --- */

void on_event(void *arg, struct xport *x, const struct xport_event *ev)
{
	struct evlog *e = arg;

	pthread_mutex_lock(&e->lock);
	if (ev->type == XPORT_EV_UP)
		e->up++;
	else if (ev->type == XPORT_EV_DOWN) {
		e->down++;
		e->down_err = ev->error;
	} else {
		e->evict++;
		e->evict_slab = ev->slab;
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void evlog_init(struct evlog *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
}

/* Waits until *counter >= n; 0 or -ETIMEDOUT. */
int evlog_wait(struct evlog *e, int *counter, int n, unsigned int ms)
{
	struct timespec ts = deadline_timespec(deadline_after_ms(ms));
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	while (*counter < n && !ret)
		ret = pthread_cond_clockwait(&e->cond, &e->lock,
					     CLOCK_MONOTONIC, &ts)
			      ? -ETIMEDOUT
			      : 0;
	if (*counter >= n)
		ret = 0;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

void cfg_init(struct xport_cfg *cfg, struct evlog *ev, int seed)
{
	unsigned int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->host = host;
	cfg->port = port;
	cfg->kind = XPORT_TCP;
	cfg->key = g_key.set ? &g_key : NULL;
	cfg->slab_size = SLAB;
	cfg->io_timeout_ms = IO_TIMEOUT;
	cfg->ctl_timeout_ms = CTL_TIMEOUT;
	if (getrandom(cfg->session, PROTO_SESSION_LEN, 0) != PROTO_SESSION_LEN)
		for (i = 0; i < PROTO_SESSION_LEN; i++)
			cfg->session[i] = (uint8_t)(seed * 31 + i + getpid());
	if (ev) {
		cfg->event = on_event;
		cfg->event_arg = ev;
	}
}

/* --- synchronous io --- */

void sreq_done(struct xport_io *io, int status)
{
	struct sreq *r = (struct sreq *)io;

	r->status = status;
	atomic_fetch_add(&r->calls, 1);
	sem_post(&r->sem);
}

int sem_wait_ms(sem_t *s, unsigned int ms)
{
	struct timespec ts = deadline_timespec(deadline_after_ms(ms));

	while (sem_clockwait(s, CLOCK_MONOTONIC, &ts))
		if (errno != EINTR)
			return -ETIMEDOUT;
	return 0;
}

/* Submits r; its sem is posted when done (the caller destroys it). */
void sreq_submit(struct xport *x, struct sreq *r, uint8_t dir, uint32_t slab,
		 uint64_t off, void *buf, uint32_t len)
{
	memset(r, 0, sizeof(*r));
	sem_init(&r->sem, 0, 0);
	r->io = (struct xport_io){ .dir = dir,
				   .slab = slab,
				   .len = len,
				   .off = off,
				   .buf = buf,
				   .done = sreq_done };
	xport_submit(x, &r->io);
}

int sync_io(struct xport *x, uint8_t dir, uint32_t slab, uint64_t off,
	    void *buf, uint32_t len)
{
	struct sreq r;
	int ret;

	sreq_submit(x, &r, dir, slab, off, buf, len);
	ret = sem_wait_ms(&r.sem, HANG_MS);
	if (ret) {
		fprintf(stderr, "sync io hung\n");
		exit(2); /* the request still references our stack */
	}
	sem_destroy(&r.sem);
	return r.status;
}

/* --- random data --- */

uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

void rnd_fill(uint64_t *s, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = rnd_next(s);

		memcpy(p + i, &v, 8);
	}
}

int open_up(struct xport_cfg *cfg, struct xport **x)
{
	int ret = xport_open(cfg, x);

	if (ret)
		return ret;
	ret = xport_wait_up(*x, 5000);
	if (ret) {
		xport_close(*x);
		*x = NULL;
	}
	return ret;
}

/* Connects (a check) and, with s, allocates a slab (a check); 0 or the
 * first error. */
int connect_checked(struct xport_cfg *cfg, struct xport **x,
		    struct xport_slab *s)
{
	int ret = open_up(cfg, x);

	check(!ret, "connect", "%d", ret);
	if (ret || !s)
		return ret;
	ret = xport_alloc(*x, s);
	check(!ret, "alloc", "%d", ret);
	return ret;
}

uint64_t hist_multi(const uint64_t *h)
{
	uint64_t n = 0;
	int b;

	for (b = 1; b < XPORT_HIST; b++)
		n += h[b];
	return n;
}
