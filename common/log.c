// SPDX-License-Identifier: GPL-2.0-or-later
/* log - stderr (journald-aware) or syslog sink, levels, rate limiting. */
#include "common/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static int use_syslog;
static atomic_ulong error_count;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int journal; /* stderr is the journal's stream: "<N>" prefixes */

const char *const log_level_names[] = { "error", "warning", "notice",
					"info",	 "debug",   NULL };

int log_level_of(int idx)
{
	static const int map[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
				   LOG_DEBUG };

	return idx >= 0 && idx < 5 ? map[idx] : LOG_INFO;
}

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it only
 * counts while our stderr is still that stream (not redirected since). */
static void journal_check(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return;
	if (fstat(STDERR_FILENO, &st))
		return;
	journal = (unsigned long long)st.st_dev == dev &&
		  (unsigned long long)st.st_ino == ino;
}

int log_detach(const char *ident)
{
	struct stat st;

	if (stat("/dev/log", &st) || !S_ISSOCK(st.st_mode))
		return 0;
	log_to_syslog(ident);
	return 1;
}

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
	pthread_once(&journal_once, journal_check);
	/* One write(2) per line so lines from threads do not interleave. */
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ", level & 7,
			     level_name(level));
	else
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
