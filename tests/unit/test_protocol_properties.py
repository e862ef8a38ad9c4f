"""Property tests of the ZCHAT/1 codec (hypothesis).

* Whatever bytes arrive (one frame or a list of frames, random or shaped like
  ZCHAT/1 with hostile JSON inside), the four decoders return a message or raise
  exactly ``ProtocolError``, never anything else.
* Whatever they accept can be encoded again and decodes to the same message.
* ``decode(encode(m)) == m`` for valid messages of every type.
"""

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zchat.protocol import (
    Ack,
    Bye,
    Error,
    Events,
    Fetch,
    Join,
    Joined,
    Leave,
    Left,
    Message,
    Msg,
    Ping,
    Priv,
    ProtocolError,
    Say,
    Tell,
    Users,
    Welcome,
    Who,
    decode_broker,
    decode_broker_frames,
    decode_client,
    decode_client_frames,
    encode,
)
from zchat.protocol import constants as c

# No example database: a test run writes nothing into the repository.
_FAST = settings(max_examples=300, deadline=None, database=None)
_SLOW = settings(max_examples=200, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

Decoder = Callable[[bytes], Message]

CLIENT_COMMANDS = (c.JOIN, c.SAY, c.TELL, c.WHO, c.FETCH, c.LEAVE, c.PING)
BROKER_COMMANDS = (c.WELCOME, c.MSG, c.PRIV, c.JOINED, c.LEFT, c.USERS, c.ERROR, c.ACK,
                   c.EVENTS, c.BYE, c.PING)
EVENT_TYPES = (c.MSG, c.PRIV, c.JOINED, c.LEFT)
#: Every field name either direction puts on the wire.
FIELDS = ("name", "token", "resume", "text", "cid", "retry", "to", "pub", "priv", "limit",
          "session", "heartbeat", "users", "server", "resumed", "epoch", "from", "ts", "seq",
          "prev", "reason", "names", "code", "detail", "ref", "kind", "more", "lost", "events",
          "type")
ERROR_CODES = frozenset({
    c.E_BAD_SIGNATURE, c.E_VERSION, c.E_BAD_FRAME, c.E_UNKNOWN_COMMAND, c.E_NOT_JOINED,
    c.E_ALREADY_JOINED, c.E_BAD_NAME, c.E_NAME_TAKEN, c.E_BAD_PRIVATE, c.E_NO_SUCH_USER,
    c.E_EMPTY, c.E_TOO_LONG,
})


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


def _names_hold_lone_surrogate(msg: Message) -> bool:
    """Welcome.users / Users.names with a lone surrogate: the known bug below."""
    names = msg.users if isinstance(msg, Welcome) else msg.names if isinstance(msg, Users) else ()
    return any(0xD800 <= ord(ch) <= 0xDFFF for name in names for ch in name)


def _stable(decode: Decoder, msg: Message) -> None:
    """What a decoder accepted encodes again, to a frame that decodes to the same."""
    if decode is decode_broker and _names_hold_lone_surrogate(msg):
        return  # see test_lone_surrogate_in_a_name_list_is_refused (BUG)
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

_LONE_SURROGATES = st.characters(categories=["Cs"])
_ANY_CHAR = st.one_of(st.characters(), _LONE_SURROGATES)
_STRINGS = st.one_of(
    st.text(_ANY_CHAR, max_size=12),
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
_KEYS = st.one_of(st.sampled_from(FIELDS), st.text(_ANY_CHAR, max_size=6))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=5),
                     st.dictionaries(_KEYS, children, max_size=5))


_JSON = st.recursive(_SCALARS, _containers, max_leaves=16)


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


def _dump(body: Any, how: str) -> bytes:
    if how == "ascii":  # lone surrogates travel as \\udxxx escapes
        return json.dumps(body).encode("ascii")
    if how == "utf8":  # lone surrogates as raw bytes: not valid UTF-8
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(body, separators=(",", ":"), indent=None, sort_keys=False).encode()


@_SLOW
@given(st.sampled_from(CLIENT_COMMANDS + BROKER_COMMANDS), _BODIES,
       st.sampled_from(["ascii", "utf8", "compact"]))
def test_structured_garbage_decodes_or_raises_protocol_error(command: str, body: Any,
                                                             how: str) -> None:
    _check_both(c.HEADER + command.encode() + b" " + _dump(body, how))


# ---- valid messages, then one field replaced by something hostile -------------------

def _text(limit: int) -> st.SearchStrategy[str]:
    # st.text never makes lone surrogates, which encode() could not write.
    return st.text(max_size=limit)


