"""How long a full SQLite history holds the broker's loop, commit by commit.

The broker commits once a cycle, and at 1,000 msg/s a cycle holds one message. This
fills a history to its ``--retain`` bound, then commits ``--events`` more messages
one at a time, as such a broker would, and times every commit: its median and tail,
and the commits that took more than ``--slow`` ms. The three things that make a
commit long are timed on their own: pruning the oldest events (`prune`), renewing
the reservation of sequence numbers (`_reserve`), and restarting the write-ahead log
(`_restart_wal`). Run it against another commit of zchat by putting that one first on
PYTHONPATH (``pip install --no-deps --target DIR CHECKOUT``).

    python benchmarks/store_stalls.py --retain 100000 --events 200000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zchat.broker import sqlite_store
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import StoredEvent
from zchat.protocol import constants as c

PARTS = ("prune", "_reserve", "_restart_wal")


def _timed(parts: dict[str, list[float]]) -> None:
    """Time each of PARTS on every SqliteStore (the benchmark's own wrapper)."""
    for name in PARTS:
        method: Callable[..., Any] = getattr(SqliteStore, name)

        def timed(self: SqliteStore, *args: Any, _method: Callable[..., Any] = method,
                  _name: str = name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _method(self, *args, **kwargs)
            finally:
                parts[_name].append(time.perf_counter() - started)

        setattr(SqliteStore, name, timed)


def _message(i: int) -> StoredEvent:
    return StoredEvent(0, c.MSG, 1000.0 + i, "ana", "x" * 100, origin="s" * 32, cid=i + 1)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--retain", type=int, default=100_000)
    p.add_argument("--events", type=int, default=200_000,
                   help="messages committed one at a time once the history is full")
    p.add_argument("--slow", type=float, default=5.0, help="a long commit, in ms")
    args = p.parse_args(argv)
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp), retain=args.retain)
        try:
            for i in range(args.retain):  # full, quickly: a thousand a commit
                store.add(_message(i))
                if i % 1000 == 999:
                    store.commit()
            store.commit()
            _timed(parts)
            commits: list[float] = []
            for i in range(args.retain, args.retain + args.events):
                store.add(_message(i))
                started = time.perf_counter()
                store.commit()
                commits.append(time.perf_counter() - started)
        finally:
            store.close()
    commits.sort()
    n = len(commits)
    slow = [t for t in commits if t * 1e3 > args.slow]
    print(f"zchat from {Path(sqlite_store.__file__).parent.parent}")
    print(f"{n} commits of one message, {args.retain} retained: p50 {_ms(commits[n // 2])} ms, "
          f"p99 {_ms(commits[int(n * 0.99)])}, p99.9 {_ms(commits[int(n * 0.999)])}, "
          f"max {_ms(commits[-1])}; over {args.slow:g} ms: {len(slow)} "
          f"({_ms(sum(slow))} ms in all); all commits {sum(commits):.2f} s")
    for name, times in parts.items():
        if times:
            print(f"  {name}: {len(times)} times, median {_ms(statistics.median(times))} ms, "
                  f"max {_ms(max(times))}, {sum(times):.2f} s in all")
        else:
            print(f"  {name}: never")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
