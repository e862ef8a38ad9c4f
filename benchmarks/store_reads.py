"""What the history stores' client-driven reads cost with a full history.

A resend (``find``, the duplicate check of a SAY sent again) and a resume or
FETCH (``since``) are asked by clients; a prune runs every tenth of the retain
bound. This fills each store with ``--events`` events (one public message in
``--priv-every`` is a private one instead, between two of three readers) and
times each read, median of ``--repeat``, in microseconds.

    python benchmarks/store_reads.py --events 100000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import HistoryStore, MemoryStore, StoredEvent
from zchat.protocol import constants as c

SENDER, TARGET, STRANGER = "k-sender", "k-target", "k-stranger"


def _fill(store: HistoryStore, events: int, priv_every: int) -> None:
    for seq in range(1, events + 1):
        if seq % priv_every == 0:
            event = StoredEvent(seq, c.PRIV, float(seq), "a", "x" * 80, "b", origin=SENDER,
                                cid=seq, to_key=TARGET)
        else:
            event = StoredEvent(seq, c.MSG, float(seq), "a", "x" * 80, origin=SENDER, cid=seq)
        store.append(event)
        if seq % 1000 == 0:
            store.commit()
    store.commit()


def _time(read: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        read()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--priv-every", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=50)
    args = p.parse_args(argv)
    n = args.events
    with tempfile.TemporaryDirectory() as tmp:
        # Retain everything while reading; the prune below then drops a tenth.
        stores = {"memory": MemoryStore(retain=2 * n),
                  "sqlite": SqliteStore(Path(tmp), retain=2 * n)}
        reads: dict[str, Callable[[HistoryStore], object]] = {
            "find, a resend of the newest message": lambda s: s.find(SENDER, n),
            "find, a resend of a message in the middle": lambda s: s.find(SENDER, n // 2 + 1),
            "since, both cursors 10 behind the head": lambda s: s.since(n - 10, n - 10, TARGET, 51),
            "since, public at the head, private at 0": lambda s: s.since(n, 0, TARGET, 51),
            "since, a reader with no private events": lambda s: s.since(n - 10, 0, STRANGER, 51),
            "since, both at 0 (a page from the start)": lambda s: s.since(0, 0, TARGET, 51),
        }
        print(f"{n} events, one private in {args.priv_every}; median of {args.repeat}, us\n")
        print("| read | " + " | ".join(stores) + " |")
        print("|---|" + "---|" * len(stores))
        for store in stores.values():
            _fill(store, n, args.priv_every)
        for label, read in reads.items():
            cells = [f"{_time(lambda s=s, r=read: r(s), args.repeat):.1f}"
                     for s in stores.values()]
            print(f"| {label} | " + " | ".join(cells) + " |")
        cells = []
        for store in stores.values():
            t = time.perf_counter()
            store.prune(n - n // 10)
            store.commit()
            cells.append(f"{(time.perf_counter() - t) * 1e6:.0f}")
        print("| prune a tenth (once, with its commit) | " + " | ".join(cells) + " |")
        for store in stores.values():
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
