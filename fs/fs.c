// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs - the mount: the inode helpers the other files of fs/ share, FUSE init
 * and statfs, the ops table, cnmfs_create() and cnmfs_destroy(). The other
 * ops live in fs_dir.c, fs_file.c and fs_io.c (see fs_priv.h).
 */
#include "fs/fs.h"

#include "common/log.h"
#include "fs/fs_priv.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>

/* ---- helpers ---- */

/* Fills st from in; caller holds ns_lock (for nlink). */
void fs_fill_stat(struct cnmfs *fs, struct inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&in->lock);
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_blksize = PG;
	if (S_ISDIR(in->mode))
		st->st_size = PG;
	else
		st->st_size = in->size;
	st->st_blocks = in->pages * (PG / 512);
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
	pthread_mutex_unlock(&in->lock);
}

int fs_inode_new(struct cnmfs *fs, mode_t mode, fuse_req_t req,
		 struct inode *parent, struct inode **out)
{
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;
	struct inode *in;

	if (fs->ninodes >= FS_MAX_INODES)
		return -ENOSPC;
	if (pmap_pool_charge(fs->pool, NS_INODE_COST))
		return -ENOSPC;
	in = calloc(1, sizeof(*in));
	if (!in) {
		pmap_pool_uncharge(fs->pool, NS_INODE_COST);
		return -ENOMEM;
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_mutex_init(&in->rmw, NULL);
	pthread_cond_init(&in->idle, NULL);
	in->ino = fs->next_ino++;
	in->mode = mode;
	in->uid = ctx ? ctx->uid : 0;
	in->gid = ctx ? ctx->gid : 0;
	if (parent && (parent->mode & S_ISGID)) {
		in->gid = parent->gid;
		if (S_ISDIR(mode))
			in->mode |= S_ISGID;
	}
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->next_cookie = 3;
	in->parent = parent;
	fs_now(&in->atime);
	in->mtime = in->ctime = in->atime;
	pmap_init(&in->map);
	if (fs_rec_inode_new(fs, in, parent == NULL)) {
		pthread_mutex_destroy(&in->lock);
		pthread_mutex_destroy(&in->rmw);
		pthread_cond_destroy(&in->idle);
		free(in);
		pmap_pool_uncharge(fs->pool, NS_INODE_COST);
		return -ENOSPC;
	}
	in->next = fs->inodes.next;
	in->prev = &fs->inodes;
	fs->inodes.next->prev = in;
	fs->inodes.next = in;
	fs->ninodes++;
	if (S_ISREG(mode))
		fs->nfiles++;
	*out = in;
	return 0;
}

static void free_page_cb(void *arg, uint64_t idx, uint32_t old)
{
	struct cnmfs *fs = arg;

	if (PMAP_IS_LPN(old))
		pstore_page_free(fs->ps, PMAP_TO_LPN(old));
	pmap_unreserve(fs->pool, 1);
}

/* Gives back every page from file page `first` on; in->lock held, no I/O
 * in flight. */
void fs_drop_pages(struct cnmfs *fs, struct inode *in, uint64_t first,
		   uint64_t last)
{
	in->pages -=
		pmap_clear(fs->pool, &in->map, first, last, free_page_cb, fs);
}

void fs_wait_idle(struct inode *in)
{
	while (in->inflight) {
		if (fs_ring_batch_pending()) {
			/* on a ring thread, that I/O may be its own batch's */
			pthread_mutex_unlock(&in->lock);
			fs_ring_finish();
			pthread_mutex_lock(&in->lock);
			continue;
		}
		pthread_cond_wait(&in->idle, &in->lock);
	}
}

/* Frees what nobody can reach any more; ns_lock held. */
void fs_maybe_free(struct cnmfs *fs, struct inode *in)
{
	if (in == fs->root || in == &fs->stats)
		return;
	if (in->nlink || in->nopen)
		return;
	if (!in->data_freed) {
		pthread_mutex_lock(&in->lock);
		fs_wait_idle(in);
		fs_drop_pages(fs, in, 0, PMAP_MAX_INDEX);
		pthread_mutex_unlock(&in->lock);
		in->data_freed = 1;
		/* no name, not open: its budget is free for new files now,
		 * not when the kernel gets round to forgetting it */
		if (in->target)
			pmap_pool_uncharge(fs->pool, strlen(in->target) + 1 +
							     NS_MALLOC_COST);
		pmap_pool_uncharge(fs->pool, NS_INODE_COST);
	}
	if (in->nlookup)
		return;
	fs_rec_inode_free(fs, in);
	in->prev->next = in->next;
	in->next->prev = in->prev;
	fs->ninodes--;
	if (S_ISREG(in->mode))
		fs->nfiles--;
	pthread_mutex_destroy(&in->lock);
	pthread_mutex_destroy(&in->rmw);
	pthread_cond_destroy(&in->idle);
	free(in->target);
	free(in);
}

/* ---- mount-wide ops ---- */

/*
 * Working-set files go through the page cache with writeback caching: the
 * kernel then keeps size, mtime and O_APPEND itself and writes dirty pages
 * back in requests of up to max_write (libfuse derives max_pages from it;
 * 1 MiB is what both libfuse 3.14's buffer and the kernel's default
 * fs.fuse.max_pages_limit allow). Reads have no max_read (the kernel's
 * max_pages bounds them); readahead is raised after INIT (main.c), as the
 * kernel only lets INIT lower it.
 */
static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct cnmfs *fs = userdata;

