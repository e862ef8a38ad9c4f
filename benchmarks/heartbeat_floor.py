"""The memory floor of any pyzmq ROUTER broker whose idle clients heartbeat.

The bare relay's idle clients send nothing, so its RSS with 10,000 of them is
libzmq's cost of a silent connection. A chat broker must hear from its clients
to know they are alive. This runs the least a broker can do for that: a ROUTER
that answers each client's PING frame with a PONG frame (no Python state, no
JSON), with ``--n`` DEALERs in helper processes pinging every ``--interval``
seconds, and prints the server's RSS at join time and every ``--every``
seconds after. Compare with zchat's ``idle_growth.py`` figures.

    python benchmarks/heartbeat_floor.py --n 10000 --seconds 300 --every 30
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

import zmq
from run import raise_fd_limit

PER_HOLDER = 2000


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(endpoint: str) -> None:
    """The ROUTER: every frame in is answered with PONG to its sender."""
    raise_fd_limit(30_000)
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    print(router.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    while True:
        identity, _ = router.recv_multipart()
        router.send(identity, zmq.SNDMORE)
        router.send(b"PONG")


def hold(endpoint: str, count: int, interval: float) -> None:
    """``count`` DEALERs, each sending PING every ``interval`` s and reading PONGs."""
    raise_fd_limit(count + 1024)
    ctx = zmq.Context()
    ctx.max_sockets = count + 64
    socks = []
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
    print("READY", flush=True)
    tick = 0.05  # the PINGs are spread over the interval, a slice every tick
    per_tick = max(1, round(count * tick / interval))
    due = time.monotonic()
    i = 0
    while True:
        for sock, _ in poller.poll(max(0, int((due - time.monotonic()) * 1000))):
            sock.recv()
        if time.monotonic() >= due:
            for _ in range(per_tick):
                socks[i].send(b"PING")
                i = (i + 1) % count
            due += tick


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between PINGs")
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--every", type=float, default=30.0)
    p.add_argument("--role", choices=["main", "serve", "hold"], default="main",
                   help=argparse.SUPPRESS)
    p.add_argument("--endpoint", default="tcp://127.0.0.1:0", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "serve":
        serve(args.endpoint)
        return 0
    if args.role == "hold":
        hold(args.endpoint, args.count, args.interval)
        return 0
    me = [sys.executable, __file__]
    server = subprocess.Popen([*me, "--role", "serve"], stdout=subprocess.PIPE)
    holders: list[subprocess.Popen[bytes]] = []
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().decode().strip()
        for first in range(0, args.n, PER_HOLDER):
            count = min(PER_HOLDER, args.n - first)
            holder = subprocess.Popen([*me, "--role", "hold", "--endpoint", endpoint,
                                       "--count", str(count), "--interval", str(args.interval)],
                                      stdout=subprocess.PIPE)
            holders.append(holder)
            assert holder.stdout is not None
            if holder.stdout.readline().strip() != b"READY":
                raise SystemExit("a holder failed to connect")
        start = time.monotonic()
        cpu0 = _cpu_s(server.pid)
        print(f"{args.n} clients pinging every {args.interval:g} s; server RSS:")
        print(f"  joined: {_rss_mb(server.pid):.1f} MB")
        while time.monotonic() - start < args.seconds:
            time.sleep(args.every)  # a reading interval, not synchronisation
            elapsed = time.monotonic() - start
            cpu = (_cpu_s(server.pid) - cpu0) / elapsed * 100
            print(f"  {elapsed:5.0f} s: {_rss_mb(server.pid):.1f} MB, "
                  f"{_rss_mb(server.pid) * 1000 / args.n:.1f} KB a client, CPU {cpu:.1f}%",
                  flush=True)
    finally:
        for proc in [*holders, server]:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
