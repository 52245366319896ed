// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl list [--grace SECONDS] [MOUNTPOINT...] - every cnetmem mount
 * of the host (/proc/self/mountinfo), or those named, with its health,
 * use and donors. Exits CTL_EXIT_UNHEALTHY when a mount listed lost pages,
 * stayed degraded past the grace or cannot tell its state.
 */
#include "common/parse.h"
#include "ctl/mounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_list(int argc, char **argv);

static int list_one(const char *mnt, double grace)
{
	char err[4200], why[160], used[32], cap[32];
	unsigned int up = 0, nd = 0;
	enum ctl_health h;
	json_t *root, *d;
	size_t i;

	if (ctl_stats_load(mnt, &root, NULL, NULL, err, sizeof(err))) {
		printf("%-30s %-17s %s\n", mnt, "unreadable", err);
		return 1;
	}
	h = ctl_health_of(root, grace, why, sizeof(why));
	json_array_foreach(json_object_get(root, "donors"), i, d)
	{
		if (!strcmp(ctl_jstr(d, "state"), "drained"))
			continue;
		nd++;
		up += !strcmp(ctl_jstr(d, "state"), "up");
	}
	format_size((uint64_t)ctl_jnum(root, "used_bytes"), used, sizeof(used));
	format_size((uint64_t)ctl_jnum(root, "capacity_bytes"), cap,
		    sizeof(cap));
	if (json_object_get(root, "slab_size") && nd)
		printf("%-30s %-17s %7s %7s %2u/%-2u  %s\n", mnt,
		       ctl_health_name(h), used, cap, up, nd, why);
	else
		printf("%-30s %-17s %7s %7s %5s  %s\n", mnt, ctl_health_name(h),
		       used, cap, "local", why);
	json_decref(root);
	return h == CTL_HEALTH_LOST_PAGES ||
	       h == CTL_HEALTH_DEGRADED_PAST_GRACE;
}

/* Is mnt one of the mount points named on the command line (all if
 * none)? Compared as given and as realpath(3) resolves them. */
static int wanted(const char *mnt, const char *const *names, int nnames)
{
	char *real;
	int hit = 0;

	for (int i = 0; i < nnames && !hit; i++) {
		real = realpath(names[i], NULL);
		hit = !strcmp(mnt, names[i]) || (real && !strcmp(mnt, real));
		free(real);
	}
	return !nnames || hit;
}

int cmd_list(int argc, char **argv)
{
	double grace = CTL_DEGRADED_GRACE_S;
	const char *names[64];
	char **mounts, *end;
	int n, ret, bad = 0, nnames = 0, shown = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grace") && i + 1 < argc) {
			grace = strtod(argv[++i], &end);
			if (!*end && grace >= 0)
				continue;
		} else if (argv[i][0] != '-' && nnames < 64) {
			names[nnames++] = argv[i];
			continue;
		}
		fprintf(stderr, "usage: cnetmemctl list [--grace SECONDS] "
				"[MOUNTPOINT...]\n");
		return 2;
	}
	ret = ctl_mounts_list(&mounts, &n);
	if (ret) {
		fprintf(stderr, "cnetmemctl: /proc/self/mountinfo: %s\n",
			strerror(-ret));
		return 1;
	}
	printf("%-30s %-17s %7s %7s %5s  %s\n", "mountpoint", "state", "used",
	       "size", "donors", "health");
	for (int i = 0; i < n; i++) {
		if (!wanted(mounts[i], names, nnames))
			continue;
		bad += list_one(mounts[i], grace);
		shown++;
	}
	ctl_mounts_free(mounts, n);
	if (nnames && shown < nnames) {
		fprintf(stderr,
			"cnetmemctl: %d of the mount points named are "
			"not cnetmem mounts\n",
			nnames - shown);
		return 1;
	}
	return bad ? CTL_EXIT_UNHEALTHY : 0;
}
