// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmem - mount a cnetmem filesystem.
 *
 * Start-up order matters: options and the mountpoint are checked first
 * (clear error, exit 1); then, unless --foreground, the process forks and
 * the parent waits (common/service.h) until the child has connected to its
 * donors and mounted, so that the exit status tells mount(8) whether it
 * worked and nothing is left mounted after a failure. Under a Type=notify
 * unit (--foreground) systemd gets READY=1 once mounted. The child protects itself
 * (mlockall, PR_SET_IO_FLUSHER, oom_score_adj -1000) before any thread or
 * pool exists.
 *
 * SIGTERM/SIGINT/SIGHUP end the daemon only while no file is open: a swap
 * file on a loop device keeps its file open, and exiting then would lose
 * every swapped page. Unmount with fusermount3 -u (EBUSY while swap is
 * active) after swapoff and losetup -d.
 */
#include "common/cpu_latency.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/service.h"
#include "fs/config.h"
#include "fs/fs.h"
#include "fs/fuse_loop.h"
#include "fs/srv.h"
#include "placement/pstore.h"
#include "rdma/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

static struct fuse_session *g_se;
static struct cnmfs *g_fs;

/*
 * The mount's writeback and readahead settings (/sys/class/bdi/MAJ:MIN).
 * The kernel gives a FUSE mount a readahead of 128 KiB (INIT may only
 * lower it) and lets it hold only 1 % of the dirty page limit, enforced
 * even when the host is far below its own limit (strict_limit): a cached
 * writer then runs at the speed of one round trip per few pages. This
 * daemon is trusted (root) and is what writeback waits on, so its mount
 * gets what a disk gets: no per-device share or strict limit (the global
 * and memory cgroup dirty limits still hold), and readahead of one full
 * request.
 */
static const struct {
	const char *name, *value;
} bdi_settings[] = {
	{ "read_ahead_kb", "1024" }, /* CNMFS_MAX_IO */
	{ "max_ratio", "100" },
	{ "strict_limit", "0" },
};

/*
 * Applies bdi_settings once INIT is done: the stat below is answered only
 * after it (by the loop's workers, hence a thread of its own). Root only;
 * without it the kernel's settings stay.
 */
static void *tune_bdi(void *arg)
{
	char *mp = arg, path[96];
	struct stat st;
	int fd, n;

	if (stat(mp, &st))
		goto out; /* unmounted before INIT */
	for (size_t i = 0; i < sizeof(bdi_settings) / sizeof(*bdi_settings);
	     i++) {
		snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/%s",
			 major(st.st_dev), minor(st.st_dev),
			 bdi_settings[i].name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : dprintf(fd, "%s", bdi_settings[i].value);
		if (n < 0)
			log_warn("mount %s: %s stays the kernel's: %s", mp,
				 path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
out:
	free(mp);
	return NULL;
}

/* Detached: if the loop ends before INIT, its stat only returns once the
 * session is gone; it owns its copy of mp. */
static void start_tune_bdi(const char *mp)
{
	char *copy = strdup(mp);
	pthread_t t;

	if (!copy || pthread_create(&t, NULL, tune_bdi, copy)) {
		free(copy);
		return;
	}
	pthread_detach(t);
}

static void on_signal(int sig)
{
	static const char busy[] =
		"warning: cnetmem: files are still open (swapoff and losetup "
		"-d first): not exiting\n";

	if (g_fs && cnmfs_open_files(g_fs) > 0) {
		if (write(STDERR_FILENO, busy, sizeof(busy) - 1) < 0) {
			/* nothing to do */
		}
		return;
	}
	if (g_se)
		fuse_session_exit(g_se);
}

static int set_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
	    sigaction(SIGHUP, &sa, NULL))
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return -errno;
	return 0;
}

