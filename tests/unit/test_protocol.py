"""ZCHAT/1 codec and name rules: round trips, a table of rejections, names."""

import subprocess
import sys

import pytest

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
    is_valid_name,
    name_key,
    name_problem,
)
from zchat.protocol import constants as c

# ---- round trips ---------------------------------------------------------------------

CLIENT_MESSAGES = [
    Join("ana"),
    Join("ana", "0123456789abcdef"),
    Join("José_Ñ", "t" * c.MAX_TOKEN_CHARS),
    Say("hello world"),
    Say("olá, ação! 漢字 😀 \"quoted\" \\ back\\slash {json}"),
    Say("x" * c.MAX_TEXT_CHARS),
    Say("é" * c.MAX_TEXT_CHARS),
    Say("line one\nline two\ttab"),
    Tell("bob", "psst"),
    Tell("Zoë", "segredo 🤫"),
    Tell("", ""),  # malformed targets are the broker's business, not the codec's
    Join("ana", resume=True),
    Join("ana", "0123456789abcdef", True),
    Say("hi", cid=1),
    Say("hi", cid=7, retry=True),
    Say("olá", cid=c.MAX_SEQ, retry=True),
    Tell("bob", "psst", cid=3),
    Tell("Zoë", "segredo", cid=4, retry=True),
    Fetch(0, 0),
    Fetch(5, 7, 1),
    Fetch(c.MAX_SEQ, c.MAX_SEQ, c.MAX_FETCH),
    Fetch(3, 0, 2),
    Who(),
    Leave(),
    Ping(),
]

BROKER_MESSAGES = [
    Welcome("ana", "s3ss10n", 1.0),
    Welcome("ana", "tok", 0.25, ("bob", "carol"), "zchat/0.1.0", False),
    Welcome("ana", "tok", c.MAX_HEARTBEAT, ("bob",), "zchat/0.1.0", True),
    Welcome("ana", "tok", c.MIN_HEARTBEAT, (), "", True),
    Msg("ana", "hi there", 1700000000.5),
    Msg("ana", "x" * c.MAX_TEXT_CHARS, 0.0),
    Priv("ana", "bob", "psst", 12.0),
    Priv("ana", "ana", "note to self", 12.25),
    Joined("bob", 1000.0),
    Left("bob", c.R_TIMEOUT, 1000.0),
    Left("bob", c.R_QUIT, 3.5),
    Users(("ana", "bob", "Zoë")),
    Users(()),
    Error(c.E_NO_SUCH_USER, "no such user online", "carol"),
    Error(c.E_EMPTY),
    Bye(c.R_SHUTDOWN),
    Bye(c.R_QUIT),
    Ping(),
    # Sequenced events, heads, acknowledgements, batches.
    Welcome("ana", "tok", 1.0, ("bob",), "zchat/0.1.0", True, 42, 7, "e1e2e3e4"),
    Welcome("ana", "tok", 1.0, pub=c.MAX_SEQ, priv=c.MAX_SEQ, epoch="x" * c.MAX_TOKEN_CHARS),
    # Flood limits announced in WELCOME.
    Welcome("ana", "tok", 1.0, rate=c.DEFAULT_RATE, burst=c.DEFAULT_BURST,
            byte_rate=c.DEFAULT_BYTE_RATE, byte_burst=c.DEFAULT_BYTE_BURST),
    Welcome("ana", "tok", 1.0, rate=0.5, burst=1, byte_rate=100.25, byte_burst=7),
    Error(c.E_RATE_LIMITED, "slow down", "", 12),
    Error(c.E_FULL, "the broker is full", "20000"),
    Error(c.E_NAME_OWNED, "this name belongs to another key", "ana"),
    Bye(c.R_FLOOD),
    Left("bob", c.R_FLOOD, 5.0, 14, 13),
    Msg("ana", "olá", 1.5, 10, 9),
    Msg("ana", "hi", 1.5, c.MAX_SEQ, c.MAX_SEQ - 1),
    Priv("ana", "bob", "psst", 2.0, 11, 3),
    Joined("bob", 3.0, 12, 10),
    Left("bob", c.R_SLOW, 4.0, 13, 12),
    Error(c.E_NO_SUCH_USER, "no such user online", "carol", 9),
    Ack(1, 10),
    Ack(5, 10, 9),
    Ack(c.MAX_SEQ, c.MAX_SEQ, c.MAX_SEQ),
    Events(c.K_HISTORY, ()),
    Events(c.K_HISTORY, (Msg("ana", "um", 1.0, 3, 2), Msg("bob", "dois 😀", 2.0, 5, 3))),
    Events(c.K_REPLAY, (
        Joined("carol", 1.0, 4, 3),
        Msg("ana", "olá", 1.5, 5, 4),
        Priv("bob", "ana", "psst", 2.0, 6, 0),
        Left("carol", c.R_TIMEOUT, 3.0, 7, 5),
    ), more=True, lost=3),
    Events(c.K_REPLAY, (Priv("ana", "ana", "note", 1.0, 1, 0),), lost=c.MAX_SEQ),
    Ping(5),
    Ping(0, 0),
    Ping(5, 3),
    Ping(None, 3),
]


@pytest.mark.parametrize("msg", CLIENT_MESSAGES, ids=repr)
def test_client_message_round_trip(msg):
    frame = encode(msg)
    assert isinstance(frame, bytes)
    assert frame.startswith(c.HEADER + msg.command.encode())
    assert decode_client(frame) == msg
    assert decode_client_frames([frame]) == msg


@pytest.mark.parametrize("msg", BROKER_MESSAGES, ids=repr)
def test_broker_message_round_trip(msg):
    frame = encode(msg)
    assert frame.startswith(c.HEADER + msg.command.encode())
    decoded = decode_broker(frame)
    assert decoded == msg
    assert type(decoded) is type(msg)
    assert decode_broker_frames([frame]) == msg


@pytest.mark.parametrize("msg", [Who(), Leave(), Ping()], ids=repr)
def test_bodyless_commands_have_no_body(msg):
    assert encode(msg) == c.HEADER + msg.command.encode()


def test_join_without_token_omits_it():
    assert encode(Join("ana")) == b'ZCHAT/1 JOIN {"name":"ana"}'
    assert encode(Join("ana", "t")) == b'ZCHAT/1 JOIN {"name":"ana","token":"t"}'


