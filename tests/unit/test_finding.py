"""broker/finding.py: SEARCH over what the asker may read, on a core with a real index
(SQLite FTS5 in memory) and a fake clock."""

import pytest
from corehelp import decoded, handled, make_core

from zchat.broker.core import BrokerCore, Limits
from zchat.broker.search import SearchIndex
from zchat.broker.store import MemoryStore
from zchat.protocol import Enter, Error, Events, Join, Msg, Priv, Say, Search, Tell
from zchat.protocol import constants as c

A, B, C = b"\x00a", b"\x00b", b"\x00c"

pytestmark = pytest.mark.skipif(SearchIndex.available() is not None,
                                reason=f"no FTS5: {SearchIndex.available()}")


@pytest.fixture
def core() -> BrokerCore:
    """ana (A) and bob (B) in #sala; carol (C) in the default room; each has said
    something about a meeting, and bob told carol a secret."""
    core = make_core(store=MemoryStore(), index=SearchIndex())
    for identity, name in ((A, "ana"), (B, "bob"), (C, "carol")):
        handled(core, identity, Join(name, name * 8))
    handled(core, A, Enter("#sala"))
    handled(core, B, Enter("#sala"))
    handled(core, A, Say("reunião na sexta", 1, room="#sala"))
    handled(core, C, Say("reuniao geral amanhã", 1))
    handled(core, B, Tell("carol", "reunião secreta às 9", 1))
    handled(core, B, Say("deploy hoje", 2, room="#sala"))
    core.index_fresh()  # (the server calls it after each cycle's frames went out)
    return core


def _found(core: BrokerCore, identity: bytes, ask: Search) -> Events:
    (kind, to, found), = _answered(core, identity, ask)
    assert (kind, to) == ("send", identity) and isinstance(found, Events), found
    assert found.kind == c.K_FOUND
    return found


def _answered(core: BrokerCore, identity: bytes, ask: Search) -> list[tuple]:
    """What a SEARCH gets: a refusal at once, or its answer after its slices (the
    server gives each queued search a slice per turn of its loop)."""
    result = handled(core, identity, ask)
    for _ in range(1000):
        if result or not core.searches_pending():
            return result
        if core.index is not None and core.index.writing():
            core.index._written()  # (the broker's loop would turn meanwhile)
        result = decoded(core.serve_searches(0.0))
    raise AssertionError("a search never answered")


def _texts(found: Events) -> list[str]:
    return [e.text for e in found.events]  # type: ignore[union-attr]


def test_each_finds_only_what_it_may_read_newest_first(core) -> None:
    assert _texts(_found(core, C, Search("REUNIAO"))) == ["reunião secreta às 9",
                                                          "reuniao geral amanhã"]
    ana = _found(core, A, Search("reunião"))
    assert _texts(ana) == ["reuniao geral amanhã", "reunião na sexta"]
    assert [e.room for e in ana.events] == ["", "#sala"]  # type: ignore[union-attr]
    bob = _found(core, B, Search("reuniao"))
    assert _texts(bob) == ["reunião secreta às 9", "reuniao geral amanhã", "reunião na sexta"]
    assert isinstance(bob.events[0], Priv) and isinstance(bob.events[2], Msg)


def test_filters_and_paging(core) -> None:
    assert _texts(_found(core, B, Search("reuniao", room="#sala"))) == ["reunião na sexta"]
    assert _texts(_found(core, B, Search("reuniao", sender="ANA"))) == ["reunião na sexta"]
    assert _texts(_found(core, B, Search("reuniao", peer="carol"))) == ["reunião secreta às 9"]
    first = _found(core, B, Search("reuniao", limit=2))
    assert first.more and len(first.events) == 2
    rest = _found(core, B, Search("reuniao", before=first.events[-1].seq, limit=2))
    assert _texts(rest) == ["reunião na sexta"] and not rest.more


