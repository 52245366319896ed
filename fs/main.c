// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cnetmem - mount a cnetmem filesystem.
 *
 * Two processes of this binary serve a mount (issue 14): the supervisor
 * (fs/supervisor.h), which is what `cnetmem MOUNTPOINT` stays as, mounts
 * and holds /dev/fuse; the serving process, started by it with
 * SUP_SERVE_ARG in front of the same command line, connects to the donors
 * and runs the FUSE loop on the inherited descriptor (fs/resume.h). When
 * it dies, the supervisor starts another.
 *
 * Start-up order matters: options and the mountpoint are checked first
 * (clear error, exit 1); then, unless --foreground, the process forks and
 * the parent waits (common/service.h) until the first serving process has
 * connected to its donors and answered FUSE_INIT, so that the exit status
 * tells mount(8) whether it worked and nothing is left mounted after a
 * failure. Under a Type=notify unit (--foreground) systemd gets READY=1
 * then. The serving process protects itself (mlockall, PR_SET_IO_FLUSHER,
 * oom_score_adj -1000) before any thread or pool exists; the supervisor
 * too.
 *
 * SIGTERM/SIGINT/SIGHUP end the daemon only while no file is open: a swap
 * file on a loop device keeps its file open, and exiting then would lose
 * every swapped page. Unmount with fusermount3 -u (EBUSY while swap is
 * active) after swapoff and losetup -d.
 */
#include "common/cpu_latency.h"
#include "common/log.h"
#include "common/mountinfo.h"
#include "common/parse.h"
#include "common/service.h"
#include "fs/config.h"
#include "fs/fs.h"
#include "fs/fuse_loop.h"
#include "fs/resume.h"
#include "fs/srv.h"
#include "fs/state.h"
#include "fs/supervisor.h"
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

/*
 * The settings of the page store and the fs that c gives, without donors
 * or key: the supervisor lays out the state (fs/state.h) from them, the
 * serving process adds the rest.
 */
static void store_cfg(const struct fs_cfg *c, struct pstore_cfg *pc,
		      struct cnmfs_params *fp, const char *mp)
{
	pc->transport = kind_of(c);
	pc->capacity = c->size;
	pc->slab_size = c->slab_size;
	pc->replicas = c->replicas;
	pc->backup_path = c->backup;
	pc->io_timeout_ms = c->io_timeout_ms;
	pc->ctl_timeout_ms = c->ctl_timeout_ms;
	if (c->plaintext_pages)
		pc->seal = PSTORE_SEAL_OFF;
	pc->sample_d = (unsigned int)c->rank_sample;
	pc->w_free = c->rank_free;
	pc->w_trend = c->rank_trend;
	pc->w_latency = c->rank_latency;
	/* pstore reads 0 as its default band; an exact 0 is near enough */
	pc->band = c->rank_band ? c->rank_band : 1e-9;
	fp->capacity = c->size;
	fp->requests = c->requests;
	fp->mountpoint = mp;
	fp->metadata_max = c->metadata_max;
	fp->cache_direct = c->cache == FS_CACHE_DIRECT;
	fp->ring_poll_us = c->ring_poll_us;
	fp->ring_batch = c->ring_batch;
}

/*
 * The serving process's side of the start: the connection the supervisor
 * holds, past FUSE_INIT (kept or replayed), the unanswered requests of a
 * predecessor queued again.
 */
static int attach_session(struct fuse_session *se, struct sup_serve *sv,
			  struct state *st, const char *mp, int *replayed)
{
	char dev[32];
	int ret;

	snprintf(dev, sizeof(dev), "/dev/fd/%d", sv->fuse_fd);
	if (fuse_session_mount(se, dev)) {
		log_err("mount %s: cannot use %s", mp, dev);
		return -EBADF;
	}
	ret = resume_init(se, st, replayed);
	if (ret) {
		log_err("mount %s: FUSE_INIT: %s", mp, strerror(-ret));
		return ret;
	}
	if (!*replayed)
		return 0;
	ret = resume_resend(sv->fuse_fd);
	if (ret)
		log_err("mount %s: FUSE_NOTIFY_RESEND: %s (Linux >= 6.9 "
			"needed): requests the last process read are lost",
			mp, strerror(-ret));
	else
		log_notice("mount %s: took over (restart %u); unanswered "
			   "requests resent",
			   mp, sv->restarts);
	return 0;
}