def test_optional_flags_are_omitted_unless_set():
    assert encode(Join("ana", resume=True)) == b'ZCHAT/1 JOIN {"name":"ana","resume":true}'
    assert encode(Say("hi")) == b'ZCHAT/1 SAY {"text":"hi","cid":0}'
    assert encode(Say("hi", 3, True)) == b'ZCHAT/1 SAY {"text":"hi","cid":3,"retry":true}'
    assert encode(Tell("bob", "hi", 4)) == b'ZCHAT/1 TELL {"to":"bob","text":"hi","cid":4}'
    assert encode(Error(c.E_EMPTY)) == b'ZCHAT/1 ERROR {"code":"EMPTY","detail":"","ref":""}'
    assert encode(Error(c.E_EMPTY, cid=2)).endswith(b',"cid":2}')
    assert encode(Ping(5)) == b'ZCHAT/1 PING {"pub":5}'
    assert encode(Ping(0, 0)) == b'ZCHAT/1 PING {"pub":0,"priv":0}'


def test_missing_optional_fields_take_their_defaults():
    assert decode_client(b'ZCHAT/1 SAY {"text":"hi"}') == Say("hi", 0, False)
    assert decode_client(b'ZCHAT/1 TELL {"to":"b","text":"hi"}') == Tell("b", "hi", 0, False)
    assert decode_client(b'ZCHAT/1 FETCH {"pub":1,"priv":2}') == Fetch(1, 2, c.MAX_FETCH)
    assert decode_broker(b'ZCHAT/1 MSG {"from":"a","text":"t","ts":1}') == Msg("a", "t", 1.0)
    assert decode_broker(b'ZCHAT/1 ACK {"cid":1,"seq":2}') == Ack(1, 2, 0)
    assert decode_broker(b'ZCHAT/1 EVENTS {"kind":"replay","events":[]}') == Events("replay", ())
    assert decode_broker(b"ZCHAT/1 PING") == Ping(None, None)
    welcome = b'ZCHAT/1 WELCOME {"name":"ana","session":"s","heartbeat":1}'
    assert decode_broker(welcome) == Welcome("ana", "s", 1.0, pub=0, priv=0, epoch="")


def test_client_ping_ignores_heads():
    # Heads flow from the broker only; a client PING is a bare heartbeat.
    assert decode_client(b'ZCHAT/1 PING {"pub":-1,"priv":"x"}') == Ping()


def test_text_is_utf8_not_ascii_escaped():
    assert encode(Say("olá")) == 'ZCHAT/1 SAY {"text":"olá","cid":0}'.encode()
    assert encode(Say("olá", 3, True)) == 'ZCHAT/1 SAY {"text":"olá","cid":3,"retry":true}'.encode()
    assert encode(Tell("Zoë", "ação", 2)) == \
        'ZCHAT/1 TELL {"to":"Zoë","text":"ação","cid":2}'.encode()
    assert encode(Msg("José", "olá", 1.5, 4, 3)) == \
        'ZCHAT/1 MSG {"from":"José","text":"olá","ts":1.5,"seq":4,"prev":3}'.encode()
    assert encode(Priv("José", "Zoë", "ação", 2.0, 5, 1)) == (
        'ZCHAT/1 PRIV {"from":"José","to":"Zoë","text":"ação","ts":2.0,"seq":5,"prev":1}'
        .encode())
    assert encode(Error(c.E_NO_SUCH_USER, "não há", "Zoë", 7)) == \
        'ZCHAT/1 ERROR {"code":"NO_SUCH_USER","detail":"não há","ref":"Zoë","cid":7}'.encode()
    assert encode(Welcome("José", "s", 1.0, ("Zoë",), "", False, 9, 2, "ep")) == (
        'ZCHAT/1 WELCOME {"name":"José","session":"s","heartbeat":1.0,"users":["Zoë"],'
        '"server":"","resumed":false,"pub":9,"priv":2,"epoch":"ep","rate":0.0,"burst":0,'
        '"byte_rate":0.0,"byte_burst":0}').encode()
    assert encode(Welcome("José", "s", 1.0, (), "", False, 0, 0, "", 10.0, 30, 32768.0,
                          131072)).endswith(
        b'"rate":10.0,"burst":30,"byte_rate":32768.0,"byte_burst":131072}')
    events = Events(c.K_REPLAY, (Msg("José", "olá 😀", 1.0, 3, 2), Joined("Zoë", 2.0, 4, 3),
                                 Priv("Zoë", "José", "ação", 3.0, 5, 0),
                                 Left("Zoë", c.R_QUIT, 4.0, 6, 4)), more=True, lost=2)
    assert encode(events) == (
        'ZCHAT/1 EVENTS {"kind":"replay","more":true,"lost":2,"events":['
        '{"from":"José","text":"olá 😀","ts":1.0,"seq":3,"prev":2,"type":"MSG"},'
        '{"name":"Zoë","ts":2.0,"seq":4,"prev":3,"type":"JOINED"},'
        '{"from":"Zoë","to":"José","text":"ação","ts":3.0,"seq":5,"prev":0,"type":"PRIV"},'
        '{"name":"Zoë","reason":"quit","ts":4.0,"seq":6,"prev":4,"type":"LEFT"}]}').encode()
    assert b"\\u" not in encode(events)


def test_encode_refuses_non_messages():
    with pytest.raises(TypeError):
        encode("ZCHAT/1 WHO")  # type: ignore[arg-type]


def test_decoder_tolerates_whitespace_and_extra_fields():
    frame = b'ZCHAT/1 SAY  { "text" : "hi", "extra": [1, 2] } '
    assert decode_client(frame) == Say("hi")
    frame = b'ZCHAT/1 EVENTS {"kind":"replay","x":1,"events":[{"type":"JOINED","name":"a",' \
        b'"ts":1,"seq":2,"y":null}]}'
    assert decode_broker(frame) == Events(c.K_REPLAY, (Joined("a", 1.0, 2),))
    assert decode_client(b"ZCHAT/1 WHO {}") == Who()


@pytest.mark.parametrize(("frame", "code", "ref"), [
    (b"ZCHAT/1 WHO ", c.E_BAD_FRAME, ""),  # a space, then no body
    (b"ZCHAT/1 SAY ", c.E_BAD_FRAME, ""),
    (b"ZCHAT/1 who", c.E_UNKNOWN_COMMAND, "who"),  # commands are case-sensitive
    (b"ZCHAT/1 WHO\n", c.E_UNKNOWN_COMMAND, "WHO\n"),  # nor trimmed
    (b"ZCHAT/1 ", c.E_UNKNOWN_COMMAND, ""),  # no command
    (b"ZCHAT/1  WHO", c.E_UNKNOWN_COMMAND, ""),  # two spaces before the command
])
def test_header_outside_the_grammar_gets_its_documented_error(frame, code, ref):
    with pytest.raises(ProtocolError) as caught:
        decode_client(frame)
    assert (caught.value.code, caught.value.ref) == (code, ref)