def test_refusals(core) -> None:
    for ask, code in ((Search("reuniao", room="#sala"), c.E_NOT_IN_ROOM),
                      (Search("reuniao", sender="no name"), c.E_BAD_NAME),
                      (Search(" ".join(["ab"] * 17)), c.E_BAD_SEARCH)):
        (_, to, err), = _answered(core, C, ask)
        assert to == C and isinstance(err, Error) and err.code == code, (ask, err)
    assert _texts(_found(core, C, Search("!!! ???"))) == []  # no words: nothing, no error


def test_indexed_after_the_cycle_that_delivered_it(core) -> None:
    indexed = core.index.last_seq()
    (_, _, ack), = [r for r in handled(core, A, Say("novidade", 3, room="#sala")) if r[1] == A]
    assert core.index.last_seq() == indexed and core.index_pending()  # not while handling
    assert _texts(_found(core, A, Search("novidade"))) == ["novidade"]  # (fed first)
    assert core.index.last_seq() == ack.seq and not core.index_pending()


def test_a_busy_broker_feeds_the_index_its_share_an_idle_one_all() -> None:
    core = make_core(store=MemoryStore(), index=SearchIndex(),
                     limits=Limits(rate=1e6, burst=10**6, byte_rate=1e9, byte_burst=10**9))
    handled(core, A, Join("ana", "ana" * 8))
    for i in range(6000):
        handled(core, A, Say(f"linha {i} com umas palavras a mais", i + 1))
    core._index_time.tokens = 0.0  # (its share spent: a flood under way)
    core._index_time.stamp = 10**9
    core.index_fresh()
    assert len(core._unindexed) == 6000  # nothing while busy past its share
    core.index_fresh(idle=True)
    while core.index_pending():
        core.index_fresh(idle=True)
    assert core.index.last_seq() == core.store.last_seq()


def test_what_waits_for_the_index_is_bounded(monkeypatch) -> None:
    from zchat.broker import finding
    monkeypatch.setattr(finding, "MAX_UNINDEXED", 100)
    core = make_core(store=MemoryStore(), index=SearchIndex(),
                     limits=Limits(rate=1e6, burst=10**6, byte_rate=1e9, byte_burst=10**9))
    handled(core, A, Join("ana", "ana" * 8))
    for i in range(300):
        handled(core, A, Say(f"linha {i}", i + 1))
    core._index_time.tokens = 0.0
    core._index_time.stamp = 10**9
    core.index_fresh()
    assert len(core._unindexed) <= 100


def test_a_search_costs_five_messages_and_needs_an_index() -> None:
    core = make_core(store=MemoryStore(), index=SearchIndex(), limits=Limits(rate=0.1, burst=6))
    handled(core, A, Join("ana", "ana" * 8))
    assert isinstance(_answered(core, A, Search("x"))[0][2], Events)
    (_, _, refused), = _answered(core, A, Search("x"))
    assert isinstance(refused, Error) and refused.code == c.E_RATE_LIMITED
    bare = make_core(store=MemoryStore())
    handled(bare, A, Join("ana", "ana" * 8))
    (_, _, refused), = handled(bare, A, Search("x"))
    assert isinstance(refused, Error) and (refused.code, refused.ref) == (c.E_UNAVAILABLE,
                                                                          "search")


def test_a_history_on_disk_feeds_the_index_what_is_committed(tmp_path) -> None:
    """With SQLite the index is fed from the history itself, after each commit (what is
    durable is what goes out): nothing is held in memory for it, however long a burst."""
    from zchat.broker.sqlite_store import SqliteStore
    core = make_core(store=SqliteStore(tmp_path), index=SearchIndex(tmp_path / "search.db"))
    handled(core, A, Join("ana", "ana" * 8))
    handled(core, A, Say("primeira linha", 1))
    core.index_fresh(idle=True)
    assert _texts(_found(core, A, Search("linha"))) == []  # not committed: not sent yet
    core.commit()
    assert core.index_pending() and core._unindexed == []
    assert _texts(_found(core, A, Search("linha"))) == ["primeira linha"]
    assert not core.index_pending()
    core.index.close()


