// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * docker_vol - the volumes of `cnetmemctl serve docker`: one cnetmem mount
 * per volume at ROOT/NAME. What is mounted is the state: mountinfo is read
 * on every call, so a restarted driver serves the volumes it made before.
 */
#include "ctl/docker.h"
#include "ctl/mounts.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Volume options and the cnetmem option each becomes. */
static const struct {
	const char *name;
	const char *opt;
} vol_opts[] = {
	{ "size", "--size" },
	{ "replicas", "--replicas" },
	{ "key-file", "--key-file" },
	{ "transport", "--transport" },
	{ "slab-size", "--slab-size" },
	{ "backup", "--backup" },
	{ "io-timeout-ms", "--io-timeout-ms" },
	{ "threads", "--threads" },
	{ "requests", "--requests" },
	{ "donor-srv", "--donor-srv" },
};

int dvol_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 255 || !isalnum((unsigned char)name[0]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return -EINVAL;
	return 0;
}

static int value_ok(const char *v)
{
	if (!*v)
		return -EINVAL;
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return -EINVAL;
	return 0;
}

static int is_donor_opt(const char *name)
{
	return !strcmp(name, "donor") || !strcmp(name, "donors");
}

/* Appends one argument; -E2BIG when argv is full. */
static int push(const char **argv, int *n, const char *arg)
{
	if (*n >= DVOL_MAX_ARGS - 1)
		return -E2BIG;
	argv[(*n)++] = arg;
	argv[*n] = NULL;
	return 0;
}

/* Splits a comma-separated donor list into store and appends --donor
 * arguments for each item. */
static int push_donors(const char *list, char **store, size_t *left,
		       const char **argv, int *n, char *err, size_t errlen)
{
	size_t len = strlen(list) + 1;
	char *s, *tok, *save = NULL;
	int ret = 0;

	if (len > *left) {
		snprintf(err, errlen, "option donor: list too long");
		return -E2BIG;
	}
	s = memcpy(*store, list, len);
	*store += len;
	*left -= len;
	for (tok = strtok_r(s, ", ", &save); tok && !ret;
	     tok = strtok_r(NULL, ", ", &save)) {
		ret = push(argv, n, "--donor");
		if (!ret)
			ret = push(argv, n, tok);
	}
	if (ret)
		snprintf(err, errlen, "option donor: too many donors");
	return ret;
}

int dvol_build_argv(const struct dvol_cfg *cfg, const char *mnt,
		    const struct dvol_opt *opts, int nopts, char *store,
		    size_t size, const char **argv, char *err, size_t errlen)
{
	int n = 0, vol_donors = 0, ret = 0;
	const char *on = NULL;
	size_t i;

	argv[0] = NULL;
	for (int k = 0; k < nopts; k++) {
		const struct dvol_opt *o = &opts[k];

		if (is_donor_opt(o->name))
			vol_donors = 1;
		if (!strcmp(o->name, "local-memory")) {
			if (strcmp(o->value, "true") && strcmp(o->value, "1") &&
			    strcmp(o->value, "") && strcmp(o->value, "false") &&
			    strcmp(o->value, "0")) {
				snprintf(err, errlen,
					 "option local-memory: '%s' is not "
					 "true or false",
					 o->value);
				return -EINVAL;
			}
			continue;
		}
		for (i = 0; i < sizeof(vol_opts) / sizeof(vol_opts[0]); i++)
			if (!strcmp(o->name, vol_opts[i].name))
				break;
		if (i == sizeof(vol_opts) / sizeof(vol_opts[0]) &&
		    !is_donor_opt(o->name)) {
			snprintf(err, errlen,
				 "unknown volume option '%s' (known: size, "
				 "replicas, donor(s), key-file, transport, "
				 "slab-size, backup, io-timeout-ms, threads, "
				 "requests, donor-srv, local-memory)",
				 o->name);
			return -EINVAL;
		}
		if (value_ok(o->value)) {
			snprintf(err, errlen, "option %s: empty or bad value",
				 o->name);
			return -EINVAL;
		}
	}

	ret = push(argv, &n, cfg->cnetmem_bin);
	if (!ret)
		ret = push(argv, &n, mnt);
	for (int k = 0; !ret && !vol_donors && k < cfg->ndonors; k++) {
		ret = push(argv, &n, "--donor");
		if (!ret)
			ret = push(argv, &n, cfg->donors[k]);
	}
	if (!ret && cfg->key_file) {
		ret = push(argv, &n, "--key-file");
		if (!ret)
			ret = push(argv, &n, cfg->key_file);
	}
	for (int k = 0; !ret && k < cfg->nextra; k++)
		ret = push(argv, &n, cfg->extra[k]);
	/* the volume's own options last: for single-valued settings the
	 * last one given wins */
	for (int k = 0; !ret && k < nopts; k++) {
		const struct dvol_opt *o = &opts[k];

		if (is_donor_opt(o->name)) {
			ret = push_donors(o->value, &store, &size, argv, &n,
					  err, errlen);
			if (ret)
				return ret;
			continue;
		}
		if (!strcmp(o->name, "local-memory")) {
			if (strcmp(o->value, "false") && strcmp(o->value, "0"))
				on = "--local-memory";
			continue;
		}
		for (i = 0; i < sizeof(vol_opts) / sizeof(vol_opts[0]); i++)
			if (!strcmp(o->name, vol_opts[i].name))
				break;
		ret = push(argv, &n, vol_opts[i].opt);
		if (!ret)
			ret = push(argv, &n, o->value);
	}
	if (!ret && on)
		ret = push(argv, &n, on);
	if (ret)
		snprintf(err, errlen, "too many arguments for cnetmem");
	return ret;
}

