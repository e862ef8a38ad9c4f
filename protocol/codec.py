"""Encode messages to ZCHAT/1 frames and decode frames back, with every check.

A ZCHAT/1 message is exactly one ZeroMQ frame (after the ROUTER envelope):

    "ZCHAT/1" SP COMMAND [SP JSON-object]

Decoding checks the size before anything else, then the signature, the
command, the UTF-8 and JSON of the body and each field's type and bound.
Every failure raises ``ProtocolError``; nothing else escapes.
"""

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec

from . import constants as c
from .errors import ProtocolError
from .messages import (
    Ack,
    Acks,
    BrokerMessage,
    Bye,
    ClientMessage,
    DmList,
    Enter,
    Entered,
    Error,
    Event,
    Events,
    Fetch,
    History,
    Join,
    Joined,
    Leave,
    Left,
    ListDms,
    ListRooms,
    Mark,
    Message,
    Moderate,
    Moderated,
    Msg,
    Notice,
    Part,
    Parted,
    Ping,
    Priv,
    RoomInfo,
    RoomList,
    Say,
    Search,
    SetTopic,
    Tell,
    TopicSet,
    Unread,
    UnreadList,
    Users,
    Welcome,
    Who,
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The encoder's own string quoting (C), as _dumps applies it with ensure_ascii=False.
_quote: Callable[[str], str] = json.encoder.encode_basestring


def _no_constant(word: str) -> float:
    raise ValueError(f"{word} is not JSON")


# The decoder's scanner (C): one value from a position, without json.loads' wrapping.
# NaN, Infinity and -Infinity are Python's extensions, not JSON: refused anywhere.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_MSG_TEMPLATE = (c.HEADER.decode("ascii") + c.MSG
                 + ' {"from":%s,"text":%s,"ts":%r,"seq":%d,"prev":%d}')
_ROOM_MSG_TEMPLATE = _MSG_TEMPLATE[:-1] + ',"room":%s}'
_VERSION_PREFIX = c.SIGNATURE + b"/"
_DIGITS = re.compile(rb"\d+")


def _frame(command: str, body: dict[str, Any] | None = None) -> bytes:
    head = c.HEADER + command.encode("ascii")
    if not body:
        return head
    return head + b" " + _dumps(body).encode("utf-8")


def _event_body(ev: Event) -> dict[str, Any]:
    match ev:
        case Msg(sender, text, ts, seq, prev, room):
            return _flagged({"from": sender, "text": text, "ts": ts, "seq": seq, "prev": prev},
                            room=room)
        case Priv(sender, to, text, ts, seq, prev):
            return {"from": sender, "to": to, "text": text, "ts": ts, "seq": seq, "prev": prev}
        case Joined(name, ts, seq, prev, room):
            return _flagged({"name": name, "ts": ts, "seq": seq, "prev": prev}, room=room)
        case Left(name, reason, ts, seq, prev, room):
            return _flagged({"name": name, "reason": reason, "ts": ts, "seq": seq,
                             "prev": prev}, room=room)
    raise TypeError(f"not an event: {ev!r}")


def _unread_body(item: Unread) -> dict[str, Any]:
    return _flagged({"key": item.key, "read": item.read}, unread=item.unread,
                    mentions=item.mentions, more=item.more, last=item.last, ts=item.ts)


