"""What `--metrics` costs the broker's loop, in the loop thread's own CPU time.

run.py's zchat-metrics / zchat compares whole runs, whose rates move by more than
the few percent measured here when anything else shares the two cores. This runs
the real BrokerServer in this process (SQLite history, a journal to memory, flood
limits lifted), ``--n`` receivers and one sender on loopback TCP, and passes bursts
of ``--burst`` SAYs through the loop (`_drain`, then `_flush`: decode, store,
commit, fan out) in three modes: the metrics off, off again (a control: the same
code, so what it differs by from "off" is the method's own error), and on; one
burst of each in turn, in an order drawn at random each time, so that whatever
slows the machine for a while, or every so many bursts, falls on all three alike.
Only those calls are timed, by `time.thread_time` (this thread's CPU:
what other processes do does not count, libzmq's I/O thread neither, and that is
the same work either way). Reading what the receivers got is not timed. Then what
one scrape costs (rendering the metrics; an HTTP GET of them). Microseconds per
message, median of the rounds, and each round's on / off and control / off:

    python benchmarks/metrics_cost.py                  # --n 10 --messages 20000 --rounds 9
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import zmq
from prometheus_client import generate_latest

from zchat.broker.core import BrokerCore, Limits
from zchat.broker.journal import Journal
from zchat.broker.metrics import Exporter, Metrics
from zchat.broker.server import BrokerServer
from zchat.broker.sqlite_store import SqliteStore
from zchat.protocol import Join, Say, encode

TEXT = "x" * 80  # with the frame's JSON around it, about the load generator's 100 bytes
#: A bound on any wait for the broker's answers.
TIMEOUT_S = 30.0


class Bench:
    """A broker in this process, its receivers and its sender."""

    def __init__(self, folder: Path, n: int) -> None:
        self.journal = Journal([io.StringIO()])
        unlimited = Limits(rate=1e12, burst=10**12, byte_rate=1e12, byte_burst=10**12,
                           max_per_address=100_000)
        self.store = SqliteStore(folder)
        self.core = BrokerCore(heartbeat=60.0, store=self.store, journal=self.journal.line,
                               limits=unlimited, history=0)
        self.server = BrokerServer(self.core, ["tcp://127.0.0.1:*"], journal=self.journal)
        self.metrics = Metrics(self.core)
        endpoint = self.server.endpoints[0]
        self.ctx = zmq.Context()
        self.peers = []
        for i in range(n + 1):  # the receivers, then the sender
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.connect(endpoint)
            sock.send(encode(Join(f"user{i}", f"{i:032d}")))
            self.peers.append(sock)
        self.sender = self.peers[-1]
        self.cid = 0
        deadline = time.monotonic() + TIMEOUT_S
        while len(self.core.roster) < n + 1:
            self._turn(deadline)
        self._turn(deadline)
        self.read_all()

    def _turn(self, deadline: float) -> float:
        """One pass of the loop's message path; its thread CPU seconds."""
        if time.monotonic() > deadline:
            raise TimeoutError("the broker did not answer in time")
        self.server.router.poll(100, zmq.POLLIN)
        started = time.thread_time()
        self.server._flush(self.server._drain())
        self.server._follow_sessions(time.monotonic())
        self.journal.flush()
        return time.thread_time() - started

    def read_all(self) -> int:
        """Read everything waiting for the peers; the sender's ACKs."""
        acks = 0
        for sock in self.peers:
            while sock.poll(0, zmq.POLLIN):
                frame = sock.recv()
                acks += sock is self.sender and frame.startswith(b"ZCHAT/1 ACK ")
        return acks

    def burst(self, count: int) -> float:
        """``count`` SAYs through the loop: its thread CPU seconds."""
        for _ in range(count):
            self.cid += 1
            self.sender.send(encode(Say(TEXT, self.cid)))
        spent = 0.0
        acked = 0
        deadline = time.monotonic() + TIMEOUT_S
        while acked < count:
            spent += self._turn(deadline)
            acked += self.read_all()
        return spent

    def close(self) -> None:
        for sock in self.peers:
            sock.close(0)
        self.ctx.term()
        self.server.close(linger=0)
        self.store.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10, help="receivers (and one sender)")
    p.add_argument("--messages", type=int, default=20_000, help="per round and mode")
    p.add_argument("--burst", type=int, default=500, help="SAYs sent before the loop runs")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    modes = ("off", "control", "on")
    per: dict[str, list[float]] = {mode: [] for mode in modes}
    order = random.Random(19)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.n)
        try:
            bench.burst(args.messages // 5)  # warm up: the store's pages, the caches
            bursts = max(1, args.messages // args.burst)
            for _ in range(args.rounds):
                spent = dict.fromkeys(modes, 0.0)
                for _ in range(bursts):
                    for mode in order.sample(modes, len(modes)):
                        bench.server.metrics = bench.metrics if mode == "on" else None
                        spent[mode] += bench.burst(args.burst)
                for mode, seconds in spent.items():
                    per[mode].append(seconds / (bursts * args.burst) * 1e6)
            render = [_timed(lambda: generate_latest(bench.metrics.registry))
                      for _ in range(50)]
            exporter = Exporter(bench.metrics.registry, "127.0.0.1", 0)
            try:
                scrape = [_timed(lambda: _get(exporter.url)) for _ in range(50)]
            finally:
                exporter.stop()
        finally:
            bench.close()
    print(f"loop thread CPU per message, {args.n} receivers, bursts of {args.burst}, "
          f"{args.rounds} rounds of {args.messages} messages in each mode\n")
    print("| metrics | us a message, median (min-max) |\n|---|---|")
    for mode in modes:
        values = per[mode]
        print(f"| {mode} | {statistics.median(values):.2f} ({min(values):.2f}-"
              f"{max(values):.2f}) |")
    print()
    for mode in ("on", "control"):
        ratios = sorted(b / a for a, b in zip(per["off"], per[mode], strict=True))
        print(f"{mode} / off: median {statistics.median(ratios):.3f} (rounds, sorted: "
              f"{', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"one scrape: rendering {statistics.median(render) * 1e3:.2f} ms (median of 50), "
          f"an HTTP GET of it {statistics.median(scrape) * 1e3:.2f} ms (wall)")
    return 0


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


if __name__ == "__main__":
    raise SystemExit(main())
