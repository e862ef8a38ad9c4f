"""The language-neutral test vectors of docs/vectors/ against the reference code.

Each vector is its own test: frames (decoded or refused, and encoded), names and
their comparison keys, whitespace, token buckets, and dialogs driven through the
real broker core and batcher. The files are committed, not regenerated here
(docs/vectors/make.py writes them), so a change of the code that changes what a
vector says fails the build; and the Worked example of docs/PROTOCOL.md must be
what the dialog vectors say, line for line.

This module also holds what docs/vectors/make.py shares with it: the conversions
between messages and their JSON form, and the dialog runner.
"""

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zchat.broker.batcher import PRESENCE_WINDOW, Batcher, OnFeed, To, ToSome
from zchat.broker.core import BrokerCore, Limits
from zchat.broker.server import LIVE_BYTES
from zchat.protocol import (
    Ack,
    Acks,
    Bye,
    Enter,
    Entered,
    Error,
    Events,
    Fetch,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Message,
    Msg,
    Notice,
    Part,
    Parted,
    Ping,
    Priv,
    ProtocolError,
    RoomInfo,
    RoomList,
    Say,
    SetTopic,
    Tell,
    TopicSet,
    Users,
    Welcome,
    Who,
    decode_broker,
    decode_client,
    encode,
    is_blank,
    name_key,
    name_problem,
)
from zchat.protocol import constants as c
from zchat.protocol.names import WHITE_SPACE
from zchat.protocol.rate import TokenBucket

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "docs" / "vectors"
PAGE = ROOT / "docs" / "PROTOCOL.md"

# ---- messages <-> JSON ------------------------------------------------------------

#: The message classes by direction and command (ROOMS and TOPIC are words of both sides).
_CLASSES: dict[str, dict[str, type]] = {
    "client": {cls.command: cls for cls in (
        Join, Say, Tell, Who, Fetch, Leave, Ping, Enter, Part, ListRooms, SetTopic)},
    "broker": {cls.command: cls for cls in (
        Welcome, Msg, Priv, Joined, Left, Users, Error, Ack, Acks, Events, Bye, Notice, Ping,
        Entered, Parted, RoomList, TopicSet)},
}
_EVENT_CLASSES: dict[str, type] = {cls.command: cls for cls in (Msg, Priv, Joined, Left)}
#: Attribute names that are not the wire's field names.
_WIRE = {"sender": "from"}
_ATTR = {wire: attr for attr, wire in _WIRE.items()}


def to_json(msg: Message) -> dict[str, Any]:
    """``msg`` as {"command": ..., "fields": {...}}: every field, defaults filled in, by
    its wire name; an absent optional field without a default (PING's) is left out.
    A ``rooms`` field is a JSON object of room -> integer, as on the wire (WELCOME,
    FETCH, PING), or a ROOMS answer's list of {name, online, topic} objects."""
    return {"command": msg.command, "fields": _fields(msg)}