def _flagged(body: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """Add optional fields only when they are set, to keep frames small."""
    for key, value in flags.items():
        if value:
            body[key] = value
    return body


def encode_msg(sender: str, text: str, ts: float, seq: int, prev: int, room: str = "") -> bytes:
    """The MSG frame, without building a Msg first: the broker's hot path.

    The same bytes as the JSON encoder gives (a property test holds them
    equal), encoded in C by msgspec (a sixth of the encoder's time), or for a
    timestamp repr writes with an exponent, formatted directly."""
    if not (type(ts) is float and math.isfinite(ts) and type(seq) is int
            and type(prev) is int):  # (the encoder's other spellings: 5, NaN, true)
        return _frame(c.MSG, _flagged({"from": sender, "text": text, "ts": ts, "seq": seq,
                                       "prev": prev}, room=room))
    if 1e-4 <= ts < 1e16:  # (where repr and msgspec write a float alike: no exponent)
        if room:
            return _MSG_HEAD + _encode_struct(_RoomMsgBody(sender, text, ts, seq, prev, room))
        return _MSG_HEAD + _encode_struct(_MsgBody(sender, text, ts, seq, prev))
    if room:
        return (_ROOM_MSG_TEMPLATE % (_quote(sender), _quote(text), ts, seq, prev,
                                      _quote(room))).encode("utf-8")
    return (_MSG_TEMPLATE % (_quote(sender), _quote(text), ts, seq, prev)).encode("utf-8")


class _MsgBody(msgspec.Struct):
    """A MSG's body, encoded in C (msgspec) in the JSON encoder's exact bytes."""

    sender: str = msgspec.field(name="from")
    text: str
    ts: float
    seq: int
    prev: int


class _RoomMsgBody(msgspec.Struct):
    sender: str = msgspec.field(name="from")
    text: str
    ts: float
    seq: int
    prev: int
    room: str


_MSG_HEAD = c.HEADER + c.MSG.encode("ascii") + b" "
_encode_struct = msgspec.json.Encoder().encode


def encode_ack(cid: int, seq: int, prev: int, room: str = "") -> bytes:
    """The ACK frame (three integers: no JSON encoder needed, but for a room)."""
    if room:
        return _frame(c.ACK, {"cid": cid, "seq": seq, "prev": prev, "room": room})
    return c.HEADER + b'ACK {"cid":%d,"seq":%d,"prev":%d}' % (cid, seq, prev)


_ACK_HEAD = c.HEADER + c.ACK.encode("ascii") + b" "
_ACKS_HEAD = c.HEADER + c.ACKS.encode("ascii") + b' {"acks":['


def encode_acks(frames: Sequence[bytes]) -> bytes:
    """One ACKS frame from ACK frames (made by `encode_ack`), their bodies reused as
    they are; one frame is sent as it is. At most MAX_ACKS."""
    return frames[0] if len(frames) == 1 else _acks_frame(frames)


def _acks_frame(frames: Sequence[bytes]) -> bytes:
    skip = len(_ACK_HEAD)
    return _ACKS_HEAD + b",".join(frame[skip:] for frame in frames) + b"]}"


def live_item(frame: bytes) -> bytes:
    """A public event frame (MSG, JOINED, LEFT) as an event object of an EVENTS
    frame: its JSON body with the ``type`` field added, spliced, not re-encoded."""
    if frame.startswith(_MSG_HEAD) and frame.endswith(b"}"):  # (most: one slice, not four)
        return frame[len(_MSG_HEAD):-1] + b',"type":"MSG"}'
    command, _, body = frame[len(c.HEADER):].partition(b" ")
    if command not in _LIVE_TYPES or body[-1:] != b"}":
        raise TypeError(f"not a public event frame: {frame[:40]!r}")
    return body[:-1] + b',"type":"' + command + b'"}'


def event_item(ev: Event) -> bytes:
    """``ev`` as an event object of an EVENTS frame: the bytes `encode` puts there
    for it, made alone, so a page can be measured as it is built."""
    command, _, body = encode(ev)[len(c.HEADER):].partition(b" ")
    return body[:-1] + b',"type":"' + command + b'"}'


def encode_events(kind: str, items: Sequence[bytes], more: bool = False,
                  lost: int = 0, room: str = "") -> bytes:
    """An EVENTS frame from event objects made by `event_item` (the same bytes as
    `encode` of the Events)."""
    head = _dumps(_flagged({"kind": kind, "more": more, "lost": lost}, room=room))[:-1] \
        .encode("utf-8")
    return c.HEADER + c.EVENTS.encode("ascii") + b" " + head + b',"events":[' \
        + b",".join(items) + b"]}"


def encode_live_items(items: Sequence[bytes]) -> bytes:
    """One EVENTS frame of kind ``live`` from event objects made by `live_item`."""
    return _LIVE_HEAD + b",".join(items) + b"]}"


def encode_live(frames: Sequence[bytes]) -> bytes:
    """Several public event frames (JOINED, LEFT, MSG) as one EVENTS frame of kind
    ``live``: a broker sends N events to each of M clients as M frames, not N*M.
    The frames' bodies are reused as they are (the broker's hot path: no JSON work)."""
    return encode_live_items([live_item(frame) for frame in frames])


_LIVE_TYPES = frozenset({c.MSG.encode(), c.JOINED.encode(), c.LEFT.encode()})
_LIVE_HEAD = c.HEADER + b'EVENTS {"kind":"live","more":false,"lost":0,"events":['


def encode(msg: Message) -> bytes:
    """Return the one frame that carries ``msg``."""
    match msg:
        case Join(name, token, resume, acks):
            return _frame(c.JOIN, _flagged({"name": name}, token=token, resume=resume,
                                           acks=acks))
        case Say(text, cid, retry, room):
            return _frame(c.SAY, _flagged({"text": text, "cid": cid}, retry=retry, room=room))
        case Tell(to, text, cid, retry):
            return _frame(c.TELL, _flagged({"to": to, "text": text, "cid": cid}, retry=retry))
        case Fetch(pub, priv, limit, rooms):
            return _frame(c.FETCH, _flagged({"pub": pub, "priv": priv, "limit": limit},
                                            rooms=dict(rooms)))
        case Ping(pub, priv, rooms):
            body = {k: v for k, v in (("pub", pub), ("priv", priv)) if v is not None}
            return _frame(c.PING, _flagged(body, rooms=dict(rooms)))
        case Who(room):
            return _frame(c.WHO, _flagged({}, room=room))
        case Leave() | ListRooms() | ListDms():
            return _frame(msg.command)
        case Moderate(op, name, room, seconds, reason):
            return _frame(c.MOD, _flagged({"op": op}, name=name, room=room, seconds=seconds,
                                          reason=reason))
        case Moderated(op, by, name, room, reason, until):
            return _frame(c.MODERATED, _flagged({"op": op, "by": by}, name=name, room=room,
                                                reason=reason, until=until))
        case Mark(read):
            return _frame(c.MARK, {"read": dict(read)})
        case UnreadList(items) | DmList(items):
            return _frame(msg.command, {"items": [_unread_body(item) for item in items]})
        case Enter(room) | Part(room) | Parted(room):
            return _frame(msg.command, {"room": room})
        case SetTopic(room, text):
            return _frame(c.TOPIC, {"room": room, "text": text})
        case Search(words, sender, room, peer, before, limit):
            asked = _flagged({"words": words}, **{"from": sender, "room": room, "with": peer})
            return _frame(c.SEARCH, asked | ({} if before is None else {"before": before})
                          | {"limit": limit})
        case History(room, before, after, around, limit, peer):
            at = {key: value for key, value in
                  (("before", before), ("after", after), ("around", around))
                  if value is not None}
            whose = {"with": peer} if peer else {"room": room}
            return _frame(c.HISTORY, {**whose, **at, "limit": limit})
        case Welcome(name, session, heartbeat, users, server, resumed, pub, priv, epoch,
                     rate, burst, byte_rate, byte_burst, online, fanout, feeds, room, rooms,
                     max_rooms):
            return _frame(c.WELCOME, _flagged({
                "name": name, "session": session, "heartbeat": heartbeat,
                "users": list(users), "server": server, "resumed": resumed,
                "pub": pub, "priv": priv, "epoch": epoch, "rate": rate, "burst": burst,
                "byte_rate": byte_rate, "byte_burst": byte_burst,
            }, online=online, fanout=fanout if fanout != c.FANOUT_ROUTER else "",
                feeds=list(feeds), room=room, rooms=dict(rooms), max_rooms=max_rooms))
        case Msg(sender, text, ts, seq, prev, room):
            return encode_msg(sender, text, ts, seq, prev, room)
        case Priv() | Joined() | Left():
            return _frame(msg.command, _event_body(msg))
        case Users(names, room):
            return _frame(c.USERS, _flagged({"names": list(names)}, room=room))
        case Error(code, detail, ref, cid):
            return _frame(c.ERROR, _flagged({"code": code, "detail": detail, "ref": ref},
                                            cid=cid))
        case Ack(cid, seq, prev, room):
            return encode_ack(cid, seq, prev, room)
        case Acks(acks):
            return _acks_frame([encode_ack(a.cid, a.seq, a.prev, a.room) for a in acks])
        case Events(kind, events, more, lost, room):
            return _frame(c.EVENTS, _flagged({"kind": kind, "more": more, "lost": lost},
                                             room=room) | {
                "events": [dict(_event_body(ev), type=ev.command) for ev in events],
            })
        case Entered(room, head, topic, users, online):
            return _frame(c.ENTERED, _flagged({"room": room, "head": head}, topic=topic,
                                              users=list(users), online=online))
        case RoomList(rooms):
            return _frame(c.ROOMS, {"rooms": [_flagged({"name": r.name, "online": r.online},
                                                       topic=r.topic) for r in rooms]})
        case TopicSet(room, text, by):
            return _frame(c.TOPIC, {"room": room, "text": text, "by": by})
        case Bye(reason):
            return _frame(c.BYE, {"reason": reason})
        case Notice(code, detail):
            return _frame(c.NOTICE, {"code": code, "detail": detail})
    raise TypeError(f"not a ZCHAT/1 message: {msg!r}")


# ---- field readers: each raises ProtocolError naming the field -------------

# JSON may carry lone surrogates (\\ud800) that are not valid Unicode text and
# could not be encoded again; they are refused like invalid UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _str(body: dict[str, Any], key: str, limit: int, default: str | None = None,
         too_long: str = c.E_BAD_FRAME) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"field '{key}' must be a string")
    if len(value) > limit:
        raise ProtocolError(f"field '{key}' is longer than {limit}", too_long, str(limit))
    if not value.isascii() and _SURROGATE.search(value):
        raise ProtocolError(f"field '{key}' holds a lone surrogate")
    return value


