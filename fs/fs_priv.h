/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs_priv - what the files of fs/ share: the mount object, inodes, dentries,
 * request contexts, and the functions one file of fs/ calls in another.
 * Private to fs/: nothing outside it includes this; the API is fs/fs.h.
 *
 * The files: fs.c (inode helpers, FUSE init, statfs, the ops table, create
 * and destroy), fs_req.c (the pool of request contexts), fs_dir.c (names:
 * lookup, forget, create, remove, rename, link, readdir), fs_file.c
 * (attributes, truncate, fallocate, lseek, xattrs), fs_io.c (open, read,
 * write, release: the data path), fs_stats.c (the stats file) and
 * fs_ns_redo.c (a request's unique, for namespace changes resent after a
 * restart).
 *
 * Threading: FUSE ops run on libfuse worker threads, pstore completions
 * (a request context's done()) on transport threads. fs->ns_lock guards the
 * namespace (dentries, link, lookup and open counts) and is taken before an
 * inode's lock; in->lock guards the inode's size, attributes, page map and
 * in-flight count and is never held while waiting on the network; in->rmw
 * serializes partial-page writes of one file and is held across the read
 * and write of the old page. fs->req_lock guards the free request contexts:
 * fs_req_get() blocks while there are none (backpressure).
 */
#ifndef CNM_FS_FS_PRIV_H
#define CNM_FS_FS_PRIV_H

#include "cnm_config.h"
#include "fs/fs.h"
#include "fs/pmap.h"
#include "placement/pstore.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define PG	      PSTORE_PAGE
#define PG_SHIFT      PSTORE_PAGE_SHIFT
#define REQ_PAGES     (CNMFS_MAX_IO / PG + 1) /* an unaligned max_write */
#define SMALL_PAGES   9 /* an unaligned 32 KiB: most swap I/O */
#define SMALL_PER_BIG 4 /* small request contexts per big one */
#define FS_MAX_FILE   (1ull << 52)
#define FS_MAX_INODES (1u << 20)
#define STATS_INO     2
#define IO_HIST	      12 /* <= 1 KiB, <= 2 KiB, ... <= 1 MiB, more */
#define LAT_HIST      12 /* <= 10 us, 25, 50 ... <= 100 ms, more */
#define TIMEOUT	      1.0
/* what a malloc'd block costs beyond its size (glibc: header, rounding) */
#define NS_MALLOC_COST 16
/* namespace bytes charged to the metadata budget (fs/pmap.h) */
#define NS_INODE_COST (sizeof(struct inode) + NS_MALLOC_COST)
/* a dentry: the block, its name, and its share of the hash table */
#define NS_DENTRY_COST(namelen)                                                \
	(sizeof(struct dentry) + (namelen) + 1 + NS_MALLOC_COST +              \
	 2 * sizeof(struct dentry *))

/* The FUSE ops the stats file counts; op_names[] (fs_stats.c) follows this
 * order. */
enum op {
	OP_LOOKUP,
	OP_GETATTR,
	OP_SETATTR,
	OP_READLINK,
	OP_MKNOD,
	OP_MKDIR,
	OP_UNLINK,
	OP_RMDIR,
	OP_SYMLINK,
	OP_RENAME,
	OP_LINK,
	OP_OPEN,
	OP_READ,
	OP_WRITE,
	OP_RELEASE,
	OP_READDIR,
	OP_STATFS,
	OP_CREATE,
	OP_FALLOCATE,
	OP_LSEEK,
	OP_XATTR,
	OP_N
};

/* A name in a directory: on the directory's list (insertion order, for
 * readdir) and in the mount's hash table (parent, name) for lookups. */
struct dentry {
	struct dentry *next, *prev; /* in the parent's list */
	uint32_t rec;		    /* its name record (fs_state.c) */
	struct dentry *hnext;	    /* hash chain */
	struct inode *parent;
	struct inode *inode;
	uint64_t cookie; /* readdir offset, increasing per directory */
	uint32_t hash;
	char name[];
};

#define FS_NOREC UINT32_MAX /* the stats file: no record */

struct inode {
	uint64_t ino; /* st_ino, never reused */
	uint32_t rec; /* its inode record (fs_state.c): nodeid - 1 */
	/* protected by fs->ns_lock */
	uint64_t nlookup;
	unsigned int nopen;
	unsigned int nlink;
	int data_freed;
	struct inode *parent; /* directories: for ".." */
	struct dentry *children, *last_child;
	uint64_t next_cookie;
	unsigned int nchildren;
	struct inode *prev, *next; /* fs->inodes list */
	/* protected by lock */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when inflight drops to 0 */
	unsigned int inflight;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	uint64_t size;
	uint64_t pages; /* non-hole map entries */
	struct timespec atime, mtime, ctime;
	struct pmap map;
	int direct;   /* opened O_DIRECT once (a swap file): never cached */
	int wb_error; /* a write of this cached file failed: reads EIO */
	char *target; /* symlinks, fixed at creation */
	/* serializes read-modify-write of partial pages of this file */
	pthread_mutex_t rmw;
};

enum req_kind { RK_READ, RK_WRITE, RK_SYNC };
enum { FRESH_HOLE = 1, FRESH_RESERVED = 2 };

struct fsreq {
	struct pstore_req pr;
	struct cnmfs *fs;
	fuse_req_t req;
	struct inode *in;
	unsigned int cap; /* pages buf holds: SMALL_PAGES or REQ_PAGES */
	int big;	  /* from the pool of big contexts */
	uint64_t *lpn;	  /* cap entries */
	char *buf;	  /* cap pages */
	char *old;	  /* one page for read-modify-write */
	size_t len;
	unsigned int head; /* offset of the first byte in buf */
	unsigned int npages;
	uint64_t first;	      /* file page of lpn[0] (writes) */
	uint64_t old_size;    /* file size before this write */
	uint64_t t0_ns;	      /* read/write: when the request came in */
	unsigned char *fresh; /* cap entries, writes: see map_for_write */
	enum req_kind kind;
	int ring;  /* a ring thread's own context, never on a free list */
	int busy;  /* ring: taken by its thread's current batch */
	int inl;   /* came through an io_uring ring: answer on this thread */
	int defer; /* inl: may wait for the end of its ring thread's batch */
	sem_t sem; /* RK_SYNC and deferred */
	atomic_int fin; /* RK_SYNC and deferred: done() ran (status is set) */
	int status;
	struct fsreq *next_free;
	/* deferred: its real done(), run by the ring thread; its batch */
	void (*finish)(struct pstore_req *pr, int status);
	struct fsreq *next_pending;
};

struct opstat {
	atomic_ulong count, errors;
};

struct fs_store;

struct cnmfs {
	struct pstore *ps;
	struct pmap_pool *pool;
	struct fs_store *store; /* the records (fs_state.c) */
	/* stats and control handles this process gave out (fi->fh): a
	 * successor gets the dead server's back from the kernel and must
	 * not dereference them; protected by fh_lock */
	pthread_mutex_t fh_lock;
	uint64_t *fhs;
	size_t nfh, fh_cap;
	struct inode **itab; /* inode record -> inode; under ns_lock */
	char *mountpoint;
	pthread_mutex_t ns_lock;
	struct inode *root;
	struct inode stats;	      /* the virtual stats file */
	uint64_t next_ino;	      /* protected by ns_lock */
	unsigned int ninodes, nfiles; /* protected by ns_lock */
	struct dentry **htab;	      /* protected by ns_lock */
	size_t hsize, hcount;	      /* hsize a power of two */
	struct inode inodes;	      /* list head, protected by ns_lock */

	pthread_mutex_t req_lock;
	pthread_cond_t req_cond;
	struct fsreq *free_reqs[2]; /* small, big; protected by req_lock */
	unsigned int nfree;	    /* protected by req_lock */
	struct fsreq *reqs;
	unsigned int nreqs;
	char *req_mem;
	size_t req_mem_len;
	atomic_ulong req_waits;
	/* FUSE-over-io_uring: nring big contexts after the pool's, one per
	 * ring thread (libfuse starts one per configured CPU) */
	struct fsreq *ring_reqs;
	unsigned int nring;
	atomic_uint ring_claimed;
	atomic_ulong ring_overflow; /* ring requests that used the pool */
	atomic_int uring_seen;	    /* a request came through a ring */
	/* a ring thread collects its donor's reply itself (fs_sync_io):
	 * busy for up to ring_poll_ns, -1: it waits on its semaphore */
	int64_t ring_poll_ns;
	atomic_ulong ring_polls, ring_poll_hits; /* tries; done so */
	/* reads and writes a ring thread may leave in flight until the end
	 * of its wake-up's batch (fs_req.c); those it did */
	unsigned int ring_batch;
	atomic_ulong ring_batched;

	struct opstat ops[OP_N];
	atomic_ullong bytes_read, bytes_written;
	atomic_ullong rmw_reads;
	/* FUSE request sizes: bucket i counts sizes in (2^(i-1), 2^i] KiB,
	 * bucket 0 up to 1 KiB, the last one all above 512 KiB */
	atomic_ulong read_kib[IO_HIST], write_kib[IO_HIST];
	atomic_ullong read_kib_sum, write_kib_sum; /* bytes, over the same */
	/* reads and writes through the page store, arrival to reply: bucket
	 * i counts times up to fs_lat_le_us[i], the last one longer */
	atomic_ulong read_lat[LAT_HIST], write_lat[LAT_HIST];
	atomic_ullong read_lat_ns, write_lat_ns; /* sums */
	atomic_int open_files; /* open handles of files and directories */
	int cache_direct;      /* --cache direct: every file direct, fixed */
	/* FUSE reads and writes of working-set (not direct) files */
	atomic_ulong ws_reads, ws_writes;
	atomic_ullong ws_read_bytes, ws_write_bytes;
	/* the serving process (issue 14): set once before the loop */
	unsigned int daemon_restarts;
	int daemon_supervisor; /* pid, 0: none */
};

/* The stats file as one read-only open saw it: that open's fi->fh. */
struct stats_snap {
	size_t len;
	char data[];
};

/* ---- small helpers every op uses ---- */

static inline struct cnmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct inode *fs_inode_of(struct cnmfs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs->root;
	if (ino == STATS_INO)
		return &fs->stats;
	/* the kernel names only nodeids we gave it and did not forget */
	return ino - 1 < FS_MAX_INODES ? fs->itab[ino - 1] : NULL;
}

static inline fuse_ino_t fs_nodeid_of(struct cnmfs *fs, struct inode *in)
{
	if (in == &fs->stats)
		return STATS_INO;
	return (fuse_ino_t)in->rec + 1;
}

static inline void fs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static inline void fs_count(struct cnmfs *fs, enum op op)
{
	atomic_fetch_add_explicit(&fs->ops[op].count, 1, memory_order_relaxed);
}

static inline void fs_reply_err(struct cnmfs *fs, fuse_req_t req, enum op op,
				int err)
{
	if (err)
		atomic_fetch_add_explicit(&fs->ops[op].errors, 1,
					  memory_order_relaxed);
	fuse_reply_err(req, err);
}

/* ---- fs.c ---- */

/* Fills st from in; ns_lock held (for nlink). */
void fs_fill_stat(struct cnmfs *fs, struct inode *in, struct stat *st);
/* A new inode with nlink set and nlookup 0 in *out; ns_lock held.
 * -ENOSPC at FS_MAX_INODES or the metadata budget, -ENOMEM. */
int fs_inode_new(struct cnmfs *fs, mode_t mode, fuse_req_t req,
		 struct inode *parent, struct inode **out);
/* Gives back the pages of file pages [first, last); in->lock held, no I/O
 * in flight. */
void fs_drop_pages(struct cnmfs *fs, struct inode *in, uint64_t first,
		   uint64_t last);
/* Waits until no I/O of in is in flight; in->lock held (dropped while
 * waiting). */
void fs_wait_idle(struct inode *in);
/* Frees what nobody can reach any more; ns_lock held. */
void fs_maybe_free(struct cnmfs *fs, struct inode *in);

/* ---- fs_req.c ---- */

/* A context with room for npages; blocks while none is free. */
struct fsreq *fs_req_get(struct cnmfs *fs, unsigned int npages);
/*
 * A context for FUSE request req of npages. A request that came through an
 * io_uring ring gets its ring thread's own context and r->inl set: the
 * caller runs it to completion and replies before returning (fs/fs.h).
 */
struct fsreq *fs_req_get_for(struct cnmfs *fs, fuse_req_t req,
			     unsigned int npages);
/* Notes (and logs once) a request that came through an io_uring ring. */
void fs_note_transport(struct cnmfs *fs, fuse_req_t req);
void fs_req_put(struct cnmfs *fs, struct fsreq *r);
/* Runs one page-store request on r and waits for it; its status. */
int fs_sync_io(struct cnmfs *fs, struct fsreq *r, enum xport_dir dir,
	       const uint64_t *lpn, unsigned int n, void *buf);
/* over io_uring: submits the read or write r and leaves it in this ring
 * thread's batch, finished at the batch's end (fs_req.c) */
void fs_ring_defer(struct cnmfs *fs, struct fsreq *r);
/* the ring thread's batch ends: finish what it left in flight; whether
 * this thread has a batch in flight (a ring thread must finish it before
 * it waits for an inode's I/O or a context: nobody else will) */
void fs_ring_batch_end(void *ring, unsigned int (*queued)(void *ring));
void fs_ring_finish(void);
int fs_ring_batch_pending(void);

/* fs_stats.c: upper bounds of the latency histograms, microseconds */
extern const unsigned int fs_lat_le_us[LAT_HIST - 1];

/* ---- fs_dir.c: FUSE ops on names and directories ---- */

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_forget_multi(fuse_req_t req, size_t count_,
		     struct fuse_forget_data *forgets);
void fs_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);