/*
 * Calls fn for every fuse.cnetmem mount directly under cfg->root; fn
 * returns 0 to go on, 1 to stop (then 0 is returned), or -errno.
 */
static int scan(const struct dvol_cfg *cfg,
		int (*fn)(const struct dvol_info *info, void *arg), void *arg)
{
	size_t rlen = strlen(cfg->root);
	struct dvol_info info;
	char **mounts, *slash;
	int ret, n;

	ret = ctl_mounts_list(&mounts, &n);
	if (ret)
		return ret;
	for (int i = 0; i < n && !ret; i++) {
		const char *mp = mounts[i];

		if (strncmp(mp, cfg->root, rlen) || mp[rlen] != '/')
			continue;
		slash = mounts[i] + rlen + 1;
		if (strchr(slash, '/') || dvol_name_ok(slash) ||
		    strlen(mp) >= sizeof(info.path))
			continue;
		snprintf(info.name, sizeof(info.name), "%s", slash);
		snprintf(info.path, sizeof(info.path), "%s", mp);
		ret = fn(&info, arg);
	}
	ctl_mounts_free(mounts, n);
	return ret < 0 ? ret : 0;
}

struct find_arg {
	const char *name;
	struct dvol_info *out;
	int found;
};

static int find_one(const struct dvol_info *info, void *arg)
{
	struct find_arg *fa = arg;

	if (strcmp(info->name, fa->name))
		return 0;
	*fa->out = *info;
	fa->found = 1;
	return 1;
}

int dvol_get(const struct dvol_cfg *cfg, const char *name,
	     struct dvol_info *info)
{
	struct find_arg fa = { .name = name, .out = info };
	int ret;

	if (dvol_name_ok(name))
		return -EINVAL;
	ret = scan(cfg, find_one, &fa);
	if (ret)
		return ret;
	return fa.found ? 0 : -ENOENT;
}

int dvol_list(const struct dvol_cfg *cfg,
	      int (*fn)(const struct dvol_info *info, void *arg), void *arg)
{
	return scan(cfg, fn, arg);
}

/* Keeps the last non-empty line of cnetmem's output in err. */
static void last_line(const char *out, char *err, size_t errlen)
{
	const char *end = out + strlen(out), *start;

	while (end > out && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > out && start[-1] != '\n')
		start--;
	if (end > start)
		snprintf(err, errlen, "%.*s", (int)(end - start), start);
}

/*
 * Runs argv (cnetmem without -f: its first process exits once the mount is
 * live or has failed, while the daemon it leaves keeps the stderr it was
 * given) with stdout and stderr appended to log, for at most
 * DVOL_SPAWN_TIMEOUT_S; 0 when it exits 0, else -EIO with the log's last
 * line in err. The log is the volume's: the daemon goes on writing there.
 */
