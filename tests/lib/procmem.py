#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""procmem - look into and change a live process's memory, as a hostile
donor host (root) can: through /proc/PID/mem.

  procmem.py count PID MARKER      occurrences of MARKER in every readable
                                   private mapping of PID
  procmem.py flip PID MIN_MIB      flips one byte in every non-zero 4 KiB
                                   page of PID's writable mappings of at
                                   least MIN_MIB (a donor's pool); prints
                                   how many pages it changed
"""
import re
import sys

PAGE = 4096
CHUNK = 1 << 20
MAX_MAP = 64 << 30


def maps(pid):
    with open('/proc/%d/maps' % pid) as f:
        for line in f:
            m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)',
                         line)
            if not m:
                continue
            lo, hi, perm, name = (int(m.group(1), 16), int(m.group(2), 16),
                                  m.group(3), m.group(4))
            if perm[0] != 'r' or name in ('[vvar]', '[vsyscall]', '[vdso]'):
                continue
            # a sanitizer's shadow (terabytes, mostly never touched) holds
            # no page of ours
            if hi - lo > MAX_MAP:
                continue
            yield lo, hi, perm, name


def chunks(mem, lo, hi):
    for a in range(lo, hi, CHUNK):
        n = min(CHUNK, hi - a)
        try:
            mem.seek(a)
            yield a, mem.read(n)
        except OSError:
            continue


def count(pid, marker):
    total = 0
    with open('/proc/%d/mem' % pid, 'rb') as mem:
        for lo, hi, perm, name in maps(pid):
            tail = b''
            for a, data in chunks(mem, lo, hi):
                total += (tail + data).count(marker)
                tail = data[-(len(marker) - 1):] if len(marker) > 1 else b''
    return total


def flip(pid, min_mib):
    flipped = 0
    zero = bytes(PAGE)
    with open('/proc/%d/mem' % pid, 'r+b', buffering=0) as mem:
        for lo, hi, perm, name in list(maps(pid)):
            if perm[1] != 'w' or hi - lo < min_mib << 20:
                continue
            for a, data in chunks(mem, lo, hi):
                for off in range(0, len(data), PAGE):
                    if data[off:off + PAGE] == zero:
                        continue
                    i = a + off + 1000
                    mem.seek(i)
                    mem.write(bytes([data[off + 1000] ^ 0x40]))
                    flipped += 1
    return flipped


def main():
    cmd, pid = sys.argv[1], int(sys.argv[2])
    if cmd == 'count':
        print(count(pid, sys.argv[3].encode()))
    elif cmd == 'flip':
        print(flip(pid, int(sys.argv[3])))
    else:
        sys.exit('usage: procmem.py count PID MARKER | flip PID MIN_MIB')


if __name__ == '__main__':
    main()
