"""Property tests of the ZCHAT/1 codec (hypothesis).

* Whatever bytes arrive (one frame or a list of frames, random or shaped like
  ZCHAT/1 with hostile JSON inside), the four decoders return a message or raise
  exactly ``ProtocolError``, never anything else.
* Whatever they accept can be encoded again and decodes to the same message.
* ``decode(encode(m)) == m`` for valid messages of every type.
"""

import dataclasses
import json
from collections.abc import Callable
from typing import Any, get_args, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zchat.protocol import (
    Ack,
    Acks,
    BrokerMessage,
    ClientMessage,
    DmList,
    Event,
    Events,
    History,
    Message,
    Moderate,
    Moderated,
    Msg,
    Ping,
    ProtocolError,
    RoomInfo,
    RoomList,
    Search,
    Unread,
    UnreadList,
    decode_broker,
    decode_broker_frames,
    decode_client,
    decode_client_frames,
    encode,
    encode_events,
    encode_live,
    encode_msg,
    event_item,
    live_item,
)
from zchat.protocol import constants as c
from zchat.protocol.codec import _FROM_CLIENT, _loads
from zchat.protocol.codec import _decode as _general_decode

# No example database: a test run writes nothing into the repository.
_FAST = settings(max_examples=300, deadline=None, database=None)
_SLOW = settings(max_examples=200, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

Decoder = Callable[[bytes], Message]

CLIENT_COMMANDS = tuple(sorted({cls.command for cls in get_args(ClientMessage)}))
BROKER_COMMANDS = tuple(sorted({cls.command for cls in get_args(BrokerMessage)}))
EVENT_TYPES = tuple(sorted(cls.command for cls in get_args(Event)))
#: Every field name either direction puts on the wire ("sender" travels as "from";
#: an event inside EVENTS carries its command as "type").
FIELDS = tuple(sorted({f.name for cls in get_args(Message) for f in dataclasses.fields(cls)}
                      | {"from", "type"}))
ERROR_CODES = frozenset(v for k, v in vars(c).items() if k.startswith("E_"))


def _decode_or_refuse(decode: Callable[[Any], Message], data: Any) -> Message | None:
    """The decoded message, or None after a well-formed ProtocolError.

    Any other exception propagates and fails the test with its traceback.
    """
    try:
        msg = decode(data)
    except ProtocolError as exc:
        assert type(exc) is ProtocolError
        assert exc.code in ERROR_CODES, exc.code
        assert isinstance(exc.detail, str) and isinstance(exc.ref, str)
        assert isinstance(exc.cid, int) and 0 <= exc.cid <= c.MAX_SEQ
        return None
    assert type(msg).command in (CLIENT_COMMANDS if decode in (decode_client,
                                                               decode_client_frames)
                                 else BROKER_COMMANDS)
    return msg


def _stable(decode: Decoder, msg: Message) -> None:
    """What a decoder accepted encodes again, to a frame that decodes to the same."""
    assert decode(encode(msg)) == msg


def _check(decode: Decoder, frame: bytes) -> None:
    msg = _decode_or_refuse(decode, frame)
    if msg is not None:
        _stable(decode, msg)


def _check_both(frame: bytes) -> None:
    _check(decode_client, frame)
    _check(decode_broker, frame)


# ---- any bytes ----------------------------------------------------------------------

@_FAST
@given(st.binary(max_size=600))
def test_any_bytes_decode_or_raise_protocol_error(frame: bytes) -> None:
    _check_both(frame)


@_FAST
@given(st.binary(max_size=400))
def test_any_bytes_after_the_header_decode_or_raise_protocol_error(tail: bytes) -> None:
    _check_both(c.HEADER + tail)


@_FAST
@given(st.sampled_from(CLIENT_COMMANDS + BROKER_COMMANDS + ("", "FLY", "say")),
       st.binary(max_size=400))
def test_any_body_after_a_command_decodes_or_raises_protocol_error(command: str,
                                                                   body: bytes) -> None:
    _check_both(c.HEADER + command.encode() + b" " + body)


@_FAST
@given(st.lists(st.binary(max_size=200), max_size=4))
def test_any_frame_list_decodes_or_raises_protocol_error(frames: list[bytes]) -> None:
    for decode in (decode_client_frames, decode_broker_frames):
        msg = _decode_or_refuse(decode, frames)
        if len(frames) != 1:
            assert msg is None
    if len(frames) == 1:
        _check_both(frames[0])


@_SLOW
@given(st.sampled_from([(decode_client, c.MAX_FRAME_BYTES),
                        (decode_broker, c.MAX_BROKER_FRAME_BYTES)]),
       st.integers(min_value=-64, max_value=64), st.sampled_from([b"x", b"[", b"\xff", b" "]))
def test_frames_around_the_size_limit(pair: tuple[Decoder, int], delta: int,
                                      fill: bytes) -> None:
    decode, limit = pair
    head = b'ZCHAT/1 SAY {"text":"' if decode is decode_client else b'ZCHAT/1 MSG {"text":"'
    frame = head + fill * (limit + delta - len(head))
    assert _decode_or_refuse(decode, frame) is None  # not valid JSON, whatever its size
    if len(frame) > limit:
        try:
            decode(frame)
        except ProtocolError as exc:
            assert exc.code == c.E_TOO_LONG


# ---- structured garbage: the right header and command, hostile JSON -----------------

# st.text() leaves lone surrogates out whatever its alphabet, so they are joined by hand.
_WITH_SURROGATES = st.lists(st.one_of(st.characters(), st.characters(categories=["Cs"])),
                            min_size=1, max_size=12).map("".join)
_STRINGS = st.one_of(
    st.text(max_size=12),
    _WITH_SURROGATES,
    st.sampled_from(["", "ana", "Ana", "@bob", "/x", " ", "a b", "\x1b[2J", "\u202e",
                     "\ud800", "a\udfffb", "0" * 16, "x" * 65, "n" * 129, "replay", "history",
                     *EVENT_TYPES, *FIELDS]),
)
_INTS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**1000), max_value=2**1000),
    st.sampled_from([0, 1, -1, c.MAX_SEQ, c.MAX_SEQ + 1, 2**64, -(2**63), c.MAX_FETCH,
                     c.MAX_FETCH + 1, 10**300, -(10**300)]),
)
_FLOATS = st.one_of(
    st.floats(),  # nan and infinities included: json writes NaN and Infinity
    st.sampled_from([0.0, -0.0, 0.05, 0.049, 3600.0, 3600.5, 1e308, -1e308, 5e-324,
                     float("nan"), float("inf"), float("-inf")]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _STRINGS)
_KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=6), _WITH_SURROGATES)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=5),
                     st.dictionaries(_KEYS, children, max_size=5))


