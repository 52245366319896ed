/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service - how a daemon (the mount, the donor) tells whoever started it
 * whether it works: the exit status of the command that started it, and
 * systemd's notification socket (sd_notify(3): READY=1, STATUS=...,
 * STOPPING=1) when NOTIFY_SOCKET is set, as for a Type=notify unit.
 *
 * In the background the process forks at once and the parent waits on a
 * pipe: the child does everything that can fail (reserve memory, bind,
 * connect, mount) with stderr still attached, then service_ready() lets
 * the parent exit 0; a child that fails or dies makes the parent exit
 * non-zero. So `cnetmem-donor --memory 10T` prints why and exits 1, never
 * 0 with no process left.
 *
 * Threading: service_fork, service_ready and service_failed at start-up,
 * from the main thread; service_status and service_stopping from any
 * thread (one datagram each, never blocking).
 */
#ifndef CNM_COMMON_SERVICE_H
#define CNM_COMMON_SERVICE_H

/*
 * Forks into the background. Returns 0 in the child (which goes on with
 * its start-up in a new session, in the same working directory, so
 * relative paths given on the command line still work), 1 in the parent
 * once the child has reported (*status: the exit status to return), or
 * -errno.
 */
int service_fork(int *status);
/*
 * Start-up is done: tells the waiting parent (if any) status 0, leaves the
 * terminal (stdin, stdout to /dev/null; stderr too only when logs go to
 * syslog, see log_detach()) and tells systemd READY=1 with status text.
 * ident names the process in syslog.
 */
void service_ready(const char *ident, const char *status);
/* The part of service_ready() that leaves the terminal, for a process
 * started by another daemon (a mount's serving process). */
void service_leave_terminal(const char *ident);
/* Start-up failed: the waiting parent exits with status (no-op if told). */
void service_failed(int status);
/* STATUS=text for systemctl status (printf-style); no-op without systemd */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1: the daemon is shutting down. */
void service_stopping(void);

#endif
