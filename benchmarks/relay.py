"""The barest pyzmq ROUTER relay: the ceiling for a broker written in Python.

A client registers by sending an empty frame (answered by an empty frame);
any other payload is sent on to every other registered identity with
``send(identity, SNDMORE)`` + ``send(payload)``. No JSON, no checks, no log.
It keeps zchat's socket settings that are about capacity, not per-message
work (SNDHWM 10,000, backlog 4096), so the two queue alike. Like the real
broker it never blocks: a ROUTER drops what does not fit, and the load
generator counts that as loss.
"""

from __future__ import annotations

import argparse
import signal
import sys

import zmq


def serve(bind: str, sndhwm: int) -> None:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.SNDHWM, sndhwm)
    router.setsockopt(zmq.BACKLOG, 4096)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(bind)
    endpoint = router.getsockopt(zmq.LAST_ENDPOINT)
    if isinstance(endpoint, bytes):
        endpoint = endpoint.decode()
    print(f"relay listening on {endpoint}", flush=True)
    peers: list[bytes] = []
    known: set[bytes] = set()
    recv = router.recv
    send = router.send
    more = zmq.SNDMORE
    while True:
        identity = recv()
        payload = recv()
        if not payload:
            if identity not in known:
                known.add(identity)
                peers.append(identity)
            send(identity, more)
            send(b"")
            continue
        for peer in peers:
            if peer != identity:
                send(peer, more)
                send(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="tcp://127.0.0.1:*")
    parser.add_argument("--sndhwm", type=int, default=10_000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        serve(args.bind, args.sndhwm)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
