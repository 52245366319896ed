/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * supervisor - the process `cnetmem MOUNTPOINT ...` stays as (issue 14): it
 * mounts, holds the /dev/fuse descriptor and the mount's state (fs/state.h)
 * for the life of the mount, does no I/O on them, and runs
 * the serving process: the same command line started again from the binary
 * now on disk, with SUP_SERVE_ARG and two more items in front (the fds by
 * number, the restart count, the working directory, the mountpoint).
 *
 * When the serving process dies by any signal or a non-zero exit, a
 * successor starts at once; one that dies before it is ready or within
 * SUP_QUICK_MS of being ready counts as a quick death, and the next start
 * waits 100 ms, doubling up to 2 s. After SUP_MAX_QUICK quick deaths in a
 * row (at once when a serving process exits with SUP_EXIT_FINAL) the
 * supervisor gives up with an error and exits: the connection then dies
 * as it did before there was a supervisor ("Transport endpoint is not
 * connected"). SIGUSR1
 * (cnetmemctl restart) kills the serving process and starts the binary on
 * disk, never counted as quick. SIGTERM, SIGINT and SIGHUP are passed on to
 * the serving process, which exits only when no file is open; once it
 * exits with status 0 the supervisor unmounts and exits 0. If the first
 * serving process fails before the mount is ready, the supervisor
 * unmounts and fails (exit 1), as a failed mount did before.
 *
 * Under systemd the supervisor also leaves both descriptors in the unit's
 * fd store (FDSTORE=1, names SUP_FDNAME_FUSE and SUP_FDNAME_STATE; kept
 * only with FileDescriptorStoreMax=): if the supervisor itself dies,
 * systemd starts the unit again with them (LISTEN_FDS) and the new
 * supervisor takes the live mount over instead of mounting
 * (sup_fdstore_take()), killing nothing: the old serving process, if
 * still alive, is killed by systemd (KillMode=mixed) and replaced.
 *
 * Threading: one thread; after start-up no allocation, only fork, exec,
 * waitpid and poll on a signalfd and the ready pipe.
 */
#ifndef CNM_FS_SUPERVISOR_H
#define CNM_FS_SUPERVISOR_H

#define SUP_SERVE_ARG "--serve="     /* FUSEFD,RESUMEFD,READYFD,RESTARTS,SUP */
#define SUP_CWD_ARG   "--serve-cwd=" /* the command's working directory */
#define SUP_MP_ARG    "--serve-mp="  /* the mountpoint, absolute */
#define SUP_QUICK_MS  1000
#define SUP_MAX_QUICK 5
/* A successor not ready by then (a donor that accepts and never answers)
 * is killed and counts as a quick death; the first start has no limit. */
#define SUP_READY_MS 60000
/* A serving process's exit status for "no successor can do better" (a
 * state it cannot resume): the supervisor gives up at once. */
#define SUP_EXIT_FINAL 78

struct fuse_args;

struct sup_params {
	const char *mountpoint; /* absolute, resolved */
	struct fuse_args *args; /* libfuse options for the mount; borrowed */
	char **argv;		/* the command line (argv[0] ignored) */
	int argc;
	const char *cwd; /* where relative paths of argv are resolved */
	int state_fd;	 /* the state's memfd (fs/state.h); borrowed */
	int fuse_fd;	 /* -1: mount; else a live connection (fd store) */
};

/* What a serving process was given (the values of SUP_SERVE_ARG). */
struct sup_serve {
	int fuse_fd, state_fd, ready_fd;
	unsigned int restarts;
	int supervisor; /* pid */
};

/*
 * Mounts and supervises until the end of the mount. Tells a waiting
 * parent or systemd (common/service.h) once the first serving process is
 * ready. Returns the exit status: 0 after a clean end, 1 otherwise.
 */
int supervise(const struct sup_params *p);
#define SUP_FDNAME_FUSE	 "cnetmem-fuse"
#define SUP_FDNAME_STATE "cnetmem-state"
/*
 * The descriptors a dead supervisor of this unit left in systemd's fd
 * store (LISTEN_FDS): 1 with both set (owned by the caller), 0 if there
 * are none (or not both: those are closed).
 */
int sup_fdstore_take(int *fuse_fd, int *state_fd);
/* Parses the value of SUP_SERVE_ARG. 0 or -EINVAL. */
int sup_serve_parse(const char *s, struct sup_serve *out);
/* In the serving process: tells the supervisor this one is ready. */
void sup_serve_ready(struct sup_serve *s);

#endif
