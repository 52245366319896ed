// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl list [--grace SECONDS] - every cnetmem mount of the host
 * (/proc/self/mountinfo) with its health, use and donors. Exits
 * CTL_EXIT_UNHEALTHY when any mount lost pages, stayed degraded past the
 * grace or cannot tell its state.
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

int cmd_list(int argc, char **argv)
{
	double grace = CTL_DEGRADED_GRACE_S;
	char **mounts, *end;
	int n, ret, bad = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grace") && i + 1 < argc) {
			grace = strtod(argv[++i], &end);
			if (!*end && grace >= 0)
				continue;
		}
		fprintf(stderr, "usage: cnetmemctl list [--grace SECONDS]\n");
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
	for (int i = 0; i < n; i++)
		bad += list_one(mounts[i], grace);
	ctl_mounts_free(mounts, n);
	return bad ? CTL_EXIT_UNHEALTHY : 0;
}
