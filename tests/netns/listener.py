#!/usr/bin/env python3
"""The fake VPC endpoint: accepts TCP on every given port and closes at once.

    listener.py ADDR PORT|LO-HI ...      e.g. listener.py 10.199.2.2 443 1024-1064 22

Prints "ready" on stdout once every port is bound; runs until SIGTERM. Python stdlib only.
"""
import selectors
import signal
import socket
import sys


def ports(specs):
    for spec in specs:
        lo, _, hi = spec.partition("-")
        yield from range(int(lo), int(hi or lo) + 1)


def main():
    addr, specs = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    for port in ports(specs):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(128)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                conn, _ = key.fileobj.accept()
                conn.close()
            except OSError:
                pass


if __name__ == "__main__":
    main()
