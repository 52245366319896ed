#!/usr/bin/env python3
"""A hostile keyless donor (for the fuse suite's evict-flood case): speaks
protocol v2 with all-zero proofs (a mount with --insecure accepts that),
serves slabs from memory, and after AUTH floods the client with EVICTs.

usage: evict_flood_donor.py PORTFILE   (binds 127.0.0.1:0, writes the port)
"""
import os
import random
import socket
import struct
import sys
import threading
import time

MAGIC = 0x574d4e43
HELLO, AUTH, QUERY, ALLOC, FREE, HEARTBEAT, EVICT, READ, WRITE = range(1, 10)
F_REPLY = 1
HDR = struct.Struct('<IHHQII')  # magic op flags id len status
HELLO_LEN = 160


def recv_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError('closed')
        b += c
    return b


class Conn:
    def __init__(self, s):
        self.s = s
        self.lock = threading.Lock()
        self.mem = {}

    def send(self, op, rid, body=b'', status=0, flags=F_REPLY):
        with self.lock:
            self.s.sendall(HDR.pack(MAGIC, op, flags, rid, len(body), status)
                           + body)

    def flood(self):
        try:
            while True:
                for _ in range(200):
                    slab = random.choice([0, 1, 5, random.getrandbits(32)])
                    self.send(EVICT, 0, struct.pack('<IIQ', slab, 0, 1000),
                              flags=0)
                time.sleep(0.01)
        except OSError:
            pass

    def serve(self):
        slab_size, nxt = 1 << 20, 0
        try:
            while True:
                _, op, _, rid, ln, _ = HDR.unpack(recv_exact(self.s, 24))
                b = recv_exact(self.s, ln) if ln else b''
                if op == HELLO:
                    _, _, slab_size = struct.unpack('<IIQ', b[:16])
                    body = struct.pack('<IIQ', 2, 0, slab_size) + b[16:32]
                    body += os.urandom(32) + bytes(32) + os.urandom(32)
                    body += bytes(32)
                    assert len(body) == HELLO_LEN
                    self.send(HELLO, rid, body)
                elif op == AUTH:
                    self.send(AUTH, rid)
                    threading.Thread(target=self.flood, daemon=True).start()
                elif op == QUERY:
                    st = struct.pack('<QQQIIIIQqQQQII', 1 << 30, 1 << 29,
                                     slab_size, 1024, 512, nxt, 1, 1 << 30,
                                     0, 0, 0, 1 << 40, 0, 0)
                    self.send(QUERY, rid, st)
                elif op == ALLOC:
                    self.send(ALLOC, rid,
                              struct.pack('<IIQQ', nxt, 0, slab_size, 0))
                    nxt += 1
                elif op in (FREE, HEARTBEAT):
                    self.send(op, rid)
                elif op == READ:
                    slab, n, off = struct.unpack('<IIQ', b[:16])
                    self.send(READ, rid, self.mem.get((slab, off), bytes(n)))
                elif op == WRITE:
                    slab, n, off = struct.unpack('<IIQ', b[:16])
                    self.mem[(slab, off)] = b[16:]
                    self.send(WRITE, rid)
        except (OSError, ConnectionError):
            pass


def main():
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(16)
    with open(sys.argv[1] + '.tmp', 'w') as f:
        f.write('%d\n' % ls.getsockname()[1])
    os.rename(sys.argv[1] + '.tmp', sys.argv[1])
    while True:
        c, _ = ls.accept()
        threading.Thread(target=Conn(c).serve, daemon=True).start()


main()
