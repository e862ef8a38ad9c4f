"""broker/cluster_index.py: a cluster broker's search index, built from what the shared
history holds, in slices, beside what the shared log feeds it; bounded by --retain;
a searcher's private messages read back at its search. On FakeCluster (fakecluster.py),
and at the end on a real redis-server (skipped without one, unless
ZCHAT_REQUIRE_REDIS=1)."""

from collections.abc import Iterator

import pytest
from corehelp import decoded, handled, make_core
from fakecluster import FakeCluster, FakeRedis

from zchat.broker import cluster_index, finding
from zchat.broker.core import BrokerCore, Limits
from zchat.broker.search import SearchIndex
from zchat.broker.store import PUBLIC, StoredEvent
from zchat.protocol import Enter, Events, Join, Say, Search, Tell
from zchat.protocol import constants as c

pytestmark = pytest.mark.skipif(SearchIndex.available() is not None,
                                reason=f"no FTS5: {SearchIndex.available()}")

ANA, BOB, CAROL, DAVE = b"\x00ana", b"\x00bob", b"\x00carol", b"\x00dave"
UNLIMITED = Limits(rate=1e6, burst=10**6, byte_rate=1e9, byte_burst=10**9)


def _broker(redis: FakeRedis, me: str) -> tuple[BrokerCore, FakeCluster]:
    """A broker starting now on the shared ``redis``: its reader reads the log from here."""
    cluster = FakeCluster(redis, me)
    cluster._read = len(redis.log)  # (as RedisCluster's reader: from the log's last entry)
    index, _ = finding.open_index(cluster, None)  # type: ignore[arg-type]
    assert index is not None
    core = make_core(store=cluster, backplane=cluster, index=index, limits=UNLIMITED)
    return core, cluster


def _deliver(*brokers: tuple[BrokerCore, FakeCluster]) -> None:
    """What each broker's reader brings: the log to every broker, a PRIV to the broker
    that holds each of its readers (its inbox); then each indexes as after a cycle."""
    for core, cluster in brokers:
        for event in cluster.unread():
            if event.kind != c.PRIV:
                core.arrived(event)
                continue
            for key in sorted({event.origin, event.to_key}):
                held = [h for h in cluster.redis.names.values() if h[1] == key]
                if held and held[0][0] == cluster.me:
                    core.arrived(event, key)
        core.commit()


def _do(core: BrokerCore, identity: bytes, msg: object) -> None:
    handled(core, identity, msg)  # type: ignore[arg-type]
    core.commit()  # (numbered at the cycle's commit)


def _built(core: BrokerCore) -> None:
    """Quiet moments until the index has nothing left to read (bounded)."""
    for _ in range(100_000):
        if not core.index_pending():
            return
        core.index_fresh(idle=True)
    raise AssertionError("the index is still being built")


def _answered(core: BrokerCore, identity: bytes, ask: Search) -> Events:
    """A SEARCH's answer, after its slices (a turn of the server's loop each)."""
    result = handled(core, identity, ask)
    for _ in range(1000):
        if result or not core.searches_pending():
            break
        result = decoded(core.serve_searches(0.0))
    (_, to, found), = result
    assert to == identity and isinstance(found, Events), found
    return found


def _texts(core: BrokerCore, identity: bytes, words: str, **kw: object) -> list[str]:
    found = _answered(core, identity, Search(words, **kw))  # type: ignore[arg-type]
    return [e.text for e in found.events]  # type: ignore[union-attr]


