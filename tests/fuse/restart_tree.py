#!/usr/bin/env python3
"""Builds and compares the file tree of tests/fuse/fuse_restart.sh.

  restart_tree.py build STEP DIR...   the same step of the tree in each DIR
  restart_tree.py compare REF DIR     DIR must equal REF: names, types,
                                      modes, sizes, contents, holes
                                      (SEEK_DATA/SEEK_HOLE), link targets

Steps add working-set files (written through the page cache), sparse files
(data at scattered offsets, holes between), directories, symlinks and
renames, with the same seeded random contents in every DIR. Each step is
small enough to run between two kills of the serving process.
"""
import os
import random
import stat
import sys

MIB = 1 << 20


def data(rng, n):
    return rng.randbytes(n)


def build(step, dirs):
    for d in dirs:
        rng = random.Random(1000 + step)
        base = os.path.join(d, "s%d" % step)
        os.makedirs(os.path.join(base, "a", "b", "c"), exist_ok=True)
        # working-set files: through the page cache, fsync'd
        for i in range(4):
            p = os.path.join(base, "a", "ws%d" % i)
            with open(p, "wb") as f:
                f.write(data(rng, rng.randrange(1, 3 * MIB)))
                f.flush()
                os.fsync(f.fileno())
        # sparse files: data at scattered offsets, holes between
        for i in range(3):
            p = os.path.join(base, "a", "b", "sparse%d" % i)
            fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o640)
            for _ in range(5):
                off = rng.randrange(0, 256) * 64 * 1024
                os.pwrite(fd, data(rng, rng.randrange(1, 20000)), off)
            os.ftruncate(fd, 24 * MIB)
            os.fsync(fd)
            os.close(fd)
        # small files, modes, a symlink, a rename, an empty directory
        for i in range(20):
            p = os.path.join(base, "a", "b", "c", "small%02d" % i)
            with open(p, "wb") as f:
                f.write(data(rng, rng.randrange(0, 9000)))
            os.chmod(p, 0o600 + (i % 3) * 0o40)
        os.symlink("../a/ws0", os.path.join(base, "a", "b", "link"))
        os.rename(os.path.join(base, "a", "ws3"),
                  os.path.join(base, "a", "b", "moved"))
        os.makedirs(os.path.join(base, "empty"), exist_ok=True)


def extents(fd, size):
    """Data extents by SEEK_DATA/SEEK_HOLE, as 4 KiB pages."""
    out, off = [], 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start // 4096, (end + 4095) // 4096))
        off = end
    return out


def snapshot(root):
    res = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel == ".cnetmem-stats":
                continue
            st = os.lstat(p)
            ent = {"mode": stat.filemode(st.st_mode)}
            if not stat.S_ISDIR(st.st_mode):  # a directory's size is the fs's
                ent["size"] = st.st_size
            if stat.S_ISLNK(st.st_mode):
                ent["target"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(p, os.O_RDONLY)
                # read what the serving process has, not the page cache
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                ent["data"] = hash(os.pread(fd, st.st_size, 0))
                ent["extents"] = extents(fd, st.st_size)
                os.close(fd)
            res[rel] = ent
    return res


def compare(ref, d):
    a, b = snapshot(ref), snapshot(d)
    bad = 0
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print("differs: %s: ref %s, mount %s" % (k, a.get(k), b.get(k)),
                  file=sys.stderr)
            bad += 1
    print("# %d entries compared, %d differ" % (len(a), bad))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "build":
        build(int(sys.argv[2]), sys.argv[3:])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
