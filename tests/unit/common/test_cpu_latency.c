// SPDX-License-Identifier: GPL-2.0-or-later
/* cpu_latency: a held PM QoS limit is in force until released. Needs root
 * (/dev/cpu_dma_latency is 0600); skipped otherwise. Other processes may
 * hold limits too, so checks are "at most", never "exactly", except for 0. */
#include "common/cpu_latency.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

START_TEST(values_out_of_range_are_refused)
{
	ck_assert_int_eq(cpu_latency_hold(-1), -EINVAL);
	ck_assert_int_eq(cpu_latency_hold(CPU_LATENCY_MAX_US + 1), -EINVAL);
}
END_TEST

START_TEST(a_held_limit_is_in_force_until_released)
{
	int zero = cpu_latency_hold(0);
	int seven = cpu_latency_hold(7);

	ck_assert_int_ge(zero, 0);
	ck_assert_int_ge(seven, 0);
	/* the tightest request wins */
	ck_assert_int_eq(cpu_latency_current(), 0);
	cpu_latency_release(zero);
	ck_assert_int_le(cpu_latency_current(), 7);
	ck_assert_int_ge(cpu_latency_current(), 0);
	cpu_latency_release(seven);
	ck_assert_int_ge(cpu_latency_current(), 0);
}
END_TEST

int main(void)
{
	if (access("/dev/cpu_dma_latency", W_OK))
		return 77; /* meson: skipped */
	return cnm_check_main(
		"cpu_latency", NULL,
		CNM_TESTS(values_out_of_range_are_refused,
			  a_held_limit_is_in_force_until_released));
}
