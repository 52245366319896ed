// SPDX-License-Identifier: GPL-2.0-or-later
/* service - start-up status through a pipe to the parent and sd_notify. */
#include "common/service.h"

#include "cnm_config.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#if CNM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static int ready_fd = -1; /* write end of the start-up pipe, in the child */

int service_fork(int *status)
{
	int fds[2];
	char st = 1;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid > 0) {
		close(fds[1]);
		/* EOF: the child died before saying anything */
		while (read(fds[0], &st, 1) < 0 && errno == EINTR)
			;
		close(fds[0]);
		*status = st;
		return 1;
	}
	close(fds[0]);
	ready_fd = fds[1];
	setsid();
	return 0;
}

static void tell_parent(char status)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, &status, 1) != 1) {
		/* the parent is gone; nothing to tell */
	}
	close(ready_fd);
	ready_fd = -1;
}

void service_leave_terminal(const char *ident)
{
	int fd, syslog_taken = log_detach(ident);

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	/* without syslog, stderr is where the logs go: keep it */
	if (syslog_taken)
		dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

void service_ready(const char *ident, const char *status)
{
	if (ready_fd >= 0) {
		tell_parent(0);
		service_leave_terminal(ident);
	}
#if CNM_HAVE_SYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
#endif
}

void service_failed(int status)
{
	tell_parent(status ? (char)status : 1);
}

void service_status(const char *fmt, ...)
{
#if CNM_HAVE_SYSTEMD
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", text);
#endif
}

void service_stopping(void)
{
#if CNM_HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
#endif
}