def _num(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)  # a huge JSON integer overflows here
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise ProtocolError(f"field '{key}' must be a finite number")


def _int(body: dict[str, Any], key: str, default: int | None = None,
         limit: int = c.MAX_SEQ, low: int = 0) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= limit:
        raise ProtocolError(f"field '{key}' must be an integer from {low} to {limit}")
    return value


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    return None if body.get(key) is None else _int(body, key)


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ProtocolError(f"field '{key}' must be a boolean")
    return value


def _rate(body: dict[str, Any], key: str) -> float:
    """An optional non-negative rate (0 when absent)."""
    if key not in body:
        return 0.0
    value = _num(body, key)
    if value < 0:
        raise ProtocolError(f"field '{key}' must not be negative")
    return value


def _names(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"field '{key}' must be a list of strings")
    if any(not v.isascii() and _SURROGATE.search(v) for v in value):
        raise ProtocolError(f"field '{key}' holds a lone surrogate")
    return tuple(value)


_NAME = c.MAX_NAME_CHARS
_TEXT = c.MAX_TEXT_CHARS
# Targets and names are bounded loosely here; the broker applies the name rules.
_LOOSE = 4 * c.MAX_NAME_CHARS
_ROOM = _LOOSE + 1


def _room(body: dict[str, Any], required: bool = False) -> str:
    """A ``room`` field: required (ENTER, PART, TOPIC) or optional ("": the default room)."""
    return _str(body, "room", _ROOM, None if required else "", too_long=c.E_BAD_ROOM)


