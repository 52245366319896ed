// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_file - attributes and space: getattr and setattr (truncate too),
 * fallocate and punch hole, SEEK_DATA/SEEK_HOLE, and the ops answered
 * without data (extended attributes, copy_file_range).
 */
#include "fs/fs_priv.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Zeroes bytes [from, to) of logical page lpn (read-modify-write). The
 * caller keeps the page mapped (in->inflight). */
static int zero_in_page(struct cnmfs *fs, struct inode *in, uint64_t lpn,
			unsigned int from, unsigned int to)
{
	struct fsreq *r = fs_req_get(fs, 1);
	int ret;

	pthread_mutex_lock(&in->rmw);
	r->lpn[0] = lpn;
	ret = fs_sync_io(fs, r, XPORT_READ, r->lpn, 1, r->old);
	if (!ret) {
		memset(r->old + from, 0, to - from);
		ret = fs_sync_io(fs, r, XPORT_WRITE, r->lpn, 1, r->old);
	}
	pthread_mutex_unlock(&in->rmw);
	fs_req_put(fs, r);
	if (ret)
		LOG_RATELIMITED(LOG_WARNING,
				"inode %" PRIu64 ": zeroing page %" PRIu64
				": %s",
				in->ino, lpn, strerror(-ret));
	return ret;
}

/* ---- attributes ---- */

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in;
	struct stat st;

	fs_count(fs, OP_GETATTR);
	pthread_mutex_lock(&fs->ns_lock);
	in = fs_inode_of(fs, ino);
	if (in)
		fs_fill_stat(fs, in, &st);
	pthread_mutex_unlock(&fs->ns_lock);
	if (!in) {
		/* a nodeid this server never gave (or a buggy kernel) */
		fs_reply_err(fs, req, OP_GETATTR, ESTALE);
		return;
	}
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* Sets the size of a regular file; in->lock held on entry and exit (it is
 * dropped while a partial last page is zeroed). */
int fs_set_size(struct cnmfs *fs, struct inode *in, uint64_t size)
{
	uint64_t e = PMAP_HOLE;
	unsigned int tail = size & (PG - 1);
	int ret = 0;

	if (size > FS_MAX_FILE)
		return -EFBIG;
	fs_wait_idle(in);
	if (size < in->size) {
		fs_drop_pages(fs, in, (size + PG - 1) >> PG_SHIFT,
			      PMAP_MAX_INDEX);
		if (tail)
			e = pmap_get(&in->map, size >> PG_SHIFT);
	}
	in->size = size;
	if (!size)
		in->wb_error = 0; /* nothing left of what was lost */
	fs_now(&in->mtime);
	in->ctime = in->mtime;
	fs_rec_attr(fs, in);
	if (PMAP_IS_LPN(e)) {
		/* bytes past EOF must read as zeros if the file grows again */
		in->inflight++;
		pthread_mutex_unlock(&in->lock);
		ret = zero_in_page(fs, in, PMAP_TO_LPN(e), tail, PG);
		pthread_mutex_lock(&in->lock);
		if (--in->inflight == 0)
			pthread_cond_broadcast(&in->idle);
		if (ret)
			ret = -EIO;
	}
	return ret;
}

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);
	struct stat st;
	int ret = 0;

	fs_count(fs, OP_SETATTR);
	if (!in || in == &fs->stats) {
		fs_reply_err(fs, req, OP_SETATTR, in ? EPERM : ESTALE);
		return;
	}
	pthread_mutex_lock(&in->lock);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(in->mode))
			ret = S_ISDIR(in->mode) ? -EISDIR : -EINVAL;
		else
			ret = fs_set_size(fs, in, attr->st_size);
		if (ret)
			goto out_unlock;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		in->mode = (in->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		in->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		in->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		fs_now(&in->atime);
	else if (to_set & FUSE_SET_ATTR_ATIME)
		in->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		fs_now(&in->mtime);
	else if (to_set & FUSE_SET_ATTR_MTIME)
		in->mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_CTIME)
		in->ctime = attr->st_ctim;
	else
		fs_now(&in->ctime);
	fs_rec_attr(fs, in);
