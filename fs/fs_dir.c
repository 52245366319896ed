// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_dir - the namespace: names in directories (a hash table of the mount
 * for lookups, a list per directory for readdir), lookup and forget counts,
 * creating, removing, renaming and linking names, reading directories.
 */
#include "fs/fs_priv.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* ---- helpers ---- */

static int valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static void fill_entry(struct cnmfs *fs, struct inode *in,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = fs_nodeid_of(fs, in);
	e->generation = in->ino;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
	fs_fill_stat(fs, in, &e->attr);
}

static uint32_t name_hash(const struct inode *dir, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uintptr_t)dir;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static struct dentry *find_child(struct cnmfs *fs, struct inode *dir,
				 const char *name)
{
	uint32_t h = name_hash(dir, name);

	for (struct dentry *d = fs->htab[h & (fs->hsize - 1)]; d; d = d->hnext)
		if (d->hash == h && d->parent == dir && !strcmp(d->name, name))
			return d;
	return NULL;
}

/* A dentry charged to the metadata budget, for dentry_add() to dir; its
 * name record is published (replacing record + 1 `replaces`, 0: none;
 * made by request key, 0: unknown) unless rec is given (resuming). 0,
 * -ENOSPC or -ENOMEM. */
static int dentry_make(struct cnmfs *fs, struct inode *dir, const char *name,
		       struct inode *in, uint32_t replaces, uint64_t key,
		       uint32_t rec, struct dentry **out)
{
	size_t n = strlen(name) + 1;
	struct dentry *d;
	int ret;

	if (pmap_pool_charge(fs->pool, NS_DENTRY_COST(n - 1)))
		return -ENOSPC;
	d = calloc(1, sizeof(*d) + n);
	if (!d) {
		pmap_pool_uncharge(fs->pool, NS_DENTRY_COST(n - 1));
		return -ENOMEM;
	}
	d->inode = in;
	d->cookie = dir->next_cookie;
	memcpy(d->name, name, n);
	d->rec = rec;
	if (rec == FS_NOREC) {
		ret = fs_rec_name_new(fs, dir->rec, in->rec, name, d->cookie,
				      replaces, key, &d->rec);
		if (ret) {
			pmap_pool_uncharge(fs->pool, NS_DENTRY_COST(n - 1));
			free(d);
			return ret;
		}
	}
	*out = d;
	return 0;
}

static int dentry_new(struct cnmfs *fs, struct inode *dir, const char *name,
		      struct inode *in, uint64_t key, struct dentry **out)
{
	return dentry_make(fs, dir, name, in, 0, key, FS_NOREC, out);
}

/* Frees d but not its name record. */
static void dentry_put(struct cnmfs *fs, struct dentry *d)
{
	pmap_pool_uncharge(fs->pool, NS_DENTRY_COST(strlen(d->name)));
	free(d);
}

static void dentry_free(struct cnmfs *fs, struct dentry *d)
{
	fs_rec_name_free(fs, d->rec);
	dentry_put(fs, d);
}

/* Doubles the hash table when it gets full; keeps the old one if memory is
 * short (lookups just walk longer chains). */
static void htab_grow(struct cnmfs *fs)
{
	size_t n = fs->hsize * 2;
	struct dentry **t, *d, *next;

	if (fs->hcount < fs->hsize)
		return;
	t = calloc(n, sizeof(*t));
	if (!t)
		return;
	for (size_t i = 0; i < fs->hsize; i++) {
		for (d = fs->htab[i]; d; d = next) {
			next = d->hnext;
			d->hnext = t[d->hash & (n - 1)];
			t[d->hash & (n - 1)] = d;
		}
	}
	free(fs->htab);
	fs->htab = t;
	fs->hsize = n;
}