static int run(struct fs_cfg *c, const char *mp, const char *source,
	       struct sup_serve *serve)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct cnmfs_params fp = { 0 };
	struct pstore_cfg pc = { 0 };
	struct pstore *ps = NULL;
	struct srv_watch *watch = NULL;
	struct auth_key key = { 0 };
	char err[512] = "", **donors = NULL;
	struct state *st = NULL;
	sigset_t stopsigs;
	int ret, qos = -1, ndonors = 0, replayed = 0;

	ret = state_attach(serve->state_fd, &st);
	if (ret) {
		log_err("mount %s: cannot attach to the mount's state: %s%s",
			mp, strerror(-ret),
			ret == -EPROTO
				? " (a binary with another state layout: "
				  "remount to upgrade)"
				: "");
		return ret;
	}
	serve->state_fd = -1; /* st's now */
	if (c->key_file) {
		ret = auth_key_load(c->key_file, &key, err, sizeof(err));
		if (ret) {
			log_err("%s", err);
			goto out_state;
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

	store_cfg(c, &pc, &fp, mp);
	pc.donors = (const char *const *)donors;
	pc.ndonors = ndonors;
	pc.key = c->key_file ? &key : NULL;
	pc.arena = state_arena(st);
	fp.arena = state_arena(st);
	if (c->plaintext_pages)
		log_warn("--insecure-plaintext-pages: pages go to the donors "
			 "and the backup UNENCRYPTED and UNAUTHENTICATED; any "
			 "donor, backup reader or network path can read and "
			 "change them (benchmarks and diagnostics only)");
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
	/* counted in the state: true across supervisors too (fd store) */
	cnmfs_set_daemon(g_fs, state_restarts(st), serve->supervisor);
	ret = attach_session(g_se, serve, st, mp, &replayed);
	if (ret)
		goto out_unmount;
	if (!replayed)
		log_notice("mounted %s: %s, %s capacity", mp,
			   c->local_memory ? "local memory" : "donors",
			   format_size(c->size, err, sizeof(err)));
	/* started with the stop signals blocked, like the transports */
	if (c->cache == FS_CACHE_WRITEBACK && !replayed)
		start_tune_bdi(mp);
	sup_serve_ready(serve);
	/* a successor too: its stderr is the supervisor's, /dev/null once
	 * syslog took the logs */
	if (!c->foreground)
		service_leave_terminal("cnetmem");

	/* the main thread and the FUSE workers it starts take them */
	pthread_sigmask(SIG_UNBLOCK, &stopsigs, NULL);
	ret = floop_run(g_se, (unsigned int)c->threads);
	if (ret)
		log_warn("mount %s: session loop ended with %d", mp, ret);
	ret = 0;
out_unmount:
	/* a no-op on /dev/fd/N: the supervisor unmounts */
	fuse_session_unmount(g_se);
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
out_state:
	state_close(st);
	return ret;
}

/*
 * A serving process (started by the supervisor) sees SUP_SERVE_ARG,
 * SUP_CWD_ARG and SUP_MP_ARG in front of the user's command line: takes
 * them off, works from the user's directory while options are read.
 * 1 if serving, 0 if not, -1 on a bad value.
 */
static int serve_args(int *argc, char ***argv, struct sup_serve *sv,
		      const char **mp)
{
	char **v = *argv;
	size_t ls = strlen(SUP_SERVE_ARG), lc = strlen(SUP_CWD_ARG),
	       lm = strlen(SUP_MP_ARG);

	if (*argc < 4 || strncmp(v[1], SUP_SERVE_ARG, ls))
		return 0;
	if (sup_serve_parse(v[1] + ls, sv) || strncmp(v[2], SUP_CWD_ARG, lc) ||
	    strncmp(v[3], SUP_MP_ARG, lm) || v[3][lm] != '/') {
		log_err("%s: not started by a cnetmem supervisor", v[1]);
		return -1;
	}
	if (chdir(v[2] + lc))
		log_warn("directory %s: %s (relative paths may not resolve)",
			 v[2] + lc, strerror(errno));
	*mp = v[3] + lm;
	v[3] = v[0];
	*argv = v + 3;
	*argc -= 3;
	return 1;
}

/* adopt_fuse, adopt_state: -1, or a live mount from systemd's fd store */
static int supervise_mount(struct fs_cfg *c, const char *mp, const char *source,
			   int argc, char **argv, int adopt_fuse,
			   int adopt_state)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct sup_params sp = {
		.mountpoint = mp,
		.args = &args,
		.argv = argv,
		.argc = argc,
		.fuse_fd = adopt_fuse,
		.state_fd = adopt_state,
	};
	struct cnmfs_params fp = { 0 };
	struct pstore_cfg pc = { 0 };
	char *cwd = getcwd(NULL, 0);
	struct state *st = NULL;
	int ret = 1, status;

	if (!cwd) {
		log_err("working directory: %s", strerror(errno));
		return 1;
	}
	sp.cwd = cwd;
	if (fuse_argv(c, source, &args)) {
		log_err("out of memory");
		goto out_args;
	}
	if (!c->foreground) {
		ret = service_fork(&status);
		if (ret < 0) {
			log_err("fork: %s", strerror(-ret));
			ret = 1;
			goto out_args;
		}
		if (ret == 1) { /* the parent, with the child's word */
			ret = status;
			goto out_args;
		}
	}
	if (chdir("/")) {
		/* stay where we are */
	}
	protect_self();
	if (adopt_state >= 0) {
		ret = supervise(&sp);
		goto out_failed;
	}
	store_cfg(c, &pc, &fp, mp);
	ret = state_create(&pc, &fp, &st);
	if (ret) {
		log_err("mount %s: cannot lay out its state: %s", mp,
			strerror(-ret));
		ret = 1;
		service_failed(ret);
		goto out_args;
	}
	sp.state_fd = state_fd(st);
	ret = supervise(&sp);
	state_close(st);
out_failed:
	if (ret)
		service_failed(ret);
out_args:
	fuse_opt_free_args(&args);
	free(cwd);
	return ret;
}

