// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_state - where the namespace and the page maps are stored: fixed-size
 * records in a state arena (fs/state.h) when the mount has one, else in
 * this process's memory, the same records either way. The live objects
 * (struct inode, struct dentry, the hash table) stay in the process and
 * write every change through to their record; a successor rebuilds them
 * from the records (fs_state_resume()).
 *
 *   inode record   nodeid - 1 names it (the root is record 0, record 1
 *                  is the stats file's nodeid): the nodeids the kernel
 *                  knows stay valid. ino, mode, owner, size, times, the
 *                  kernel's lookup count, the page map's root word.
 *   name record    (parent record, name) -> inode record, its readdir
 *                  cookie, a sequence number, and for a rename the
 *                  record it replaces; a symlink's target is a name
 *                  record of its own (so a target holds NAME_MAX bytes).
 *                  The unique of the request that made it, and once
 *                  retired by an unlink or rmdir not answered yet, that
 *                  request's unique (fs/fs_ns_redo.c): such a record
 *                  stays off the free lists, this server's until the
 *                  reply, a successor's until the resent request came
 *                  (at most FS_HELD_MAX of them).
 *   page maps      the pmap node pool (fs/pmap.h) in its own section.
 *
 * Consistency at any instant of a crash: a record is filled, then one
 * release store of its "live" word publishes it (and a store of 0
 * retires it); the root word of a map, its nodes and entries follow
 * fs/pmap.c's rule. A create publishes the inode, then its name; an
 * unlink retires the name, then (once the kernel forgot it) the inode; a
 * rename publishes the new name (replaces = the old one), then retires
 * the name it overwrote and the old one. A successor therefore sees each
 * operation done or not done, except that a crash inside a rename can
 * leave both names: it keeps the newer (rule below). What is derived is
 * not stored: link counts, page counts, capacity, the free lists, the
 * hash table and the directories' lists, rebuilt by fs_state_resume():
 *   - a name replaced by a newer name of the same inode is dropped; of
 *     two names (parent, name) the newer stays;
 *   - an inode with no name and no lookup is freed with its pages;
 *   - map entries past a file's size are cleared (a truncate cut short).
 * A write's map entry is set before its data reaches the donors, as
 * today: a crash then leaves the page zero, old or EIO until the kernel
 * resends the write. Attribute words (times) are copied under the inode
 * lock and may mix an old and a new time after a crash, nothing worse.
 *
 * Threading: record allocation and names under fs->ns_lock; attribute
 * and size write-through under the inode's lock.
 */
#include "fs/fs_priv.h"

#include "common/arena.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define FS_SEC_META   32
#define FS_SEC_INODES 33
#define FS_SEC_NAMES  34
#define FS_SEC_PMAP   35
#define FS_NREC	      FS_MAX_INODES
#define FS_READY      0x31534653504d4e43ull /* "CNMPSFS1" */
#define IREC_DIRECT   1u
/* removals a successor keeps for their resent requests: more than a
 * server has requests in flight (its threads); past it, the oldest go */
#define FS_HELD_MAX 256u

struct fs_meta {
	_Atomic uint64_t ready;
	_Atomic uint64_t seq;	/* name records made so far */
	_Atomic uint32_t ihigh; /* inode records ever used (scan bound) */
	_Atomic uint32_t nhigh; /* name records ever used */
	uint64_t capacity;
};

struct fs_irec {
	_Atomic uint32_t live;
	uint32_t next_free; /* not live: in-process free list */
	uint64_t ino;
	_Atomic uint64_t nlookup;
	_Atomic uint64_t size;
	_Atomic uint64_t map; /* the page map's root word */
	uint32_t mode, uid, gid, flags;
	uint64_t rdev;
	struct timespec atime, mtime, ctime;
	uint32_t target;	/* symlinks: name record + 1 of the target */
	_Atomic uint32_t nopen; /* the kernel's open handles */
};

struct fs_nrec {
	_Atomic uint32_t live;
	uint32_t next_free;
	uint32_t parent, inode; /* inode records; parent UINT32_MAX: target */
	uint64_t cookie;
	uint64_t seq;
	uint32_t replaces; /* name record + 1 this one replaced (rename) */
	uint32_t len;
	/* the kernel's id of the request that made this name (0: unknown),
	 * published with it: a resent request finds it was done */
	uint64_t unique;
	/* not live: the request that removed it (unlink, rmdir) and has
	 * not been answered yet; the record stays off the free list */
	uint64_t removed_by;
	char name[NAME_MAX + 1];
};

struct fs_store {
	struct fs_meta *meta;
	struct fs_irec *irec;
	struct fs_nrec *nrec;
	void *anon; /* no arena: the tables' memory */
	size_t anon_len;
	uint32_t ifree, nfree; /* record + 1, 0: none; under ns_lock */
	int resumed;
	/* records a dead server removed for a request it did not answer
	 * (removed_by set), for its resent copy; under ns_lock */
	uint32_t held[FS_HELD_MAX];
	unsigned int nheld;
};

static size_t pool_bytes(const struct cnmfs_params *p)
{
	return pmap_pool_bytes(p->capacity / PG, p->metadata_max);
}

int cnmfs_arena_sections(const struct cnmfs_params *p, struct arena_sec *secs,
			 unsigned int max)
{
	if (!p || max < CNMFS_ARENA_SECS || p->capacity < PG)
		return -EINVAL;
	secs[0] = (struct arena_sec){ FS_SEC_META, 0, sizeof(struct fs_meta) };
	secs[1] = (struct arena_sec){ FS_SEC_INODES, 0,
				      FS_NREC * sizeof(struct fs_irec) };
	secs[2] = (struct arena_sec){ FS_SEC_NAMES, 0,
				      FS_NREC * sizeof(struct fs_nrec) };
	secs[3] = (struct arena_sec){ FS_SEC_PMAP, 0, pool_bytes(p) };
	return CNMFS_ARENA_SECS;
}

int fs_store_open(struct cnmfs *fs, const struct cnmfs_params *p)
{
	struct fs_store *s;
	uint64_t len[4];
	void *pmem = NULL;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (p->arena) {
		s->meta = arena_section(p->arena, FS_SEC_META, &len[0]);
		s->irec = arena_section(p->arena, FS_SEC_INODES, &len[1]);
		s->nrec = arena_section(p->arena, FS_SEC_NAMES, &len[2]);
		pmem = arena_section(p->arena, FS_SEC_PMAP, &len[3]);
		ret = -EINVAL;
		if (!s->meta || !s->irec || !s->nrec || !pmem ||
		    len[1] < FS_NREC * sizeof(struct fs_irec) ||
		    len[2] < FS_NREC * sizeof(struct fs_nrec) ||
		    len[3] < pool_bytes(p))
			goto out_free;
		if (atomic_load(&s->meta->ready) == FS_READY) {
			if (s->meta->capacity != p->capacity)
				goto out_free;
			s->resumed = 1;
		} else {
			/* fresh: the records untouched but the scan bounds */
			atomic_store(&s->meta->ihigh, 0);
			atomic_store(&s->meta->nhigh, 0);
			atomic_store(&s->meta->seq, 0);
			s->meta->capacity = p->capacity;
			memset(pmem, 0, PMAP_NODE_BYTES * 2);
		}
	} else {
		s->anon_len = sizeof(struct fs_meta) +
			      FS_NREC * (sizeof(struct fs_irec) +
					 sizeof(struct fs_nrec));
		s->anon = mmap(NULL, s->anon_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		ret = -ENOMEM;
		if (s->anon == MAP_FAILED)
			goto out_free;
		s->irec = s->anon;
		s->nrec = (struct fs_nrec *)(s->irec + FS_NREC);
		s->meta = (struct fs_meta *)(s->nrec + FS_NREC);
	}
	fs->itab = calloc(FS_NREC, sizeof(*fs->itab));
	ret = -ENOMEM;
	if (!fs->itab)
		goto out_unmap;
	ret = pmap_pool_create_at(p->capacity / PG, p->metadata_max, pmem,
				  pmem ? len[3] : 0, &fs->pool);
	if (ret)
		goto out_itab;
	fs->store = s;
	return 0;

out_itab:
	free(fs->itab);
	fs->itab = NULL;
out_unmap:
	if (s->anon)
		munmap(s->anon, s->anon_len);
out_free:
	free(s);
	return ret;
}

void fs_store_close(struct cnmfs *fs)
{
	struct fs_store *s = fs->store;

	if (!s)
		return;
	pmap_pool_destroy(fs->pool);
	fs->pool = NULL;
	if (s->anon)
		munmap(s->anon, s->anon_len);
	free(fs->itab);
	free(s);
	fs->store = NULL;
}

int fs_store_resumed(struct cnmfs *fs)
{
	return fs->store->resumed;
}

void fs_store_ready(struct cnmfs *fs)
{
	atomic_store(&fs->store->meta->ready, FS_READY);
}

static void high(_Atomic uint32_t *h, uint32_t i)
{
	uint32_t cur = atomic_load(h);

	while (cur <= i && !atomic_compare_exchange_weak(h, &cur, i + 1))
		;
}

/* ---- inode records ---- */

void fs_rec_attr(struct cnmfs *fs, struct inode *in)
{
	struct fs_irec *r;

	if (in->rec == FS_NOREC)
		return;
	r = &fs->store->irec[in->rec];
	r->mode = in->mode;
	r->uid = in->uid;
	r->gid = in->gid;
	r->rdev = in->rdev;
	r->flags = in->direct ? IREC_DIRECT : 0;
	r->atime = in->atime;
	r->mtime = in->mtime;
	r->ctime = in->ctime;
	atomic_store_explicit(&r->size, in->size, memory_order_release);
}

void fs_rec_lookup(struct cnmfs *fs, struct inode *in)
{
	if (in->rec != FS_NOREC)
		atomic_store(&fs->store->irec[in->rec].nlookup, in->nlookup);
}

void fs_rec_open(struct cnmfs *fs, struct inode *in)
{
	if (in->rec != FS_NOREC)
		atomic_store(&fs->store->irec[in->rec].nopen, in->nopen);
}

int fs_rec_inode_new(struct cnmfs *fs, struct inode *in, int root)
{
	struct fs_store *s = fs->store;
	struct fs_irec *r;
	uint32_t i;

	if (root) {
		i = 0;
		in->ino = FUSE_ROOT_ID;
	} else if (s->ifree) {
		i = s->ifree - 1;
		s->ifree = s->irec[i].next_free;
	} else {
		i = atomic_load(&s->meta->ihigh);
		if (i < 2)
			i = 2; /* 0: the root, 1: the stats file's nodeid */
		if (i >= FS_NREC)
			return -ENOSPC;
	}
	r = &s->irec[i];
	atomic_store(&r->live, 0);
	r->ino = in->ino;
	r->target = 0;
	atomic_store(&r->nlookup, 0);
	atomic_store(&r->nopen, 0);
	atomic_store(&r->map, 0);
	in->rec = i;
	fs->itab[i] = in;
	pmap_bind(&in->map, fs->pool, &r->map);
	fs_rec_attr(fs, in);
	high(&s->meta->ihigh, i);
	atomic_store_explicit(&r->live, 1, memory_order_release);
	return 0;
}

void fs_rec_inode_free(struct cnmfs *fs, struct inode *in)
{
	struct fs_store *s = fs->store;
	struct fs_irec *r;

	if (in->rec == FS_NOREC)
		return;
	r = &s->irec[in->rec];
	if (r->target)
		fs_rec_name_free(fs, r->target - 1);
	atomic_store(&r->live, 0);
	fs->itab[in->rec] = NULL;
	if (in->rec) {
		r->next_free = s->ifree;
		s->ifree = in->rec + 1;
	}
	in->rec = FS_NOREC;
}

/* ---- name records ---- */

int fs_rec_name_new(struct cnmfs *fs, uint32_t parent, uint32_t inode,
		    const char *name, uint64_t cookie, uint32_t replaces,
		    uint64_t unique, uint32_t *out)
{
	struct fs_store *s = fs->store;
	size_t len = strlen(name);
	struct fs_nrec *r;
	uint32_t i;

	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	if (s->nfree) {
		i = s->nfree - 1;
		s->nfree = s->nrec[i].next_free;
	} else {
		i = atomic_load(&s->meta->nhigh);
		if (i >= FS_NREC)
			return -ENOSPC;
	}
	r = &s->nrec[i];
	atomic_store(&r->live, 0);
	r->parent = parent;
	r->inode = inode;
	r->cookie = cookie;
	r->seq = atomic_fetch_add(&s->meta->seq, 1) + 1;
	r->replaces = replaces;
	r->unique = unique;
	r->removed_by = 0;
	r->len = (uint32_t)len;
	memcpy(r->name, name, len + 1);
	high(&s->meta->nhigh, i);
	atomic_store_explicit(&r->live, 1, memory_order_release);
	*out = i;
	return 0;
}

void fs_rec_name_free(struct cnmfs *fs, uint32_t i)
{
	struct fs_store *s = fs->store;

	atomic_store(&s->nrec[i].live, 0);
	s->nrec[i].removed_by = 0;
	s->nrec[i].next_free = s->nfree;
	s->nfree = i + 1;
}

uint64_t fs_rec_name_unique(struct cnmfs *fs, uint32_t i)
{
	return fs->store->nrec[i].unique;
}

void fs_rec_name_retire(struct cnmfs *fs, uint32_t i, uint64_t unique)
{
	struct fs_nrec *r = &fs->store->nrec[i];

	/* who removed it, before the store that removes it */
	r->removed_by = unique;
	atomic_store_explicit(&r->live, 0, memory_order_release);
}

void fs_rec_name_release(struct cnmfs *fs, uint32_t i)
{
	fs_rec_name_free(fs, i);
}

int fs_rec_name_removed(struct cnmfs *fs, uint64_t unique, uint32_t parent,
			const char *name, uint32_t *out)
{
	struct fs_store *s = fs->store;

	for (unsigned int k = 0; k < s->nheld; k++) {
		struct fs_nrec *r = &s->nrec[s->held[k]];

		if (r->removed_by != unique || r->parent != parent ||
		    strcmp(r->name, name))
			continue;
		*out = s->held[k];
		s->held[k] = s->held[--s->nheld];
		return 0;
	}
	return -ENOENT;
}

int fs_rec_target(struct cnmfs *fs, struct inode *in, const char *target)
{
	uint32_t i;
	int ret;

	ret = fs_rec_name_new(fs, UINT32_MAX, in->rec, target, 0, 0, 0, &i);
	if (!ret)
		fs->store->irec[in->rec].target = i + 1;
	return ret;
}

/* ---- resuming ---- */

/* parent, name, newest first: the first of a run of equal names stays */
static int by_parent_name(const void *a, const void *b)
{
	const struct fs_nrec *x = *(struct fs_nrec *const *)a;
	const struct fs_nrec *y = *(struct fs_nrec *const *)b;
	int c;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static int by_parent_cookie(const void *a, const void *b)
{
	const struct fs_nrec *x = *(struct fs_nrec *const *)a;
	const struct fs_nrec *y = *(struct fs_nrec *const *)b;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return 0;
}

static void free_page(void *arg, uint64_t idx, uint32_t old)
{
	struct cnmfs *fs = arg;

	if (PMAP_IS_LPN(old))
		pstore_page_free(fs->ps, PMAP_TO_LPN(old));
}

/* Makes the live inode of record i; ns_lock held. */
static int inode_of_rec(struct cnmfs *fs, uint32_t i, struct inode **out)
{
	struct fs_irec *r = &fs->store->irec[i];
	struct inode *in;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	if (pmap_pool_charge(fs->pool, NS_INODE_COST)) {
		free(in);
		return -ENOSPC;
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_mutex_init(&in->rmw, NULL);
	pthread_cond_init(&in->idle, NULL);
	in->rec = i;
	in->ino = r->ino;
	in->mode = r->mode;
	in->uid = r->uid;
	in->gid = r->gid;
	in->rdev = (dev_t)r->rdev;
	in->direct = !!(r->flags & IREC_DIRECT);
	in->size = atomic_load(&r->size);
	in->atime = r->atime;
	in->mtime = r->mtime;
	in->ctime = r->ctime;
	in->nlookup = atomic_load(&r->nlookup);
	/* handles the kernel still has open: their RELEASE comes here */
	in->nopen = atomic_load(&r->nopen);
	atomic_fetch_add(&fs->open_files, (int)in->nopen);
	in->next_cookie = 3;
	pmap_init(&in->map);
	pmap_bind(&in->map, fs->pool, &r->map);
	in->next = fs->inodes.next;
	in->prev = &fs->inodes;
	fs->inodes.next->prev = in;
	fs->inodes.next = in;
	fs->ninodes++;
	if (S_ISREG(in->mode))
		fs->nfiles++;
	if (in->ino >= fs->next_ino)
		fs->next_ino = in->ino + 1;
	fs->itab[i] = in;
	*out = in;
	return 0;
}

/* Gives back the store's pages no map names (a crash between taking a
 * page and mapping it, or between unmapping and freeing it). */
static uint64_t keep_pages(struct cnmfs *fs)
{
	uint64_t total = pstore_pages_total(fs->ps), n;
	uint64_t *keep = calloc((total + 63) / 64, sizeof(*keep));
	struct inode *in;

	if (!keep)
		return 0;
	for (in = fs->inodes.next; in != &fs->inodes; in = in->next)
		for (uint64_t i = pmap_find(&in->map, 0, 1); i < PMAP_MAX_INDEX;
		     i = pmap_find(&in->map, i + 1, 1)) {
			uint32_t e = pmap_get(&in->map, i);

			if (PMAP_IS_LPN(e) && PMAP_TO_LPN(e) < total)
				keep[PMAP_TO_LPN(e) / 64] |=
					1ull << (PMAP_TO_LPN(e) % 64);
		}
	n = pstore_pages_keep(fs->ps, keep);
	free(keep);
	return n;
}

int fs_state_resume(struct cnmfs *fs)
{
	struct fs_store *s = fs->store;
	uint32_t ihigh = atomic_load(&s->meta->ihigh);
	uint32_t nhigh = atomic_load(&s->meta->nhigh);
	struct fs_nrec **names = NULL;
	uint32_t *newer = NULL, n = 0, freed = 0;
	uint64_t leaked = 0;
	struct inode *in, *next;
	int ret;

	if (!atomic_load(&s->irec[0].live))
		return -EUCLEAN;
	ret = pmap_pool_resume_begin(fs->pool);
	if (ret)
		return ret;
	names = calloc(nhigh + 1, sizeof(*names));
	newer = calloc(nhigh + 1, sizeof(*newer));
	ret = -ENOMEM;
	if (!names || !newer)
		goto out;
	/* inodes, with their maps */
	for (uint32_t i = 0; i < ihigh; i++) {
		uint64_t entries;

		if (i == 1 || !atomic_load(&s->irec[i].live)) {
			if (i > 1) {
				s->irec[i].next_free = s->ifree;
				s->ifree = i + 1;
			}
			continue;
		}
		ret = inode_of_rec(fs, i, &in);
		if (ret)
			goto out;
		ret = pmap_resume(fs->pool, &in->map, &entries);
		if (ret) {
			log_err("mount %s: inode %" PRIu64
				": its page map is damaged",
				fs->mountpoint, in->ino);
			goto out;
		}
	}
	fs->root = fs->itab[0];
	pmap_pool_resume_end(fs->pool);
	/* names: a rename cut short leaves the replaced name behind */
	for (uint32_t i = 0; i < nhigh; i++) {
		struct fs_nrec *r = &s->nrec[i];

		if (!atomic_load(&r->live) || !r->replaces ||
		    r->replaces > nhigh)
			continue;
		struct fs_nrec *o = &s->nrec[r->replaces - 1];

		if (atomic_load(&o->live) && o->seq < r->seq &&
		    o->inode == r->inode)
			newer[r->replaces - 1] = i + 1;
	}
	for (uint32_t i = 0; i < nhigh; i++) {
		struct fs_nrec *r = &s->nrec[i];
		int keep = atomic_load(&r->live) && !newer[i];

		if (!atomic_load(&r->live) && r->removed_by &&
		    r->parent != UINT32_MAX && s->nheld < FS_HELD_MAX &&
		    r->len <= NAME_MAX && !r->name[r->len]) {
			/* removed for a request that may come again */
			s->held[s->nheld++] = i;
			continue;
		}

		if (keep && r->parent == UINT32_MAX) {
			/* a symlink's target */
			keep = r->inode < ihigh && fs->itab[r->inode] &&
			       s->irec[r->inode].target == i + 1;
			if (keep) {
				in = fs->itab[r->inode];
				in->target = strdup(r->name);
				keep = in->target != NULL;
				if (keep)
					pmap_pool_charge(
						fs->pool,
						r->len + 1 + NS_MALLOC_COST);
			}
			if (keep)
				continue;
		} else if (keep) {
			keep = r->parent < ihigh && r->inode < ihigh &&
			       fs->itab[r->parent] && fs->itab[r->inode] &&
			       S_ISDIR(fs->itab[r->parent]->mode) &&
			       r->len <= NAME_MAX && !r->name[r->len];
			if (keep) {
				names[n++] = r;
				continue;
			}
		}
		if (atomic_load(&r->live))
			atomic_store(&r->live, 0);
		r->next_free = s->nfree;
		s->nfree = i + 1;
	}
	/* of two names (parent, name) the newer stays */
	qsort(names, n, sizeof(*names), by_parent_name);
	for (uint32_t k = 0, m = 0; k < n; k++) {
		if (m && names[m - 1]->parent == names[k]->parent &&
		    !strcmp(names[m - 1]->name, names[k]->name)) {
			fs_rec_name_free(fs, (uint32_t)(names[k] - s->nrec));
		} else {
			names[m++] = names[k];
		}
		if (k == n - 1)
			n = m;
	}
	qsort(names, n, sizeof(*names), by_parent_cookie);
	for (uint32_t k = 0; k < n; k++) {
		struct fs_nrec *r = names[k];
		struct inode *dir = fs->itab[r->parent];

		in = fs->itab[r->inode];
		ret = fs_dentry_resume(fs, dir, in, r->name, r->cookie,
				       (uint32_t)(r - s->nrec));
		if (ret)
			goto out;
		if (r->cookie >= dir->next_cookie)
			dir->next_cookie = r->cookie + 1;
	}
	/* link counts, sizes, capacity; orphans go */
	for (in = fs->inodes.next; in != &fs->inodes; in = in->next) {
		for (struct dentry *d = in->children; d; d = d->next) {
			if (S_ISDIR(d->inode->mode)) {
				in->nlink++;
				d->inode->parent = in;
			} else {
				d->inode->nlink++;
			}
		}
		if (S_ISDIR(in->mode))
			in->nlink += 2;
	}
	for (in = fs->inodes.next; in != &fs->inodes; in = next) {
		uint64_t first = (in->size + PG - 1) >> PG_SHIFT;

		next = in->next;
		if (S_ISREG(in->mode))
			pmap_clear(fs->pool, &in->map, first, PMAP_MAX_INDEX,
				   free_page, fs);
		in->pages = 0;
		for (uint64_t i = pmap_find(&in->map, 0, 1); i < PMAP_MAX_INDEX;
		     i = pmap_find(&in->map, i + 1, 1))
			in->pages++;
		if (pmap_reserve(fs->pool, in->pages))
			log_warn("mount %s: resumed past its capacity",
				 fs->mountpoint);
		if (in != fs->root && !in->nlink && !in->nlookup &&
		    !in->nopen) {
			fs_maybe_free(fs, in);
			freed++;
		}
	}
	if (fs->ps)
		leaked = keep_pages(fs);
	log_notice("mount %s: resumed %u inodes (%u unreachable freed), "
		   "%u names, %" PRIu64 " pages no map named freed",
		   fs->mountpoint, fs->ninodes, freed, n, leaked);
	ret = 0;
out:
	free(names);
	free(newer);
	return ret;
}