def test_frame_of_exactly_max_bytes_is_accepted():
    head = b'ZCHAT/1 SAY {"text":"hi"'
    frame = head + b" " * (c.MAX_FRAME_BYTES - len(head) - 1) + b"}"
    assert len(frame) == c.MAX_FRAME_BYTES
    assert decode_client(frame) == Say("hi")


def test_text_limit_counts_characters_not_bytes():
    text = "😀" * c.MAX_TEXT_CHARS  # 4 bytes each, still within the frame limit
    assert decode_client(encode(Say(text))) == Say(text)


# ---- rejections ----------------------------------------------------------------------

def _rejected(decode, frame) -> ProtocolError:
    """Decode ``frame`` and return the ProtocolError; anything else fails the test."""
    try:
        decode(frame)
    except ProtocolError as exc:
        assert type(exc) is ProtocolError
        return exc
    except Exception as exc:  # e.g. RecursionError, OverflowError, UnicodeError
        # pytrace=False: a deep or huge traceback must not bog down the report.
        pytest.fail(f"{type(exc).__name__} escaped the decoder: {str(exc)[:200]}",
                    pytrace=False)
    pytest.fail("no ProtocolError raised", pytrace=False)


_BIG_FRAME = b"ZCHAT/1 SAY " + b"x" * c.MAX_FRAME_BYTES
_AT_LIMIT_PLUS_ONE = b'ZCHAT/1 SAY {"text":"hi"' + b" " * (c.MAX_FRAME_BYTES - 24) + b"}"


def _msg_body(ts: bytes) -> bytes:
    return b'ZCHAT/1 MSG {"from":"ana","text":"hi","ts":' + ts + b"}"


def _welcome_body(extra: bytes) -> bytes:
    return b'ZCHAT/1 WELCOME {"name":"ana","session":"s",' + extra + b"}"


def _say(extra: bytes) -> bytes:
    return b'ZCHAT/1 SAY {"text":"hi",' + extra + b"}"


def _fetch(body: bytes) -> bytes:
    return b"ZCHAT/1 FETCH {" + body + b"}"


def _seq_msg(extra: bytes) -> bytes:
    return b'ZCHAT/1 MSG {"from":"ana","text":"hi","ts":1,' + extra + b"}"


def _events(body: bytes) -> bytes:
    return b'ZCHAT/1 EVENTS {"kind":"replay",' + body + b"}"


_TOO_BIG = str(c.MAX_SEQ + 1).encode()


