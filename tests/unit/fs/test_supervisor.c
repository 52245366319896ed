// SPDX-License-Identifier: GPL-2.0-or-later
/* fs/supervisor.c: what a serving process is told, the fd store. */
#include "fs/supervisor.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <stdlib.h>

START_TEST(serve_arg_gives_every_number)
{
	struct sup_serve s;

	ck_assert_int_eq(sup_serve_parse("5,6,7,3,1234", &s), 0);
	ck_assert_int_eq(s.fuse_fd, 5);
	ck_assert_int_eq(s.state_fd, 6);
	ck_assert_int_eq(s.ready_fd, 7);
	ck_assert_uint_eq(s.restarts, 3);
	ck_assert_int_eq(s.supervisor, 1234);
}
END_TEST

START_TEST(serve_arg_short_long_or_negative_is_einval)
{
	static const char *const bad[] = {
		"",	      "5,6,7,3",      "5,6,7,3,1234x", "5,6,7,3,1234,9",
		"-1,6,7,3,1", "5,-6,7,3,1",   "5,6,-7,3,1",    "a,b,c,d,e",
		" 5,6,7,3,1", "5;6;7;3;1234",
	};
	struct sup_serve s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_msg(sup_serve_parse(bad[i], &s) == -22, "'%s'",
			      bad[i]);
}
END_TEST

START_TEST(fd_store_without_listen_fds_is_empty)
{
	int f = 0, st = 0;

	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	ck_assert_int_eq(sup_fdstore_take(&f, &st), 0);
	ck_assert_int_eq(f, -1);
	ck_assert_int_eq(st, -1);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"fs_supervisor", NULL,
		CNM_TESTS(serve_arg_gives_every_number,
			  serve_arg_short_long_or_negative_is_einval,
			  fd_store_without_listen_fds_is_empty));
}