/* ---- fs_file.c: FUSE ops on attributes and space ---- */

/* Sets the size of a regular file; in->lock held, dropped while a partial
 * last page is zeroed. 0 or -errno. */
int fs_set_size(struct cnmfs *fs, struct inode *in, uint64_t size);

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		  off_t len, struct fuse_file_info *fi);
void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags);

/* ---- fs_io.c: FUSE ops on open files, the data path ---- */

/* Sets fi's cache flags for an open of regular file in (see fs/fs.h: an
 * O_DIRECT open makes in a direct file for good); takes in->lock. */
void fs_set_cache_mode(struct cnmfs *fs, struct inode *in,
		       struct fuse_file_info *fi);

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
	      off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);

/* ---- fs_state.c: where the namespace and page maps are stored ---- */

/* The records and the page-map pool, in p->arena or in this process. */
int fs_store_open(struct cnmfs *fs, const struct cnmfs_params *p);
void fs_store_close(struct cnmfs *fs);
int fs_store_resumed(struct cnmfs *fs); /* 1: records a dead server left */
void fs_store_ready(struct cnmfs *fs);	/* a new namespace counts now */
/* Rebuilds the namespace from the records; ns_lock held. */
int fs_state_resume(struct cnmfs *fs);
/* Inode records; ns_lock held. new: root takes record 0; binds the map. */
int fs_rec_inode_new(struct cnmfs *fs, struct inode *in, int root);
void fs_rec_inode_free(struct cnmfs *fs, struct inode *in);
/* Attributes and size (in->lock held), lookup count (ns_lock held). */
void fs_rec_attr(struct cnmfs *fs, struct inode *in);
void fs_rec_lookup(struct cnmfs *fs, struct inode *in);
void fs_rec_open(struct cnmfs *fs, struct inode *in); /* nopen, ns_lock */
/* Name records; ns_lock held. replaces: the record + 1 a rename moves
 * away from, 0 for none; unique: fs_req_key() of the request making it,
 * published with it (0: unknown). */
