// SPDX-License-Identifier: GPL-2.0-or-later
/* log - stderr or syslog sink, levels, per-call-site rate limiting. */
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static int use_syslog;
static atomic_ulong error_count;

void log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = 1;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

unsigned long log_error_count(void)
{
	return atomic_load(&error_count);
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[512];
	int n;

	if (level <= LOG_ERR)
		atomic_fetch_add(&error_count, 1);
	if (level > log_level)
		return;
	if (use_syslog) {
		vsyslog(level, fmt, ap);
		return;
	}
	/* One write(2) per line so lines from threads do not interleave. */
	n = snprintf(line, sizeof(line), "%s: ", level_name(level));
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_ratelimit_ok(struct log_ratelimit *rl, unsigned int burst)
{
	struct timespec ts;
	int64_t start;
	unsigned int dropped;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	start = atomic_load(&rl->window_start_s);
	if (ts.tv_sec != start &&
	    atomic_compare_exchange_strong(&rl->window_start_s, &start,
					   ts.tv_sec)) {
		atomic_store(&rl->printed, 0);
		dropped = atomic_exchange(&rl->suppressed, 0);
		if (dropped)
			log_msg(LOG_WARNING, "%u similar messages suppressed",
				dropped);
	}
	if (atomic_fetch_add(&rl->printed, 1) < burst)
		return 1;
	atomic_fetch_add(&rl->suppressed, 1);
	return 0;
}