static int spawn(const char **argv, const char *log, char *err, size_t errlen)
{
	char out[2048], nomsg[512];
	time_t deadline = time(NULL) + DVOL_SPAWN_TIMEOUT_S;
	int fd, status = 0, ret = 0;
	off_t size;
	ssize_t w;
	pid_t pid, got;

	snprintf(nomsg, sizeof(nomsg), "cannot run %s\n", argv[0]);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "log %s: %s", log, strerror(errno));
		return ret;
	}
	size = lseek(fd, 0, SEEK_END);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out_close;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		/* the daemon must not keep the driver's sockets open */
		close_range(3, ~0U, 0);
		execvp(argv[0], (char *const *)argv);
		/* only async-signal-safe calls here: the driver has threads */
		w = write(2, nomsg, strlen(nomsg));
		(void)w;
		_exit(127);
	}
	while ((got = waitpid(pid, &status, WNOHANG)) == 0) {
		if (time(NULL) >= deadline) {
			snprintf(err, errlen,
				 "cnetmem did not finish mounting within %d s",
				 DVOL_SPAWN_TIMEOUT_S);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ret = -ETIMEDOUT;
			goto out_close;
		}
		usleep(20000);
	}
	if (got < 0 && errno != EINTR) {
		ret = -errno;
		goto out_close;
	}
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		/* what this run wrote: the tail of the log from size on */
		int rfd = open(log, O_RDONLY | O_CLOEXEC);
		ssize_t r = -1;

		snprintf(err, errlen, "cnetmem failed");
		if (rfd >= 0) {
			r = pread(rfd, out, sizeof(out) - 1,
				  size > 0 ? size : 0);
			close(rfd);
		}
		out[r > 0 ? r : 0] = 0;
		last_line(out, err, errlen);
		ret = -EIO;
	}
out_close:
	close(fd);
	return ret;
}

int dvol_create(const struct dvol_cfg *cfg, const char *name,
		const struct dvol_opt *opts, int nopts, char *err,
		size_t errlen)
{
	const char *argv[DVOL_MAX_ARGS];
	struct dvol_info info;
	char mnt[4096], store[4096], log[4096];
	int ret;

	if (dvol_name_ok(name)) {
		snprintf(err, errlen, "'%s' is not a valid volume name", name);
		return -EINVAL;
	}
	if (!dvol_get(cfg, name, &info))
		return 0;
	if ((size_t)snprintf(mnt, sizeof(mnt), "%s/%s", cfg->root, name) >=
	    sizeof(mnt)) {
		snprintf(err, errlen, "volume %s: path too long", name);
		return -ENAMETOOLONG;
	}
	ret = dvol_build_argv(cfg, mnt, opts, nopts, store, sizeof(store), argv,
			      err, errlen);
	if (ret)
		return ret;
	if (mkdir(mnt, 0755) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "volume %s: mkdir %s: %s", name, mnt,
			 strerror(errno));
		return ret;
	}
	if ((size_t)snprintf(log, sizeof(log), "%s/.%s.log", cfg->root, name) >=
	    sizeof(log)) {
		snprintf(err, errlen, "volume %s: path too long", name);
		rmdir(mnt);
		return -ENAMETOOLONG;
	}
	ret = spawn(argv, log, err, errlen);
	if (ret)
		rmdir(mnt);
	return ret;
}

int dvol_remove(const struct dvol_cfg *cfg, const char *name, char *err,
		size_t errlen)
{
	struct dvol_info info;
	int ret;

	if (dvol_name_ok(name)) {
		snprintf(err, errlen, "'%s' is not a valid volume name", name);
		return -EINVAL;
	}
	ret = dvol_get(cfg, name, &info);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		snprintf(err, errlen, "volume %s: %s", name, strerror(-ret));
		return ret;
	}
	/* the daemon exits once unmounted; a busy mount (an open swap file,
	 * a container still using it) stays as it is */
	if (umount2(info.path, 0)) {
		ret = -errno;
		snprintf(err, errlen, "volume %s: unmount %s: %s", name,
			 info.path, ret == -EBUSY ? "in use" : strerror(-ret));
		return ret;
	}
	rmdir(info.path);
	return 0;
}
