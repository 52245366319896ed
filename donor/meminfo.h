/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * meminfo - the donor host's available memory and its trend: MemAvailable
 * from /proc/meminfo, sampled about once a second into a sliding window,
 * and the least-squares slope of that window in bytes per second
 * (positive: memory is being freed on the host).
 *
 * Threading: pure functions on caller-owned structs; the caller locks.
 */
#ifndef CNM_DONOR_MEMINFO_H
#define CNM_DONOR_MEMINFO_H

#include <stddef.h>
#include <stdint.h>

#define TREND_WINDOW 30 /* samples kept */

struct trend {
	uint64_t t_ms[TREND_WINDOW];
	uint64_t v[TREND_WINDOW];
	unsigned int n, head; /* count and index of the next slot */
};

/* Parses the text of /proc/meminfo; 0 or -EINVAL when MemAvailable is
 * missing or malformed. */
int meminfo_parse(const char *text, uint64_t *avail_bytes);
/* Reads and parses a meminfo file; 0 or -errno. */
int meminfo_read(const char *path, uint64_t *avail_bytes);

void trend_add(struct trend *t, uint64_t t_ms, uint64_t value);
/* Least-squares slope of the window in units per second; 0 with fewer
 * than two samples or no time spread. */
int64_t trend_slope(const struct trend *t);
/* The newest sample, 0 when empty. */
uint64_t trend_last(const struct trend *t);

#endif
