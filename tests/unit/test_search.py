"""SearchIndex (broker/search.py): who may read what, words, bounds, paging, pruning,
the time budget; on real SQLite FTS5, in memory and on disk."""

import logging
import stat
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zchat.broker import search
from zchat.broker.search import (
    MAX_HITS,
    MAX_TERM_CHARS,
    MAX_TERMS,
    SCOPE_STEP_ROWS,
    SearchIndex,
    SearchResult,
    rebuild,
)
from zchat.broker.store import PUBLIC, StoredEvent
from zchat.protocol import constants as c

#: A budget no test here reaches (the default is for a broker, not a loaded test machine).
LONG = 10.0
ME, YOU, THEM = "t:" + "a" * 32, "t:" + "b" * 32, "t:" + "c" * 32


def msg(seq: int, text: str, room: str = "", name: str = "ana") -> StoredEvent:
    return StoredEvent(seq, c.MSG, float(seq), name, text, origin=ME, cid=seq,
                       prev=seq - 1, room=room)


def priv(seq: int, text: str, origin: str, to_key: str, name: str = "ana",
         to: str = "bob") -> StoredEvent:
    return StoredEvent(seq, c.PRIV, float(seq), name, text, to, origin=origin, cid=seq,
                       prev=seq - 1, to_key=to_key, prev_to=seq - 2)


