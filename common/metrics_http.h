/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics_http - serves GET /metrics over HTTP (libmicrohttpd) for
 * Prometheus to scrape: each request calls the caller's render function,
 * which fills a struct prom (common/prom.h). Anything but GET /metrics
 * is 404 (GET /) or 405.
 *
 * Threading: libmicrohttpd's own thread serves the requests, one at a
 * time; render is called on that thread and must take the locks of
 * whatever it reads. start and stop from the main thread.
 */
#ifndef CNM_COMMON_METRICS_HTTP_H
#define CNM_COMMON_METRICS_HTTP_H

#include "common/prom.h"

#include <stddef.h>
#include <stdint.h>

struct metrics_http;

/* Fills p; 0, or -errno to answer 500. */
typedef int (*metrics_render_fn)(struct prom *p, void *arg);

/*
 * Listens on hostport ("ADDR:PORT", "[V6]:PORT"; port 0 takes an
 * ephemeral port, given back in *port). 0 or -errno with err set.
 */
int metrics_http_start(const char *hostport, metrics_render_fn render,
		       void *arg, struct metrics_http **out, uint16_t *port,
		       char *err, size_t errlen);
void metrics_http_stop(struct metrics_http *m);

#endif