int main(int argc, char **argv)
{
	const char *pos[3], *mountpoint = NULL, *source = NULL,
			    *serve_mp = NULL;
	struct sup_serve sv = { -1, -1, -1, 0, 0 };
	char *mp = NULL;
	int npos = 0, ret, nargc, serving, adopt_fuse = -1, adopt_state = -1;
	struct fs_cfg cfg;
	struct opts o;
	char **nargv;

	memset(&cfg, 0, sizeof(cfg));
	serving = serve_args(&argc, &argv, &sv, &serve_mp);
	if (serving < 0)
		return 1;
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
	if (serving) {
		/* never stat the mountpoint here: nobody would answer */
		if (auth_init() || make_absolute("key file", &cfg.key_file) ||
		    make_absolute("backup", &cfg.backup)) {
			ret = 1;
			goto out_opts;
		}
		if (chdir("/")) {
			/* stay where we are */
		}
		ret = run(&cfg, serve_mp, source, &sv);
		/* a state it cannot resume: no successor would do better */
		ret = ret == -EPROTO ? SUP_EXIT_FINAL : ret ? 1 : 0;
		goto out_opts;
	}
	if (sup_fdstore_take(&adopt_fuse, &adopt_state)) {
		/* the mount is live but unserved: never stat it here */
		mp = mountpoint[0] == '/' ? strdup(mountpoint) : NULL;
		ret = mp ? supervise_mount(&cfg, mp, source, argc, argv,
					   adopt_fuse, adopt_state)
			 : 1;
		if (!mp)
			log_err("mountpoint %s: must be absolute to take a "
				"mount over from systemd",
				mountpoint);
		goto out_opts;
	}
	if (check_mountpoint(mountpoint)) {
		ret = 1;
		goto out_opts;
	}
	mp = realpath(mountpoint, NULL);
	if (!mp) {
		log_err("mountpoint %s: %s", mountpoint, strerror(errno));
		ret = 1;
		goto out_opts;
	}
	if (mountinfo_has(MOUNTINFO_CNETMEM, mp)) {
		log_err("mountpoint %s: already a cnetmem mount; unmount it "
			"first (fusermount3 -u %s)",
			mp, mp);
		ret = 1;
		goto out_opts;
	}
	ret = supervise_mount(&cfg, mp, source, argc, argv, -1, -1);
out_opts:
	free(mp);
	opts_free(&o);
	free(nargv);
	return ret;
}
