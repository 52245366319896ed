// SPDX-License-Identifier: GPL-2.0-or-later
#include "fs/config.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parsed {
	struct fs_cfg cfg;
	struct opts o;
	const char *pos[3];
	int npos;
	const char *mountpoint;
	int ret;
};

/* rewrite + parse + validate, as main() does */
static void parse(struct parsed *p, int argc, char **argv)
{
	char **nargv;
	int nargc;

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(fs_cfg_rewrite_argv(argc, argv, &nargv, &nargc), 0);
	ck_assert_int_eq(opts_init(&p->o, fs_opt_defs, &p->cfg), 0);
	p->ret = opts_parse_argv(&p->o, nargc, nargv, p->pos, 3, &p->npos,
				 fs_usage_line);
	if (!p->ret)
		p->ret = fs_cfg_validate(&p->o, &p->cfg, p->pos, p->npos,
					 &p->mountpoint);
	free(nargv);
}

START_TEST(command_line_donors_and_size)
{
	char *argv[] = { "cnetmem",    "/mnt/x", "--donor",    "10.0.0.2:7700",
			 "--donor",    "h2",	 "--size",     "8G",
			 "--replicas", "2",	 "--key-file", "/k",
			 NULL };
	struct parsed p;

	parse(&p, 12, argv);
	ck_assert_int_eq(p.ret, 0);
	ck_assert_str_eq(p.mountpoint, "/mnt/x");
	ck_assert_int_eq(p.cfg.donor.n, 2);
	ck_assert_str_eq(p.cfg.donor.v[1], "h2");
	ck_assert_uint_eq(p.cfg.size, 8ull << 30);
	ck_assert_int_eq(p.cfg.replicas, 2);
	ck_assert_int_eq(p.cfg.foreground, 0);
	opts_free(&p.o);
}
END_TEST

START_TEST(mount_helper_form_moves_settings_out_of_o)
{
	char *argv[] = { "cnetmem",
			 "cnetmem",
			 "/mnt/y",
			 "-o",
			 "rw,nosuid,donor=127.0.0.1:1,size=2G,key_file=/k,"
			 "allow_other,local-memory=false",
			 NULL };
	struct parsed p;

	parse(&p, 5, argv);
	ck_assert_msg(p.ret == 0, "%s", p.o.err);
	ck_assert_int_eq(p.npos, 2);
	ck_assert_str_eq(p.pos[0], "cnetmem");
	ck_assert_str_eq(p.mountpoint, "/mnt/y");
	ck_assert_int_eq(p.cfg.donor.n, 1);
	ck_assert_str_eq(p.cfg.donor.v[0], "127.0.0.1:1");
	ck_assert_uint_eq(p.cfg.size, 2ull << 30);
	ck_assert_str_eq(p.cfg.key_file, "/k");
	ck_assert_int_eq(p.cfg.local_memory, 0);
	/* the rest goes to libfuse */
	ck_assert_int_eq(p.cfg.options.n, 3);
	ck_assert_str_eq(p.cfg.options.v[0], "rw");
	ck_assert_str_eq(p.cfg.options.v[1], "nosuid");
	ck_assert_str_eq(p.cfg.options.v[2], "allow_other");
	opts_free(&p.o);
}
END_TEST

START_TEST(flag_inside_o)
{
	char *argv[] = { "cnetmem", "src", "/m", "-olocal-memory,size=64M",
			 NULL };
	struct parsed p;

	parse(&p, 4, argv);
	ck_assert_msg(p.ret == 0, "%s", p.o.err);
	ck_assert_int_eq(p.cfg.local_memory, 1);
	ck_assert_uint_eq(p.cfg.size, 64ull << 20);
	ck_assert_int_eq(p.cfg.options.n, 0);
	opts_free(&p.o);
}
END_TEST

