"""Every implementation of the storage interfaces, opened the same way, for the
contract suites (test_history_contract.py, test_ownership_contract.py,
test_rooms_contract.py)."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakecluster import FakeCluster, FakeRedis
from redishelp import unique_prefix

from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import MemoryStore
from zchat.protocol.constants import DEFAULT_RETAIN

STORES = ("memory", "sqlite", "redis", "fake")


def opener(kind: str, request: pytest.FixtureRequest, tmp_path: Path
           ) -> Iterator[Callable[..., Any]]:
    """Yields ``open(retain=...)``: a new store of ``kind``, closed after the test."""
    opened: list[Any] = []

    def open_store(retain: int = DEFAULT_RETAIN) -> Any:
        store: Any
        if kind == "memory":
            store = MemoryStore(retain)
        elif kind == "sqlite":
            store = SqliteStore(tmp_path / f"data-{len(opened)}", retain)
        elif kind == "redis":
            from zchat.broker.cluster import RedisCluster

            server = request.getfixturevalue("redis_server")
            store = RedisCluster(server.url, 1.0, retain, prefix=unique_prefix())
        else:
            store = FakeCluster(FakeRedis(retain))
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()
