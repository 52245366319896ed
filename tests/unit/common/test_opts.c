// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/opts.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct demo {
	char *config;
	uint64_t memory;
	long replicas;
	int foreground;
	struct opt_strlist donors;
	int transport;
};

static const char *const transports[] = { "tcp", "rdma", "auto", NULL };

static const struct opt_def demo_defs[] = {
	{ "config", 'c', OPT_STR, offsetof(struct demo, config), NULL, 0, 0,
	  NULL, "FILE", "config file" },
	{ "memory", 'm', OPT_SIZE, offsetof(struct demo, memory), "1G", 1 << 20,
	  1ull << 40, NULL, "SIZE", "memory" },
	{ "replicas", 0, OPT_INT, offsetof(struct demo, replicas), "1", 1, 4,
	  NULL, "N", "replicas" },
	{ "foreground", 'f', OPT_BOOL, offsetof(struct demo, foreground),
	  "false", 0, 0, NULL, NULL, "foreground" },
	{ "donor", 0, OPT_STRLIST, offsetof(struct demo, donors), NULL, 0, 0,
	  NULL, "HOST:PORT", "donor" },
	{ "transport", 0, OPT_ENUM, offsetof(struct demo, transport), "auto", 0,
	  0, transports, "KIND", "transport" },
	OPT_END
};

/* every test starts from the defaults of demo_defs in d (o) */
static struct demo d;
static struct opts o;

static void setup(void)
{
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(opts_init(&o, demo_defs, &d), 0);
}

static void teardown(void)
{
	opts_free(&o);
}

START_TEST(defaults_then_file_then_argv)
{
	const char *pos[2];
	char *argv[] = {
		"x", "--replicas", "3", "/mnt", "--donor", "c:3", NULL
	};
	int npos;

	ck_assert_uint_eq(d.memory, 1ull << 30);
	ck_assert_int_eq(d.transport, 2);
	ck_assert_int_eq(opts_load_string(&o,
					  "memory = \"2G\";\nreplicas = 2;\n"
					  "donor = [\"a:1\", \"b:2\"];\n"
					  "foreground = true;",
					  "t.conf"),
			 0);
	ck_assert_uint_eq(d.memory, 2ull << 30);
	ck_assert_int_eq(d.replicas, 2);
	ck_assert_int_eq(d.foreground, 1);
	ck_assert_str_eq(opts_origin(&o, "replicas"), "t.conf:2");
	ck_assert_int_eq(opts_parse_argv(&o, 6, argv, pos, 2, &npos, "x"), 0);
	ck_assert_int_eq(d.replicas, 3);
	ck_assert_str_eq(opts_origin(&o, "replicas"), "--replicas");
	ck_assert_int_eq(npos, 1);
	ck_assert_str_eq(pos[0], "/mnt");
	ck_assert_int_eq(d.donors.n, 3);
	ck_assert_str_eq(d.donors.v[2], "c:3");
}
END_TEST

START_TEST(bad_value_names_file_and_line)
{
	ck_assert_int_eq(opts_load_string(&o,
					  "replicas = 1;\n\nmemory = \"12Q\";",
					  "bad.conf"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "bad.conf:3: memory:"), "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o, "replicas = 9;", "r.conf"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "r.conf:1: replicas: 9 is out of range"),
		      "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o, "replica = 2;", "t.conf"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "unknown setting"), "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o, "memory = ;", "syn.conf"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "syn.conf:1:"), "%s", o.err);
	ck_assert_int_eq(opts_load_string(&o, "transport = \"udp\";", "e.conf"),
			 -EINVAL);
}
END_TEST

START_TEST(bad_argv_is_an_error_not_an_exit)
{
	const char *pos[1];
	char *a1[] = { "x", "--bogus", NULL };
	char *a2[] = { "x", "--memory", NULL };
	char *a3[] = { "x", "one", "two", NULL };
	int npos;

	ck_assert_int_eq(opts_parse_argv(&o, 2, a1, pos, 1, &npos, "x"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "unknown option"), "%s", o.err);
	ck_assert_int_eq(opts_parse_argv(&o, 2, a2, pos, 1, &npos, "x"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "needs a value"), "%s", o.err);
	ck_assert_int_eq(opts_parse_argv(&o, 3, a3, pos, 1, &npos, "x"),
			 -EINVAL);
	ck_assert_msg(strstr(o.err, "unexpected argument 'two'"), "%s", o.err);
}
END_TEST

START_TEST(config_flag_loads_file_before_other_flags)
{
	const char *pos[1];
	char path[] = "/tmp/cnm-opts-XXXXXX";
	char *argv[] = { "x", "--replicas", "4", "--config", path, NULL };
	FILE *f;
	int fd, npos;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs("replicas = 2;\nmemory = \"8M\";\n", f);
	fclose(f);
	ck_assert_int_eq(opts_parse_argv(&o, 5, argv, pos, 1, &npos, "x"), 0);
	ck_assert_int_eq(d.replicas, 4);
	ck_assert_uint_eq(d.memory, 8u << 20);
	unlink(path);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"opts",
		&(const struct cnm_tcase_opt){ .setup = setup,
					       .teardown = teardown },
		CNM_TESTS(defaults_then_file_then_argv,
			  bad_value_names_file_and_line,
			  bad_argv_is_an_error_not_an_exit,
			  config_flag_loads_file_before_other_flags));
}
