// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fault - the test-only fault transport of fault.h: a struct xport whose
 * backend forwards to an inner transport, failing, holding or cutting
 * what the test asks for. Not linked into cnetmem.
 *
 * A hang (xfault_hang) is a hold with a clock: a watchdog thread, started
 * by the hang and joined when it ends, declares the connection dead
 * (xfault_break(-ETIMEDOUT)) once the oldest unanswered request is
 * io_timeout_ms old, as the tcp transport's timeout scan does for a
 * donor that stopped answering; a control call waits ctl_timeout_ms and
 * gives up with -ETIMEDOUT, as tcp_ctl() does.
 *
 * Threading: the fault settings, the held queue, the hang and the broken
 * flag are under f->lock (f->cv, on the monotonic clock, signals their
 * changes); no call into the inner transport, no done() and no event
 * runs with it held. The per-operation errnos are atomics read without
 * the lock on every call.
 */
#include "rdma/fault.h"

#include "common/clock.h"
#include "rdma/conn.h" /* the transports' default timeouts */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The real xport_open() (rdma/xport.c), under -Wl,--wrap=xport_open. */
int __real_xport_open(const struct xport_cfg *cfg, struct xport **out);
int __wrap_xport_open(const struct xport_cfg *cfg, struct xport **out);

struct xfault {
	struct xport base;
	struct xport *inner;
	xport_event_fn event; /* the opener's */
	void *event_arg;

	atomic_int err[XFAULT_NOPS]; /* per enum xfault_op bit; 0: none */
	atomic_bool active; /* any fault set: the slow path of submit */

	pthread_mutex_t lock;
	bool hold;			    /* protected by lock */
	bool broken;			    /* protected by lock */
	int broken_err;			    /* protected by lock */
	struct xport_io *held, **held_tail; /* protected by lock */
	unsigned int nheld;		    /* protected by lock */

	/* xfault_hang(): a donor connected but never answering */
	pthread_cond_t cv;   /* CLOCK_MONOTONIC; on changes under lock */
	bool hung;	     /* protected by lock */
	bool hang_down;	     /* its io timeout broke it; protected by lock */
	uint64_t hang_since; /* oldest unanswered request, mono_ns; 0: none;
			      * protected by lock */
	pthread_t watchdog;  /* runs while hung */
	unsigned int io_ms, ctl_ms;

	/* counted on top of the inner transport's stats */
	atomic_uint_least64_t ios, errors, timeouts, reconnects;
};

static const struct xport_backend xport_fault_backend;
static atomic_bool wrap_all;

static struct xfault *to_fault(struct xport *x)
{
	return x && x->ops == &xport_fault_backend ? (struct xfault *)x : NULL;
}

bool xfault_is(struct xport *x)
{
	return to_fault(x) != NULL;
}

struct xport *xfault_inner(struct xport *x)
{
	struct xfault *f = to_fault(x);

	return f ? f->inner : NULL;
}

void xfault_wrap_all(bool on)
{
	atomic_store(&wrap_all, on);
}

static unsigned int op_bit(enum xfault_op op)
{
	return (unsigned int)__builtin_ctz((unsigned int)op);
}

static int op_err(struct xfault *f, enum xfault_op op)
{
	return atomic_load(&f->err[op_bit(op)]);
}

/* Recomputes f->active; under f->lock. */
static void set_active(struct xfault *f)
{
	bool on = f->hold || f->broken || f->hung;

	for (unsigned int i = 0; i < XFAULT_NOPS; i++)
		on |= atomic_load(&f->err[i]) != 0;
	atomic_store(&f->active, on);
}

/* Passes ev to the opener's callback, as coming from the wrapper. */
static void emit(struct xfault *f, const struct xport_event *ev)
{
	if (f->event)
		f->event(f->event_arg, &f->base, ev);
}

/* The inner transport's events; its UP and DOWN mean nothing while the
 * test holds the connection broken. */
static void inner_event(void *arg, struct xport *x,
			const struct xport_event *ev)
{
	struct xfault *f = arg;
	bool broken;

	pthread_mutex_lock(&f->lock);
	broken = f->broken;
	pthread_mutex_unlock(&f->lock);
	if (!broken || ev->type == XPORT_EV_EVICT)
		emit(f, ev);
}

