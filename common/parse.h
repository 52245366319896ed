/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * parse - small pure parsers for values that come from users: sizes with
 * K/M/G/T suffixes and HOST:PORT endpoints. 0 or -errno, never exit.
 * Threading: pure functions, any thread.
 */
#ifndef CNM_COMMON_PARSE_H
#define CNM_COMMON_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "64M", "1G", "4096", "2T" (binary units); -EINVAL or -ERANGE. */
int parse_size(const char *s, uint64_t *out);
/* Formats bytes as "64M", "1.5G" into buf. */
const char *format_size(uint64_t bytes, char *buf, size_t len);

/*
 * "host:port", "[v6addr]:port", "host" (port = default_port, which may be
 * NULL to require one). host and port are copied into the given buffers.
 */
int parse_hostport(const char *s, const char *default_port, char *host,
		   size_t hostlen, char *port, size_t portlen);

/* Decimal integer within [min, max]; -EINVAL or -ERANGE. */
int parse_long(const char *s, long min, long max, long *out);

#endif
