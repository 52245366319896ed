// SPDX-License-Identifier: GPL-2.0-or-later
#include "donor/config.h"
#include "donor/keys.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* every test starts from the defaults of donor_opt_defs in c (o) */
static struct donor_opts c;
static struct opts o;

static void setup(void)
{
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(opts_init(&o, donor_opt_defs, &c), 0);
}

static void teardown(void)
{
	opts_free(&o);
}

START_TEST(example_config_parses_and_validates)
{
	char path[PATH_MAX];
	const char *dir = getenv("ETC_DIR");

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/cnetmem-donor.conf", dir);
	ck_assert_msg(opts_load_file(&o, path) == 0, "%s", o.err);
	ck_assert_msg(donor_opts_validate(&o, &c) == 0, "%s", o.err);
	ck_assert_str_eq(c.listen, "0.0.0.0:7700");
	ck_assert_uint_eq(c.memory, 4ull << 30);
	ck_assert_int_eq(c.grace_period, 60);
	ck_assert_ptr_nonnull(c.key_file);
}
END_TEST

START_TEST(bad_value_names_file_and_line)
{
	ck_assert_int_eq(opts_load_string(&o,
					  "listen = \"127.0.0.1:7700\";\n"
					  "memory = \"1G\";\n"
					  "grace-period = -5;\n",
					  "bad.conf"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "bad.conf:3: grace-period:"), "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o, "transport = \"udp\";", "t.conf"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "t.conf:1: transport"), "%s", o.err);
}
END_TEST

START_TEST(validate_checks_relations_with_origin)
{
	/* listen and memory are required */
	ck_assert_int_eq(donor_opts_validate(&o, &c), -EINVAL);
	ck_assert_msg(strstr(o.err, "listen: required"), "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o,
					  "listen = \"127.0.0.1\";\n"
					  "memory = \"1G\";\n",
					  "v.conf"),
			 0);
	ck_assert_int_eq(donor_opts_validate(&o, &c), -EINVAL);
	ck_assert_msg(strstr(o.err, "v.conf:1: listen:"), "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o,
					  "listen = \"127.0.0.1:0\";\n"
					  "low-watermark = \"2G\";\n"
					  "high-watermark = \"1G\";\n",
					  "w.conf"),
			 0);
	ck_assert_int_eq(donor_opts_validate(&o, &c), -EINVAL);
	ck_assert_msg(strstr(o.err, "w.conf:2: low-watermark:"), "%s", o.err);
	ck_assert_int_eq(
		opts_load_string(&o, "high-watermark = \"3G\";", "w2.conf"), 0);
	ck_assert_msg(donor_opts_validate(&o, &c) == 0, "%s", o.err);
}
END_TEST

START_TEST(client_specs_parse_name_key_and_quota)
{
	char name[PROTO_NAME_LEN], path[256], err[256];
	uint64_t q;

	ck_assert_int_eq(donor_client_parse("web:/etc/k:4G", name, path,
					    sizeof(path), &q, err, sizeof(err)),
			 0);
	ck_assert_str_eq(name, "web");
	ck_assert_str_eq(path, "/etc/k");
	ck_assert_uint_eq(q, 4ull << 30);
	ck_assert_int_eq(donor_client_parse("db-2:/k", name, path, sizeof(path),
					    &q, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(q, 0);
	/* the operator is not a client; names are plain; a file is needed */
	ck_assert_int_eq(donor_client_parse("operator:/k", name, path,
					    sizeof(path), &q, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(donor_client_parse("a b:/k", name, path, sizeof(path),
					    &q, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(donor_client_parse("web", name, path, sizeof(path), &q,
					    err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(donor_client_parse("web:", name, path, sizeof(path),
					    &q, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(donor_client_parse("web:/k:lots", name, path,
					    sizeof(path), &q, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "quota"));
}
END_TEST

START_TEST(text_settings_take_strings_and_files_must_be_regular)
{
	ck_assert_int_eq(opts_load_string(&o, "listen = 5;\n", "n.conf"),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(o.err, "n.conf:1: listen"));
	ck_assert_int_eq(
		opts_load_string(&o, "client = [ \"a:/k\", \"b:/j:1G\" ];\n",
				 "c.conf"),
		0);
	ck_assert_int_eq(c.client.n, 2);
	ck_assert_int_eq(opts_load_file(&o, "/"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(o.err, "not a regular file"));
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"donor_config",
		&(const struct cnm_tcase_opt){ .setup = setup,
					       .teardown = teardown },
		CNM_TESTS(
			example_config_parses_and_validates,
			bad_value_names_file_and_line,
			validate_checks_relations_with_origin,
			client_specs_parse_name_key_and_quota,
			text_settings_take_strings_and_files_must_be_regular));
}