def _fields(msg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(msg):
        value = getattr(msg, field.name)
        if field.name == "events":
            value = [dict(_fields(ev), type=ev.command) for ev in value]
        elif field.name == "rooms" and isinstance(msg, RoomList):
            value = [_fields(info) for info in value]
        elif field.name == "acks" and isinstance(value, tuple):  # (ACKS: its ACKs' fields)
            value = [_fields(ack) for ack in value]
        elif field.name == "rooms":
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif value is None:
            continue
        out[_WIRE.get(field.name, field.name)] = value
    return out


def from_json(data: dict[str, Any], direction: str) -> Message:
    """The message a {"command", "fields"} object describes (the inverse of `to_json`),
    sent by a ``direction`` ("client" or "broker")."""
    return _build(_CLASSES[direction][data["command"]], data["fields"])


def _build(cls: type, fields: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for wire, value in fields.items():
        if wire == "events":
            value = tuple(_build(_EVENT_CLASSES[ev["type"]], {k: v for k, v in ev.items()
                                                              if k != "type"}) for ev in value)
        elif wire == "rooms" and cls is RoomList:
            value = tuple(_build(RoomInfo, info) for info in value)
        elif wire == "acks" and cls is Acks:
            value = tuple(_build(Ack, ack) for ack in value)
        elif wire == "rooms":
            value = tuple(value.items())
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[_ATTR.get(wire, wire)] = value
    return cls(**kwargs)


def frame_bytes(vector: dict[str, Any]) -> bytes:
    """A vector's frame: ``frame_hex`` when it is not UTF-8, else ``frame`` in UTF-8."""
    if "frame_hex" in vector:
        return bytes.fromhex(vector["frame_hex"])
    return vector["frame"].encode("utf-8")


def decode_result(direction: str, frame: bytes) -> dict[str, Any]:
    """What the reference decoder makes of ``frame``: {"decoded": ...} or {"error": ...}."""
    decode = decode_client if direction == "client" else decode_broker
    try:
        msg = decode(frame)
    except ProtocolError as exc:
        return {"error": {"code": exc.code, "ref": exc.ref, "cid": exc.cid}}
    return {"decoded": to_json(msg)}


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


# ---- dialogs ----------------------------------------------------------------------

FEED = "feed"


def identity(client: str) -> bytes:
    """The routing identity the runner gives a client of a dialog (any unique bytes do)."""
    return b"\x00id:" + client.encode("utf-8")


class Dialog:
    """Drives a BrokerCore and a Batcher as the server does, one step at a time, and
    records what each client is sent."""

    def __init__(self, broker: dict[str, Any]) -> None:
        clock = broker["wall_clock"]
        stamps = iter(range(1, 1 << 30))
        tokens = iter(broker.get("tokens", []))
        limits = Limits(**broker.get("limits", {}))
        self.core = BrokerCore(
            heartbeat=broker["heartbeat"], history=broker.get("history", c.DEFAULT_HISTORY),
            limits=limits, wall_clock=lambda: clock["start"] + clock["step"] * next(stamps),
            work_clock=lambda: 0.0, tokens=lambda: next(tokens), journal=lambda line: None)
        self.core.store.epoch = broker["epoch"]
        self.core.fanout = broker.get("fanout", c.FANOUT_ROUTER)
        self.core.feeds = tuple(broker.get("feeds", ()))
        self.batcher = Batcher(LIVE_BYTES, feed=self.core.fanout == c.FANOUT_PUB)
        self.names: dict[bytes, str] = {}
        self.full: set[str] = set()
        self.out: list[dict[str, Any]] = []

    def step(self, step: dict[str, Any], at: float) -> list[dict[str, Any]]:
        """Run one step (a heartbeat tick, or frames read in one poll cycle)."""
        self.out, self.full = [], set(step.get("full", ()))
        core = self.core
        if step.get("tick"):
            self._flush(core.tick(at), at)
        actions = []
        for item in step.get("in", ()):
            who = identity(item["from"])
            self.names[who] = item["from"]
            actions += core.handle(who, [frame_bytes(item)], at, "", item.get("key", ""))
        self._flush(actions, at)
        self._flush(core.serve_fetches(at), at)
        self._send(self.batcher.due(at + PRESENCE_WINDOW))  # the step's joins and leaves
        return self.out

    def _flush(self, actions: list, at: float) -> None:
        while True:  # (as the server: commit, then send)
            actions = actions + self.core.commit()
            if not actions:
                return
            self._send(self.batcher.add(actions, at))
            actions = []

    def _send(self, outs: list) -> None:
        for out in outs:
            if type(out) is To:
                self._one(out.identity, out.frame)
            elif type(out) is ToSome:
                for who in out.identities:
                    self._one(who, out.frame)
            elif type(out) is OnFeed:
                self.out.append({"to": FEED, "frame": out.frame.decode("utf-8")})
            else:
                for who in list(self.core.roster.identities()):
                    frame = out.instead.get(who, out.frame) if who in out.instead else out.frame
                    if frame is not None:
                        self._one(who, frame)

    def _one(self, who: bytes, frame: bytes) -> None:
        name = self.names[who]
        line: dict[str, Any] = {"to": name, "frame": frame.decode("utf-8")}
        if name in self.full:
            line["dropped"] = True
            self.core.lagging(who)
        self.out.append(line)


def run_dialog(dialog: dict[str, Any]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Each step's index and what the broker sent in it."""
    runner = Dialog(dialog["broker"])
    at = 0.0
    for i, step in enumerate(dialog["steps"]):
        at = step.get("at", at)
        yield i, runner.step(step, at)


def dialog_lines(dialog: dict[str, Any], shown_only: bool = False) -> list[tuple[str, str, str]]:
    """The dialog as (who, arrow, frame) lines, in the Worked example's notation."""
    lines = []
    for step in dialog["steps"]:
        if shown_only and not step.get("shown", True):
            continue
        lines += [(item["from"], "->", item["frame"]) for item in step.get("in", ())]
        lines += [(out["to"], "x-" if out.get("dropped") else "<-", out["frame"])
                  for out in step["out"]]
    return lines


_LINE = re.compile(r"^(\S+)\s+(->|<-|x-) (.*)$")


def worked_examples(page: str) -> list[list[tuple[str, str, str]]]:
    """The frame lines of each code block of the page's Worked example section."""
    section = page.split("\n## Worked example\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```\n(.*?)^```$", section, re.M | re.S)
    return [[m.groups() for m in map(_LINE.match, block.splitlines()) if m]  # type: ignore
            for block in blocks]


# ---- the tests ----------------------------------------------------------------------


def _params(name: str, key: str, ident: Callable[[dict[str, Any]], str]) -> list:
    """pytest params, one per vector of ``key`` in file ``name``, with readable ids (a
    missing file: one param that fails)."""
    if not (VECTORS / name).exists():
        return [pytest.param(None, id=f"{name}-missing")]
    return [pytest.param(v, id=ident(v)) for v in load(name)[key]]


@pytest.mark.parametrize("vector", _params("frames.json", "decode", lambda v: v["id"]))
def test_decode(vector):
    result = decode_result(vector["direction"], frame_bytes(vector))
    expected = {k: vector[k] for k in ("decoded", "error") if k in vector}
    assert result == expected


@pytest.mark.parametrize("vector", _params("frames.json", "encode", lambda v: v["id"]))
def test_encode(vector):
    msg = from_json(vector["message"], vector["direction"])
    frame = encode(msg)
    assert frame == frame_bytes(vector)
    decode = decode_client if vector["direction"] == "client" else decode_broker
    assert decode(frame) == msg  # and it reads back as the same message


def test_frame_vectors_are_unique_and_well_formed():
    frames = load("frames.json")
    ids = [v["id"] for key in ("decode", "encode") for v in frames[key]]
    assert len(ids) == len(set(ids))
    for vector in frames["decode"]:
        assert ("frame" in vector) != ("frame_hex" in vector), vector["id"]
        assert ("decoded" in vector) != ("error" in vector), vector["id"]
        assert vector["direction"] in ("client", "broker"), vector["id"]


@pytest.mark.parametrize("vector", _params("names.json", "names", lambda v: repr(v["name"])))
def test_name(vector):
    assert name_problem(vector["name"]) == vector["problem"]
    assert name_key(vector["name"]) == vector["key"]


@pytest.mark.parametrize("pair", _params("names.json", "pairs",
                                         lambda v: f"{v['a']!r}-{v['b']!r}"))
def test_name_pair(pair):
    assert name_key(pair["a"]) == pair["key_a"]
    assert name_key(pair["b"]) == pair["key_b"]
    assert (pair["key_a"] == pair["key_b"]) is pair["same"]


def test_white_space():
    listed = [chr(int(cp[2:], 16)) for cp in load("whitespace.json")["white_space"]]
    assert "".join(listed) == WHITE_SPACE
    assert len(listed) == 25


@pytest.mark.parametrize("vector", _params("whitespace.json", "texts", lambda v: repr(v["text"])))
def test_blank(vector):
    assert is_blank(vector["text"]) is vector["blank"]


@pytest.mark.parametrize("case", _params("token_bucket.json", "buckets", lambda v: v["id"]))
def test_token_bucket(case):
    bucket = TokenBucket(case["rate"], case["burst"])
    for op in case["ops"]:
        result = getattr(bucket, op["op"])(op["t"], op["n"])
        assert result == pytest.approx(op["result"], abs=1e-9), op
        assert bucket.tokens == pytest.approx(op["tokens"], abs=1e-9), op


def per_recipient(out: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A step's frames, each recipient's in order: the order between recipients means
    nothing (the batcher's cut of one live batch goes to its senders in any order)."""
    frames: dict[str, list[dict[str, Any]]] = {}
    for line in out:
        frames.setdefault(line["to"], []).append(line)
    return frames


@pytest.mark.parametrize("dialog", _params("dialogs.json", "dialogs", lambda v: v["id"]))
def test_dialog(dialog):
    for i, out in run_dialog(dialog):
        assert per_recipient(out) == per_recipient(dialog["steps"][i]["out"]), f"step {i}"


def test_worked_examples_are_dialog_vectors():
    """Every frame line of the page's Worked example is the dialog vector of that name."""
    dialogs = {d["id"]: d for d in load("dialogs.json")["dialogs"]}
    examples = worked_examples(PAGE.read_text(encoding="utf-8"))
    assert examples, "no Worked example found in docs/PROTOCOL.md"
    for n, lines in enumerate(examples, 1):
        dialog = dialogs.get(f"worked-example-{n}")
        assert dialog is not None, f"no dialog vector for the Worked example's block {n}"
        assert dialog_lines(dialog, shown_only=True) == lines, f"block {n}"
