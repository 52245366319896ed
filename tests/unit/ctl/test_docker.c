// SPDX-License-Identifier: GPL-2.0-or-later
/* The Docker volume plugin: volume names, volume options -> the cnetmem
 * command line, and the protocol's answers to requests that make no mount
 * (the mounting itself is tests/docker/docker_volume.sh). */
#include "ctl/docker.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static char *extra[] = { "--transport", "tcp" };

static const struct dvol_cfg cfg = {
	.root = "/nonexistent/cnetmem-unit",
	.cnetmem_bin = "cnetmem",
	.donors = { "10.0.0.2:7700", "10.0.0.3:7700" },
	.ndonors = 2,
	.key_file = "/etc/cnetmem/key",
	.extra = extra,
	.nextra = 2,
};

/* argv joined by spaces */
static const char *joined(const char **argv)
{
	static char buf[2048];

	buf[0] = 0;
	for (int i = 0; argv[i]; i++) {
		if (i)
			strcat(buf, " ");
		strcat(buf, argv[i]);
	}
	return buf;
}

START_TEST(volume_names_are_docker_names_without_paths)
{
	ck_assert_int_eq(dvol_name_ok("scratch"), 0);
	ck_assert_int_eq(dvol_name_ok("a_b.c-1"), 0);
	ck_assert_int_ne(dvol_name_ok(""), 0);
	ck_assert_int_ne(dvol_name_ok("../etc"), 0);
	ck_assert_int_ne(dvol_name_ok("a/b"), 0);
	ck_assert_int_ne(dvol_name_ok(".hidden"), 0);
	ck_assert_int_ne(dvol_name_ok("a b"), 0);
}
END_TEST

START_TEST(driver_defaults_then_volume_options_make_the_command_line)
{
	struct dvol_opt o[] = { { "size", "8G" }, { "replicas", "2" } };
	const char *argv[DVOL_MAX_ARGS];
	char store[256], err[256];

	ck_assert_int_eq(dvol_build_argv(&cfg, "/run/cnetmem/docker/v", o, 2,
					 store, sizeof(store), argv, err,
					 sizeof(err)),
			 0);
	ck_assert_str_eq(joined(argv),
			 "cnetmem /run/cnetmem/docker/v --donor 10.0.0.2:7700 "
			 "--donor 10.0.0.3:7700 --key-file /etc/cnetmem/key "
			 "--transport tcp --size 8G --replicas 2");
}
END_TEST

START_TEST(volume_donors_replace_the_drivers)
{
	struct dvol_opt o[] = { { "donors", "h1:7700,h2:7701" },
				{ "local-memory", "false" } };
	const char *argv[DVOL_MAX_ARGS];
	char store[256], err[256];

	ck_assert_int_eq(dvol_build_argv(&cfg, "/m", o, 2, store, sizeof(store),
					 argv, err, sizeof(err)),
			 0);
	ck_assert_str_eq(joined(argv),
			 "cnetmem /m --key-file /etc/cnetmem/key --transport "
			 "tcp --donor h1:7700 --donor h2:7701");
}
END_TEST

START_TEST(local_memory_is_a_flag)
{
	struct dvol_opt o[] = { { "local-memory", "true" } };
	const char *argv[DVOL_MAX_ARGS];
	char store[16], err[256];
	struct dvol_cfg c = { .root = "/r", .cnetmem_bin = "cnetmem" };

	ck_assert_int_eq(dvol_build_argv(&c, "/m", o, 1, store, sizeof(store),
					 argv, err, sizeof(err)),
			 0);
	ck_assert_str_eq(joined(argv), "cnetmem /m --local-memory");
}
END_TEST

START_TEST(unknown_empty_or_control_values_are_refused_by_name)
{
	struct dvol_opt bad[][1] = { { { "bogus", "1" } },
				     { { "size", "" } },
				     { { "size", "8G\n--x" } },
				     { { "local-memory", "maybe" } } };
	const char *argv[DVOL_MAX_ARGS];
	char store[256], err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_int_ne(dvol_build_argv(&cfg, "/m", bad[i], 1, store,
						 sizeof(store), argv, err,
						 sizeof(err)),
				 0);
		ck_assert_ptr_nonnull(strstr(err, bad[i][0].name));
	}
}
END_TEST

