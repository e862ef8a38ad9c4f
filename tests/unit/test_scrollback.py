"""broker/scrollback.py: HISTORY, a page of a room's stream (issue 18), on a core with a
fake clock and each store of one broker."""

import pytest
from corehelp import handled, make_core

from zchat.broker.core import BrokerCore, Limits
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import MemoryStore
from zchat.protocol import Enter, Error, Events, History, Join, Joined, Msg, Say, Tell
from zchat.protocol import constants as c

A, B, C = b"\x00a", b"\x00b", b"\x00c"


@pytest.fixture(params=["memory", "sqlite"])
def core(request: pytest.FixtureRequest, tmp_path) -> BrokerCore:  # type: ignore[no-untyped-def]
    """ana (A) and bob (B) in #sala, carol (C) in the default room only."""
    store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "h.db")
    core = make_core(store=store)
    for identity, name in ((A, "ana"), (B, "bob"), (C, "carol")):
        handled(core, identity, Join(name, name * 8))
    handled(core, A, Enter("#sala"))
    handled(core, B, Enter("#sala"))
    return core


def _page(core: BrokerCore, identity: bytes, ask: History) -> Events:
    (kind, to, page), = handled(core, identity, ask)
    assert (kind, to) == ("send", identity) and isinstance(page, Events), page
    assert page.kind == c.K_PAGE
    return page


def _texts(page: Events) -> list[str]:
    return [e.text if isinstance(e, Msg) else type(e).__name__ for e in page.events]


def _talk(core: BrokerCore, count: int) -> list[int]:
    """``count`` messages from ana in #sala, with a public one and a private one between
    each: the numbers of #sala's."""
    seqs = []
    for i in range(count):
        (_, _, ack), = [r for r in handled(core, A, Say(f"m{i}", i + 1, room="#sala"))
                        if r[1] == A]
        seqs.append(ack.seq)
        handled(core, C, Say(f"geral {i}", i + 1))
        handled(core, B, Tell("carol", f"segredo {i}", i + 1))
    return seqs


def test_the_latest_then_page_by_page_back_to_the_start(core) -> None:
    seqs = _talk(core, 7)
    latest = _page(core, A, History("#sala", limit=3))
    assert (_texts(latest), latest.more, latest.room) == (["m4", "m5", "m6"], True, "#sala")
    assert all(e.room == "#sala" for e in latest.events)
    back = _page(core, B, History("#Sala", before=seqs[4], limit=3))
    assert (_texts(back), back.more) == (["m1", "m2", "m3"], True)
    start = _page(core, B, History("#sala", before=seqs[1], limit=3))
    # The room's stream: bob's JOINED is in it, and ana's, and the first message.
    assert (_texts(start), start.more) == (["Joined", "Joined", "m0"], False)
    assert [e.name for e in start.events[:2]] == ["ana", "bob"]  # type: ignore[union-attr]


def test_after_and_around(core) -> None:
    seqs = _talk(core, 6)
    after = _page(core, A, History("#sala", after=seqs[1], limit=2))
    assert (_texts(after), after.more) == (["m2", "m3"], True)
    end = _page(core, A, History("#sala", after=seqs[3], limit=5))
    assert (_texts(end), end.more) == (["m4", "m5"], False)
    around = _page(core, A, History("#sala", around=seqs[3], limit=4))
    assert (_texts(around), around.more) == (["m2", "m3", "m4", "m5"], True)


def test_the_default_room_by_its_name_and_nothing_private(core) -> None:
    _talk(core, 3)
    page = _page(core, C, History("#geral"))
    assert page.room == "#geral" and not page.more
    texts = _texts(page)
    assert [t for t in texts if t.startswith("geral")] == ["geral 0", "geral 1", "geral 2"]
    assert not [t for t in texts if t.startswith(("m", "segredo"))]
    assert all(isinstance(e, Msg | Joined) and not e.room for e in page.events)


def test_only_a_room_one_is_in(core) -> None:
    _talk(core, 1)
    for room, code in (("#sala", c.E_NOT_IN_ROOM), ("#nada", c.E_NOT_IN_ROOM),
                       ("sala", c.E_BAD_ROOM), ("#" + "x" * 40, c.E_BAD_ROOM)):
        (_, to, err), = handled(core, C, History(room))
        assert to == C and isinstance(err, Error) and err.code == code, (room, err)


def test_a_page_holds_at_most_its_bytes_the_nearest_events_kept() -> None:
    core = make_core(store=MemoryStore(), limits=Limits(rate=1e6, burst=10**6, byte_rate=1e9,
                                                        byte_burst=10**9))
    for identity, name in ((A, "ana"), (B, "bob")):
        handled(core, identity, Join(name, name * 8))
        handled(core, identity, Enter("#sala"))
    big = "x" * (c.MAX_TEXT_CHARS - 3)
    for i in range(80):  # 80 x 2000 characters: more than MAX_PAGE_BYTES
        handled(core, A, Say(f"{i} {big}", i + 1, room="#sala"))
    page = _page(core, B, History("#sala", limit=c.MAX_HISTORY_PAGE))
    first = int(page.events[0].text.split()[0])  # type: ignore[union-attr]
    assert page.more and 40 < len(page.events) < 80
    assert [int(e.text.split()[0]) for e in page.events] == list(range(first, 80))  # type: ignore[union-attr]


def test_each_query_costs_a_message() -> None:
    core = make_core(store=MemoryStore(), limits=Limits(rate=0.1, burst=2))
    handled(core, A, Join("ana", "ana" * 8))
    handled(core, A, Enter("#sala"))  # (one message)
    assert isinstance(handled(core, A, History("#sala"))[0][2], Events)
    (_, _, refused), = handled(core, A, History("#sala"))
    assert isinstance(refused, Error) and refused.code == c.E_RATE_LIMITED
