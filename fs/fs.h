/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs - the cnetmem filesystem: a tmpfs-like namespace in memory whose file
 * data lives only in the page store (placement/pstore.h), served through
 * the libfuse low-level API.
 *
 * Cache modes, per file: a file once opened with O_DIRECT (what losetup
 * --direct-io=on does: a swap file) is a direct file for the rest of its
 * life: every later open of it gets FOPEN_DIRECT_IO too, and its first
 * such open drops what the page cache held of it, so no page of a swap file
 * stays in the host page cache. Every other regular file (a working-set
 * file) goes through the page cache, with writeback caching on the mount
 * and requests of up to CNMFS_MAX_IO. With cache_direct (the --cache direct
 * option) every file is a direct file and writeback caching stays off.
 *
 * Data path: a FUSE worker takes a request context from a pool made at
 * create time (a max_write buffer and the lpn array), copies the payload in,
 * maps file pages to logical pages under the inode's lock (allocating on
 * first write, preferring the next logical page after the previous one),
 * submits one pstore request and returns to the loop; the pstore done()
 * callback sends the FUSE reply. An empty pool blocks the worker
 * (backpressure). Partial-page writes read the old page first, serialized
 * per inode. No malloc on the read/write path.
 *
 * Over FUSE-over-io_uring (fs/fuse_loop.h) a read or write runs to
 * completion on the ring thread that received it: with that thread's own
 * context (one per configured CPU, never on the pool's free lists), it
 * submits, waits for the completion (done() only wakes it) and replies
 * itself. A reply from another thread would take the ring's queue lock,
 * which the ring thread holds while its handlers run.
 *
 * MOUNTPOINT/.cnetmem-stats is a read-only virtual file (hidden from
 * readdir) holding cnmfs_stats() as text.
 *
 * Threading: FUSE ops run on libfuse worker threads (or ring threads),
 * pstore completions on transport threads. fs->ns_lock guards the namespace (dentries, link,
 * lookup and open counts); each inode's lock guards its size, attributes,
 * page map and in-flight count and is taken after ns_lock, never held
 * while waiting on the network. Pool and capacity have their own locks.
 */
#ifndef CNM_FS_FS_H
#define CNM_FS_FS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#define CNMFS_MAX_IO	 (1024u * 1024) /* max_write: FUSE's 256 pages */
#define CNMFS_STATS_NAME ".cnetmem-stats"

struct pstore;
struct cnmfs;

struct cnmfs_params {
	uint64_t capacity;	/* bytes, a multiple of 4 KiB */
	unsigned int requests;	/* request contexts in the pool */
	const char *mountpoint; /* for the stats file; copied */
	uint64_t metadata_max;	/* bytes (fs/pmap.h); 0: the default */
	int cache_direct;	/* every file FOPEN_DIRECT_IO, no writeback */
	/* a ring thread's busy wait for its donor's reply, in us, before it
	 * sleeps on the socket; -1: it waits for the transport's thread */
	long ring_poll_us;
	/* over io_uring: reads and writes a ring thread keeps in flight */
	long ring_batch;
	/* NULL: the namespace lives in this process only. Else a state
	 * arena (fs/state.h) with the sections cnmfs_arena_sections() asked
	 * for: fresh, it is filled as the fs runs; left by a dead server,
	 * the namespace and page maps in it are resumed (the nodeids the
	 * kernel knows stay valid). Borrowed until cnmfs_destroy(). */
	struct arena *arena;
};

struct arena_sec;
#define CNMFS_ARENA_SECS 4
/* The sections an fs of p needs in its arena; how many or -EINVAL. */
int cnmfs_arena_sections(const struct cnmfs_params *p, struct arena_sec *secs,
			 unsigned int max);

/* ps is borrowed: close it after cnmfs_destroy(). 0 or -errno. */
int cnmfs_create(const struct cnmfs_params *p, struct pstore *ps,
		 struct cnmfs **out);
/* Frees the namespace and gives every page back to ps. */
void cnmfs_destroy(struct cnmfs *fs);
const struct fuse_lowlevel_ops *cnmfs_ops(void);

/* Open file handles right now; async-signal-safe (an atomic load). */
int cnmfs_open_files(struct cnmfs *fs);

/*
 * The serving process's place (fs/supervisor.h) for the stats' "daemon"
 * object: successors started before it, the supervisor's pid (0: none).
 * Call before the FUSE loop starts.
 */
void cnmfs_set_daemon(struct cnmfs *fs, unsigned int restarts, int supervisor);

/* The stats file's content: a JSON object (jansson) the caller owns;
 * the page store's members follow the mount's. NULL on ENOMEM. */
json_t *cnmfs_stats(struct cnmfs *fs);

#endif
