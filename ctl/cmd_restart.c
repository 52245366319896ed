// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl restart MOUNTPOINT [--timeout SECONDS] - replaces a mount's
 * serving process with the cnetmem binary now on disk (an upgrade, issue
 * 14) without unmounting, swap active or not: the mount's supervisor
 * (fs/supervisor.h), named with the serving process in the stats' "daemon"
 * object, gets SIGUSR1, kills the serving process and starts the binary at
 * the path it was itself started from; the new process takes over the
 * connection and the state. Waits until the stats name a new serving
 * process, then prints it.
 */
#include "common/parse.h"
#include "ctl/ctl.h"
#include "ctl/mounts.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cmd_restart(int argc, char **argv);

/* The "daemon" object of the mount's stats: 0 or -errno (printed unless
 * quiet). */
static int daemon_of(const char *mnt, long *pid, long *sup, long *restarts,
		     int quiet)
{
	char err[4200];
	json_t *root, *d;
	int ret;

	ret = ctl_stats_load(mnt, &root, NULL, NULL, err, sizeof(err));
	if (ret) {
		if (!quiet)
			ctl_err("%s", err);
		return ret;
	}
	d = json_object_get(root, "daemon");
	*pid = (long)ctl_jnum(d, "pid");
	*sup = (long)ctl_jnum(d, "supervisor");
	*restarts = (long)ctl_jnum(d, "restarts");
	ret = json_is_object(d) && *pid > 0 && *sup > 0 ? 0 : -EOPNOTSUPP;
	json_decref(root);
	if (ret && !quiet)
		ctl_err("%s: no supervisor to restart with (a cnetmem older "
			"than this cnetmemctl?)",
			mnt);
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int cmd_restart(int argc, char **argv)
{
	long pid, sup, restarts, npid = 0, nsup, nrestarts = 0;
	const char *mnt = NULL;
	double timeout = 30, t0;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = strtod(argv[++i], &end);
			if (*end || timeout <= 0) {
				ctl_err("--timeout %s: not a number of "
					"seconds",
					argv[i]);
				return 2;
			}
		} else if (!mnt && argv[i][0] != '-') {
			mnt = argv[i];
		} else {
			ctl_err("usage: cnetmemctl restart MOUNTPOINT "
				"[--timeout SECONDS]");
			return 2;
		}
	}
	if (!mnt) {
		ctl_err("usage: cnetmemctl restart MOUNTPOINT "
			"[--timeout SECONDS]");
		return 2;
	}
	if (daemon_of(mnt, &pid, &sup, &restarts, 0))
		return 1;
	if (kill((pid_t)sup, SIGUSR1)) {
		ctl_err("%s: supervisor %ld: %s", mnt, sup, strerror(errno));
		return 1;
	}
	t0 = now_s();
	while (now_s() - t0 < timeout) {
		/* blocks while no process serves: the kernel queues it */
		int ret = daemon_of(mnt, &npid, &nsup, &nrestarts, 1);

		if (ret == -ENOTCONN || ret == -ECONNABORTED) {
			ctl_err("%s: the mount died: its supervisor gave up "
				"(see its log)",
				mnt);
			return 1;
		}
		if (!ret && npid != pid && nrestarts > restarts) {
			printf("restarted %s: serving process %ld replaced by "
			       "%ld (restart %ld) in %.0f ms\n",
			       mnt, pid, npid, nrestarts,
			       (now_s() - t0) * 1000);
			return 0;
		}
		usleep(20000);
	}
	ctl_err("%s: serving process %ld not replaced within %.0f s (stats "
		"name %ld)",
		mnt, pid, timeout, npid);
	return 1;
}
