#!/usr/bin/env python3
"""A slow TCP relay: a path whose latency is seconds (tc netem is not in this kernel).

    relay.py LISTEN_ADDR:PORT UPSTREAM_ADDR:PORT DELAY_SECONDS

For every accepted connection it connects upstream and pumps both directions, sleeping
DELAY_SECONDS before forwarding the first chunk of each direction (so one request/answer
exchange takes about 2 x DELAY_SECONDS). Prints "ready" once listening; runs until SIGTERM.
Python stdlib only.
"""
import signal
import socket
import sys
import threading
import time


def hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def pump(src, dst, delay):
    first = True
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if first:
                time.sleep(delay)
                first = False
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def serve(client, upstream, delay):
    try:
        up = socket.create_connection(upstream, timeout=10)
        up.settimeout(None)
    except OSError:
        client.close()
        return
    threads = [
        threading.Thread(target=pump, args=(client, up, delay), daemon=True),
        threading.Thread(target=pump, args=(up, client, delay), daemon=True),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    up.close()


def main():
    listen, upstream, delay = hostport(sys.argv[1]), hostport(sys.argv[2]), float(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(listen)
    srv.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, upstream, delay), daemon=True).start()


if __name__ == "__main__":
    main()
