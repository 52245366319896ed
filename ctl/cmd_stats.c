// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl stats MOUNTPOINT [--json] [--grace SECONDS] - a cnetmem
 * mount's state, read from MOUNTPOINT/.cnetmem-stats (a JSON object written
 * by fs/fs_stats.c), printed as tables, or raw with --json. The exit status
 * says the mount's health: CTL_EXIT_UNHEALTHY when pages were lost or
 * copies stayed degraded longer than the grace (default 60 s), so a
 * monitoring check or a unit's ExecStartPost can act on it.
 */
#include "common/parse.h"
#include "ctl/mounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_stats(int argc, char **argv);

static const char *sz(double bytes, char *buf, size_t len)
{
	return format_size(bytes < 0 ? 0 : (uint64_t)bytes, buf, len);
}

/* Mean of a histogram {"le": [...], "counts": [...]}, each bucket taken
 * at its upper bound (the open last one at twice the last bound). */
static double hist_mean(const json_t *h)
{
	json_t *le = json_object_get(h, "le"), *counts;
	double n = 0, sum = 0, bound = 0;
	size_t i;
	json_t *c;

	counts = json_object_get(h, "counts");
	json_array_foreach(counts, i, c)
	{
		if (i < json_array_size(le))
			bound = json_number_value(json_array_get(le, i));
		else
			bound *= 2;
		n += json_number_value(c);
		sum += json_number_value(c) * bound;
	}
	return n ? sum / n : 0;
}

static void print_sizes(const json_t *root, const char *key, const char *name)
{
	json_t *h = json_object_get(root, key), *le, *counts, *c;
	size_t i;

	counts = json_object_get(h, "counts");
	le = json_object_get(h, "le");
	if (!json_is_array(counts))
		return;
	printf("  %s sizes:", name);
	json_array_foreach(counts, i, c)
	{
		if (!json_number_value(c))
			continue;
		if (i < json_array_size(le))
			printf(" <=%.0fK:%.0f",
			       json_number_value(json_array_get(le, i)),
			       json_number_value(c));
		else
			printf(" more:%.0f", json_number_value(c));
	}
	printf("\n");
}

/* "read latency: mean 45.2us over 1200 requests, 99 % within 250us" */
static void print_latency(const json_t *root, const char *key, const char *name)
{
	json_t *h = json_object_get(root, key), *le, *counts, *c;
	double n = 0, seen = 0, p99 = -1;
	size_t i;

	counts = json_object_get(h, "counts");
	le = json_object_get(h, "le");
	json_array_foreach(counts, i, c) n += json_number_value(c);
	if (!n)
		return;
	json_array_foreach(counts, i, c)
	{
		seen += json_number_value(c);
		if (seen >= 0.99 * n) {
			p99 = i < json_array_size(le)
				      ? json_number_value(json_array_get(le, i))
				      : -1;
			break;
		}
	}
	printf("  %s latency: mean %.1fus over %.0f requests, 99%% ", name,
	       ctl_jnum(h, "sum_ns") / n / 1000.0, n);
	if (p99 < 0)
		printf("within more than the last bucket\n");
	else
		printf("within %.0fus\n", p99);
}

static void print_donors(const json_t *donors)
{
	char a[32], b[32], lat[32];
	const json_t *d;
	size_t i;

	if (!json_array_size(donors))
		return;
	printf("\n  %-22s %-9s %-8s %5s %9s %9s %9s %6s %7s %8s %7s\n", "donor",
	       "transport", "state", "slabs", "read", "written", "latency",
	       "errors", "badpage", "ops/post", "KiB/op");
	json_array_foreach(donors, i, d)
	{
		double posts = ctl_jnum(d, "posts");

		snprintf(lat, sizeof(lat), "%.1fus", ctl_jnum(d, "latency_us"));
		printf("  %-22s %-9s %-8s %5.0f %9s %9s %9s %6.0f %7.0f "
		       "%8.1f %7.1f\n",
		       ctl_jstr(d, "addr"), ctl_jstr(d, "transport"),
		       ctl_jstr(d, "state"), ctl_jnum(d, "slabs"),
		       sz(ctl_jnum(d, "bytes_read"), a, sizeof(a)),
		       sz(ctl_jnum(d, "bytes_written"), b, sizeof(b)), lat,
		       ctl_jnum(d, "errors") + ctl_jnum(d, "timeouts"),
		       ctl_jnum(d, "integrity_failures"),
		       posts ? ctl_jnum(d, "ops") / posts : 0.0,
		       hist_mean(json_object_get(d, "kib_per_op")));
	}
}

