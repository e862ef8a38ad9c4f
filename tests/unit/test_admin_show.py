"""zchat/admin.py: the broker's replies shown to people, their exit codes, and what a
broker sends made safe for a terminal (no socket is opened here)."""

import json
import time

from zchat.admin import OK, REFUSED, as_json, exit_code, refusal, shown
from zchat.broker.admin_wire import AdminRequest, failure

STATUS = {
    "ok": True, "healthy": True, "problems": [], "version": "0.1.0", "pid": 42,
    "uptime": 7391.5, "started": 0.0, "users": {"here": 3, "chat": 5}, "rooms": 2,
    "events": {"since_start": 5120, "per_second_10s": 1.4, "per_second_60s": 0.9},
    "store": {"kind": "sqlite", "where": "/var/lib/zchat", "last_seq": 5120, "epoch": "e",
              "moderation": True, "search": True},
    "cluster": None,
}


def test_status_in_words_and_its_exit_code() -> None:
    assert shown(AdminRequest("status"), STATUS).splitlines() == [
        "zchat 0.1.0 (pid 42), up 2h 3m 11s",
        "users: 3 on this broker, 5 in the chat",
        "rooms: 2",
        "events: 1.4/s over 10 s, 0.9/s over a minute, 5120 since start",
        "store: sqlite (/var/lib/zchat), last event 5120",
        "cluster: none",
        "health: ok",
    ]
    assert exit_code(STATUS) == OK
    down = {**STATUS, "healthy": False, "problems": ["the cluster link is down"],
            "users": {"here": 3, "chat": None}, "rooms": None,
            "cluster": {"url": "redis://r:6379/0", "up": False}}
    lines = shown(AdminRequest("status"), down).splitlines()
    assert lines[1:3] == ["users: 3 on this broker, ? in the chat", "rooms: ?"]
    assert lines[-2:] == ["cluster: redis://r:6379/0, link DOWN",
                          "health: NOT OK: the cluster link is down"]
    assert exit_code(down) == REFUSED


def test_who_rooms_and_bans_as_tables() -> None:
    who = {"ok": True, "room": "", "partial": False, "names": ["ana", "bob"], "sessions": [
        {"name": "ana", "address": "10.0.0.1", "key": "K" * 40, "operator": True,
         "rooms": ["#geral", "#dev"], "idle": 65.2}]}
    assert shown(AdminRequest("who"), who).splitlines() == [
        "2 online:",
        "ana (operator)  10.0.0.1             idle 1m 5s  key KKKKKKKK…  #geral #dev",
        "bob             (on another broker)",
    ]
    rooms = {"ok": True, "count": 2, "rooms": [
        {"room": "#dev", "members": 1, "topic": "lançamento"},
        {"room": "#geral", "members": 12, "topic": ""}]}
    assert shown(AdminRequest("rooms"), rooms).splitlines() == [
        "2 room(s):", "#dev    1   lançamento", "#geral  12"]
    until = time.mktime((2030, 1, 2, 3, 4, 0, 0, 0, -1))
    bans = {"ok": True, "count": 2, "sanctions": [
        {"op": "mute", "name": "carol", "target": "n:carol", "room": "#dev", "until": until,
         "by": "admin", "reason": ""},
        {"op": "ban", "name": "bob", "target": "k:" + "B" * 40, "room": "", "until": 0,
         "by": "ana", "reason": "flood"}]}
    assert shown(AdminRequest("bans"), bans).splitlines() == [
        "2 ban(s) and mute(s):",
        "mute  carol in #dev  by name  until 2030-01-02 03:04  by admin",
        "ban   bob            by key   until lifted            by ana: flood"]
    assert shown(AdminRequest("bans"), {"ok": True, "count": 0, "sanctions": []}) == \
        "no bans or mutes"


def test_moderation_in_words() -> None:
    done = {"ok": True, "name": "bob", "room": "", "until": 0}
    assert shown(AdminRequest("kick", "bob"), done) == "kicked bob"
    assert shown(AdminRequest("ban", "bob"), done) == "banned bob until lifted"
    assert shown(AdminRequest("unban", "bob"), done) == "lifted the ban on bob"
    muted = {**done, "room": "#dev", "until": time.mktime((2030, 1, 2, 3, 4, 0, 0, 0, -1))}
    assert shown(AdminRequest("mute", "bob", "#dev", 60), muted) == \
        "muted bob in #dev until 2030-01-02 03:04"
    assert shown(AdminRequest("unmute", "bob", "#dev"), muted) == "unmuted bob in #dev"


def test_what_a_broker_sends_reaches_no_terminal_raw() -> None:
    rooms = {"ok": True, "count": 1, "rooms": [
        {"room": "#dev", "members": 1, "topic": "\x1b[2J\x1b]0;owned\x07"}]}
    text = shown(AdminRequest("rooms"), rooms)
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2J" in text
    refused = failure("NO_SUCH_USER", "no such user\x1b[31m online", "b\u202eob")
    assert refusal(refused) == "NO_SUCH_USER: no such user\\x1b[31m online (b\\u202eob)"
    assert exit_code(refused) == REFUSED
    line = as_json({"ok": True, "topic": "\x1b[2J\x9b"})
    assert "\x1b" not in line and "\x9b" not in line
    assert json.loads(line)["topic"] == "\x1b[2J\x9b"