/* The daemon must not be swapped out or OOM-killed: it is the swap. */
static void protect_self(void)
{
	int flags = MCL_CURRENT | MCL_FUTURE;
	int fd;

#ifdef MCL_ONFAULT
	flags |= MCL_ONFAULT;
#endif
	if (mlockall(flags))
		log_warn("mlockall: %s (pages of this daemon may be swapped)",
			 strerror(errno));
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0))
		log_warn(
			"prctl(PR_SET_IO_FLUSHER): %s (needs CAP_SYS_RESOURCE; "
			"reclaim may recurse into this daemon)",
			strerror(errno));
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "-1000", 5) != 5)
		log_warn("oom_score_adj -1000: %s (needs CAP_SYS_RESOURCE; the "
			 "OOM killer may pick this daemon)",
			 strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int check_mountpoint(const char *mp)
{
	struct stat st;

	if (stat(mp, &st)) {
		log_err("mountpoint %s: %s", mp, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("mountpoint %s: not a directory", mp);
		return -ENOTDIR;
	}
	return 0;
}

/*
 * 1 if mp (a realpath) is already a cnetmem mount (a second one would
 * silently stack on it), 0 if not, from /proc/self/mountinfo so that a
 * hung mount is never touched.
 */
static int is_cnetmem_mount(const char *mp)
{
	char line[4096], dir[4096], type[64];
	int found = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		/* field 5 is the mount point (octal escapes for blanks, which
		 * realpath never has unescaped: compare as is) */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", dir) != 1 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		found = !strcmp(dir, mp) && !strcmp(type, "fuse.cnetmem");
	}
	fclose(f);
	return found;
}

/* Makes a relative path absolute against the working directory, before
 * the daemon changes to /; *path is an owned copy (opts_free frees it). */
static int make_absolute(const char *name, char **path)
{
	char *cwd, *abs;

	if (!*path || **path == '/')
		return 0;
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&abs, "%s/%s", cwd, *path) < 0) {
		log_err("%s %s: cannot make the path absolute: %s", name, *path,
			strerror(errno));
		free(cwd);
		return -errno;
	}
	free(cwd);
	free(*path);
	*path = abs;
	return 0;
}

static enum xport_kind kind_of(const struct fs_cfg *c)
{
	if (c->local_memory)
		return XPORT_MEM;
	switch (c->transport) {
	case FS_XPORT_TCP:
		return XPORT_TCP;
	case FS_XPORT_RDMA:
		return XPORT_RDMA;
	default:
		return XPORT_AUTO;
	}
}

/* "host" -> "host:7700"; owned copies in out[]. */
static int normalize_donors(const struct fs_cfg *c, char ***out)
{
	char host[256], port[32], **v;
	size_t n;

	v = calloc(c->donor.n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < c->donor.n; i++) {
		if (parse_hostport(c->donor.v[i], FS_DEFAULT_PORT, host,
				   sizeof(host), port, sizeof(port)))
			return -EINVAL; /* validated before */
		n = strlen(host) + strlen(port) + 4;
		v[i] = malloc(n);
		if (!v[i])
			return -ENOMEM;
		if (strchr(host, ':'))
			snprintf(v[i], n, "[%s]:%s", host, port);
		else
			snprintf(v[i], n, "%s:%s", host, port);
	}
	*out = v;
	return 0;
}

/*
 * Appends the targets of every --donor-srv name to donors[0..*n) (grown,
 * NULL-terminated); fails when no name answers with a target and there is
 * no other donor. *nfixed keeps the count given with --donor.
 */
static int srv_donors(const struct fs_cfg *c, char ***donors, int *n)
{
	struct srv_server sv = { c->donor_srv_server };
	char(*ans)[SRV_ADDR_LEN], err[128], **v;
	int found = 0, ret = 0;

	ans = calloc(256, sizeof(*ans));
	if (!ans)
		return -ENOMEM;
	for (int k = 0; k < c->donor_srv.n && !ret; k++) {
		unsigned int m;
		uint32_t ttl;
		int r = srv_lookup(c->donor_srv.v[k], &sv, ans, 256, &m, &ttl,
				   err, sizeof(err));

		if (r) {
			log_warn("donor-srv %s: %s", c->donor_srv.v[k], err);
			if (r == -EINVAL)
				ret = r;
			continue;
		}
		for (unsigned int j = 0; j < m && !ret; j++) {
			int dup = 0;

			for (int i = 0; i < *n; i++)
				dup |= !strcmp((*donors)[i], ans[j]);
			if (dup)
				continue;
			v = realloc(*donors, (*n + 2) * sizeof(*v));
			if (!v || !(v[*n] = strdup(ans[j]))) {
				if (v)
					*donors = v;
				ret = -ENOMEM;
				break;
			}
			v[++*n] = NULL;
			*donors = v;
			found++;
		}
	}
	free(ans);
	if (!ret && !*n) {
		log_err("donor-srv: no donor found (%d name%s asked)",
			c->donor_srv.n, c->donor_srv.n > 1 ? "s" : "");
		ret = -EHOSTUNREACH;
	}
	if (!ret)
		log_info("donor-srv: %d donor%s found", found,
			 found == 1 ? "" : "s");
	return ret;
}

