// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_io - open files and the data path: open and release (of files, of the
 * stats file's snapshots and of its control channel), then read and write,
 * each a request context and one page-store request answered from its
 * completion (see fs/fs.h), and flush and fsync. A read or write that came
 * through an io_uring ring is run to completion and answered on its ring
 * thread instead (fs/fs.h).
 */
#include "fs/fs_priv.h"

#include "common/clock.h"
#include "common/log.h"
#include "fs/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ---- helpers ---- */

static void io_end(struct inode *in)
{
	pthread_mutex_lock(&in->lock);
	if (--in->inflight == 0)
		pthread_cond_broadcast(&in->idle);
	pthread_mutex_unlock(&in->lock);
}

/* Counts r's I/O on in as in flight (until io_end()) and releases in->lock,
 * held by the caller; r is req's, of len bytes. */
static void io_begin(struct fsreq *r, struct cnmfs *fs, fuse_req_t req,
		     struct inode *in, size_t len)
{
	in->inflight++;
	pthread_mutex_unlock(&in->lock);
	r->fs = fs;
	r->req = req;
	r->in = in;
	r->len = len;
}

static void count_size(atomic_ulong *hist, atomic_ullong *sum, size_t bytes)
{
	unsigned int b = 0;

	while (b < IO_HIST - 1 && bytes > (size_t)1024 << b)
		b++;
	atomic_fetch_add_explicit(&hist[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(sum, bytes, memory_order_relaxed);
}

static void count_lat(atomic_ulong *hist, atomic_ullong *sum, uint64_t t0)
{
	uint64_t ns = mono_ns() - t0;
	unsigned int b = 0;

	while (b < LAT_HIST - 1 && ns > fs_lat_le_us[b] * 1000ull)
		b++;
	atomic_fetch_add_explicit(&hist[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(sum, ns, memory_order_relaxed);
}

/* Counts a FUSE read or write of a working-set file; in->lock held. */
static void count_ws(struct cnmfs *fs, struct inode *in, enum op op,
		     size_t bytes)
{
	if (in->direct || fs->cache_direct)
		return;
	if (op == OP_READ) {
		atomic_fetch_add_explicit(&fs->ws_reads, 1,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&fs->ws_read_bytes, bytes,
					  memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&fs->ws_writes, 1,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&fs->ws_write_bytes, bytes,
					  memory_order_relaxed);
	}
}

/* ---- open and release ---- */

/*
 * A swap file must never be cached: losetup --direct-io=on opens it with
 * O_DIRECT, which makes it a direct file for good, so a later open without
 * O_DIRECT (a second losetup, a backup tool) is direct too. A direct open
 * is answered without keep_cache: the kernel then drops (after writing
 * back) whatever an earlier buffered open left of the file in the page
 * cache. Working-set files keep their cache across opens: only this
 * kernel changes them.
 */
void fs_set_cache_mode(struct cnmfs *fs, struct inode *in,
		       struct fuse_file_info *fi)
{
	pthread_mutex_lock(&in->lock);
	if ((fi->flags & O_DIRECT) && !in->direct) {
		in->direct = 1;
		fs_rec_attr(fs, in);
	}
	fi->direct_io = fs->cache_direct || in->direct;
	pthread_mutex_unlock(&in->lock);
	fi->keep_cache = !fi->direct_io;
}

/* Control channel handles (fs/ctl.h) carry this bit in fi->fh. */
#define CTL_FH 1ull

/* Remembers a stats or control handle given out by this process; 0 or
 * -ENOMEM. */
static int fh_add(struct cnmfs *fs, uint64_t fh)
{
	int ret = 0;

	pthread_mutex_lock(&fs->fh_lock);
	if (fs->nfh == fs->fh_cap) {
		size_t cap = fs->fh_cap ? 2 * fs->fh_cap : 16;
		uint64_t *n = realloc(fs->fhs, cap * sizeof(*n));

		if (n) {
			fs->fhs = n;
			fs->fh_cap = cap;
		}
	}
	if (fs->nfh < fs->fh_cap)
		fs->fhs[fs->nfh++] = fh;
	else
		ret = -ENOMEM;
	pthread_mutex_unlock(&fs->fh_lock);
	return ret;
}

/* Whether this process gave out fh (drop: and forgets it). A handle of a
 * dead predecessor (issue 14) is never dereferenced. */
static bool fh_ours(struct cnmfs *fs, uint64_t fh, bool drop)
{
	bool found = false;

	pthread_mutex_lock(&fs->fh_lock);
	for (size_t i = 0; i < fs->nfh; i++) {
		if (fs->fhs[i] != fh)
			continue;
		found = true;
		if (drop)
			fs->fhs[i] = fs->fhs[--fs->nfh];
		break;
	}
	pthread_mutex_unlock(&fs->fh_lock);
	return found;
}

/*
 * Answers an open of the stats file with handle fh (a snapshot or the
 * control channel), which fh_ours() then knows; false when the open failed
 * (ENOMEM, or the kernel did not take the reply): the caller frees what fh
 * names. The request is answered either way.
 */
static bool fh_reply_open(struct cnmfs *fs, fuse_req_t req,
			  struct fuse_file_info *fi, uint64_t fh)
{
	fi->fh = fh;
	if (fh_add(fs, fh)) {
		fs_reply_err(fs, req, OP_OPEN, ENOMEM);
		return false;
	}
	if (fuse_reply_open(req, fi)) {
		fh_ours(fs, fh, true);
		return false;
	}
	return true;
}

static void ctl_open(struct cnmfs *fs, fuse_req_t req,
		     struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fsctl *c;
	int ret;

	if (!ctx || ctx->uid != 0) {
		fs_reply_err(fs, req, OP_OPEN, EACCES);
		return;
	}
	ret = fsctl_open(fs->ps, &c);
	if (ret) {
		fs_reply_err(fs, req, OP_OPEN, -ret);
		return;
	}
	if (!fh_reply_open(fs, req, fi, (uintptr_t)c | CTL_FH))
		fsctl_close(c);
}

static void ctl_read(fuse_req_t req, struct fuse_file_info *fi, size_t size,
		     off_t off)
{
	struct fsctl *c = (struct fsctl *)(uintptr_t)(fi->fh & ~CTL_FH);
	char buf[FSCTL_LINE];
	size_t n;

	n = fsctl_read(c, off, buf, size < sizeof(buf) ? size : sizeof(buf));
	fuse_reply_buf(req, n ? buf : NULL, n);
}

static void ctl_write(struct cnmfs *fs, fuse_req_t req,
		      struct fuse_file_info *fi, const char *data, size_t size)
{
	struct fsctl *c = (struct fsctl *)(uintptr_t)(fi->fh & ~CTL_FH);
	ssize_t n = fsctl_write(c, data, size);

	if (n < 0)
		fs_reply_err(fs, req, OP_WRITE, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);
	struct stats_snap *snap;
	int ret = 0;

	fs_count(fs, OP_OPEN);
	fs_note_transport(fs, req);
	fi->fh = 0;
	if (!in) {
		/* a nodeid this server never gave (or a buggy kernel) */
		fs_reply_err(fs, req, OP_OPEN, ESTALE);
		return;
	}
	if (in == &fs->stats) {
		/* generated content, read through: never cached */
		fi->direct_io = 1;
		fi->keep_cache = 0;
		if ((fi->flags & O_ACCMODE) == O_RDWR &&
		    !(fi->flags & O_TRUNC)) {
			ctl_open(fs, req, fi); /* the control channel */
			return;
		}
		if ((fi->flags & O_ACCMODE) != O_RDONLY ||
		    (fi->flags & O_TRUNC)) {
			fs_reply_err(fs, req, OP_OPEN, EACCES);
			return;
		}
		snap = fs_stats_snapshot(fs);
		if (!snap) {
			fs_reply_err(fs, req, OP_OPEN, ENOMEM);
			return;
		}
		if (!fh_reply_open(fs, req, fi, (uintptr_t)snap))
			free(snap);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	in->nopen++;
	fs_rec_open(fs, in);
	atomic_fetch_add(&fs->open_files, 1);
	pthread_mutex_unlock(&fs->ns_lock);
	fs_set_cache_mode(fs, in, fi);
	if (S_ISREG(in->mode) && (fi->flags & O_TRUNC) &&
	    (fi->flags & O_ACCMODE) != O_RDONLY) {
		pthread_mutex_lock(&in->lock);
		ret = fs_set_size(fs, in, 0);
		pthread_mutex_unlock(&in->lock);
	}
	if (ret || fuse_reply_open(req, fi)) {
		pthread_mutex_lock(&fs->ns_lock);
		in->nopen--;
		fs_rec_open(fs, in);
		atomic_fetch_sub(&fs->open_files, 1);
		fs_maybe_free(fs, in);
		pthread_mutex_unlock(&fs->ns_lock);
		if (ret)
			fs_reply_err(fs, req, OP_OPEN, -ret);
	}
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);

	fs_count(fs, OP_RELEASE);
	if (!in) {
		/* an inode this server does not know: nothing to release */
	} else if (in == &fs->stats && !fh_ours(fs, fi->fh, true)) {
		/* a handle of a dead predecessor: nothing of it lives here */
	} else if (in == &fs->stats && (fi->fh & CTL_FH)) {
		fsctl_close((struct fsctl *)(uintptr_t)(fi->fh & ~CTL_FH));
	} else if (in == &fs->stats) {
		free((void *)(uintptr_t)fi->fh);
	} else {
		pthread_mutex_lock(&fs->ns_lock);
		if (in->nopen) {
			in->nopen--;
			atomic_fetch_sub(&fs->open_files, 1);
		}
		fs_rec_open(fs, in);
		fs_maybe_free(fs, in);
		pthread_mutex_unlock(&fs->ns_lock);
	}
	fuse_reply_err(req, 0);
}

/* ---- read and write ---- */

/* A read or write the page store failed: ENOSPC stays, the rest is EIO. */
static void reply_io_err(struct cnmfs *fs, struct fsreq *r, enum op op,
			 int status)
{
	LOG_RATELIMITED(LOG_WARNING, "inode %" PRIu64 ": %s: %s", r->in->ino,
			op == OP_READ ? "read" : "write", strerror(-status));
	fs_reply_err(fs, r->req, op, status == -ENOSPC ? ENOSPC : EIO);
}

static void read_finish(struct fsreq *r, int status)
{
	struct cnmfs *fs = r->fs;

	io_end(r->in);
	count_lat(fs->read_lat, &fs->read_lat_ns, r->t0_ns);
	if (status) {
		reply_io_err(fs, r, OP_READ, status);
	} else {
		atomic_fetch_add_explicit(&fs->bytes_read, r->len,
					  memory_order_relaxed);
		fuse_reply_buf(r->req, r->buf + r->head, r->len);
	}
	fs_req_put(fs, r);
}

static void read_done(struct pstore_req *pr, int status)
{
	read_finish(pr->priv, status);
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);
	struct stats_snap *snap;
	unsigned int npages, holes = 0;
	uint64_t first, t0 = mono_ns();
	struct fsreq *r;

	fs_count(fs, OP_READ);
	if (!in) {
		fs_reply_err(fs, req, OP_READ, ESTALE);
		return;
	}
	if (in == &fs->stats && !fh_ours(fs, fi->fh, false)) {
		/* opened under a dead predecessor: the control channel's
		 * state is gone; a stats reader gets today's numbers */
		if (fi->fh & CTL_FH) {
			fs_reply_err(fs, req, OP_READ, EIO);
			return;
		}
		snap = fs_stats_snapshot(fs);
		if (!snap) {
			fs_reply_err(fs, req, OP_READ, ENOMEM);
			return;
		}
		if (off < 0 || (size_t)off >= snap->len)
			size = 0;
		else if (size > snap->len - off)
			size = snap->len - off;
		fuse_reply_buf(req, size ? snap->data + off : NULL, size);
		free(snap);
		return;
	}
	if (in == &fs->stats && (fi->fh & CTL_FH)) {
		ctl_read(req, fi, size, off);
		return;
	}
	if (in == &fs->stats) {
		snap = (struct stats_snap *)(uintptr_t)fi->fh;
		if (off < 0 || (size_t)off >= snap->len)
			size = 0;
		else if (size > snap->len - off)
			size = snap->len - off;
		fuse_reply_buf(req, size ? snap->data + off : NULL, size);
		return;
	}
	if (off < 0) {
		fs_reply_err(fs, req, OP_READ, EINVAL);
		return;
	}
	if (size > CNMFS_MAX_IO)
		size = CNMFS_MAX_IO;
	count_size(fs->read_kib, &fs->read_kib_sum, size);
	r = fs_req_get_for(fs, req,
			   ((off & (PG - 1)) + size + PG - 1) >> PG_SHIFT);
	r->t0_ns = t0;
	pthread_mutex_lock(&in->lock);
	count_ws(fs, in, OP_READ, size);
	if (in->wb_error) {
		pthread_mutex_unlock(&in->lock);
		fs_req_put(fs, r);
		fs_reply_err(fs, req, OP_READ, EIO);
		return;
	}
	if ((uint64_t)off >= in->size) {
		pthread_mutex_unlock(&in->lock);
		fs_req_put(fs, r);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > in->size - off)
		size = in->size - off;
	first = (uint64_t)off >> PG_SHIFT;
	r->head = off & (PG - 1);
	npages = (r->head + size + PG - 1) >> PG_SHIFT;
	for (unsigned int i = 0; i < npages; i++) {
		uint32_t e = pmap_get(&in->map, first + i);

		r->lpn[i] = PMAP_IS_LPN(e) ? PMAP_TO_LPN(e) : PSTORE_NOPAGE;
		if (r->lpn[i] == PSTORE_NOPAGE) {
			/* a hole: zeros, whatever the buffer held before */
			memset(r->buf + (size_t)i * PG, 0, PG);
			holes++;
		}
	}
	io_begin(r, fs, req, in, size);
	r->kind = RK_READ;
	r->pr.dir = XPORT_READ;
	r->pr.npages = npages;
	r->pr.lpn = r->lpn;
	r->pr.buf = r->buf;
	r->pr.done = read_done;
	r->pr.priv = r;
	if (holes == npages)
		read_finish(r, 0);
	else if (r->defer) /* its ring thread's batch (fs_req.c) */
		fs_ring_defer(fs, r);
	else if (r->inl) /* answered on this ring thread (fs/fs.h) */
		read_finish(r, fs_sync_io(fs, r, XPORT_READ, r->lpn, npages,
					  r->buf));
	else
		pstore_submit(fs->ps, &r->pr);
}

/*
 * Maps file pages [first, first + n) for writing, allocating logical pages
 * for holes and reserved pages. fresh[i] says what page i was before: 0
 * mapped (has data), FRESH_HOLE or FRESH_RESERVED (no data). Returns
 * how many pages were mapped (n, or fewer when capacity ran out: then
 * *err is -ENOSPC). in->lock held.
 */
static unsigned int map_for_write(struct cnmfs *fs, struct inode *in,
				  uint64_t first, unsigned int n, uint64_t *lpn,
				  unsigned char *fresh, int *err)
{
	uint64_t hint = 0;
	uint32_t e, prev;
	unsigned int i;
	int ret = 0;

	if (first > 0) {
		prev = pmap_get(&in->map, first - 1);
		if (PMAP_IS_LPN(prev))
			hint = PMAP_TO_LPN(prev) + 1;
	}
	for (i = 0; i < n; i++) {
		e = pmap_get(&in->map, first + i);
		if (PMAP_IS_LPN(e)) {
			lpn[i] = PMAP_TO_LPN(e);
			fresh[i] = 0;
			hint = lpn[i] + 1;
			continue;
		}
		if (e == PMAP_HOLE) {
			ret = pmap_reserve(fs->pool, 1);
			if (ret)
				break;
		}
		ret = pstore_page_alloc(fs->ps, hint, &lpn[i]);
		if (!ret && lpn[i] > PMAP_MAX_LPN) {
			pstore_page_free(fs->ps, lpn[i]);
			ret = -ENOSPC;
		}
		if (!ret) {
			ret = pmap_set(fs->pool, &in->map, first + i,
				       PMAP_LPN(lpn[i]));
			if (ret)
				pstore_page_free(fs->ps, lpn[i]);
		}
		if (ret) {
			if (e == PMAP_HOLE)
				pmap_unreserve(fs->pool, 1);
			break;
		}
		if (e == PMAP_HOLE)
			in->pages++;
		fresh[i] = e == PMAP_HOLE ? FRESH_HOLE : FRESH_RESERVED;
		hint = lpn[i] + 1;
	}
	*err = ret;
	return i;
}

/*
 * A failed write leaves the file as it was: pages it mapped go back to
 * what they were (and their logical pages and capacity are given back),
 * and a size it extended is restored unless a later write moved it.
 */
static void write_undo_locked(struct fsreq *r)
{
	struct cnmfs *fs = r->fs;
	struct inode *in = r->in;
	uint64_t end = r->first * PG + r->head + r->len;

	for (unsigned int i = 0; i < r->npages; i++) {
		if (!r->fresh[i] ||
		    pmap_get(&in->map, r->first + i) != PMAP_LPN(r->lpn[i]))
			continue;
		if (r->fresh[i] == FRESH_HOLE) {
			pmap_set(fs->pool, &in->map, r->first + i, PMAP_HOLE);
			pmap_unreserve(fs->pool, 1);
			in->pages--;
		} else {
			pmap_set(fs->pool, &in->map, r->first + i,
				 PMAP_RESERVED);
		}
		pstore_page_free(fs->ps, r->lpn[i]);
	}
	if (in->size == end && r->old_size < end) {
		in->size = r->old_size;
		fs_rec_attr(fs, in);
	}
}

/*
 * The writer of a working-set file is the kernel writing back its page
 * cache, and the application learns of a failure only from fsync or
 * close: the data of that write is gone. Every later read of the file
 * then answers EIO (never the older bytes the undo left) until the file is
 * truncated to nothing or removed.
 */
static void write_undo(struct fsreq *r)
{
	struct inode *in = r->in;

	pthread_mutex_lock(&in->lock);
	write_undo_locked(r);
	if (!in->direct && !r->fs->cache_direct)
		in->wb_error = 1;
	pthread_mutex_unlock(&in->lock);
}

static void write_finish(struct fsreq *r, int status)
{
	struct cnmfs *fs = r->fs;

	if (status)
		write_undo(r);
	io_end(r->in);
	count_lat(fs->write_lat, &fs->write_lat_ns, r->t0_ns);
	if (status) {
		reply_io_err(fs, r, OP_WRITE, status);
	} else {
		atomic_fetch_add_explicit(&fs->bytes_written, r->len,
					  memory_order_relaxed);
		fuse_reply_write(r->req, r->len);
	}
	fs_req_put(fs, r);
}

static void write_done(struct pstore_req *pr, int status)
{
	write_finish(pr->priv, status);
}

/* Fills the parts of page i of r->buf outside [lo, hi) from the old page. */
static int merge_old(struct cnmfs *fs, struct fsreq *r, unsigned int i,
		     unsigned int lo, unsigned int hi)
{
	char *page = r->buf + (size_t)i * PG;
	uint64_t lpn = r->lpn[i];
	int ret;

	atomic_fetch_add_explicit(&fs->rmw_reads, 1, memory_order_relaxed);
	ret = fs_sync_io(fs, r, XPORT_READ, &lpn, 1, r->old);
	if (ret)
		return ret;
	memcpy(page, r->old, lo);
	memcpy(page + hi, r->old + hi, PG - hi);
	return 0;
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);
	unsigned int npages, mapped, head, end, last;
	int ret = 0, rmw_first = 0, rmw_last = 0;
	unsigned char *fresh;
	uint64_t first, t0 = mono_ns();
	struct fsreq *r;

	fs_count(fs, OP_WRITE);
	if (!in) {
		fs_reply_err(fs, req, OP_WRITE, ESTALE);
		return;
	}
	if (in == &fs->stats && (fi->fh & CTL_FH) &&
	    !fh_ours(fs, fi->fh, false)) {
		fs_reply_err(fs, req, OP_WRITE, EIO); /* a dead server's */
		return;
	}
	if (in == &fs->stats && (fi->fh & CTL_FH)) {
		ctl_write(fs, req, fi, data, size);
		return;
	}
	if (in == &fs->stats) {
		fs_reply_err(fs, req, OP_WRITE, EBADF);
		return;
	}
	if (off < 0 || size > CNMFS_MAX_IO) {
		fs_reply_err(fs, req, OP_WRITE, EINVAL);
		return;
	}
	if ((uint64_t)off + size > FS_MAX_FILE) {
		fs_reply_err(fs, req, OP_WRITE, EFBIG);
		return;
	}
	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	count_size(fs->write_kib, &fs->write_kib_sum, size);
	head = off & (PG - 1);
	first = (uint64_t)off >> PG_SHIFT;
	npages = (head + size + PG - 1) >> PG_SHIFT;
	r = fs_req_get_for(fs, req, npages);
	r->t0_ns = t0;
	fresh = r->fresh;
	memcpy(r->buf + head, data, size);

	pthread_mutex_lock(&in->lock);
	mapped = map_for_write(fs, in, first, npages, r->lpn, fresh, &ret);
	if (mapped < npages && !in->direct && !fs->cache_direct) {
		/* writeback ignores a short write: all or nothing (ENOSPC) */
		r->fs = fs;
		r->in = in;
		r->first = first;
		r->npages = mapped;
		r->head = head;
		r->len = size;
		r->old_size = in->size;
		write_undo_locked(r);
		in->wb_error = 1;
		pthread_mutex_unlock(&in->lock);
		fs_req_put(fs, r);
		fs_reply_err(fs, req, OP_WRITE, -ret);
		return;
	}
	if (mapped < npages) {
		if (mapped == 0 || (uint64_t)mapped * PG <= head) {
			pthread_mutex_unlock(&in->lock);
			fs_req_put(fs, r);
			fs_reply_err(fs, req, OP_WRITE, -ret);
			return;
		}
		/* a short write up to where capacity ran out */
		size = (size_t)mapped * PG - head;
		npages = mapped;
	}
	end = (head + size) & (PG - 1); /* bytes used in the last page */
	last = npages - 1;
	if (head) {
		if (fresh[0])
			memset(r->buf, 0, head);
		else
			rmw_first = 1;
	}
	if (end && !(npages == 1 && rmw_first)) {
		if (fresh[last])
			memset(r->buf + (size_t)last * PG + end, 0, PG - end);
		else
			rmw_last = 1;
	}
	count_ws(fs, in, OP_WRITE, size);
	r->old_size = in->size;
	if ((uint64_t)off + size > in->size)
		in->size = off + size;
	fs_now(&in->mtime);
	in->ctime = in->mtime;
	fs_rec_attr(fs, in); /* the state's copy: fs_state.c */
	io_begin(r, fs, req, in, size);
	r->head = head;
	r->first = first;
	r->npages = npages;
	if (rmw_first || rmw_last) {
		/* read-modify-write: partial writers of one file take turns */
		pthread_mutex_lock(&in->rmw);
		if (rmw_first)
			ret = merge_old(fs, r, 0, head,
					npages == 1 && end ? end : PG);
		if (!ret && rmw_last)
			ret = merge_old(fs, r, last, 0, end);
		if (!ret)
			ret = fs_sync_io(fs, r, XPORT_WRITE, r->lpn, npages,
					 r->buf);
		pthread_mutex_unlock(&in->rmw);
		write_finish(r, ret);
		return;
	}
	if (r->inl && !r->defer) { /* answered on this thread (fs/fs.h) */
		write_finish(r, fs_sync_io(fs, r, XPORT_WRITE, r->lpn, npages,
					   r->buf));
		return;
	}
	r->kind = RK_WRITE;
	r->pr.dir = XPORT_WRITE;
	r->pr.npages = npages;
	r->pr.lpn = r->lpn;
	r->pr.buf = r->buf;
	r->pr.done = write_done;
	r->pr.priv = r;
	if (r->defer) /* its ring thread's batch (fs_req.c) */
		fs_ring_defer(fs, r);
	else
		pstore_submit(fs->ps, &r->pr);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	/* every write was acknowledged by all replicas before its reply */
	fuse_reply_err(req, 0);
}