static void dentry_add(struct cnmfs *fs, struct inode *dir, struct dentry *d)
{
	struct dentry **b;

	/* d->cookie: dentry_make() took it from dir->next_cookie */
	if (d->cookie >= dir->next_cookie)
		dir->next_cookie = d->cookie + 1;
	d->parent = dir;
	d->next = NULL;
	d->prev = dir->last_child;
	if (dir->last_child)
		dir->last_child->next = d;
	else
		dir->children = d;
	dir->last_child = d;
	dir->nchildren++;
	htab_grow(fs);
	d->hash = name_hash(dir, d->name);
	b = &fs->htab[d->hash & (fs->hsize - 1)];
	d->hnext = *b;
	*b = d;
	fs->hcount++;
}

static void dentry_remove(struct cnmfs *fs, struct inode *dir, struct dentry *d)
{
	struct dentry **pp = &fs->htab[d->hash & (fs->hsize - 1)];

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	fs->hcount--;
	if (d->prev)
		d->prev->next = d->next;
	else
		dir->children = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		dir->last_child = d->prev;
	dir->nchildren--;
}

/*
 * A resent request (unique has FS_UNIQUE_RESEND) that a dead server had
 * already done: the name (dir, name) it made is there, marked with its
 * key (fs/fs_ns_redo.c). The kernel holds dir locked until the request is
 * answered, so nothing else changed that name meanwhile. ns_lock held.
 */
static struct dentry *made_by(struct cnmfs *fs, struct inode *dir,
			      const char *name, uint64_t unique)
{
	struct dentry *d;

	if (!(unique & FS_UNIQUE_RESEND) || !fs_req_key(unique) ||
	    !S_ISDIR(dir->mode))
		return NULL;
	d = find_child(fs, dir, name);
	if (!d || fs_rec_name_unique(fs, d->rec) != fs_req_key(unique))
		return NULL;
	return d;
}

