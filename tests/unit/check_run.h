/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_run - the end of a unit test's main(): runs the Check suite s
 * (CK_NORMAL, CK_FORK from the environment) and gives the exit status.
 */
#ifndef CNM_TESTS_UNIT_CHECK_RUN_H
#define CNM_TESTS_UNIT_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int cnm_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