static void print_table(const json_t *root)
{
	const json_t *ops = json_object_get(root, "ops"), *o;
	double cap = ctl_jnum(root, "capacity_bytes"),
	       used = ctl_jnum(root, "used_bytes");
	char a[32], b[32], c[32];
	const char *name;

	printf("mount %s\n", ctl_jstr(root, "mountpoint"));
	printf("  capacity %s, used %s (%.1f%%), %.0f files, %.0f inodes\n",
	       sz(cap, a, sizeof(a)), sz(used, b, sizeof(b)),
	       cap ? 100.0 * used / cap : 0.0, ctl_jnum(root, "files"),
	       ctl_jnum(root, "inodes"));
	printf("  read %s, written %s, partial-page reads %.0f, "
	       "request waits %.0f (of %.0f buffers)\n",
	       sz(ctl_jnum(root, "bytes_read"), a, sizeof(a)),
	       sz(ctl_jnum(root, "bytes_written"), b, sizeof(b)),
	       ctl_jnum(root, "rmw_reads"), ctl_jnum(root, "request_waits"),
	       ctl_jnum(root, "request_buffers"));
	printf("  metadata %s of %s (namespace %s), page map nodes %.0f, "
	       "refused %.0f\n",
	       sz(ctl_jnum(root, "metadata_bytes"), a, sizeof(a)),
	       sz(ctl_jnum(root, "metadata_budget"), b, sizeof(b)),
	       sz(ctl_jnum(root, "namespace_bytes"), c, sizeof(c)),
	       ctl_jnum(root, "map_nodes_used"),
	       ctl_jnum(root, "metadata_enospc"));
	if (json_is_object(ops)) {
		printf("\n  %-12s %12s %8s\n", "operation", "count", "errors");
		json_object_foreach((json_t *)ops, name,
				    o) if (ctl_jnum(o, "count") ||
					   ctl_jnum(o, "errors"))
			printf("  %-12s %12.0f %8.0f\n", name,
			       ctl_jnum(o, "count"), ctl_jnum(o, "errors"));
	}
	print_sizes(root, "read_kib", "read");
	print_sizes(root, "write_kib", "write");
	print_latency(root, "read_latency_us", "read");
	print_latency(root, "write_latency_us", "write");
	if (json_object_get(root, "slab_size"))
		printf("\n  page store: slab %s, %.0f replica(s), %.0f slabs "
		       "(%.0f degraded), pages %.0f of %.0f, %.0f lost, "
		       "pages sealed: %s\n",
		       sz(ctl_jnum(root, "slab_size"), c, sizeof(c)),
		       ctl_jnum(root, "replicas"), ctl_jnum(root, "slabs"),
		       ctl_jnum(root, "degraded_slabs"),
		       ctl_jnum(root, "pages_used"),
		       ctl_jnum(root, "pages_total"),
		       ctl_jnum(root, "lost_pages"),
		       json_object_get(root, "encryption")
			       ? ctl_jstr(root, "encryption")
			       : "?");
	print_donors(json_object_get(root, "donors"));
}

static int usage(void)
{
	fprintf(stderr, "usage: cnetmemctl stats MOUNTPOINT [--json] "
			"[--grace SECONDS]\n");
	return 2;
}

int cmd_stats(int argc, char **argv)
{
	double grace = CTL_DEGRADED_GRACE_S;
	const char *mnt = NULL;
	char err[4200], why[160], *raw = NULL, *end;
	enum ctl_health h;
	json_t *root = NULL;
	int json = 0;
	size_t len = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--grace") && i + 1 < argc) {
			grace = strtod(argv[++i], &end);
			if (*end || grace < 0)
				return usage();
		} else if (argv[i][0] == '-' || mnt) {
			return usage();
		} else {
			mnt = argv[i];
		}
	}
	if (!mnt)
		return usage();
	if (ctl_stats_load(mnt, &root, &raw, &len, err, sizeof(err))) {
		fprintf(stderr, "cnetmemctl: %s\n", err);
		return 1;
	}
	h = ctl_health_of(root, grace, why, sizeof(why));
	if (json) {
		fwrite(raw, 1, len, stdout);
	} else {
		print_table(root);
		printf("\n  health: %s: %s\n", ctl_health_name(h), why);
	}
	json_decref(root);
	free(raw);
	if (h == CTL_HEALTH_LOST_PAGES || h == CTL_HEALTH_DEGRADED_PAST_GRACE) {
		fprintf(stderr, "cnetmemctl: mount %s: %s\n", mnt, why);
		return CTL_EXIT_UNHEALTHY;
	}
	return 0;
}