/* ---- names ---- */

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *dir = fs_inode_of(fs, parent), *in = NULL;
	struct fuse_entry_param e;
	struct dentry *d;

	fs_count(fs, OP_LOOKUP);
	if (!dir) {
		fs_reply_err(fs, req, OP_LOOKUP, ESTALE);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	if (dir == fs->root && !strcmp(name, CNMFS_STATS_NAME)) {
		in = &fs->stats;
	} else if (S_ISDIR(dir->mode)) {
		d = find_child(fs, dir, name);
		if (d) {
			in = d->inode;
			in->nlookup++;
			fs_rec_lookup(fs, in);
		}
	}
	if (in)
		fill_entry(fs, in, &e);
	pthread_mutex_unlock(&fs->ns_lock);
	if (!in) {
		/* not an error worth counting: lookups of missing names */
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void forget_one(struct cnmfs *fs, fuse_ino_t ino, uint64_t n)
{
	struct inode *in = fs_inode_of(fs, ino);

	/* a nodeid this server does not know: nothing to forget */
	if (!in || in == fs->root || in == &fs->stats)
		return;
	if (in->nlookup < n) {
		/* the kernel forgets more than it looked up: a bug there;
		 * keep the inode rather than free it twice */
		LOG_RATELIMITED(LOG_WARNING,
				"inode %" PRIu64 ": forget %" PRIu64
				" with lookup count %" PRIu64,
				in->ino, n, in->nlookup);
		return;
	}
	in->nlookup -= n;
	fs_rec_lookup(fs, in);
	fs_maybe_free(fs, in);
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct cnmfs *fs = fs_of(req);

	pthread_mutex_lock(&fs->ns_lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count_,
		     struct fuse_forget_data *forgets)
{
	struct cnmfs *fs = fs_of(req);

	pthread_mutex_lock(&fs->ns_lock);
	for (size_t i = 0; i < count_; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino);

	fs_count(fs, OP_READLINK);
	if (!in || !S_ISLNK(in->mode)) {
		fs_reply_err(fs, req, OP_READLINK, in ? EINVAL : ESTALE);
		return;
	}
	fuse_reply_readlink(req, in->target);
}

/* Creates name in parent for request key; ns_lock held. On success *out
 * has nlookup 1, and nopen 1 if open (a create). */
static int make_node(struct cnmfs *fs, fuse_req_t req, struct inode *dir,
		     const char *name, mode_t mode, dev_t rdev,
		     const char *target, int open, uint64_t key,
		     struct inode **out)
{
	struct inode *in;
	struct dentry *d;
	int ret;

	ret = valid_name(name);
	if (ret)
		return ret;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (dir->nlink == 0)
		return -ENOENT;
	if (find_child(fs, dir, name) ||
	    (dir == fs->root && !strcmp(name, CNMFS_STATS_NAME)))
		return -EEXIST;
	ret = fs_inode_new(fs, mode, req, dir, &in);
	if (ret)
		return ret;
	in->rdev = rdev;
	if (target)
		ret = fs_rec_target(fs, in, target);
	if (target && !ret) {
		if (pmap_pool_charge(fs->pool,
				     strlen(target) + 1 + NS_MALLOC_COST))
			ret = -ENOSPC;
		else if (!(in->target = strdup(target)))
			pmap_pool_uncharge(fs->pool,
					   strlen(target) + 1 + NS_MALLOC_COST);
		in->size = strlen(target);
		if (!ret && !in->target)
			ret = -ENOMEM;
	}
	if (!ret) {
		pthread_mutex_lock(&in->lock);
		fs_rec_attr(fs, in);
		pthread_mutex_unlock(&in->lock);
		/* counted before the name makes it reachable: a successor
		 * never frees what the kernel was told of, and a create it
		 * finds done (made_by()) has its open counted */
		in->nlookup = 1;
		fs_rec_lookup(fs, in);
		in->nopen = !!open;
		fs_rec_open(fs, in);
		ret = dentry_new(fs, dir, name, in, key, &d);
	}
	if (ret) {
		in->nlink = 0;
		in->nlookup = 0;
		in->nopen = 0;
		fs_maybe_free(fs, in);
		return ret;
	}
	dentry_add(fs, dir, d);
	if (S_ISDIR(mode))
		dir->nlink++;
	pthread_mutex_lock(&dir->lock);
	fs_now(&dir->mtime);
	dir->ctime = dir->mtime;
	fs_rec_attr(fs, dir);
	pthread_mutex_unlock(&dir->lock);
	*out = in;
	return 0;
}

static void reply_new(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *target, enum op op)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *dir = fs_inode_of(fs, parent), *in;
	uint64_t unique = fs_req_unique(req);
	struct fuse_entry_param e;
	struct dentry *d;
	int ret = -ESTALE;

	fs_count(fs, op);
	pthread_mutex_lock(&fs->ns_lock);
	d = dir ? made_by(fs, dir, name, unique) : NULL;
	if (d && (d->inode->mode & S_IFMT) == (mode & S_IFMT)) {
		in = d->inode; /* nlookup counted by the first execution */
		ret = 0;
	} else if (dir) {
		ret = make_node(fs, req, dir, name, mode, rdev, target, 0,
				fs_req_key(unique), &in);
	}
	if (!ret)
		fill_entry(fs, in, &e);
	pthread_mutex_unlock(&fs->ns_lock);
	if (ret) {
		fs_reply_err(fs, req, op, -ret);
		return;
	}
	fs_redo_test_kill(fs, op, unique);
	fuse_reply_entry(req, &e);
}

void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	if (S_ISDIR(mode) || S_ISLNK(mode)) {
		fs_reply_err(fs_of(req), req, OP_MKNOD, EINVAL);
		return;
	}
	reply_new(req, parent, name, mode, rdev, NULL, OP_MKNOD);
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_new(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL,
		  OP_MKDIR);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	reply_new(req, parent, name, S_IFLNK | 0777, 0, link, OP_SYMLINK);
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *dir = fs_inode_of(fs, parent), *in;
	uint64_t unique = fs_req_unique(req);
	struct fuse_entry_param e;
	struct dentry *d;
	int ret = -ESTALE;

	fs_count(fs, OP_CREATE);
	pthread_mutex_lock(&fs->ns_lock);
	if (dir && (d = made_by(fs, dir, name, unique)) &&
	    S_ISREG(d->inode->mode)) {
		/* the first execution counted the lookup and the open */
		in = d->inode;
		ret = 0;
	} else if (dir) {
		ret = make_node(fs, req, dir, name, S_IFREG | (mode & 07777), 0,
				NULL, 1, fs_req_key(unique), &in);
		if (!ret)
			atomic_fetch_add(&fs->open_files, 1);
	}
	if (!ret)
		fill_entry(fs, in, &e);
	pthread_mutex_unlock(&fs->ns_lock);
	if (ret) {
		fs_reply_err(fs, req, OP_CREATE, -ret);
		return;
	}
	fs_set_cache_mode(fs, in, fi);
	fi->fh = 0;
	fs_redo_test_kill(fs, OP_CREATE, unique);
	if (fuse_reply_create(req, &e, fi)) {
		/* the kernel will send no release for this open */
		pthread_mutex_lock(&fs->ns_lock);
		in->nopen--;
		fs_rec_open(fs, in);
		atomic_fetch_sub(&fs->open_files, 1);
		in->nlookup--;
		fs_rec_lookup(fs, in);
		fs_maybe_free(fs, in);
		pthread_mutex_unlock(&fs->ns_lock);
	}
}

static void touch_dir(struct cnmfs *fs, struct inode *dir)
{
	pthread_mutex_lock(&dir->lock);
	fs_now(&dir->mtime);
	dir->ctime = dir->mtime;
	fs_rec_attr(fs, dir);
	pthread_mutex_unlock(&dir->lock);
}

static void touch_ctime(struct cnmfs *fs, struct inode *in)
{
	pthread_mutex_lock(&in->lock);
	fs_now(&in->ctime);
	fs_rec_attr(fs, in);
	pthread_mutex_unlock(&in->lock);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 int is_rmdir)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *dir = fs_inode_of(fs, parent), *in;
	enum op op = is_rmdir ? OP_RMDIR : OP_UNLINK;
	uint64_t unique = fs_req_unique(req), key = fs_req_key(unique);
	uint32_t kept = FS_NOREC;
	struct dentry *d;
	int ret = 0;

	fs_count(fs, op);
	pthread_mutex_lock(&fs->ns_lock);
	if (!dir) {
		ret = -ESTALE;
		goto out_unlock;
	}
	if (dir == fs->root && !strcmp(name, CNMFS_STATS_NAME)) {
		ret = -EPERM;
		goto out_unlock;
	}
	d = find_child(fs, dir, name);
	if (!d) {
		/* a dead server removed it for this very request */
		if (!(unique & FS_UNIQUE_RESEND) || !key ||
		    fs_rec_name_removed(fs, key, dir->rec, name, &kept))
			ret = -ENOENT;
		goto out_unlock;
	}
	in = d->inode;
	if (is_rmdir && !S_ISDIR(in->mode)) {
		ret = -ENOTDIR;
		goto out_unlock;
	}
	if (!is_rmdir && S_ISDIR(in->mode)) {
		ret = -EISDIR;
		goto out_unlock;
	}
	if (is_rmdir && in->nchildren) {
		ret = -ENOTEMPTY;
		goto out_unlock;
	}
	dentry_remove(fs, dir, d);
	if (key) {
		/* kept until answered: a resent copy must find it */
		fs_rec_name_retire(fs, d->rec, key);
		kept = d->rec;
		dentry_put(fs, d);
	} else {
		dentry_free(fs, d);
	}
	if (is_rmdir) {
		in->nlink = 0;
		dir->nlink--;
	} else {
		in->nlink--;
	}
	touch_dir(fs, dir);
	touch_ctime(fs, in);
	fs_maybe_free(fs, in);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	if (!ret)
		fs_redo_test_kill(fs, op, unique);
	fs_reply_err(fs, req, op, -ret);
	if (kept != FS_NOREC) {
		pthread_mutex_lock(&fs->ns_lock);
		fs_rec_name_release(fs, kept);
		pthread_mutex_unlock(&fs->ns_lock);
	}
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 1);
}

