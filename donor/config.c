// SPDX-License-Identifier: GPL-2.0-or-later
/* config - cnetmem-donor's settings table and validation. */
#include "donor/config.h"

#include "common/cpu_latency.h"
#include "common/log.h"
#include "common/parse.h"

#include <errno.h>
#include <stddef.h>
#include <syslog.h>

const char *const donor_transports[] = { "tcp", "rdma", "auto", NULL };

#define F(x) offsetof(struct donor_opts, x)
const struct opt_def donor_opt_defs[] = {
	{ "config", 'c', OPT_STR, F(config), NULL, 0, 0, NULL, "FILE",
	  "read settings from this libconfig file first" },
	{ "listen", 'l', OPT_STR, F(listen), NULL, 0, 0, NULL, "ADDR:PORT",
	  "address to serve on; port 0 takes an ephemeral port" },
	{ "memory", 'm', OPT_SIZE, F(memory), NULL, 1 << 20, 1ull << 50, NULL,
	  "SIZE", "memory to donate (K/M/G suffixes), reserved up front" },
	{ "key-file", 'k', OPT_STR, F(key_file), NULL, 0, 0, NULL, "FILE",
	  "key (mode 0600) of the client identity 'default'" },
	{ "client", 0, OPT_STRLIST, F(client), NULL, 0, 0, NULL,
	  "NAME:KEYFILE[:QUOTA]",
	  "a client identity, its key and slab quota (repeatable)" },
	{ "operator-key-file", 0, OPT_STR, F(operator_key_file), NULL, 0, 0,
	  NULL, "FILE", "key of the operator (reclaim; cnetmemctl)" },
	{ "port-file", 0, OPT_STR, F(port_file), NULL, 0, 0, NULL, "FILE",
	  "write the bound port here once accepting" },
	{ "foreground", 'f', OPT_BOOL, F(foreground), "false", 0, 0, NULL, NULL,
	  "stay in the foreground and log to stderr" },
	{ "insecure", 0, OPT_BOOL, F(insecure), "false", 0, 0, NULL, NULL,
	  "serve without any key: anyone who reaches the port may read and "
	  "write donated memory" },
	{ "grace-period", 0, OPT_INT, F(grace_period), "60", 0, 86400, NULL,
	  "SECONDS", "keep a disconnected client's slabs this long" },
	{ "transport", 0, OPT_ENUM, F(transport), "auto", 0, 0,
	  donor_transports, "tcp|rdma|auto", "listeners to run" },
	{ "max-clients", 0, OPT_INT, F(max_clients), "0", 0, 1 << 20, NULL, "N",
	  "authenticated connections served at once (0: as many as file "
	  "descriptors allow)" },
	{ "max-startups", 0, OPT_INT, F(max_startups), "10", 1, 1024, NULL, "N",
	  "connections still authenticating at once; the oldest makes way" },
	{ "threads", 0, OPT_INT, F(threads), "0", 0, 64, NULL, "N",
	  "threads serving TCP connections, whatever their number (0: one "
	  "per CPU)" },
	{ "low-watermark", 0, OPT_SIZE, F(low_watermark), "0", 0, 0, NULL,
	  "SIZE", "below this host MemAvailable, ask slabs back (0: off)" },
	{ "high-watermark", 0, OPT_SIZE, F(high_watermark), "0", 0, 0, NULL,
	  "SIZE", "above this host MemAvailable, offer slabs again" },
	{ "evict-wait", 0, OPT_INT, F(evict_wait), "30", 1, 3600, NULL,
	  "SECONDS", "deadline given to clients to hand a slab back" },
	LOG_LEVEL_OPT(F(log_level)),
	{ "metrics-listen", 0, OPT_STR, F(metrics_listen), NULL, 0, 0, NULL,
	  "ADDR:PORT",
	  "serve Prometheus metrics on http://ADDR:PORT/metrics (port 0: "
	  "an ephemeral port, logged)" },
	{ "handshake-timeout", 0, OPT_INT, F(handshake_timeout), "10", 1, 600,
	  NULL, "SECONDS", "time a new connection has to authenticate" },
	CPU_LATENCY_OPT(F(cpu_latency_us)),
	{ "meminfo-file", 0, OPT_STR, F(meminfo_file), "/proc/meminfo", 0, 0,
	  NULL, "FILE",
	  "where to read MemAvailable (a container's view, or tests)" },
	OPT_END
};

int donor_opts_validate(struct opts *o, const struct donor_opts *c)
{
	char host[256], port[32];

	if (!c->listen)
		return opts_fail(o, "listen", "required (e.g. 0.0.0.0:7700)");
	if (parse_hostport(c->listen, NULL, host, sizeof(host), port,
			   sizeof(port)))
		return opts_fail(o, "listen", "'%s' is not ADDR:PORT",
				 c->listen);
	if (!c->memory)
		return opts_fail(o, "memory", "required (e.g. 4G)");
	if (c->metrics_listen &&
	    parse_hostport(c->metrics_listen, NULL, host, sizeof(host), port,
			   sizeof(port)))
		return opts_fail(o, "metrics-listen", "'%s' is not ADDR:PORT",
				 c->metrics_listen);
	if (c->high_watermark && c->low_watermark > c->high_watermark)
		return opts_fail(o, "low-watermark",
				 "must not be above high-watermark");
	if (c->high_watermark && !c->low_watermark)
		return opts_fail(o, "high-watermark",
				 "needs low-watermark as well");
	return 0;
}
