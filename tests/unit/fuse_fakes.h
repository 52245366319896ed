/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse_fakes - the libfuse calls fs/ makes, faked by tests that drive it
 * with made-up requests and no mount. Each test defines these __wrap_
 * functions and links with fuse_fake_link_args (tests/meson.build): the
 * linker sends fs/'s calls to them, even when libfuse is linked
 * statically. Threading: as the test defines them.
 */
#ifndef CNM_TESTS_FUSE_FAKES_H
#define CNM_TESTS_FUSE_FAKES_H

#include "fs/fs.h" /* its libfuse version */

#include <fuse_lowlevel.h>

void *__wrap_fuse_req_userdata(fuse_req_t req);
const struct fuse_ctx *__wrap_fuse_req_ctx(fuse_req_t req);
int __wrap_fuse_reply_err(fuse_req_t req, int err);
void __wrap_fuse_reply_none(fuse_req_t req);
int __wrap_fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e);
int __wrap_fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi);
int __wrap_fuse_reply_attr(fuse_req_t req, const struct stat *attr,
			   double attr_timeout);
int __wrap_fuse_reply_readlink(fuse_req_t req, const char *link);
int __wrap_fuse_reply_buf(fuse_req_t req, const char *buf, size_t size);
int __wrap_fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi);
int __wrap_fuse_reply_write(fuse_req_t req, size_t count);
int __wrap_fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf);
int __wrap_fuse_reply_xattr(fuse_req_t req, size_t count);
int __wrap_fuse_reply_lseek(fuse_req_t req, off_t off);
size_t __wrap_fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize,
				const char *name, const struct stat *stbuf,
				off_t off);

#endif
