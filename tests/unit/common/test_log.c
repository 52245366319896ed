// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/log.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <stdlib.h>

START_TEST(ratelimit_lets_a_burst_through_then_suppresses)
{
	static struct log_ratelimit rl;
	int ok = 0;

	for (int i = 0; i < 100; i++)
		ok += log_ratelimit_ok(&rl, 5);
	/* a second boundary may open one more window */
	ck_assert_int_ge(ok, 5);
	ck_assert_int_le(ok, 10);
}
END_TEST

START_TEST(errors_are_counted_even_when_filtered)
{
	unsigned long before = log_error_count();

	log_set_level(LOG_CRIT);
	log_err("test: counted but not printed");
	log_set_level(LOG_INFO);
	ck_assert_uint_eq(log_error_count(), before + 1);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"log", NULL,
		CNM_TESTS(ratelimit_lets_a_burst_through_then_suppresses,
			  errors_are_counted_even_when_filtered));
}