_JSON = st.recursive(_SCALARS, _containers, max_leaves=16)
#: One field's replacement: scalars weigh more here than in _JSON (mostly containers).
_HOSTILE_VALUE = st.one_of(_WITH_SURROGATES, _STRINGS, _INTS, _FLOATS, st.none(), st.booleans(),
                           _JSON)
#: JSON escapes (\\udxxx) mostly: raw UTF-8 only shows the decoder's UTF-8 check.
_ASCII_ONLY = st.sampled_from([True, True, True, False])


@st.composite
def _event_like(draw: st.DrawFn) -> dict[str, Any]:
    """An object shaped like an event in EVENTS, with random field values."""
    event = draw(st.dictionaries(st.sampled_from(FIELDS), _JSON, max_size=7))
    event["type"] = draw(st.one_of(st.sampled_from(EVENT_TYPES), _JSON))
    return event


_BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), _JSON, max_size=10),
    st.dictionaries(_KEYS, _JSON, max_size=6),
    st.fixed_dictionaries({"events": st.lists(_event_like(), max_size=4)},
                          optional={"kind": _JSON, "more": _JSON, "lost": _JSON}),
    _JSON,  # not an object at all
)


def _dump(body: Any, ascii_only: bool) -> bytes:
    if ascii_only:  # lone surrogates travel as \\udxxx escapes, which JSON allows
        return json.dumps(body).encode("ascii")
    # Raw UTF-8, compact; a lone surrogate becomes bytes that are not valid UTF-8.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


