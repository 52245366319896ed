/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log - one small logging module for every binary of cnetmem.
 *
 * Messages go to stderr. When stderr is a journald stream (JOURNAL_STREAM
 * names the device and inode of our stderr, as systemd sets it for a
 * service), each line starts with its syslog priority, "<3>" for an error,
 * so the journal files it at that priority (sd-daemon(3)). A daemon that
 * goes to the background calls log_detach(): messages then go to syslog
 * when /dev/log is there, else stay on the stderr the daemon was started
 * with, so they never vanish. Messages are lowercase and name their object,
 * e.g. "donor 10.0.0.2:7700: slab 12: read timed out".
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
/*
 * For a daemon leaving its terminal: syslog (ident) when /dev/log is a
 * socket, else stderr as it is. Returns 1 when syslog was taken (the
 * caller may then point stderr at /dev/null), 0 when stderr must be kept.
 */
int log_detach(const char *ident);
/* Messages above this level (LOG_DEBUG > LOG_INFO > ...) are dropped. */
void log_set_level(int level);
int log_get_level(void);
/* Number of messages at LOG_ERR or worse so far (tests assert on it). */
unsigned long log_error_count(void);

/* "error", "warning", "notice", "info", "debug": the choices of the
 * log-level setting, NULL-terminated, and the syslog level of each. */
extern const char *const log_level_names[];
int log_level_of(int idx);
#define LOG_LEVEL_DEFAULT_IDX 3 /* info */

/* The "log-level" setting of an opts table (common/opts.h), shared by the
 * mount and the donor: an int index into log_level_names at `offset`. */
#define LOG_LEVEL_OPT(offset)                                                  \
	{                                                                      \
		"log-level", 0, OPT_ENUM, (offset), "info", 0, 0,              \
			log_level_names, "LEVEL",                              \
			"error, warning, notice, info or debug"                \
	}

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
