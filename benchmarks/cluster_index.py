"""How long a cluster broker takes to build its search index from Redis, and what the
index costs it in memory (issue 18; broker/cluster_index.py).

Starts a redis-server of its own and numbers ``--messages`` messages into it as brokers
do (RedisCluster.add_many, 200 a call: the public log, ``--rooms`` rooms' streams, one
message in ``--priv-every`` a private one), about 100 bytes of words each. Then starts
two brokers on it, one with ``--no-search`` first (the baseline, and the default), then
one with ``--search``, and reads from the second's log the line that says its index is
built (entries read, messages indexed, seconds: the broker's own clock, from its start).
Reported: that line's figures, the time from the broker's start to the line, its CPU
seconds then, and the resident memory of both brokers once the second is built.
A broker builds only in its quiet time; here nothing else happens, so the build runs
flat out (5 ms slices, one after the other).

    python benchmarks/cluster_index.py             # 100,000 messages (--retain's default)
    python benchmarks/cluster_index.py --quick     # 2,000 messages, a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import systems

from zchat.broker.cluster import RedisCluster
from zchat.broker.store import StoredEvent
from zchat.protocol import constants as c

SEED = 18
_BUILT = re.compile(r"search index built from the cluster's history: (\d+) entries read, "
                    r"(\d+) messages indexed, numbered (\d+) to (\d+), in ([\d.]+) s")
_PAGE_KB = systems._PAGE_KB


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE_KB


def fill(url: str, args: argparse.Namespace) -> float:
    """Number ``args.messages`` messages into the cluster at ``url``; the seconds it took."""
    rng = random.Random(SEED)
    words = [f"palavra{i}" for i in range(5000)] + "o a de que e do da em um para".split()
    senders = [(f"user{i}", f"t:{i:032x}") for i in range(100)]
    store = RedisCluster(url, 60.0, args.retain)
    started = time.perf_counter()
    try:
        batch: list[StoredEvent] = []
        for i in range(args.messages):
            name, origin = senders[rng.randrange(len(senders))]
            text = " ".join(rng.choice(words) for _ in range(12))[:100]
            if args.priv_every and i % args.priv_every == 0:
                to, to_key = senders[rng.randrange(len(senders))]
                event = StoredEvent(0, c.PRIV, time.time(), name, text, to, origin=origin,
                                    to_key=to_key)
            else:
                room = rng.randrange(args.rooms)
                event = StoredEvent(0, c.MSG, time.time(), name, text, origin=origin,
                                    room=f"#sala{room}" if room else "")
            batch.append(event)
            if len(batch) == 200:
                store.add_many(batch)
                batch = []
        if batch:
            store.add_many(batch)
    finally:
        store.close()
    return time.perf_counter() - started


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    _, port, _ = systems.start_redis(workdir / "redis")
    url = f"redis://127.0.0.1:{port}/0"
    figures: dict[str, Any] = {"messages": args.messages, "retain": args.retain,
                               "rooms": args.rooms, "priv_every": args.priv_every}
    figures["fill_s"] = fill(url, args)
    extra = ["--cluster", url, "--retain", str(args.retain)]
    plain = systems.spawn_zchat(systems.zchat_broker_command(60.0, *extra, "--no-search"),
                                workdir / "plain")
    systems.wait_listening(*plain, time.monotonic() + args.timeout, "the --no-search broker")
    cmd = systems.zchat_broker_command(60.0, *extra, "--search")
    started = time.monotonic()
    proc, _, log_path = systems.spawn_zchat(cmd, workdir / "search")
    deadline = started + args.timeout
    while True:
        found = _BUILT.search(log_path.read_text(errors="replace"))
        if found:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("no 'search index built' line: "
                               + log_path.read_text(errors="replace")[-2000:])
        time.sleep(0.01)
    figures["wall_to_line_s"] = time.monotonic() - started
    figures["cpu_s"] = systems.proc_cpu_seconds(proc.pid)
    figures["plain_cpu_s"] = systems.proc_cpu_seconds(plain[0].pid)
    figures["rss_kb"] = _rss_kb(proc.pid)
    figures["plain_rss_kb"] = _rss_kb(plain[0].pid)
    read, indexed, low, high, seconds = found.groups()
    figures.update(entries_read=int(read), indexed=int(indexed), low=int(low), high=int(high),
                   build_s=float(seconds))
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--quick", action="store_true", help="2,000 messages")
    p.add_argument("--retain", type=int, default=c.DEFAULT_RETAIN)
    p.add_argument("--rooms", type=int, default=50, help="rooms, the default one included")
    p.add_argument("--priv-every", type=int, default=20, help="one message in N is private")
    p.add_argument("--timeout", type=float, default=300.0, help="bound on the build (seconds)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = p.parse_args(argv)
    if args.quick:
        args.messages = 2000
    ok, why = systems.available("zchat-cluster")
    if not ok:
        print(f"skipped: {why}")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="zchat-bench-cluster-index-"))
    try:
        f = measure(args, workdir)
    finally:
        systems.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{f['messages']:,} messages numbered into Redis in {f['fill_s']:.1f} s "
          f"(--retain {f['retain']:,}, {f['rooms']} rooms, one in {f['priv_every']} private)")
    print(f"index built: {f['entries_read']:,} entries read, {f['indexed']:,} messages indexed "
          f"(numbered {f['low']:,} to {f['high']:,}) in {f['build_s']:.1f} s by the broker's "
          f"clock; {f['wall_to_line_s']:.1f} s from its start to the line, "
          f"{f['cpu_s']:.1f} CPU s (the --no-search broker: {f['plain_cpu_s']:.1f})")
    print(f"resident memory: {f['rss_kb'] / 1024:.1f} MB with the index, "
          f"{f['plain_rss_kb'] / 1024:.1f} MB without "
          f"(+{(f['rss_kb'] - f['plain_rss_kb']) / 1024:.1f} MB)")
    if args.out:
        args.out.write_text(json.dumps(f, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