@_SLOW
@given(st.sampled_from(CLIENT_COMMANDS + BROKER_COMMANDS), _BODIES, _ASCII_ONLY)
def test_structured_garbage_decodes_or_raises_protocol_error(command: str, body: Any,
                                                             ascii_only: bool) -> None:
    _check_both(c.HEADER + command.encode() + b" " + _dump(body, ascii_only))


# ---- valid messages, built from the dataclasses ---------------------------------------

def _text(limit: int) -> st.SearchStrategy[str]:
    # st.text never makes lone surrogates, which encode() could not write.
    return st.text(max_size=limit)


#: The codec bounds names loosely (4 x MAX_NAME_CHARS); the broker applies the name rules.
_NAME = _text(4 * c.MAX_NAME_CHARS)
_TOKEN = _text(c.MAX_TOKEN_CHARS)
_SHORT = _text(64)
_SEQ = st.integers(min_value=0, max_value=c.MAX_SEQ)
_NAMES = st.lists(_NAME, max_size=8).map(tuple)
_RATE = st.floats(min_value=0.0, allow_infinity=False)

#: Valid values per field name; a field not named here gets one by its type.
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": _NAME, "to": _NAME, "sender": _NAME,
    "token": _TOKEN, "session": _TOKEN, "epoch": _TOKEN,
    "text": _text(c.MAX_TEXT_CHARS),
    "server": _text(200), "detail": _text(300), "ref": _text(300),
    "limit": st.integers(min_value=1, max_value=c.MAX_FETCH),
    "heartbeat": st.floats(min_value=c.MIN_HEARTBEAT, max_value=c.MAX_HEARTBEAT),
    "ts": st.floats(allow_nan=False, allow_infinity=False),
    "users": _NAMES, "names": _NAMES,
    "rate": _RATE, "byte_rate": _RATE,
    "fanout": st.sampled_from([c.FANOUT_ROUTER, c.FANOUT_PUB]),
    "feeds": st.lists(st.sampled_from(["tcp://*:5556", "ipc:///tmp/zchat.sock.feed"]),
                      max_size=2).map(tuple),
}
#: Room names are bounded loosely too (the broker applies the rules); "" is the default room.
_ROOM_NAME = _text(4 * c.MAX_NAME_CHARS + 1)
#: Room -> cursor or head objects (FETCH, PING, WELCOME): distinct rooms, as JSON keys are.
_CURSORS = st.dictionaries(_ROOM_NAME, _SEQ, max_size=4).map(lambda d: tuple(d.items()))
_FIELD_VALUES.update({
    "room": _ROOM_NAME, "topic": _text(c.MAX_TOPIC_CHARS), "by": _NAME,
})
_BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    str: _SHORT, int: _SEQ, bool: st.booleans(), int | None: st.one_of(st.none(), _SEQ),
    float: st.floats(allow_nan=False, allow_infinity=False),
    tuple[tuple[str, int], ...]: _CURSORS,
}


