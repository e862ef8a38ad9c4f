"""broker/admin.py over a core with fake identities and clocks: each request's reply, the
actions moderation makes (performed by the server like any others), what is refused,
and that no frame, however wrong, escapes as an exception."""

from pathlib import Path

import pytest
from corehelp import decoded, handled, make_core, no_work
from fakecluster import FakeCluster

from zchat.broker.admin import Admin
from zchat.broker.admin_wire import (
    E_BAD_REQUEST,
    E_INTERNAL,
    SIGNATURE,
    AdminRequest,
    decode_reply,
    encode_request,
)
from zchat.broker.core import BrokerCore
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import StoreError
from zchat.protocol import Bye, Enter, Error, Join, Left, Moderated, Say, SetTopic
from zchat.protocol import constants as c

A, B, C = b"\x00a", b"\x00b", b"\x00c"
BOB_KEY = "B" * 40


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _core(folder: Path, wall: Wall) -> BrokerCore:
    core = make_core(store=SqliteStore(folder))
    core._wall = wall
    return core


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def core(tmp_path: Path, wall: Wall):
    """ana (A, in #dev, whose topic she set), bob (B, with a key), carol (C)."""
    core = _core(tmp_path, wall)
    handled(core, A, Join("ana"), now=1.0, peer="10.0.0.1")
    handled(core, B, Join("bob"), now=1.0, peer="10.0.0.2", user=BOB_KEY)
    handled(core, C, Join("carol"), now=1.0, peer="10.0.0.3")
    handled(core, A, Enter("#dev"), now=1.0)
    handled(core, A, SetTopic("#dev", "lançamento"), now=1.0)
    core.commit()
    yield core
    core.store.close()


def _admin(core: BrokerCore, wall: Wall) -> Admin:
    return Admin(core, "sqlite", "/var/lib/zchat", wall=wall, now=0.0)


def _ask(admin: Admin, request: AdminRequest, now: float = 10.0) -> tuple[dict, list[tuple]]:
    frame, actions = admin.handle(encode_request(request), now)
    return decode_reply(frame), decoded(actions)


def test_status(core: BrokerCore, wall: Wall) -> None:
    admin = _admin(core, wall)
    before = core.store.last_seq()
    for second in range(1, 11):
        handled(core, C, Say(f"oi {second}", second), now=float(second))
        core.commit()
        admin.sample(float(second))
    reply, actions = _ask(admin, AdminRequest("status"), now=10.0)
    assert actions == []
    assert reply["ok"] and reply["healthy"] and reply["problems"] == []
    assert reply["uptime"] == 10.0
    assert reply["users"] == {"here": 3, "chat": 3}
    assert reply["rooms"] == 2  # #geral and #dev
    assert reply["events"]["since_start"] == 10
    assert reply["events"]["per_second_10s"] == 1.0  # one a second, from 0 to 10
    assert reply["store"] == {"kind": "sqlite", "where": "/var/lib/zchat",
                              "last_seq": before + 10, "epoch": core.store.epoch,
                              "moderation": True, "search": False}
    assert reply["cluster"] is None


def test_the_rates_are_of_recent_seconds(core: BrokerCore, wall: Wall) -> None:
    admin = _admin(core, wall)
    for second in range(1, 121):  # two messages a second for a minute, then quiet
        if second <= 60:
            handled(core, C, Say("a", 2 * second), now=float(second))
            handled(core, C, Say("b", 2 * second + 1), now=float(second))
            core.commit()
        admin.sample(float(second))
        if second == 60:
            events = _ask(admin, AdminRequest("status"), now=60.0)[0]["events"]
            assert events["per_second_10s"] == 2.0 and events["per_second_60s"] == 2.0
        if second == 65:
            events = _ask(admin, AdminRequest("status"), now=65.0)[0]["events"]
            assert events["per_second_10s"] == 1.0
    events = _ask(admin, AdminRequest("status"), now=120.0)[0]["events"]
    assert events["per_second_10s"] == 0.0 and events["per_second_60s"] == 0.0
    assert events["since_start"] == 120


