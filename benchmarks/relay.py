"""The barest pyzmq ROUTER relay: the ceiling for a broker written in Python.

A client registers by sending an empty frame (answered by an empty frame);
any other payload is sent on to every other registered identity with
``send(identity, SNDMORE)`` + ``send(payload)``. No JSON, no checks, no log.
It keeps zchat's socket settings that are about capacity, not per-message
work (SNDHWM 10,000, backlog 4096), so the two queue alike. Like the real
broker it never blocks: a ROUTER drops what does not fit, and the load
generator counts that as loss.

``--rooms``: the same relay for rooms (rooms.py). A client's first frame names
its room (``ROOM 17``, any bytes after ``ROOM ``); the relay records identity ->
room and room -> members and answers ``OK``. Any other frame from a member goes,
as is, to every other member of its room (the same two sends); a frame from an
identity in no room is dropped. No store, no validation, no batching.
"""

from __future__ import annotations

import argparse
import signal
import sys

import zmq


def serve(bind: str, sndhwm: int) -> None:
    router = _router(bind, sndhwm)
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


def serve_rooms(bind: str, sndhwm: int) -> None:
    router = _router(bind, sndhwm)
    room_of: dict[bytes, list[bytes]] = {}  # identity -> its room's members
    rooms: dict[bytes, list[bytes]] = {}  # room name -> members
    recv = router.recv
    send = router.send
    more = zmq.SNDMORE
    while True:
        identity = recv()
        frame = recv()
        members = room_of.get(identity)
        if members is None or frame.startswith(b"ROOM "):
            if frame.startswith(b"ROOM "):
                if members is None:
                    members = rooms.setdefault(frame[5:], [])
                    members.append(identity)
                    room_of[identity] = members
                send(identity, more)
                send(b"OK")
            continue
        for peer in members:
            if peer != identity:
                send(peer, more)
                send(frame)


def _router(bind: str, sndhwm: int) -> zmq.Socket[bytes]:
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
    return router


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="tcp://127.0.0.1:*")
    parser.add_argument("--sndhwm", type=int, default=10_000)
    parser.add_argument("--rooms", action="store_true",
                        help="rooms: ROOM <name> joins one; frames go to the room's members")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        (serve_rooms if args.rooms else serve)(args.bind, args.sndhwm)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
