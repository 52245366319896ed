#!/usr/bin/env python3
"""What systemd does with a unit's fd store (FileDescriptorStoreMax=2,
KillMode=mixed, Restart=on-failure), for tests/fuse/fuse_restart_fdstore.sh.

  fdstore_systemd.py SOCKET MNT LOG CNETMEM ARGS...

Runs CNETMEM -f ARGS with NOTIFY_SOCKET=SOCKET, keeps the descriptors it
stores (FDSTORE=1, FDNAME=), waits for READY=1; writes a file; SIGKILLs
the supervisor and then every process left of it (the serving process),
as systemd does when the main process of a KillMode=mixed unit dies; starts
CNETMEM again with the stored descriptors (LISTEN_FDS, LISTEN_FDNAMES,
LISTEN_PID); waits for READY=1; checks the file and the stats. Exit 0 when
the mount came through, 1 otherwise (why on stderr).
"""
import array
import json
import os
import signal
import socket
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    path, mnt, log, exe, args = (sys.argv[1], sys.argv[2], sys.argv[3],
                                 sys.argv[4], sys.argv[5:])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    store = {}
    env = dict(os.environ, NOTIFY_SOCKET=path)
    logf = open(log, "ab")

    def wait_ready():
        while True:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 4)
            text = msg.decode(errors="replace")
            fields = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
            if fields.get("FDSTORE") == "1" and fds:
                old = store.get(fields.get("FDNAME"))
                if old is not None:
                    os.close(old)
                store[fields.get("FDNAME")] = fds[0]
                for fd in fds[1:]:
                    os.close(fd)
            else:
                for fd in fds:
                    os.close(fd)
            if fields.get("READY") == "1":
                return

    first = subprocess.Popen([exe, mnt, "-f"] + args, env=env,
                             stdout=logf, stderr=logf)
    wait_ready()
    if sorted(store) != ["cnetmem-fuse", "cnetmem-state"]:
        fail("the fd store holds %s" % sorted(store))
    data = os.urandom(3 << 20)
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(data)
    stats = json.load(open(os.path.join(mnt, ".cnetmem-stats")))
    server = stats["daemon"]["pid"]
    # the main process dies; KillMode=mixed: SIGKILL to the rest
    first.send_signal(signal.SIGKILL)
    first.wait()
    try:
        os.kill(server, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0.2)

    names = ["cnetmem-fuse", "cnetmem-state"]
    held = [store[n] for n in names]

    def preexec():
        for i, fd in enumerate(held):
            os.dup2(fd, 3 + i)  # inheritable

    env2 = dict(env, LISTEN_FDS="2", LISTEN_FDNAMES=":".join(names))
    # LISTEN_PID is the pid of the exec'd process: set it from a shell
    second = subprocess.Popen(
        ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', exe, mnt, "-f"] + args,
        env=env2, stdout=logf, stderr=logf, preexec_fn=preexec,
        close_fds=False)  # python's own descriptors are not inheritable
    wait_ready()
    with open(os.path.join(mnt, "f"), "rb") as f:
        if f.read() != data:
            fail("the file differs after the supervisor was replaced")
    stats = json.load(open(os.path.join(mnt, ".cnetmem-stats")))
    if stats["daemon"]["supervisor"] != second.pid:
        fail("stats name supervisor %s, not %s" %
             (stats["daemon"]["supervisor"], second.pid))
    if stats["daemon"]["restarts"] != 1:
        fail("stats count %s restarts, not 1" % stats["daemon"]["restarts"])
    # a clean stop: fusermount3 -u, then the supervisor exits 0
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    if second.wait(timeout=20) != 0:
        fail("the second supervisor exited %s" % second.returncode)
    print("ok: the mount came through its supervisor's death via the fd store")
    return 0


if __name__ == "__main__":
    sys.exit(main())