def test_who(core: BrokerCore, wall: Wall) -> None:
    reply = _ask(_admin(core, wall), AdminRequest("who"), now=3.5)[0]
    assert reply["names"] == ["ana", "bob", "carol"] and reply["room"] == ""
    assert reply["sessions"][1] == {"name": "bob", "address": "10.0.0.2", "key": BOB_KEY,
                                    "operator": False, "rooms": ["#geral"], "idle": 2.5}
    assert reply["sessions"][0]["rooms"] == ["#geral", "#dev"]
    reply = _ask(_admin(core, wall), AdminRequest("who", room="#Dev"))[0]
    assert reply["room"] == "#dev" and reply["names"] == ["ana"]
    assert [s["name"] for s in reply["sessions"]] == ["ana"]
    reply = _ask(_admin(core, wall), AdminRequest("who", room="#geral"))[0]
    assert reply["names"] == ["ana", "bob", "carol"]
    reply = _ask(_admin(core, wall), AdminRequest("who", room="#a b"))[0]
    assert not reply["ok"] and reply["code"] == c.E_BAD_ROOM


def test_rooms(core: BrokerCore, wall: Wall) -> None:
    reply = _ask(_admin(core, wall), AdminRequest("rooms"))[0]
    assert reply == {"ok": True, "count": 2, "rooms": [
        {"room": "#dev", "members": 1, "topic": "lançamento"},
        {"room": "#geral", "members": 3, "topic": ""}]}


def test_a_kick_is_the_cores_actions_as_admin(core: BrokerCore, wall: Wall) -> None:
    reply, actions = _ask(_admin(core, wall), AdminRequest("kick", "Bob", reason="spam"))
    assert reply == {"ok": True, "op": "kick", "name": "Bob", "room": "", "until": 0}
    told = Moderated(c.M_KICK, "admin", "bob", "", "spam", 0.0)
    assert ("send", A, told) in actions and ("send", C, told) in actions
    assert ("send", B, Bye(c.R_KICKED)) in actions
    assert [m.reason for kind, _, m in actions if type(m) is Left] == [c.R_KICKED]
    assert core.roster.by_name("bob") is None
    reply, actions = _ask(_admin(core, wall), AdminRequest("kick", "bob"))
    assert reply == {"ok": False, "code": c.E_NO_SUCH_USER, "detail": "no such user online",
                     "ref": "bob"} and actions == []


def test_a_ban_is_listed_kept_across_a_restart_and_lifted(tmp_path: Path, core: BrokerCore,
                                                         wall: Wall) -> None:
    admin = _admin(core, wall)
    reply, actions = _ask(admin, AdminRequest("ban", "bob", seconds=7200, reason="flood"))
    assert reply["until"] == 1000.0 + 7200 and ("send", B, Bye(c.R_BANNED)) in actions
    assert _ask(admin, AdminRequest("ban", "eve"))[0]["until"] == 0  # offline, for good
    _ask(admin, AdminRequest("mute", "carol", "#dev", 600))
    bans = _ask(admin, AdminRequest("bans"))[0]
    assert bans["count"] == 3
    assert [(s["op"], s["name"], s["target"], s["room"], s["until"], s["by"])
            for s in bans["sanctions"]] == [
        ("mute", "carol", "n:carol", "#dev", 1600.0, "admin"),
        ("ban", "bob", f"k:{BOB_KEY}", "", 8200.0, "admin"),
        ("ban", "eve", "n:eve", "", 0.0, "admin")]
    core.commit()  # (the server commits before it answers)
    core.store.close()
    again = _core(tmp_path, wall)  # the broker restarts
    assert _ask(_admin(again, wall), AdminRequest("bans"))[0]["count"] == 3
    refused = handled(again, B, Join("bob"), user=BOB_KEY)
    assert [m.code for _, _, m in refused if type(m) is Error] == [c.E_BANNED]
    assert _ask(_admin(again, wall), AdminRequest("unban", "bob"))[0]["ok"]
    assert _ask(_admin(again, wall), AdminRequest("unban", "bob"))[0]["code"] == \
        c.E_NO_SUCH_USER
    assert [s["name"] for s in _ask(_admin(again, wall), AdminRequest("bans"))[0][
        "sanctions"]] == ["carol", "eve"]
    again.store.close()


