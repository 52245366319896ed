// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl metrics [--listen ADDR:PORT] - every cnetmem mount of the
 * host in Prometheus' text format: printed once (for node_exporter's
 * textfile collector), or served on http://ADDR:PORT/metrics until
 * SIGTERM/SIGINT, read afresh at each scrape.
 *
 * Names follow node_exporter's conventions: cnetmem_mount_ prefix, base
 * units, _total on counters; every sample of a mount carries
 * mountpoint="...", those of a donor also donor= and transport=. Samples
 * of one family are written together, so the mounts are all read first.
 */
#include "common/metrics_http.h"
#include "common/prom.h"
#include "ctl/mounts.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_metrics(int argc, char **argv);

struct mstat {
	char *mnt;
	json_t *root; /* NULL: stats unreadable */
};

/* a number member of the stats (or of a donor) as one metric */
struct mdef {
	const char *name, *type, *key, *help;
	double scale;
};

static const struct mdef mount_defs[] = {
	{ "cnetmem_mount_capacity_bytes", "gauge", "capacity_bytes",
	  "Capacity of the mount (statfs; ENOSPC beyond).", 1 },
	{ "cnetmem_mount_used_bytes", "gauge", "used_bytes",
	  "Bytes of the mount holding data.", 1 },
	{ "cnetmem_mount_files", "gauge", "files", "Regular files.", 1 },
	{ "cnetmem_mount_read_bytes_total", "counter", "bytes_read",
	  "Bytes read from the mount's files.", 1 },
	{ "cnetmem_mount_written_bytes_total", "counter", "bytes_written",
	  "Bytes written to the mount's files.", 1 },
	{ "cnetmem_mount_partial_page_reads_total", "counter", "rmw_reads",
	  "Pages read to complete a partial-page write.", 1 },
	{ "cnetmem_mount_request_buffer_waits_total", "counter",
	  "request_waits", "Requests that waited for a free buffer.", 1 },
	{ "cnetmem_mount_slabs", "gauge", "slabs",
	  "Slabs of the page store in use.", 1 },
	{ "cnetmem_mount_degraded_slabs", "gauge", "degraded_slabs",
	  "Slabs with fewer live copies than --replicas.", 1 },
	{ "cnetmem_mount_degraded_seconds", "gauge", "degraded_ms",
	  "How long some slab has had fewer live copies than asked for "
	  "(0 when none).",
	  1e-3 },
	{ "cnetmem_mount_repaired_slabs_total", "counter", "repaired_slabs",
	  "Slabs brought back to their number of copies.", 1 },
	{ "cnetmem_mount_migrated_slabs_total", "counter", "migrated_slabs",
	  "Slabs moved off a donor that asked for its memory back.", 1 },
	{ "cnetmem_mount_lost_pages_total", "counter", "lost_pages",
	  "Pages whose every copy was lost (reads of them fail).", 1 },
	{ "cnetmem_mount_integrity_failures_total", "counter",
	  "integrity_failures",
	  "Pages read back that failed their integrity check.", 1 },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const struct mdef donor_defs[] = {
	{ "cnetmem_mount_donor_slabs", "gauge", "slabs",
	  "Slabs of this mount the donor holds.", 1 },
	{ "cnetmem_mount_donor_read_bytes_total", "counter", "bytes_read",
	  "Bytes read from the donor.", 1 },
	{ "cnetmem_mount_donor_written_bytes_total", "counter", "bytes_written",
	  "Bytes written to the donor.", 1 },
	{ "cnetmem_mount_donor_latency_seconds", "gauge", "latency_us",
	  "Moving average of a page I/O's time on this donor.", 1e-6 },
	{ "cnetmem_mount_donor_ios_total", "counter", "ios",
	  "Page runs sent to the donor.", 1 },
	{ "cnetmem_mount_donor_operations_total", "counter", "ops",
	  "Wire operations after merging (batching).", 1 },
	{ "cnetmem_mount_donor_posts_total", "counter", "posts",
	  "Posts (doorbells, sendmsg calls) carrying them.", 1 },
	{ "cnetmem_mount_donor_errors_total", "counter", "errors",
	  "Requests to the donor that failed.", 1 },
	{ "cnetmem_mount_donor_timeouts_total", "counter", "timeouts",
	  "Requests to the donor that timed out.", 1 },
	{ "cnetmem_mount_donor_reconnects_total", "counter", "reconnects",
	  "Connections to the donor made again.", 1 },
	{ "cnetmem_mount_donor_restarts_total", "counter", "restarts",
	  "Restarts of the donor seen (its copies there were lost).", 1 },
	{ NULL, NULL, NULL, NULL, 0 },
};

static char *mount_labels(char *l, size_t len, const struct mstat *m)
{
	return prom_labels(l, len, "mountpoint", m->mnt, NULL);
}

static void mount_scalars(struct prom *p, const struct mstat *ms, int n)
{
	char l[PROM_LABELS_MAX];

	prom_family(p, "cnetmem_mount_up", "gauge",
		    "1 when the mount's stats file answers.");
	for (int i = 0; i < n; i++)
		prom_sample(p, "cnetmem_mount_up",
			    mount_labels(l, sizeof(l), &ms[i]),
			    ms[i].root != NULL);
	for (const struct mdef *d = mount_defs; d->name; d++) {
		int seen = 0;

		for (int i = 0; i < n; i++) {
			json_t *v = json_object_get(ms[i].root, d->key);

			if (!json_is_number(v))
				continue;
			if (!seen++)
				prom_family(p, d->name, d->type, d->help);
			prom_sample(p, d->name,
				    mount_labels(l, sizeof(l), &ms[i]),
				    json_number_value(v) * d->scale);
		}
	}
}

static void mount_ops(struct prom *p, const struct mstat *ms, int n)
{
	static const char *const names[2] = {
		"cnetmem_mount_operations_total",
		"cnetmem_mount_operation_errors_total"
	};
	char l[PROM_LABELS_MAX];
	const char *op;
	json_t *o;

	for (int k = 0; k < 2; k++) {
		prom_family(p, names[k], "counter",
			    k ? "FUSE operations that failed, by operation."
			      : "FUSE operations, by operation.");
		for (int i = 0; i < n; i++)
			json_object_foreach(json_object_get(ms[i].root, "ops"),
					    op, o)
				prom_sample(
					p, names[k],
					prom_labels(l, sizeof(l), "mountpoint",
						    ms[i].mnt, "op", op, NULL),
					ctl_jnum(o, k ? "errors" : "count"));
	}
}

/* {"le": [...], "counts": [...], SUMKEY: N} as a histogram in base units:
 * bounds times scale, the sum times sum_scale */
static void hist(struct prom *p, const char *name, const char *labels,
		 const json_t *h, double scale, const char *sumkey,
		 double sum_scale)
{
	json_t *le = json_object_get(h, "le"),
	       *counts = json_object_get(h, "counts");
	size_t nle = json_array_size(le);
	double bounds[64];
	uint64_t c[65];

	if (!nle || nle > 64 || json_array_size(counts) != nle + 1)
		return;
	for (size_t i = 0; i < nle; i++)
		bounds[i] = json_number_value(json_array_get(le, i)) * scale;
	for (size_t i = 0; i <= nle; i++)
		c[i] = (uint64_t)json_number_value(json_array_get(counts, i));
	prom_histogram(p, name, labels, bounds, c, nle,
		       ctl_jnum(h, sumkey) * sum_scale);
}

static const struct hdef {
	const char *name, *help, *key[2], *sumkey;
	double scale, sum_scale;
} hists[] = {
	{ "cnetmem_mount_request_size_bytes",
	  "Sizes of the FUSE read and write requests.",
	  { "read_kib", "write_kib" },
	  "sum_bytes",
	  1024,
	  1 },
	{ "cnetmem_mount_request_duration_seconds",
	  "FUSE reads and writes through the page store, arrival to reply.",
	  { "read_latency_us", "write_latency_us" },
	  "sum_ns",
	  1e-6,
	  1e-9 },
};

static void mount_hists(struct prom *p, const struct mstat *ms, int n)
{
	static const char *const ops[2] = { "read", "write" };
	char l[PROM_LABELS_MAX];

	for (size_t k = 0; k < sizeof(hists) / sizeof(hists[0]); k++) {
		const struct hdef *h = &hists[k];

		prom_family(p, h->name, "histogram", h->help);
		for (int i = 0; i < n; i++)
			for (int o = 0; o < 2; o++)
				hist(p, h->name,
				     prom_labels(l, sizeof(l), "mountpoint",
						 ms[i].mnt, "op", ops[o], NULL),
				     json_object_get(ms[i].root, h->key[o]),
				     h->scale, h->sumkey, h->sum_scale);
	}
}

static void mount_donors(struct prom *p, const struct mstat *ms, int n)
{
	static const char up[] = "cnetmem_mount_donor_up";
	char l[PROM_LABELS_MAX];
	const struct mdef *def;
	size_t k;
	json_t *d;

	prom_family(p, up, "gauge",
		    "1 while the donor is connected and used (0: down, "
		    "checking, draining or drained).");
	for (int i = 0; i < n; i++)
		json_array_foreach(json_object_get(ms[i].root, "donors"), k, d)
			prom_sample(p, up,
				    prom_labels(l, sizeof(l), "mountpoint",
						ms[i].mnt, "donor",
						ctl_jstr(d, "addr"),
						"transport",
						ctl_jstr(d, "transport"), NULL),
				    !strcmp(ctl_jstr(d, "state"), "up"));
	for (def = donor_defs; def->name; def++) {
		prom_family(p, def->name, def->type, def->help);
		for (int i = 0; i < n; i++)
			json_array_foreach(
				json_object_get(ms[i].root, "donors"), k, d)
				prom_sample(
					p, def->name,
					prom_labels(l, sizeof(l), "mountpoint",
						    ms[i].mnt, "donor",
						    ctl_jstr(d, "addr"),
						    "transport",
						    ctl_jstr(d, "transport"),
						    NULL),
					ctl_jnum(d, def->key) * def->scale);
	}
}

/* metrics_render_fn: every mount of the host, read now */
static int render(struct prom *p, void *arg)
{
	struct mstat *ms;
	char **mounts, err[4200];
	int n, ret;

	ret = ctl_mounts_list(&mounts, &n);
	if (ret)
		return ret;
	ms = calloc(n ? n : 1, sizeof(*ms));
	if (!ms) {
		ctl_mounts_free(mounts, n);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		ms[i].mnt = mounts[i];
		if (ctl_stats_load(mounts[i], &ms[i].root, NULL, NULL, err,
				   sizeof(err)))
			ms[i].root = NULL;
	}
	mount_scalars(p, ms, n);
	mount_ops(p, ms, n);
	mount_hists(p, ms, n);
	mount_donors(p, ms, n);
	for (int i = 0; i < n; i++)
		json_decref(ms[i].root);
	free(ms);
	ctl_mounts_free(mounts, n);
	return p->err;
}

static int serve(const char *listen)
{
	struct metrics_http *mh;
	char err[512];
	uint16_t port;
	sigset_t sigs;
	int sig, ret;

	/* the server's thread inherits the mask: sigwait() gets them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ret = metrics_http_start(listen, render, NULL, &mh, &port, err,
				 sizeof(err));
	if (ret) {
		fprintf(stderr, "cnetmemctl: %s\n", err);
		return 1;
	}
	printf("cnetmemctl: serving the metrics of this host's cnetmem "
	       "mounts on port %u (/metrics)\n",
	       port);
	fflush(stdout);
	do
		ret = sigwait(&sigs, &sig);
	while (ret == EINTR);
	metrics_http_stop(mh);
	return 0;
}

int cmd_metrics(int argc, char **argv)
{
	struct prom p;
	int ret;

	if (argc == 3 && !strcmp(argv[1], "--listen"))
		return serve(argv[2]);
	if (argc != 1) {
		fprintf(stderr,
			"usage: cnetmemctl metrics [--listen ADDR:PORT]\n");
		return 2;
	}
	prom_init(&p);
	ret = render(&p, NULL);
	if (ret || !p.buf) {
		fprintf(stderr, "cnetmemctl: metrics: %s\n",
			strerror(ret ? -ret : ENOMEM));
		prom_free(&p);
		return 1;
	}
	fwrite(p.buf, 1, p.len, stdout);
	prom_free(&p);
	return 0;
}
