"""What one public message costs zchat's broker in Python, without any socket.

At N=10 the broker's rate is set by its work per message, not per recipient
(a live batch goes to each client once a cycle). This feeds SAY frames from
one of ``--clients`` joined clients straight into ``BrokerCore.handle`` in
cycles of ``--batch``, with a commit (and the journal's write) after each, as
the server loop does, and reports microseconds per message: the whole core
with each history store, then its parts one at a time. Compare the first
figure with the bare relay's whole broker CPU per message from ``run.py``
(CPU seconds per million deliveries at N=10, times 10).

    python benchmarks/core_cost.py
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import timeit
from collections.abc import Sequence
from pathlib import Path

from zchat.broker.core import BrokerCore, Limits
from zchat.broker.journal import Journal
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import HistoryStore, MemoryStore, StoredEvent
from zchat.common.safetext import sanitize
from zchat.protocol import Join, encode
from zchat.protocol import constants as c
from zchat.protocol.codec import decode_client_frames, encode_ack, encode_msg

TEXT = "x" * 80  # with the frame's JSON around it, about the load generator's 100 bytes


def _core_cost(store: HistoryStore, clients: int, messages: int, batch: int) -> float:
    """Microseconds per SAY through handle + a commit and a journal flush per cycle."""
    journal = Journal([io.StringIO()])
    unlimited = Limits(rate=1e12, burst=10**12, byte_rate=1e12, byte_burst=10**12)
    core = BrokerCore(heartbeat=1.0, store=store, journal=journal.line, limits=unlimited)
    identities = [b"client-%03d" % i for i in range(clients)]
    for i, identity in enumerate(identities):
        core.handle(identity, [encode(Join(f"user{i}", "", False))], 0.0)
    core.commit()
    sender = identities[0]
    frames = [[b'ZCHAT/1 SAY {"text":"%s","cid":%d}' % (TEXT.encode(), cid)]
              for cid in range(1, 2 * messages + 1)]

    def run(first: int, count: int) -> float:
        start = time.perf_counter()
        for k in range(first, first + count, batch):
            for frame in frames[k:k + batch]:
                core.handle(sender, frame, 1.0)
            core.commit()
            journal.flush()
        return (time.perf_counter() - start) / count * 1e6

    run(0, messages // 5)  # warm up: the store's first pages, the caches
    return run(messages, messages)


def _part(stmt: str, env: dict[str, object], number: int = 100_000) -> float:
    return timeit.timeit(stmt, number=number, globals=env) / number * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=11, help="joined clients (1 sender)")
    p.add_argument("--messages", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=64, help="messages per cycle")
    args = p.parse_args(argv)
    print(f"us per public message, {args.clients} clients, cycles of {args.batch}\n")
    print("| what | us |\n|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[str, HistoryStore] = {"SQLite store (the default)": SqliteStore(Path(tmp)),
                                           "memory store": MemoryStore()}
        for label, store in stores.items():
            cost = _core_cost(store, args.clients, args.messages, args.batch)
            print(f"| the core, {label} | {cost:.1f} |")
            store.close()
    env: dict[str, object] = {
        "decode_client_frames": decode_client_frames, "encode_msg": encode_msg,
        "encode_ack": encode_ack, "sanitize": sanitize, "StoredEvent": StoredEvent, "c": c,
        "TEXT": TEXT, "frame": [b'ZCHAT/1 SAY {"text":"%s","cid":5}' % TEXT.encode()]}
    parts = {
        "decode a SAY frame": "decode_client_frames(frame)",
        "encode the MSG frame": "encode_msg('user0', TEXT, 1764000000.123, 123456, 123455)",
        "encode the ACK frame": "encode_ack(5, 123456, 123455)",
        "sanitize name and text for the log line": "sanitize('user0'), sanitize(TEXT)",
        "make the StoredEvent": "StoredEvent(0, c.MSG, 1.0, 'user0', TEXT, origin='k', cid=5)",
    }
    for label, stmt in parts.items():
        print(f"| part: {label} | {_part(stmt, env):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