	conn->max_write = CNMFS_MAX_IO;
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
			FUSE_CAP_EXPORT_SUPPORT);
	if (!fs->cache_direct) {
		if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
			conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		else
			log_warn(
				"mount %s: the kernel has no writeback cache "
				"for FUSE: working-set files are write-through",
				fs->mountpoint);
	}
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* swap through loop sends async direct I/O as background requests */
	conn->max_background = 128;
	conn->congestion_threshold = 96;
	conn->time_gran = 1;
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cnmfs *fs = fs_of(req);
	uint64_t cap = pmap_capacity(fs->pool), used = pmap_used(fs->pool);
	struct statvfs sv;

	fs_count(fs, OP_STATFS);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = PG;
	sv.f_frsize = PG;
	sv.f_blocks = cap;
	sv.f_bfree = used < cap ? cap - used : 0;
	sv.f_bavail = sv.f_bfree;
	pthread_mutex_lock(&fs->ns_lock);
	sv.f_files = FS_MAX_INODES;
	sv.f_ffree = FS_MAX_INODES - fs->ninodes;
	pthread_mutex_unlock(&fs->ns_lock);
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ---- the ops table ---- */

static const struct fuse_lowlevel_ops cnmfs_ll_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
	.fallocate = fs_fallocate,
	.lseek = fs_lseek,
	.copy_file_range = fs_copy_file_range,
};

int cnmfs_open_files(struct cnmfs *fs)
{
	return atomic_load(&fs->open_files);
}

const struct fuse_lowlevel_ops *cnmfs_ops(void)
{
	return &cnmfs_ll_ops;
}

/* ---- create / destroy ---- */

/* A copy of s that can sit between JSON quotes. */
static char *json_escape(const char *s)
{
	char *out = malloc(strlen(s) * 6 + 1), *w = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			w += sprintf(w, "\\%c", c);
		else if (c < 0x20)
			w += sprintf(w, "\\u%04x", c);
		else
			*w++ = c;
	}
	*w = '\0';
	return out;
}

int cnmfs_create(const struct cnmfs_params *p, struct pstore *ps,
		 struct cnmfs **out)
{
	size_t off = 0;
	struct cnmfs *fs;
	int ret;

	if (!p->capacity || p->capacity % PG || p->requests < 1)
		return -EINVAL;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->ps = ps;
	fs->cache_direct = p->cache_direct;
	fs->ring_poll_ns = p->ring_poll_us < 0 ? -1 : p->ring_poll_us * 1000;
	fs->ring_batch = p->ring_batch > 1 ? (unsigned int)p->ring_batch : 1;
	fs->mountpoint = json_escape(p->mountpoint ? p->mountpoint : "");
	if (!fs->mountpoint) {
		ret = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->fh_lock, NULL);
	pthread_mutex_init(&fs->req_lock, NULL);
	pthread_cond_init(&fs->req_cond, NULL);
	fs->inodes.next = fs->inodes.prev = &fs->inodes;
	fs->next_ino = 3;
	fs->hsize = 1024;
	fs->htab = calloc(fs->hsize, sizeof(*fs->htab));
	if (!fs->htab) {
		ret = -ENOMEM;
		goto out_locks;
	}
	ret = fs_store_open(fs, p);
	if (ret)
		goto out_locks;

