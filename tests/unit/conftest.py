"""Fixtures the storage and backplane contract suites share."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from redishelp import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server per test process; each test keeps to its own key prefix."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    yield server
    server.kill()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it may kill it)."""
    server = RedisServer(tmp_path / "redis")
    yield server
    server.kill()