def _cursors(body: dict[str, Any], key: str, most: int = c.MAX_ROOMS_PER_USER + 1
             ) -> tuple[tuple[str, int], ...]:
    """An optional object of room -> integer (FETCH and PING ``rooms``, WELCOME's; MARK's
    ``read``, whose keys may be "@name" too)."""
    value = body.get(key, {})
    if not isinstance(value, dict) or len(value) > most:
        raise ProtocolError(f"field '{key}' must be an object of at most {most} rooms")
    pairs = []
    for room in value:
        if len(room) > _ROOM or (not room.isascii() and _SURROGATE.search(room)):
            raise ProtocolError(f"field '{key}' holds a bad room name")
        pairs.append((room, _int(value, room)))
    return tuple(pairs)

_Decoder = Callable[[dict[str, Any]], Message]

_FROM_CLIENT: dict[bytes, _Decoder] = {
    b"JOIN": lambda b: Join(_str(b, "name", _LOOSE, too_long=c.E_BAD_NAME),
                            _str(b, "token", c.MAX_TOKEN_CHARS, ""), _bool(b, "resume"),
                            _bool(b, "acks")),
    b"SAY": lambda b: Say(_str(b, "text", _TEXT, too_long=c.E_TOO_LONG), _int(b, "cid", 0),
                          _bool(b, "retry"), _room(b) if "room" in b else ""),
    b"TELL": lambda b: Tell(_str(b, "to", _LOOSE, too_long=c.E_BAD_PRIVATE),
                            _str(b, "text", _TEXT, too_long=c.E_TOO_LONG), _int(b, "cid", 0),
                            _bool(b, "retry")),
    b"FETCH": lambda b: Fetch(_int(b, "pub"), _int(b, "priv"),
                              _int(b, "limit", c.MAX_FETCH, c.MAX_FETCH, low=1),
                              _cursors(b, "rooms")),
    b"WHO": lambda b: Who(_room(b)),
    b"LEAVE": lambda b: Leave(),
    b"PING": lambda b: Ping(),
    b"ENTER": lambda b: Enter(_room(b, required=True)),
    b"PART": lambda b: Part(_room(b, required=True)),
    b"ROOMS": lambda b: ListRooms(),
    b"TOPIC": lambda b: SetTopic(_room(b, required=True),
                                 _str(b, "text", c.MAX_TOPIC_CHARS, too_long=c.E_TOO_LONG)),
    b"HISTORY": lambda b: _history(b),  # (defined below)
    b"MARK": lambda b: Mark(_cursors(b, "read", c.MAX_MARKS)),
    b"DMS": lambda b: ListDms(),
    b"MOD": lambda b: _moderate(b),  # (defined below)
    b"SEARCH": lambda b: Search(
        _str(b, "words", c.MAX_SEARCH_CHARS, too_long=c.E_BAD_SEARCH),
        _str(b, "from", _LOOSE, "", too_long=c.E_BAD_NAME), _room(b),
        _str(b, "with", _LOOSE, "", too_long=c.E_BAD_NAME), _opt_int(b, "before"),
        _int(b, "limit", c.DEFAULT_SEARCH_HITS, c.MAX_SEARCH_HITS, low=1)),
}


