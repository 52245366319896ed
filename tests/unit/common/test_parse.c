// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/parse.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

START_TEST(size_suffixes_are_binary_units)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(parse_size("64M", &v), 0);
	ck_assert_uint_eq(v, 64ull << 20);
	ck_assert_int_eq(parse_size("2g", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(parse_size("1GiB", &v), 0);
	ck_assert_uint_eq(v, 1ull << 30);
	ck_assert_int_eq(parse_size("3T", &v), 0);
	ck_assert_uint_eq(v, 3ull << 40);
}
END_TEST

START_TEST(size_rejects_garbage_and_overflow)
{
	uint64_t v = 7;

	ck_assert_int_eq(parse_size("", &v), -EINVAL);
	ck_assert_int_eq(parse_size("-1M", &v), -EINVAL);
	ck_assert_int_eq(parse_size("12Q", &v), -EINVAL);
	ck_assert_int_eq(parse_size("1MX", &v), -EINVAL);
	ck_assert_int_eq(parse_size("99999999999T", &v), -ERANGE);
	ck_assert_int_eq(parse_size("99999999999999999999999", &v), -ERANGE);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(hostport_forms)
{
	char h[64], p[16];

	ck_assert_int_eq(parse_hostport("10.0.0.2:7700", NULL, h, 64, p, 16),
			 0);
	ck_assert_str_eq(h, "10.0.0.2");
	ck_assert_str_eq(p, "7700");
	ck_assert_int_eq(parse_hostport("[::1]:9", NULL, h, 64, p, 16), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_str_eq(p, "9");
	ck_assert_int_eq(parse_hostport("donor1", "7700", h, 64, p, 16), 0);
	ck_assert_str_eq(h, "donor1");
	ck_assert_str_eq(p, "7700");
}
END_TEST

START_TEST(hostport_rejects_bad_input)
{
	char h[8], p[8];

	ck_assert_int_eq(parse_hostport("donor1", NULL, h, 8, p, 8), -EINVAL);
	ck_assert_int_eq(parse_hostport("a:99999", NULL, h, 8, p, 8), -EINVAL);
	ck_assert_int_eq(parse_hostport("a:x", NULL, h, 8, p, 8), -EINVAL);
	ck_assert_int_eq(parse_hostport(":1", NULL, h, 8, p, 8), -EINVAL);
	ck_assert_int_eq(parse_hostport("::1:5", NULL, h, 8, p, 8), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1", NULL, h, 8, p, 8), -EINVAL);
	ck_assert_int_eq(parse_hostport("averylonghost:1", NULL, h, 8, p, 8),
			 -EINVAL);
}
END_TEST

int main(void)
{
	return cnm_check_main("parse", NULL,
			      CNM_TESTS(size_suffixes_are_binary_units,
					size_rejects_garbage_and_overflow,
					hostport_forms,
					hostport_rejects_bad_input));
}