START_TEST(rank_settings_come_from_o_and_all_zero_weights_are_refused)
{
	char *argv[] = { "cnetmem", "src", "/m",
			 "-odonor=h1,rank-sample=7,rank-latency=0,"
			 "rank_band=0.05,rank-trend=0.5,insecure",
			 NULL };
	char *zero[] = { "cnetmem",
			 "/m",
			 "--donor",
			 "h1",
			 "--rank-free=0",
			 "--rank-trend=0",
			 "--rank-latency=0",
			 "--insecure",
			 NULL };
	struct parsed p;

	parse(&p, 4, argv);
	ck_assert_msg(p.ret == 0, "%s", p.o.err);
	ck_assert_int_eq(p.cfg.rank_sample, 7);
	ck_assert_double_eq(p.cfg.rank_free, 1);
	ck_assert_double_eq(p.cfg.rank_trend, 0.5);
	ck_assert_double_eq(p.cfg.rank_latency, 0);
	ck_assert_double_eq(p.cfg.rank_band, 0.05);
	opts_free(&p.o);
	parse(&p, 8, zero);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "all 0"));
	opts_free(&p.o);
}
END_TEST

START_TEST(donor_srv_from_o_is_enough_and_excludes_local_memory)
{
	char *argv[] = { "cnetmem", "src", "/m",
			 "-odonor-srv=_cnetmem._tcp.a,donor_srv=_c._tcp.b,"
			 "donor-srv-server=10.0.0.53,replicas=2,insecure",
			 NULL };
	char *both[] = { "cnetmem",	"/m",	     "--local-memory",
			 "--donor-srv", "_c._tcp.x", NULL };
	char *lone[] = { "cnetmem",
			 "/m",
			 "--donor",
			 "h1",
			 "--donor-srv-server",
			 "10.0.0.53",
			 "--insecure",
			 NULL };
	struct parsed p;

	parse(&p, 4, argv);
	ck_assert_msg(p.ret == 0, "%s", p.o.err);
	ck_assert_int_eq(p.cfg.donor_srv.n, 2);
	ck_assert_str_eq(p.cfg.donor_srv.v[1], "_c._tcp.b");
	ck_assert_str_eq(p.cfg.donor_srv_server, "10.0.0.53");
	opts_free(&p.o);
	parse(&p, 5, both);
	ck_assert_int_eq(p.ret, -EINVAL);
	opts_free(&p.o);
	parse(&p, 7, lone);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "donor-srv-server"));
	opts_free(&p.o);
}
END_TEST

START_TEST(cache_mode_defaults_to_writeback_and_takes_direct)
{
	char *a1[] = { "cnetmem", "/m", "--local-memory", NULL };
	char *a2[] = { "cnetmem", "src", "/m", "-olocal-memory,cache=direct",
		       NULL };
	char *a3[] = { "cnetmem", "/m",	  "--local-memory",
		       "--cache", "none", NULL };
	struct parsed p;

	parse(&p, 3, a1);
	ck_assert_msg(p.ret == 0, "%s", p.o.err);
	ck_assert_int_eq(p.cfg.cache, FS_CACHE_WRITEBACK);
	opts_free(&p.o);
	parse(&p, 4, a2);
	ck_assert_msg(p.ret == 0, "%s", p.o.err);
	ck_assert_int_eq(p.cfg.cache, FS_CACHE_DIRECT);
	ck_assert_int_eq(p.cfg.options.n, 0);
	opts_free(&p.o);
	parse(&p, 5, a3);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "cache"));
	opts_free(&p.o);
}
END_TEST

START_TEST(no_donor_and_no_local_memory_is_an_error)
{
	char *argv[] = { "cnetmem", "/m", NULL };
	struct parsed p;

	parse(&p, 2, argv);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "--local-memory"));
	opts_free(&p.o);
}
END_TEST

