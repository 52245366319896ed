// SPDX-License-Identifier: GPL-2.0-or-later
#include "donor/meminfo.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

START_TEST(parses_memavailable)
{
	uint64_t v = 0;

	ck_assert_int_eq(meminfo_parse("MemTotal:       16303572 kB\n"
				       "MemFree:         1234567 kB\n"
				       "MemAvailable:    8000000 kB\n"
				       "Buffers:          100 kB\n",
				       &v),
			 0);
	ck_assert_uint_eq(v, 8000000ull * 1024);
}
END_TEST

START_TEST(rejects_missing_or_malformed_memavailable)
{
	uint64_t v = 7;

	ck_assert_int_eq(meminfo_parse("MemTotal: 1 kB\n", &v), -EINVAL);
	ck_assert_int_eq(meminfo_parse("MemAvailable: x kB\n", &v), -EINVAL);
	ck_assert_int_eq(meminfo_parse("MemAvailable: 12 MB\n", &v), -EINVAL);
	ck_assert_int_eq(
		meminfo_parse("MemAvailable: 99999999999999999999 kB", &v),
		-EINVAL);
	ck_assert_int_eq(meminfo_parse("", &v), -EINVAL);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(reads_the_real_proc_meminfo)
{
	uint64_t v = 0;

	ck_assert_int_eq(meminfo_read("/proc/meminfo", &v), 0);
	ck_assert_uint_gt(v, 0);
	ck_assert_int_eq(meminfo_read("/nonexistent", &v), -ENOENT);
}
END_TEST

START_TEST(trend_is_the_least_squares_slope)
{
	struct trend t = { 0 };

	ck_assert_int_eq(trend_slope(&t), 0);
	trend_add(&t, 1000, 5000);
	ck_assert_int_eq(trend_slope(&t), 0);
	ck_assert_uint_eq(trend_last(&t), 5000);
	/* exactly linear: +1000 bytes every second */
	for (int i = 1; i < 10; i++)
		trend_add(&t, 1000 + i * 1000, 5000 + i * 1000);
	ck_assert_int_eq(trend_slope(&t), 1000);
	/* falling, with uneven spacing: -2 MB per 500 ms = -4 MB/s */
	t = (struct trend){ 0 };
	for (int i = 0; i < 5; i++)
		trend_add(&t, 10000 + i * 500, 100000000 - i * 2000000);
	ck_assert_int_eq(trend_slope(&t), -4000000);
}
END_TEST

START_TEST(trend_fits_noise_between_the_points)
{
	struct trend t = { 0 };
	/* points around y = 10 x: 0, 12, 18, 30 -> slope 9.8 */
	trend_add(&t, 0, 100);
	trend_add(&t, 1000, 112);
	trend_add(&t, 2000, 118);
	trend_add(&t, 3000, 130);
	ck_assert_int_eq(trend_slope(&t), 9);
	/* no time spread: no slope */
	t = (struct trend){ 0 };
	trend_add(&t, 5, 1);
	trend_add(&t, 5, 100);
	ck_assert_int_eq(trend_slope(&t), 0);
}
END_TEST

START_TEST(trend_window_slides)
{
	struct trend t = { 0 };

	/* an old steep rise scrolls out of the window */
	for (int i = 0; i < TREND_WINDOW; i++)
		trend_add(&t, i * 1000, i * 1000000);
	for (int i = 0; i < TREND_WINDOW; i++)
		trend_add(&t, (TREND_WINDOW + i) * 1000, 7);
	ck_assert_uint_eq(t.n, TREND_WINDOW);
	ck_assert_int_eq(trend_slope(&t), 0);
	ck_assert_uint_eq(trend_last(&t), 7);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"meminfo", NULL,
		CNM_TESTS(parses_memavailable,
			  rejects_missing_or_malformed_memavailable,
			  reads_the_real_proc_meminfo,
			  trend_is_the_least_squares_slope,
			  trend_fits_noise_between_the_points,
			  trend_window_slides));
}
