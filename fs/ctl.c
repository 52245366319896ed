// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl - one command line in, one result line out, per open handle of the
 * control channel (see fs/ctl.h).
 */
#include "fs/ctl.h"

#include "common/log.h"
#include "common/service.h"
#include "placement/pstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fsctl {
	struct pstore *ps; /* borrowed */
	pthread_mutex_t lock;
	char result[FSCTL_LINE]; /* protected by lock */
	size_t rlen;		 /* protected by lock */
};

int fsctl_open(struct pstore *ps, struct fsctl **out)
{
	struct fsctl *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->ps = ps;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void fsctl_close(struct fsctl *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Splits "verb arg" (spaces, a trailing newline) into two strings. */
static int split(char *line, char **verb, char **arg)
{
	char *save = NULL, *extra;

	*verb = strtok_r(line, " \t\n", &save);
	*arg = strtok_r(NULL, " \t\n", &save);
	extra = strtok_r(NULL, " \t\n", &save);
	return *verb && *arg && !extra ? 0 : -EINVAL;
}

/* The result line of a drain or undrain that returned ret. */
static void drain_result(int ret, const char *arg, const char *done,
			 const char *why, char *res, size_t rlen)
{
	if (ret == -ETIMEDOUT)
		snprintf(res, rlen, "again draining %s: %s\n", arg, why);
	else if (ret == -ENOENT)
		snprintf(res, rlen, "error %d donor %s is not in use\n", ENOENT,
			 arg);
	else if (ret)
		snprintf(res, rlen, "error %d %s\n", -ret, strerror(-ret));
	else
		snprintf(res, rlen, "ok %s %s\n", done, arg);
}

static void run(struct fsctl *c, const char *verb, const char *arg, char *res,
		size_t rlen)
{
	char err[256] = "";
	int ret;

	if (!c->ps) {
		snprintf(res, rlen, "error %d mounted with local memory\n",
			 EOPNOTSUPP);
		return;
	}
	if (!strcmp(verb, "donor-add")) {
		ret = pstore_donor_add(c->ps, arg, err, sizeof(err));
		if (ret) {
			snprintf(res, rlen, "error %d %s\n", -ret,
				 err[0] ? err : strerror(-ret));
			log_warn("donor %s: add: %s", arg,
				 err[0] ? err : strerror(-ret));
		} else {
			snprintf(res, rlen, "ok added %s\n", arg);
			log_notice("donor %s: added", arg);
		}
	} else if (!strcmp(verb, "donor-undrain")) {
		ret = pstore_donor_undrain(c->ps, arg);
		if (ret == -EINVAL)
			snprintf(res, rlen,
				 "error %d donor %s is not draining\n", EINVAL,
				 arg);
		else
			drain_result(ret, arg, "undrained", "", res, rlen);
	} else {
		service_status("draining donor %s", arg);
		ret = pstore_donor_drain(c->ps, arg, FSCTL_SLICE_MS, err,
					 sizeof(err));
		if (ret != -ETIMEDOUT)
			service_status("%s donor %s",
				       ret ? "failed to drain" : "drained",
				       arg);
		drain_result(ret, arg, "drained", err, res, rlen);
	}
}

ssize_t fsctl_write(struct fsctl *c, const char *buf, size_t len)
{
	char line[FSCTL_LINE], res[FSCTL_LINE], *verb, *arg;

	if (len == 0 || len >= sizeof(line) || memchr(buf, '\0', len))
		return -EINVAL;
	memcpy(line, buf, len);
	line[len] = '\0';
	if (strchr(line, '\n') && strchr(line, '\n') != line + len - 1)
		return -EINVAL; /* one line per write */
	if (split(line, &verb, &arg))
		return -EINVAL;
	if (strcmp(verb, "donor-add") && strcmp(verb, "donor-drain") &&
	    strcmp(verb, "donor-undrain"))
		return -EINVAL;
	/* the command blocks: run it outside the handle's lock */
	run(c, verb, arg, res, sizeof(res));
	pthread_mutex_lock(&c->lock);
	memcpy(c->result, res, sizeof(res));
	c->rlen = strlen(c->result);
	pthread_mutex_unlock(&c->lock);
	return (ssize_t)len;
}

size_t fsctl_read(struct fsctl *c, off_t off, char *buf, size_t size)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	if (off >= 0 && (size_t)off < c->rlen) {
		n = c->rlen - (size_t)off;
		if (n > size)
			n = size;
		memcpy(buf, c->result + off, n);
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}