def test_a_long_search_is_answered_in_slices_between_other_work(monkeypatch) -> None:
    """Each turn of the loop gives a search one slice; a slice walks the index a range
    at a time and stops at its deadline, so a search that passes over thousands of
    matches it may not read still moves on, turn after turn, to the right answer."""
    from zchat.broker import finding, search

    class Clock:  # (each look at the clock is a little later: slices end soon)
        def __init__(self, step: float) -> None:
            self.now, self.step = 0.0, step

        def __call__(self) -> float:
            self.now += self.step
            return self.now

    core = make_core(store=MemoryStore(), index=SearchIndex(),
                     limits=Limits(rate=1e6, burst=10**6, byte_rate=1e9, byte_burst=10**9))
    for identity, name in ((A, "ana"), (B, "bob")):
        handled(core, identity, Join(name, name * 8))
    handled(core, B, Enter("#outra"))
    for i in range(3000):  # what ana may read, oldest; then what she may not
        handled(core, B, Say(f"palavra {i}", i + 1, room="#outra" if i >= 10 else ""))
    while core.index_pending():
        core.index_fresh(idle=True)
    monkeypatch.setattr(search.time, "monotonic", Clock(0.000005))
    # A slice's own clock steps wider: a slice is then a few of its ranges, however many
    # steps of SQLite's work (which vary with its version) each range takes.
    monkeypatch.setattr(finding.time, "perf_counter", Clock(0.0001))
    monkeypatch.setattr(finding, "MIN_SPAN", 8)
    monkeypatch.setattr(search, "PROGRESS_STEPS", 1)  # (the clock read at every step)
    # Each match's readers looked up, as for a reader of most of the chat: the walk that
    # passes over others' rows one by one (the other way FTS5 skips them inside itself).
    monkeypatch.setattr(core.index, "_streams_in_query", lambda streams: False)
    assert handled(core, A, Search("palavra")) == []  # queued
    answer: list[tuple] = []
    turns = 0
    while not answer:
        turns += 1
        answer = decoded(core.serve_searches(0.0))
    (_, to, found), = answer
    assert to == A and turns > 1  # (not in one turn: the others went first)
    assert [e.text for e in found.events] == [f"palavra {i}" for i in range(9, -1, -1)]
    assert not found.more


def test_a_search_waits_for_the_writer_a_turn_at_a_time(monkeypatch, tmp_path) -> None:
    from zchat.broker import finding
    core = make_core(store=MemoryStore(), index=SearchIndex(tmp_path / "search.db"))
    handled(core, A, Join("ana", "ana" * 8))
    writing = [True]
    monkeypatch.setattr(core.index, "writing", lambda: writing[0])
    assert handled(core, A, Search("x")) == []
    assert core.serve_searches(0.5) == [] and core.searches_pending()  # the writer first
    assert decoded(core.serve_searches(finding.WRITER_WAIT))  # then what is written
    writing[0] = False
    handled(core, A, Search("y"), now=2.0)
    assert decoded(core.serve_searches(2.0))


def test_searches_queued_at_once_are_bounded(monkeypatch) -> None:
    from zchat.broker import finding
    monkeypatch.setattr(finding, "MAX_QUEUED", 2)
    core = make_core(store=MemoryStore(), index=SearchIndex(),
                     limits=Limits(rate=1e6, burst=10**6, byte_rate=1e9, byte_burst=10**9))
    handled(core, A, Join("ana", "ana" * 8))
    assert handled(core, A, Search("x")) == handled(core, A, Search("y")) == []
    (_, _, refused), = handled(core, A, Search("z"))
    assert (refused.code, refused.ref) == (c.E_RATE_LIMITED, "search")
