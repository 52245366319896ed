/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fault - a test-only transport that wraps another one and injects
 * faults, as nbdkit's error filter wraps the next layer: fail calls with
 * an errno, hold I/O and release it, break the connection and restore it.
 * Production code holds no test field and no test check: this module is
 * built into a test-only library (xport_fault_dep in rdma/meson.build)
 * that test programs link, never into cnetmem.
 *
 * How a test gets one: the library's dependency links the program with
 * -Wl,--wrap=xport_open, so every xport_open() of the program (the page
 * store's too) goes through __wrap_xport_open() here. It opens a fault
 * transport over the real one when the donor is named "fault:NAME" (an
 * XPORT_MEM donor, spelled like "mem:NAME[:SIZE]") or after
 * xfault_wrap_all(true) (any donor, tcp ones too); any other open goes on
 * to the real xport_open() untouched. xfault_open() wraps explicitly.
 *
 * With no fault set, every call goes to the inner transport as it is
 * (submit_chain too, so batching is unchanged). Faults:
 *   xfault_fail()    the chosen operations fail at once with an errno, in
 *                    the submitting thread, as a real transport fails
 *                    submitted I/O it cannot send; errors count in the
 *                    stats as the inner transport's own would
 *   xfault_hold()    I/O is queued without completing; releasing submits
 *                    it to the inner transport in submission order
 *   xfault_break()   the connection is lost: held I/O fails with the
 *                    given errno, XPORT_EV_DOWN is emitted, then every
 *                    call fails with -ENOTCONN and the state is DOWN
 *                    (the inner transport's own UP/DOWN are not passed
 *                    on meanwhile); xfault_restore() emits XPORT_EV_UP
 *                    and counts a reconnect
 *   xfault_evict()   emits XPORT_EV_EVICT, as a donor asking a slab back
 *   xfault_hang()    the donor stays connected but answers nothing, as a
 *                    SIGSTOPped cnetmem-donor does to the tcp transport:
 *                    I/O is held; a control call gives up after
 *                    ctl_timeout_ms with -ETIMEDOUT; io_timeout_ms after
 *                    the oldest unanswered request the connection is
 *                    declared dead as xfault_break(-ETIMEDOUT) would
 *                    (held I/O fails -ETIMEDOUT, counted as errors and
 *                    timeouts; DOWN). Ending the hang (SIGCONT): a
 *                    connection declared dead comes back (UP, one
 *                    reconnect counted), else the held I/O goes on
 *                    to the inner transport and completes
 *
 * Threading: any thread, concurrently; the fault settings and the held
 * queue are under the object's lock, never held across a call into the
 * inner transport or a done(). Events from break, restore and evict run
 * in the thread that calls those (the inner transport's own events on its
 * thread), so the caller must hold no lock the event callback takes. A
 * hang runs one watchdog thread of its own until it ends: the timeout's
 * failed I/O and DOWN come on that thread (so xfault_hang(x, false), which
 * joins it, must not be called from a done() or an event callback); a
 * control call to a hung donor blocks its caller up to ctl_timeout_ms.
 */
#ifndef CNM_RDMA_FAULT_H
#define CNM_RDMA_FAULT_H

#include "rdma/xport.h"

#include <stdbool.h>
#include <stdint.h>

/* Operations a fault applies to (a bit mask). */
enum xfault_op {
	XFAULT_READ = 1u << 0,
	XFAULT_WRITE = 1u << 1,
	XFAULT_ALLOC = 1u << 2,
	XFAULT_FREE = 1u << 3,
	XFAULT_QUERY = 1u << 4,
	XFAULT_HEARTBEAT = 1u << 5,
	XFAULT_RECLAIM = 1u << 6,
};

#define XFAULT_NOPS 7
#define XFAULT_IO   (XFAULT_READ | XFAULT_WRITE)
#define XFAULT_CTL                                                             \
	(XFAULT_ALLOC | XFAULT_FREE | XFAULT_QUERY | XFAULT_HEARTBEAT |        \
	 XFAULT_RECLAIM)
#define XFAULT_ALL (XFAULT_IO | XFAULT_CTL)

/* Opens the transport cfg names (through the real xport_open()) and wraps
 * it; 0 or what that open returned, or -ENOMEM. */
int xfault_open(const struct xport_cfg *cfg, struct xport **out);
/* From now on every xport_open() of this program is wrapped (true), or
 * only those of "fault:NAME" donors (false, the default). */
void xfault_wrap_all(bool on);
/* x is a fault transport? The calls below return -EINVAL when it is not. */
bool xfault_is(struct xport *x);
struct xport *xfault_inner(struct xport *x);

/* Calls in ops (enum xfault_op bits) submitted from now on fail with err,
 * a negative errno; err 0 heals them. */
int xfault_fail(struct xport *x, unsigned int ops, int err);
/* hold: I/O submitted from now on is queued; !hold submits what is
 * queued, in the order it came. */
int xfault_hold(struct xport *x, bool hold);
/* How many ios are held now. */
unsigned int xfault_held(struct xport *x);
/* Loses the connection: err (negative) fails what is held and is the
 * DOWN event's error. -EALREADY when broken already. */
int xfault_break(struct xport *x, int err);
/* Connected again after xfault_break(): emits XPORT_EV_UP. */
int xfault_restore(struct xport *x);
/* As if the donor asked for slab back (XPORT_EV_EVICT). */
int xfault_evict(struct xport *x, uint32_t slab, uint64_t deadline_ms);
/* hang: the donor stops answering (SIGSTOP), !hang: it answers again
 * (SIGCONT); see the top. -EALREADY when already so, -errno when the
 * watchdog thread cannot start. */
int xfault_hang(struct xport *x, bool hang);

#endif