def _valid(cls: type, **override: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid instances of one message dataclass, every field filled."""
    hints = get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        for table in (override, _FIELD_VALUES):
            if field.name in table:
                values[field.name] = table[field.name]
                break
        else:
            values[field.name] = _BY_TYPE[hints[field.name]]
    return st.builds(cls, **values)


_EVENTS = {cls: _valid(cls) for cls in get_args(Event)}
_ANY_EVENT = st.one_of(*_EVENTS.values())
CLIENT_STRATEGIES = {cls: _valid(cls) for cls in get_args(ClientMessage)}
# Heads flow from the broker only: a client's PING decodes to a bare Ping().
CLIENT_STRATEGIES[Ping] = st.just(Ping())
CLIENT_STRATEGIES[Search] = st.builds(
    Search, _text(c.MAX_SEARCH_CHARS), _NAME | st.just(""), _ROOM_NAME | st.just(""),
    _NAME | st.just(""), _SEQ | st.none(),
    st.integers(min_value=1, max_value=c.MAX_SEARCH_HITS))
# HISTORY: at most one of before, after and around.
# ... of a room, or (``peer``, with room "") of a private conversation.
CLIENT_STRATEGIES[History] = st.builds(
    lambda whose, at, seq, limit: History(
        whose[0], **({at: seq} if at else {}), limit=limit, peer=whose[1]),
    st.one_of(_ROOM_NAME.map(lambda room: (room, "")),
              _NAME.filter(bool).map(lambda peer: ("", peer))),
    st.sampled_from(["", "before", "after", "around"]), _SEQ,
    st.integers(min_value=1, max_value=c.MAX_HISTORY_PAGE))
_ROOM_INFOS = st.lists(st.builds(RoomInfo, _ROOM_NAME, _SEQ, _text(c.MAX_TOPIC_CHARS)),
                       max_size=4).map(tuple)
CLIENT_STRATEGIES[Moderate] = st.builds(
    Moderate, st.sampled_from(sorted(c.MOD_OPS)), _NAME, _ROOM_NAME,
    st.integers(min_value=0, max_value=c.MAX_MOD_SECONDS), _text(c.MAX_REASON_CHARS))
_UNREADS = st.lists(_valid(Unread, key=_ROOM_NAME, unread=_SEQ, mentions=_SEQ, last=_SEQ),
                    max_size=4).map(tuple)
_ACK_LIST = st.lists(_valid(Ack), min_size=1, max_size=5).map(tuple)
BROKER_STRATEGIES = {
    cls: _valid(cls, events=st.lists(_ANY_EVENT, max_size=5).map(tuple),
                **({"rooms": _ROOM_INFOS} if cls is RoomList else {}),
                **({"items": _UNREADS} if cls in (UnreadList, DmList) else {}),
                **({"acks": _ACK_LIST} if cls is Acks else {}),
                **({"op": _text(16), "reason": _text(c.MAX_REASON_CHARS)}
                   if cls is Moderated else {}))
    for cls in get_args(BrokerMessage)
}
_ANY_VALID = st.one_of(*CLIENT_STRATEGIES.values(), *BROKER_STRATEGIES.values())


def test_every_message_type_has_a_strategy() -> None:
    assert set(CLIENT_STRATEGIES) == set(get_args(ClientMessage))
    assert set(BROKER_STRATEGIES) == set(get_args(BrokerMessage))
    assert {cls.command for cls in CLIENT_STRATEGIES} == set(CLIENT_COMMANDS)
    assert {cls.command for cls in BROKER_STRATEGIES} == set(BROKER_COMMANDS)


# ---- valid messages, then one field replaced by something hostile -------------------

def _split(frame: bytes) -> tuple[bytes, Any]:
    head, _, raw = frame.partition(b" {")
    return head, json.loads(b"{" + raw) if raw else None


def _pick_field(msg: Message, data: st.DataObject) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The body of ``msg`` as JSON, the object in it to change (the body or one of
    its events) and a key: mostly one the message has, sometimes any field name."""
    body = _split(encode(msg))[1] or {}
    target = body
    if body.get("events") and data.draw(st.booleans(), label="in_event"):
        target = data.draw(st.sampled_from(body["events"]), label="event")
    keys = st.sampled_from(FIELDS)
    if target:
        keys = st.one_of(st.sampled_from(sorted(target)), keys)
    return body, target, data.draw(keys, label="key")


@_SLOW
@given(_ANY_VALID, st.data())
def test_valid_message_with_one_field_made_hostile(msg: Message, data: st.DataObject) -> None:
    body, target, key = _pick_field(msg, data)
    if data.draw(st.sampled_from([True, False, False]), label="delete") and key in target:
        del target[key]
    else:
        target[key] = data.draw(_HOSTILE_VALUE, label="value")
    head = c.HEADER + msg.command.encode()
    _check_both(head + b" " + _dump(body, data.draw(_ASCII_ONLY, label="ascii_only")))


def _string_slots(body: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every string in a decoded JSON body, however deep."""
    slots: list[tuple[Any, Any]] = []
    items = body.items() if isinstance(body, dict) else enumerate(body)
    for key, value in items:
        if isinstance(value, str):
            slots.append((body, key))
        elif isinstance(value, dict | list):
            slots.extend(_string_slots(value))
    return slots


@_SLOW
@given(_ANY_VALID, st.data())
def test_lone_surrogate_in_any_string_of_a_valid_message(msg: Message,
                                                         data: st.DataObject) -> None:
    # Wherever a string sits (a field, a name in a list, a field of an event),
    # a lone surrogate there is refused, or the message could not be encoded again.
    body = _split(encode(msg))[1] or {}
    slots = _string_slots(body)
    if not slots:
        return
    container, key = data.draw(st.sampled_from(slots), label="slot")
    surrogate = data.draw(st.characters(categories=["Cs"]), label="surrogate")
    at = data.draw(st.integers(0, len(container[key])), label="at")
    container[key] = container[key][:at] + surrogate + container[key][at:]
    _check_both(c.HEADER + msg.command.encode() + b" " + _dump(body, True))


@_FAST
@given(_ANY_VALID, st.data(), st.integers(min_value=300, max_value=9000),
       st.sampled_from([b"", b"-", b"1.", b"1e", b"-1e", b"0.", b"1e-"]))
def test_huge_number_in_a_valid_message(msg: Message, data: st.DataObject, digits: int,
                                        prefix: bytes) -> None:
    # Past 4300 digits int() refuses to parse (ValueError); short of it, an integer
    # out of every range, a float that overflows to infinity, or one that rounds to 0.
    body, target, key = _pick_field(msg, data)
    target[key] = "HUGE-NUMBER-HERE"
    raw = _dump(body, True).replace(b'"HUGE-NUMBER-HERE"', prefix + b"9" * digits)
    _check_both(c.HEADER + msg.command.encode() + b" " + raw)


@_FAST
@given(st.sampled_from([b"SAY", b"MSG", b"EVENTS", b"USERS"]), st.integers(1, 20_000),
       st.sampled_from([(b"[", b"]"), (b'{"text":', b"}"), (b'{"events":[', b"]}")]),
       st.booleans())
def test_deep_nesting(command: bytes, depth: int, brackets: tuple[bytes, bytes],
                      closed: bool) -> None:
    opening, closing = brackets
    body = opening * depth + (b"1" + closing * depth if closed else b"")
    _check_both(c.HEADER + command + b" " + body)


# ---- round trips ----------------------------------------------------------------------

@_SLOW
@given(st.one_of(*CLIENT_STRATEGIES.values()))
def test_client_messages_round_trip(msg: Message) -> None:
    frame = encode(msg)
    assert len(frame) <= c.MAX_FRAME_BYTES
    assert decode_client(frame) == msg
    assert decode_client_frames([frame]) == msg


@_SLOW
@given(st.one_of(*BROKER_STRATEGIES.values()))
def test_broker_messages_round_trip(msg: Message) -> None:
    frame = encode(msg)
    decoded = decode_broker(frame)
    assert decoded == msg
    assert type(decoded) is type(msg)
    assert decode_broker_frames([frame]) == msg


@_FAST
@given(st.lists(_ANY_VALID, max_size=4))
def test_valid_frames_only_decode_alone(msgs: list[Message]) -> None:
    frames = [encode(m) for m in msgs]
    for decode in (decode_client_frames, decode_broker_frames):
        decoded = _decode_or_refuse(decode, frames)
        if len(frames) != 1:
            assert decoded is None


# ---- regressions -----------------------------------------------------------------------

# A lone surrogate in a name list once decoded (protocol/codec.py, _names) into a
# message encode() could not write; every string field must refuse it like _str does.
def test_lone_surrogate_in_a_name_list_is_refused() -> None:
    for frame in (b'ZCHAT/1 USERS {"names":["ana","\\ud800"]}',
                  b'ZCHAT/1 WELCOME {"name":"ana","session":"s","heartbeat":1,'
                  b'"users":["b\\udfffob"]}'):
        try:
            msg = decode_broker(frame)
        except ProtocolError as exc:
            assert exc.code == c.E_BAD_FRAME
        else:
            raise AssertionError(f"accepted {msg!r}, which encode() cannot write")


# ---- live batches: spliced from the frames, not re-encoded ----------------------------

_PUBLIC_EVENTS = st.one_of(*(s for cls, s in _EVENTS.items() if cls.command != c.PRIV))


@_FAST
@given(st.lists(_PUBLIC_EVENTS, min_size=1, max_size=8))
def test_a_live_batch_decodes_to_its_events_in_order(events: list[Event]) -> None:
    frame = encode_live([encode(event) for event in events])
    assert decode_broker(frame) == Events(c.K_LIVE, tuple(events))
    # The same JSON as the encoder's (the splice only orders the fields differently).
    encoded = encode(Events(c.K_LIVE, tuple(events)))
    assert json.loads(frame.split(b" ", 2)[2]) == json.loads(encoded.split(b" ", 2)[2])


@_FAST
@given(st.one_of(*(s for cls, s in {**CLIENT_STRATEGIES, **BROKER_STRATEGIES}.items()
                   if cls.command not in (c.MSG, c.JOINED, c.LEFT))))
def test_only_public_event_frames_go_into_a_live_batch(msg: Message) -> None:
    try:
        live_item(encode(msg))
    except TypeError:
        return
    raise AssertionError(f"{msg!r} went into a live batch")


# ---- the hot path's shortcuts: the same bytes as the general encoder and decoder -------

@_FAST
@given(_EVENTS[Msg])
def test_encode_msg_writes_what_the_json_encoder_writes(msg: Msg) -> None:
    body = {"from": msg.sender, "text": msg.text, "ts": msg.ts, "seq": msg.seq,
            "prev": msg.prev}
    if msg.room:
        body["room"] = msg.room
    by_encoder = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert encode_msg(msg.sender, msg.text, msg.ts, msg.seq, msg.prev, msg.room) \
        == c.HEADER + b"MSG " + by_encoder


@_FAST
@given(st.floats(min_value=1e-6, max_value=1e18) | st.sampled_from(
    [1e-4, 1e-4 * (1 - 2**-52), 1e16, 1e16 * (1 - 2**-53), 1735689600.25, 0.1]))
def test_encode_msg_writes_every_timestamp_as_the_json_encoder_does(ts: float) -> None:
    by_encoder = json.dumps({"from": "a", "text": "b", "ts": ts, "seq": 1, "prev": 0},
                            separators=(",", ":")).encode()
    assert encode_msg("a", "b", ts, 1, 0) == c.HEADER + b"MSG " + by_encoder


@_FAST
@given(st.sampled_from([c.K_HISTORY, c.K_REPLAY, c.K_LIVE]),
       st.lists(_ANY_EVENT, max_size=6), st.booleans(), _SEQ)
def test_a_page_built_from_event_items_is_what_the_encoder_writes(kind: str, events: list[Event],
                                                                  more: bool, lost: int) -> None:
    frame = encode_events(kind, [event_item(event) for event in events], more, lost)
    assert frame == encode(Events(kind, tuple(events), more, lost))


@_FAST
@given(_ANY_EVENT)
def test_an_event_item_is_the_object_an_events_frame_holds(event: Event) -> None:
    item = event_item(event)
    assert json.loads(item) == dict(_split(encode(event))[1], type=event.command)
    assert item in encode(Events(c.K_REPLAY, (event,)))


@_FAST
@given(st.one_of(st.text(max_size=60),
                 st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=8),
                              lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                              max_leaves=8).map(json.dumps),
                 st.tuples(st.sampled_from(["", " ", "\ufeff", "\n\t"]),
                           st.sampled_from(['{"cid":1}', '[1,2]', '"x"', "NaN", "{"]),
                           st.sampled_from(["", " ", "\r\n", "x", "}", " 1"])).map("".join)))
def test_the_decoder_shortcut_reads_what_json_loads_reads(text: str) -> None:
    def outcome(loads: Callable[[str], Any]) -> str:
        try:
            return "value " + repr(loads(text))
        except (ValueError, RecursionError):
            return "refused"
    def strict(text: str) -> Any:  # json.loads without Python's NaN and Infinity
        def refuse(word: str) -> Any:
            raise ValueError(word)
        return json.loads(text, parse_constant=refuse)
    assert outcome(_loads) == outcome(strict)


# ---- the SAY fast path (msgspec) against the general decoder ---------------------------

def _general(frame: bytes) -> Any:
    """What the general decoder makes of a client frame: the message, or the refusal."""
    try:
        return _general_decode(frame, _FROM_CLIENT, c.MAX_FRAME_BYTES)
    except ProtocolError as exc:
        return ("refused", exc.code, exc.ref, exc.cid, str(exc))


def _either(frame: bytes) -> Any:
    try:
        return decode_client(frame)
    except ProtocolError as exc:
        return ("refused", exc.code, exc.ref, exc.cid, str(exc))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                   max_size=3),
    max_leaves=6)
_SAY_VALUES = {
    "text": st.text(max_size=c.MAX_TEXT_CHARS + 3) | st.sampled_from(
        ["x" * c.MAX_TEXT_CHARS, "é" * c.MAX_TEXT_CHARS, "😀" * (c.MAX_TEXT_CHARS + 1), ""])
    | _JSON_VALUES,
    "cid": st.integers(min_value=-3, max_value=c.MAX_SEQ + 3) | st.sampled_from(
        [c.MAX_SEQ, c.MAX_SEQ + 1, 2**64, -(2**63), True, 1.0]) | _JSON_VALUES,
    "retry": st.booleans() | _JSON_VALUES,
    "room": st.text(max_size=140) | st.sampled_from(["#sala", "", "#" + "x" * 129])
    | _JSON_VALUES,
}


@_SLOW
@given(st.dictionaries(st.sampled_from([*_SAY_VALUES, "other"]), st.just(None), max_size=5)
       .flatmap(lambda keys: st.fixed_dictionaries(
           {k: _SAY_VALUES.get(k, _JSON_VALUES) for k in keys})),
       st.sampled_from([None, "surrogate", "nan", "trailing", "space", "duplicate"]))
def test_a_say_decodes_as_the_general_decoder_says(body: dict[str, Any], twist: str | None
                                                   ) -> None:
    """The fast path takes exactly what the general decoder takes, as the same
    message, and every other frame gets the general decoder's refusal."""
    raw = json.dumps(body, ensure_ascii=False)
    if twist == "surrogate" and '"' in raw[1:]:
        raw = raw.replace('"', '"\\ud800', 2).replace('\\ud800', '', 1)
    elif twist == "nan":
        raw = raw[:-1] + (', "x": NaN}' if len(raw) > 2 else '"x": NaN}')
    elif twist == "trailing":
        raw += " \n\t x"
    elif twist == "space":
        raw += " \r\n"
    elif twist == "duplicate" and "text" in body:
        raw = raw[:-1] + (', ' if len(raw) > 2 else '') + '"text": "twice"}'
    frame = c.HEADER + b"SAY " + raw.encode("utf-8", "surrogatepass")
    assert _either(frame) == _general(frame)


_T = c.MAX_TEXT_CHARS


@pytest.mark.parametrize("body", [
    {"text": "oi", "cid": c.MAX_SEQ}, {"text": "oi", "cid": c.MAX_SEQ + 1},
    {"text": "oi", "cid": 2**64}, {"text": "oi", "cid": -1}, {"text": "oi", "cid": True},
    {"text": "oi", "cid": 1.0}, {"text": "oi", "cid": None}, {"text": "oi", "retry": 1},
    {"text": "oi", "retry": None}, {"text": "é" * _T}, {"text": "é" * (_T + 1)},
    {"text": "😀" * _T}, {"text": "😀" * (_T + 1)}, {"text": ""}, {"text": None}, {},
    {"text": "oi", "room": "#sala"}, {"text": "oi", "room": None}, {"text": "oi", "room": ""},
    {"text": "oi", "room": "#" + "x" * 200}, {"text": "oi", "room": 5},
    {"text": ["oi"]}, {"text": "oi", "other": {"deep": [1, 2.5, None]}},
])
def test_a_say_at_each_fields_edge_decodes_as_the_general_decoder_says(body) -> None:
    frame = c.HEADER + b"SAY " + json.dumps(body, ensure_ascii=False).encode()
    assert _either(frame) == _general(frame)
