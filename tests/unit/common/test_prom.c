// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/prom.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(histogram_buckets_are_cumulative_with_inf_sum_and_count)
{
	static const double le[] = { 0.001, 0.01 };
	static const uint64_t counts[] = { 2, 3, 1 };
	struct prom p;

	prom_init(&p);
	prom_family(&p, "x_seconds", "histogram", "a test.");
	prom_histogram(&p, "x_seconds", "a=\"b\"", le, counts, 2, 0.5);
	ck_assert_int_eq(p.err, 0);
	ck_assert_str_eq(p.buf, "# HELP x_seconds a test.\n"
				"# TYPE x_seconds histogram\n"
				"x_seconds_bucket{a=\"b\",le=\"0.001\"} 2\n"
				"x_seconds_bucket{a=\"b\",le=\"0.01\"} 5\n"
				"x_seconds_bucket{a=\"b\",le=\"+Inf\"} 6\n"
				"x_seconds_sum{a=\"b\"} 0.5\n"
				"x_seconds_count{a=\"b\"} 6\n");
	prom_free(&p);
}
END_TEST

START_TEST(label_values_are_escaped)
{
	char l[PROM_LABELS_MAX];

	prom_labels(l, sizeof(l), "mountpoint", "/a \"b\"\\c\nd", "op", "r",
		    NULL);
	ck_assert_str_eq(l, "mountpoint=\"/a \\\"b\\\"\\\\c\\nd\",op=\"r\"");
}
END_TEST

START_TEST(a_long_label_is_cut_inside_its_buffer)
{
	char l[16], v[100];

	memset(v, 'x', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	prom_labels(l, sizeof(l), "k", v, NULL);
	ck_assert_uint_lt(strlen(l), sizeof(l));
}
END_TEST

START_TEST(integers_print_without_a_fraction_and_the_buffer_grows)
{
	struct prom p;

	prom_init(&p);
	for (int i = 0; i < 5000; i++)
		prom_sample(&p, "cnetmem_test_bytes", NULL, 68719476736.0);
	ck_assert_int_eq(p.err, 0);
	ck_assert_uint_eq(p.len, 5000 * strlen("cnetmem_test_bytes "
					       "68719476736\n"));
	prom_free(&p);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"prom", NULL,
		CNM_TESTS(
			histogram_buckets_are_cumulative_with_inf_sum_and_count,
			label_values_are_escaped,
			a_long_label_is_cut_inside_its_buffer,
			integers_print_without_a_fraction_and_the_buffer_grows));
}
