// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verbs_poll - a thread collects its own RDMA completion (xport_poll(),
 * issue 17): a FUSE io_uring ring thread that posted an io polls that
 * connection's CQ itself (ibv_poll_cq) instead of sleeping until the loop
 * thread (verbs_loop.c), woken by the device's completion channel, hands
 * it the completion. Each connection has its own CQ (the channel is per
 * device, shared), so the claim is per connection.
 *
 * The claim: a trylock on x's CQ (cq_owner, the holder's token), taken by
 * the loop or a poller, never waited for. Only its holder reaps the CQ,
 * and always through vb_poll_cq() (verbs_io.c): the same completion
 * function as the loop's, so a completion is handled once, by whoever
 * reaps it.
 *
 *   poller:  claim -> served? -> vb_poll_cq() until *done (or give up)
 *            -> release: arm (req_notify), vb_poll_cq() once more,
 *            unclaim, missed? claim again and repeat; kick the loop
 *            when it has work on x (cq_kick) or x's link ended
 *   loop:    CQ event: ack -> missed = 1 -> claim? (no: return, the
 *            holder arms and drains again) -> missed = 0 -> serve
 *            detach:   kick = 1 -> claim? (no: return, the holder kicks
 *            the loop, whose wake retries) -> kick = 0 -> detach
 *
 * No lost completion: the CQ stays armed while a poller reaps it, so its
 * first completion raises a (spurious) event; the loop acks it and, the
 * claim taken, drops it after setting cq_missed. A completion that comes
 * after the poller's last poll raises an event too (the release armed the
 * CQ before that poll: the verbs "req_notify, then poll again" rule), and
 * the loop's try either comes after the unclaim and succeeds, or fails
 * with cq_missed set before the try, which the poller reads after its
 * unclaim (both seq_cst) and takes as a reason to arm and drain again.
 *
 * No use after free: x's CQ is destroyed by a connector only after the
 * loop detached x, and the loop detaches only under the claim, clearing
 * cq_served; a poller touches the CQ only while it holds the claim and
 * read cq_served set (under the claim). The connector polls the CQ
 * without the claim during the handshake, before the attach sets
 * cq_served.
 *
 * What a poller leaves to the loop: a completion with an error status is
 * handled by vb_poll_cq() as the loop would (the connection fails, every
 * pending io completes once, with the error); the poller then stops and
 * kicks the loop, which detaches x (the link ends, a connector tears it
 * down). A poller never detaches, never waits for the claim and gives up
 * (-EAGAIN; the caller waits on its semaphore, the loop completes its io
 * through the CQ event the release armed) when: the claim stays taken
 * past the spin; the loop does not serve x (connecting, torn down);
 * nothing is in flight or queued on x; x is not UP; or spin_ns passed.
 * After the spin it does not keep polling: the CQ has no wait of its own
 * but the device's completion channel, which the loop owns, and yielding
 * on a busy poll past the spin would burn a CPU (two on the machines this
 * runs on) for a reply the armed CQ hands the loop anyway. spin_ns is
 * bounded by half the loop's tick, so a claim is held for less than a
 * tick; the io_timeout_ms check does not need the claim (it runs under
 * the lock) and only its detach waits for a holder's kick.
 *
 * While it holds the claim a poller counts as the loop thread (so a
 * done() callback it runs that submits and finds the ring full drains
 * the CQ itself, and a control call from it fails with -EDEADLK, as on
 * the loop); unsolicited EVICTs it reaps are delivered by the loop's next
 * drain (its tick). A thread that must drain a CQ another holds (the loop
 * waiting for ring space from a callback) yields and tries again: the
 * holder lets go within its spin. Two holders each waiting for ring
 * space on the other's CQ would spin until the oldest request's
 * io_timeout_ms fails one link (both count as the loop, whose waits check
 * it): a full ring (VB_SQ) on both, from done() callbacks, is the price
 * of never waiting for a claim. Nothing here allocates or blocks.
 *
 * Threading: any thread but a done() or event callback; at most one
 * holder of a connection's claim at a time.
 */
#include "common/clock.h"
#include "rdma/verbs_priv.h"

#include <errno.h>
#include <sched.h>

static __thread char tls_token; /* its address: this thread's claim */
static __thread int tls_polling;

