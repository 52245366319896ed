// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_stats - the stats file (MOUNTPOINT/.cnetmem-stats): a snapshot, taken
 * at open, of the mount's counters and the page store's as one JSON object,
 * built with jansson (docs/design.md says why) and written compact.
 */
#include "fs/fs_priv.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const op_names[OP_N] = {
	"lookup",    "getattr", "setattr", "readlink", "mknod",	 "mkdir",
	"unlink",    "rmdir",	"symlink", "rename",   "link",	 "open",
	"read",	     "write",	"release", "readdir",  "statfs", "create",
	"fallocate", "lseek",	"xattr",
};

const unsigned int fs_lat_le_us[LAT_HIST - 1] = {
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100000,
};

/* Every number of the file is an integer but the transports' latency. */
#define J(v) ((json_int_t)(v))

/*
 * {"le":[...],"counts":[...],SUMKEY:sum}: counts[i] holds the values up
 * to le[i] (and above le[i-1]); the last count, everything above; sum,
 * the values added up. n counts, n - 1 bounds.
 */
static json_t *hist_json(const unsigned int *le, atomic_ulong *counts,
			 unsigned int n, const char *sumkey,
			 unsigned long long sum)
{
	json_t *jle = json_array(), *jc = json_array();
	int err = !jle || !jc;

	for (unsigned int i = 0; !err && i + 1 < n; i++)
		err = json_array_append_new(jle, json_integer(J(le[i])));
	for (unsigned int i = 0; !err && i < n; i++)
		err = json_array_append_new(
			jc, json_integer(J(atomic_load(&counts[i]))));
	if (err) {
		json_decref(jle);
		json_decref(jc);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:I}", "le", jle, "counts", jc, sumkey,
			 J(sum));
}

static json_t *ops_json(struct cnmfs *fs)
{
	json_t *ops = json_object();

	for (int i = 0; ops && i < OP_N; i++) {
		if (json_object_set_new(
			    ops, op_names[i],
			    json_pack("{s:I,s:I}", "count",
				      J(atomic_load(&fs->ops[i].count)),
				      "errors",
				      J(atomic_load(&fs->ops[i].errors))))) {
			json_decref(ops);
			ops = NULL;
		}
	}
	return ops;
}

void cnmfs_set_daemon(struct cnmfs *fs, unsigned int restarts, int supervisor)
{
	fs->daemon_restarts = restarts;
	fs->daemon_supervisor = supervisor;
}

