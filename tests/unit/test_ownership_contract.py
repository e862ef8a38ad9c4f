"""The Ownership contract (broker/store.py), run against every implementation:
MemoryStore, SqliteStore, RedisCluster on a real redis-server, and the core's
FakeCluster. How long a binding outlives its session (pruned with history, or
TOKEN_TTL in the cluster) is each store's own: test_store.py and
tests/scenarios/test_cluster_store.py.
"""

from pathlib import Path
from typing import Any

import pytest
from storeimpl import STORES, opener

from zchat.broker.store import stream_key

KEY1, KEY2 = "k" * 40, "K" * 40
TOKEN = stream_key("tok-a")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    for open_store in opener(request.param, request, tmp_path):
        yield open_store()


def test_no_name_is_owned_at_first(store: Any) -> None:
    assert store.owner("ana") is None


def test_the_first_claim_owns_a_name_and_a_later_one_changes_nothing(store: Any) -> None:
    store.claim("ana", KEY1)
    assert store.owner("ana") == KEY1
    store.claim("ana", KEY2)
    assert store.owner("ana") == KEY1
    assert store.owner("bob") is None


def test_owners_are_keyed_exactly_as_given(store: Any) -> None:
    # The core passes case-folded name keys; the store compares them as they are.
    store.claim("zoë", KEY1)
    assert store.owner("zoë") == KEY1
    assert store.owner("ZOË") is None


def test_a_token_binds_to_the_first_name_and_key_that_use_it(store: Any) -> None:
    assert store.bind(TOKEN, "ana", KEY1)
    assert store.bind(TOKEN, "ana", KEY1)  # the same session again
    assert not store.bind(TOKEN, "bob", KEY1)  # another name
    assert not store.bind(TOKEN, "ana", KEY2)  # another key
    assert not store.bind(TOKEN, "ana", "")  # no key at all
    assert store.bind(stream_key("tok-b"), "bob", "")  # each token its own


def test_a_session_that_ended_without_leave_may_resume(store: Any) -> None:
    assert store.bind(TOKEN, "ana", "")
    store.unbind(TOKEN, retire=False)
    assert store.bind(TOKEN, "ana", "")
    assert not store.bind(TOKEN, "bob", "")


def test_a_leave_retires_the_token(store: Any) -> None:
    assert store.bind(TOKEN, "ana", "")
    store.unbind(TOKEN, retire=True)
    assert not store.bind(TOKEN, "ana", "")
    assert not store.bind(TOKEN, "bob", "")


def test_a_token_retired_before_any_bind_opens_nothing(store: Any) -> None:
    store.unbind(TOKEN, retire=True)
    assert not store.bind(TOKEN, "ana", "")


def test_ownership_is_shared_by_every_broker_of_a_cluster(redis_server: Any) -> None:
    from fakecluster import FakeCluster, FakeRedis
    from redishelp import unique_prefix

    from zchat.broker.cluster import RedisCluster

    prefix = unique_prefix()
    one: list[Any] = [RedisCluster(redis_server.url, 1.0, prefix=prefix)]
    one.append(RedisCluster(redis_server.url, 1.0, prefix=prefix))
    shared = FakeRedis()
    pairs = [(one[0], one[1]), (FakeCluster(shared, "b1"), FakeCluster(shared, "b2"))]
    try:
        for a, b in pairs:
            a.claim("ana", KEY1)
            assert b.owner("ana") == KEY1
            assert a.bind(TOKEN, "ana", KEY1)
            assert not b.bind(TOKEN, "bob", KEY1)
            b.unbind(TOKEN, retire=True)
            assert not a.bind(TOKEN, "ana", KEY1)
    finally:
        for store in one:
            store.close()