#: The codec bounds names loosely (4 x MAX_NAME_CHARS); the broker applies the name rules.
_NAME = _text(4 * c.MAX_NAME_CHARS)
_TOKEN = _text(c.MAX_TOKEN_CHARS)
_SHORT = _text(64)
_BODY_TEXT = _text(c.MAX_TEXT_CHARS)
_SEQ = st.integers(min_value=0, max_value=c.MAX_SEQ)
_TS = st.floats(allow_nan=False, allow_infinity=False)
_HEARTBEAT = st.floats(min_value=c.MIN_HEARTBEAT, max_value=c.MAX_HEARTBEAT)
_OPT_SEQ = st.one_of(st.none(), _SEQ)

CLIENT_STRATEGIES = {
    "Join": st.builds(Join, _NAME, _TOKEN, st.booleans()),
    "Say": st.builds(Say, _BODY_TEXT, _SEQ, st.booleans()),
    "Tell": st.builds(Tell, _NAME, _BODY_TEXT, _SEQ, st.booleans()),
    "Fetch": st.builds(Fetch, _SEQ, _SEQ, st.integers(min_value=1, max_value=c.MAX_FETCH)),
    "Who": st.just(Who()),
    "Leave": st.just(Leave()),
    # Heads flow from the broker only: a client's PING decodes to a bare Ping().
    "Ping": st.just(Ping()),
}
_EVENTS = {
    "Msg": st.builds(Msg, _NAME, _BODY_TEXT, _TS, _SEQ, _SEQ),
    "Priv": st.builds(Priv, _NAME, _NAME, _BODY_TEXT, _TS, _SEQ, _SEQ),
    "Joined": st.builds(Joined, _NAME, _TS, _SEQ, _SEQ),
    "Left": st.builds(Left, _NAME, _SHORT, _TS, _SEQ, _SEQ),
}
_ANY_EVENT = st.one_of(*_EVENTS.values())
BROKER_STRATEGIES = {
    "Welcome": st.builds(Welcome, _NAME, _TOKEN, _HEARTBEAT,
                         st.lists(_NAME, max_size=8).map(tuple), _text(200), st.booleans(),
                         _SEQ, _SEQ, _TOKEN),
    **_EVENTS,
    "Users": st.builds(Users, st.lists(_NAME, max_size=8).map(tuple)),
    "Error": st.builds(Error, _SHORT, _text(300), _text(300), _SEQ),
    "Ack": st.builds(Ack, _SEQ, _SEQ, _SEQ),
    "Events": st.builds(Events, _SHORT, st.lists(_ANY_EVENT, max_size=5).map(tuple),
                        st.booleans(), _SEQ),
    "Bye": st.builds(Bye, _SHORT),
    "Ping": st.builds(Ping, _OPT_SEQ, _OPT_SEQ),
}
_ANY_VALID = st.one_of(*CLIENT_STRATEGIES.values(), *BROKER_STRATEGIES.values())


def _split(frame: bytes) -> tuple[bytes, Any]:
    head, _, raw = frame.partition(b" {")
    return head, json.loads(b"{" + raw) if raw else None


@_SLOW
@given(_ANY_VALID, st.data())
def test_valid_message_with_one_field_made_hostile(msg: Message, data: st.DataObject) -> None:
    head, body = _split(encode(msg))
    if body is None:
        body = {}
    target = body
    if body.get("events") and data.draw(st.booleans()):
        target = data.draw(st.sampled_from(body["events"]))  # inside one event
    key = data.draw(st.one_of(st.sampled_from(sorted(target)), st.sampled_from(FIELDS))
                    if target else st.sampled_from(FIELDS))
    if data.draw(st.booleans(), label="delete") and key in target:
        del target[key]
    else:
        target[key] = data.draw(_JSON, label="value")
    how = data.draw(st.sampled_from(["ascii", "utf8", "compact"]))
    _check_both(head + b" " + _dump(body, how))


@_FAST
@given(st.sampled_from([b"SAY", b"FETCH", b"ACK", b"MSG", b"WELCOME", b"PING", b"ERROR"]),
       st.sampled_from(FIELDS), st.integers(min_value=300, max_value=9000),
       st.sampled_from([b"", b"-", b"1.", b"1e", b"-1e"]))
def test_huge_number_literals(command: bytes, key: str, digits: int, prefix: bytes) -> None:
    # Past 4300 digits int() refuses to parse (ValueError); short of it, an
    # integer out of every range, or a float that overflows to infinity.
    number = prefix + b"9" * digits
    frame = c.HEADER + command + b' {"' + key.encode() + b'":' + number + b"}"
    _check_both(frame)


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


# ---- found by the properties above ---------------------------------------------------

# BUG: protocol/codec.py:180-184 (_names) accepts lone surrogates in Welcome.users and
# Users.names, although the codec refuses them in every other string (codec.py:121-135,
# "refused like invalid UTF-8"). The decoded message cannot be encoded again
# (UnicodeEncodeError), so the accept-then-re-encode property above has to skip it.
# Fix: in _names, also refuse any element for which
# `not v.isascii() and _SURROGATE.search(v)` holds (BAD_FRAME), like _str does.
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