out_unlock:
	pthread_mutex_unlock(&in->lock);
	if (ret) {
		fs_reply_err(fs, req, OP_SETATTR, -ret);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	fs_fill_stat(fs, in, &st);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* ---- space ---- */

/* Marks holes in [first, last) as reserved; all or nothing. in->lock held. */
static int reserve_range(struct cnmfs *fs, struct inode *in, uint64_t first,
			 uint64_t last)
{
	uint64_t holes = 0, idx, done = 0;
	int ret;

	for (idx = pmap_find(&in->map, first, 0); idx < last;
	     idx = pmap_find(&in->map, idx + 1, 0))
		holes++;
	if (!holes)
		return 0;
	ret = pmap_reserve(fs->pool, holes);
	if (ret)
		return ret;
	for (idx = pmap_find(&in->map, first, 0); idx < last && !ret;
	     idx = pmap_find(&in->map, idx + 1, 0)) {
		ret = pmap_set(fs->pool, &in->map, idx, PMAP_RESERVED);
		if (!ret)
			done++;
	}
	in->pages += done;
	if (ret) {
		/* node pool exhausted: undo this call's reservations */
		pmap_unreserve(fs->pool, holes - done);
		for (idx = first; idx < last && done; idx++) {
			if (pmap_get(&in->map, idx) == PMAP_RESERVED) {
				pmap_set(fs->pool, &in->map, idx, PMAP_HOLE);
				pmap_unreserve(fs->pool, 1);
				in->pages--;
				done--;
			}
		}
	}
	return ret;
}

static int punch(struct cnmfs *fs, struct inode *in, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, pfirst, plast, e1 = PMAP_HOLE, e2 = PMAP_HOLE;
	unsigned int h = off & (PG - 1), t = end & (PG - 1);
	int ret = 0, r2;

	fs_wait_idle(in);
	pfirst = (off + PG - 1) >> PG_SHIFT;
	plast = end >> PG_SHIFT;
	if (pfirst < plast)
		fs_drop_pages(fs, in, pfirst, plast);
	if ((off >> PG_SHIFT) == (end >> PG_SHIFT)) {
		/* inside one page */
		if (h != t)
			e1 = pmap_get(&in->map, off >> PG_SHIFT);
	} else {
		if (h)
			e1 = pmap_get(&in->map, off >> PG_SHIFT);
		if (t)
			e2 = pmap_get(&in->map, end >> PG_SHIFT);
	}
	if (!PMAP_IS_LPN(e1) && !PMAP_IS_LPN(e2))
		return 0;
	in->inflight++;
	pthread_mutex_unlock(&in->lock);
	if (PMAP_IS_LPN(e1))
		ret = zero_in_page(fs, in, PMAP_TO_LPN(e1), h,
				   (off >> PG_SHIFT) == (end >> PG_SHIFT) ? t
									  : PG);
	if (PMAP_IS_LPN(e2)) {
		r2 = zero_in_page(fs, in, PMAP_TO_LPN(e2), 0, t);
		if (!ret)
			ret = r2;
	}
	pthread_mutex_lock(&in->lock);
	if (--in->inflight == 0)
		pthread_cond_broadcast(&in->idle);
	return ret ? -EIO : 0;
}

void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		  off_t len, struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);
	uint64_t end;
	int ret = 0;

	fs_count(fs, OP_FALLOCATE);
	if (!in || in == &fs->stats || !S_ISREG(in->mode)) {
		fs_reply_err(fs, req, OP_FALLOCATE,
			     !in		? ESTALE
			     : in == &fs->stats ? EPERM
						: ENODEV);
		return;
	}
	if (off < 0 || len <= 0) {
		fs_reply_err(fs, req, OP_FALLOCATE, EINVAL);
		return;
	}
	end = (uint64_t)off + (uint64_t)len;
	if (end > FS_MAX_FILE) {
		fs_reply_err(fs, req, OP_FALLOCATE, EFBIG);
		return;
	}
	pthread_mutex_lock(&in->lock);
	if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
		ret = reserve_range(fs, in, (uint64_t)off >> PG_SHIFT,
				    (end + PG - 1) >> PG_SHIFT);
		if (!ret && mode == 0 && end > in->size)
			in->size = end;
	} else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		ret = punch(fs, in, off, len);
	} else {
		ret = -EOPNOTSUPP;
	}
	if (!ret) {
		fs_now(&in->ctime);
		in->mtime = in->ctime;
		fs_rec_attr(fs, in);
	}
	pthread_mutex_unlock(&in->lock);
	fs_reply_err(fs, req, OP_FALLOCATE, -ret);
}

void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);
	uint64_t idx, pos;
	int ret = 0;

	fs_count(fs, OP_LSEEK);
	if (!in) {
		fs_reply_err(fs, req, OP_LSEEK, ESTALE);
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fs_reply_err(fs, req, OP_LSEEK, EINVAL);
		return;
	}
	if (off < 0) {
		fs_reply_err(fs, req, OP_LSEEK, ENXIO);
		return;
	}
	if (in == &fs->stats) {
		fs_reply_err(fs, req, OP_LSEEK, ENXIO);
		return;
	}
	pthread_mutex_lock(&in->lock);
	if ((uint64_t)off >= in->size) {
		ret = -ENXIO;
	} else {
		idx = pmap_find(&in->map, (uint64_t)off >> PG_SHIFT,
				whence == SEEK_DATA);
		pos = idx >= PMAP_MAX_INDEX ? in->size : idx << PG_SHIFT;
		if (pos < (uint64_t)off)
			pos = off;
		if (pos >= in->size) {
			if (whence == SEEK_DATA)
				ret = -ENXIO;
			pos = in->size;
		}
		off = pos;
	}
	pthread_mutex_unlock(&in->lock);
	if (ret)
		fs_reply_err(fs, req, OP_LSEEK, -ret);
	else
		fuse_reply_lseek(req, off);
}

/* ---- not kept ---- */

/* Extended attributes are not kept: ENOTSUP, which the kernel passes on
 * without remembering it (unlike ENOSYS). */
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	fs_count(fs_of(req), OP_XATTR);
	fuse_reply_err(req, ENOTSUP);
}

/*
 * ENOSYS here, on purpose: with writeback caching every write() asks for
 * security.capability first (file_remove_privs), a round trip each; after
 * ENOSYS the kernel answers getxattr itself, with the same EOPNOTSUPP, for
 * the life of the mount, which keeps no xattrs for its whole life.
 */
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	fs_count(fs_of(req), OP_XATTR);
	fuse_reply_err(req, ENOSYS);
}

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	fs_count(fs_of(req), OP_XATTR);
	if (size)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_xattr(req, 0);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fs_count(fs_of(req), OP_XATTR);
	fuse_reply_err(req, ENOTSUP);
}

/* Not done in the daemon: EOPNOTSUPP makes the kernel copy through
 * read/write each time (ENOSYS would switch it off for the mount). */
void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags)
{
	fuse_reply_err(req, EOPNOTSUPP);
}
