/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log - one small logging module for every binary of cnetmem.
 *
 * Messages go to stderr in the foreground and to syslog once a daemon calls
 * log_to_syslog(). Messages are lowercase and name their object, e.g.
 * "donor 10.0.0.2:7700: slab 12: read timed out".
 *
 * Threading: every function may be called from any thread at any time; the
 * sink is chosen once at start-up, before threads exist. LOG_RATELIMITED
 * keeps a per-call-site counter and is the only form allowed on the data
 * path: it never allocates and never blocks longer than a write(2).
 */
#ifndef CNM_COMMON_LOG_H
#define CNM_COMMON_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <syslog.h>

/* Open syslog with this identity; before this call, messages go to stderr. */
void log_to_syslog(const char *ident);
/* Messages above this level (LOG_DEBUG > LOG_INFO > ...) are dropped. */
void log_set_level(int level);
int log_get_level(void);
/* Number of messages at LOG_ERR or worse so far (tests assert on it). */
unsigned long log_error_count(void);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/* Per-call-site limiter: at most `burst` messages per second. */
struct log_ratelimit {
	_Atomic int64_t window_start_s;
	atomic_uint printed;
	atomic_uint suppressed;
};
/* Returns 1 if the caller may print now; reports suppressed counts. */
int log_ratelimit_ok(struct log_ratelimit *rl, unsigned int burst);

#define LOG_RATELIMITED(level, ...)                                            \
	do {                                                                   \
		static struct log_ratelimit rl_;                               \
		if (log_ratelimit_ok(&rl_, 5))                                 \
			log_msg(level, __VA_ARGS__);                           \
	} while (0)

#endif