def _moderate(b: dict[str, Any]) -> Moderate:
    op = _str(b, "op", 16)
    if op not in c.MOD_OPS:
        raise ProtocolError(f"field 'op' must be one of {', '.join(sorted(c.MOD_OPS))}")
    return Moderate(op, _str(b, "name", _LOOSE, "", too_long=c.E_BAD_NAME), _room(b),
                    _int(b, "seconds", 0, c.MAX_MOD_SECONDS),
                    _str(b, "reason", c.MAX_REASON_CHARS, "", too_long=c.E_TOO_LONG))


def _history(b: dict[str, Any]) -> History:
    at = {key: _opt_int(b, key) for key in ("before", "after", "around")}
    if sum(value is not None for value in at.values()) > 1:
        raise ProtocolError("at most one of 'before', 'after' and 'around'")
    if ("room" in b) == ("with" in b):
        raise ProtocolError("one of 'room' and 'with'")
    peer = _str(b, "with", _LOOSE, "", too_long=c.E_BAD_NAME)
    return History("" if peer else _room(b, required=True), at["before"], at["after"],
                   at["around"], _int(b, "limit", c.MAX_HISTORY_PAGE, c.MAX_HISTORY_PAGE,
                                      low=1), peer)


def _welcome(b: dict[str, Any]) -> Welcome:
    heartbeat = _num(b, "heartbeat")
    if not c.MIN_HEARTBEAT <= heartbeat <= c.MAX_HEARTBEAT:
        raise ProtocolError("field 'heartbeat' is out of range")
    return Welcome(_str(b, "name", _LOOSE), _str(b, "session", c.MAX_TOKEN_CHARS),
                   heartbeat, _names(b, "users"), _str(b, "server", 200, ""),
                   _bool(b, "resumed"), _int(b, "pub", 0), _int(b, "priv", 0),
                   _str(b, "epoch", c.MAX_TOKEN_CHARS, ""), _rate(b, "rate"),
                   _int(b, "burst", 0), _rate(b, "byte_rate"), _int(b, "byte_burst", 0),
                   _int(b, "online", 0), _str(b, "fanout", 16, c.FANOUT_ROUTER),
                   _names(b, "feeds"), _room(b), _cursors(b, "rooms"), _int(b, "max_rooms", 0))