static uintptr_t me(void)
{
	return (uintptr_t)&tls_token;
}

bool vb_claim(struct vx *x)
{
	uintptr_t free = 0;

	return atomic_compare_exchange_strong(&x->cq_owner, &free, me());
}

bool vb_claim_loop(struct vx *x, atomic_int *why)
{
	atomic_store(why, 1);
	if (!vb_claim(x))
		return false;
	atomic_store(why, 0);
	return true;
}

bool vb_claim_held(struct vx *x)
{
	return atomic_load(&x->cq_owner) == me();
}

void vb_unclaim(struct vx *x)
{
	atomic_store(&x->cq_owner, 0);
}

bool vb_polling(void)
{
	return tls_polling;
}

/* x's link ended (or is closing): the loop must detach it. */
static bool conn_over(struct vx *x)
{
	bool over;

	pthread_mutex_lock(&x->xc.lock);
	over = x->xc.closing || x->xc.state != XPORT_UP;
	pthread_mutex_unlock(&x->xc.lock);
	return over;
}

void vb_release(struct vx *x)
{
	struct vdone d = { 0 };
	bool kick = false;

	for (;;) {
		if (atomic_load(&x->cq_served)) {
			if (ibv_req_notify_cq(x->vs.cq, 0)) {
				pthread_mutex_lock(&x->xc.lock);
				if (x->xc.state == XPORT_UP)
					vb_conn_fail(x, -EIO, &d);
				pthread_mutex_unlock(&x->xc.lock);
				vb_done_run(&d);
			} else {
				vb_poll_cq(x);
			}
			kick = kick || conn_over(x);
		}
		vb_unclaim(x);
		if (!atomic_load(&x->cq_missed) || !vb_claim(x))
			break;
		/* the loop dropped a CQ event meanwhile */
		atomic_store(&x->cq_missed, 0);
	}
	if (atomic_exchange(&x->cq_kick, 0) || kick)
		vbl_kick(x);
}

int vb_drain(struct vx *x)
{
	int n;

	if (xconn_on_thread(&x->xc) || vb_claim_held(x))
		return vb_poll_cq(x);
	if (!vb_claim(x))
		return -EBUSY;
	n = atomic_load(&x->cq_served) ? vb_poll_cq(x) : 0;
	vb_release(x);
	return n;
}

/* Something of x's is in flight or on its way; x is UP. */
static bool worth_polling(struct vx *x)
{
	bool busy;

	pthread_mutex_lock(&x->xc.lock);
	busy = x->xc.state == XPORT_UP && !x->xc.closing && x->count;
	pthread_mutex_unlock(&x->xc.lock);
	return busy || (!conn_over(x) && !batch_idle(&x->q));
}

/* Reaps until *done, giving up or spin_ns; claim held, x served. */
static void poll_claimed(struct vx *x, const atomic_int *done, uint64_t start,
			 uint64_t spin_ns)
{
	int n;

	for (;;) {
		n = vb_poll_cq(x);
		if (atomic_load(done))
			return;
		if (!n && !worth_polling(x))
			return;
		if (mono_ns() - start >= spin_ns)
			return;
		if (!n)
			sched_yield(); /* maybe to the very sender we wait for */
	}
}

int vb_poll(struct xport *xp, const atomic_int *done, uint64_t spin_ns)
{
	struct vx *x = to_vx(xp);
	uint64_t start = mono_ns();
	bool was_loop;

	if (spin_ns > (uint64_t)VB_TICK_MS * 1000000 / 2)
		spin_ns = (uint64_t)VB_TICK_MS * 1000000 / 2;
	/* not from a callback: the loop, or a poller's done() */
	if (vbl_on_thread())
		return atomic_load(done) ? 0 : -EAGAIN;
	while (!vb_claim(x)) {
		if (atomic_load(done))
			return 0;
		if (mono_ns() - start >= spin_ns)
			return -EAGAIN;
		sched_yield();
	}
	was_loop = vbl_act(true);
	tls_polling = 1;
	if (atomic_load(&x->cq_served))
		poll_claimed(x, done, start, spin_ns);
	vb_release(x);
	tls_polling = 0;
	vbl_act(was_loop);
	return atomic_load(done) ? 0 : -EAGAIN;
}
