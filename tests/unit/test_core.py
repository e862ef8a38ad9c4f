"""broker/core.py: the sans-I/O chat rules, driven with fake identities and times."""

import logging

import pytest

from zchat import __version__
from zchat.broker.core import BrokerCore, Fanout, Send
from zchat.i18n import Catalogue
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
    Say,
    Tell,
    Users,
    Welcome,
    Who,
    decode_broker,
    encode,
)
from zchat.protocol import constants as c

WALL = 1000.0
TOKEN = "s3cret-token-0123456789abcdef"  # long enough to be honoured (MIN_TOKEN_CHARS)
SERVER = f"zchat/{__version__}"
A, B, C, D = b"\x00id-a", b"\x00id-b", b"\x00id-c", b"\x00id-d"
LOGGER = "zchat.broker.core"


def _core(**kwargs) -> BrokerCore:
    return BrokerCore(heartbeat=1.0, wall_clock=lambda: WALL, **kwargs)


def _decoded(actions) -> list[tuple]:
    """("send", identity, message) or ("fanout", exclude, message) per action."""
    out = []
    for action in actions:
        if type(action) is Send:
            out.append(("send", action.identity, decode_broker(action.frame)))
        elif type(action) is Fanout:
            out.append(("fanout", action.exclude, decode_broker(action.frame)))
        else:
            raise AssertionError(f"not an action: {action!r}")
    return out


def _handle(core: BrokerCore, identity: bytes, msg, now: float = 0.0, peer: str = ""):
    return _decoded(core.handle(identity, [encode(msg)], now, peer))


def _join(core: BrokerCore, identity: bytes, name: str, now: float = 0.0, token: str = ""):
    result = _handle(core, identity, Join(name, token), now)
    assert result[0][0] == "send" and type(result[0][2]) is Welcome, result
    return result


def _assert_only_error(result, identity: bytes, code: str, ref: str | None = None) -> Error:
    assert len(result) == 1, result
    kind, target, msg = result[0]
    assert (kind, target, type(msg)) == ("send", identity, Error)
    assert msg.code == code
    if ref is not None:
        assert msg.ref == ref
    return msg


@pytest.fixture
def core() -> BrokerCore:
    return _core()


@pytest.fixture
def room() -> BrokerCore:
    """ana (A) and bob (B) joined."""
    core = _core()
    _join(core, A, "ana")
    _join(core, B, "bob")
    return core


# ---- JOIN ----------------------------------------------------------------------------

def test_first_join(core):
    result = _handle(core, A, Join("ana"), peer="10.0.0.1")
    assert len(result) == 2
    kind, target, welcome = result[0]
    assert (kind, target) == ("send", A)
    assert welcome.name == "ana"
    assert welcome.heartbeat == 1.0
    assert welcome.users == ()
    assert welcome.server == SERVER
    assert welcome.resumed is False
    assert len(welcome.session) == 32
    assert result[1] == ("fanout", A, Joined("ana", WALL))
    assert core.roster.by_identity(A).peer == "10.0.0.1"


def test_join_welcome_lists_the_others_sorted(core):
    _join(core, A, "carol")
    _join(core, B, "Bob")
    result = _handle(core, C, Join("ana"))
    assert result[0][2].users == ("Bob", "carol")
    assert result[1] == ("fanout", C, Joined("ana", WALL))
    assert core.roster.names() == ["ana", "Bob", "carol"]


def test_join_with_token_uses_it_as_session(core):
    result = _join(core, A, "ana", token=TOKEN)
    assert result[0][2].session == TOKEN


@pytest.mark.parametrize("short", ["t", "x" * (c.MIN_TOKEN_CHARS - 1)])
def test_join_with_guessable_token_gets_a_random_one(core, short):
    session = _join(core, A, "ana", token=short)[0][2].session
    assert session != short
    assert len(session) == 32
    # ...so the short token cannot take the name over later.
    _assert_only_error(_handle(core, B, Join("ana", short)), B, c.E_NAME_TAKEN, "ana")


@pytest.mark.parametrize("taken", ["ana", "ANA", "Ana", "aNA"])
def test_join_name_taken_case_insensitively(room, taken):
    result = _handle(room, C, Join(taken, "other-token"))
    _assert_only_error(result, C, c.E_NAME_TAKEN, taken)
    assert room.roster.by_identity(C) is None
    assert room.roster.by_identity(A).name == "ana"
    assert len(room.roster) == 2