/* The libfuse command line: our defaults, then the user's -o items. */
static int fuse_argv(const struct fs_cfg *c, const char *source,
		     struct fuse_args *args)
{
	char opt[512];

	snprintf(opt, sizeof(opt),
		 "default_permissions,fsname=%s,subtype=cnetmem%s",
		 source ? source : "cnetmem",
		 geteuid() == 0 ? ",allow_other" : "");
	if (fuse_opt_add_arg(args, "cnetmem") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opt))
		return -ENOMEM;
	for (int i = 0; i < c->options.n; i++)
		if (fuse_opt_add_arg(args, "-o") ||
		    fuse_opt_add_arg(args, c->options.v[i]))
			return -ENOMEM;
	return 0;
}

static int run(struct fs_cfg *c, const char *mp, const char *source)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct cnmfs_params fp = { 0 };
	struct pstore_cfg pc = { 0 };
	struct pstore *ps = NULL;
	struct srv_watch *watch = NULL;
	struct auth_key key = { 0 };
	char err[512] = "", **donors = NULL;
	sigset_t stopsigs;
	int ret, qos = -1, ndonors = 0;

	if (c->key_file) {
		ret = auth_key_load(c->key_file, &key, err, sizeof(err));
		if (ret) {
			log_err("%s", err);
			return ret;
		}
		snprintf(key.name, sizeof(key.name), "%s",
			 c->key_name ? c->key_name : AUTH_NAME_DEFAULT);
	} else if (!c->local_memory) {
		log_warn(
			"INSECURE: no --key-file: donors are not "
			"authenticated; whoever answers on a donor's port gets "
			"and serves this mount's pages");
	}
	ret = normalize_donors(c, &donors);
	ndonors = c->donor.n;
	if (!ret && c->donor_srv.n)
		ret = srv_donors(c, &donors, &ndonors);
	if (ret)
		goto out_donors;
	if (c->cpu_latency_us >= 0) {
		qos = cpu_latency_hold(c->cpu_latency_us);
		if (qos < 0) {
			ret = qos;
			log_err("cpu-latency: cannot hold a PM QoS request on "
				"/dev/cpu_dma_latency: %s (needs root)",
				strerror(-ret));
			goto out_donors;
		}
	}

	protect_self();
	/* threads started from here on (transports, page store) never take
	 * the stop signals: they must reach the FUSE loop's threads */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);

	pc.donors = (const char *const *)donors;
	pc.ndonors = ndonors;
	pc.transport = kind_of(c);
	pc.key = c->key_file ? &key : NULL;
	pc.capacity = c->size;
	pc.slab_size = c->slab_size;
	pc.replicas = c->replicas;
	pc.backup_path = c->backup;
	pc.io_timeout_ms = c->io_timeout_ms;
	pc.ctl_timeout_ms = c->ctl_timeout_ms;
	if (c->plaintext_pages) {
		pc.seal = PSTORE_SEAL_OFF;
		log_warn("--insecure-plaintext-pages: pages go to the donors "
			 "and the backup UNENCRYPTED and UNAUTHENTICATED; any "
			 "donor, backup reader or network path can read and "
			 "change them (benchmarks and diagnostics only)");
	}
	pc.sample_d = (unsigned int)c->rank_sample;
	pc.w_free = c->rank_free;
	pc.w_trend = c->rank_trend;
	pc.w_latency = c->rank_latency;
	/* pstore reads 0 as its default band; an exact 0 is near enough */
	pc.band = c->rank_band ? c->rank_band : 1e-9;
	ret = pstore_open(&pc, &ps, err, sizeof(err));
	if (ret) {
		log_err("cannot open the page store: %s",
			*err ? err : strerror(-ret));
		goto out_donors;
	}
	if (c->donor_srv.n) {
		struct srv_server sv = { c->donor_srv_server };
		const char *const *all = (const char *const *)donors;

		ret = srv_watch_start(ps, (const char *const *)c->donor_srv.v,
				      (unsigned int)c->donor_srv.n, &sv,
				      all + c->donor.n,
				      (unsigned int)(ndonors - c->donor.n), all,
				      (unsigned int)c->donor.n, &watch);
		if (ret) {
			log_err("donor-srv: cannot watch: %s", strerror(-ret));
			goto out_pstore;
		}
	}
	fp.capacity = c->size;
	fp.requests = c->requests;
	fp.mountpoint = mp;
	fp.metadata_max = c->metadata_max;
	fp.cache_direct = c->cache == FS_CACHE_DIRECT;
	ret = cnmfs_create(&fp, ps, &g_fs);
	if (ret) {
		log_err("cannot create the filesystem: %s", strerror(-ret));
		goto out_pstore;
	}
	ret = fuse_argv(c, source, &args);
	if (!ret)
		ret = floop_args(c->fuse_transport, mp, &args);
	if (ret)
		goto out_fs;
	g_se = fuse_session_new(&args, cnmfs_ops(), sizeof(*cnmfs_ops()), g_fs);
	if (!g_se) {
		log_err("cannot start a FUSE session (bad -o option?)");
		ret = -EINVAL;
		goto out_args;
	}
	ret = set_signals();
	if (ret)
		goto out_session;
	if (fuse_session_mount(g_se, mp)) {
		log_err("mountpoint %s: cannot mount", mp);
		ret = -EIO;
		goto out_session;
	}
	log_notice("mounted %s: %s, %s capacity", mp,
		   c->local_memory ? "local memory" : "donors",
		   format_size(c->size, err, sizeof(err)));
	/* started with the stop signals blocked, like the transports */
	if (c->cache == FS_CACHE_WRITEBACK)
		start_tune_bdi(mp);
	snprintf(err, sizeof(err), "mounted %s", mp);
	service_ready("cnetmem", err);

	/* the main thread and the FUSE workers it starts take them */
	pthread_sigmask(SIG_UNBLOCK, &stopsigs, NULL);
	ret = floop_run(g_se, (unsigned int)c->threads);
	if (ret)
		log_warn("mount %s: session loop ended with %d", mp, ret);
	ret = 0;
	service_stopping();
	fuse_session_unmount(g_se);
	log_notice("unmounted %s", mp);
