// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/parse.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

/* sizes and what they parse to */
static const struct {
	const char *text;
	uint64_t bytes;
} good_sizes[] = {
	{ "4096", 4096 },	{ "64M", 64ull << 20 }, { "2g", 2ull << 30 },
	{ "1GiB", 1ull << 30 }, { "3T", 3ull << 40 },
};

START_TEST(size_suffixes_are_binary_units)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(good_sizes) / sizeof(good_sizes[0]);
	     i++) {
		ck_assert_int_eq(parse_size(good_sizes[i].text, &v), 0);
		ck_assert_uint_eq(v, good_sizes[i].bytes);
	}
}
END_TEST

/* sizes refused and the error each gets */
static const struct {
	const char *text;
	int err;
} bad_sizes[] = {
	{ "", -EINVAL },
	{ "-1M", -EINVAL },
	{ "12Q", -EINVAL },
	{ "1MX", -EINVAL },
	{ "99999999999T", -ERANGE },
	{ "99999999999999999999999", -ERANGE },
};

START_TEST(size_rejects_garbage_and_overflow)
{
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
		ck_assert_int_eq(parse_size(bad_sizes[i].text, &v),
				 bad_sizes[i].err);
	/* a refused size leaves the result alone */
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
