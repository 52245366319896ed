// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/mountinfo.h"
#include "tests/unit/check_run.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

START_TEST(line_gives_mount_point_and_type)
{
	char line[] = "36 35 98:0 / /mnt/cnm rw,nosuid shared:1 - "
		      "fuse.cnetmem cnetmem rw,user_id=0\n";
	char *mp, *type;

	ck_assert_int_eq(mountinfo_parse_line(line, &mp, &type), 0);
	ck_assert_str_eq(mp, "/mnt/cnm");
	ck_assert_str_eq(type, "fuse.cnetmem");
}
END_TEST

START_TEST(mount_point_escapes_are_undone)
{
	char line[] =
		"36 35 98:0 / /mnt/a\\040b\\134c rw - fuse.cnetmem x rw\n";
	char *mp, *type;

	ck_assert_int_eq(mountinfo_parse_line(line, &mp, &type), 0);
	ck_assert_str_eq(mp, "/mnt/a b\\c");
}
END_TEST

START_TEST(line_without_separator_or_fields_is_refused)
{
	char no_sep[] = "36 35 98:0 / /mnt rw fuse.cnetmem x rw\n";
	char short_line[] = "36 35 / - ext4 /dev/sda rw\n";
	char no_type[] = "36 35 98:0 / /mnt rw - \n";
	char *mp, *type;

	ck_assert_int_eq(mountinfo_parse_line(no_sep, &mp, &type), -EINVAL);
	ck_assert_int_eq(mountinfo_parse_line(short_line, &mp, &type), -EINVAL);
	ck_assert_int_eq(mountinfo_parse_line(no_type, &mp, &type), -EINVAL);
}
END_TEST

START_TEST(proc_is_found_by_its_type_and_not_by_another)
{
	char **v;
	int n, found = 0;

	/* /proc is mounted wherever the daemon runs */
	ck_assert_int_eq(mountinfo_list("proc", &v, &n), 0);
	ck_assert_int_ge(n, 1);
	for (int i = 0; i < n; i++)
		found |= !strcmp(v[i], "/proc");
	mountinfo_free(v, n);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(mountinfo_has("proc", "/proc"), 1);
	ck_assert_int_eq(mountinfo_has(MOUNTINFO_CNETMEM, "/proc"), 0);
}
END_TEST

int main(void)
{
	return cnm_check_main(
		"mountinfo", NULL,
		CNM_TESTS(line_gives_mount_point_and_type,
			  mount_point_escapes_are_undone,
			  line_without_separator_or_fields_is_refused,
			  proc_is_found_by_its_type_and_not_by_another));
}
