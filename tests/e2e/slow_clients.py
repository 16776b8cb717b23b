#!/usr/bin/python3
"""slow_clients.py PORT slow|limit [HELD]: what `dovetail serve` does with
clients that hold connections (server_test.sh).

slow: a request whose headers never end; prints how long until the
server closed the connection ("closed after N.N s"), or "open" if it had
not within 20 s.
limit: HELD connections opened and left idle, then one more with a
request; prints "extra: answered", "extra: waiting" (no reply within
3 s) or "extra: refused" (closed unanswered), then closes the idle ones
and prints "after: answered" when a new request is answered.
"""
import socket
import sys
import time


def connect(port, timeout):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    return s


def outcome(s):
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head = s.recv(16)
    except socket.timeout:
        return "waiting"
    except (ConnectionResetError, BrokenPipeError):
        return "refused"
    return "answered" if head.startswith(b"HTTP/1.1 200") else "refused"


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
    print("extra: %s" % outcome(connect(port, 3)))
    for s in held:
        s.close()
    time.sleep(0.5)
    print("after: %s" % outcome(connect(port, 5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
