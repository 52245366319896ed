// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp_poll - a thread collects its own reply (xport_poll(), issue 17):
 * the connection's receive side (the parser of tcp_rx.c) has a claim, a
 * trylock that its event loop (tcp_loop.c) or a polling thread takes;
 * nobody ever waits for it. A FUSE io_uring ring thread that sent a
 * request takes the claim, reads the socket itself - for up to spin_ns
 * it asks poll(2) with no timeout and yields between asks (a recv would
 * take the socket's lock, holding the reply in the backlog), then it
 * sleeps in poll(2) on the fd - completes every reply that
 * arrives (its own and others'), and gives the claim back once its own
 * is done. So the swap-in path has no hand-off to the loop thread, and
 * the donor's reply wakes the thread that waits for it.
 *
 *   poller:  claim -> disarm the loop's event -> receive until *done
 *            (or give up) -> arm the event -> unclaim -> missed? again
 *   loop:    missed = 1 -> claim? (no: return, the holder arms the
 *            event again) -> missed = 0 -> receive -> arm -> unclaim
 *
 * No lost wake-up: the socket's loop event is level-triggered and one-
 * shot (TCP_RX_EVENTS), armed again only by a claim holder. A poller
 * disarms it when it takes the claim, so replies it reads itself do not
 * wake the loop. An event the loop took while a poller held the claim
 * (before its disarm, or after its release armed it) finds the claim
 * taken: the loop sets rx_missed before its try, and the poller reads
 * rx_missed after giving the claim back (both seq_cst), so either the
 * poller sees it and arms again under a new claim, or the loop's try
 * comes after the release and succeeds. Every epoll_ctl(2) on the socket
 * is made under the claim, and a connection leaves its loop (detach)
 * only under it, so a poller never arms an fd that was closed since.
 *
 * A poller gives up (-EAGAIN, the caller waits as before and the loop
 * completes the request) when: the claim stays taken past the spin
 * (it retries meanwhile; the holder may complete its reply); the loop does not
 * serve the socket (connecting, torn down); nothing is in flight or
 * queued on the connection; or it blocked for half the connection's
 * timeout scan period, so that the loop's io_timeout_ms scan, which
 * skips a claimed connection, runs at least every other period. A
 * receive error is left for the loop (rx_err, and the socket is shut
 * down so the loop's event fires): the loop ends the link as before.
 *
 * While it holds the claim a poller counts as a loop thread (callbacks
 * it runs defer their submissions to the loop's worker) and allocates
 * nothing.
 *
 * Threading: any thread but a done() or event callback; at most one
 * holder of a connection's claim at a time.
 */
#include "common/clock.h"
#include "rdma/tcp_priv.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

bool tcp_rx_claim(struct tcp_conn *c)
{
	int free = 0;

	return atomic_compare_exchange_strong(&c->rx_claim, &free, 1);
}

bool tcp_rx_claim_loop(struct tcp_conn *c)
{
	atomic_store(&c->rx_missed, 1);
	if (!tcp_rx_claim(c))
		return false;
	atomic_store(&c->rx_missed, 0);
	return true;
}

void tcp_rx_release(struct tcp_conn *c)
{
	for (;;) {
		if (atomic_load(&c->rx_attached))
			tcp_loop_arm(c, TCP_RX_EVENTS);
		atomic_store(&c->rx_claim, 0);
		if (!atomic_load(&c->rx_missed))
			return;
		/* the loop found the claim taken, maybe after our arm */
		if (!tcp_rx_claim(c))
			return; /* the new holder sees rx_missed */
		atomic_store(&c->rx_missed, 0);
	}
}

/* Nothing of c's is in flight, being sent, queued or deferred. */
static bool conn_idle(struct tcp_conn *c)
{
	bool idle;

	if (!tcp_rx_idle(c) || atomic_load(&c->ndeferred))
		return false;
	pthread_mutex_lock(&c->xc.lock);
	idle = c->inflight.next == &c->inflight && !c->sending;
	pthread_mutex_unlock(&c->xc.lock);
	return idle && batch_idle(&c->q);
}

/* The receive error err ends the link: the loop sees it (claim held). */
static void poll_broke(struct tcp_conn *c, int err)
{
	c->rx_err = err;
	pthread_mutex_lock(&c->xc.lock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR); /* readable: the loop's event */
	pthread_mutex_unlock(&c->xc.lock);
}

/* Receives until *done, an error or giving up; claim held. */
static int poll_claimed(struct tcp_conn *c, const atomic_int *done,
			uint64_t spin_ns)
{
	uint64_t start = mono_ns(), now;
	int block_ms = c->scan_ms / 2 ? (int)(c->scan_ms / 2) : 1;
	struct pollfd pfd = { .fd = c->src.fd, .events = POLLIN };
	int ret;

	for (;;) {
		ret = tcp_rx_ready(c);
		if (ret) {
			poll_broke(c, ret);
			return -EAGAIN;
		}
		if (atomic_load(done))
			return 0;
		if (conn_idle(c))
			return -EAGAIN;
		/* the spin asks poll(2), which does not take the socket's
		 * lock as a recv does (the donor's reply would have to wait
		 * for it in the backlog); recv only once there is data. It
		 * yields the CPU to whatever else is runnable on it (on a
		 * small machine, maybe the very donor or sender we wait for) */
		do {
			now = mono_ns();
			if (now - start >= spin_ns)
				break;
			ret = poll(&pfd, 1, 0);
			if (!ret)
				sched_yield();
		} while (!ret);
		if (now - start < spin_ns)
			continue;
		/* past the spin: sleep until the socket has data */
		if (now - start >= spin_ns + (uint64_t)block_ms * 1000000)
			return -EAGAIN;
		ret = poll(&pfd, 1, block_ms);
		if (ret < 0 && errno != EINTR)
			return -EAGAIN;
	}
}

int tcp_poll(struct xport *x, const atomic_int *done, uint64_t spin_ns)
{
	struct tcp_conn *c = (struct tcp_conn *)x;
	uint64_t start = mono_ns();
	bool was_loop;
	int ret = -EAGAIN;

	/* the loop (or another poller) may hold the claim for a moment,
	 * maybe completing our reply: try again within the spin */
	while (!tcp_rx_claim(c)) {
		if (atomic_load(done))
			return 0;
		if (mono_ns() - start >= spin_ns)
			return -EAGAIN;
		sched_yield();
	}
	if (!atomic_load(&c->rx_attached) || c->rx_err) {
		tcp_rx_release(c);
		return -EAGAIN;
	}
	/* our own reads must not wake the loop */
	if (tcp_loop_arm(c, EPOLLONESHOT))
		goto out_release;
	was_loop = tcp_loop_act(true);
	ret = poll_claimed(c, done, spin_ns);
	tcp_loop_act(was_loop);
out_release:
	tcp_rx_release(c);
	return ret;
}