CLIENT_REJECTIONS = [
    # (id, frame, code)
    ("str", "ZCHAT/1 WHO", c.E_BAD_FRAME),
    ("bytearray", bytearray(b"ZCHAT/1 WHO"), c.E_BAD_FRAME),
    ("memoryview", memoryview(b"ZCHAT/1 WHO"), c.E_BAD_FRAME),
    ("none", None, c.E_BAD_FRAME),
    ("empty", b"", c.E_BAD_SIGNATURE),
    ("no-signature", b"HELLO WORLD", c.E_BAD_SIGNATURE),
    ("lowercase-signature", b"zchat/1 WHO", c.E_BAD_SIGNATURE),
    ("signature-only", b"ZCHAT", c.E_BAD_SIGNATURE),
    ("http", b"GET / HTTP/1.1\r\n", c.E_BAD_SIGNATURE),
    ("version-2", b'ZCHAT/2 SAY {"text":"hi"}', c.E_VERSION),
    ("version-10", b"ZCHAT/10 WHO", c.E_VERSION),
    ("version-0", b"ZCHAT/0 WHO", c.E_VERSION),
    ("version-not-a-number", b"ZCHAT/x WHO", c.E_VERSION),
    ("version-01", b"ZCHAT/01 WHO", c.E_VERSION),
    ("header-without-space", b"ZCHAT/1WHO", c.E_BAD_FRAME),
    ("header-only-version", b"ZCHAT/1", c.E_BAD_FRAME),
    ("unknown-command", b"ZCHAT/1 DANCE", c.E_UNKNOWN_COMMAND),
    ("lowercase-command", b'ZCHAT/1 say {"text":"hi"}', c.E_UNKNOWN_COMMAND),
    ("empty-command", b"ZCHAT/1 ", c.E_UNKNOWN_COMMAND),
    ("broker-only-MSG", encode(Msg("ana", "hi", 1.0)), c.E_UNKNOWN_COMMAND),
    ("broker-only-WELCOME", encode(Welcome("ana", "s", 1.0)), c.E_UNKNOWN_COMMAND),
    ("broker-only-BYE", encode(Bye(c.R_QUIT)), c.E_UNKNOWN_COMMAND),
    ("broker-only-ERROR", encode(Error(c.E_EMPTY)), c.E_UNKNOWN_COMMAND),
    ("broker-only-ACK", encode(Ack(1, 2)), c.E_UNKNOWN_COMMAND),
    ("broker-only-EVENTS", encode(Events(c.K_REPLAY, ())), c.E_UNKNOWN_COMMAND),
    ("invalid-utf8", b'ZCHAT/1 SAY {"text":"\xff\xfe"}', c.E_BAD_FRAME),
    ("truncated-utf8", b'ZCHAT/1 SAY {"text":"\xc3"}', c.E_BAD_FRAME),
    ("invalid-json", b'ZCHAT/1 SAY {"text":', c.E_BAD_FRAME),
    ("not-json", b"ZCHAT/1 SAY hello", c.E_BAD_FRAME),
    ("json-list", b'ZCHAT/1 SAY ["hi"]', c.E_BAD_FRAME),
    ("json-string", b'ZCHAT/1 SAY "hi"', c.E_BAD_FRAME),
    ("json-number", b"ZCHAT/1 SAY 42", c.E_BAD_FRAME),
    ("json-null", b"ZCHAT/1 SAY null", c.E_BAD_FRAME),
    ("deep-list", b"ZCHAT/1 SAY " + b"[" * 16000, c.E_BAD_FRAME),
    ("deep-object", b"ZCHAT/1 SAY " + b'{"a":' * 3000, c.E_BAD_FRAME),
    ("deep-closed", b"ZCHAT/1 SAY " + b"[" * 5000 + b"]" * 5000, c.E_BAD_FRAME),
    ("say-missing-text", b"ZCHAT/1 SAY {}", c.E_BAD_FRAME),
    ("say-no-body", b"ZCHAT/1 SAY", c.E_BAD_FRAME),
    ("tell-missing-to", b'ZCHAT/1 TELL {"text":"hi"}', c.E_BAD_FRAME),
    ("tell-missing-text", b'ZCHAT/1 TELL {"to":"bob"}', c.E_BAD_FRAME),
    ("join-missing-name", b'ZCHAT/1 JOIN {"token":"t"}', c.E_BAD_FRAME),
    ("say-text-number", b'ZCHAT/1 SAY {"text":5}', c.E_BAD_FRAME),
    ("say-text-null", b'ZCHAT/1 SAY {"text":null}', c.E_BAD_FRAME),
    ("say-text-list", b'ZCHAT/1 SAY {"text":["hi"]}', c.E_BAD_FRAME),
    ("say-text-bool", b'ZCHAT/1 SAY {"text":true}', c.E_BAD_FRAME),
    ("join-name-number", b'ZCHAT/1 JOIN {"name":1}', c.E_BAD_FRAME),
    ("join-token-null", b'ZCHAT/1 JOIN {"name":"ana","token":null}', c.E_BAD_FRAME),
    ("join-token-too-long",
     b'ZCHAT/1 JOIN {"name":"ana","token":"' + b"t" * (c.MAX_TOKEN_CHARS + 1) + b'"}',
     c.E_BAD_FRAME),
    ("join-name-way-too-long",
     b'ZCHAT/1 JOIN {"name":"' + b"n" * (4 * c.MAX_NAME_CHARS + 1) + b'"}', c.E_BAD_NAME),
    ("tell-to-way-too-long",
     b'ZCHAT/1 TELL {"to":"' + b"n" * (4 * c.MAX_NAME_CHARS + 1) + b'","text":"x"}',
     c.E_BAD_PRIVATE),
    ("say-too-long", encode(Say("x" * (c.MAX_TEXT_CHARS + 1))), c.E_TOO_LONG),
    ("tell-too-long", encode(Tell("bob", "y" * (c.MAX_TEXT_CHARS + 1))), c.E_TOO_LONG),
    ("frame-too-big", _BIG_FRAME, c.E_TOO_LONG),
    ("frame-one-byte-over", _AT_LIMIT_PLUS_ONE, c.E_TOO_LONG),
    ("frame-too-big-garbage", b"\x00" * (c.MAX_FRAME_BYTES + 1), c.E_TOO_LONG),
    # cid, retry, resume: integers from 0 to MAX_SEQ and booleans, nothing looser.
    ("say-cid-negative", _say(b'"cid":-1'), c.E_BAD_FRAME),
    ("say-cid-float", _say(b'"cid":1.5'), c.E_BAD_FRAME),
    ("say-cid-integral-float", _say(b'"cid":1.0'), c.E_BAD_FRAME),
    ("say-cid-string", _say(b'"cid":"1"'), c.E_BAD_FRAME),
    ("say-cid-true", _say(b'"cid":true'), c.E_BAD_FRAME),
    ("say-cid-false", _say(b'"cid":false'), c.E_BAD_FRAME),
    ("say-cid-null", _say(b'"cid":null'), c.E_BAD_FRAME),
    ("say-cid-too-big", _say(b'"cid":' + _TOO_BIG), c.E_BAD_FRAME),
    ("say-retry-int", _say(b'"retry":1'), c.E_BAD_FRAME),
    ("say-retry-string", _say(b'"retry":"yes"'), c.E_BAD_FRAME),
    ("tell-cid-negative", b'ZCHAT/1 TELL {"to":"bob","text":"x","cid":-5}', c.E_BAD_FRAME),
    ("tell-cid-bool", b'ZCHAT/1 TELL {"to":"bob","text":"x","cid":true}', c.E_BAD_FRAME),
    ("tell-retry-null", b'ZCHAT/1 TELL {"to":"bob","text":"x","retry":null}', c.E_BAD_FRAME),
    ("join-resume-int", b'ZCHAT/1 JOIN {"name":"ana","resume":1}', c.E_BAD_FRAME),
    ("join-resume-string", b'ZCHAT/1 JOIN {"name":"ana","resume":"true"}', c.E_BAD_FRAME),
    # FETCH: both cursors required; limit from 1 to MAX_FETCH.
    ("fetch-no-body", b"ZCHAT/1 FETCH", c.E_BAD_FRAME),
    ("fetch-missing-pub", _fetch(b'"priv":0'), c.E_BAD_FRAME),
    ("fetch-missing-priv", _fetch(b'"pub":0'), c.E_BAD_FRAME),
    ("fetch-pub-negative", _fetch(b'"pub":-1,"priv":0'), c.E_BAD_FRAME),
    ("fetch-priv-negative", _fetch(b'"pub":0,"priv":-1'), c.E_BAD_FRAME),
    ("fetch-pub-float", _fetch(b'"pub":1.5,"priv":0'), c.E_BAD_FRAME),
    ("fetch-priv-string", _fetch(b'"pub":0,"priv":"3"'), c.E_BAD_FRAME),
    ("fetch-pub-true", _fetch(b'"pub":true,"priv":0'), c.E_BAD_FRAME),
    ("fetch-priv-false", _fetch(b'"pub":0,"priv":false'), c.E_BAD_FRAME),
    ("fetch-pub-too-big", _fetch(b'"pub":' + _TOO_BIG + b',"priv":0'), c.E_BAD_FRAME),
    ("fetch-pub-huge", _fetch(b'"pub":1' + b"0" * 400 + b',"priv":0'), c.E_BAD_FRAME),
    ("fetch-limit-above-max", _fetch(b'"pub":0,"priv":0,"limit":'
                                     + str(c.MAX_FETCH + 1).encode()), c.E_BAD_FRAME),
    ("fetch-limit-zero", _fetch(b'"pub":0,"priv":0,"limit":0'), c.E_BAD_FRAME),
    ("fetch-limit-negative", _fetch(b'"pub":0,"priv":0,"limit":-1'), c.E_BAD_FRAME),
    ("fetch-limit-float", _fetch(b'"pub":0,"priv":0,"limit":2.5'), c.E_BAD_FRAME),
    ("fetch-limit-bool", _fetch(b'"pub":0,"priv":0,"limit":true'), c.E_BAD_FRAME),
    ("fetch-limit-null", _fetch(b'"pub":0,"priv":0,"limit":null'), c.E_BAD_FRAME),
]