_BIG = c.MAX_BROKER_FRAME_BYTES

_EVENT_DECODERS: dict[str, _Decoder] = {
    c.MSG: lambda b: Msg(_str(b, "from", _LOOSE), _str(b, "text", _TEXT, too_long=c.E_TOO_LONG),
                         _num(b, "ts"), _int(b, "seq", 0), _int(b, "prev", 0), _room(b)),
    c.PRIV: lambda b: Priv(_str(b, "from", _LOOSE), _str(b, "to", _LOOSE),
                           _str(b, "text", _TEXT, too_long=c.E_TOO_LONG), _num(b, "ts"),
                           _int(b, "seq", 0), _int(b, "prev", 0)),
    c.JOINED: lambda b: Joined(_str(b, "name", _LOOSE), _num(b, "ts"), _int(b, "seq", 0),
                               _int(b, "prev", 0), _room(b)),
    c.LEFT: lambda b: Left(_str(b, "name", _LOOSE), _str(b, "reason", 64), _num(b, "ts"),
                           _int(b, "seq", 0), _int(b, "prev", 0), _room(b)),
}


def _events(b: dict[str, Any]) -> Events:
    raw = b.get("events")
    if not isinstance(raw, list):
        raise ProtocolError("field 'events' must be a list")
    events = []
    for item in raw:
        if not isinstance(item, dict):
            raise ProtocolError("each event must be an object")
        kind = item.get("type")
        decoder = _EVENT_DECODERS.get(kind) if isinstance(kind, str) else None
        if decoder is None:
            raise ProtocolError("unknown event type")
        events.append(decoder(item))
    return Events(_str(b, "kind", 64), tuple(events), _bool(b, "more"),  # type: ignore[arg-type]
                  _int(b, "lost", 0), _room(b))


def _unread_items(b: dict[str, Any]) -> tuple[Unread, ...]:
    raw = b.get("items")
    if not isinstance(raw, list) or len(raw) > c.MAX_MARKS:
        raise ProtocolError("field 'items' must be a list")
    items = []
    for item in raw:
        if not isinstance(item, dict):
            raise ProtocolError("each item must be an object")
        items.append(Unread(_str(item, "key", _ROOM), _int(item, "read", 0),
                            _int(item, "unread", 0), _int(item, "mentions", 0),
                            _bool(item, "more"), _int(item, "last", 0),
                            _num(item, "ts") if "ts" in item else 0.0))
    return tuple(items)


