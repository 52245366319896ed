/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * clock - monotonic time in nanoseconds (mono_ns) and deadlines on it.
 *
 * A deadline is an absolute mono_ns() value; DEADLINE_NEVER never passes.
 * Every timed wait of the tree (poll, condition variables created with
 * CLOCK_MONOTONIC, socket loops) counts against these, never against
 * CLOCK_REALTIME, so a change of the wall clock moves no timeout.
 *
 * Threading: pure functions of the clock; any thread.
 */
#ifndef CNM_COMMON_CLOCK_H
#define CNM_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

#define DEADLINE_NEVER UINT64_MAX

uint64_t mono_ns(void);
/* The deadline ms milliseconds from now. */
uint64_t deadline_after_ms(unsigned ms);
/* Milliseconds left until deadline, rounded up, for poll(2): 0 when it
 * has passed, -1 (wait forever) for DEADLINE_NEVER, at most INT_MAX. */
int deadline_left_ms(uint64_t deadline);
/* The deadline as a struct timespec on CLOCK_MONOTONIC, for
 * pthread_cond_timedwait on a condvar made with CLOCK_MONOTONIC. */
struct timespec deadline_timespec(uint64_t deadline);

/* Nanoseconds from then to now; 0 when then is later: a time another
 * thread stamped after this one read now (a request posted meanwhile)
 * is young, not 584 years old. */
static inline uint64_t mono_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

#endif
