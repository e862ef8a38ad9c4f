"""broker/moderation.py through the core: who may moderate, kick, ban (by key, by
name; surviving a restart; ending on time), mute, slow mode, locked topics, what
each party is told, and the audit log."""

from pathlib import Path

import pytest
from corehelp import handled, make_core

from zchat.broker.audit import AuditLog
from zchat.broker.core import BrokerCore
from zchat.broker.sqlite_store import SqliteStore
from zchat.protocol import (
    Bye,
    Enter,
    Error,
    Join,
    Left,
    Moderate,
    Moderated,
    Msg,
    Say,
    SetTopic,
    TopicSet,
    Welcome,
)
from zchat.protocol import constants as c

A, B, C, D = b"\x00a", b"\x00b", b"\x00c", b"\x00d"
OP, BOB_KEY = "O" * 40, "B" * 40


class Clock:
    """The wall clock the core stamps with, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _core(tmp_path: Path, clock: Clock, audit: list[dict] | None = None) -> BrokerCore:
    core = make_core(store=SqliteStore(tmp_path), operators={OP},
                     audit=(audit.append if audit is not None else None))
    core._wall = clock
    return core


def _sent(result: list[tuple], identity: bytes, cls: type) -> list:
    return [m for kind, to, m in result if kind in ("send", "fanout")
            and to in (identity, None) and type(m) is cls]


def _join(core: BrokerCore, identity: bytes, name: str, user: str = "") -> list[tuple]:
    return handled(core, identity, Join(name), user=user)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def chat(tmp_path: Path, clock: Clock) -> BrokerCore:
    """ana the operator (A), bob with a key (B), carol without (C)."""
    core = _core(tmp_path, clock)
    _join(core, A, "ana", OP)
    _join(core, B, "bob", BOB_KEY)
    _join(core, C, "carol")
    yield core
    core.store.close()


def _codes(result: list[tuple]) -> list[str]:
    return [m.code for _, _, m in result if type(m) is Error]


def test_only_operators_moderate(chat: BrokerCore) -> None:
    result = handled(chat, C, Moderate(c.M_KICK, "bob"))
    assert _codes(result) == [c.E_NOT_OPERATOR]
    result = handled(chat, B, Moderate(c.M_BAN, "ana"), user=BOB_KEY)
    assert _codes(result) == [c.E_NOT_OPERATOR]
    assert chat.roster.by_name("ana") is not None


def test_a_kick_tells_everyone_who_saw_and_ends_the_session(chat: BrokerCore) -> None:
    result = handled(chat, A, Moderate(c.M_KICK, "Bob", reason="spam"), user=OP)
    told = Moderated(c.M_KICK, "ana", "bob", "", "spam", 0.0)
    for who in (A, B, C):
        assert _sent(result, who, Moderated) == [told]
    assert _sent(result, B, Bye) == [Bye(c.R_KICKED)]
    assert [m.reason for m in _sent(result, C, Left)] == [c.R_KICKED]
    assert chat.roster.by_name("bob") is None
    assert _join(chat, D, "bob", BOB_KEY)[0][2].__class__ is Welcome  # a kick is not a ban


def test_a_ban_holds_the_key_survives_a_restart_and_ends_on_time(
        tmp_path: Path, clock: Clock) -> None:
    audit: list[dict] = []
    core = _core(tmp_path, clock, audit)
    _join(core, A, "ana", OP)
    _join(core, B, "bob", BOB_KEY)
    result = handled(core, A, Moderate(c.M_BAN, "bob", seconds=3600, reason="flood"), user=OP)
    assert _sent(result, B, Bye) == [Bye(c.R_BANNED)]
    assert audit == [{"ts": 1000.0, "by": "ana", "op": c.M_BAN, "name": "bob", "room": "",
                      "seconds": 3600, "reason": "flood"}]
    core.commit()
    core.store.close()
    core = _core(tmp_path, clock)  # the broker restarts
    refused = _join(core, C, "bob", BOB_KEY)
    assert _codes(refused) == [c.E_BANNED] and refused[0][2].ref == "4600"
    assert _codes(_join(core, C, "robert", BOB_KEY)) == [c.E_BANNED]  # the key, any name
    clock.now += 3600
    assert type(_join(core, C, "bob", BOB_KEY)[0][2]) is Welcome
    core.store.close()


def test_a_name_without_a_key_is_banned_by_name_until_unbanned(chat: BrokerCore) -> None:
    handled(chat, A, Moderate(c.M_BAN, "carol"), user=OP)
    assert _codes(_join(chat, D, "CAROL")) == [c.E_BANNED]
    assert type(_join(chat, D, "caroline")[0][2]) is Welcome
    result = handled(chat, A, Moderate(c.M_UNBAN, "carol"), user=OP)
    assert _sent(result, A, Moderated)[0].op == c.M_UNBAN
    assert type(_join(chat, b"\x00e", "carol")[0][2]) is Welcome
    assert _codes(handled(chat, A, Moderate(c.M_UNBAN, "carol"), user=OP)) == [
        c.E_NO_SUCH_USER]


def test_a_mute_refuses_messages_in_one_room_only(chat: BrokerCore, clock: Clock) -> None:
    for who, user in ((A, OP), (B, BOB_KEY), (C, "")):
        handled(chat, who, Enter("#dev"), user=user)
    result = handled(chat, A, Moderate(c.M_MUTE, "bob", "#dev", 600), user=OP)
    assert all(_sent(result, who, Moderated) for who in (A, B, C))
    refused = handled(chat, B, Say("oi", 1, room="#dev"), user=BOB_KEY)
    assert _codes(refused) == [c.E_MUTED] and refused[0][2].cid == 1
    assert _codes(handled(chat, B, Say("no geral", 2), user=BOB_KEY)) == []
    clock.now += 601
    chat.tick(1.0)  # (what ended goes; nobody is silent for long enough to expire)
    assert _codes(handled(chat, B, Say("voltei", 3, room="#dev"), user=BOB_KEY)) == []
    handled(chat, A, Moderate(c.M_MUTE, "carol", "#dev"), user=OP)
    handled(chat, A, Moderate(c.M_UNMUTE, "carol", "#dev"), user=OP)
    assert _codes(handled(chat, C, Say("obrigada", 1, room="#dev"))) == []


def test_slow_mode_lets_one_message_through_per_interval(chat: BrokerCore) -> None:
    handled(chat, A, Moderate(c.M_SLOW, room="#geral", seconds=10), user=OP)
    assert _codes(handled(chat, C, Say("um", 1), now=1.0)) == []
    refused = handled(chat, C, Say("dois", 2), now=5.0)
    assert _codes(refused) == [c.E_SLOW_MODE] and refused[0][2].ref == "6"
    assert _codes(handled(chat, A, Say("operadora", 1), now=5.0, user=OP)) == []  # exempt
    assert _codes(handled(chat, C, Say("dois", 3), now=11.5)) == []
    result = handled(chat, A, Moderate(c.M_SLOW, room="#geral", seconds=0), user=OP)
    assert _sent(result, C, Moderated)[0].until == 0.0
    assert _codes(handled(chat, C, Say("três", 4), now=12.0)) == []


def test_a_locked_topic_is_changed_by_operators_only(chat: BrokerCore) -> None:
    handled(chat, A, Moderate(c.M_LOCK, room="#geral"), user=OP)
    assert _codes(handled(chat, C, SetTopic("#geral", "meu"))) == [c.E_TOPIC_LOCKED]
    assert _sent(handled(chat, A, SetTopic("#geral", "regras"), user=OP), C, TopicSet)
    handled(chat, A, Moderate(c.M_UNLOCK, room="#geral"), user=OP)
    assert _codes(handled(chat, C, SetTopic("#geral", "meu"))) == []


def test_nothing_is_checked_while_no_room_has_rules(chat: BrokerCore) -> None:
    assert not chat._mutes and not chat._room_rules and not chat._bans
    result = handled(chat, C, Say("oi", 1))
    assert [type(m) for _, _, m in result] == [Msg, type(result[-1][2])]


def test_the_audit_log_is_one_json_line_per_action_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(path)
    audit({"by": "ana", "op": "kick", "name": "bob", "reason": "çà"})
    audit({"by": "admin", "op": "ban", "name": "eve"})
    audit.close()
    assert path.read_text(encoding="utf-8").splitlines() == [
        '{"by": "ana", "name": "bob", "op": "kick", "reason": "çà"}',
        '{"by": "admin", "name": "eve", "op": "ban"}']
    assert path.stat().st_mode & 0o777 == 0o600


def test_in_a_cluster_a_ban_reaches_the_target_on_another_broker_and_holds_on_both() -> None:
    from corehelp import decoded, no_work
    from fakecluster import FakeCluster

    from zchat.protocol import encode

    one = FakeCluster(me="broker-1")
    two = FakeCluster(one.redis, "broker-2")
    cores = [BrokerCore(heartbeat=1.0, wall_clock=lambda: 1000.0, store=cluster,
                        backplane=cluster, work_clock=no_work, operators={OP})
             for cluster in (one, two)]

    def do(core: BrokerCore, identity: bytes, msg: object, user: str = "") -> list[tuple]:
        return decoded(core.handle(identity, [encode(msg)], 0.0, "", user) + core.commit())

    def bring(core: BrokerCore, cluster: FakeCluster) -> list[tuple]:
        return decoded([a for event in cluster.unread() for a in core.arrived(event)])

    do(cores[0], A, Join("ana", "a" * 32), OP)
    do(cores[1], B, Join("bob", "b" * 32), BOB_KEY)
    for core, cluster in zip(cores, (one, two), strict=True):
        bring(core, cluster)
    assert do(cores[0], A, Moderate(c.M_BAN, "bob", reason="spam"), OP) == []  # (via the log)
    here = bring(cores[0], one)
    assert [m for _, to, m in here if to == A] == [Moderated(c.M_BAN, "ana", "bob", "",
                                                             "spam", 0.0)]
    there = bring(cores[1], two)
    assert Bye(c.R_BANNED) in [m for _, to, m in there if to == B]
    assert cores[1].roster.by_name("bob") is None
    for core in cores:  # the ban holds on every broker, by bob's key
        refused = decoded(core.handle(D, [encode(Join("bobby", "d" * 32))], 0.0, "", BOB_KEY))
        assert _codes(refused) == [c.E_BANNED]