def _room_list(b: dict[str, Any]) -> RoomList:
    raw = b.get("rooms")
    if not isinstance(raw, list) or len(raw) > c.MAX_ROOMS_LISTED:
        raise ProtocolError("field 'rooms' must be a list of rooms")
    rooms = []
    for item in raw:
        if not isinstance(item, dict):
            raise ProtocolError("each room must be an object")
        rooms.append(RoomInfo(_str(item, "name", _ROOM), _int(item, "online", 0),
                              _str(item, "topic", c.MAX_TOPIC_CHARS, "")))
    return RoomList(tuple(rooms))


def _ack(b: dict[str, Any]) -> Ack:
    return Ack(_int(b, "cid"), _int(b, "seq"), _int(b, "prev", 0), _room(b))


def _acks(b: dict[str, Any]) -> Acks:
    raw = b.get("acks")
    if not isinstance(raw, list) or not raw or len(raw) > c.MAX_ACKS:
        raise ProtocolError(f"field 'acks' must be a list of 1 to {c.MAX_ACKS} ACKs")
    acks = []
    for item in raw:
        if not isinstance(item, dict):
            raise ProtocolError("each ACK must be an object")
        acks.append(_ack(item))
    return Acks(tuple(acks))


_FROM_BROKER: dict[bytes, _Decoder] = {
    b"WELCOME": _welcome,
    **{name.encode(): decoder for name, decoder in _EVENT_DECODERS.items()},
    b"USERS": lambda b: Users(_names(b, "names"), _room(b)),
    b"ERROR": lambda b: Error(_str(b, "code", 64), _str(b, "detail", _BIG, ""),
                              _str(b, "ref", _BIG, ""), _int(b, "cid", 0)),
    b"ACK": _ack,
    b"ACKS": _acks,
    b"EVENTS": _events,
    b"BYE": lambda b: Bye(_str(b, "reason", 64)),
    b"NOTICE": lambda b: Notice(_str(b, "code", 64), _str(b, "detail", _BIG, "")),
    b"PING": lambda b: Ping(_opt_int(b, "pub"), _opt_int(b, "priv"), _cursors(b, "rooms")),
    b"ENTERED": lambda b: Entered(_room(b, required=True), _int(b, "head"),
                                  _str(b, "topic", c.MAX_TOPIC_CHARS, ""), _names(b, "users"),
                                  _int(b, "online", 0)),
    b"PARTED": lambda b: Parted(_room(b, required=True)),
    b"ROOMS": _room_list,
    b"UNREAD": lambda b: UnreadList(_unread_items(b)),
    b"DMS": lambda b: DmList(_unread_items(b)),
    b"MODERATED": lambda b: Moderated(_str(b, "op", 16), _str(b, "by", _LOOSE),
                                      _str(b, "name", _LOOSE, ""), _room(b),
                                      _str(b, "reason", c.MAX_REASON_CHARS, ""),
                                      _num(b, "until") if "until" in b else 0.0),
    b"TOPIC": lambda b: TopicSet(_room(b, required=True), _str(b, "text", c.MAX_TOPIC_CHARS),
                                 _str(b, "by", _LOOSE)),
}