/* Moves directory nlink counts when a directory changes parent. */
static void reparent(struct inode *in, struct inode *from, struct inode *to)
{
	if (!S_ISDIR(in->mode) || from == to)
		return;
	from->nlink--;
	to->nlink++;
	in->parent = to;
}

static int do_rename(struct cnmfs *fs, struct inode *odir, const char *oname,
		     struct inode *ndir, const char *nname, unsigned int flags,
		     uint64_t unique)
{
	uint64_t key = fs_req_key(unique);
	struct dentry *sd, *dd, *nd;
	struct inode *src, *dst;
	uint32_t r1, r2;
	int ret;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	ret = valid_name(nname);
	if (ret)
		return ret;
	if ((odir == fs->root && !strcmp(oname, CNMFS_STATS_NAME)) ||
	    (ndir == fs->root && !strcmp(nname, CNMFS_STATS_NAME)))
		return -EPERM;
	if (!S_ISDIR(odir->mode) || !S_ISDIR(ndir->mode))
		return -ENOTDIR;
	/* done by a dead server: the new name (an exchange: either) is
	 * marked with this request's key */
	if (made_by(fs, ndir, nname, unique) ||
	    made_by(fs, odir, oname, unique))
		return 0;
	sd = find_child(fs, odir, oname);
	if (!sd)
		return -ENOENT;
	src = sd->inode;
	dd = find_child(fs, ndir, nname);
	dst = dd ? dd->inode : NULL;
	if (flags & RENAME_EXCHANGE) {
		if (!dd)
			return -ENOENT;
		sd->inode = dst;
		dd->inode = src;
		/* two new names, then the old ones go (the newer of two
		 * equal names wins on resume): an exchange cut short by a
		 * crash leaves one of its names exchanged */
		ret = fs_rec_name_new(fs, odir->rec, dst->rec, sd->name,
				      sd->cookie, 0, key, &r1);
		if (!ret) {
			ret = fs_rec_name_new(fs, ndir->rec, src->rec, dd->name,
					      dd->cookie, 0, key, &r2);
			if (ret)
				fs_rec_name_free(fs, r1);
		}
		if (ret) {
			sd->inode = src;
			dd->inode = dst;
			return ret;
		}
		fs_rec_name_free(fs, sd->rec);
		fs_rec_name_free(fs, dd->rec);
		sd->rec = r1;
		dd->rec = r2;
		reparent(src, odir, ndir);
		reparent(dst, ndir, odir);
		goto out_touch;
	}
	if (dd && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (dst == src)
		return 0;
	if (dst) {
		if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && dst->nchildren)
			return -ENOTEMPTY;
	}
	/* the new name first: a crash leaves the old or both (the newer
	 * wins on resume, see fs_state.c) */
	ret = dentry_make(fs, ndir, nname, src, sd->rec + 1, key, FS_NOREC,
			  &nd);
	if (ret)
		return ret;
	if (dst) {
		dentry_remove(fs, ndir, dd);
		dentry_free(fs, dd);
		if (S_ISDIR(dst->mode)) {
			dst->nlink = 0;
			ndir->nlink--;
		} else {
			dst->nlink--;
		}
		touch_ctime(fs, dst);
		fs_maybe_free(fs, dst);
	}
	dentry_remove(fs, odir, sd);
	dentry_free(fs, sd);
	dentry_add(fs, ndir, nd);
	reparent(src, odir, ndir);
out_touch:
	touch_ctime(fs, src);
	touch_dir(fs, odir);
	if (ndir != odir)
		touch_dir(fs, ndir);
	return 0;
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *odir = fs_inode_of(fs, parent),
		     *ndir = fs_inode_of(fs, newparent);
	uint64_t unique = fs_req_unique(req);
	int ret = -ESTALE;

	fs_count(fs, OP_RENAME);
	pthread_mutex_lock(&fs->ns_lock);
	if (odir && ndir)
		ret = do_rename(fs, odir, name, ndir, newname, flags, unique);
	pthread_mutex_unlock(&fs->ns_lock);
	if (!ret)
		fs_redo_test_kill(fs, OP_RENAME, unique);
	fs_reply_err(fs, req, OP_RENAME, -ret);
}

