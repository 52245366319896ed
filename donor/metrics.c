// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * metrics - the donor's /metrics (--metrics-listen): its counters and
 * state in Prometheus' text format, named as node_exporter names things
 * (cnetmem_donor_ prefix, base units, _total counters). Rendered on the
 * HTTP server's thread from donor_metrics_get(), which takes the donor's
 * lock only to walk its tables.
 */
#include "donor/server.h"

#include "cnm_config.h"
#include "common/prom.h"
#include "donor/session.h"

#include <time.h>

struct gauge {
	const char *name, *type, *help;
	double v;
};

int donor_metrics_render(struct prom *p, void *arg)
{
	struct donor *d = arg;
	struct donor_metrics m;
	char l[PROM_LABELS_MAX];
	const struct gauge *g;

	donor_metrics_get(d, &m);
	const struct gauge gs[] = {
		{ "cnetmem_donor_memory_bytes", "gauge",
		  "Memory this donor lends (its locked pool).",
		  (double)m.total_bytes },
		{ "cnetmem_donor_memory_free_bytes", "gauge",
		  "Memory of the pool no client holds.", (double)m.free_bytes },
		{ "cnetmem_donor_host_available_bytes", "gauge",
		  "MemAvailable of the donor's host at the last sample.",
		  (double)m.host_avail_bytes },
		{ "cnetmem_donor_host_available_trend_bytes_per_second",
		  "gauge", "Slope of the host's MemAvailable (growing > 0).",
		  (double)m.host_trend_bps },
		{ "cnetmem_donor_read_bytes_total", "counter",
		  "Bytes clients read from the pool over TCP.",
		  (double)m.bytes_read },
		{ "cnetmem_donor_written_bytes_total", "counter",
		  "Bytes clients wrote into the pool over TCP.",
		  (double)m.bytes_written },
		{ "cnetmem_donor_refused_requests_total", "counter",
		  "Data requests refused: outside the sender's slabs.",
		  (double)m.io_refused },
		{ "cnetmem_donor_slab_allocations_total", "counter",
		  "Slabs handed to clients.", (double)m.allocs },
		{ "cnetmem_donor_slab_allocation_failures_total", "counter",
		  "Slab requests refused (pool full or host short of memory).",
		  (double)m.allocs_refused },
		{ "cnetmem_donor_slab_frees_total", "counter",
		  "Slabs clients gave back (zeroed before reuse).",
		  (double)m.frees },
		{ "cnetmem_donor_evictions_requested_total", "counter",
		  "Slabs clients were asked to give back (EVICT).",
		  (double)m.evicts_asked },
		{ "cnetmem_donor_sessions", "gauge",
		  "Client sessions, attached or in their grace period.",
		  (double)m.sessions },
		{ "cnetmem_donor_connections", "gauge",
		  "Authenticated connections attached.", (double)m.conns },
		{ "cnetmem_donor_slabs_evicting", "gauge",
		  "Slabs asked back and not yet given back.",
		  (double)m.evicting },
		{ "cnetmem_donor_refusing_slabs", "gauge",
		  "1 while the host is below its low watermark.",
		  (double)m.refusing },
		{ "cnetmem_donor_start_time_seconds", "gauge",
		  "Start time of the donor since the epoch (a change is a "
		  "restart: its clients' pages there are gone).",
		  (double)(time(NULL) - (time_t)(m.uptime_ms / 1000)) },
		{ NULL, NULL, NULL, 0 },
	};

	for (g = gs; g->name; g++) {
		prom_family(p, g->name, g->type, g->help);
		prom_sample(p, g->name, NULL, g->v);
	}
	prom_family(p, "cnetmem_donor_requests_total", "counter",
		    "Data requests served over TCP (RDMA ones are one-sided "
		    "and never reach the donor's threads).");
	prom_sample(p, "cnetmem_donor_requests_total",
		    prom_labels(l, sizeof(l), "op", "read", NULL),
		    (double)m.reads);
	prom_sample(p, "cnetmem_donor_requests_total",
		    prom_labels(l, sizeof(l), "op", "write", NULL),
		    (double)m.writes);
	prom_family(p, "cnetmem_donor_request_duration_seconds", "histogram",
		    "Time to serve one TCP data request, header to last "
		    "byte.");
	prom_histogram(p, "cnetmem_donor_request_duration_seconds", NULL,
		       donor_io_le_s, m.io_hist, DONOR_IO_HIST - 1,
		       (double)m.io_ns_sum / 1e9);
	prom_family(p, "cnetmem_donor_build_info", "gauge",
		    "Version of cnetmem-donor (value 1).");
	prom_sample(p, "cnetmem_donor_build_info",
		    prom_labels(l, sizeof(l), "version", CNM_VERSION, NULL), 1);
	return p->err;
}
