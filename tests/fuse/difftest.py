#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Differential test: one seeded random sequence of file operations applied
to a reference directory (tmpfs) and to a cnetmem mount must give the same
result for every operation (return value or errno, data read back) and end
with identical trees (types, modes, sizes, link counts, contents, symlink
targets).

usage: difftest.py REFERENCE_DIR CNETMEM_DIR [--seed N] [--ops N]
Exit 0 when both sides agreed on everything, 1 at the first difference.
"""
import argparse
import ctypes
import errno
import os
import random
import stat
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                           ctypes.c_long]
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Side:
    def __init__(self, root):
        self.root = root
        self.fds = {}  # handle number -> fd

    def p(self, rel):
        return os.path.join(self.root, rel) if rel else self.root


def outcome(fn):
    """Runs fn; returns ('ok', value) or ('err', errno name)."""
    try:
        return ('ok', fn())
    except OSError as e:
        return ('err', errno.errorcode.get(e.errno, str(e.errno)))


class Diff:
    def __init__(self, ref, mnt, seed):
        self.a = Side(ref)
        self.b = Side(mnt)
        self.rng = random.Random(seed)
        self.step = 0
        self.next_handle = 0
        self.log = []

    def fail(self, msg):
        print('difftest: step %d: %s' % (self.step, msg), file=sys.stderr)
        print('difftest: last operations:', file=sys.stderr)
        for line in self.log[-15:]:
            print('  ' + line, file=sys.stderr)
        sys.exit(1)

    def both(self, desc, fn):
        """fn(side) on both sides; results must match."""
        self.log.append(desc)
        ra = outcome(lambda: fn(self.a))
        rb = outcome(lambda: fn(self.b))
        if ra != rb:
            self.fail('%s: reference %r, cnetmem %r' %
                      (desc, ra if len(repr(ra)) < 200 else ra[0],
                       rb if len(repr(rb)) < 200 else rb[0]))
        return ra

    # -- the model: names that exist, taken from the reference side --
    def entries(self, want=None):
        out = []
        for dirpath, dirnames, filenames in os.walk(self.a.root):
            rel = os.path.relpath(dirpath, self.a.root)
            rel = '' if rel == '.' else rel
            for n in dirnames + filenames:
                r = os.path.join(rel, n)
                st = os.lstat(self.a.p(r))
                kind = ('dir' if stat.S_ISDIR(st.st_mode) else
                        'lnk' if stat.S_ISLNK(st.st_mode) else 'reg')
                if want is None or kind == want:
                    out.append(r)
        return sorted(out)

    def dirs(self):
        return [''] + self.entries('dir')

    def new_name(self):
        d = self.rng.choice(self.dirs())
        return os.path.join(d, 'n%d' % self.rng.randrange(40))

    def any_name(self):
        ents = self.entries()
        if ents and self.rng.random() < 0.8:
            return self.rng.choice(ents)
        return self.new_name()

    def a_file(self):
        files = self.entries('reg')
        return self.rng.choice(files) if files else self.new_name()

    def data(self, n):
        return self.rng.randbytes(n) if n < 4096 or self.rng.random() < 0.5 \
            else bytes([self.rng.randrange(256)]) * n

    def offset(self):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randrange(0, 3) * 4096
        if r < 0.8:
            return self.rng.randrange(0, 300000)
        return self.rng.randrange(0, 3 << 20)

    def size(self):
        r = self.rng.random()
        if r < 0.4:
            return self.rng.randrange(1, 200)
        if r < 0.7:
            return self.rng.choice([4096, 8192, 4095, 4097, 65536])
        return self.rng.randrange(1, 700000)

    # -- operations --
    def op_create(self):
        name = self.new_name()
        mode = self.rng.choice([0o644, 0o600, 0o755])
        self.both('create %s' % name, lambda s: os.close(
            os.open(s.p(name), os.O_CREAT | os.O_WRONLY, mode)))

    def op_write(self):
        name, off, data = self.a_file(), self.offset(), self.data(self.size())

        def w(s):
            fd = os.open(s.p(name), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                return os.pwrite(fd, data, off)
            finally:
                os.close(fd)
        self.both('write %s off %d len %d' % (name, off, len(data)), w)

    def op_append(self):
        name, data = self.a_file(), self.data(self.size())

        def w(s):
            fd = os.open(s.p(name), os.O_WRONLY | os.O_APPEND)
            try:
                return os.write(fd, data)
            finally:
                os.close(fd)
        self.both('append %s len %d' % (name, len(data)), w)

    def op_truncate(self):
        name = self.a_file()
        size = self.rng.choice([0, self.offset(), self.offset() + 1,
                                self.rng.randrange(0, 5000)])
        self.both('truncate %s %d' % (name, size),
                  lambda s: os.truncate(s.p(name), size))

    def op_otrunc(self):
        name = self.a_file()
        self.both('open O_TRUNC %s' % name, lambda s: os.close(
            os.open(s.p(name), os.O_WRONLY | os.O_TRUNC)))

    def op_punch(self):
        name, off, n = self.a_file(), self.offset(), self.size()

        def f(s):
            fd = os.open(s.p(name), os.O_WRONLY)
            try:
                fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          off, n)
            finally:
                os.close(fd)
        self.both('punch %s off %d len %d' % (name, off, n), f)

    def op_fallocate(self):
        name, off, n = self.a_file(), self.offset(), self.size()
        mode = self.rng.choice([0, FALLOC_FL_KEEP_SIZE])

        def f(s):
            fd = os.open(s.p(name), os.O_WRONLY)
            try:
                fallocate(fd, mode, off, n)
            finally:
                os.close(fd)
        self.both('fallocate %s mode %d off %d len %d' % (name, mode, off, n),
                  f)

    def op_read(self):
        name, off, n = self.a_file(), self.offset(), self.size()

        def r(s):
            fd = os.open(s.p(name), os.O_RDONLY)
            try:
                return os.pread(fd, n, off)
            finally:
                os.close(fd)
        self.both('read %s off %d len %d' % (name, off, n), r)

    def op_mkdir(self):
        name = self.new_name()
        self.both('mkdir %s' % name, lambda s: os.mkdir(s.p(name), 0o755))

    def op_rmdir(self):
        name = self.any_name()
        self.both('rmdir %s' % name, lambda s: os.rmdir(s.p(name)))

    def op_unlink(self):
        name = self.any_name()
        self.both('unlink %s' % name, lambda s: os.unlink(s.p(name)))

    def op_rename(self):
        a, b = self.any_name(), self.any_name()
        flags = self.rng.choice([0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE])
        self.both('rename %s %s flags %d' % (a, b, flags),
                  lambda s: renameat2(s.p(a), s.p(b), flags))

    def op_symlink(self):
        name = self.new_name()
        target = self.rng.choice(['t%d' % self.rng.randrange(9), '../x',
                                  self.any_name()])
        self.both('symlink %s -> %s' % (name, target),
                  lambda s: os.symlink(target, s.p(name)))

    def op_link(self):
        a, b = self.any_name(), self.new_name()
        self.both('link %s %s' % (a, b), lambda s: os.link(
            s.p(a), s.p(b), follow_symlinks=False))

    def op_chmod(self):
        name = self.any_name()
        mode = self.rng.choice([0o600, 0o644, 0o755, 0o4755, 0o700])
        self.both('chmod %s %o' % (name, mode), lambda s: os.chmod(
            s.p(name), mode, follow_symlinks=False) if not os.path.islink(
                s.p(name)) else None)

    def op_chown(self):
        name = self.any_name()
        uid, gid = self.rng.choice([(0, 0), (1000, 1000), (65534, 100)])
        self.both('chown %s %d:%d' % (name, uid, gid), lambda s: os.chown(
            s.p(name), uid, gid, follow_symlinks=False))

    def op_open_keep(self):
        """Open a file and keep it open across later unlinks/renames."""
        if len(self.a.fds) >= 4:
            return
        name = self.a_file()
        h = self.next_handle
        self.next_handle += 1

        def o(s):
            s.fds[h] = os.open(s.p(name), os.O_RDWR)
        if self.both('open-keep %s as #%d' % (name, h), o)[0] == 'err':
            self.a.fds.pop(h, None)
            self.b.fds.pop(h, None)

    def op_handle_io(self):
        if not self.a.fds:
            return
        h = self.rng.choice(sorted(self.a.fds))
        off, n = self.offset(), self.size()
        data = self.data(n)
        self.both('pwrite #%d off %d len %d' % (h, off, n),
                  lambda s: os.pwrite(s.fds[h], data, off))
        self.both('pread #%d off %d len %d' % (h, off, n),
                  lambda s: os.pread(s.fds[h], n, off))
        self.both('fstat-size #%d' % h,
                  lambda s: os.fstat(s.fds[h]).st_size)
        if self.rng.random() < 0.4:
            self.both('close #%d' % h, lambda s: os.close(s.fds.pop(h)))

    OPS = [('op_create', 6), ('op_write', 14), ('op_append', 3),
           ('op_truncate', 5), ('op_otrunc', 1), ('op_punch', 5),
           ('op_fallocate', 3), ('op_read', 10), ('op_mkdir', 4),
           ('op_rmdir', 2), ('op_unlink', 3), ('op_rename', 5),
           ('op_symlink', 2), ('op_link', 2), ('op_chmod', 2),
           ('op_chown', 1),
           ('op_open_keep', 2), ('op_handle_io', 4)]

    def run(self, nops):
        names = [n for n, w in self.OPS for _ in range(w)]
        for self.step in range(nops):
            getattr(self, self.rng.choice(names))()
        for h in sorted(self.a.fds):
            self.both('close #%d' % h, lambda s: os.close(s.fds.pop(h)))
        self.compare_trees()

    def snapshot(self, side):
        tree = {}
        for dirpath, dirnames, filenames in os.walk(side.root):
            rel = os.path.relpath(dirpath, side.root)
            for n in dirnames + filenames:
                r = os.path.normpath(os.path.join(rel, n))
                st = os.lstat(os.path.join(dirpath, n))
                ent = {'mode': oct(st.st_mode),
                       'owner': (st.st_uid, st.st_gid)}
                if stat.S_ISREG(st.st_mode):
                    ent['size'] = st.st_size
                    ent['nlink'] = st.st_nlink
                    with open(os.path.join(dirpath, n), 'rb') as f:
                        ent['data'] = f.read()
                elif stat.S_ISLNK(st.st_mode):
                    ent['target'] = os.readlink(os.path.join(dirpath, n))
                elif stat.S_ISDIR(st.st_mode):
                    ent['nlink'] = st.st_nlink
                tree[r] = ent
        return tree

    def compare_trees(self):
        self.step = 'end'
        ta, tb = self.snapshot(self.a), self.snapshot(self.b)
        if sorted(ta) != sorted(tb):
            self.fail('trees differ: only in reference %s, only in cnetmem %s'
                      % (sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))))
        for k in sorted(ta):
            for field in ta[k]:
                if ta[k][field] != tb[k].get(field):
                    if field == 'data':
                        a, b = ta[k][field], tb[k][field]
                        i = next((i for i in range(min(len(a), len(b)))
                                  if a[i] != b[i]), min(len(a), len(b)))
                        self.fail('%s: contents differ at byte %d' % (k, i))
                    self.fail('%s: %s: reference %r, cnetmem %r' %
                              (k, field, ta[k][field], tb[k].get(field)))
        nbytes = sum(e.get('size', 0) for e in ta.values())
        print('difftest: %d entries, %d bytes, identical' % (len(ta), nbytes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('ref')
    ap.add_argument('mnt')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--ops', type=int, default=1500)
    a = ap.parse_args()
    Diff(a.ref, a.mnt, a.seed).run(a.ops)


if __name__ == '__main__':
    main()
