#!/usr/bin/python3
"""slow_clients.py PORT slow|limit [HELD]: what `dovetail serve` does with
clients that hold connections (server_test.sh).

slow: a request whose headers never end; prints how long until the
server closed the connection ("closed after N.N s"), or "open" if it had
not within 20 s.
limit: HELD connections opened and left idle, then one more with a
request; prints "extra: answered" or "extra: waiting" (no reply within
3 s), then closes the idle ones and prints "after: answered" when a new
request is answered.
"""
import socket
import sys
import time


def connect(port, timeout):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    return s


def answered(s):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    try:
        return s.recv(16).startswith(b"HTTP/1.1 200")
    except socket.timeout:
        return False


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "slow":
        s = connect(port, 20)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        t0 = time.time()
        try:
            s.recv(100)
            print("closed after %.1f s" % (time.time() - t0))
        except socket.timeout:
            print("open")
        return 0
    held = [connect(port, 3) for _ in range(int(sys.argv[3]))]
    time.sleep(0.5)
    print("extra: %s" % ("answered" if answered(connect(port, 3)) else "waiting"))
    for s in held:
        s.close()
    time.sleep(0.5)
    print("after: %s" % ("answered" if answered(connect(port, 5)) else "waiting"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