@pytest.mark.parametrize(("frame", "code"), [r[1:] for r in CLIENT_REJECTIONS],
                         ids=[r[0] for r in CLIENT_REJECTIONS])
def test_decode_client_rejects(frame, code):
    assert _rejected(decode_client, frame).code == code


BROKER_REJECTIONS = [
    ("empty", b"", c.E_BAD_SIGNATURE),
    ("no-signature", b"NOPE", c.E_BAD_SIGNATURE),
    ("version-2", b"ZCHAT/2 PING", c.E_VERSION),
    ("client-only-SAY", encode(Say("hi")), c.E_UNKNOWN_COMMAND),
    ("client-only-JOIN", encode(Join("ana")), c.E_UNKNOWN_COMMAND),
    ("client-only-TELL", encode(Tell("bob", "hi")), c.E_UNKNOWN_COMMAND),
    ("client-only-WHO", encode(Who()), c.E_UNKNOWN_COMMAND),
    ("client-only-LEAVE", encode(Leave()), c.E_UNKNOWN_COMMAND),
    ("client-only-FETCH", encode(Fetch(0, 0)), c.E_UNKNOWN_COMMAND),
    ("deep-list-100000", b"ZCHAT/1 MSG " + b"[" * 100_000, c.E_BAD_FRAME),
    ("deep-object", b"ZCHAT/1 MSG " + b'{"a":' * 100_000, c.E_BAD_FRAME),
    ("msg-missing-ts", b'ZCHAT/1 MSG {"from":"ana","text":"hi"}', c.E_BAD_FRAME),
    ("msg-missing-from", b'ZCHAT/1 MSG {"text":"hi","ts":1}', c.E_BAD_FRAME),
    ("msg-ts-string", _msg_body(b'"1"'), c.E_BAD_FRAME),
    ("msg-ts-null", _msg_body(b"null"), c.E_BAD_FRAME),
    ("msg-ts-true", _msg_body(b"true"), c.E_BAD_FRAME),
    ("msg-ts-false", _msg_body(b"false"), c.E_BAD_FRAME),
    ("msg-ts-nan", _msg_body(b"NaN"), c.E_BAD_FRAME),
    ("msg-ts-infinity", _msg_body(b"Infinity"), c.E_BAD_FRAME),
    ("msg-ts-minus-infinity", _msg_body(b"-Infinity"), c.E_BAD_FRAME),
    ("msg-ts-overflowing-float", _msg_body(b"1e400"), c.E_BAD_FRAME),
    ("msg-text-too-long", encode(Msg("ana", "x" * (c.MAX_TEXT_CHARS + 1), 1.0)), c.E_TOO_LONG),
    ("priv-missing-to", b'ZCHAT/1 PRIV {"from":"a","text":"x","ts":1}', c.E_BAD_FRAME),
    ("joined-ts-bool", b'ZCHAT/1 JOINED {"name":"a","ts":true}', c.E_BAD_FRAME),
    ("left-missing-reason", b'ZCHAT/1 LEFT {"name":"a","ts":1}', c.E_BAD_FRAME),
    ("users-not-list", b'ZCHAT/1 USERS {"names":"ana"}', c.E_BAD_FRAME),
    ("users-with-number", b'ZCHAT/1 USERS {"names":["ana",1]}', c.E_BAD_FRAME),
    ("error-missing-code", b'ZCHAT/1 ERROR {"detail":"x"}', c.E_BAD_FRAME),
    ("bye-missing-reason", b"ZCHAT/1 BYE {}", c.E_BAD_FRAME),
    ("welcome-heartbeat-bool", _welcome_body(b'"heartbeat":true'), c.E_BAD_FRAME),
    ("welcome-heartbeat-zero", _welcome_body(b'"heartbeat":0'), c.E_BAD_FRAME),
    ("welcome-heartbeat-too-big", _welcome_body(b'"heartbeat":3601'), c.E_BAD_FRAME),
    ("welcome-heartbeat-nan", _welcome_body(b'"heartbeat":NaN'), c.E_BAD_FRAME),
    ("welcome-resumed-string", _welcome_body(b'"heartbeat":1,"resumed":"yes"'),
     c.E_BAD_FRAME),
    ("welcome-resumed-int", _welcome_body(b'"heartbeat":1,"resumed":1'), c.E_BAD_FRAME),
    ("welcome-users-dict", _welcome_body(b'"heartbeat":1,"users":{}'), c.E_BAD_FRAME),
    ("frame-too-big", b"ZCHAT/1 PING " + b" " * c.MAX_BROKER_FRAME_BYTES, c.E_TOO_LONG),
    # seq and prev on events: integers from 0 to MAX_SEQ.
    ("msg-seq-negative", _seq_msg(b'"seq":-1'), c.E_BAD_FRAME),
    ("msg-seq-float", _seq_msg(b'"seq":2.5'), c.E_BAD_FRAME),
    ("msg-seq-integral-float", _seq_msg(b'"seq":2.0'), c.E_BAD_FRAME),
    ("msg-seq-string", _seq_msg(b'"seq":"2"'), c.E_BAD_FRAME),
    ("msg-seq-true", _seq_msg(b'"seq":true'), c.E_BAD_FRAME),
    ("msg-seq-too-big", _seq_msg(b'"seq":' + _TOO_BIG), c.E_BAD_FRAME),
    ("msg-prev-negative", _seq_msg(b'"prev":-3'), c.E_BAD_FRAME),
    ("msg-prev-bool", _seq_msg(b'"prev":false'), c.E_BAD_FRAME),
    ("priv-seq-negative", b'ZCHAT/1 PRIV {"from":"a","to":"b","text":"x","ts":1,"seq":-1}',
     c.E_BAD_FRAME),
    ("joined-prev-string", b'ZCHAT/1 JOINED {"name":"a","ts":1,"prev":"1"}', c.E_BAD_FRAME),
    ("left-seq-float", b'ZCHAT/1 LEFT {"name":"a","reason":"quit","ts":1,"seq":0.5}',
     c.E_BAD_FRAME),
    # WELCOME heads and epoch.
    ("welcome-pub-negative", _welcome_body(b'"heartbeat":1,"pub":-1'), c.E_BAD_FRAME),
    ("welcome-priv-bool", _welcome_body(b'"heartbeat":1,"priv":true'), c.E_BAD_FRAME),
    ("welcome-pub-float", _welcome_body(b'"heartbeat":1,"pub":1.5'), c.E_BAD_FRAME),
    ("welcome-epoch-number", _welcome_body(b'"heartbeat":1,"epoch":5'), c.E_BAD_FRAME),
    # WELCOME flood limits.
    ("welcome-rate-negative", _welcome_body(b'"heartbeat":1,"rate":-1'), c.E_BAD_FRAME),
    ("welcome-rate-string", _welcome_body(b'"heartbeat":1,"rate":"10"'), c.E_BAD_FRAME),
    ("welcome-byte-rate-negative", _welcome_body(b'"heartbeat":1,"byte_rate":-0.5'),
     c.E_BAD_FRAME),
    ("welcome-burst-negative", _welcome_body(b'"heartbeat":1,"burst":-1'), c.E_BAD_FRAME),
    ("welcome-burst-float", _welcome_body(b'"heartbeat":1,"burst":1.5'), c.E_BAD_FRAME),
    ("welcome-byte-burst-bool", _welcome_body(b'"heartbeat":1,"byte_burst":true'),
     c.E_BAD_FRAME),
    # ERROR cid, ACK.
    ("error-cid-negative", b'ZCHAT/1 ERROR {"code":"EMPTY","cid":-1}', c.E_BAD_FRAME),
    ("error-cid-bool", b'ZCHAT/1 ERROR {"code":"EMPTY","cid":true}', c.E_BAD_FRAME),
    ("ack-no-body", b"ZCHAT/1 ACK", c.E_BAD_FRAME),
    ("ack-missing-cid", b'ZCHAT/1 ACK {"seq":1}', c.E_BAD_FRAME),
    ("ack-missing-seq", b'ZCHAT/1 ACK {"cid":1}', c.E_BAD_FRAME),
    ("ack-cid-negative", b'ZCHAT/1 ACK {"cid":-1,"seq":1}', c.E_BAD_FRAME),
    ("ack-seq-float", b'ZCHAT/1 ACK {"cid":1,"seq":1.5}', c.E_BAD_FRAME),
    ("ack-seq-true", b'ZCHAT/1 ACK {"cid":1,"seq":true}', c.E_BAD_FRAME),
    ("ack-prev-string", b'ZCHAT/1 ACK {"cid":1,"seq":2,"prev":"1"}', c.E_BAD_FRAME),
    ("ack-seq-too-big", b'ZCHAT/1 ACK {"cid":1,"seq":' + _TOO_BIG + b"}", c.E_BAD_FRAME),
    # PING heads.
    ("ping-pub-negative", b'ZCHAT/1 PING {"pub":-1}', c.E_BAD_FRAME),
    ("ping-pub-bool", b'ZCHAT/1 PING {"pub":true}', c.E_BAD_FRAME),
    ("ping-priv-string", b'ZCHAT/1 PING {"pub":1,"priv":"2"}', c.E_BAD_FRAME),
    ("ping-priv-float", b'ZCHAT/1 PING {"priv":2.5}', c.E_BAD_FRAME),
    # EVENTS: a list of objects of known event types.
    ("events-no-body", b"ZCHAT/1 EVENTS", c.E_BAD_FRAME),
    ("events-missing-list", _events(b'"more":false'), c.E_BAD_FRAME),
    ("events-null", _events(b'"events":null'), c.E_BAD_FRAME),
    ("events-object", _events(b'"events":{}'), c.E_BAD_FRAME),
    ("events-string", _events(b'"events":"MSG"'), c.E_BAD_FRAME),
    ("events-number", _events(b'"events":3'), c.E_BAD_FRAME),
    ("events-item-number", _events(b'"events":[1]'), c.E_BAD_FRAME),
    ("events-item-string", _events(b'"events":["MSG"]'), c.E_BAD_FRAME),
    ("events-item-list", _events(b'"events":[[]]'), c.E_BAD_FRAME),
    ("events-item-null", _events(b'"events":[null]'), c.E_BAD_FRAME),
    ("events-item-no-type", _events(b'"events":[{"name":"a","ts":1}]'), c.E_BAD_FRAME),
    ("events-item-type-BYE", _events(b'"events":[{"type":"BYE","reason":"quit"}]'),
     c.E_BAD_FRAME),
    ("events-item-type-lowercase", _events(b'"events":[{"type":"msg","from":"a","text":"x",'
                                           b'"ts":1}]'), c.E_BAD_FRAME),
    ("events-item-type-number", _events(b'"events":[{"type":1}]'), c.E_BAD_FRAME),
    # BUG: an unhashable "type" escapes the decoder as TypeError (see the module docstring:
    # "nothing else escapes"); it must be a ProtocolError like any other unknown type.
    ("events-item-type-list", _events(b'"events":[{"type":[],"name":"a","ts":1}]'),
     c.E_BAD_FRAME),
    ("events-item-type-object", _events(b'"events":[{"type":{},"name":"a","ts":1}]'),
     c.E_BAD_FRAME),
    ("events-item-bad-field", _events(b'"events":[{"type":"JOINED","name":"a","ts":1,'
                                      b'"seq":-1}]'), c.E_BAD_FRAME),
    ("events-item-missing-ts", _events(b'"events":[{"type":"JOINED","name":"a"}]'),
     c.E_BAD_FRAME),
    ("events-good-then-bad", _events(b'"events":[{"type":"JOINED","name":"a","ts":1},5]'),
     c.E_BAD_FRAME),
    ("events-item-text-too-long",
     encode(Events(c.K_REPLAY, (Msg("a", "x" * (c.MAX_TEXT_CHARS + 1), 1.0),))), c.E_TOO_LONG),
    ("events-missing-kind", b'ZCHAT/1 EVENTS {"events":[]}', c.E_BAD_FRAME),
    ("events-more-string", _events(b'"events":[],"more":"yes"'), c.E_BAD_FRAME),
    ("events-more-int", _events(b'"events":[],"more":1'), c.E_BAD_FRAME),
    ("events-lost-negative", _events(b'"events":[],"lost":-1'), c.E_BAD_FRAME),
    ("events-lost-bool", _events(b'"events":[],"lost":true'), c.E_BAD_FRAME),
]