int fs_rec_name_new(struct cnmfs *fs, uint32_t parent, uint32_t inode,
		    const char *name, uint64_t cookie, uint32_t replaces,
		    uint64_t unique, uint32_t *out);
void fs_rec_name_free(struct cnmfs *fs, uint32_t rec);
/* The unique name record rec was made with (0: unknown). */
uint64_t fs_rec_name_unique(struct cnmfs *fs, uint32_t rec);
/* Removes name record rec for request unique (non-zero) but keeps it off
 * the free list, so that a successor finds it if that request comes
 * again, until fs_rec_name_release() once the request is answered. */
void fs_rec_name_retire(struct cnmfs *fs, uint32_t rec, uint64_t unique);
void fs_rec_name_release(struct cnmfs *fs, uint32_t rec);
/* The record a dead server removed (parent record, name) for request
 * unique without answering it: 0 and *rec (now the caller's to release),
 * or -ENOENT. */
int fs_rec_name_removed(struct cnmfs *fs, uint64_t unique, uint32_t parent,
			const char *name, uint32_t *rec);
/* A symlink's target (at most NAME_MAX bytes: -ENAMETOOLONG). */
int fs_rec_target(struct cnmfs *fs, struct inode *in, const char *target);
/* fs_dir.c: puts a resumed name (record rec) in dir; ns_lock held. */
int fs_dentry_resume(struct cnmfs *fs, struct inode *dir, struct inode *in,
		     const char *name, uint64_t cookie, uint32_t rec);

/* ---- fs_ns_redo.c: namespace requests the kernel sends again ---- */

/* FUSE_UNIQUE_RESEND: the kernel resends a request a dead server read
 * and did not answer with this bit set in its unique (Linux >= 6.9). */
#define FS_UNIQUE_RESEND (1ull << 63)
/* The kernel's unique of req, FS_UNIQUE_RESEND included; 0 when unknown. */
uint64_t fs_req_unique(fuse_req_t req);
/* The key a record keeps: the unique without FS_UNIQUE_RESEND. */
static inline uint64_t fs_req_key(uint64_t unique)
{
	return unique & ~FS_UNIQUE_RESEND;
}
/* Test hook (CNETMEM_TEST_KILL_BEFORE_REPLY=OPNAME, fs/README.md): the
 * first serving process of a mount SIGKILLs itself after op took effect
 * and before its reply, once; nothing when the variable is unset. */
void fs_redo_test_kill(struct cnmfs *fs, enum op op, uint64_t unique);

/* ---- fs_stats.c ---- */

/* A snapshot of the stats file for one open; NULL when out of memory. */
struct stats_snap *fs_stats_snapshot(struct cnmfs *fs);

#endif
