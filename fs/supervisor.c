// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * supervisor - mount, hold /dev/fuse, run and re-run the serving process
 * (fs/supervisor.h).
 *
 *   supervisor                          serving process (same binary)
 *     mount, state, fork+exec -------->  attach, pstore, cnmfs, FUSE_INIT
 *     (signalfd, ready pipe, SIGCHLD) <-- ready byte        (fs/resume.h)
 *            ...                          serves until killed
 *     SIGCHLD: waitpid, backoff,
 *     fork+exec again --------------->  attach (resume), replayed INIT,
 *                                        RESEND
 */
#include "fs/supervisor.h"

#include "cnm_config.h"
#include "common/log.h"
#include "common/service.h"

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if CNM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

struct sup {
	const struct sup_params *p;
	struct fuse_session *se;
	int fuse_fd, sfd;
	char exe[PATH_MAX];
	char serve[96];	 /* SUP_SERVE_ARG value, rewritten per start */
	char **argv;	 /* exe, serve, cwd, mp, p->argv[1..] */
	pid_t server;	 /* 0: none running */
	int ready_rd;	 /* read end of the running one's ready pipe */
	int ready;	 /* the running one said it is ready */
	int ever_ready;	 /* some serving process was */
	int told_ready;	 /* service_ready() done */
	int planned;	 /* we killed it (restart), do not count it */
	int killed_slow; /* we killed it: not ready in time */
	unsigned int restarts, quick;
	long long started_ms, ready_ms;
	long long next_start_ms; /* -1: no start pending */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * The binary to start: argv[0] as given (made absolute, symlinks kept, so
 * an upgrade that swaps a link or a file is what the next start runs),
 * found in PATH for a bare name, else the running binary.
 */
static void find_exe(struct sup *s, const char *argv0)
{
	const char *path = getenv("PATH");
	char cand[PATH_MAX];

	if (strchr(argv0, '/')) {
		if (argv0[0] == '/')
			snprintf(s->exe, sizeof(s->exe), "%s", argv0);
		else
			snprintf(s->exe, sizeof(s->exe), "%s/%s", s->p->cwd,
				 argv0);
		return;
	}
	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, path, argv0);
		if (cand[0] == '/' && !access(cand, X_OK)) {
			snprintf(s->exe, sizeof(s->exe), "%s", cand);
			return;
		}
		path += n + (path[n] == ':');
	}
	if (readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1) < 0)
		snprintf(s->exe, sizeof(s->exe), "/proc/self/exe");
}

static int build_argv(struct sup *s)
{
	const struct sup_params *p = s->p;
	int n = 0;

	s->argv = calloc((size_t)p->argc + 4, sizeof(*s->argv));
	if (!s->argv)
		return -ENOMEM;
	s->argv[n++] = s->exe;
	s->argv[n++] = s->serve;
	if (asprintf(&s->argv[n++], "%s%s", SUP_CWD_ARG, p->cwd) < 0 ||
	    asprintf(&s->argv[n++], "%s%s", SUP_MP_ARG, p->mountpoint) < 0)
		return -ENOMEM;
	for (int i = 1; i < p->argc; i++)
		s->argv[n++] = p->argv[i];
	return 0;
}

static void free_argv(struct sup *s)
{
	if (!s->argv)
		return;
	free(s->argv[2]);
	free(s->argv[3]);
	free(s->argv);
}

/* Child side of spawn(): only async-signal-safe calls until exec. */
static void exec_server(struct sup *s, int ready_wr)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fcntl(ready_wr, F_SETFD, 0))
		_exit(127);
	execv(s->exe, s->argv);
	/* the file on disk is gone or broken: run the one we are */
	execv("/proc/self/exe", s->argv);
	_exit(127);
}

static int spawn(struct sup *s)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	snprintf(s->serve, sizeof(s->serve), "%s%d,%d,%d,%u,%d", SUP_SERVE_ARG,
		 s->fuse_fd, s->p->state_fd, fds[1], s->restarts,
		 (int)getpid());
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0)
		exec_server(s, fds[1]);
	close(fds[1]);
	s->server = pid;
	s->ready_rd = fds[0];
	s->ready = 0;
	s->planned = 0;
	s->killed_slow = 0;
	s->started_ms = now_ms();
	s->next_start_ms = -1;
	log_info("mount %s: serving process %d started (%s, restart %u)",
		 s->p->mountpoint, (int)pid, s->exe, s->restarts);
	return 0;
}

static void close_ready(struct sup *s)
{
	if (s->ready_rd >= 0)
		close(s->ready_rd);
	s->ready_rd = -1;
}

static void on_ready(struct sup *s)
{
	char b;
	ssize_t n = read(s->ready_rd, &b, 1);

	if (n < 0 && errno == EINTR)
		return;
	close_ready(s);
	if (n != 1)
		return; /* died first: SIGCHLD tells */
	s->ready = 1;
	s->ready_ms = now_ms();
	log_info("mount %s: serving process %d ready after %lld ms",
		 s->p->mountpoint, (int)s->server, now_ms() - s->started_ms);
	s->ever_ready = 1;
	if (!s->told_ready) {
		char text[PATH_MAX + 16];

		s->told_ready = 1;
		snprintf(text, sizeof(text), "mounted %s", s->p->mountpoint);
		service_ready("cnetmem", text);
	}
}