@pytest.fixture(autouse=True)
def no_row_refused(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The index's own readers never let through a row its last check refuses."""
    yield
    assert [r.message for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.fixture
def index() -> Iterator[SearchIndex]:
    idx = SearchIndex(budget_s=LONG)
    yield idx
    idx.close()


def seqs(result: SearchResult) -> list[int]:
    return [hit.seq for hit in result.hits]


def find(idx: SearchIndex, query: str, **kw: object) -> list[int]:
    kw.setdefault("rooms", [""])
    kw.setdefault("private", [ME])
    return seqs(idx.search(query, **kw))  # type: ignore[arg-type]


def test_available() -> None:
    assert SearchIndex.available() is None


@pytest.mark.parametrize("sender", [False, True])
def test_a_search_walks_the_index_newest_first_and_never_sorts(index: SearchIndex,
                                                               sender: bool) -> None:
    """FTS5 gives the rows in seq order, newest first, and each row's readers are one
    lookup: no sort of every match, no scan of the readers."""
    index.add([msg(1, "olá")])
    index.commit()
    params = ["olá", 10, 0, 1, 2, 1, 2, *([3] if sender else [])]
    plan = [row[3] for row in index._db.execute(
        "EXPLAIN QUERY PLAN " + search._search_sql(2, sender), params)]
    assert len(plan) == 2 and plan[0].startswith("SCAN m VIRTUAL TABLE")
    assert plan[1] == "SEARCH r USING INTEGER PRIMARY KEY (rowid=?)"


@pytest.mark.usefixtures("plan")
def test_reads_only_its_rooms_and_its_own_private_messages(index: SearchIndex) -> None:
    index.add([
        msg(1, "segredo no geral"),
        msg(2, "segredo na sala", room="#sala"),
        msg(3, "segredo noutra", room="#outra"),
        priv(4, "segredo meu para ti", ME, YOU),
        priv(5, "segredo teu para mim", YOU, ME),
        priv(6, "segredo deles", YOU, THEM),
        StoredEvent(7, c.JOINED, 7.0, "segredo", room=""),
        StoredEvent(8, c.LEFT, 8.0, "segredo", reason="segredo", room=""),
    ])
    index.commit()
    assert find(index, "segredo", rooms=["", "#sala"]) == [5, 4, 2, 1]
    assert find(index, "segredo", rooms=[PUBLIC]) == [5, 4, 1]
    assert find(index, "segredo", rooms=["#outra"], private=[THEM]) == [6, 3]
    assert find(index, "segredo", rooms=[], private=[]) == []
    assert find(index, "segredo", rooms=["#nada"], private=["t:" + "d" * 32]) == []
    # A room or a private key passed where the other belongs reads nothing more.
    assert find(index, "segredo", rooms=[ME, YOU], private=["#sala", ""]) == []


def test_hits_are_the_stored_events(index: SearchIndex) -> None:
    index.add([msg(1, "olá mundo", room="#sala"), priv(2, "olá tu", YOU, ME, "bia", "ana")])
    (p, m) = index.search("olá", rooms=["#sala"], private=[ME]).hits
    assert (m.seq, m.kind, m.ts, m.name, m.text, m.room, m.prev) == \
        (1, c.MSG, 1.0, "ana", "olá mundo", "#sala", 0)
    assert (p.kind, p.name, p.to, p.origin, p.to_key, p.prev, p.prev_to) == \
        (c.PRIV, "bia", "ana", YOU, ME, 1, 0)
    assert p.for_reader(ME).prev == 0 and p.for_reader(YOU).prev == 1


def test_every_word_must_match(index: SearchIndex) -> None:
    index.add([msg(1, "bom dia"), msg(2, "bom tarde"), msg(3, "dia bom de sol")])
    assert find(index, "bom") == [3, 2, 1]
    assert find(index, "dia bom") == [3, 1]
    assert find(index, "bom dia sol") == [3]
    assert find(index, "bom noite") == []
    assert find(index, "bo") == []  # words, not prefixes


def test_case_and_accents_do_not_matter(index: SearchIndex) -> None:
    index.add([msg(1, "Ação rápida"), msg(2, "acao RAPIDA"),
               msg(3, unicodedata.normalize("NFD", "AÇÃO lenta")), msg(4, "Über café")])
    assert find(index, "acao") == [3, 2, 1]
    assert find(index, "AÇÃO") == [3, 2, 1]
    assert find(index, unicodedata.normalize("NFD", "ação") + " Rápida") == [2, 1]
    assert find(index, "uber CAFE") == [4]


HOSTILE = [
    '"', '""', '"palavra', 'palavra"', "palavra*", "*", "pala*", "-palavra", "palavra -outra",
    "NOT palavra", "palavra NOT", "AND", "OR", "palavra OR segredo", "palavra AND", "NEAR(",
    "NEAR(palavra segredo)", "NEAR(palavra, 1)", "(", ")", "((palavra", "palavra))",
    "^palavra", "palavra:", "body:palavra", "scope : palavra", "sender:ana", "{body}: palavra",
    "{scope}: k2", "k2", "scope : k1 OR k2 OR k3", "k1 k2 k3 k4", "sender : k3", "rowid",
    "'; DROP",
    "\x00palavra", "palavra\x00segredo", "\ud800palavra", "palavra\udfff", "\ud83d",
    "+", "::", "\\", "%", "_", "palavra_segredo", "", "   ", "?!.,;:()[]{}<>\"'`~^*-+=|/\\@#$&",
    "\u200b", "\ufeffpalavra", "🙂 palavra", "\U000f0000palavra",
]


@pytest.mark.usefixtures("plan")
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_words_only(index: SearchIndex, query: str) -> None:
    index.add([msg(1, "palavra segredo"), msg(2, "palavra segredo", room="#segredos"),
               priv(3, "palavra segredo", YOU, THEM), msg(4, "near and or not")])
    result = index.search(query, rooms=[""], private=[ME])
    assert set(seqs(result)) <= {1, 4}
    assert result.complete


def test_operators_typed_are_plain_words(index: SearchIndex) -> None:
    index.add([msg(1, "palavra segredo"), msg(2, "near and or not"), msg(3, "outra")])
    assert find(index, "NEAR AND") == [2]
    assert find(index, "palavra OR outra") == []  # three words, "or" among them
    assert find(index, "-palavra") == [1]
    assert find(index, 'palavra" OR "outra') == []
    assert find(index, "NEAR(palavra segredo)") == []  # "near" is not in message 1
    assert find(index, "(palavra") == [1]
    assert find(index, "\ud800palavra\udfff") == [1]
    assert find(index, "palavra*") == [1]
    assert find(index, "pala*") == []


@pytest.mark.parametrize("query", ["", " ", "...", "?!()\"*", "\ud800", "\x00\x01",
                                   "\u2014\u2013-"])
def test_a_query_without_words_finds_nothing(index: SearchIndex, query: str) -> None:
    index.add([msg(1, "palavra")])
    assert index.search(query, rooms=[""], private=[ME]) == SearchResult((), False, True)


def test_query_bounds(index: SearchIndex) -> None:
    index.add([msg(1, " ".join(f"w{i}" for i in range(MAX_TERMS)) + " " + "x" * MAX_TERM_CHARS)])
    words = [f"w{i}" for i in range(MAX_TERMS)]
    assert find(index, " ".join(words)) == [1]
    assert find(index, "x" * MAX_TERM_CHARS) == [1]
    with pytest.raises(ValueError, match=f"at most {MAX_TERMS} words"):
        index.search(" ".join([*words, "w0"]), rooms=[""], private=[])
    with pytest.raises(ValueError, match=f"at most {MAX_TERM_CHARS} characters"):
        index.search("x" * (MAX_TERM_CHARS + 1), rooms=[""], private=[])
    for huge in ("a" * 10_000, "a " * 5_000, "(" * 10_000, "\ud800" * 10_000):
        with pytest.raises(ValueError, match="at most"):
            index.search(huge, rooms=[""], private=[])


def test_sender_filter(index: SearchIndex) -> None:
    index.add([msg(1, "olá", name="Ana"), msg(2, "olá", name="bob"),
               priv(3, "olá", YOU, ME, name="ANA"), msg(4, "olá", room="#sala", name="ana"),
               msg(5, "olá", name="anabela")])
    assert find(index, "olá", sender="ana", rooms=["", "#sala"]) == [4, 3, 1]
    assert find(index, "olá", sender="\uff21\uff4e\uff41") == [3, 1]  # NFKC, as names compare
    assert find(index, "olá", sender="BOB") == [2]
    assert find(index, "olá", sender="carla") == []


def test_room_filter(index: SearchIndex) -> None:
    index.add([msg(1, "olá"), msg(2, "olá", room="#sala"), priv(3, "olá", YOU, ME),
               msg(4, "olá", room="#outra")])
    rooms = ["", "#sala"]
    assert find(index, "olá", rooms=rooms) == [3, 2, 1]
    assert find(index, "olá", rooms=rooms, room="#sala") == [2]
    assert find(index, "olá", rooms=rooms, room="") == [1]
    assert find(index, "olá", rooms=rooms, room=PUBLIC) == [1]
    assert find(index, "olá", rooms=rooms, room="#outra") == []  # not one of its rooms


def test_paging_with_before_sees_every_hit_once(index: SearchIndex) -> None:
    events = [msg(seq, f"olá {seq}", room="" if seq % 3 else "#outra") for seq in range(1, 301)]
    index.add(events)
    expected = [e.seq for e in reversed(events) if not e.room]
    seen: list[int] = []
    before = None
    while True:
        page = index.search("olá", rooms=[""], private=[], before=before, limit=7)
        assert page.complete and len(page.hits) <= 7
        seen += seqs(page)
        if not page.more:
            break
        before = page.hits[-1].seq
    assert seen == expected
    assert find(index, "olá", before=5) == [4, 2, 1]
    assert find(index, "olá", before=1) == [] == find(index, "olá", before=-5)
    assert len(find(index, "olá", before=2**70)) == 20
    assert len(index.search("olá", rooms=[""], private=[], limit=10**6).hits) == MAX_HITS
    assert index.search("olá", rooms=[""], private=[], limit=0) == SearchResult((), False, True)


def test_prune(index: SearchIndex) -> None:
    index.add([msg(seq, "olá") for seq in range(1, 11)])
    index.commit()
    index.add([msg(seq, "olá") for seq in range(11, 16)])  # pending when pruned
    index.prune(12)
    assert find(index, "olá") == [15, 14, 13]
    assert index.last_seq() == 15
    index.prune(20)  # further than it indexed: a catch-up starts past it
    assert find(index, "olá") == [] and index.last_seq() == 20
    index.add([msg(19, "olá"), msg(21, "olá")])
    assert find(index, "olá") == [21]
    index.prune(5)  # behind: nothing changes
    assert find(index, "olá") == [21]


def test_add_is_idempotent_by_seq(index: SearchIndex) -> None:
    events = [msg(1, "olá"), StoredEvent(2, c.JOINED, 2.0, "olá"), msg(3, "olá")]
    index.add(events)
    index.add(events)
    index.commit()
    index.add(events[:1])
    index.commit()
    assert find(index, "olá") == [3, 1]
    assert index.last_seq() == 3
    index.add([StoredEvent(4, c.LEFT, 4.0, "olá")])
    assert index.last_seq() == 4


def recounted(idx: SearchIndex) -> tuple[int, dict[int, int]]:
    """The rows of the index and of each stream and sender, counted again from its rows
    (and checked against what its ``streams`` table holds), once every write is in."""
    idx._written()  # (a file index writes on a thread of its own)
    assert dict(idx._db.execute("SELECT id, rows FROM streams")) == idx._held
    assert dict(idx._db.execute("SELECT key, id FROM streams")) == idx._ids
    rows = idx._db.execute("SELECT stream, stream_to, sender FROM readers").fetchall()
    assert len(rows) == idx._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    return len(rows), dict(Counter(id_ for row in rows for id_ in set(row)))


def test_on_disk_survives_reopening_and_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    events = [msg(seq, f"olá {seq}", room=f"#s{seq % 4}") if seq % 5 else
              priv(seq, f"olá {seq}", ME, YOU if seq % 2 else ME) for seq in range(1, 51)]
    idx = SearchIndex(path)
    idx.add(events[:30])
    idx.commit()
    idx.prune(5)
    idx.add(events[30:40])  # written by close
    idx.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    idx = SearchIndex(path)
    assert idx.last_seq() == 40
    assert (idx._total, idx._held) == recounted(idx) == (35, idx._held)
    assert rebuild(idx, events) == 50  # passes over what it has
    rooms = [f"#s{k}" for k in range(4)]
    assert find(idx, "olá", rooms=rooms, limit=100) == list(range(50, 5, -1))
    idx.close()
    for leftover in tmp_path.glob("search.db*"):
        leftover.unlink()
    idx = SearchIndex(path)
    assert idx.last_seq() == 0
    rebuild(idx, events[5:], batch=7)
    assert find(idx, "olá", rooms=rooms, limit=100) == list(range(50, 5, -1))
    idx.prune(48)
    assert (idx._total, idx._held) == recounted(idx) == (2, idx._held)
    idx.close()


#: SCOPE_STEP_ROWS that make every search go by its words alone (a huge one), or by its
#: words and the reader's streams in FTS5 (0).
BY_WORDS, BY_SCOPE = 10**9, 0


@pytest.fixture(params=[BY_WORDS, BY_SCOPE], ids=["by-words", "by-scope"])
def plan(request: pytest.FixtureRequest) -> Iterator[None]:
    search.SCOPE_STEP_ROWS = request.param
    yield
    search.SCOPE_STEP_ROWS = SCOPE_STEP_ROWS


@pytest.mark.usefixtures("plan")
def test_both_plans_find_the_same(index: SearchIndex) -> None:
    mine = [msg(seq, "palavra minha", room=f"#sala{seq % 3}") for seq in range(1, 6)]
    others = [msg(seq, "palavra deles", room="#outra") for seq in range(6, 300)]
    newest = [msg(300, "palavra", room="#sala1"), priv(301, "palavra", YOU, ME),
              priv(302, "palavra", YOU, THEM)]
    index.add([*mine, *others, *newest])
    rooms = ["", "#sala0", "#sala1", "#sala2", "#vazia"]
    expected = [301, 300, 5, 4, 3, 2, 1]
    assert find(index, "palavra", rooms=rooms, limit=50) == expected
    page = index.search("palavra", rooms=rooms, private=[ME], limit=3)
    assert (seqs(page), page.more, page.complete, page.next_before) == \
        (expected[:3], True, True, 5)
    assert find(index, "palavra", rooms=rooms, before=5, limit=3) == expected[3:6]
    assert find(index, "palavra deles", rooms=rooms) == []
    assert find(index, "palavra", rooms=[*rooms, "#outra"], limit=3) == [301, 300, 299]


def test_the_plan_follows_what_the_reader_may_read(index: SearchIndex) -> None:
    """A reader of most of the chat searches by words alone; one of a small part of
    it asks FTS5 for its streams too; one of streams that hold nothing, nothing."""
    index.add(msg(seq, "palavra", room="" if seq % 50 else "#pequena") for seq in range(1, 3001))
    index.add([priv(3001, "palavra", ME, YOU)])
    in_query = lambda rooms, keys=(): index._streams_in_query(
        [index._ids["r" + room] for room in rooms] + [index._ids["p" + key] for key in keys])
    assert in_query([""], [ME]) is False
    assert in_query(["", "#pequena"], [ME, YOU]) is False
    assert in_query(["#pequena"]) is True
    assert in_query(["#pequena"], [YOU]) is True
    assert "p" + THEM not in index._ids
    assert find(index, "palavra", rooms=["#vazia"], private=[THEM]) == []
    index.prune(2999)
    assert "r" not in index._ids  # (3000 was in #pequena: the default room holds nothing)
    assert find(index, "palavra", rooms=[""], private=[]) == []
    assert in_query(["#pequena"], [ME]) is False
    assert find(index, "palavra", rooms=["#pequena"], private=[ME]) == [3001, 3000]


@pytest.mark.usefixtures("plan")
def test_a_search_over_others_messages_stops_at_its_budget() -> None:
    """Many matches, none readable, among as many of the searcher's room: by words
    alone it reads them one by one, by its room too FTS5 walks both lists. With no
    budget at all, either stops at the first look at the clock and says so."""
    idx = SearchIndex(budget_s=0.0)
    idx.add(msg(seq, "palavra de outros" if seq % 2 else "conversa minha",
                room="#outra" if seq % 2 else "") for seq in range(1, 40_001))
    idx.commit()
    started = time.monotonic()
    result = idx.search("palavra", rooms=[""], private=[ME])
    assert (result.hits, result.more, result.complete) == ((), True, False)
    assert result.next_before in (None, 39_999)
    assert time.monotonic() - started < 1.0  # (a bound for a loaded machine, not a figure)
    idx.close()


def test_a_search_out_of_time_returns_what_it_found() -> None:
    idx = SearchIndex(budget_s=0.0)
    idx.add(msg(seq, "olá") for seq in range(1, 1001))
    result = idx.search("olá", rooms=[""], private=[], limit=50)
    assert not result.complete and result.more
    assert len(result.hits) < 50  # (what it found first: the newest)
    assert seqs(result) == list(range(1000, 1000 - len(result.hits), -1))
    if result.hits:  # the next page starts below the oldest row it read
        assert result.next_before is not None and result.next_before <= result.hits[-1].seq
    idx.close()


# ---- a property: the index against a plain Python reading of the same history ------------

VOCABULARY = ["ação", "acao", "Café", "cafe", "NEAR", "and", "pão", "bom", "dia", "x1"]
NAMES = ["Ana", "ana", "Bob"]
ROOMS = ["", "#sala", "#outra"]
KEYS = [ME, YOU, THEM]


def _fold(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", word)
                   if not unicodedata.combining(ch)).lower()


@st.composite
def histories(draw: st.DrawFn) -> list[StoredEvent]:
    events = []
    for seq in range(1, draw(st.integers(0, 40)) + 1):
        text = " ".join(draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=4)))
        text = draw(st.sampled_from(["", "(", '"', "-"])) + text + draw(st.sampled_from(["", "!"]))
        name = draw(st.sampled_from(NAMES))
        if draw(st.booleans()):
            events.append(msg(seq, text, draw(st.sampled_from(ROOMS)), name))
        elif draw(st.booleans()):
            events.append(priv(seq, text, draw(st.sampled_from(KEYS)),
                               draw(st.sampled_from(KEYS)), name))
        else:
            events.append(StoredEvent(seq, c.JOINED, float(seq), name, room="#sala"))
    return events


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(histories(), st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3),
       st.sets(st.sampled_from(ROOMS)), st.sets(st.sampled_from(KEYS)),
       st.sampled_from(["", *NAMES]), st.integers(1, 8), st.booleans(),
       st.sampled_from([SCOPE_STEP_ROWS, BY_WORDS, BY_SCOPE]), st.integers(0, 10))
