/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config - cnetmem-donor's settings: one opts table (common/opts.h) shared
 * by the command line and the config file, and one pure validate function
 * for relations between values. Threading: start-up only.
 */
#ifndef CNM_DONOR_CONFIG_H
#define CNM_DONOR_CONFIG_H

#include "common/opts.h"

#include <stdint.h>

enum donor_transport { DONOR_TCP, DONOR_RDMA, DONOR_AUTO };

struct donor_opts {
	char *config;
	char *listen;
	uint64_t memory;
	char *key_file;
	struct opt_strlist client; /* NAME:KEYFILE[:QUOTA] */
	char *operator_key_file;
	char *port_file;
	int foreground;
	int insecure;
	long grace_period; /* seconds */
	int transport;	   /* enum donor_transport */
	long max_clients;
	long max_startups;
	long threads; /* TCP event loops; 0: one per CPU */
	uint64_t low_watermark;
	uint64_t high_watermark;
	long evict_wait; /* seconds */
	int log_level;	 /* index into log_level_names (common/log.h) */
	char *meminfo_file;
	long handshake_timeout; /* seconds */
	long cpu_latency_us;	/* -1: no PM QoS request */
	char *metrics_listen;	/* ADDR:PORT of /metrics, NULL: none */
};

extern const struct opt_def donor_opt_defs[];
/* names of enum donor_transport, as --transport takes them */
extern const char *const donor_transports[];

/*
 * Checks relations between values (listen address form, watermarks).
 * 0 or -EINVAL with o->err naming the origin of the bad value.
 */
int donor_opts_validate(struct opts *o, const struct donor_opts *c);

#endif