def test_a_mute_refuses_what_the_user_says_there(core: BrokerCore, wall: Wall) -> None:
    handled(core, B, Enter("#dev"), user=BOB_KEY)
    reply, actions = _ask(_admin(core, wall), AdminRequest("mute", "bob", "#dev"))
    assert reply["ok"] and reply["room"] == "#dev" and reply["until"] == 0
    assert ("send", B, Moderated(c.M_MUTE, "admin", "bob", "#dev", "", 0.0)) in actions
    refused = handled(core, B, Say("posso?", 1, room="#dev"), user=BOB_KEY)
    assert [m.code for _, _, m in refused if type(m) is Error] == [c.E_MUTED]
    assert _ask(_admin(core, wall), AdminRequest("unmute", "bob", "#dev"))[0]["ok"]
    assert not [m for _, _, m in handled(core, B, Say("ok", 2, room="#dev"), user=BOB_KEY)
                if type(m) is Error]


@pytest.mark.parametrize("request_", [
    AdminRequest("kick", "a b"), AdminRequest("mute", "bob", "dev"),
    AdminRequest("ban", "@x"),
], ids=repr)
def test_a_bad_name_or_room_is_refused(core: BrokerCore, wall: Wall,
                                       request_: AdminRequest) -> None:
    reply, actions = _ask(_admin(core, wall), request_)
    assert not reply["ok"] and reply["code"] in (c.E_BAD_NAME, c.E_BAD_ROOM)
    assert actions == []


@pytest.mark.parametrize("frame", [b"", b"\xff" * 10, SIGNATURE + b"[]",
                                   SIGNATURE + b'{"op": "shutdown"}', b"x" * 100_000])
def test_a_bad_frame_gets_a_refusal(core: BrokerCore, wall: Wall, frame: bytes) -> None:
    reply, actions = _admin(core, wall).handle(frame, 1.0)
    assert decode_reply(reply)["code"] == E_BAD_REQUEST and actions == []


def test_a_bug_is_a_refusal_and_a_store_failure_is_not_hidden(
        core: BrokerCore, wall: Wall, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = _admin(core, wall)

    def broken(*_args: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(core, "moderate", broken)
    assert _ask(admin, AdminRequest("kick", "bob"))[0]["code"] == E_INTERNAL

    def failing(*_args: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(core, "moderate", failing)
    with pytest.raises(StoreError):
        _ask(admin, AdminRequest("kick", "bob"))


def test_a_broker_without_moderation_state_says_so(wall: Wall) -> None:
    core = make_core()
    core.moderation = None
    reply = _ask(_admin(core, wall), AdminRequest("ban", "bob"))[0]
    assert reply["code"] == c.E_UNAVAILABLE


def test_in_a_cluster_status_says_whether_the_link_is_up(wall: Wall) -> None:
    cluster = FakeCluster()
    core = BrokerCore(heartbeat=1.0, wall_clock=wall, store=cluster, backplane=cluster,
                      work_clock=no_work)
    admin = Admin(core, "cluster", "redis://127.0.0.1:6379/0", wall=wall, now=0.0)
    reply = _ask(admin, AdminRequest("status"))[0]
    assert reply["healthy"] and reply["cluster"] == {"url": "redis://127.0.0.1:6379/0",
                                                     "up": True}
    assert reply["store"]["kind"] == "cluster"
    cluster.redis.reachable = False
    cluster.up = False  # (as RedisCluster.take sets it on its log reader's DOWN)
    reply = _ask(admin, AdminRequest("status"))[0]
    assert reply["ok"] and not reply["healthy"]
    assert reply["cluster"]["up"] is False and "cluster link is down" in reply["problems"][0]
    assert reply["users"]["chat"] is None  # (not known now)
    who = _ask(admin, AdminRequest("who"))[0]
    assert who["ok"] and who["partial"]  # this broker's users only
    assert _ask(admin, AdminRequest("rooms"))[0]["code"] == c.E_UNAVAILABLE
