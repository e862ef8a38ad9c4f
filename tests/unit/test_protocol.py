"""ZCHAT/1 codec and name rules: round trips, a table of rejections, names."""

import subprocess
import sys

import pytest

from zchat.protocol import (
    Bye,
    Error,
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


def test_text_is_utf8_not_ascii_escaped():
    assert encode(Say("olá")) == 'ZCHAT/1 SAY {"text":"olá"}'.encode()


def test_encode_refuses_non_messages():
    with pytest.raises(TypeError):
        encode("ZCHAT/1 WHO")  # type: ignore[arg-type]


def test_decoder_tolerates_whitespace_and_extra_fields():
    frame = b'ZCHAT/1 SAY  { "text" : "hi", "extra": [1, 2] } '
    assert decode_client(frame) == Say("hi")
    assert decode_client(b"ZCHAT/1 WHO {}") == Who()
    assert decode_client(b"ZCHAT/1 WHO ") == Who()


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


def test_fatal_errors():
    assert {c.E_VERSION, c.E_BAD_NAME, c.E_NAME_TAKEN} == c.FATAL_ERRORS


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
