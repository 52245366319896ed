// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_stats - the stats file (MOUNTPOINT/.cnetmem-stats): a snapshot, taken
 * at open, of the mount's counters and the page store's as one JSON object.
 */
#include "fs/fs_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const op_names[OP_N] = {
	"lookup",    "getattr", "setattr", "readlink", "mknod",	 "mkdir",
	"unlink",    "rmdir",	"symlink", "rename",   "link",	 "open",
	"read",	     "write",	"release", "readdir",  "statfs", "create",
	"fallocate", "lseek",	"xattr",
};

const unsigned int fs_lat_le_us[LAT_HIST - 1] = {
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100000,
};

struct stats_snap *fs_stats_snapshot(struct cnmfs *fs)
{
	struct stats_snap *s = NULL;
	size_t len = 64 * 1024;
	int n;

	for (; len <= 16u << 20; len *= 4) {
		s = malloc(sizeof(*s) + len);
		if (!s)
			return NULL;
		n = cnmfs_stats_json(fs, s->data, len);
		if (n >= 0) {
			s->len = n;
			return s;
		}
		free(s);
		s = NULL;
	}
	return NULL;
}

static int jput(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int jput(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= len)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *pos)
		return -ENOSPC;
	*pos += n;
	return 0;
}

int cnmfs_stats_json(struct cnmfs *fs, char *buf, size_t len)
{
	unsigned int ninodes, nfiles;
	struct pmap_meta meta;
	size_t pos = 0;
	int ret, n;

	pthread_mutex_lock(&fs->ns_lock);
	ninodes = fs->ninodes;
	nfiles = fs->nfiles;
	pthread_mutex_unlock(&fs->ns_lock);
	pmap_pool_meta(fs->pool, &meta);
	ret = jput(
		buf, len, &pos,
		"{\"mountpoint\":\"%s\",\"capacity_bytes\":%" PRIu64
		",\"used_bytes\":%" PRIu64 ",\"files\":%u,\"inodes\":%u,"
		"\"map_nodes_used\":%" PRIu64 ",\"map_nodes_total\":%" PRIu64
		",\"metadata_budget\":%" PRIu64 ",\"metadata_bytes\":%" PRIu64
		",\"namespace_bytes\":%" PRIu64
		",\"map_resident_bytes\":%" PRIu64
		",\"metadata_enospc\":%" PRIu64
		",\"request_buffers\":%u,\"request_waits\":%lu,"
		"\"bytes_read\":%llu,\"bytes_written\":%llu,"
		"\"rmw_reads\":%llu,\"ops\":{",
		fs->mountpoint, pmap_capacity(fs->pool) * PG,
		pmap_used(fs->pool) * PG, nfiles, ninodes,
		pmap_pool_nodes_used(fs->pool), pmap_pool_nodes_total(fs->pool),
		meta.budget, meta.node_bytes + meta.charged_bytes,
		meta.charged_bytes, meta.touched_bytes, meta.refused, fs->nreqs,
		atomic_load(&fs->req_waits), atomic_load(&fs->bytes_read),
		atomic_load(&fs->bytes_written), atomic_load(&fs->rmw_reads));
	for (int i = 0; !ret && i < OP_N; i++)
		ret = jput(buf, len, &pos,
			   "%s\"%s\":{\"count\":%lu,\"errors\":%lu}",
			   i ? "," : "", op_names[i],
			   atomic_load(&fs->ops[i].count),
			   atomic_load(&fs->ops[i].errors));
	if (!ret)
		ret = jput(buf, len, &pos, "}");
	if (!ret)
		ret = jput(buf, len, &pos,
			   ",\"cache\":\"%s\",\"working_set\":{\"reads\":%lu,"
			   "\"read_bytes\":%llu,\"writes\":%lu,"
			   "\"write_bytes\":%llu}",
			   fs->cache_direct ? "direct" : "writeback",
			   atomic_load(&fs->ws_reads),
			   atomic_load(&fs->ws_read_bytes),
			   atomic_load(&fs->ws_writes),
			   atomic_load(&fs->ws_write_bytes));
	/* what really carries the requests (fs/fuse_loop.h): io_uring once
	 * one came through a ring; ring threads that took their context, and
	 * ring requests that had to use the pool */
	if (!ret)
		ret = jput(buf, len, &pos,
			   ",\"fuse_transport\":\"%s\",\"fuse_rings\":{"
			   "\"threads\":%u,\"contexts\":%u,\"overflow\":%lu}",
			   atomic_load(&fs->uring_seen) ? "io_uring"
							: "dev_fuse",
			   atomic_load(&fs->ring_claimed) < fs->nring
				   ? atomic_load(&fs->ring_claimed)
				   : fs->nring,
			   fs->nring, atomic_load(&fs->ring_overflow));
	for (int h = 0; h < 2; h++) {
		atomic_ulong *hist = h ? fs->write_kib : fs->read_kib;

		/* counts[i] holds sizes up to le[i] KiB (and above
		 * le[i-1]); the last count, everything above; sum_bytes,
		 * the sizes added up */
		if (!ret)
			ret = jput(buf, len, &pos, ",\"%s\":{\"le\":[",
				   h ? "write_kib" : "read_kib");
		for (int i = 0; !ret && i < IO_HIST - 1; i++)
			ret = jput(buf, len, &pos, "%s%d", i ? "," : "",
				   1 << i);
		if (!ret)
			ret = jput(buf, len, &pos, "],\"counts\":[");
		for (int i = 0; !ret && i < IO_HIST; i++)
			ret = jput(buf, len, &pos, "%s%lu", i ? "," : "",
				   atomic_load(&hist[i]));
		if (!ret)
			ret = jput(buf, len, &pos, "],\"sum_bytes\":%llu}",
				   atomic_load(h ? &fs->write_kib_sum
						 : &fs->read_kib_sum));
	}
	for (int h = 0; h < 2; h++) {
		atomic_ulong *hist = h ? fs->write_lat : fs->read_lat;

		if (!ret)
			ret = jput(buf, len, &pos, ",\"%s\":{\"le\":[",
				   h ? "write_latency_us" : "read_latency_us");
		for (int i = 0; !ret && i < LAT_HIST - 1; i++)
			ret = jput(buf, len, &pos, "%s%u", i ? "," : "",
				   fs_lat_le_us[i]);
		if (!ret)
			ret = jput(buf, len, &pos, "],\"counts\":[");
		for (int i = 0; !ret && i < LAT_HIST; i++)
			ret = jput(buf, len, &pos, "%s%lu", i ? "," : "",
				   atomic_load(&hist[i]));
		if (!ret)
			ret = jput(buf, len, &pos, "],\"sum_ns\":%llu}",
				   atomic_load(h ? &fs->write_lat_ns
						 : &fs->read_lat_ns));
	}
	if (!ret && fs->ps) {
		ret = jput(buf, len, &pos, ",");
		if (!ret) {
			n = pstore_json(fs->ps, buf + pos, len - pos);
			if (n < 0)
				ret = n;
			else
				pos += n;
		}
	}
	if (!ret)
		ret = jput(buf, len, &pos, "}\n");
	return ret ? ret : (int)pos;
}