@pytest.mark.parametrize(("frame", "code"), [r[1:] for r in BROKER_REJECTIONS],
                         ids=[r[0] for r in BROKER_REJECTIONS])
def test_decode_broker_rejects(frame, code):
    assert _rejected(decode_broker, frame).code == code


# Regression: a JSON integer too big for a float (401 digits, well under the 4300-digit
# int parsing limit) once made math.isfinite raise OverflowError out of the decoder.
@pytest.mark.parametrize("frame", [
    _msg_body(b"1" + b"0" * 400),
    _msg_body(b"-1" + b"0" * 400),
    _welcome_body(b'"heartbeat":1' + b"0" * 400),
], ids=["msg-ts", "msg-ts-negative", "welcome-heartbeat"])
def test_huge_integer_number_is_protocol_error(frame):
    assert _rejected(decode_broker, frame).code == c.E_BAD_FRAME


# Regression: a JSON "\ud800" escape decodes to a lone surrogate, which once got through
# and crashed the broker with UnicodeEncodeError when it encoded MSG/PRIV/WELCOME
# (see test_core). The decoder must refuse it as BAD_FRAME.
@pytest.mark.parametrize(("decode", "frame"), [
    (decode_client, b'ZCHAT/1 SAY {"text":"\\ud800"}'),
    (decode_client, b'ZCHAT/1 TELL {"to":"bob","text":"a\\udfffb"}'),
    (decode_client, b'ZCHAT/1 JOIN {"name":"ana","token":"\\udfff"}'),
    (decode_broker, b'ZCHAT/1 MSG {"from":"\\ud83d","text":"hi","ts":1}'),
], ids=["say-text", "tell-text", "join-token", "msg-from"])
def test_lone_surrogates_are_refused(decode, frame):
    assert _rejected(decode, frame).code == c.E_BAD_FRAME


