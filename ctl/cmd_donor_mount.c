// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmemctl donor-add MOUNTPOINT HOST:PORT
 * cnetmemctl donor-drain MOUNTPOINT HOST:PORT [--timeout SECONDS]
 * cnetmemctl donor-undrain MOUNTPOINT HOST:PORT
 *
 * Both talk to a running mount through its control channel: root opens
 * MOUNTPOINT/.cnetmem-stats read-write, writes one command line and reads
 * back one result line (fs/ctl.h). A drain answers "again" after each
 * slice of work, with what holds it up; the command repeats it until "ok",
 * an error, or its deadline (default 300 s), telling the user once why it
 * is waiting. On a terminal, a progress line between slices shows the
 * slabs the donor still holds (from the stats file). donor-undrain
 * cancels a drain.
 */
#include "common/clock.h"
#include "ctl/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_FILE	".cnetmem-stats"
#define DRAIN_TIMEOUT_S 300

int cmd_donor_add(int argc, char **argv);
int cmd_donor_drain(int argc, char **argv);
int cmd_donor_undrain(int argc, char **argv);

static double now_s(void)
{
	return (double)mono_ns() / 1e9;
}

/* One command, one result line into res; 0 or -errno (message printed). */
static int mount_cmd(const char *mnt, const char *line, char *res, size_t rlen)
{
	char path[4096];
	ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", mnt, CTL_FILE);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "cnetmemctl: %s: %s%s\n", path, strerror(errno),
			ret == -ENOENT	 ? " (is it a cnetmem mount?)"
			: ret == -EACCES ? " (root only)"
					 : "");
		return ret;
	}
	n = write(fd, line, strlen(line));
	if (n < 0) {
		ret = -errno;
		fprintf(stderr, "cnetmemctl: %s: %s\n", path, strerror(errno));
		goto out_close;
	}
	n = pread(fd, res, rlen - 1, 0);
	if (n <= 0) {
		ret = n < 0 ? -errno : -EIO;
		fprintf(stderr, "cnetmemctl: %s: no result: %s\n", path,
			strerror(-ret));
		goto out_close;
	}
	res[n] = '\0';
	res[strcspn(res, "\n")] = '\0';
out_close:
	close(fd);
	return ret;
}

static int usage(const char *cmd, const char *extra)
{
	fprintf(stderr, "usage: cnetmemctl %s MOUNTPOINT HOST:PORT%s\n", cmd,
		extra);
	return 2;
}

/* Prints an "error ERRNO TEXT" result; returns the exit status. */
static int report(const char *res)
{
	const char *text = res;

	if (!strncmp(res, "error ", 6)) {
		text = strchr(res + 6, ' ');
		text = text ? text + 1 : res;
	}
	fprintf(stderr, "cnetmemctl: %s\n", text);
	return 1;
}

int cmd_donor_add(int argc, char **argv)
{
	char line[512], res[512];
	double t0 = now_s();

	if (argc != 3)
		return usage("donor-add", "");
	snprintf(line, sizeof(line), "donor-add %s\n", argv[2]);
	if (mount_cmd(argv[1], line, res, sizeof(res)))
		return 1;
	if (strncmp(res, "ok ", 3))
		return report(res);
	printf("donor %s: added to %s (%.1f s)\n", argv[2], argv[1],
	       now_s() - t0);
	return 0;
}

/* Slabs of mount mnt still on donor addr, -1 if unknown. */
static double slabs_on(const char *mnt, const char *addr)
{
	char err[4200];
	double n = -1;
	json_t *root, *d;
	size_t i;

	if (ctl_stats_load(mnt, &root, NULL, NULL, err, sizeof(err)))
		return -1;
	json_array_foreach(json_object_get(root, "donors"), i,
			   d) if (!strcmp(ctl_jstr(d, "addr"), addr) &&
				  strcmp(ctl_jstr(d, "state"), "drained")) n =
		ctl_jnum(d, "slabs");
	json_decref(root);
	return n;
}

static void progress(const char *mnt, const char *addr, double first, double t)
{
	double left = slabs_on(mnt, addr);

	if (left < 0)
		return;
	fprintf(stderr,
		"\rdonor %s: draining: %.0f of %.0f slabs moved, %.0f s", addr,
		first > left ? first - left : 0, first, t);
	fflush(stderr);
}

int cmd_donor_drain(int argc, char **argv)
{
	char line[512], res[512], told[512] = "", *end;
	double t0 = now_s(), timeout = DRAIN_TIMEOUT_S, first = -1;
	const char *why = "";
	const char *pos[2];
	int npos = 0, tty, shown = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = strtod(argv[++i], &end);
			if (*end || timeout <= 0)
				return usage("donor-drain",
					     " [--timeout SECONDS]");
		} else if (argv[i][0] == '-' || npos == 2) {
			return usage("donor-drain", " [--timeout SECONDS]");
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos != 2)
		return usage("donor-drain", " [--timeout SECONDS]");
	snprintf(line, sizeof(line), "donor-drain %s\n", pos[1]);
	tty = isatty(STDERR_FILENO);
	if (tty)
		first = slabs_on(pos[0], pos[1]);
	if (first > 0) {
		progress(pos[0], pos[1], first, 0);
		shown = 1;
	}
	for (;;) {
		if (mount_cmd(pos[0], line, res, sizeof(res)))
			goto out_fail;
		if (!strncmp(res, "ok ", 3))
			break;
		if (strncmp(res, "again ", 6)) {
			if (shown)
				fputc('\n', stderr);
			return report(res);
		}
		why = strstr(res, ": ");
		why = why ? why + 2 : "";
		if (strcmp(why, told)) {
			/* say once why it waits (counts change: only the
			 * kind of blocker) */
			if (strstr(why, "no other donor") !=
			    strstr(told, "no other donor"))
				fprintf(stderr, "%scnetmemctl: donor %s: %s\n",
					shown ? "\n" : "", pos[1], why);
			snprintf(told, sizeof(told), "%s", why);
		}
		if (tty && first > 0) {
			progress(pos[0], pos[1], first, now_s() - t0);
			shown = 1;
		}
		if (now_s() - t0 > timeout) {
			if (shown)
				fputc('\n', stderr);
			fprintf(stderr,
				"cnetmemctl: donor %s: still draining after "
				"%.0f s: %s\n",
				pos[1], timeout, why);
			return 1;
		}
	}
	if (shown)
		fputc('\n', stderr);
	printf("donor %s: drained and disconnected from %s (%.1f s)\n", pos[1],
	       pos[0], now_s() - t0);
	return 0;
out_fail:
	if (shown)
		fputc('\n', stderr);
	return 1;
}

int cmd_donor_undrain(int argc, char **argv)
{
	char line[512], res[512];

	if (argc != 3)
		return usage("donor-undrain", "");
	snprintf(line, sizeof(line), "donor-undrain %s\n", argv[2]);
	if (mount_cmd(argv[1], line, res, sizeof(res)))
		return 1;
	if (strncmp(res, "ok ", 3))
		return report(res);
	printf("donor %s: drain cancelled on %s; it takes slabs again\n",
	       argv[2], argv[1]);
	return 0;
}
