"""The memory floor of any pyzmq ROUTER broker whose idle clients heartbeat.

The bare relay's idle clients send nothing, so its RSS with 10,000 of them is
libzmq's cost of a silent connection. A chat broker must hear from its clients
to know they are alive. This runs the least a broker can do for that: a ROUTER
that answers each client's PING frame with a PONG frame (no Python state, no
JSON), with ``--n`` DEALERs in helper processes pinging every ``--interval``
seconds, and prints the server's RSS at join time and every ``--every``
seconds after (MB are MiB, read from /proc like every figure here). idle_floor.py
runs it and zchat side by side in one run, for the comparison issue 17 asks for.

    python benchmarks/heartbeat_floor.py --n 10000 --seconds 300 --every 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence

import systems
import zmq
from run import HOLD_PER_PROCESS, await_holders, raise_fd_limit, stop_holders


def serve(endpoint: str) -> None:
    """The ROUTER: every frame in is answered with PONG to its sender."""
    raise_fd_limit(30_000)
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    # The ready line systems.start() waits for.
    print(f"floor listening on {router.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    while True:
        identity, _ = router.recv_multipart()
        router.send(identity, zmq.SNDMORE)
        router.send(b"PONG")


def hold(endpoint: str, count: int, interval: float, timeout: float) -> None:
    """``count`` DEALERs, each sending PING every ``interval`` s and reading PONGs.

    Prints ``{"ready": true}`` once every socket has had its first PONG (or
    ``{"ready": false, "error": ...}`` if that takes over ``timeout`` s), as
    ``loadgen.py hold`` does; then pings until a line or EOF on stdin
    (run.stop_holders) or ``timeout`` s more, whichever comes first."""
    raise_fd_limit(count + 1024)
    ctx = zmq.Context()
    ctx.max_sockets = count + 64
    socks = []
    t0 = time.monotonic()
    for _ in range(count):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        socks.append(sock)
    poller = zmq.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    for sock in socks:
        sock.send(b"PING")
    waiting = set(socks)
    deadline = t0 + timeout
    while waiting and time.monotonic() < deadline:
        for sock, _ in poller.poll(100):
            sock.recv()
            waiting.discard(sock)
    if waiting:
        print(json.dumps({"ready": False, "error": f"{count - len(waiting)} of {count} "
                          f"clients answered in {timeout:g} s"}), flush=True)
        return
    print(json.dumps({"ready": True, "setup_s": time.monotonic() - t0}), flush=True)
    poller.register(sys.stdin, zmq.POLLIN)  # a line or EOF: stop
    tick = 0.05  # the PINGs are spread over the interval, a slice every tick
    per_tick = max(1, round(count * tick / interval))
    due = time.monotonic()
    deadline = due + timeout
    i = 0
    while time.monotonic() < deadline:
        for sock, _ in poller.poll(max(0, int((due - time.monotonic()) * 1000))):
            if not isinstance(sock, zmq.Socket):  # stdin (the poller gives its fd)
                return
            sock.recv()
        if time.monotonic() >= due:
            for _ in range(per_tick):
                socks[i].send(b"PING")
                i = (i + 1) % count
            due += tick


def spawn_holders(endpoint: str, n: int, interval: float, timeout: float) -> list[
        subprocess.Popen[bytes]]:
    """N pinging DEALERs in ``--role hold`` processes of at most ``HOLD_PER_PROCESS``
    each (as run.spawn_holders for zchat): wait with run.await_holders, stop with
    run.stop_holders."""
    holders: list[subprocess.Popen[bytes]] = []
    try:
        for first in range(0, n, HOLD_PER_PROCESS):
            holders.append(subprocess.Popen(
                [sys.executable, __file__, "--role", "hold", "--endpoint", endpoint,
                 "--count", str(min(HOLD_PER_PROCESS, n - first)),
                 "--interval", str(interval), "--timeout", str(timeout)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE))
    except BaseException:
        stop_holders(holders)
        raise
    return holders


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between PINGs")
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--every", type=float, default=30.0)
    p.add_argument("--connect-timeout", type=float, default=300.0)
    p.add_argument("--role", choices=["main", "serve", "hold"], default="main",
                   help=argparse.SUPPRESS)
    p.add_argument("--endpoint", default="tcp://127.0.0.1:*", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "serve":
        serve(args.endpoint)
        return 0
    if args.role == "hold":
        hold(args.endpoint, args.count, args.interval, args.timeout)
        return 0
    raise_fd_limit(2 * HOLD_PER_PROCESS + 2048)
    server = systems.start(systems.FLOOR)
    holders: list[subprocess.Popen[bytes]] = []
    try:
        holders = spawn_holders(server.endpoint, args.n, args.interval,
                                args.connect_timeout + args.seconds + 60)
        error = await_holders(holders, time.monotonic() + args.connect_timeout + 10,
                              f"not all {args.n} clients answered in "
                              f"{args.connect_timeout:.0f}s")
        if error:
            sys.exit(f"clients did not connect: {error}")
        start = time.monotonic()
        cpu0 = server.cpu_seconds()
        print(f"{args.n} clients pinging every {args.interval:g} s; server RSS:")
        print(f"  joined: {server.rss_kb() / 1024:.1f} MB")
        while time.monotonic() - start < args.seconds:
            time.sleep(args.every)  # a reading interval, not synchronisation
            elapsed = time.monotonic() - start
            cpu = (server.cpu_seconds() - cpu0) / elapsed * 100
            rss = server.rss_kb()
            print(f"  {elapsed:5.0f} s: {rss / 1024:.1f} MB, "
                  f"{rss / args.n:.1f} KB a client, CPU {cpu:.1f}%", flush=True)
    finally:
        stop_holders(holders)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
