// SPDX-License-Identifier: GPL-2.0-or-later
/* mounts - the cnetmem mounts of this host, their stats and health. */
#include "ctl/mounts.h"

#include "common/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATS_MAX (16u << 20)

int ctl_mounts_list(char ***mounts, int *n)
{
	return mountinfo_list(MOUNTINFO_CNETMEM, mounts, n);
}

void ctl_mounts_free(char **mounts, int n)
{
	mountinfo_free(mounts, n);
}

static int read_all(const char *path, char **out, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out_free;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= STATS_MAX) {
				ret = -EFBIG;
				goto out_close;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				goto out_close;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out_close;
		}
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;

out_close:
	close(fd);
out_free:
	free(buf);
	return ret;
}

int ctl_stats_load(const char *mnt, json_t **root, char **raw, size_t *rawlen,
		   char *err, size_t errlen)
{
	char path[4096], *buf = NULL;
	json_error_t je;
	size_t len = 0;
	json_t *j;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", mnt, CTL_STATS_NAME);
	ret = read_all(path, &buf, &len);
	if (ret) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(-ret),
			 ret == -ENOENT ? " (is it a cnetmem mount?)" : "");
		return ret;
	}
	j = json_loadb(buf, len, 0, &je);
	if (!j || !json_is_object(j)) {
		snprintf(err, errlen, "%s: not the JSON object expected: %s",
			 path, j ? "not an object" : je.text);
		json_decref(j);
		free(buf);
		return -EINVAL;
	}
	*root = j;
	if (raw) {
		*raw = buf;
		*rawlen = len;
	} else {
		free(buf);
	}
	return 0;
}

double ctl_jnum(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

const char *ctl_jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "-";
}

enum ctl_health ctl_health_of(const json_t *root, double grace_s, char *why,
			      size_t len)
{
	double lost = ctl_jnum(root, "lost_pages"),
	       degraded = ctl_jnum(root, "degraded_slabs"),
	       secs = ctl_jnum(root, "degraded_ms") / 1000.0;

	if (lost > 0) {
		snprintf(why, len, "%.0f pages lost", lost);
		return CTL_HEALTH_LOST_PAGES;
	}
	if (degraded > 0 && secs >= grace_s) {
		snprintf(why, len,
			 "%.0f slabs with fewer copies than asked for, for "
			 "%.0f s",
			 degraded, secs);
		return CTL_HEALTH_DEGRADED_PAST_GRACE;
	}
	if (degraded > 0) {
		snprintf(why, len,
			 "%.0f slabs with fewer copies than asked for, for "
			 "%.0f s (repairing)",
			 degraded, secs);
		return CTL_HEALTH_DEGRADED;
	}
	snprintf(why, len, "every page has its copies");
	return CTL_HEALTH_OK;
}

const char *ctl_health_name(enum ctl_health h)
{
	switch (h) {
	case CTL_HEALTH_OK:
		return "ok";
	case CTL_HEALTH_DEGRADED:
		return "degraded";
	case CTL_HEALTH_DEGRADED_PAST_GRACE:
		return "degraded-too-long";
	case CTL_HEALTH_LOST_PAGES:
		return "lost-pages";
	}
	return "unknown";
}
