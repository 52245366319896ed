#!/usr/bin/env python3
# notify_socket.py SOCKET OUT: what systemd does for a Type=notify unit:
# listen on a datagram socket (NOTIFY_SOCKET) and write each message the
# daemon sends to OUT, one per line (newlines inside become ' | ').
# Ends on SIGTERM. Used by the tests of sd_notify.
import os
import signal
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
with open(out, "a", buffering=1) as f:
    print("listening", file=f)
    while True:
        msg = s.recv(4096).decode(errors="replace")
        print(msg.strip().replace("\n", " | "), file=f)