def test_join_name_taken_without_token(room):
    _assert_only_error(_handle(room, C, Join("ana")), C, c.E_NAME_TAKEN, "ana")


def test_rejoin_with_same_token_rebinds(core):
    _join(core, A, "ana", token=TOKEN)
    _join(core, B, "bob")
    result = _handle(core, C, Join("ANA", TOKEN), now=5.0, peer="9.9.9.9")
    assert len(result) == 1  # no JOINED fanout: for the others ana never left
    kind, target, welcome = result[0]
    assert (kind, target) == ("send", C)
    assert welcome == Welcome("ana", TOKEN, 1.0, ("bob",), SERVER, True)
    assert core.roster.by_identity(A) is None
    session = core.roster.by_identity(C)
    assert session is core.roster.by_name("ana")
    assert (session.last_seen, session.peer) == (5.0, "9.9.9.9")
    assert len(core.roster) == 2
    # The old identity is no longer joined.
    _assert_only_error(_handle(core, A, Say("hi")), A, c.E_NOT_JOINED)


def test_rejoin_with_generated_token(core):
    token = _join(core, A, "ana")[0][2].session
    result = _handle(core, B, Join("ana", token))
    assert result == [("send", B, Welcome("ana", token, 1.0, (), SERVER, True))]


def test_rejoin_with_wrong_token_is_refused(core):
    _join(core, A, "ana", token=TOKEN)
    guess = TOKEN[:-1] + "!"
    _assert_only_error(_handle(core, B, Join("ana", guess)), B, c.E_NAME_TAKEN, "ana")
    assert core.roster.by_identity(A) is not None


def test_join_twice_from_same_identity(room):
    msg = _assert_only_error(_handle(room, A, Join("other")), A, c.E_ALREADY_JOINED)
    assert msg.ref == "ana"
    assert room.roster.by_name("other") is None


@pytest.mark.parametrize("name", ["", "a b", "@x", "/x", "x" * 33, "a\x1bb", "a\u202eb",
                                  "a\tb"], ids=repr)
def test_join_invalid_name(core, name):
    _assert_only_error(_handle(core, A, Join(name)), A, c.E_BAD_NAME, name)
    assert len(core.roster) == 0


# ---- SAY -----------------------------------------------------------------------------

def test_say_fans_out_excluding_the_sender(room):
    assert _handle(room, A, Say("olá a todos")) == [
        ("fanout", A, Msg("ana", "olá a todos", WALL))]


def test_say_is_encoded_once(room):
    actions = room.handle(A, [encode(Say("hi"))], 0.0)
    assert actions == [Fanout(encode(Msg("ana", "hi", WALL)), A)]


@pytest.mark.parametrize("text", ["", " ", "   ", "\n\t "], ids=repr)
def test_say_blank_is_empty_error(room, text):
    _assert_only_error(_handle(room, A, Say(text)), A, c.E_EMPTY)


def test_say_too_long_is_refused(room):
    _assert_only_error(_handle(room, A, Say("x" * (c.MAX_TEXT_CHARS + 1))), A, c.E_TOO_LONG,
                       str(c.MAX_TEXT_CHARS))


# ---- TELL ----------------------------------------------------------------------------

def test_tell_sends_to_target_and_echoes_to_sender(room):
    actions = room.handle(A, [encode(Tell("bob", "psst"))], 0.0)
    frame = encode(Priv("ana", "bob", "psst", WALL))
    assert actions == [Send(B, frame), Send(A, frame)]


def test_tell_target_is_case_insensitive_and_canonical(room):
    assert _handle(room, A, Tell("BOB", "psst")) == [
        ("send", B, Priv("ana", "bob", "psst", WALL)),
        ("send", A, Priv("ana", "bob", "psst", WALL)),
    ]


def test_tell_to_self_is_one_send(room):
    assert _handle(room, A, Tell("Ana", "note")) == [
        ("send", A, Priv("ana", "ana", "note", WALL))]


@pytest.mark.parametrize(("to", "text"), [
    ("", "hello"),
    ("", ""),
    ("a b", "hello"),
    ("@bob", "hello"),
    ("bob\x1b", "hello"),
    ("x" * 33, "hello"),
    ("bob", ""),
    ("bob", "   "),
], ids=repr)
def test_tell_malformed_is_bad_private_to_sender_only(room, to, text):
    _assert_only_error(_handle(room, A, Tell(to, text)), A, c.E_BAD_PRIVATE, to)