/* 1: the mount ended (status in *rc), 0: go on. */
static int on_death(struct sup *s, int status, int *rc)
{
	long long lived = now_ms() - s->started_ms;
	unsigned int delay;
	char how[48];

	close_ready(s);
	s->server = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && s->ever_ready) {
		*rc = 0;
		return 1;
	}
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d",
			 WEXITSTATUS(status));
	if (!s->ever_ready) {
		log_err("mount %s: serving process %s before the mount was "
			"ready",
			s->p->mountpoint, how);
		*rc = 1;
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == SUP_EXIT_FINAL)
		s->quick = SUP_MAX_QUICK;
	else if (s->planned)
		s->quick = 0;
	else if (!s->ready || now_ms() - s->ready_ms < SUP_QUICK_MS)
		s->quick++;
	else
		s->quick = 0;
	if (s->quick >= SUP_MAX_QUICK) {
		log_err("mount %s: serving process %s; giving up after %u "
			"quick deaths or a state it cannot resume: the mount "
			"is dead (fusermount3 -u %s)",
			s->p->mountpoint, how, s->quick, s->p->mountpoint);
		*rc = 1;
		return 1;
	}
	delay = s->quick ? 100u << (s->quick - 1) : 0;
	if (delay > 2000)
		delay = 2000;
	if (s->planned)
		log_notice("mount %s: serving process replaced (restart)",
			   s->p->mountpoint);
	else
		log_warn("mount %s: serving process %s after %lld ms; "
			 "successor in %u ms",
			 s->p->mountpoint, how, lived, delay);
	s->next_start_ms = now_ms() + delay;
	return 0;
}

/* 1: the mount ended (status in *rc), 0: go on. */
static int on_signal(struct sup *s, int *rc)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	if (read(s->sfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	switch (si.ssi_signo) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == s->server && on_death(s, status, rc))
				return 1;
		break;
	case SIGUSR1:
		if (s->server) {
			log_notice("mount %s: restart asked: replacing "
				   "serving process %d",
				   s->p->mountpoint, (int)s->server);
			s->planned = 1;
			kill(s->server, SIGKILL);
		}
		break;
	default: /* SIGTERM, SIGINT, SIGHUP: the server decides */
		if (s->server)
			kill(s->server, (int)si.ssi_signo);
		break;
	}
	return 0;
}

static int run_loop(struct sup *s)
{
	struct pollfd pf[2];
	int rc = 1, timeout, nfd;

	for (;;) {
		if (!s->server && s->next_start_ms >= 0 &&
		    now_ms() >= s->next_start_ms) {
			s->restarts += s->ever_ready;
			int ret = spawn(s);

			if (ret) {
				log_err("mount %s: cannot start a serving "
					"process: %s",
					s->p->mountpoint, strerror(-ret));
				return 1;
			}
		}
		timeout = -1;
		if (!s->server && s->next_start_ms >= 0) {
			long long d = s->next_start_ms - now_ms();

			timeout = d < 0 ? 0 : (int)d;
		} else if (s->server && !s->ready && s->ever_ready) {
			long long d = s->started_ms + SUP_READY_MS - now_ms();

			if (d <= 0 && !s->killed_slow) {
				log_warn("mount %s: serving process %d not "
					 "ready after %d ms: killed",
					 s->p->mountpoint, (int)s->server,
					 SUP_READY_MS);
				kill(s->server, SIGKILL);
				s->killed_slow = 1;
			}
			timeout = d <= 0 ? -1 : (int)d;
		}
		pf[0] = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->ready_rd, .events = POLLIN };
		nfd = s->ready_rd >= 0 ? 2 : 1;
		if (poll(pf, nfd, timeout) < 0 && errno != EINTR)
			return 1;
		if (nfd == 2 && pf[1].revents)
			on_ready(s);
		if (pf[0].revents && on_signal(s, &rc))
			return rc;
	}
}

/* Into systemd's fd store, if we run under systemd; else nothing. */
static void fdstore_push(struct sup *s)
{
#if CNM_HAVE_SYSTEMD
	static const char *const names[2] = { SUP_FDNAME_FUSE,
					      SUP_FDNAME_STATE };
	int fds[2] = { s->fuse_fd, s->p->state_fd };
	char msg[64];

	if (!getenv("NOTIFY_SOCKET"))
		return;
	for (int i = 0; i < 2; i++) {
		snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", names[i]);
		if (sd_pid_notify_with_fds(0, 0, msg, &fds[i], 1) <= 0)
			log_warn("mount %s: systemd's fd store did not take "
				 "%s",
				 s->p->mountpoint, names[i]);
	}
#else
	(void)s;
#endif
}