/* Fails an io the inner transport never saw: counted here instead. */
static void fail_io(struct xfault *f, struct xport_io *io, int err)
{
	atomic_fetch_add(&f->ios, 1);
	atomic_fetch_add(&f->errors, 1);
	if (err == -ETIMEDOUT)
		atomic_fetch_add(&f->timeouts, 1);
	io->t_submit_ns = 0;
	io->done(io, err);
}

/* Fails or queues io as the faults say; false when io is the caller's to
 * pass on. */
static bool fault_take(struct xfault *f, struct xport_io *io)
{
	int err;

	pthread_mutex_lock(&f->lock);
	if (f->broken) {
		pthread_mutex_unlock(&f->lock);
		fail_io(f, io, -ENOTCONN);
		return true;
	}
	err = op_err(f, io->dir == XPORT_READ ? XFAULT_READ : XFAULT_WRITE);
	if (f->hung || (!err && f->hold)) {
		/* a hung donor answers nothing, not even an error */
		io->next = NULL;
		*f->held_tail = io;
		f->held_tail = &io->next;
		f->nheld++;
		if (f->hung && !f->hang_since) {
			f->hang_since = mono_ns();
			pthread_cond_broadcast(&f->cv);
		}
		pthread_mutex_unlock(&f->lock);
		return true;
	}
	pthread_mutex_unlock(&f->lock);
	if (!err)
		return false;
	fail_io(f, io, err);
	return true;
}

static void fault_submit(struct xport *x, struct xport_io *io)
{
	struct xfault *f = to_fault(x);

	if (atomic_load(&f->active) && fault_take(f, io))
		return;
	xport_submit(f->inner, io);
}

static void fault_submit_chain(struct xport *x, struct xport_io *io)
{
	struct xfault *f = to_fault(x);
	struct xport_io *head = NULL, **tail = &head, *next;

	if (!atomic_load(&f->active)) {
		xport_submit_chain(f->inner, io);
		return;
	}
	/* what passes still leaves as one chain */
	for (; io; io = next) {
		next = io->next;
		if (fault_take(f, io))
			continue;
		io->next = NULL;
		*tail = io;
		tail = &io->next;
	}
	if (head)
		xport_submit_chain(f->inner, head);
}

/* Takes the held queue; under f->lock. */
static struct xport_io *take_held(struct xfault *f)
{
	struct xport_io *io = f->held;

	f->held = NULL;
	f->held_tail = &f->held;
	f->nheld = 0;
	return io;
}