def test_search_agrees_with_a_plain_reading(
        events: list[StoredEvent], words: list[str], rooms: set[str], private: set[str],
        sender: str, limit: int, commit: bool, step_rows: int, pruned: int) -> None:
    """Each plan (``step_rows``: the rule's, or one forced), with the oldest ``pruned``
    events pruned, pages through every hit, once, newest first."""
    idx = SearchIndex(budget_s=LONG)
    idx.add(events)
    if commit:
        idx.commit()
    idx.prune(pruned)
    events = [e for e in events if e.seq > pruned]
    wanted = {_fold(word) for word in words}
    expected = [e.seq for e in reversed(events)
                if ((e.kind == c.MSG and e.room in rooms)
                    or (e.kind == c.PRIV and (e.origin in private or e.to_key in private)))
                and wanted <= {_fold(w) for w in "".join(
                    ch if ch.isalnum() else " " for ch in e.text).split()}
                and (not sender or e.name.lower() == sender.lower())]
    found: list[int] = []
    before = None
    search.SCOPE_STEP_ROWS = step_rows
    try:
        while True:
            page = idx.search(" ".join(words), rooms=rooms, private=private, sender=sender,
                              before=before, limit=limit)
            assert page.complete
            found += seqs(page)
            if not page.more:
                break
            assert page.next_before == page.hits[-1].seq
            before = page.next_before
    finally:
        search.SCOPE_STEP_ROWS = SCOPE_STEP_ROWS
    assert found == expected
    idx.close()
