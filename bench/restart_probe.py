#!/usr/bin/env python3
"""The workload whose stall bench/restart-pause measures.

  restart_probe.py FILE PAGES OUT

Writes PAGES 4 KiB pages to FILE (each holds its own number), then reads
random pages with O_DIRECT (what swap through a --direct-io loop device
does) in a loop, checking each, until SIGTERM; then writes the wall-clock
time of every completed read to OUT, one per line. Exit 1 on a wrong page
or an I/O error.
"""
import mmap
import os
import random
import signal
import struct
import sys
import time

PG = 4096


def main():
    path, pages, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    buf = mmap.mmap(-1, PG)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600)
    for p in range(pages):
        buf.seek(0)
        buf.write(struct.pack("<Q", p) * (PG // 8))
        os.pwritev(fd, [buf], p * PG)
    os.fsync(fd)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    times, rng, bad = [], random.Random(1), 0
    print("ready", flush=True)
    while not stop:
        p = rng.randrange(pages)
        try:
            n = os.preadv(fd, [buf], p * PG)
        except InterruptedError:
            continue
        except OSError as e:
            print("page %d: %s" % (p, e), file=sys.stderr)
            bad += 1
            break
        if n != PG or buf[:8] != struct.pack("<Q", p):
            print("page %d: wrong content" % p, file=sys.stderr)
            bad += 1
            break
        times.append(time.time())
    with open(out, "w") as f:
        f.write("\n".join("%.6f" % t for t in times) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
