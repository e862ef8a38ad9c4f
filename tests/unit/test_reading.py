"""broker/reading.py through the core: MARK, UNREAD after WELCOME, DMS, HISTORY of a
private conversation, and the rooms and read state that follow a CURVE key."""

from pathlib import Path

import pytest
from corehelp import handled, make_core

from zchat.broker.core import BrokerCore
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import PUBLIC, MemoryStore
from zchat.protocol import (
    DmList,
    Enter,
    Error,
    Events,
    History,
    Join,
    Leave,
    ListDms,
    Mark,
    Say,
    Tell,
    Unread,
    UnreadList,
    Welcome,
)
from zchat.protocol import constants as c

A, B, C, D = b"\x00a", b"\x00b", b"\x00c", b"\x00d"
KEY_A = "A" * 40  # ana's CURVE key (z85): the core only compares it
TOKEN_A, TOKEN_A2 = "a" * 32, "b" * 32


@pytest.fixture(params=["memory", "sqlite"])
def core(request: pytest.FixtureRequest, tmp_path: Path) -> BrokerCore:
    store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path)
    core = make_core(store=store)
    yield core
    core.store.close()


def _sent(result: list[tuple], identity: bytes, cls: type) -> list:
    return [m for kind, to, m in result if kind == "send" and to == identity and type(m) is cls]


def _join(core: BrokerCore, identity: bytes, name: str, token: str = "", user: str = "",
          resume: bool = False) -> list[tuple]:
    result = handled(core, identity, Join(name, token, resume), user=user)
    assert type(result[0][2]) is Welcome, result
    return result


def test_a_key_gets_its_rooms_and_unread_back_in_a_new_session(core: BrokerCore) -> None:
    _join(core, A, "ana", TOKEN_A, KEY_A)
    _join(core, B, "bob")
    handled(core, A, Enter("#dev"), user=KEY_A)
    handled(core, B, Enter("#dev"))
    said = handled(core, B, Say("antes", 1, room="#dev"))
    seen = next(m for _, to, m in said if to == A).seq
    handled(core, A, Mark((("#dev", seen), ("#geral", core.store.head(PUBLIC)))), user=KEY_A)
    handled(core, A, Leave(), user=KEY_A)  # sair: the session ends, the key's state stays
    for cid, text in enumerate(["um", "Ana, olha isto", "@ANA dois", "banana"], 2):
        handled(core, B, Say(text, cid, room="#dev"))
    result = _join(core, C, "ana", TOKEN_A2, KEY_A)  # another terminal: a new token
    welcome = result[0][2]
    assert welcome.session == TOKEN_A2 and "#dev" in dict(welcome.rooms)
    assert core.roster.by_name("ana").rooms == {"#dev"}
    [unread] = _sent(result, C, UnreadList)
    assert unread.items == (Unread("#dev", seen, 4, 2),)
    history = [m for m in _sent(result, C, Events) if m.room == "#dev"]
    assert [e.text for e in history[0].events][-4:] == ["um", "Ana, olha isto", "@ANA dois",
                                                        "banana"]
    # The order a client needs: WELCOME, then UNREAD, then the history it marks.
    kinds = [type(m) for _, to, m in result if to == C]
    assert kinds.index(UnreadList) == 1 and kinds.index(Events) > 1


def test_a_name_without_a_key_has_read_state_for_its_session_only(core: BrokerCore) -> None:
    _join(core, A, "ana", TOKEN_A)
    _join(core, B, "bob")
    handled(core, A, Enter("#dev"))
    handled(core, B, Enter("#dev"))
    handled(core, B, Say("um", 1, room="#dev"))
    handled(core, B, Say("dois", 2, room="#dev"))
    # Reconnecting with the token (the same session): the two are unread.
    result = _join(core, C, "ana", TOKEN_A, resume=True)
    [unread] = _sent(result, C, UnreadList)
    assert [(i.key, i.unread) for i in unread.items] == [("#dev", 2)]
    handled(core, C, Leave())
    handled(core, B, Say("três", 3, room="#dev"))
    result = _join(core, D, "ana", TOKEN_A)  # after sair: a new session, nothing carried
    assert _sent(result, D, UnreadList) == [] and core.roster.by_name("ana").rooms == set()