void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *in = fs_inode_of(fs, ino),
		     *dir = fs_inode_of(fs, newparent);
	uint64_t unique = fs_req_unique(req);
	struct fuse_entry_param e;
	struct dentry *d;
	int ret;

	fs_count(fs, OP_LINK);
	pthread_mutex_lock(&fs->ns_lock);
	ret = valid_name(newname);
	if (ret)
		goto out_unlock;
	if (!in || !dir) {
		ret = -ESTALE;
		goto out_unlock;
	}
	d = made_by(fs, dir, newname, unique);
	if (d && d->inode == in) {
		/* nlookup counted by the first execution */
		fill_entry(fs, in, &e);
		goto out_unlock;
	}
	if (!S_ISDIR(dir->mode)) {
		ret = -ENOTDIR;
		goto out_unlock;
	}
	if (S_ISDIR(in->mode) || in == &fs->stats) {
		ret = -EPERM;
		goto out_unlock;
	}
	if (find_child(fs, dir, newname) ||
	    (dir == fs->root && !strcmp(newname, CNMFS_STATS_NAME))) {
		ret = -EEXIST;
		goto out_unlock;
	}
	in->nlookup++;
	fs_rec_lookup(fs, in);
	ret = dentry_new(fs, dir, newname, in, fs_req_key(unique), &d);
	if (ret) {
		in->nlookup--;
		fs_rec_lookup(fs, in);
		goto out_unlock;
	}
	dentry_add(fs, dir, d);
	in->nlink++;
	touch_ctime(fs, in);
	touch_dir(fs, dir);
	fill_entry(fs, in, &e);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	if (ret) {
		fs_reply_err(fs, req, OP_LINK, -ret);
		return;
	}
	fs_redo_test_kill(fs, OP_LINK, unique);
	fuse_reply_entry(req, &e);
}

