/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * docker - `cnetmemctl serve docker`: a Docker volume plugin (protocol
 * "VolumeDriver", JSON over HTTP on a Unix socket) that makes one cnetmem
 * mount per volume. Three parts, one file each:
 *
 *   docker_vol.c        volumes: a volume NAME is the live fuse.cnetmem
 *                       mount at ROOT/NAME, found in /proc/self/mountinfo
 *                       (no other state: a restarted driver finds its
 *                       volumes again); create runs `cnetmem ROOT/NAME ...`,
 *                       remove unmounts
 *   docker_api.c        the plugin protocol: one request body (JSON, via
 *                       jansson) in, one response body out
 *   cmd_serve_docker.c  the command: arguments, the socket, libmicrohttpd
 *
 * Threading: libmicrohttpd's one internal polling thread calls
 * docker_api_handle(), so requests are served one at a time and the
 * functions here take no lock; a create blocks that thread while cnetmem
 * connects to its donors (bounded by DVOL_SPAWN_TIMEOUT_S). The main
 * thread only waits for a signal.
 */
#ifndef CNM_CTL_DOCKER_H
#define CNM_CTL_DOCKER_H

#include <stddef.h>
#include <stdint.h>

#define DVOL_MAX_DONORS	     32
#define DVOL_MAX_ARGS	     96
#define DVOL_SPAWN_TIMEOUT_S 60

/* The driver's settings; borrowed strings, valid while the driver runs. */
struct dvol_cfg {
	const char *root;	 /* volumes are mounted at root/NAME */
	const char *cnetmem_bin; /* the cnetmem binary (execvp) */
	const char *donors[DVOL_MAX_DONORS]; /* default donors */
	int ndonors;
	const char *key_file; /* passed as --key-file, or NULL */
	char *const *extra;   /* more cnetmem arguments for every mount */
	int nextra;
};

/* One volume option (docker volume create -o NAME=VALUE); borrowed. */
struct dvol_opt {
	const char *name;
	const char *value;
};

/* A volume as found mounted. */
struct dvol_info {
	char name[256];
	char path[4096];
};

/* 0 if name is a valid volume name ([A-Za-z0-9][A-Za-z0-9_.-]*, < 256). */
int dvol_name_ok(const char *name);

/*
 * Builds the cnetmem command line for volume `name` mounted at `mnt`:
 * argv[0..] (NULL-terminated, at most DVOL_MAX_ARGS entries) points into
 * cfg, opts, mnt and `store` (size bytes, for split donor lists). Volume
 * options: size, replicas, donor/donors (comma-separated; they replace the
 * driver's donors), key-file, transport, slab-size, backup, io-timeout-ms,
 * threads, requests, donor-srv, local-memory (true/false). Returns 0, or
 * -EINVAL with a message in err (an unknown option, an empty value).
 */
int dvol_build_argv(const struct dvol_cfg *cfg, const char *mnt,
		    const struct dvol_opt *opts, int nopts, char *store,
		    size_t size, const char **argv, char *err, size_t errlen);

/* Mounts volume `name`; 0 (also when it is already mounted) or -errno
 * with the reason (cnetmem's own error line) in err. */
int dvol_create(const struct dvol_cfg *cfg, const char *name,
		const struct dvol_opt *opts, int nopts, char *err,
		size_t errlen);
/* Unmounts and removes volume `name`: 0 (also when it does not exist),
 * -EBUSY while it is in use, or -errno; err says why. */
int dvol_remove(const struct dvol_cfg *cfg, const char *name, char *err,
		size_t errlen);
/* Fills info when volume `name` is mounted: 0, -ENOENT or -errno. */
int dvol_get(const struct dvol_cfg *cfg, const char *name,
	     struct dvol_info *info);
/* Calls fn for each mounted volume; 0 or -errno. */
int dvol_list(const struct dvol_cfg *cfg,
	      int (*fn)(const struct dvol_info *info, void *arg), void *arg);

/*
 * Serves one plugin request: url ("/VolumeDriver.Create" ...) and its
 * body (may be empty or not NUL-terminated). Returns the HTTP status and
 * sets *resp to a malloc'ed JSON body the caller frees (NULL only if
 * memory ran out; then the status is 500).
 */
unsigned int docker_api_handle(const struct dvol_cfg *cfg, const char *url,
			       const char *body, size_t len, char **resp);

#endif
