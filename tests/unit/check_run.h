/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_run - a unit test's main() in one call: cnm_check_main() makes the
 * Check suite of one test case from a NULL-terminated table of tests
 * (CNM_TESTS()), with the fixture and timeout of a struct cnm_tcase_opt,
 * runs it (CK_NORMAL, CK_FORK from the environment) and gives the exit
 * status. A suite of several test cases adds each with cnm_check_tcase()
 * and ends with cnm_check_run().
 */
#ifndef CNM_TESTS_UNIT_CHECK_RUN_H
#define CNM_TESTS_UNIT_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* the tests of one test case, in the order they run */
#define CNM_TESTS(...) ((const TTest *const[]){ __VA_ARGS__, NULL })

/* how a test case runs its tests; NULL or { 0 }: no fixture, Check's
 * default timeout, each test once */
struct cnm_tcase_opt {
	SFun setup, teardown; /* checked fixture, or NULL */
	double timeout;	      /* seconds; 0: Check's default */
	int loop;	      /* > 0: each test runs for _i = 0 .. loop - 1 */
};

static inline void cnm_check_tcase(Suite *s, const char *name,
				   const struct cnm_tcase_opt *opt,
				   const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	if (opt && (opt->setup || opt->teardown))
		tcase_add_checked_fixture(tc, opt->setup, opt->teardown);
	if (opt && opt->timeout > 0)
		tcase_set_timeout(tc, opt->timeout);
	for (; *tests; tests++)
		tcase_add_loop_test(tc, *tests, 0,
				    opt && opt->loop > 0 ? opt->loop : 1);
	suite_add_tcase(s, tc);
}

static inline int cnm_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* the suite NAME of one test case NAME holding tests, run */
static inline int cnm_check_main(const char *name,
				 const struct cnm_tcase_opt *opt,
				 const TTest *const *tests)
{
	Suite *s = suite_create(name);

	cnm_check_tcase(s, name, opt, tests);
	return cnm_check_run(s);
}

#endif
