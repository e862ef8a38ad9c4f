"""`zchat admin SOCKET COMMAND`: one request to a running broker's admin socket
(`zchat broker --admin ipc://PATH`), its reply shown to a person or, with --json, to a
script.

Exit codes, for scripts:

    0  done (status: the broker is healthy)
    1  the broker refused or failed the request (status: it answers but is not healthy)
    2  usage: a bad command, argument or option (click's)
    3  no broker to ask: no socket at that path, nothing listening, no permission,
       no answer in time, or an answer that is not the admin protocol's

The wire is admin_wire.py's; the rules, the broker's. This module only connects, waits
(bounded) and shows: it keeps no state and changes nothing on its own.
"""

import errno
import json
import os
import socket
import stat
import time
from typing import Any

import zmq

from zchat.broker.admin_wire import (
    AdminRequest,
    AdminWireError,
    decode_reply,
    encode_request,
)
from zchat.common.safetext import sanitize
from zchat.protocol import constants as c

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3
DEFAULT_TIMEOUT = 5.0

class Unreachable(Exception):
    """No broker answered on the admin socket; the message says why."""


def socket_path(value: str) -> str:
    """The file of a SOCKET argument: ``ipc://PATH`` or PATH itself."""
    return value.removeprefix("ipc://")


def ask(path: str, request: AdminRequest, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The broker's reply to ``request`` on the admin socket at ``path``.

    Raises:
        Unreachable: nothing to ask there, or no (proper) answer within ``timeout``.
    """
    _probe(path)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect("ipc://" + path)
        sock.send(encode_request(request))
        if not sock.poll(int(timeout * 1000), zmq.POLLIN):
            raise Unreachable(f"no answer from {path} within {timeout:g} s "
                              "(is the broker stopped, or busy?)")
        frame = sock.recv()
    except zmq.ZMQError as exc:
        raise Unreachable(f"cannot reach {path}: {exc.strerror}") from None
    finally:
        sock.close(0)
        ctx.term()
    try:
        return decode_reply(frame)
    except AdminWireError as exc:
        raise Unreachable(f"{path} is not a zchat broker's admin socket: {exc}") from None


def _probe(path: str) -> None:
    """Fail at once, saying why, where a ZeroMQ connect would retry in silence."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise Unreachable(f"no admin socket at {path} (is the broker running with "
                          "--admin?)") from None
    except OSError as exc:
        raise Unreachable(f"cannot reach {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise Unreachable(f"{path} is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise Unreachable(f"no permission to use {path}: the admin socket is its "
                                  "broker's user's only") from None
            if exc.errno == errno.ECONNREFUSED:
                raise Unreachable(f"nothing is listening on {path} (a broker that was "
                                  "killed left it: is one running?)") from None
            raise Unreachable(f"cannot reach {path}: {exc.strerror}") from None


def exit_code(reply: dict[str, Any]) -> int:
    if not reply["ok"]:
        return REFUSED
    return OK if reply.get("healthy", True) else REFUSED


def as_json(reply: dict[str, Any]) -> str:
    """The reply for scripts: one line of JSON, ASCII only (no raw control characters)."""
    return json.dumps(reply, sort_keys=True)


def shown(request: AdminRequest, reply: dict[str, Any]) -> str:
    """The reply for people (a refusal: see `refusal`)."""
    op = request.op
    if op == "status":
        return _status(reply)
    if op == "who":
        return _who(reply)
    if op == "rooms":
        return _rooms(reply)
    if op == "bans":
        return _bans(reply)
    name, room, until = _s(reply["name"]), _s(reply.get("room", "")), reply.get("until", 0)
    return {c.M_KICK: f"kicked {name}",
            c.M_BAN: f"banned {name} {_until(until)}",
            c.M_UNBAN: f"lifted the ban on {name}",
            c.M_MUTE: f"muted {name} in {room} {_until(until)}",
            c.M_UNMUTE: f"unmuted {name} in {room}"}[op]


def refusal(reply: dict[str, Any]) -> str:
    ref = f" ({_s(reply['ref'])})" if reply.get("ref") else ""
    return f"{_s(reply['code'])}: {_s(reply['detail'])}{ref}"


def _s(value: object) -> str:
    """What the broker sent, safe to print on a terminal."""
    return sanitize(str(value))


def _until(ts: float) -> str:
    return f"until {time.strftime('%Y-%m-%d %H:%M', time.localtime(ts))}" if ts else \
        "until lifted"


def _span(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours or days) + \
        [f"{minutes}m"] * bool(minutes or hours or days) + [f"{s}s"]
    return " ".join(parts)


def _status(r: dict[str, Any]) -> str:
    users, events, store, cluster = r["users"], r["events"], r["store"], r["cluster"]
    chat = "?" if users["chat"] is None else users["chat"]
    rooms = "?" if r["rooms"] is None else r["rooms"]
    lines = [
        f"zchat {_s(r['version'])} (pid {r['pid']}), up {_span(r['uptime'])}",
        f"users: {users['here']} on this broker, {chat} in the chat",
        f"rooms: {rooms}",
        f"events: {events['per_second_10s']:g}/s over 10 s, {events['per_second_60s']:g}/s "
        f"over a minute, {events['since_start']} since start",
        f"store: {_s(store['kind'])} ({_s(store['where'])}), last event {store['last_seq']}",
        "cluster: none" if cluster is None else
        f"cluster: {_s(cluster['url'])}, link {'up' if cluster['up'] else 'DOWN'}",
        "health: ok" if r["healthy"] else
        "health: NOT OK: " + "; ".join(_s(p) for p in r["problems"]),
    ]
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths,
                                                                     strict=False)),
                                row[-1]]).rstrip() for row in rows)


def _who(r: dict[str, Any]) -> str:
    where = f"in {_s(r['room'])}" if r["room"] else "online"
    head = f"{len(r['names'])} {where}" + \
        (" (this broker's only: the cluster is out of reach)" if r.get("partial") else "")
    here = {s["name"]: s for s in r["sessions"]}
    rows = []
    for name in r["names"]:
        s = here.get(name)
        if s is None:
            rows.append([_s(name), "(on another broker)", "", "", ""])
            continue
        key = f"key {s['key'][:8]}…" if s["key"] else "no key"
        rows.append([_s(name) + (" (operator)" if s["operator"] else ""),
                     _s(s["address"]) or "?", f"idle {_span(s['idle'])}", key,
                     " ".join(_s(room) for room in s["rooms"])])
    return "\n".join(filter(None, [head + (":" if rows else ""), _table(rows)]))


def _rooms(r: dict[str, Any]) -> str:
    rows = [[_s(room["room"]), str(room["members"]), _s(room["topic"])] for room in r["rooms"]]
    more = f" ({len(rows)} shown)" if r["count"] > len(rows) else ""
    return "\n".join(filter(None, [f"{r['count']} room(s){more}:", _table(rows)]))


def _bans(r: dict[str, Any]) -> str:
    if not r["count"]:
        return "no bans or mutes"
    rows = []
    for s in r["sanctions"]:
        what = _s(s["name"]) + (f" in {_s(s['room'])}" if s["room"] else "")
        held = "by key" if s["target"].startswith("k:") else "by name"
        reason = f": {_s(s['reason'])}" if s["reason"] else ""
        rows.append([s["op"], what, held, _until(s["until"]), f"by {_s(s['by'])}{reason}"])
    more = f" ({len(rows)} shown)" if r["count"] > len(rows) else ""
    return "\n".join([f"{r['count']} ban(s) and mute(s){more}:", _table(rows)])