def test_tell_to_absent_user(room):
    _assert_only_error(_handle(room, A, Tell("carol", "hi")), A, c.E_NO_SUCH_USER, "carol")


def test_tell_to_user_who_left(room):
    _handle(room, B, Leave())
    _assert_only_error(_handle(room, A, Tell("bob", "hi")), A, c.E_NO_SUCH_USER, "bob")


# ---- WHO, LEAVE ----------------------------------------------------------------------

def test_who_lists_users_sorted(core):
    for ident, name in [(A, "carol"), (B, "Bob"), (C, "ana"), (D, "dave")]:
        _join(core, ident, name)
    assert _handle(core, B, Who()) == [("send", B, Users(("ana", "Bob", "carol", "dave")))]


def test_leave(room):
    assert _handle(room, A, Leave()) == [
        ("send", A, Bye(c.R_QUIT)),
        ("fanout", None, Left("ana", c.R_QUIT, WALL)),
    ]
    assert room.roster.by_identity(A) is None
    assert room.roster.by_name("ana") is None
    assert room.roster.names() == ["bob"]
    # The name is free again.
    assert _join(room, C, "ana")[1] == ("fanout", C, Joined("ana", WALL))


def test_leave_before_join_is_just_bye(core):
    assert _handle(core, A, Leave()) == [("send", A, Bye(c.R_QUIT))]


@pytest.mark.parametrize("msg", [Ping(), Say("hi"), Tell("bob", "hi"), Who()], ids=repr)
def test_commands_before_join_are_not_joined(room, msg):
    _assert_only_error(_handle(room, C, msg), C, c.E_NOT_JOINED)
    assert room.roster.by_identity(C) is None


def test_ping_from_joined_has_no_answer(room):
    assert room.handle(A, [encode(Ping())], 0.0) == []


# ---- garbage -------------------------------------------------------------------------

GARBAGE = [
    ("no-frames", [], c.E_BAD_FRAME),
    ("two-frames", [encode(Who()), encode(Who())], c.E_BAD_FRAME),
    ("empty", [b""], c.E_BAD_SIGNATURE),
    ("http", [b"GET / HTTP/1.1\r\n\r\n"], c.E_BAD_SIGNATURE),
    ("version", [b"ZCHAT/2 WHO"], c.E_VERSION),
    ("unknown", [b"ZCHAT/1 DANCE"], c.E_UNKNOWN_COMMAND),
    ("broker-command", [encode(Bye(c.R_QUIT))], c.E_UNKNOWN_COMMAND),
    ("bad-json", [b"ZCHAT/1 SAY {"], c.E_BAD_FRAME),
    ("bad-utf8", [b'ZCHAT/1 SAY {"text":"\xff"}'], c.E_BAD_FRAME),
    ("deep", [b"ZCHAT/1 SAY " + b"[" * 10_000], c.E_BAD_FRAME),
    ("too-big", [b"ZCHAT/1 SAY " + b"x" * c.MAX_FRAME_BYTES], c.E_TOO_LONG),
]


