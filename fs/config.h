/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config - the settings of one cnetmem mount: one opts table (common/opts.h)
 * for the command line and the --config file, the rewriting of mount(8)
 * style "-o name=value,..." into those settings, and one pure validate
 * function.
 *
 * The mount.fuse3 helper (mount -t fuse.cnetmem, /etc/fstab) runs
 * "cnetmem SOURCE MOUNTPOINT -o OPTS": OPTS items whose name is a cnetmem
 * setting (donor=H:P, size=8G, local-memory, replicas=2, ...) become that
 * setting; every other item (rw, nosuid, allow_other, ...) is passed to
 * libfuse. SOURCE is only a name for mount(8) and /proc/mounts.
 *
 * Ownership: fs_cfg strings are owned by the opts object (opts_free()).
 * Threading: start-up only, one thread.
 */
#ifndef CNM_FS_CONFIG_H
#define CNM_FS_CONFIG_H

#include "common/opts.h"

#include <stdint.h>

#define FS_DEFAULT_PORT "7700"

enum fs_transport { FS_XPORT_AUTO, FS_XPORT_TCP, FS_XPORT_RDMA };
enum fs_cache { FS_CACHE_WRITEBACK, FS_CACHE_DIRECT };
/* fs/fuse_loop.h; same order as the option's choices */
enum fs_fuse_transport { FS_FUSE_AUTO, FS_FUSE_URING, FS_FUSE_DEV };

struct fs_cfg {
	char *config;
	struct opt_strlist donor;
	struct opt_strlist donor_srv; /* DNS SRV names (fs/srv.h) */
	char *donor_srv_server;	      /* NULL: the system's resolver */
	int local_memory;
	uint64_t size;
	long replicas;
	char *key_file;
	char *key_name; /* identity the key is for; NULL: "default" */
	int insecure;	/* donors without keys */
	char *backup;
	int transport;	    /* enum fs_transport */
	int cache;	    /* enum fs_cache */
	int fuse_transport; /* enum fs_fuse_transport */
	int foreground;
	struct opt_strlist options; /* -o items passed to libfuse */
	uint64_t slab_size;
	long threads;
	long requests;
	long io_timeout_ms;
	long ctl_timeout_ms;
	long cpu_latency_us;   /* -1: no PM QoS request */
	long ring_poll_us;     /* fs.h cnmfs_params.ring_poll_us */
	long ring_batch;       /* fs.h cnmfs_params.ring_batch */
	int plaintext_pages;   /* --insecure-plaintext-pages: no page AEAD */
	uint64_t metadata_max; /* 0: pmap_default_budget() */
	long rank_sample;      /* d of rank.h; 0: min(donors, 2R+1) */
	double rank_free, rank_trend, rank_latency; /* rank weights */
	double rank_band;			    /* rank.h; < 0: none */
	int debug;
	int log_level; /* index into log_level_names (common/log.h) */
};

extern const struct opt_def fs_opt_defs[];
extern const char fs_usage_line[];

/*
 * Rewrites argv for opts_parse_argv(): every "-o A,B=C" (also "-oA" and
 * "--options A") is split; items naming a setting become "--name=value"
 * (or "--name" for a true flag, nothing for a false one), the rest are kept
 * as "-o item". Returns 0 or -ENOMEM; *out_argv is one malloc'd block
 * (free it with free()) valid while argv is.
 */
int fs_cfg_rewrite_argv(int argc, char **argv, char ***out_argv, int *out_argc);

/*
 * Checks relations between settings and the positional arguments
 * (MOUNTPOINT, or SOURCE MOUNTPOINT as mount.fuse3 passes them). On
 * success *mountpoint points into pos. Pure: no file system access. 0 or
 * -EINVAL with o->err set.
 */
int fs_cfg_validate(struct opts *o, struct fs_cfg *c, const char **pos,
		    int npos, const char **mountpoint);

#endif
