// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fs_fake - the fake FUSE requests and the state servers of the fs state
 * tests (fs_fake.h).
 */
#include "tests/unit/fs/fs_fake.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- fake requests ---- */

struct fuse_req *req_new(struct cnmfs *fs)
{
	static struct fuse_req r;

	memset(&r, 0, sizeof(r));
	r.fs = fs;
	return &r;
}

void *__wrap_fuse_req_userdata(fuse_req_t req)
{
	return req->fs;
}

const struct fuse_ctx *__wrap_fuse_req_ctx(fuse_req_t req)
{
	return &req->ctx;
}

int __wrap_fuse_reply_err(fuse_req_t req, int err)
{
	if (req->die)
		_exit(0);
	req->err = err;
	return 0;
}

void __wrap_fuse_reply_none(fuse_req_t req)
{
}

int __wrap_fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	if (req->die)
		_exit(0);
	req->e = *e;
	return 0;
}

int __wrap_fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi)
{
	if (req->die)
		_exit(0);
	req->e = *e;
	return 0;
}

int __wrap_fuse_reply_attr(fuse_req_t req, const struct stat *attr,
			   double attr_timeout)
{
	req->attr = *attr;
	return 0;
}

int __wrap_fuse_reply_readlink(fuse_req_t req, const char *link)
{
	snprintf(req->buf, sizeof(req->buf), "%s", link);
	return 0;
}

int __wrap_fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	req->len = size < sizeof(req->buf) ? size : sizeof(req->buf);
	memcpy(req->buf, buf, req->len);
	return 0;
}

int __wrap_fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	return 0;
}

int __wrap_fuse_reply_write(fuse_req_t req, size_t count)
{
	return 0;
}

int __wrap_fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
{
	return 0;
}

int __wrap_fuse_reply_xattr(fuse_req_t req, size_t count)
{
	return 0;
}

int __wrap_fuse_reply_lseek(fuse_req_t req, off_t off)
{
	return 0;
}

/* readdir entries here: the name, NUL */
size_t __wrap_fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize,
				const char *name, const struct stat *stbuf,
				off_t off)
{
	size_t n = strlen(name) + 1;

	if (n <= bufsize)
		memcpy(buf, name, n);
	return n;
}

/* ---- ops ---- */

const struct fuse_lowlevel_ops *ops;

fuse_ino_t lookup(struct cnmfs *fs, fuse_ino_t dir, const char *name)
{
	struct fuse_req *r = req_new(fs);

	ops->lookup(r, dir, name);
	return r->err ? 0 : r->e.ino;
}

struct stat getattr(struct cnmfs *fs, fuse_ino_t ino)
{
	struct fuse_req *r = req_new(fs);

	ops->getattr(r, ino, NULL);
	ck_assert_int_eq(r->err, 0);
	return r->attr;
}

fuse_ino_t mkdir_(struct cnmfs *fs, fuse_ino_t dir, const char *name)
{
	struct fuse_req *r = req_new(fs);

	ops->mkdir(r, dir, name, 0750);
	return r->err ? 0 : r->e.ino;
}

/* ---- servers ---- */

struct state *st0; /* the supervisor's */

void supervisor_setup(void)
{
	struct pstore_cfg pc = { .transport = XPORT_MEM, .capacity = CAP };
	struct cnmfs_params fp = { .capacity = CAP, .requests = 2 };

	ck_assert_int_eq(state_create(&pc, &fp, &st0), 0);
	ops = cnmfs_ops();
}

void supervisor_teardown(void)
{
	state_close(st0);
}

/* A server on the state: attaches, makes or resumes the fs. */
struct cnmfs *server(struct state **st)
{
	struct cnmfs_params fp = { .capacity = CAP,
				   .requests = 2,
				   .mountpoint = "/test" };
	struct cnmfs *fs;

	ck_assert_int_eq(state_attach(dup(state_fd(st0)), st), 0);
	fp.arena = state_arena(*st);
	ck_assert_int_eq(cnmfs_create(&fp, NULL, &fs), 0);
	return fs;
}