def _decode(frame: bytes, table: dict[bytes, _Decoder], limit: int) -> Message:
    if not isinstance(frame, bytes):
        raise ProtocolError("a frame must be bytes")
    if len(frame) > limit:
        raise ProtocolError(f"frame is larger than {limit} bytes", c.E_TOO_LONG, str(limit))
    if not frame.startswith(c.HEADER):
        if frame.startswith(_VERSION_PREFIX):
            version = _DIGITS.match(frame, len(_VERSION_PREFIX))
            if version is None or version.group() != str(c.VERSION).encode():
                raise ProtocolError(f"this peer speaks ZCHAT/{c.VERSION} only", c.E_VERSION,
                                    str(c.VERSION))
            raise ProtocolError("malformed header: expected 'ZCHAT/1 COMMAND'")
        raise ProtocolError("not a ZCHAT frame (missing signature)", c.E_BAD_SIGNATURE)
    command, space, raw = frame[len(c.HEADER):].partition(b" ")
    decoder = table.get(command)
    if decoder is None:
        shown = command[: c.MAX_COMMAND_CHARS].decode("ascii", "replace")
        raise ProtocolError(f"unknown command {shown!r}", c.E_UNKNOWN_COMMAND, shown)
    if raw:
        try:
            body = _loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError("body is not valid UTF-8") from None
        except (ValueError, RecursionError):
            raise ProtocolError("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ProtocolError("body must be a JSON object")
    elif space:
        raise ProtocolError("a space after the command must be followed by a JSON object")
    else:
        body = {}
    try:
        return decoder(body)
    except ProtocolError as exc:
        cid = body.get("cid")
        if command in (b"SAY", b"TELL") and isinstance(cid, int) \
                and not isinstance(cid, bool) and 0 < cid <= c.MAX_SEQ:
            exc.cid = cid
        raise


def _loads(text: str) -> Any:
    """``json.loads(text)``, for the common case without its Python wrapping:
    the C scanner from the first character, then only whitespace may follow."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:  # nothing at 0 (leading whitespace, or not JSON): the slow way
        return _DECODER.decode(text)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return value


def _one(frames: Sequence[bytes]) -> bytes:
    if len(frames) != 1:
        raise ProtocolError(f"expected 1 frame, got {len(frames)}")
    return frames[0]


class _SayBody(msgspec.Struct):
    """A SAY's body as the fast path takes it: each field's type and bound as
    `_FROM_CLIENT` checks it (unknown fields ignored, as there)."""

    text: Annotated[str, msgspec.Meta(max_length=_TEXT)]
    cid: Annotated[int, msgspec.Meta(ge=0, le=c.MAX_SEQ)] = 0
    retry: bool = False
    room: Annotated[str, msgspec.Meta(max_length=_ROOM)] = ""


_SAY_HEAD = c.HEADER + b"SAY {"
_say_body = msgspec.json.Decoder(_SayBody).decode
_new = object.__new__
#: Say's slots, set directly: its frozen dataclass __init__ (object.__setattr__ per
#: field) cost 0.50 us a message, this 0.28 (docs/PERFORMANCE.md). Say has no
#: __post_init__; the differential tests hold both paths' Says equal.
_SAY_SLOTS = tuple(vars(Say)[field].__set__ for field in ("text", "cid", "retry", "room"))


def _say(text: str, cid: int, retry: bool, room: str) -> Say:
    say = _new(Say)
    set_text, set_cid, set_retry, set_room = _SAY_SLOTS
    set_text(say, text)
    set_cid(say, cid)
    set_retry(say, retry)
    set_room(say, room)
    return say


def decode_client(frame: bytes) -> ClientMessage:
    """Decode a frame a client sent (checked against the client frame limit).

    A SAY, the message of every chat line, is decoded and checked in C (msgspec)
    when it is well formed; anything that path does not take (a refusal among
    others) goes the general way, which says exactly what is wrong with it."""
    if type(frame) is bytes and frame.startswith(_SAY_HEAD) and len(frame) <= c.MAX_FRAME_BYTES:
        try:
            body = _say_body(memoryview(frame)[len(_SAY_HEAD) - 1:])
        except (msgspec.MsgspecError, RecursionError):  # (deep nesting: the general way says)
            pass
        else:
            text, room = body.text, body.room
            if (text.isascii() or not _SURROGATE.search(text)) and \
                    (room.isascii() or not _SURROGATE.search(room)):
                return _say(text, body.cid, body.retry, room)
    return _decode(frame, _FROM_CLIENT, c.MAX_FRAME_BYTES)  # type: ignore[return-value]


def decode_broker(frame: bytes) -> BrokerMessage:
    """Decode a frame the broker sent."""
    return _decode(frame, _FROM_BROKER, c.MAX_BROKER_FRAME_BYTES)  # type: ignore[return-value]


def decode_client_frames(frames: Sequence[bytes]) -> ClientMessage:
    """Like ``decode_client`` for a whole multipart message (must be one frame)."""
    return decode_client(_one(frames))


def decode_broker_frames(frames: Sequence[bytes]) -> BrokerMessage:
    return decode_broker(_one(frames))
