#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pageproxy - a hostile network between a cnetmem mount and one donor.

usage: pageproxy.py DONOR_PORT PORT_FILE CTL_DIR

Listens on an ephemeral 127.0.0.1 port (written to PORT_FILE) and forwards
each connection to 127.0.0.1:DONOR_PORT, recording both directions to
CTL_DIR/cap-N.c2d and CTL_DIR/cap-N.d2c. It reads the protocol's framing
(24-byte little-endian header: magic, op, flags, id, len, status) and, while
a file of that name exists in CTL_DIR, attacks the data:

  FLIP  flips one byte of every READ reply body (page data or tags)
  SWAP  swaps the first two pages of every READ reply of 2+ pages: the
        mount gets another page's ciphertext
  DROP  answers every WRITE itself ("done") without passing it on: the
        donor keeps the old version of the page, which the mount then reads
        back (a rollback)
  DELAY holds every reply 5 ms: the mount then reads this donor's copy
        last (tests use it to make the other copy, the attacked one, the
        first choice)

It counts what it did in CTL_DIR/attacks (one line per attack). The proxy
holds no key: all it does is what anyone on the path could do.
"""
import os
import socket
import struct
import sys
import threading
import time

HDR = struct.Struct('<IHHQII')
MAGIC = 0x574d4e43
READ, WRITE = 8, 9
F_REPLY = 1
PAGE = 4096


def log_attack(ctl, what):
    with open(os.path.join(ctl, 'attacks'), 'a') as f:
        f.write(what + '\n')


def frames(sock, cap):
    """Yields (header bytes, body bytes) of every message read from sock;
    raw bytes before a valid header (none expected) are passed through as
    (None, data)."""
    buf = b''
    while True:
        d = sock.recv(1 << 16)
        if not d:
            return
        cap.write(d)
        buf += d
        while len(buf) >= HDR.size:
            magic, op, fl, rid, ln, st = HDR.unpack_from(buf)
            if magic != MAGIC:
                yield None, buf
                buf = b''
                break
            if len(buf) < HDR.size + ln:
                break
            yield buf[:HDR.size], buf[HDR.size:HDR.size + ln]
            buf = buf[HDR.size + ln:]


class Conn:
    def __init__(self, c, u, n, ctl):
        self.c, self.u, self.ctl = c, u, ctl
        self.to_client = threading.Lock()
        self.cap_c2d = open(os.path.join(ctl, 'cap-%d.c2d' % n), 'wb')
        self.cap_d2c = open(os.path.join(ctl, 'cap-%d.d2c' % n), 'wb')

    def on(self, name):
        return os.path.exists(os.path.join(self.ctl, name))

    def send_client(self, data):
        with self.to_client:
            self.c.sendall(data)

    def c2d(self):
        try:
            for h, body in frames(self.c, self.cap_c2d):
                if h is None:
                    self.u.sendall(body)
                    continue
                magic, op, fl, rid, ln, st = HDR.unpack(h)
                if op == WRITE and not fl & F_REPLY and self.on('DROP'):
                    log_attack(self.ctl, 'drop write id %d len %d' %
                               (rid, ln))
                    self.send_client(HDR.pack(MAGIC, WRITE, F_REPLY, rid,
                                              0, 0))
                    continue
                self.u.sendall(h + body)
        except OSError:
            pass
        self.close()

    def d2c(self):
        try:
            for h, body in frames(self.u, self.cap_d2c):
                if h is None:
                    self.send_client(body)
                    continue
                magic, op, fl, rid, ln, st = HDR.unpack(h)
                if op == READ and fl & F_REPLY and ln > 0:
                    if self.on('FLIP'):
                        i = min(100, ln - 1)
                        body = body[:i] + bytes([body[i] ^ 0x01]) + \
                            body[i + 1:]
                        log_attack(self.ctl, 'flip read id %d len %d' %
                                   (rid, ln))
                    if self.on('SWAP') and ln >= 2 * PAGE:
                        body = body[PAGE:2 * PAGE] + body[:PAGE] + \
                            body[2 * PAGE:]
                        log_attack(self.ctl, 'swap read id %d len %d' %
                                   (rid, ln))
                if self.on('DELAY'):
                    time.sleep(0.005)
                self.send_client(h + body)
        except OSError:
            pass
        self.close()

    def close(self):
        for s in (self.u, self.c):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for f in (self.cap_c2d, self.cap_d2c):
            try:
                f.flush()
            except ValueError:
                pass


def main():
    dport, port_file, ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', 0))
    ls.listen(16)
    tmp = port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write('%d\n' % ls.getsockname()[1])
    os.rename(tmp, port_file)
    n = 0
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(('127.0.0.1', dport))
        except OSError:
            c.close()
            continue
        n += 1
        # small messages (a run's tags) must not wait for an ACK (Nagle)
        for sock in (c, u):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        k = Conn(c, u, n, ctl)
        threading.Thread(target=k.c2d, daemon=True).start()
        threading.Thread(target=k.d2c, daemon=True).start()


if __name__ == '__main__':
    main()