def test_deep_nesting_is_protocol_error_not_recursion_error():
    frame = b"ZCHAT/1 SAY " + b"[" * 100_000
    # Over the client limit, so it is refused by size first...
    assert _rejected(decode_client, frame).code == c.E_TOO_LONG
    # ...and the broker decoder (4 MiB limit) must parse-and-refuse it cleanly.
    assert _rejected(decode_broker, b"ZCHAT/1 MSG " + b"[" * 100_000).code == c.E_BAD_FRAME


def test_version_error_names_our_version():
    err = _rejected(decode_client, b'ZCHAT/2 SAY {"text":"hi"}')
    assert err.code == c.E_VERSION
    assert err.ref == str(c.VERSION)


def test_too_long_errors_carry_the_limit():
    err = _rejected(decode_client, encode(Say("x" * (c.MAX_TEXT_CHARS + 1))))
    assert (err.code, err.ref) == (c.E_TOO_LONG, str(c.MAX_TEXT_CHARS))
    err = _rejected(decode_client, _BIG_FRAME)
    assert (err.code, err.ref) == (c.E_TOO_LONG, str(c.MAX_FRAME_BYTES))


def test_unknown_command_ref_is_bounded_text():
    err = _rejected(decode_client, b"ZCHAT/1 " + b"X" * 100 + b" {}")
    assert err.code == c.E_UNKNOWN_COMMAND
    assert err.ref == "X" * c.MAX_COMMAND_CHARS
    err = _rejected(decode_client, b"ZCHAT/1 S\xffY")
    assert err.code == c.E_UNKNOWN_COMMAND
    assert isinstance(err.ref, str) and "\ufffd" in err.ref


@pytest.mark.parametrize("frames", [
    [],
    [b"ZCHAT/1 WHO", b"ZCHAT/1 WHO"],
    [b"ZCHAT/1 WHO", b""],
    [b"", b"", b""],
], ids=["zero", "two-valid", "valid-and-empty", "three"])
def test_frames_must_be_exactly_one(frames):
    assert _rejected(decode_client_frames, frames).code == c.E_BAD_FRAME
    assert _rejected(decode_broker_frames, frames).code == c.E_BAD_FRAME


def test_protocol_error_defaults():
    err = ProtocolError("boom")
    assert (str(err), err.detail, err.code, err.ref) == ("boom", "boom", c.E_BAD_FRAME, "")
    assert err.cid == 0


@pytest.mark.parametrize("limit", [1, 2, c.MAX_FETCH - 1, c.MAX_FETCH])
def test_fetch_limit_bounds_are_accepted(limit):
    frame = _fetch(b'"pub":0,"priv":0,"limit":' + str(limit).encode())
    assert decode_client(frame) == Fetch(0, 0, limit)


@pytest.mark.parametrize("limit", [0, -1, c.MAX_FETCH + 1])
def test_fetch_limit_out_of_bounds_is_refused_naming_the_range(limit):
    err = _rejected(decode_client, _fetch(b'"pub":0,"priv":0,"limit":' + str(limit).encode()))
    assert err.code == c.E_BAD_FRAME
    assert f"from 1 to {c.MAX_FETCH}" in err.detail
    assert err.cid == 0


# ---- the cid of a refused SAY or TELL --------------------------------------------------

_LONG_TEXT = '"' + "x" * (c.MAX_TEXT_CHARS + 1) + '"'
_LONG_TO = '"' + "n" * (4 * c.MAX_NAME_CHARS + 1) + '"'

