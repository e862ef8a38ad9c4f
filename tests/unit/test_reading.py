"""broker/reading.py through the core: MARK, UNREAD after WELCOME, DMS, HISTORY of a
private conversation, and the rooms and read state that follow a CURVE key."""

from pathlib import Path

import pytest
from corehelp import decoded, handled, make_core
from fakecluster import FakeCluster

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
    Priv,
    Say,
    Tell,
    Unread,
    UnreadList,
    Welcome,
    encode,
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


# ---- in a cluster (FakeCluster: tests/unit/fakecluster.py) -----------------------------

def _brokers() -> tuple[BrokerCore, FakeCluster, BrokerCore, FakeCluster, list[tuple]]:
    """Two brokers of one cluster, and every conversation record made on either:
    (reader, peer, seq, incoming)."""
    one = FakeCluster(me="broker-1")
    two = FakeCluster(one.redis, "broker-2")
    recorded: list[tuple] = []
    history = one.redis.history
    converse = history.converse

    def spy(reader: str, peer: str, name: str, seq: int, ts: float, incoming: bool) -> None:
        recorded.append((reader, peer, seq, incoming))
        converse(reader, peer, name, seq, ts, incoming)

    history.converse = spy  # type: ignore[method-assign]
    cores = [make_core(store=cluster, backplane=cluster) for cluster in (one, two)]
    return cores[0], one, cores[1], two, recorded


def _bring(core: BrokerCore, cluster: FakeCluster) -> list[tuple]:
    """What the cluster's reader brings this broker (its log and its inbox, in seq
    order), handed to the core, and what the next commit adds."""
    arrived = sorted([(event, "") for event in cluster.unread()] + cluster.inbox(),
                     key=lambda item: item[0].seq)
    actions = [action for event, reader in arrived for action in core.arrived(event, reader)]
    return decoded(actions + core.commit())


def _on(core: BrokerCore, identity: bytes, msg: object, user: str = "") -> list[tuple]:
    return decoded(core.handle(identity, [encode(msg)], 0.0, user=user) + core.commit())


def test_a_cluster_records_each_side_of_a_private_message_once_where_it_is() -> None:
    one, c1, two, c2, recorded = _brokers()
    _on(one, A, Join("ana", TOKEN_A), user=KEY_A)
    _on(two, B, Join("bob"))
    _on(one, C, Join("carol"))
    for core, cluster in ((one, c1), (two, c2)):
        _bring(core, cluster)
    # bob (broker two) to ana (broker one): nothing is recorded before it is numbered.
    assert decoded(two.handle(B, [encode(Tell("ana", "oi", 1))], 0.0)) == []
    assert recorded == []
    two.commit()  # numbered: bob's side, on his broker
    bob = two.roster.by_name("bob").stream
    seq = c2.head(bob)
    assert recorded == [(bob, "ana", seq, False)]
    assert [m.text for _, _, m in _bring(one, c1)] == ["oi"]  # ana's side, on hers
    assert [(to, m.text) for _, to, m in _bring(two, c2)] == [(B, "oi")]  # his own copy
    assert recorded == [(bob, "ana", seq, False), ("k:" + KEY_A, "bob", seq, True)]
    # Both on broker one, and a note to oneself: each side once, the target's on arrival.
    del recorded[:]
    _on(one, C, Tell("ana", "olá", 1))
    _on(one, C, Tell("carol", "lembrete", 2))
    carol = one.roster.by_name("carol").stream
    assert [(r, p, i) for r, p, _, i in recorded] == [(carol, "ana", False),
                                                      (carol, "carol", False)]
    _bring(one, c1)
    assert [(r, p, i) for r, p, _, i in recorded] == [
        (carol, "ana", False), (carol, "carol", False), ("k:" + KEY_A, "carol", True)]
    [dms] = _sent(_on(one, A, ListDms(), user=KEY_A), A, DmList)
    assert [(i.key, i.unread) for i in dms.items] == [("@carol", 1), ("@bob", 1)]
    [dms] = _sent(_on(two, B, ListDms()), B, DmList)
    assert [(i.key, i.unread, i.last) for i in dms.items] == [("@ana", 0, seq)]


def test_a_cluster_records_nothing_it_could_not_number() -> None:
    one, c1, _, _, recorded = _brokers()
    _on(one, A, Join("ana", TOKEN_A))
    _on(one, B, Join("bob"))
    _bring(one, c1)
    c1.redis.reachable = False
    told = _on(one, B, Tell("ana", "só aqui", 1))
    assert [m.seq for _, _, m in told if isinstance(m, Priv)] == [0, 0]
    assert recorded == [] and one._talks_due == []
    c1.redis.reachable = True
    one.tick(2.0)
    assert one.read_state.conversations(one.roster.by_name("ana").stream, 5) == []


def test_a_keys_read_state_follows_it_to_another_broker() -> None:
    one, c1, two, c2, _ = _brokers()
    _on(one, A, Join("ana", TOKEN_A), user=KEY_A)
    _on(two, B, Join("bob"))
    _on(one, A, Enter("#dev"), user=KEY_A)
    _on(two, B, Enter("#dev"))
    for core, cluster in ((one, c1), (two, c2)):
        _bring(core, cluster)
    said = _on(two, B, Say("antes", 1, room="#dev"))
    said += _bring(two, c2)
    seen = next(m for _, to, m in _bring(one, c1) if to == A).seq
    _on(one, A, Mark((("#dev", seen),)), user=KEY_A)
    _on(one, A, Leave(), user=KEY_A)
    _bring(two, c2)
    for cid, text in enumerate(["um", "ana: olha isto"], 2):
        _on(two, B, Say(text, cid, room="#dev"))
    _on(two, B, Tell("ana", "segredo", 4))  # (she is gone: refused, nothing recorded)
    result = _on(two, C, Join("ana", TOKEN_A2), user=KEY_A)  # her key, on broker two
    assert "#dev" in dict(result[0][2].rooms)
    [unread] = _sent(result, C, UnreadList)
    assert unread.items == (Unread("#dev", seen, 2, 1),)
    _bring(two, c2)
    _on(two, B, Tell("ana", "segredo", 5))
    _bring(two, c2)
    [dms] = _sent(_on(two, C, ListDms(), user=KEY_A), C, DmList)
    assert [(i.key, i.unread) for i in dms.items] == [("@bob", 1)]
    [page] = _sent(_on(two, C, History("", peer="bob"), user=KEY_A), C, Events)
    assert [e.text for e in page.events] == ["segredo"]
    last = page.events[-1].seq
    _on(two, C, Mark((("@bob", last),)), user=KEY_A)
    [dms] = _sent(_on(two, C, ListDms(), user=KEY_A), C, DmList)
    assert [(i.key, i.read, i.unread) for i in dms.items] == [("@bob", last, 0)]