int xfault_open(const struct xport_cfg *cfg, struct xport **out)
{
	struct xport_cfg c;
	struct xfault *f;
	int ret;

	*out = NULL;
	if (!cfg)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->base.ops = &xport_fault_backend;
	f->event = cfg->event;
	f->event_arg = cfg->event_arg;
	f->held_tail = &f->held;
	f->io_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : XCONN_DEF_IO_MS;
	f->ctl_ms =
		cfg->ctl_timeout_ms ? cfg->ctl_timeout_ms : XCONN_DEF_CTL_MS;
	pthread_mutex_init(&f->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&f->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	c = *cfg;
	c.event = inner_event;
	c.event_arg = f;
	ret = __real_xport_open(&c, &f->inner);
	if (ret)
		goto out_free;
	*out = &f->base;
	return 0;

out_free:
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return ret;
}

int __wrap_xport_open(const struct xport_cfg *cfg, struct xport **out)
{
	if (cfg && (atomic_load(&wrap_all) ||
		    (cfg->host && !strncmp(cfg->host, "fault:", 6))))
		return xfault_open(cfg, out);
	return __real_xport_open(cfg, out);
}

int xfault_fail(struct xport *x, unsigned int ops, int err)
{
	struct xfault *f = to_fault(x);

	if (!f || err > 0 || (ops & ~(unsigned int)XFAULT_ALL))
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < XFAULT_NOPS; i++)
		if (ops & (1u << i))
			atomic_store(&f->err[i], err);
	set_active(f);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int xfault_hold(struct xport *x, bool hold)
{
	struct xfault *f = to_fault(x);
	struct xport_io *io = NULL;

	if (!f)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	f->hold = hold;
	if (!hold)
		io = take_held(f);
	set_active(f);
	pthread_mutex_unlock(&f->lock);
	/* in the order they came; one by one, as they were submitted */
	while (io) {
		struct xport_io *next = io->next;

		io->next = NULL;
		xport_submit(f->inner, io);
		io = next;
	}
	return 0;
}

unsigned int xfault_held(struct xport *x)
{
	struct xfault *f = to_fault(x);
	unsigned int n;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	n = f->nheld;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int xfault_break(struct xport *x, int err)
{
	struct xfault *f = to_fault(x);
	struct xport_io *io;

	if (!f || err >= 0)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->broken) {
		pthread_mutex_unlock(&f->lock);
		return -EALREADY;
	}
	f->broken = true;
	f->broken_err = err;
	f->hang_since = 0; /* nothing is unanswered any more */
	io = take_held(f);
	set_active(f);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	/* a lost connection fails every pending request, then says DOWN */
	while (io) {
		struct xport_io *next = io->next;

		fail_io(f, io, err);
		io = next;
	}
	emit(f, &(struct xport_event){ .type = XPORT_EV_DOWN, .error = err });
	return 0;
}

int xfault_restore(struct xport *x)
{
	struct xfault *f = to_fault(x);

	if (!f)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (!f->broken) {
		pthread_mutex_unlock(&f->lock);
		return -EALREADY;
	}
	f->broken = false;
	set_active(f);
	pthread_mutex_unlock(&f->lock);
	atomic_fetch_add(&f->reconnects, 1);
	emit(f, &(struct xport_event){ .type = XPORT_EV_UP });
	return 0;
}

int xfault_evict(struct xport *x, uint32_t slab, uint64_t deadline_ms)
{
	struct xfault *f = to_fault(x);

	if (!f)
		return -EINVAL;
	emit(f, &(struct xport_event){ .type = XPORT_EV_EVICT,
				       .slab = slab,
				       .deadline_ms = deadline_ms });
	return 0;
}

/* A control call to a hung donor: sent, never answered; gives up after
 * ctl_ms (-ETIMEDOUT) unless the hang ends first (0: go on) or the
 * connection breaks (its error). Under f->lock. */
static int ctl_hung(struct xfault *f)
{
	uint64_t deadline = deadline_after_ms(f->ctl_ms);
	struct timespec ts = deadline_timespec(deadline);

	/* unanswered, it counts for the io timeout even once given up on */
	if (!f->hang_since) {
		f->hang_since = mono_ns();
		pthread_cond_broadcast(&f->cv);
	}
	while (f->hung && !f->broken && mono_ns() < deadline)
		pthread_cond_timedwait(&f->cv, &f->lock, &ts);
	if (f->broken)
		return f->broken_err;
	return f->hung ? -ETIMEDOUT : 0;
}

/* The watchdog of a hang: the io timeout, as tcp_rx.c's scan. */
static void *watchdog_main(void *arg)
{
	struct xfault *f = arg;

	pthread_mutex_lock(&f->lock);
	while (f->hung) {
		uint64_t due = f->hang_since + (uint64_t)f->io_ms * 1000000;
		struct timespec ts;

		if (f->broken || !f->hang_since) {
			pthread_cond_wait(&f->cv, &f->lock);
			continue;
		}
		if (mono_ns() < due) {
			ts = deadline_timespec(due);
			pthread_cond_timedwait(&f->cv, &f->lock, &ts);
			continue;
		}
		/* what a transport does when a donor stops answering */
		f->hang_down = true;
		pthread_mutex_unlock(&f->lock);
		xfault_break(&f->base, -ETIMEDOUT);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int xfault_hang(struct xport *x, bool hang)
{
	struct xfault *f = to_fault(x);
	struct xport_io *io = NULL;
	bool down;
	int ret;

	if (!f)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->hung == hang) {
		pthread_mutex_unlock(&f->lock);
		return -EALREADY;
	}
	f->hung = hang;
	if (hang) {
		/* held from an earlier hold: unanswered from now on */
		f->hang_since = f->nheld ? mono_ns() : 0;
		ret = -pthread_create(&f->watchdog, NULL, watchdog_main, f);
		if (ret)
			f->hung = false;
		set_active(f);
		pthread_mutex_unlock(&f->lock);
		return ret;
	}
	/* it answers again (SIGCONT): what waits completes, or it was
	 * declared dead meanwhile and reconnects */
	down = f->hang_down;
	f->hang_down = false;
	f->hang_since = 0;
	if (!down && !f->hold)
		io = take_held(f);
	set_active(f);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->watchdog, NULL);
	while (io) {
		struct xport_io *next = io->next;

		io->next = NULL;
		xport_submit(f->inner, io);
		io = next;
	}
	if (down)
		xfault_restore(x);
	return 0;
}

/* 0 when a control call may go on to the inner transport. */
static int ctl_err(struct xfault *f, enum xfault_op op)
{
	int err = 0;

	if (!atomic_load(&f->active))
		return 0;
	pthread_mutex_lock(&f->lock);
	if (f->broken)
		err = -ENOTCONN;
	else if (f->hung)
		err = ctl_hung(f);
	pthread_mutex_unlock(&f->lock);
	return err ? err : op_err(f, op);
}

static int fault_wait_up(struct xport *x, unsigned int timeout_ms)
{
	struct xfault *f = to_fault(x);
	int err = 0;

	pthread_mutex_lock(&f->lock);
	if (f->broken)
		err = f->broken_err;
	pthread_mutex_unlock(&f->lock);
	return err ? err : xport_wait_up(f->inner, timeout_ms);
}

static int fault_reg(struct xport *x, void *addr, size_t len)
{
	return xport_register(to_fault(x)->inner, addr, len);
}

static int fault_alloc(struct xport *x, struct xport_slab *out)
{
	struct xfault *f = to_fault(x);
	int err = ctl_err(f, XFAULT_ALLOC);

	return err ? err : xport_alloc(f->inner, out);
}

static int fault_free(struct xport *x, uint32_t slab)
{
	struct xfault *f = to_fault(x);
	int err = ctl_err(f, XFAULT_FREE);

	return err ? err : xport_free(f->inner, slab);
}

static int fault_query(struct xport *x, struct wire_state *out)
{
	struct xfault *f = to_fault(x);
	int err = ctl_err(f, XFAULT_QUERY);

	return err ? err : xport_query(f->inner, out);
}

static int fault_heartbeat(struct xport *x, uint64_t *rtt_ns)
{
	struct xfault *f = to_fault(x);
	int err = ctl_err(f, XFAULT_HEARTBEAT);

	return err ? err : xport_heartbeat(f->inner, rtt_ns);
}

static int fault_reclaim(struct xport *x, uint64_t bytes)
{
	struct xfault *f = to_fault(x);
	int err = ctl_err(f, XFAULT_RECLAIM);

	return err ? err : xport_reclaim(f->inner, bytes);
}

static enum xport_state fault_state(struct xport *x)
{
	struct xfault *f = to_fault(x);
	bool broken;

	pthread_mutex_lock(&f->lock);
	broken = f->broken;
	pthread_mutex_unlock(&f->lock);
	return broken ? XPORT_DOWN : xport_state(f->inner);
}

static void fault_get_stats(struct xport *x, struct xport_stats *out)
{
	struct xfault *f = to_fault(x);

	xport_get_stats(f->inner, out);
	out->ios += atomic_load(&f->ios);
	out->errors += atomic_load(&f->errors);
	out->timeouts += atomic_load(&f->timeouts);
	out->reconnects += atomic_load(&f->reconnects);
	out->state = fault_state(x);
}

static const char *fault_peer(struct xport *x)
{
	return xport_peer(to_fault(x)->inner);
}

static void fault_close(struct xport *x)
{
	struct xfault *f = to_fault(x);
	struct xport_io *io;
	bool hung;

	pthread_mutex_lock(&f->lock);
	hung = f->hung;
	f->hung = false;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	if (hung)
		pthread_join(f->watchdog, NULL);
	pthread_mutex_lock(&f->lock);
	io = take_held(f);
	pthread_mutex_unlock(&f->lock);
	while (io) {
		struct xport_io *next = io->next;

		fail_io(f, io, -ECONNABORTED);
		io = next;
	}
	xport_close(f->inner);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static const struct xport_backend xport_fault_backend = {
	.name = "fault",
	.open = xfault_open,
	.wait_up = fault_wait_up,
	.submit = fault_submit,
	.submit_chain = fault_submit_chain,
	.reg = fault_reg,
	.alloc = fault_alloc,
	.free_slab = fault_free,
	.query = fault_query,
	.heartbeat = fault_heartbeat,
	.reclaim = fault_reclaim,
	.state = fault_state,
	.get_stats = fault_get_stats,
	.peer = fault_peer,
	.close = fault_close,
};