	/* p->requests big contexts, SMALL_PER_BIG times as many small ones;
	 * each has one more page for read-modify-write; then one big one per
	 * io_uring ring thread (libfuse makes one per configured CPU), in
	 * the same registered memory but on no free list */
	fs->nring = CNM_HAVE_FUSE_URING ? (unsigned int)get_nprocs_conf() : 0;
	fs->nreqs = p->requests * (1 + SMALL_PER_BIG);
	fs->reqs = calloc(fs->nreqs + fs->nring, sizeof(*fs->reqs));
	fs->ring_reqs = fs->reqs ? fs->reqs + fs->nreqs : NULL;
	fs->req_mem_len =
		(size_t)(p->requests + fs->nring) * (REQ_PAGES + 1) * PG +
		(size_t)p->requests * SMALL_PER_BIG * (SMALL_PAGES + 1) * PG;
	fs->req_mem = mmap(NULL, fs->req_mem_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!fs->reqs || fs->req_mem == MAP_FAILED) {
		fs->req_mem = NULL;
		ret = -ENOMEM;
		goto out_reqs;
	}
	for (unsigned int i = 0; i < fs->nreqs + fs->nring; i++) {
		struct fsreq *r = &fs->reqs[i];

		r->fs = fs;
		r->ring = i >= fs->nreqs;
		r->big = i < p->requests || r->ring;
		r->cap = r->big ? REQ_PAGES : SMALL_PAGES;
		r->buf = fs->req_mem + off;
		r->old = r->buf + (size_t)r->cap * PG;
		off += ((size_t)r->cap + 1) * PG;
		r->lpn = calloc(r->cap, sizeof(*r->lpn));
		r->fresh = calloc(r->cap, 1);
		if (!r->lpn || !r->fresh) {
			ret = -ENOMEM;
			goto out_reqs;
		}
		sem_init(&r->sem, 0, 0);
		if (r->ring)
			continue;
		r->next_free = fs->free_reqs[r->big];
		fs->free_reqs[r->big] = r;
		fs->nfree++;
	}
	if (ps) {
		ret = pstore_register(ps, fs->req_mem, fs->req_mem_len);
		if (ret)
			goto out_reqs;
	}

	pthread_mutex_lock(&fs->ns_lock);
	if (fs_store_resumed(fs))
		ret = fs_state_resume(fs);
	else
		ret = fs_inode_new(fs, S_IFDIR | 0755, NULL, NULL, &fs->root);
	pthread_mutex_unlock(&fs->ns_lock);
	if (ret)
		goto out_reqs;
	fs_store_ready(fs);
	fs->stats.ino = STATS_INO;
	fs->stats.rec = FS_NOREC;
	fs->stats.mode = S_IFREG | 0444;
	fs->stats.nlink = 1;
	pthread_mutex_init(&fs->stats.lock, NULL);
	pthread_mutex_init(&fs->stats.rmw, NULL);
	pthread_cond_init(&fs->stats.idle, NULL);
	fs_now(&fs->stats.mtime);
	fs->stats.atime = fs->stats.ctime = fs->stats.mtime;
	*out = fs;
	return 0;

out_reqs:
	if (fs->reqs)
		for (unsigned int i = 0; i < fs->nreqs + fs->nring; i++) {
			free(fs->reqs[i].lpn);
			free(fs->reqs[i].fresh);
		}
	free(fs->reqs);
	if (fs->req_mem)
		munmap(fs->req_mem, fs->req_mem_len);
	fs_store_close(fs);
out_locks:
	free(fs->htab);
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->req_lock);
	pthread_cond_destroy(&fs->req_cond);
	free(fs->mountpoint);
out_free:
	free(fs);
	return ret;
}

void cnmfs_destroy(struct cnmfs *fs)
{
	struct inode *in, *next;
	struct timespec until;
	unsigned int busy;

	if (!fs)
		return;
	/* requests still in the page store (an aborted connection) finish
	 * before their contexts go away; the I/O timeout bounds the wait */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&fs->req_lock);
	while (fs->nfree < fs->nreqs &&
	       !pthread_cond_timedwait(&fs->req_cond, &fs->req_lock, &until))
		;
	busy = fs->nreqs - fs->nfree;
	pthread_mutex_unlock(&fs->req_lock);
	if (busy) {
		/* their completions may still come: leave the mount's memory
		 * to the process exit rather than free it under them */
		log_err("mount %s: %u requests never finished", fs->mountpoint,
			busy);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	for (in = fs->inodes.next; in != &fs->inodes; in = next) {
		next = in->next;
		for (struct dentry *d = in->children, *dn; d; d = dn) {
			dn = d->next;
			free(d);
		}
		pthread_mutex_lock(&in->lock);
		fs_drop_pages(fs, in, 0, PMAP_MAX_INDEX);
		pthread_mutex_unlock(&in->lock);
		pthread_mutex_destroy(&in->lock);
		pthread_mutex_destroy(&in->rmw);
		pthread_cond_destroy(&in->idle);
		free(in->target);
		free(in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	for (unsigned int i = 0; i < fs->nreqs + fs->nring; i++) {
		free(fs->reqs[i].lpn);
		free(fs->reqs[i].fresh);
		sem_destroy(&fs->reqs[i].sem);
	}
	free(fs->reqs);
	munmap(fs->req_mem, fs->req_mem_len);
	fs_store_close(fs);
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->fh_lock);
	free(fs->fhs);
	pthread_mutex_destroy(&fs->req_lock);
	pthread_cond_destroy(&fs->req_cond);
	pthread_mutex_destroy(&fs->stats.lock);
	pthread_mutex_destroy(&fs->stats.rmw);
	pthread_cond_destroy(&fs->stats.idle);
	free(fs->htab);
	free(fs->mountpoint);
	free(fs);
}
