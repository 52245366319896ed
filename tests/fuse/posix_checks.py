#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""POSIX spot checks on a fresh cnetmem mount of SIZE bytes:
errno of directory operations, rename flags, hard links kept alive by
open handles, sparse files and SEEK_DATA/SEEK_HOLE, fallocate modes,
statfs numbers, ENOSPC at the mount's size (nothing corrupted before it),
the stats file, xattrs.

usage: posix_checks.py MOUNTPOINT SIZE_BYTES
"""
import ctypes
import errno
import json
import os
import stat
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                           ctypes.c_long]
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, COLLAPSE = 1, 2, 0x10, 0x08
SEEK_DATA, SEEK_HOLE = 3, 4
PG = 4096
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL: ' + what, file=sys.stderr)


def expect_errno(err, what, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        check(e.errno == err, '%s: errno %s, expected %s' % (
            what, errno.errorcode.get(e.errno), errno.errorcode[err]))
        return
    check(False, '%s: succeeded, expected %s' % (what, errno.errorcode[err]))


def fallocate(fd, mode, off, n):
    if libc.fallocate(fd, mode, off, n):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def renameat2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def bfree_settled(m, want=None, secs=5.0):
    """statfs's free blocks once the kernel's RELEASEs are in: FUSE sends
    RELEASE after close(2) returns, and an unlinked file's pages go back
    only then. With want: until f_bfree is want (or secs pass); without:
    until two reads 0.2 s apart agree."""
    end = time.monotonic() + secs
    last = os.statvfs(m).f_bfree
    while time.monotonic() < end:
        if want is not None and last == want:
            break
        time.sleep(0.2)
        cur = os.statvfs(m).f_bfree
        if want is None and cur == last:
            break
        last = cur
    return last


def stats(m):
    with open(os.path.join(m, '.cnetmem-stats')) as f:
        return json.load(f)


def enospc_direct(p, m, size, free0):
    """Direct files: write() itself answers ENOSPC; the bytes before it stay
    readable."""
    fd = os.open(p('big'), os.O_CREAT | os.O_WRONLY, 0o644)
    chunk = bytes(range(256)) * 4096  # 1 MiB pattern
    written = 0
    err = None
    while True:
        try:
            n = os.write(fd, chunk)
        except OSError as e:
            err = e.errno
            break
        written += n
        if n < len(chunk):
            continue
        check(written <= size, 'wrote past --size')
        if written > size:
            break
    check(err == errno.ENOSPC, 'a full mount answers ENOSPC (got %s)' %
          errno.errorcode.get(err))
    check(written >= free0 * PG - (1 << 20),
          'the whole free space was writable (%d of %d)' %
          (written, free0 * PG))
    check(os.statvfs(m).f_bfree == 0, 'statfs shows the mount full')
    os.close(fd)
    ok = True
    with open(p('big'), 'rb') as f:
        off = 0
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            if b != chunk[:len(b)]:
                ok = False
            off += len(b)
    check(ok and off == written, 'data written before ENOSPC is intact')


def enospc_writeback(p, m, size):
    """Working-set files: write() fills the page cache, the writeback that
    does not fit fails, and fsync reports it (ENOSPC); the file then reads
    EIO (its data is gone), the mount is (almost) full, and a file written
    after the loss reads back right."""
    fd = os.open(p('big'), os.O_CREAT | os.O_WRONLY, 0o644)
    chunk = bytes(range(256)) * 4096  # 1 MiB pattern
    written = 0
    while written < size + (8 << 20):
        written += os.write(fd, chunk)
    expect_errno(errno.ENOSPC, 'fsync of a file past --size', os.fsync, fd)
    try:
        os.close(fd)  # may report it again
    except OSError as e:
        check(e.errno == errno.ENOSPC, 'close reports ENOSPC or nothing')
    check(os.statvfs(m).f_bfree < 256, 'statfs shows the mount (almost) full')
    fd = os.open(p('big'), os.O_RDONLY)
    # drop the clean cached pages: what is read now comes from the daemon
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    expect_errno(errno.EIO, 'a file that lost data in writeback reads EIO',
                 os.pread, fd, 1 << 20, 0)
    os.close(fd)
    fd = os.open(p('big'), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, chunk)
    os.fsync(fd)
    os.close(fd)
    fd = os.open(p('big'), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    check(os.pread(fd, 1 << 20, 0) == chunk,
          'truncated and written again, it reads right')
    os.close(fd)


def main():
    m, size = sys.argv[1], int(sys.argv[2])
    p = lambda *a: os.path.join(m, *a)

    # directories
    os.mkdir(p('d'))
    open(p('d', 'f'), 'w').close()
    expect_errno(errno.ENOTEMPTY, 'rmdir non-empty', os.rmdir, p('d'))
    expect_errno(errno.EEXIST, 'mkdir existing', os.mkdir, p('d'))
    expect_errno(errno.ENOTDIR, 'rmdir a file', os.rmdir, p('d', 'f'))
    expect_errno(errno.EISDIR, 'unlink a dir', os.unlink, p('d'))
    expect_errno(errno.ENOENT, 'unlink missing', os.unlink, p('nope'))
    expect_errno(errno.ENAMETOOLONG, 'long name', os.mkdir, p('x' * 256))
    check(os.stat(p('d')).st_nlink == 2, 'empty dir has 2 links')
    os.mkdir(p('d', 'sub'))
    check(os.stat(p('d')).st_nlink == 3, 'dir with a subdir has 3 links')
    expect_errno(errno.EINVAL, 'rename dir into itself', os.rename, p('d'),
                 p('d', 'sub', 'x'))

    # a directory larger than one readdir buffer, listed while it changes
    os.mkdir(p('big'))
    names = set('entry-with-a-longish-name-%05d' % i for i in range(3000))
    for n in names:
        open(p('big', n), 'w').close()
    check(set(os.listdir(p('big'))) == names, 'readdir of 3000 entries')
    seen = []
    removed = set()
    with os.scandir(p('big')) as it:
        for k, e in enumerate(it):
            seen.append(e.name)
            if k % 3 == 0:
                victim = 'entry-with-a-longish-name-%05d' % (2999 - k)
                if victim in names and victim not in removed:
                    os.unlink(p('big', victim))
                    removed.add(victim)
    check(len(seen) == len(set(seen)), 'readdir returns no name twice')
    check(names - removed <= set(seen),
          'readdir returns every entry not removed meanwhile')
    for n in names - removed:
        os.unlink(p('big', n))
    os.rmdir(p('big'))

    # rename: replace, NOREPLACE, EXCHANGE, dir over file
    with open(p('a'), 'w') as f:
        f.write('A')
    with open(p('b'), 'w') as f:
        f.write('B')
    expect_errno(errno.EEXIST, 'RENAME_NOREPLACE onto existing', renameat2,
                 p('a'), p('b'), 1)
    renameat2(p('a'), p('b'), 2)
    check(open(p('a')).read() == 'B' and open(p('b')).read() == 'A',
          'RENAME_EXCHANGE swaps the files')
    expect_errno(errno.EINVAL, 'RENAME_WHITEOUT is refused', renameat2,
                 p('a'), p('c'), 4)
    expect_errno(errno.ENOTDIR, 'rename dir over file', os.rename,
                 p('d', 'sub'), p('a'))
    expect_errno(errno.EISDIR, 'rename file over dir', os.rename, p('a'),
                 p('d', 'sub'))
    ino = os.stat(p('a')).st_ino
    os.rename(p('a'), p('b'))
    check(open(p('b')).read() == 'B' and not os.path.exists(p('a')),
          'rename replaces the target')
    check(os.stat(p('b')).st_ino == ino, 'rename keeps the inode number')

    # hard links and open-but-unlinked files
    os.link(p('b'), p('b2'))
    check(os.stat(p('b')).st_nlink == 2, 'link count 2 after link')
    check(os.stat(p('b')).st_ino == os.stat(p('b2')).st_ino,
          'hard links share the inode number')
    fd = os.open(p('b'), os.O_RDWR)
    os.unlink(p('b'))
    os.unlink(p('b2'))
    os.pwrite(fd, b'still here', 100)
    check(os.pread(fd, 10, 100) == b'still here',
          'unlinked open file keeps its data')
    os.close(fd)
    os.symlink('target/x', p('ln'))
    check(os.readlink(p('ln')) == 'target/x', 'symlink target')
    check(stat.S_ISLNK(os.lstat(p('ln')).st_mode), 'symlink mode')

    # sparse files, SEEK_DATA/SEEK_HOLE, fallocate modes
    fd = os.open(p('sparse'), os.O_CREAT | os.O_RDWR, 0o644)
    os.pwrite(fd, b'x' * PG, 10 * PG)
    os.truncate(p('sparse'), 100 * PG)
    check(os.pread(fd, PG, 0) == bytes(PG), 'a hole reads as zeros')
    check(os.fstat(fd).st_blocks == PG // 512, 'one page allocated')
    check(os.lseek(fd, 0, SEEK_DATA) == 10 * PG, 'SEEK_DATA finds the page')
    check(os.lseek(fd, 10 * PG, SEEK_HOLE) == 11 * PG,
          'SEEK_HOLE after the page')
    check(os.lseek(fd, 0, SEEK_HOLE) == 0, 'SEEK_HOLE at a hole')
    expect_errno(errno.ENXIO, 'SEEK_DATA past the last data', os.lseek, fd,
                 11 * PG, SEEK_DATA)
    expect_errno(errno.ENXIO, 'SEEK_HOLE past EOF', os.lseek, fd, 100 * PG,
                 SEEK_HOLE)
    fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 10 * PG + 100, 200)
    got = os.pread(fd, PG, 10 * PG)
    check(got == b'x' * 100 + bytes(200) + b'x' * (PG - 300),
          'punching inside a page zeroes just that range')
    fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 10 * PG, PG)
    check(os.fstat(fd).st_blocks == 0, 'punching a whole page frees it')
    check(os.fstat(fd).st_size == 100 * PG, 'punch keeps the size')
    fallocate(fd, KEEP_SIZE, 200 * PG, 10 * PG)
    check(os.fstat(fd).st_size == 100 * PG, 'KEEP_SIZE keeps the size')
    check(os.fstat(fd).st_blocks == 10 * PG // 512, 'fallocate reserves')
    fallocate(fd, 0, 0, 150 * PG)
    check(os.fstat(fd).st_size == 150 * PG, 'fallocate mode 0 extends')
    check(os.pread(fd, PG, 20 * PG) == bytes(PG),
          'fallocated pages read as zeros')
    expect_errno(errno.EOPNOTSUPP, 'ZERO_RANGE is not supported', fallocate,
                 fd, ZERO_RANGE, 0, PG)
    expect_errno(errno.EOPNOTSUPP, 'COLLAPSE_RANGE is not supported',
                 fallocate, fd, COLLAPSE, 0, PG)
    # truncate down to a partial page and up again: the tail reads zeros
    os.pwrite(fd, b'y' * PG, 0)
    os.truncate(p('sparse'), 100)
    os.truncate(p('sparse'), PG)
    check(os.pread(fd, PG, 0) == b'y' * 100 + bytes(PG - 100),
          'bytes cut by truncate come back as zeros')
    os.close(fd)
    os.unlink(p('sparse'))

    # statfs and ENOSPC at --size
    sv = os.statvfs(m)
    check(sv.f_frsize * sv.f_blocks == size,
          'statfs reports --size (%d vs %d)' % (sv.f_frsize * sv.f_blocks,
                                               size))
    free0 = bfree_settled(m)
    if stats(m)['cache'] == 'writeback':
        enospc_writeback(p, m, size)
    else:
        enospc_direct(p, m, size, free0)
    os.unlink(p('big'))
    check(bfree_settled(m, free0) == free0, 'unlink gives the space back')

    # the stats file
    s = stats(m)
    check(s['capacity_bytes'] == size, 'stats: capacity')
    check(s['ops']['write']['errors'] >= 1, 'stats: write errors counted')
    check(s['files'] >= 1, 'stats: files counted')
    check('.cnetmem-stats' not in os.listdir(m), 'stats file is hidden')
    expect_errno(errno.EACCES, 'stats file is read-only', os.open,
                 p('.cnetmem-stats'), os.O_WRONLY)
    expect_errno(errno.EPERM, 'stats file cannot be removed', os.unlink,
                 p('.cnetmem-stats'))

    # xattrs are not kept
    open(p('xf'), 'w').close()
    expect_errno(errno.EOPNOTSUPP, 'setxattr', os.setxattr, p('xf'),
                 'user.x', b'1')
    expect_errno(errno.EOPNOTSUPP, 'getxattr',
                 os.getxattr, p('xf'), 'user.x')
    check(os.listxattr(p('xf')) == [], 'listxattr is empty')

    if failures:
        print('%d checks failed' % len(failures), file=sys.stderr)
        sys.exit(1)
    print('posix checks passed')


if __name__ == '__main__':
    main()