@pytest.mark.parametrize(("frames", "code"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
@pytest.mark.parametrize("sender", [A, C], ids=["joined", "stranger"])
def test_garbage_gets_one_error_and_nothing_else(room, sender, frames, code):
    result = _decoded(room.handle(sender, frames, 0.0))
    _assert_only_error(result, sender, code)
    assert room.roster.names() == ["ana", "bob"]


# Regression: lone surrogates ("\ud800" JSON escapes) were once accepted by the codec and
# then crashed the broker with UnicodeEncodeError when encoding MSG/PRIV/WELCOME.
# Expected: a single ERROR BAD_FRAME to the sender, nothing else.
@pytest.mark.parametrize("frame", [
    b'ZCHAT/1 SAY {"text":"\\ud800"}',
    b'ZCHAT/1 TELL {"to":"bob","text":"\\udc00"}',
], ids=["say", "tell"])
def test_lone_surrogate_text_does_not_crash_the_broker(room, frame):
    result = _decoded(room.handle(A, [frame], 0.0))
    _assert_only_error(result, A, c.E_BAD_FRAME)


# Regression, same cause via the JOIN token (a fresh join used to leave a ghost session in
# the roster before WELCOME failed to encode).
@pytest.mark.parametrize("name", ["carol", "ana"], ids=["fresh", "taken"])
def test_lone_surrogate_token_does_not_crash_the_broker(room, name):
    token = b"\\ud800" + b"x" * c.MIN_TOKEN_CHARS
    frame = b'ZCHAT/1 JOIN {"name":"' + name.encode() + b'","token":"' + token + b'"}'
    result = _decoded(room.handle(C, [frame], 0.0))
    _assert_only_error(result, C, c.E_BAD_FRAME)
    assert room.roster.by_identity(C) is None


# ---- tick: heartbeats and expiry -----------------------------------------------------

def test_tick_on_empty_roster_sends_nothing(core):
    assert core.tick(0.0) == []
    assert core.tick(5.0) == []


def test_tick_pings_once_per_interval(room):
    assert _decoded(room.tick(0.0)) == [("fanout", None, Ping())]
    assert room.next_deadline() == 1.0
    assert room.tick(0.5) == []
    assert room.tick(0.99) == []
    assert _decoded(room.tick(1.0)) == [("fanout", None, Ping())]
    assert room.tick(1.5) == []
    assert _decoded(room.tick(2.2)) == [("fanout", None, Ping())]
    assert room.next_deadline() == pytest.approx(3.2)


def test_tick_expires_the_silent_and_keeps_the_talkative(core):
    _join(core, A, "ana", now=0.0)
    _join(core, B, "bob", now=0.0)
    _join(core, C, "carol", now=0.0)
    for now in (0.0, 1.0, 2.0, 3.0):
        # 3 intervals of silence are not yet "more than 3"
        assert _decoded(core.tick(now)) == [("fanout", None, Ping())], now
    assert core.handle(B, [encode(Ping())], 2.5) == []  # even a PING counts
    assert core.handle(C, [encode(Who())], 2.5) != []
    result = _decoded(core.tick(4.0))
    assert result == [
        ("fanout", None, Left("ana", c.R_TIMEOUT, WALL)),
        ("fanout", None, Ping()),
    ]
    assert core.roster.names() == ["bob", "carol"]
    assert core.roster.by_identity(A) is None


def test_tick_counts_garbage_as_a_sign_of_life(core):
    _join(core, A, "ana", now=0.0)
    core.handle(A, [b"garbage"], 3.9)
    assert _decoded(core.tick(4.0)) == [("fanout", None, Ping())]
    assert core.roster.names() == ["ana"]


def test_tick_expiry_of_the_last_user_sends_no_ping(core):
    _join(core, A, "ana", now=0.0)
    assert _decoded(core.tick(10.0)) == [("fanout", None, Left("ana", c.R_TIMEOUT, WALL))]
    assert len(core.roster) == 0


def test_expiry_scales_with_heartbeat():
    core = BrokerCore(heartbeat=2.0, wall_clock=lambda: WALL)
    assert core.expiry == 2.0 * c.HEARTBEAT_LIVENESS
    _join(core, A, "ana", now=0.0)
    assert _decoded(core.tick(5.0)) == [("fanout", None, Ping())]
    assert _decoded(core.tick(7.0))[0] == ("fanout", None, Left("ana", c.R_TIMEOUT, WALL))


# ---- drop, shutdown ------------------------------------------------------------------

@pytest.mark.parametrize("reason", [c.R_LOST, c.R_SLOW])
def test_drop_identity(room, reason):
    assert _decoded(room.drop_identity(A, reason)) == [("fanout", None, Left("ana", reason, WALL))]
    assert room.roster.names() == ["bob"]
    assert room.drop_identity(A, reason) == []  # already gone
    assert room.drop_identity(b"nobody", reason) == []


def test_drop_of_a_rebound_session_object_is_a_no_op(core):
    _join(core, A, "ana", token=TOKEN)
    old = core.roster.by_identity(A)
    _handle(core, B, Join("ana", TOKEN))
    assert core.drop_identity(A, c.R_LOST) == []  # the stale socket failing is not a leave
    assert core.roster.by_identity(B) is old
    assert core.roster.names() == ["ana"]


def test_shutdown(room):
    assert _decoded(room.shutdown()) == [("fanout", None, Bye(c.R_SHUTDOWN))]


def test_after_shutdown_failed_sends_announce_nothing(room):
    room.shutdown()
    # The server still fans the BYE out over the roster, so shutdown keeps it...
    assert room.roster.names() == ["ana", "bob"]
    # ...and a peer whose BYE fails is forgotten without a LEFT to the others.
    assert room.drop_identity(A, c.R_LOST) == []
    assert room.roster.names() == ["bob"]


def test_shutdown_on_empty_roster(core):
    assert _decoded(core.shutdown()) == [("fanout", None, Bye(c.R_SHUTDOWN))]


# ---- logging -------------------------------------------------------------------------

def _log_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


def test_log_join(core, logs):
    _handle(core, A, Join("ana"), peer="10.0.0.1")
    _handle(core, B, Join("bob"))
    assert _log_lines(logs) == ["join ana from 10.0.0.1", "join bob from ?"]


def test_log_rejoin(core, logs):
    _join(core, A, "ana", token=TOKEN)
    logs.clear()
    _handle(core, B, Join("ana", TOKEN), peer="10.0.0.2")
    assert _log_lines(logs) == ["rejoin ana from 10.0.0.2 (session resumed)"]


def test_log_public_message(room, logs):
    _handle(room, A, Say("hello world"))
    assert _log_lines(logs) == ["public ana: hello world"]


def test_log_private_without_body_by_default(room, logs):
    _handle(room, A, Tell("bob", "my secret"))
    lines = _log_lines(logs)
    assert lines == ["private ana -> bob"]
    assert not any("my secret" in r.getMessage() for r in logs.records)


def test_log_private_with_body_when_asked(logs):
    core = _core(log_private_bodies=True)
    _join(core, A, "ana")
    _join(core, B, "bob")
    logs.clear()
    _handle(core, A, Tell("BOB", "my secret"))
    assert _log_lines(logs) == ["private ana -> bob: my secret"]


@pytest.mark.parametrize(("reason", "shown"), [
    (c.R_QUIT, "left"),
    (c.R_LOST, "connection lost"),
    (c.R_SLOW, "too slow to keep up"),
])
def test_log_leave_with_reason(room, logs, reason, shown):
    if reason == c.R_QUIT:
        _handle(room, A, Leave())
    else:
        room.drop_identity(A, reason)
    assert _log_lines(logs) == [f"leave ana ({shown})"]


def test_log_leave_timeout(core, logs):
    _join(core, A, "ana", now=0.0)
    logs.clear()
    core.tick(10.0)
    assert _log_lines(logs) == ["leave ana (timed out)"]


def test_log_shutdown_mentions_everyone(room, logs):
    room.shutdown()
    assert sorted(_log_lines(logs)) == ["leave ana (broker shutting down)",
                                        "leave bob (broker shutting down)"]


def test_log_refusal(room, logs):
    _handle(room, A, Tell("carol", "hi"))
    assert _log_lines(logs) == ["refused NO_SUCH_USER from ana: no such user online"]


def test_log_in_portuguese(logs):
    core = _core(catalogue=Catalogue("pt"))
    _handle(core, A, Join("ana"), peer="10.0.0.1")
    _handle(core, A, Say("oi"))
    _handle(core, A, Leave())
    assert _log_lines(logs) == ["entrada ana de 10.0.0.1", "pública ana: oi", "saída ana (saiu)"]


def _assert_no_raw_controls(lines: list[str]) -> None:
    for line in lines:
        assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in line), repr(line)
        assert "\u202e" not in line, repr(line)


def test_log_escapes_control_characters_in_text(room, logs):
    _handle(room, A, Say("hi\x1b[31m\n2024-01-01 INFO join admin\u202e"))
    lines = _log_lines(logs)
    assert lines == ["public ana: hi\\x1b[31m\\x0a2024-01-01 INFO join admin\\u202e"]
    _assert_no_raw_controls(lines)


def test_log_escapes_control_characters_in_private_body(logs):
    core = _core(log_private_bodies=True)
    _join(core, A, "ana")
    logs.clear()
    _handle(core, A, Tell("ana", "x\ry\x07"))
    assert _log_lines(logs) == ["private ana -> ana: x\\x0dy\\x07"]


@pytest.mark.parametrize("frames", [
    [encode(Join("evil\x1b[2J\nname"))],
    [encode(Tell("bo\x1bb\n", "hi"))],
    [b"ZCHAT/1 \x1b[2J\n\x00X"],
    [b"ZCHAT/2 \x1b\n"],
    [b"\x1b]0;title\x07\n"],
], ids=["join-name", "tell-to", "command", "version", "garbage"])
def test_log_of_refusals_has_no_raw_controls(room, logs, frames):
    room.handle(A, frames, 0.0)
    room.handle(C, frames, 0.0)
    lines = _log_lines(logs)
    assert len(lines) == 2
    assert all(line.startswith("refused ") for line in lines)
    _assert_no_raw_controls(lines)
