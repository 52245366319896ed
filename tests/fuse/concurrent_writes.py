#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Concurrent writers of small records that share pages (each page gets
records from every writer, so every write is a read-modify-write of a page
another writer is changing at the same time); every record must be there at
the end, and concurrent readers never see a torn record.

usage: concurrent_writes.py FILE [--writers N] [--records N]
"""
import argparse
import os
import sys
from multiprocessing import Process

REC = 100


def record(w, i):
    return (b'%02d:%06d:' % (w, i)).ljust(REC, bytes([65 + w % 26]))


def writer(path, w, n, nw):
    fd = os.open(path, os.O_WRONLY)
    for i in range(n):
        assert os.pwrite(fd, record(w, i), (i * nw + w) * REC) == REC
    os.close(fd)


def reader(path, n, nw):
    fd = os.open(path, os.O_RDONLY)
    for k in range(200):
        i = (k * 7919) % n
        w = k % nw
        got = os.pread(fd, REC, (i * nw + w) * REC)
        if got not in (record(w, i), bytes(REC), b''):
            print('torn record %d of writer %d: %r' % (i, w, got[:20]),
                  file=sys.stderr)
            os._exit(1)
    os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('file')
    ap.add_argument('--writers', type=int, default=6)
    ap.add_argument('--records', type=int, default=3000)
    a = ap.parse_args()
    open(a.file, 'wb').close()
    procs = [Process(target=writer, args=(a.file, w, a.records, a.writers))
             for w in range(a.writers)]
    procs += [Process(target=reader, args=(a.file, a.records, a.writers))
              for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode:
            sys.exit(1)
    with open(a.file, 'rb') as f:
        data = f.read()
    bad = 0
    for i in range(a.records):
        for w in range(a.writers):
            off = (i * a.writers + w) * REC
            if data[off:off + REC] != record(w, i):
                bad += 1
    if bad:
        print('%d of %d records lost' % (bad, a.records * a.writers),
              file=sys.stderr)
        sys.exit(1)
    print('%d records from %d concurrent writers all present' %
          (a.records * a.writers, a.writers))


if __name__ == '__main__':
    main()