json_t *cnmfs_stats(struct cnmfs *fs)
{
	unsigned int ninodes, nfiles, io_le[IO_HIST - 1];
	struct pmap_meta meta;
	json_t *root, *ps;
	int err;

	pthread_mutex_lock(&fs->ns_lock);
	ninodes = fs->ninodes;
	nfiles = fs->nfiles;
	pthread_mutex_unlock(&fs->ns_lock);
	pmap_pool_meta(fs->pool, &meta);
	for (int i = 0; i < IO_HIST - 1; i++)
		io_le[i] = 1u << i; /* KiB */
	root = json_pack(
		"{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		"s:I,s:I,s:I}",
		"mountpoint", fs->mountpoint, "capacity_bytes",
		J(pmap_capacity(fs->pool) * PG), "used_bytes",
		J(pmap_used(fs->pool) * PG), "files", J(nfiles), "inodes",
		J(ninodes), "map_nodes_used", J(pmap_pool_nodes_used(fs->pool)),
		"map_nodes_total", J(pmap_pool_nodes_total(fs->pool)),
		"metadata_budget", J(meta.budget), "metadata_bytes",
		J(meta.node_bytes + meta.charged_bytes), "namespace_bytes",
		J(meta.charged_bytes), "map_resident_bytes",
		J(meta.touched_bytes), "metadata_enospc", J(meta.refused),
		"request_buffers", J(fs->nreqs), "request_waits",
		J(atomic_load(&fs->req_waits)), "bytes_read",
		J(atomic_load(&fs->bytes_read)), "bytes_written",
		J(atomic_load(&fs->bytes_written)), "rmw_reads",
		J(atomic_load(&fs->rmw_reads)));
	if (!root)
		return NULL;
	/* one member a line, in the file's order: a NULL value (ENOMEM)
	 * fails its set and the whole object */
	err = json_object_set_new(
		root, "daemon",
		json_pack("{s:i,s:I,s:i}", "pid", (int)getpid(), "restarts",
			  J(fs->daemon_restarts), "supervisor",
			  fs->daemon_supervisor));
	err |= json_object_set_new(root, "ops", ops_json(fs));
	err |= json_object_set_new(
		root, "cache",
		json_string(fs->cache_direct ? "direct" : "writeback"));
	err |= json_object_set_new(
		root, "working_set",
		json_pack("{s:I,s:I,s:I,s:I}", "reads",
			  J(atomic_load(&fs->ws_reads)), "read_bytes",
			  J(atomic_load(&fs->ws_read_bytes)), "writes",
			  J(atomic_load(&fs->ws_writes)), "write_bytes",
			  J(atomic_load(&fs->ws_write_bytes))));
	/* what really carries the requests (fs/fuse_loop.h): io_uring once
	 * one came through a ring; ring threads that took their context, and
	 * ring requests that had to use the pool */
	err |= json_object_set_new(root, "fuse_transport",
				   json_string(atomic_load(&fs->uring_seen)
						       ? "io_uring"
						       : "dev_fuse"));
	err |= json_object_set_new(
		root, "fuse_rings",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "threads",
			  J(atomic_load(&fs->ring_claimed) < fs->nring
				    ? atomic_load(&fs->ring_claimed)
				    : fs->nring),
			  "contexts", J(fs->nring), "overflow",
			  J(atomic_load(&fs->ring_overflow)), "polls",
			  J(atomic_load(&fs->ring_polls)), "poll_hits",
			  J(atomic_load(&fs->ring_poll_hits)), "batched",
			  J(atomic_load(&fs->ring_batched))));
	err |= json_object_set_new(root, "read_kib",
				   hist_json(io_le, fs->read_kib, IO_HIST,
					     "sum_bytes",
					     atomic_load(&fs->read_kib_sum)));
	err |= json_object_set_new(root, "write_kib",
				   hist_json(io_le, fs->write_kib, IO_HIST,
					     "sum_bytes",
					     atomic_load(&fs->write_kib_sum)));
	err |= json_object_set_new(root, "read_latency_us",
				   hist_json(fs_lat_le_us, fs->read_lat,
					     LAT_HIST, "sum_ns",
					     atomic_load(&fs->read_lat_ns)));
	err |= json_object_set_new(root, "write_latency_us",
				   hist_json(fs_lat_le_us, fs->write_lat,
					     LAT_HIST, "sum_ns",
					     atomic_load(&fs->write_lat_ns)));
	/* the page store's members follow at the top level */
	ps = fs->ps ? pstore_stats(fs->ps) : NULL;
	if (fs->ps)
		err |= !ps || json_object_update(root, ps);
	json_decref(ps);
	if (err) {
		json_decref(root);
		return NULL;
	}
	return root;
}

struct stats_snap *fs_stats_snapshot(struct cnmfs *fs)
{
	struct stats_snap *s = NULL;
	json_t *root = cnmfs_stats(fs);
	char *text;
	size_t len;

	if (!root)
		return NULL;
	text = json_dumps(root, PSTORE_JSON_FLAGS);
	json_decref(root);
	if (!text)
		return NULL;
	len = strlen(text);
	s = malloc(sizeof(*s) + len + 1);
	if (s) {
		memcpy(s->data, text, len);
		s->data[len] = '\n';
		s->len = len + 1;
	}
	free(text);
	return s;
}