class _Clock:
    """finding.py's time: each look at the clock is ``step`` seconds after the last."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now


def _found(core: BrokerCore, identity: bytes, words: str) -> Events:
    return _answered(core, identity, Search(words))


@pytest.fixture
def a() -> tuple[BrokerCore, FakeCluster]:
    """Broker A: ana and bob in #sala, and what they said there, in the default room
    and to each other."""
    core, cluster = _broker(FakeRedis(), "a")
    _do(core, ANA, Join("ana", "a" * 32))
    _do(core, BOB, Join("bob", "b" * 32))
    _do(core, ANA, Enter("#sala"))
    _do(core, BOB, Enter("#sala"))
    _do(core, ANA, Say("reunião na sexta", 1, room="#sala"))
    _do(core, BOB, Say("reuniao geral amanhã", 1))
    _do(core, ANA, Tell("bob", "reunião secreta", 2))
    _deliver((core, cluster))
    return core, cluster


def test_a_broker_started_later_builds_its_index_from_the_shared_history(a) -> None:
    _, ca = a
    b, cb = _broker(ca.redis, "b")
    # Empty, it takes the cluster's last number as its own; the rest is to be read back.
    assert b.index.last_seq() == ca.redis.history.last_seq() and b.index_pending()
    _built(b)
    _do(b, CAROL, Join("carol", "c" * 32))  # in the default room only
    _do(b, DAVE, Join("dave", "d" * 32))
    _do(b, DAVE, Enter("#sala"))
    _deliver(a, (b, cb))
    assert _texts(b, DAVE, "reuniao") == ["reuniao geral amanhã", "reunião na sexta"]
    assert _texts(b, CAROL, "reuniao") == ["reuniao geral amanhã"]  # never #sala's
    assert _texts(b, CAROL, "sexta") == []
    # Read a chunk per call, the log first, then the rooms listed from the history.
    assert [read[0] for read in cb.reads[:3]] == [PUBLIC, "rooms", "#sala"]
    assert all(count <= cluster_index.CHUNK for stream, *_, count in cb.reads
               if stream in (PUBLIC, "#sala"))


def test_live_events_during_the_build_are_indexed_once(a) -> None:
    core_a, ca = a
    b, cb = _broker(ca.redis, "b")
    _do(core_a, ANA, Say("reunião depois", 3, room="#sala"))  # numbered after B started
    _deliver(a, (b, cb))
    assert [e.text for e in b._unindexed] == ["reunião depois"] and cb.reads == []
    _built(b)  # (the live one first, then what came before)
    _do(b, DAVE, Join("dave", "d" * 32))
    _do(b, DAVE, Enter("#sala"))
    assert _texts(b, DAVE, "reuniao") == ["reunião depois", "reuniao geral amanhã",
                                          "reunião na sexta"]
    assert b.index._total == 3  # (no one of B can read ana's PRIV: not indexed here)


def test_a_busy_broker_builds_within_its_share_an_idle_one_in_slices(a, monkeypatch) -> None:
    core_a, ca = a
    for i in range(40):
        _do(core_a, BOB, Say(f"linha {i} sobre a reuniao", 10 + i))
    b, cb = _broker(ca.redis, "b")
    b._index_time.tokens = 0.0  # (its share spent: a flood under way)
    b._index_time.stamp = 10**9
    b.index_fresh()
    assert cb.reads == [] and b.index_pending()  # nothing while busy past its share
    monkeypatch.setattr(cluster_index, "CHUNK", 7)
    monkeypatch.setattr(finding, "time", _Clock(finding.INDEX_SLICE * 0.8))  # (one step)
    b.index_fresh(idle=True)
    assert len(cb.reads) == 1 and b.index_pending()
    _built(b)
    assert all(count == 7 for stream, *_, count in cb.reads if stream != "rooms")
    assert b.index._total == 42


def test_the_index_holds_the_last_retain_numbers(monkeypatch) -> None:
    core_a, ca = _broker(FakeRedis(retain=30), "a")
    _do(core_a, ANA, Join("ana", "a" * 32))
    for i in range(100):
        _do(core_a, ANA, Say(f"mensagem {i}", i + 1))
    _deliver((core_a, ca))
    last = ca.redis.history.last_seq()
    b, cb = _broker(ca.redis, "b")
    _built(b)
    assert 0 < b.index._total <= 30
    assert all(after >= last - 30 for stream, after, *_ in cb.reads if stream != "rooms")
    for i in range(100, 150):  # live, then pruned at each tick to the last 30 numbers
        _do(core_a, ANA, Say(f"mensagem {i}", i + 1))
    _deliver((core_a, ca), (b, cb))
    _built(b)
    b.prune_index()
    assert 0 < b.index._total <= 30
    _do(b, BOB, Join("bob", "b" * 32))
    assert _texts(b, BOB, "mensagem", limit=1) == ["mensagem 149"]
    assert _texts(b, BOB, "100") == []  # (numbered before the last 30)


def test_a_flood_past_what_may_wait_is_let_go_and_read_back(a, monkeypatch) -> None:
    monkeypatch.setattr(finding, "MAX_UNINDEXED", 20)
    core_a, ca = a
    b, cb = _broker(ca.redis, "b")
    _built(b)
    reads = len(cb.reads)
    for i in range(50):
        _do(core_a, BOB, Say(f"enxurrada {i}", 100 + i, room="#sala" if i % 2 else ""))
    _deliver(a, (b, cb))
    b._index_time.tokens = 0.0  # (busy)
    b._index_time.stamp = 10**9
    b.index_fresh()
    assert b._unindexed == [] and b.index_pending()  # let go: nothing indexed under load
    _built(b)
    assert {stream for stream, *_ in cb.reads[reads:]} == {PUBLIC, "#sala"}  # theirs only
    _do(b, DAVE, Join("dave", "d" * 32))
    _do(b, DAVE, Enter("#sala"))
    assert len(_texts(b, DAVE, "enxurrada", limit=50)) == 50


def test_a_searchers_private_messages_are_read_back_where_it_searches(a) -> None:
    """ana's PRIV to bob went to broker A's inbox; bob moves to B (started later) and
    finds it there; one sent to him on B, he finds back on A."""
    core_a, ca = a
    b, cb = _broker(ca.redis, "b")
    _built(b)
    _do(b, BOB, Join("bob", "b" * 32, resume=True))  # (the same session: it moved)
    _deliver(a, (b, cb))
    assert _texts(b, BOB, "secreta") == ["reunião secreta"]
    found = _found(b, BOB, "secreta")
    assert not found.more
    private = [r for r in cb.reads if r[0] not in (PUBLIC, "rooms", "#sala")]
    assert len(private) == 2 and private[1][1] == found.events[0].seq  # (on from there)
    _do(core_a, ANA, Tell("bob", "outra secreta", 3))  # to bob, on B now
    _deliver(a, (b, cb))
    assert _texts(b, BOB, "outra") == ["outra secreta"]
    _do(core_a, BOB, Join("bob", "b" * 32, resume=True))  # back to A
    assert _texts(core_a, BOB, "outra") == ["outra secreta"]
    assert _texts(core_a, ANA, "secreta") == ["outra secreta", "reunião secreta"]
    _do(b, CAROL, Join("carol", "c" * 32))
    assert _texts(b, CAROL, "secreta") == []  # (nobody else's)


def test_the_build_waits_for_the_link_and_goes_on(a) -> None:
    _, ca = a
    b, cb = _broker(ca.redis, "b")
    ca.redis.reachable = False
    b.index_fresh(idle=True)
    assert not b.index_pending() and not cb.up  # (the tick says the link is down)
    ca.redis.reachable = True
    cb.up = True  # (healed)
    assert b.index_pending()
    _built(b)
    _do(b, CAROL, Join("carol", "c" * 32))
    assert _texts(b, CAROL, "reuniao") == ["reuniao geral amanhã"]


def test_a_search_during_the_build_says_older_hits_may_exist(a) -> None:
    _, ca = a
    b, _ = _broker(ca.redis, "b")
    b.index_fresh = lambda idle=False: None  # type: ignore[method-assign]  # (no slice)
    _do(b, CAROL, Join("carol", "c" * 32))
    found = _found(b, CAROL, "reuniao")
    assert found.events == () and found.more


def test_fill_adds_what_the_index_lacks_in_any_order_once() -> None:
    index = SearchIndex()
    say = lambda seq, text: StoredEvent(seq, c.MSG, 1.0, "ana", text)
    index.add([say(10, "dez")])
    index.reach(20)
    assert index.last_seq() == 20
    # Below the last number (a catch-up's), and above it (read back before it came).
    assert index.fill([say(5, "cinco"), say(25, "depois"), say(10, "dez")]) == 2
    assert index.last_seq() == 20
    index.prune(3)
    assert index.fill([say(2, "dois"), say(7, "sete"), say(5, "cinco")]) == 1
    # add: after the last number only, and not what fill added already.
    index.add([say(15, "antes"), say(21, "vinte e um"), say(25, "depois"), say(26, "fim")])
    assert index.last_seq() == 26
    everything = [e.seq for word in ("cinco", "dez", "sete", "vinte", "antes", "dois",
                                     "depois", "fim")
                  for e in index.search(word, rooms=[PUBLIC], private=()).hits]
    assert everything == [5, 10, 7, 21, 25, 26]
    assert index._total == 6


# ---- on a real redis-server -------------------------------------------------------------


@pytest.fixture
def redis_url(redis_server) -> Iterator[str]:
    yield redis_server.url


def test_on_redis_a_broker_started_later_finds_the_rooms_it_is_in(redis_url) -> None:
    """Two cores on RedisCluster (no reader thread: the build alone): what A numbered
    before B started is in B's index, by the log and the rooms' streams, bounded."""
    from redishelp import unique_prefix

    from zchat.broker.cluster import RedisCluster

    prefix = unique_prefix()
    store_a = RedisCluster(redis_url, 1.0, 60, prefix=prefix)
    store_b = None
    try:
        core_a = make_core(store=store_a, backplane=store_a, limits=UNLIMITED)
        _do(core_a, ANA, Join("ana", "a" * 32))
        _do(core_a, BOB, Join("bob", "b" * 32))
        _do(core_a, ANA, Enter("#sala"))
        _do(core_a, ANA, Enter("#outra"))
        for i in range(120):  # (past --retain 60: only the last 60 numbers are indexed)
            room = ("", "#sala", "#outra")[i % 3]
            _do(core_a, ANA, Say(f"palavra{i} comum", i + 1, room=room))
        _do(core_a, ANA, Tell("bob", "segredo comum", 500))
        store_b = RedisCluster(redis_url, 1.0, 60, prefix=prefix)
        index, _ = finding.open_index(store_b, None)
        b = make_core(store=store_b, backplane=store_b, index=index, limits=UNLIMITED)
        _built(b)
        last = store_b.last_seq()
        assert 0 < b.index._total <= 60
        _do(b, CAROL, Join("carol", "c" * 32))
        _do(b, DAVE, Join("dave", "d" * 32))
        _do(b, DAVE, Enter("#sala"))
        assert _texts(b, DAVE, "palavra117") == ["palavra117 comum"]  # the default room
        assert _texts(b, DAVE, "palavra118") == ["palavra118 comum"]  # #sala
        assert _texts(b, DAVE, "palavra119") == []  # #outra: not his
        seqs = [e.seq for e in _found(b, DAVE, "comum").events]
        assert seqs and all(seq > last - 60 for seq in seqs)
        assert _texts(b, CAROL, "palavra118") == [] and _texts(b, CAROL, "segredo") == []
        _do(b, BOB, Join("bob", "b" * 32, resume=True))  # bob moved to B: his PRIV is found
        assert _texts(b, BOB, "segredo") == ["segredo comum"]
    finally:
        store_a.close()
        if store_b is not None:
            store_b.close()