int fs_dentry_resume(struct cnmfs *fs, struct inode *dir, struct inode *in,
		     const char *name, uint64_t cookie, uint32_t rec)
{
	struct dentry *d;
	int ret;

	ret = dentry_make(fs, dir, name, in, 0, 0, rec, &d);
	if (ret)
		return ret;
	d->cookie = cookie;
	dentry_add(fs, dir, d);
	return 0;
}

/* ---- directories ---- */

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *dir = fs_inode_of(fs, ino);

	if (!dir || !S_ISDIR(dir->mode)) {
		fuse_reply_err(req, dir ? ENOTDIR : ESTALE);
		return;
	}
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct cnmfs *fs = fs_of(req);
	struct inode *dir = fs_inode_of(fs, ino);
	size_t pos = 0, n;
	struct stat st;
	char *buf;

	fs_count(fs, OP_READDIR);
	if (!dir || !S_ISDIR(dir->mode)) {
		fs_reply_err(fs, req, OP_READDIR, dir ? ENOTDIR : ESTALE);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fs_reply_err(fs, req, OP_READDIR, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&fs->ns_lock);
	if (off < 1) {
		st.st_ino = dir->ino;
		st.st_mode = S_IFDIR;
		n = fuse_add_direntry(req, buf + pos, size - pos, ".", &st, 1);
		if (n > size - pos)
			goto out_reply;
		pos += n;
		off = 1;
	}
	if (off < 2) {
		st.st_ino = dir->parent ? dir->parent->ino : dir->ino;
		st.st_mode = S_IFDIR;
		n = fuse_add_direntry(req, buf + pos, size - pos, "..", &st, 2);
		if (n > size - pos)
			goto out_reply;
		pos += n;
		off = 2;
	}
	for (struct dentry *d = dir->children; d; d = d->next) {
		if (d->cookie <= (uint64_t)off)
			continue;
		st.st_ino = d->inode->ino;
		st.st_mode = d->inode->mode & S_IFMT;
		n = fuse_add_direntry(req, buf + pos, size - pos, d->name, &st,
				      d->cookie);
		if (n > size - pos)
			break;
		pos += n;
	}
out_reply:
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}