def test_what_was_there_before_a_reader_came_is_not_unread(core: BrokerCore) -> None:
    _join(core, B, "bob")
    for cid in range(1, 4):
        handled(core, B, Say(f"velho {cid}", cid))
    result = _join(core, A, "ana", TOKEN_A)
    assert _sent(result, A, UnreadList) == []


def test_dms_lists_conversations_with_unread_until_marked(core: BrokerCore) -> None:
    _join(core, A, "ana", TOKEN_A)
    _join(core, B, "bob")
    _join(core, C, "carol")
    handled(core, B, Tell("ana", "oi", 1))
    handled(core, C, Tell("ana", "olá", 1))
    last = next(m for _, to, m in handled(core, B, Tell("ANA", "tudo bem?", 2)) if to == A).seq
    [dms] = _sent(handled(core, A, ListDms()), A, DmList)
    assert [(i.key, i.unread, i.last) for i in dms.items] == [("@bob", 2, last),
                                                              ("@carol", 1, last - 1)]
    handled(core, A, Mark((("@Bob", last),)))
    [dms] = _sent(handled(core, A, ListDms()), A, DmList)
    assert [(i.key, i.read, i.unread) for i in dms.items] == [("@bob", last, 0),
                                                              ("@carol", 0, 1)]
    [dms] = _sent(handled(core, B, ListDms()), B, DmList)
    assert [(i.key, i.unread) for i in dms.items] == [("@ana", 0)]


def test_a_mark_is_never_answered_and_skips_what_it_may_not_mark(core: BrokerCore) -> None:
    _join(core, A, "ana", TOKEN_A)
    head = core.store.head(PUBLIC)
    result = handled(core, A, Mark((("#fora", 1), ("#geral", 10**9), ("@ bad", 1),
                                    ("nada", 1))))
    assert result == []
    assert core.read_state.marks(core.roster.by_name("ana").stream) == {
        PUBLIC: core.store.last_seq()}
    assert core.store.last_seq() >= head


def test_history_of_a_private_conversation(core: BrokerCore) -> None:
    _join(core, A, "ana", TOKEN_A)
    _join(core, B, "bob")
    _join(core, C, "carol")
    for cid in range(1, 5):
        handled(core, A, Tell("bob", f"para bob {cid}", cid))
        handled(core, C, Tell("ana", f"de carol {cid}", cid))
        handled(core, B, Tell("ana", f"de bob {cid}", cid))
    [page] = _sent(handled(core, A, History("", limit=3, peer="Bob")), A, Events)
    assert (page.kind, page.room, page.more) == (c.K_PAGE, "@Bob", True)
    assert [e.text for e in page.events] == ["de bob 3", "para bob 4", "de bob 4"]
    [page] = _sent(handled(core, A, History("", before=page.events[0].seq, peer="bob")),
                   A, Events)
    assert [e.text for e in page.events] == ["para bob 1", "de bob 1", "para bob 2",
                                             "de bob 2", "para bob 3"]
    assert not page.more
    [error] = _sent(handled(core, A, History("", peer="no one")), A, Error)
    assert error.code == c.E_BAD_NAME


def test_a_keys_conversations_page_across_its_sessions(core: BrokerCore) -> None:
    _join(core, A, "ana", TOKEN_A, KEY_A)
    _join(core, B, "bob")
    handled(core, B, Tell("ana", "antes de sair", 1))
    handled(core, A, Tell("bob", "até logo", 1), user=KEY_A)
    handled(core, A, Leave(), user=KEY_A)
    result = _join(core, C, "ana", TOKEN_A2, KEY_A)  # a new session of the same key
    [unread] = _sent(result, C, UnreadList)
    assert [(i.key, i.unread) for i in unread.items] == [("@bob", 1)]
    [page] = _sent(handled(core, C, History("", peer="bob"), user=KEY_A), C, Events)
    assert [e.text for e in page.events] == ["antes de sair", "até logo"]
    # bob has no key: his conversation is his session's, and ends with it.
    handled(core, B, Leave())
    _join(core, D, "bob", "c" * 32)
    [page] = _sent(handled(core, D, History("", peer="ana")), D, Events)
    assert page.events == ()