START_TEST(donors_need_a_key_or_insecure)
{
	char *a1[] = { "cnetmem", "/m", "--donor", "a:1", NULL };
	char *a2[] = { "cnetmem", "/m", "--donor", "a:1", "--insecure", NULL };
	char *a3[] = { "cnetmem", "/m",		"--donor", "a:1", "--key-file",
		       "/k",	  "--key-name", "no way",  NULL };
	struct parsed p;

	parse(&p, 4, a1);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "--insecure"));
	opts_free(&p.o);
	parse(&p, 5, a2);
	ck_assert_int_eq(p.ret, 0);
	opts_free(&p.o);
	parse(&p, 8, a3);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "key-name"));
	opts_free(&p.o);
}
END_TEST

START_TEST(bad_values_name_their_origin)
{
	char *a1[] = {
		"cnetmem", "/m", "--local-memory", "--size", "lots", NULL
	};
	char *a2[] = { "cnetmem",    "/m", "--donor", "a:1",
		       "--replicas", "2",  NULL };
	char *a3[] = {
		"cnetmem", "/m", "--donor", "a:1", "--local-memory", NULL
	};
	char *a4[] = { "cnetmem", NULL };
	char *a5[] = { "cnetmem", "a", "b", "c", "--local-memory", NULL };
	char *a6[] = {
		"cnetmem", "/m", "--donor", "a:1", "--donor", "a:1", NULL
	};
	struct parsed p;

	parse(&p, 5, a1);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "--size"));
	opts_free(&p.o);
	parse(&p, 6, a2);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "replicas"));
	opts_free(&p.o);
	parse(&p, 5, a3);
	ck_assert_int_eq(p.ret, -EINVAL);
	opts_free(&p.o);
	parse(&p, 1, a4);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "MOUNTPOINT"));
	opts_free(&p.o);
	parse(&p, 5, a5);
	ck_assert_int_eq(p.ret, -EINVAL);
	opts_free(&p.o);
	parse(&p, 6, a6);
	ck_assert_int_eq(p.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.o.err, "twice"));
	opts_free(&p.o);
}
END_TEST

START_TEST(example_config_parses_and_validates)
{
	char path[4096];
	const char *etc = getenv("ETC_DIR");
	char *argv[] = { "cnetmem", "/m", NULL };
	const char *pos[1] = { "/m" };
	const char *mp;
	struct fs_cfg cfg;
	struct opts o;
	int ret;

	ck_assert_ptr_nonnull(etc);
	snprintf(path, sizeof(path), "%s/cnetmem.conf", etc);
	memset(&cfg, 0, sizeof(cfg));
	ck_assert_int_eq(opts_init(&o, fs_opt_defs, &cfg), 0);
	ret = opts_load_file(&o, path);
	ck_assert_msg(ret == 0, "%s", o.err);
	ret = fs_cfg_validate(&o, &cfg, pos, 1, &mp);
	ck_assert_msg(ret == 0, "%s", o.err);
	ck_assert_int_eq(cfg.donor.n, 2);
	ck_assert_int_eq(cfg.replicas, 2);
	ck_assert_uint_eq(cfg.size, 64ull << 30);
	(void)argv;
	opts_free(&o);
}
END_TEST

START_TEST(config_file_errors_say_file_and_line)
{
	struct fs_cfg cfg;
	struct opts o;
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_int_eq(opts_init(&o, fs_opt_defs, &cfg), 0);
	ret = opts_load_string(&o, "size = \"1G\";\nreplicas = 9;\n",
			       "test.conf");
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(o.err, "test.conf:2"));
	opts_free(&o);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"fs_config", NULL,
		CNM_TESTS(
			command_line_donors_and_size,
			mount_helper_form_moves_settings_out_of_o,
			flag_inside_o,
			rank_settings_come_from_o_and_all_zero_weights_are_refused,
			donor_srv_from_o_is_enough_and_excludes_local_memory,
			cache_mode_defaults_to_writeback_and_takes_direct,
			no_donor_and_no_local_memory_is_an_error,
			donors_need_a_key_or_insecure,
			bad_values_name_their_origin,
			example_config_parses_and_validates,
			config_file_errors_say_file_and_line));
}
