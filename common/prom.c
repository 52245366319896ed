// SPDX-License-Identifier: GPL-2.0-or-later
/* prom - Prometheus text format into a growing buffer. */
#include "common/prom.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prom_init(struct prom *p)
{
	memset(p, 0, sizeof(*p));
}

void prom_free(struct prom *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static void put(struct prom *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct prom *p, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *nb;
	int n;

	for (;;) {
		if (p->err)
			return;
		va_start(ap, fmt);
		n = vsnprintf(p->buf ? p->buf + p->len : NULL,
			      p->buf ? p->cap - p->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			p->err = -EINVAL;
			return;
		}
		if (p->buf && (size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
		cap = p->cap ? p->cap * 2 : 16384;
		while (cap < p->len + (size_t)n + 1)
			cap *= 2;
		nb = realloc(p->buf, cap);
		if (!nb) {
			p->err = -ENOMEM;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
}

/* Numbers as Prometheus reads them: integers without a fraction. */
static void put_value(struct prom *p, double v)
{
	if (isinf(v))
		put(p, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		put(p, "NaN");
	else if (v == (double)(int64_t)v && fabs(v) < 9e15)
		put(p, "%lld", (long long)v);
	else
		put(p, "%.9g", v);
}

void prom_family(struct prom *p, const char *name, const char *type,
		 const char *help)
{
	put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_sample(struct prom *p, const char *name, const char *labels,
		 double value)
{
	if (labels && *labels)
		put(p, "%s{%s} ", name, labels);
	else
		put(p, "%s ", name);
	put_value(p, value);
	put(p, "\n");
}

void prom_histogram(struct prom *p, const char *name, const char *labels,
		    const double *le, const uint64_t *counts, size_t nle,
		    double sum)
{
	const char *sep = labels && *labels ? "," : "";
	uint64_t cum = 0;

	for (size_t i = 0; i <= nle; i++) {
		cum += counts[i];
		put(p, "%s_bucket{%s%sle=\"", name, labels ? labels : "", sep);
		if (i < nle)
			put_value(p, le[i]);
		else
			put(p, "+Inf");
		put(p, "\"} %llu\n", (unsigned long long)cum);
	}
	if (labels && *labels) {
		put(p, "%s_sum{%s} ", name, labels);
		put_value(p, sum);
		put(p, "\n%s_count{%s} %llu\n", name, labels,
		    (unsigned long long)cum);
	} else {
		put(p, "%s_sum ", name);
		put_value(p, sum);
		put(p, "\n%s_count %llu\n", name, (unsigned long long)cum);
	}
}

char *prom_labels(char *out, size_t len, ...)
{
	const char *k, *v;
	size_t n = 0;
	va_list ap;

	if (!len)
		return out;
	out[0] = '\0';
	va_start(ap, len);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		n += snprintf(out + n, n < len ? len - n : 0, "%s%s=\"",
			      n ? "," : "", k);
		for (; v && *v && n + 3 < len; v++) {
			if (*v == '\\' || *v == '"') {
				out[n++] = '\\';
				out[n++] = *v;
			} else if (*v == '\n') {
				out[n++] = '\\';
				out[n++] = 'n';
			} else {
				out[n++] = *v;
			}
		}
		if (n + 1 < len)
			out[n++] = '"';
		out[n < len ? n : len - 1] = '\0';
	}
	va_end(ap);
	return out;
}
