/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prom - Prometheus text exposition format (version 0.0.4), written into a
 * growing buffer, with node_exporter's naming rules kept by the callers:
 * a cnetmem_ prefix, base units (_bytes, _seconds), _total on counters.
 *
 * A metric family is opened once with prom_family() (HELP and TYPE lines),
 * then its samples follow. Label sets are built with prom_labels(), which
 * escapes values. Histograms are given as per-bucket (not cumulative)
 * counts with their upper bounds; prom_histogram() writes the cumulative
 * _bucket lines, the +Inf bucket, _sum and _count.
 *
 * Ownership: the buffer is the struct's (prom_free()). Threading: one
 * thread per struct prom; it allocates, so never on the I/O path.
 */
#ifndef CNM_COMMON_PROM_H
#define CNM_COMMON_PROM_H

#include <stddef.h>
#include <stdint.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_LABELS_MAX	  512

struct prom {
	char *buf;
	size_t len, cap;
	int err; /* -ENOMEM once an append failed; the text is then cut */
};

void prom_init(struct prom *p);
void prom_free(struct prom *p);
/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram) */
void prom_family(struct prom *p, const char *name, const char *type,
		 const char *help);
/* name{labels} value; labels is prom_labels() text or NULL/"" */
void prom_sample(struct prom *p, const char *name, const char *labels,
		 double value);
/*
 * A histogram sample set: counts[i] values fell in (le[i-1], le[i]] for
 * i < nle, counts[nle] above le[nle - 1]; sum is the sum of the values
 * observed.
 */
void prom_histogram(struct prom *p, const char *name, const char *labels,
		    const double *le, const uint64_t *counts, size_t nle,
		    double sum);
/*
 * Builds 'k1="v1",k2="v2"' into out from NULL-terminated key, value
 * pairs, escaping backslash, quote and newline. Returns out.
 */
char *prom_labels(char *out, size_t len, ...);

#endif
