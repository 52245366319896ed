// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/clock.h"

#include <limits.h>
#include <time.h>

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

uint64_t deadline_after_ms(unsigned ms)
{
	return mono_ns() + (uint64_t)ms * 1000000u;
}

int deadline_left_ms(uint64_t deadline)
{
	uint64_t now, left;

	if (deadline == DEADLINE_NEVER)
		return -1;
	now = mono_ns();
	if (now >= deadline)
		return 0;
	left = (deadline - now + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

struct timespec deadline_timespec(uint64_t deadline)
{
	struct timespec ts = { .tv_sec = deadline / 1000000000u,
			       .tv_nsec = deadline % 1000000000u };

	if (deadline == DEADLINE_NEVER)
		ts.tv_sec = (time_t)(INT_MAX);
	return ts;
}