out_session:
	fuse_session_destroy(g_se);
	g_se = NULL;
out_args:
	fuse_opt_free_args(&args);
out_fs:
	cnmfs_destroy(g_fs);
	g_fs = NULL;
out_pstore:
	srv_watch_stop(watch);
	pstore_close(ps);
out_donors:
	for (int i = 0; donors && donors[i]; i++)
		free(donors[i]);
	free(donors);
	cpu_latency_release(qos);
	return ret;
}

int main(int argc, char **argv)
{
	const char *pos[3], *mountpoint = NULL, *source = NULL;
	char *mp = NULL;
	int npos = 0, ret, nargc, status = 1;
	struct fs_cfg cfg;
	struct opts o;
	char **nargv;

	memset(&cfg, 0, sizeof(cfg));
	if (fs_cfg_rewrite_argv(argc, argv, &nargv, &nargc)) {
		log_err("out of memory");
		return 1;
	}
	ret = opts_init(&o, fs_opt_defs, &cfg);
	if (!ret)
		ret = opts_parse_argv(&o, nargc, nargv, pos, 3, &npos,
				      fs_usage_line);
	if (ret == 1) {
		ret = 0;
		goto out_opts;
	}
	if (!ret)
		ret = fs_cfg_validate(&o, &cfg, pos, npos, &mountpoint);
	if (ret) {
		log_err("%s", o.err);
		ret = 1;
		goto out_opts;
	}
	if (npos == 2)
		source = pos[0];
	log_set_level(cfg.debug ? LOG_DEBUG : log_level_of(cfg.log_level));
	if (check_mountpoint(mountpoint) || auth_init()) {
		ret = 1;
		goto out_opts;
	}
	mp = realpath(mountpoint, NULL);
	if (!mp) {
		log_err("mountpoint %s: %s", mountpoint, strerror(errno));
		ret = 1;
		goto out_opts;
	}
	if (is_cnetmem_mount(mp)) {
		log_err("mountpoint %s: already a cnetmem mount; unmount it "
			"first (fusermount3 -u %s)",
			mp, mp);
		ret = 1;
		goto out_opts;
	}
	/* the daemon works from /: relative paths are resolved here */
	if (make_absolute("key file", &cfg.key_file) ||
	    make_absolute("backup", &cfg.backup)) {
		ret = 1;
		goto out_opts;
	}
	if (!cfg.foreground) {
		ret = service_fork(&status);
		if (ret < 0) {
			log_err("fork: %s", strerror(-ret));
			ret = 1;
			goto out_opts;
		}
		if (ret == 1) { /* the parent, with the child's word */
			ret = status;
			goto out_opts;
		}
		if (chdir("/")) {
			/* stay where we are */
		}
	}
	ret = run(&cfg, mp, source) ? 1 : 0;
	if (ret)
		service_failed(ret);
out_opts:
	free(mp);
	opts_free(&o);
	free(nargv);
	return ret;
}