START_TEST(too_many_donors_is_an_error_not_an_overflow)
{
	static char list[4000];
	struct dvol_opt o[] = { { "donor", list } };
	const char *argv[DVOL_MAX_ARGS];
	char store[4096], err[256];

	for (int i = 0; i < 200; i++)
		strcat(list, i ? ",h" : "h");
	ck_assert_int_ne(dvol_build_argv(&cfg, "/m", o, 1, store, sizeof(store),
					 argv, err, sizeof(err)),
			 0);
}
END_TEST

/* one request; the reply's status and body */
static unsigned int call(const char *url, const char *body, char **resp)
{
	return docker_api_handle(&cfg, url, body, body ? strlen(body) : 0,
				 resp);
}

static void expect(const char *url, const char *body, unsigned int status,
		   const char *needle)
{
	char *resp = NULL;

	ck_assert_uint_eq(call(url, body, &resp), status);
	ck_assert_ptr_nonnull(resp);
	ck_assert_msg(strstr(resp, needle), "%s: %s lacks %s", url, resp,
		      needle);
	free(resp);
}

START_TEST(protocol_answers_activate_capabilities_and_list)
{
	expect("/Plugin.Activate", NULL, 200,
	       "{\"Implements\":[\"VolumeDriver\"]}");
	expect("/VolumeDriver.Capabilities", "{}", 200,
	       "{\"Capabilities\":{\"Scope\":\"local\"}}");
	expect("/VolumeDriver.List", "{}", 200,
	       "{\"Volumes\":[],\"Err\":\"\"}");
}
END_TEST

START_TEST(bad_requests_get_json_errors)
{
	expect("/VolumeDriver.Create", "{not json", 400,
	       "\"Err\":\"bad request: not JSON");
	expect("/VolumeDriver.Create", "[1]", 400, "not a JSON object");
	expect("/VolumeDriver.Create", "{}", 400, "no \\\"Name\\\" string");
	expect("/VolumeDriver.Mount", "{\"Name\":7}", 400, "no \\\"Name\\\"");
	expect("/VolumeDriver.Remove", "{\"Name\":\"../x\"}", 400,
	       "not a valid volume name");
	expect("/VolumeDriver.Create", "{\"Name\":\"v\",\"Opts\":[1]}", 400,
	       "\\\"Opts\\\" is not an object");
	expect("/VolumeDriver.Create", "{\"Name\":\"v\",\"Opts\":{\"size\":8}}",
	       400, "option size is not a string");
	expect("/VolumeDriver.Nope", "{}", 404, "unknown endpoint");
	expect("/other", "{}", 404, "unknown endpoint");
	/* a volume error is the protocol's "Err" in a 200 */
	expect("/VolumeDriver.Create",
	       "{\"Name\":\"v\",\"Opts\":{\"bogus\":\"1\"}}", 200,
	       "unknown volume option 'bogus'");
	expect("/VolumeDriver.Get", "{\"Name\":\"v\"}", 200, "no such volume");
	expect("/VolumeDriver.Path", "{\"Name\":\"v\"}", 200, "not mounted");
	/* removing what is not there is done already */
	expect("/VolumeDriver.Remove", "{\"Name\":\"v\"}", 200,
	       "{\"Err\":\"\"}");
	/* a body that is not NUL-terminated is read by its length only */
	{
		char *resp = NULL;
		char body[] = { '{', '}', 'x' };

		ck_assert_uint_eq(docker_api_handle(&cfg, "/VolumeDriver.List",
						    body, 2, &resp),
				  200);
		free(resp);
	}
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"ctl_docker", NULL,
		CNM_TESTS(
			volume_names_are_docker_names_without_paths,
			driver_defaults_then_volume_options_make_the_command_line,
			volume_donors_replace_the_drivers,
			local_memory_is_a_flag,
			unknown_empty_or_control_values_are_refused_by_name,
			too_many_donors_is_an_error_not_an_overflow,
			protocol_answers_activate_capabilities_and_list,
			bad_requests_get_json_errors));
}
