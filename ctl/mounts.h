/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mounts - cnetmemctl's view of the cnetmem mounts of this host: which
 * there are (common/mountinfo.h, file system type fuse.cnetmem), the
 * state of one (MOUNTPOINT/.cnetmem-stats, JSON parsed with jansson), and
 * its health.
 *
 * Ownership: lists and JSON trees returned are the caller's (free with
 * ctl_mounts_free() and json_decref()). Threading: one thread, or one
 * call at a time per object.
 */
#ifndef CNM_CTL_MOUNTS_H
#define CNM_CTL_MOUNTS_H

#include <jansson.h>
#include <stddef.h>

#define CTL_STATS_NAME	     ".cnetmem-stats"
#define CTL_DEGRADED_GRACE_S 60.0 /* default: then degraded is unhealthy */

/* Exit status of `stats` and `list` for an unhealthy mount. */
#define CTL_EXIT_UNHEALTHY 3

enum ctl_health {
	CTL_HEALTH_OK,
	CTL_HEALTH_DEGRADED, /* fewer than R copies, for less than the grace */
	CTL_HEALTH_DEGRADED_PAST_GRACE,
	CTL_HEALTH_LOST_PAGES,
};

/* The mount points of every cnetmem mount, in mount order. 0 or -errno. */
int ctl_mounts_list(char ***mounts, int *n);
void ctl_mounts_free(char **mounts, int n);
/*
 * Reads and parses MOUNTPOINT/.cnetmem-stats. 0 with *root set (and the
 * raw text in *raw, *rawlen if raw is not NULL; free() it), or -errno
 * with a message in err.
 */
int ctl_stats_load(const char *mnt, json_t **root, char **raw, size_t *rawlen,
		   char *err, size_t errlen);
/* Health of a parsed stats object; why gets a short sentence. */
enum ctl_health ctl_health_of(const json_t *root, double grace_s, char *why,
			      size_t len);
const char *ctl_health_name(enum ctl_health h);
/* A number member of obj (0 when absent or not a number). */
double ctl_jnum(const json_t *obj, const char *key);
/* A string member of obj ("-" when absent). */
const char *ctl_jstr(const json_t *obj, const char *key);

#endif
