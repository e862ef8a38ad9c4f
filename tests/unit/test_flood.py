"""broker/core.py: flood control, capacity and the unjoined bucket, on a fake clock.

Every `handle` call takes the time as its ``now`` argument, so rates are tested
exactly: nothing here sleeps.
"""

import logging

import pytest

from zchat.broker.core import BrokerCore, Fanout, Limits, Send
from zchat.protocol import (
    Ack,
    Bye,
    Error,
    Fetch,
    Join,
    Leave,
    Left,
    Msg,
    Ping,
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
#: Pages cost no time here (the share of time they may take is tested on its own).
_NO_WORK = lambda: 0.0

A, B, C = b"\x00id-a", b"\x00id-b", b"\x00id-c"
TOKEN = "flood-token-0123456789abcdef"
LOGGER = "zchat.broker.core"


def _core(limits: Limits | None = None, **kwargs) -> BrokerCore:
    return BrokerCore(heartbeat=1.0, wall_clock=lambda: WALL, limits=limits, work_clock=_NO_WORK,
                      **kwargs)


def _decoded(actions) -> list[tuple]:
    out = []
    for action in actions:
        if type(action) is Send:
            out.append(("send", action.identity, decode_broker(action.frame)))
        else:
            assert type(action) is Fanout, action
            out.append(("fanout", action.exclude, decode_broker(action.frame)))
    return out


def _handle(core: BrokerCore, identity: bytes, msg, now: float = 0.0) -> list[tuple]:
    return _decoded(core.handle(identity, [encode(msg)], now))


def _join(core: BrokerCore, identity: bytes, name: str, now: float = 0.0,
          token: str = "") -> Welcome:
    result = _handle(core, identity, Join(name, token), now)
    assert result[0][0] == "send" and type(result[0][2]) is Welcome, result
    return result[0][2]


def _room(limits: Limits | None = None) -> BrokerCore:
    core = _core(limits)
    _join(core, A, "ana")
    _join(core, B, "bob")
    return core


def _is_rate_limited(result, identity: bytes, cid: int = 0) -> bool:
    return result == [("send", identity, Error(c.E_RATE_LIMITED, "slow down", "", cid))]


def _acked(result, identity: bytes) -> bool:
    return any(kind == "send" and target == identity and type(msg) is Ack
               for kind, target, msg in result)


def _log_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


# ---- within the limits -----------------------------------------------------------------

def test_the_default_limits_are_the_protocol_defaults():
    limits = Limits()
    assert (limits.rate, limits.burst, limits.byte_rate, limits.byte_burst,
            limits.max_clients) == (c.DEFAULT_RATE, c.DEFAULT_BURST, c.DEFAULT_BYTE_RATE,
                                    c.DEFAULT_BYTE_BURST, c.DEFAULT_MAX_CLIENTS)
    assert _core().limits == limits


def test_a_client_within_the_default_limits_is_never_refused():
    core = _room()
    cid = 0
    for _ in range(c.DEFAULT_BURST):  # the whole burst at once
        cid += 1
        assert _acked(_handle(core, A, Say("hi", cid), now=0.0), A)
    now = 0.0
    for _ in range(300):  # then a little under the sustained rate, for half a minute
        now += 1.1 / c.DEFAULT_RATE
        cid += 1
        assert _acked(_handle(core, A, Say("hi", cid), now=now), A), cid
    assert core.roster.by_identity(A).strikes == 0


def test_a_client_at_exactly_the_rate_is_never_refused():
    core = _room(Limits(rate=4.0, burst=2))  # 0.25 s a message: exact in binary
    for i in range(200):
        now = i * 0.25
        result = _handle(core, A, Say("x", i + 1) if i % 2 else Tell("bob", "y", i + 1), now)
        assert _acked(result, A), (i, result)


# ---- over the message burst -------------------------------------------------------------

@pytest.mark.parametrize("over", [Say("one too many", 99), Tell("bob", "one too many", 99)],
                         ids=["say", "tell"])
def test_over_the_burst_is_refused_with_the_cid_and_nothing_is_stored(over):
    core = _room(Limits(burst=3))
    for cid in (1, 2, 3):
        assert _acked(_handle(core, A, Say("ok", cid), now=5.0), A)
    last = core.store.last_seq()
    result = _handle(core, A, over, now=5.0)
    assert _is_rate_limited(result, A, cid=99)  # only the error: no fanout, no echo, no ACK
    assert core.store.last_seq() == last
    assert core.store.find(core.roster.by_identity(A).stream, 99) is None
    assert core.roster.names() == ["ana", "bob"]  # refused, not disconnected


def test_a_refused_message_can_be_sent_again_once_there_is_room():
    core = _room(Limits(rate=2.0, burst=1))
    assert _acked(_handle(core, A, Say("first", 1), now=0.0), A)
    assert _is_rate_limited(_handle(core, A, Say("second", 2), now=0.1), A, 2)
    result = _handle(core, A, Say("second", 2, retry=True), now=0.6)
    assert result[-1] == ("send", A, Ack(2, 4, 3))
    assert result[0] == ("fanout", A, Msg("ana", "second", WALL, 4, 3))


def test_each_client_has_its_own_buckets():
    core = _room(Limits(burst=2))
    for cid in (1, 2):
        _handle(core, A, Say("a", cid))
    assert _is_rate_limited(_handle(core, A, Say("a", 3)), A, 3)
    for cid in (1, 2):
        assert _acked(_handle(core, B, Say("b", cid)), B)


def test_who_counts_against_the_message_bucket():
    core = _room(Limits(burst=3))
    assert _handle(core, A, Who()) == [("send", A, Users(("ana", "bob")))]
    assert _acked(_handle(core, A, Say("x", 1)), A)
    assert _handle(core, A, Who()) == [("send", A, Users(("ana", "bob")))]
    assert _is_rate_limited(_handle(core, A, Who()), A)  # WHO has no cid
    assert _is_rate_limited(_handle(core, A, Say("x", 2)), A, 2)


def test_ping_and_leave_are_never_rate_limited():
    core = _room(Limits(burst=1))
    _handle(core, A, Say("x", 1))
    for _ in range(3 * c.FLOOD_STRIKES):
        assert _handle(core, A, Ping()) == []
    assert core.roster.by_identity(A).strikes == 0
    result = _handle(core, A, Leave())
    assert result[0] == ("send", A, Bye(c.R_QUIT))
    assert result[1][2] == Left("ana", c.R_QUIT, WALL, 4, 3)


# ---- the byte bucket ---------------------------------------------------------------------

def test_the_byte_bucket_counts_utf8_bytes_of_text():
    # 1000 messages may go at once, but only 8000 bytes of text.
    core = _room(Limits(burst=1000, byte_rate=8000.0, byte_burst=8000))
    two_bytes = "é" * 2000      # 2000 characters, 4000 bytes
    assert _acked(_handle(core, A, Say(two_bytes, 1)), A)
    assert _acked(_handle(core, A, Tell("bob", two_bytes, 2)), A)
    # Counted in characters, 4000 of 8000 would be spent and this would pass.
    assert _is_rate_limited(_handle(core, A, Say(two_bytes, 3)), A, 3)
    assert _is_rate_limited(_handle(core, A, Say("x", 4)), A, 4)  # not one byte left
    # Half a second brings back 4000 bytes: one more such message, not two.
    assert _acked(_handle(core, A, Say(two_bytes, 3), now=0.5), A)
    assert _is_rate_limited(_handle(core, A, Say("x", 4), now=0.5), A, 4)


def test_four_byte_characters_count_four():
    core = _room(Limits(burst=1000, byte_rate=1.0, byte_burst=8000))
    assert _acked(_handle(core, A, Say("😀" * 2000, 1)), A)  # 8000 bytes: the whole burst
    assert _is_rate_limited(_handle(core, A, Say("x", 2)), A, 2)


def test_a_message_refused_for_bytes_spends_no_message_token():
    core = _room(Limits(rate=0.01, burst=2, byte_rate=8000.0, byte_burst=8000))
    assert _acked(_handle(core, A, Say("😀" * 2000, 1)), A)  # message 1 of 2, all bytes
    assert _is_rate_limited(_handle(core, A, Say("😀" * 2000, 2)), A, 2)
    # 0.5 s later: 4000 bytes, and still one message token, which the refusal did not take.
    assert _acked(_handle(core, A, Say("hi", 3), now=0.5), A)
    assert _is_rate_limited(_handle(core, A, Say("hi", 4), now=0.5), A, 4)


# ---- FETCH has a bucket of its own ---------------------------------------------------------

def test_fetch_has_its_own_bucket():
    core = _room(Limits(burst=1))
    _handle(core, A, Say("x", 1))
    assert _is_rate_limited(_handle(core, A, Say("x", 2)), A, 2)  # messages spent...
    for _ in range(c.FETCH_BURST):  # ...FETCH is not
        result = _handle(core, A, Fetch(0, 0))
        assert result[0][2].command == c.EVENTS, result
    assert _is_rate_limited(_handle(core, A, Fetch(0, 0)), A)
    # And FETCH spends none of the message bucket.
    fresh = _room(Limits(burst=1))
    for _ in range(c.FETCH_BURST):
        _handle(fresh, A, Fetch(0, 0))
    assert _acked(_handle(fresh, A, Say("still allowed", 1)), A)


def test_fetch_comes_back_at_its_own_rate():
    core = _room()
    for _ in range(c.FETCH_BURST):
        _handle(core, A, Fetch(0, 0))
    assert _is_rate_limited(_handle(core, A, Fetch(0, 0)), A)
    later = 1.0 / c.FETCH_RATE
    assert _handle(core, A, Fetch(0, 0), now=later)[0][2].command == c.EVENTS
    assert _is_rate_limited(_handle(core, A, Fetch(0, 0), now=later), A)


# ---- persistent flooders ------------------------------------------------------------------

def _flood(core: BrokerCore, identity: bytes, count: int, now: float = 0.0,
           first_cid: int = 100) -> list[list[tuple]]:
    return [_handle(core, identity, Say("spam", first_cid + i), now) for i in range(count)]


def test_after_flood_strikes_refusals_in_a_row_the_client_is_disconnected(logs):
    core = _room(Limits(burst=1))
    _handle(core, A, Say("x", 1))                                    # 3
    results = _flood(core, A, c.FLOOD_STRIKES)
    for i, result in enumerate(results[:-1]):
        assert _is_rate_limited(result, A, 100 + i), i
    assert results[-1] == [
        ("send", A, Bye(c.R_FLOOD)),
        ("fanout", None, Left("ana", c.R_FLOOD, WALL, 4, 3)),
    ]
    assert core.roster.names() == ["bob"]
    assert core.roster.by_identity(A) is None
    assert core.store.last_seq() == 4  # the LEFT, and none of the refused messages
    assert [(type(e), e.seq) for e in _handle(core, B, Fetch(2, 0))[0][2].events] == [
        (Msg, 3), (Left, 4)]
    assert _handle(core, B, Who()) == [("send", B, Users(("bob",)))]
    # Whatever it sends now, it is a stranger.
    assert _handle(core, A, Say("more", 500))[0][2].code == c.E_NOT_JOINED
    lines = _log_lines(logs)
    assert f"flood ana: {c.FLOOD_STRIKES} messages over the rate limit in a row; " \
           "disconnected" in lines
    assert "leave ana (disconnected for flooding)" in lines


def test_a_flooder_is_logged_once_per_streak_not_once_per_refusal(logs):
    core = _room(Limits(burst=1))
    _handle(core, A, Say("x", 1))
    logs.clear()
    _flood(core, A, c.FLOOD_STRIKES - 1)
    assert _log_lines(logs) == ["refused RATE_LIMITED from ana: over the rate limit"]


def test_an_accepted_message_resets_the_strikes():
    core = _room(Limits(rate=1.0, burst=1))
    _handle(core, A, Say("x", 1))
    _flood(core, A, c.FLOOD_STRIKES - 1)
    assert core.roster.by_identity(A).strikes == c.FLOOD_STRIKES - 1
    assert _acked(_handle(core, A, Say("calm", 2), now=1.0), A)
    assert core.roster.by_identity(A).strikes == 0
    results = _flood(core, A, c.FLOOD_STRIKES - 1, now=1.0, first_cid=1000)
    assert all(_is_rate_limited(r, A, 1000 + i) for i, r in enumerate(results))
    assert core.roster.names() == ["ana", "bob"]  # never FLOOD_STRIKES in a row


def test_an_accepted_fetch_resets_the_strikes_too():
    core = _room(Limits(burst=1))
    _handle(core, A, Say("x", 1))
    _flood(core, A, c.FLOOD_STRIKES - 1)
    _handle(core, A, Fetch(0, 0))  # accepted: its own bucket has room
    assert core.roster.by_identity(A).strikes == 0
    _flood(core, A, c.FLOOD_STRIKES - 1, first_cid=1000)
    assert core.roster.by_identity(A) is not None


def test_refused_who_and_fetch_count_as_strikes():
    core = _room(Limits(burst=1))
    _handle(core, A, Who())
    for _ in range(c.FETCH_BURST):
        _handle(core, A, Fetch(0, 0))
    for _ in range(c.FLOOD_STRIKES // 2):
        _handle(core, A, Who())
    for _ in range(c.FLOOD_STRIKES - c.FLOOD_STRIKES // 2 - 1):
        _handle(core, A, Fetch(0, 0))
    assert core.roster.by_identity(A).strikes == c.FLOOD_STRIKES - 1
    result = _handle(core, A, Who())
    assert result[0] == ("send", A, Bye(c.R_FLOOD))
    assert core.roster.by_identity(A) is None


# ---- WELCOME announces the limits -----------------------------------------------------------

def test_welcome_announces_the_default_limits():
    welcome = _join(_core(), A, "ana")
    assert (welcome.rate, welcome.burst, welcome.byte_rate, welcome.byte_burst) == (
        c.DEFAULT_RATE, c.DEFAULT_BURST, c.DEFAULT_BYTE_RATE, c.DEFAULT_BYTE_BURST)


def test_welcome_announces_the_configured_limits_also_on_a_rejoin():
    core = _core(Limits(rate=2.5, burst=7, byte_rate=9000.0, byte_burst=9001))
    welcome = _join(core, A, "ana", token=TOKEN)
    assert (welcome.rate, welcome.burst, welcome.byte_rate, welcome.byte_burst) == (
        2.5, 7, 9000.0, 9001)
    again = _join(core, B, "ana", token=TOKEN)
    assert again.resumed is True
    assert (again.rate, again.burst, again.byte_rate, again.byte_burst) == (
        2.5, 7, 9000.0, 9001)


# ---- max_clients ------------------------------------------------------------------------

def test_a_join_beyond_max_clients_is_refused_full():
    core = _room(Limits(max_clients=2))
    result = _handle(core, C, Join("carol"))
    assert result == [("send", C, Error(c.E_FULL, "the broker is full", "2"))]
    assert c.E_FULL in c.FATAL_ERRORS
    assert core.roster.by_name("carol") is None
    assert core.store.last_seq() == 2  # no JOINED
    # A place frees up: the next JOIN is welcome.
    _handle(core, A, Leave())
    assert _join(core, C, "carol").name == "carol"
    assert _handle(core, A, Join("ana"))[0][2] == Error(c.E_FULL, "the broker is full", "2")


def test_a_full_broker_still_lets_a_member_reconnect():
    core = _core(Limits(max_clients=1))
    _join(core, A, "ana", token=TOKEN)
    welcome = _join(core, B, "ana", token=TOKEN)  # the same session on a new socket
    assert welcome.resumed is True
    assert len(core.roster) == 1


def test_a_full_refusal_names_the_limit_and_claims_nothing():
    core = _core(Limits(max_clients=3))
    for i in range(3):
        _join(core, bytes([i]), f"u{i}")
    assert _handle(core, b"x", Join("late"))[0][2].ref == "3"
    result = _decoded(core.handle(b"y", [encode(Join("keyed"))], 0.0, "", "K" * 40))
    assert result[0][2].code == c.E_FULL
    assert core.store.owner("keyed") is None  # a refused JOIN does not take the name


# ---- the unjoined bucket ------------------------------------------------------------------

def test_a_storm_of_strangers_is_answered_only_up_to_the_unjoined_burst():
    core = _room()  # the two JOINs at 0 came from strangers too
    now = 10.0      # long after: the unjoined bucket is full again
    answered = 0
    for i in range(c.UNJOINED_BURST + 50):
        result = core.handle(b"stranger-%d" % i, [encode(Who())], now)
        if result:
            assert _decoded(result)[0][2].code == c.E_NOT_JOINED
            answered += 1
    assert answered == c.UNJOINED_BURST
    # A JOIN in the storm gets no answer either, and joins nobody.
    assert core.handle(C, [encode(Join("carol"))], now) == []
    assert core.roster.by_name("carol") is None
    # Garbage from a stranger is not even decoded.
    assert core.handle(C, [b"GET / HTTP/1.1"], now) == []


def test_joined_clients_are_not_affected_by_a_storm_of_strangers():
    core = _room(Limits(burst=4 * c.UNJOINED_BURST))
    now = 10.0
    for i in range(c.UNJOINED_BURST + 10):
        core.handle(b"stranger-%d" % i, [encode(Ping())], now)
    assert core.handle(C, [encode(Join("carol"))], now) == []
    for cid in range(1, 101):
        assert _acked(_handle(core, A, Say("still here", cid), now), A)
    assert _handle(core, B, Who(), now) == [("send", B, Users(("ana", "bob")))]


def test_joined_clients_do_not_spend_the_unjoined_bucket():
    core = _room(Limits(burst=4 * c.UNJOINED_BURST))
    now = 10.0
    for _ in range(2 * c.UNJOINED_BURST):
        assert _handle(core, A, Who(), now)
    answered = sum(1 for i in range(c.UNJOINED_BURST)
                   if core.handle(b"s%d" % i, [encode(Who())], now))
    assert answered == c.UNJOINED_BURST


def test_strangers_are_answered_again_at_the_unjoined_rate():
    core = _core()
    for i in range(c.UNJOINED_BURST):
        assert core.handle(b"s%d" % i, [encode(Who())], 0.0)
    assert core.handle(b"late", [encode(Who())], 0.0) == []
    later = 1.5 / c.UNJOINED_RATE
    assert core.handle(b"late", [encode(Join("late"))], later)  # one token is back
    assert core.roster.by_name("late") is not None
    assert core.handle(b"later", [encode(Who())], later) == []
