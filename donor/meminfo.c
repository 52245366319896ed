// SPDX-License-Identifier: GPL-2.0-or-later
/* meminfo - MemAvailable and its least-squares trend. */
#include "donor/meminfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int meminfo_parse(const char *text, uint64_t *avail_bytes)
{
	static const char key[] = "MemAvailable:";
	const char *p = text;
	unsigned long long kb;
	char *end;

	while (p && *p) {
		if (!strncmp(p, key, sizeof(key) - 1)) {
			p += sizeof(key) - 1;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			errno = 0;
			kb = strtoull(p, &end, 10);
			if (errno || kb > UINT64_MAX / 1024 ||
			    strncmp(end, " kB", 3))
				return -EINVAL;
			*avail_bytes = kb * 1024;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -EINVAL;
}

int meminfo_read(const char *path, uint64_t *avail_bytes)
{
	char buf[8192];
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	buf[n] = '\0';
	return meminfo_parse(buf, avail_bytes);
}

void trend_add(struct trend *t, uint64_t t_ms, uint64_t value)
{
	t->t_ms[t->head] = t_ms;
	t->v[t->head] = value;
	t->head = (t->head + 1) % TREND_WINDOW;
	if (t->n < TREND_WINDOW)
		t->n++;
}

uint64_t trend_last(const struct trend *t)
{
	if (!t->n)
		return 0;
	return t->v[(t->head + TREND_WINDOW - 1) % TREND_WINDOW];
}

int64_t trend_slope(const struct trend *t)
{
	double mt = 0, mv = 0, sxy = 0, sxx = 0, x0, v0;
	unsigned int first = (t->head + TREND_WINDOW - t->n) % TREND_WINDOW;

	if (t->n < 2)
		return 0;
	/* relative to the first sample, so doubles keep their precision */
	x0 = (double)t->t_ms[first];
	v0 = (double)t->v[first];
	for (unsigned int k = 0; k < t->n; k++) {
		unsigned int i = (first + k) % TREND_WINDOW;

		mt += ((double)t->t_ms[i] - x0) / 1000.0;
		mv += (double)t->v[i] - v0;
	}
	mt /= t->n;
	mv /= t->n;
	for (unsigned int k = 0; k < t->n; k++) {
		unsigned int i = (first + k) % TREND_WINDOW;
		double dx = ((double)t->t_ms[i] - x0) / 1000.0 - mt;

		sxx += dx * dx;
		sxy += dx * ((double)t->v[i] - v0 - mv);
	}
	if (sxx <= 0)
		return 0;
	return (int64_t)(sxy / sxx);
}