CID_CARRIED = [
    # (id, frame, code, cid): a valid JSON body with one bad field and a readable cid.
    ("say-too-long", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":12}}', c.E_TOO_LONG, 12),
    ("say-too-long-cid-first", f'ZCHAT/1 SAY {{"cid":13,"text":{_LONG_TEXT}}}', c.E_TOO_LONG,
     13),
    ("say-too-long-retry", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":7,"retry":true}}',
     c.E_TOO_LONG, 7),
    ("say-max-cid", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":{c.MAX_SEQ}}}', c.E_TOO_LONG,
     c.MAX_SEQ),
    ("say-text-number", 'ZCHAT/1 SAY {"text":5,"cid":3}', c.E_BAD_FRAME, 3),
    ("say-text-missing", 'ZCHAT/1 SAY {"cid":4}', c.E_BAD_FRAME, 4),
    ("say-lone-surrogate", 'ZCHAT/1 SAY {"text":"\\ud800","cid":5}', c.E_BAD_FRAME, 5),
    ("say-retry-int", 'ZCHAT/1 SAY {"text":"hi","cid":6,"retry":1}', c.E_BAD_FRAME, 6),
    ("tell-text-too-long", f'ZCHAT/1 TELL {{"to":"bob","text":{_LONG_TEXT},"cid":8}}',
     c.E_TOO_LONG, 8),
    ("tell-to-too-long", f'ZCHAT/1 TELL {{"to":{_LONG_TO},"text":"hi","cid":9}}',
     c.E_BAD_PRIVATE, 9),
    ("tell-to-number", 'ZCHAT/1 TELL {"to":1,"text":"hi","cid":10}', c.E_BAD_FRAME, 10),
    ("tell-retry-null", 'ZCHAT/1 TELL {"to":"bob","text":"hi","cid":11,"retry":null}',
     c.E_BAD_FRAME, 11),
]


@pytest.mark.parametrize(("frame", "code", "cid"), [r[1:] for r in CID_CARRIED],
                         ids=[r[0] for r in CID_CARRIED])
def test_refused_say_and_tell_carry_their_cid(frame, code, cid):
    err = _rejected(decode_client, frame.encode())
    assert (err.code, err.cid) == (code, cid)


CID_NOT_CARRIED = [
    # The cid is absent, zero, or itself invalid, or the body is not a JSON object.
    ("no-cid", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT}}}', c.E_TOO_LONG),
    ("cid-zero", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":0}}', c.E_TOO_LONG),
    ("cid-negative", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":-3}}', c.E_TOO_LONG),
    ("cid-float", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":3.0}}', c.E_TOO_LONG),
    ("cid-string", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":"3"}}', c.E_TOO_LONG),
    ("cid-true", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":true}}', c.E_TOO_LONG),
    ("cid-null", f'ZCHAT/1 TELL {{"to":{_LONG_TO},"text":"hi","cid":null}}', c.E_BAD_PRIVATE),
    ("cid-too-big", f'ZCHAT/1 SAY {{"text":{_LONG_TEXT},"cid":{c.MAX_SEQ + 1}}}', c.E_TOO_LONG),
    ("cid-is-the-bad-field", 'ZCHAT/1 SAY {"text":"hi","cid":-1}', c.E_BAD_FRAME),
    ("invalid-json", 'ZCHAT/1 SAY {"text":"hi","cid":3', c.E_BAD_FRAME),
    ("json-list", 'ZCHAT/1 SAY [{"text":"hi","cid":3}]', c.E_BAD_FRAME),
    ("bad-signature", 'ZCHAT/2 SAY {"text":"hi","cid":3}', c.E_VERSION),
]


@pytest.mark.parametrize(("frame", "code"), [r[1:] for r in CID_NOT_CARRIED],
                         ids=[r[0] for r in CID_NOT_CARRIED])
def test_refusals_without_a_valid_cid_carry_none(frame, code):
    err = _rejected(decode_client, frame.encode())
    assert (err.code, err.cid) == (code, 0)


def test_frame_too_big_carries_no_cid():
    # Refused by size before the body is read, even if a cid is in it.
    err = _rejected(decode_client, b'ZCHAT/1 SAY {"cid":3,"text":"' + b"x" * c.MAX_FRAME_BYTES
                    + b'"}')
    assert (err.code, err.cid) == (c.E_TOO_LONG, 0)


def test_fatal_errors():
    assert {c.E_VERSION, c.E_BAD_NAME, c.E_NAME_TAKEN, c.E_NAME_OWNED, c.E_FULL,
            c.E_BANNED} == c.FATAL_ERRORS
    # Flood refusals are transient: the client slows down and goes on under the same name.
    assert c.E_RATE_LIMITED not in c.FATAL_ERRORS


# ---- names ---------------------------------------------------------------------------

VALID_NAMES = [
    "ana",
    "a",
    "Ana_B",
    "José",
    "Zoë",
    "北京",
    "Ωmega",
    "😀",
    "a" * c.MAX_NAME_CHARS,
    "é" * c.MAX_NAME_CHARS,
    "ana.b-c!",
    "o'neil",
    "x@y",
    "a/b",
    "[ana]",
    "123",
]

INVALID_NAMES = [
    ("", "empty"),
    ("a" * (c.MAX_NAME_CHARS + 1), "too long"),
    ("@ana", "starts with @ or /"),
    ("/ana", "starts with @ or /"),
    ("@", "starts with @ or /"),
    ("\uff20ana", "starts with @ or /"),  # FULLWIDTH COMMERCIAL AT, NFKC-folds to @
    ("\uff0fana", "starts with @ or /"),  # FULLWIDTH SOLIDUS
    ("a b", "whitespace or control character"),
    (" ana", "whitespace or control character"),
    ("ana ", "whitespace or control character"),
    ("a\tb", "whitespace or control character"),
    ("a\nb", "whitespace or control character"),
    ("a\rb", "whitespace or control character"),
    ("a\x00b", "whitespace or control character"),
    ("a\x07b", "whitespace or control character"),
    ("a\x1bb", "whitespace or control character"),
    ("a\x1b[31mb", "whitespace or control character"),
    ("a\x7fb", "whitespace or control character"),
    ("a\x9bb", "whitespace or control character"),
    ("a\u202eb", "whitespace or control character"),
    ("a\u2066b", "whitespace or control character"),
    ("a\u200bb", "whitespace or control character"),
    ("a\u200db", "whitespace or control character"),
    ("a\u00a0b", "whitespace or control character"),
    ("a\u3000b", "whitespace or control character"),
    ("a\u2028b", "whitespace or control character"),
    ("a\ud800b", "whitespace or control character"),
    ("a\ue000b", "whitespace or control character"),
    ("a\U000e0001b", "whitespace or control character"),
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(name):
    assert name_problem(name) is None
    assert is_valid_name(name) is True


@pytest.mark.parametrize(("name", "problem"), INVALID_NAMES,
                         ids=[repr(n) for n, _ in INVALID_NAMES])
def test_invalid_names(name, problem):
    assert name_problem(name) == problem
    assert is_valid_name(name) is False


@pytest.mark.parametrize(("a", "b"), [
    ("Ana", "ana"),
    ("ANA", "ana"),
    ("Ana", "ANA"),
    ("JOSÉ", "josé"),
    ("Straße", "STRASSE"),
    ("\uff46\uff55\uff4c\uff4c", "full"),  # fullwidth letters
])
def test_name_key_identifies_case_variants(a, b):
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(("a", "b"), [("ana", "anna"), ("ana", "ana_"), ("bob", "b0b")])
def test_name_key_keeps_different_names_apart(a, b):
    assert name_key(a) != name_key(b)


def test_name_key_is_lowercase_form():
    assert name_key("AnA") == "ana"


def test_protocol_does_not_import_zmq():
    code = "import sys, zchat.protocol; assert 'zmq' not in sys.modules, 'zmq imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