int sup_fdstore_take(int *fuse_fd, int *state_fd)
{
	int n = 0, found = 0;
#if CNM_HAVE_SYSTEMD
	char **names = NULL;

	*fuse_fd = *state_fd = -1;
	n = sd_listen_fds_with_names(1, &names);
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (!strcmp(names[i], SUP_FDNAME_FUSE) && *fuse_fd < 0)
			*fuse_fd = fd;
		else if (!strcmp(names[i], SUP_FDNAME_STATE) && *state_fd < 0)
			*state_fd = fd;
		else
			close(fd);
		free(names[i]);
	}
	free(names);
	found = *fuse_fd >= 0 && *state_fd >= 0;
	if (!found) {
		if (*fuse_fd >= 0)
			close(*fuse_fd);
		if (*state_fd >= 0)
			close(*state_fd);
		*fuse_fd = *state_fd = -1;
	}
#else
	(void)n;
	*fuse_fd = *state_fd = -1;
#endif
	return found;
}

/* A taken-over mount has no libfuse mount to undo: detach it ourselves
 * while its connection lives (root only, as libfuse does for root). */
static void unmount_adopted(struct sup *s)
{
	struct pollfd pf = { .fd = s->fuse_fd };

	if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR))
		return; /* already unmounted */
	if (umount2(s->p->mountpoint, MNT_DETACH))
		log_warn("mount %s: cannot unmount: %s (fusermount3 -u)",
			 s->p->mountpoint, strerror(errno));
}

int supervise(const struct sup_params *p)
{
	static const struct fuse_lowlevel_ops no_ops;
	struct sup s = { .p = p,
			 .fuse_fd = -1,
			 .sfd = -1,
			 .ready_rd = -1,
			 .next_start_ms = 0 };
	sigset_t set;
	int rc = 1, ret;

	find_exe(&s, p->argv[0]);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) ||
	    (s.sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		log_err("supervisor: signalfd: %s", strerror(errno));
		return 1;
	}
	ret = build_argv(&s);
	if (!ret && fcntl(p->state_fd, F_SETFD, 0))
		ret = -errno;
	if (ret) {
		log_err("mount %s: cannot start: %s", p->mountpoint,
			strerror(-ret));
		goto out_argv;
	}
	if (p->fuse_fd >= 0) {
		/* a live mount from systemd's fd store: no mount, no INIT */
		s.fuse_fd = p->fuse_fd;
		s.ever_ready = 1;
		log_notice("mount %s: taken over from systemd's fd store",
			   p->mountpoint);
		if (fcntl(s.fuse_fd, F_SETFD, 0))
			goto out_argv;
		rc = run_loop(&s);
		if (s.server) {
			kill(s.server, SIGKILL);
			waitpid(s.server, NULL, 0);
		}
		if (!rc) {
			service_stopping();
			unmount_adopted(&s);
			log_notice("unmounted %s", p->mountpoint);
		}
		close(s.fuse_fd);
		goto out_argv;
	}
	s.se = fuse_session_new(p->args, &no_ops, sizeof(no_ops), NULL);
	if (!s.se) {
		log_err("cannot start a FUSE session (bad -o option?)");
		goto out_argv;
	}
	if (fuse_session_mount(s.se, p->mountpoint)) {
		log_err("mountpoint %s: cannot mount", p->mountpoint);
		goto out_session;
	}
	/* passed to every serving process by number */
	s.fuse_fd = fuse_session_fd(s.se);
	if (fcntl(s.fuse_fd, F_SETFD, 0)) {
		log_err("mount %s: /dev/fuse: %s", p->mountpoint,
			strerror(errno));
		goto out_unmount;
	}
	fdstore_push(&s);
	rc = run_loop(&s);
	if (s.server) { /* gave up or failed: take it down with us */
		kill(s.server, SIGKILL);
		waitpid(s.server, NULL, 0);
	}
	/* after giving up the mount point stays until fusermount3 -u, as
	 * after a crash before issue 14: the connection dies with our
	 * descriptor in fuse_session_destroy() */
	if (rc && s.ever_ready)
		goto out_session;
	service_stopping();
out_unmount:
	fuse_session_unmount(s.se);
	log_notice("unmounted %s", p->mountpoint);
out_session:
	fuse_session_destroy(s.se);
out_argv:
	free_argv(&s);
	close_ready(&s);
	close(s.sfd);
	return rc;
}

int sup_serve_parse(const char *s, struct sup_serve *out)
{
	int n = 0;

	if (strpbrk(s, " \t\n") ||
	    sscanf(s, "%d,%d,%d,%u,%d%n", &out->fuse_fd, &out->state_fd,
		   &out->ready_fd, &out->restarts, &out->supervisor, &n) != 5 ||
	    s[n] || out->fuse_fd < 0 || out->state_fd < 0 || out->ready_fd < 0)
		return -EINVAL;
	return 0;
}

void sup_serve_ready(struct sup_serve *s)
{
	char b = 1;

	if (s->ready_fd < 0)
		return;
	if (write(s->ready_fd, &b, 1) != 1) {
		/* the supervisor is gone: nobody to tell */
	}
	close(s->ready_fd);
	s->ready_fd = -1;
}
