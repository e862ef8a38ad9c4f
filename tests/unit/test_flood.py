"""broker/core.py: flood control, capacity and the unjoined bucket, on a fake clock.

Every `handle` call takes the time as its ``now`` argument, so rates are tested
exactly: nothing here sleeps.
"""

import logging

import pytest
from corehelp import WALL, decoded, make_core, no_work
from corehelp import handled as _handle

from zchat.broker.actions import Send
from zchat.broker.core import BrokerCore, Limits
from zchat.broker.pages import FETCH_RETRY, PAGES_BURST, PAGES_SHARE
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

A, B, C = b"\x00id-a", b"\x00id-b", b"\x00id-c"
TOKEN = "flood-token-0123456789abcdef"
LOGGER = "zchat.broker.core"


def _core(limits: Limits | None = None) -> BrokerCore:
    return make_core(limits=limits)


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


@pytest.mark.parametrize(("frames", "code"), [
    ([b"ZCHAT/1 SAY {"], c.E_BAD_FRAME),
    ([b"ZCHAT/1 SAY {}", b"two"], c.E_BAD_FRAME),  # two frames
    ([b"ZCHAT/1 SHOUT"], c.E_UNKNOWN_COMMAND),
    ([b"ZCHAT/2 SAY"], c.E_VERSION),
    ([encode(Join("ana"))], c.E_ALREADY_JOINED),
])
def test_a_joined_clients_refused_frames_cost_a_message_as_the_page_says(frames, code):
    """PROTOCOL.md, Flood control: a refusal before the command's rules costs 1 message;
    with the bucket empty the answer is RATE_LIMITED, and it counts a strike."""
    core = _room(Limits(burst=2))
    for _ in range(2):
        result = decoded(core.handle(A, frames, 0.0))
        assert [(kind, to, type(msg), msg.code) for kind, to, msg in result] == [
            ("send", A, Error, code)]
    assert core.roster.by_identity(A).strikes == 0
    assert _is_rate_limited(decoded(core.handle(A, frames, 0.0)), A)
    assert core.roster.by_identity(A).strikes == 1
    assert _is_rate_limited(_handle(core, A, Say("x", 1)), A, 1)  # the same bucket


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
    result = _handle(core, b"y", Join("keyed"), user="K" * 40)
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
            assert decoded(result)[0][2].code == c.E_NOT_JOINED
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


# ---- per address: JOINs, and frames of connections that have not joined -----------------

def _from(core: BrokerCore, identity: bytes, msg, peer: str, now: float = 0.0) -> list[tuple]:
    return _handle(core, identity, msg, now, peer)


def _welcomed(result) -> bool:
    return bool(result) and type(result[0][2]) is Welcome


TOO_MANY_JOINS = Error(c.E_RATE_LIMITED, "too many joins from your address: try again later",
                       "join")


def test_joins_from_one_address_are_max_per_address_at_once():
    core = _core(Limits(max_per_address=4))
    for i in range(4):
        assert _welcomed(_from(core, b"j%d" % i, Join(f"u{i}"), "10.0.0.1"))
    assert _from(core, b"j4", Join("u4"), "10.0.0.1") == [("send", b"j4", TOO_MANY_JOINS)]
    assert core.roster.by_name("u4") is None
    assert core.store.last_seq() == 4  # no JOINED for it
    assert c.E_RATE_LIMITED not in c.FATAL_ERRORS  # the client tries again later
    # Another address has a bucket of its own.
    assert _welcomed(_from(core, b"k0", Join("v0"), "10.0.0.2"))


def test_joins_from_one_address_come_back_at_max_per_address_a_minute():
    core = _core(Limits(max_per_address=4))  # one JOIN every 15 s
    for i in range(4):
        _from(core, b"j%d" % i, Join(f"u{i}"), "10.0.0.1")
    assert _from(core, b"j4", Join("u4"), "10.0.0.1", now=14.0)[0][2] == TOO_MANY_JOINS
    assert _welcomed(_from(core, b"j4", Join("u4"), "10.0.0.1", now=15.5))
    assert _from(core, b"j5", Join("u5"), "10.0.0.1", now=15.5)[0][2] == TOO_MANY_JOINS


def test_joins_and_leaves_in_a_loop_are_bounded_per_address():
    core = _core(Limits(max_per_address=4))
    joined = 0
    for i in range(40):  # a churn of JOIN + LEAVE, one a second
        if _welcomed(_from(core, b"c%d" % i, Join(f"churn{i}"), "10.0.0.1", now=float(i))):
            joined += 1
            _from(core, b"c%d" % i, Leave(), "10.0.0.1", now=float(i))
    assert joined == 4 + 39 // 15  # the burst, then 4 a minute


def test_one_ipv6_slash_64_has_one_join_bucket():
    core = _core(Limits(max_per_address=2))
    assert _welcomed(_from(core, b"a", Join("a1"), "2001:db8::1"))
    assert _welcomed(_from(core, b"b", Join("b1"), "2001:db8::ffff:2"))
    assert _from(core, b"c", Join("c1"), "2001:db8::3")[0][2] == TOO_MANY_JOINS
    assert _welcomed(_from(core, b"d", Join("d1"), "2001:db8:0:1::1"))


def test_peers_without_an_address_are_not_limited_per_address():
    core = _core(Limits(max_per_address=2))
    for i in range(20):  # Unix-socket peers: the socket file's permissions say who
        assert _welcomed(_from(core, b"l%d" % i, Join(f"local{i}"), "")), i


def test_strangers_of_one_address_get_2n_frames_at_once_and_n_half_a_second():
    core = _core(Limits(max_per_address=4))
    answered = [bool(_from(core, b"s%d" % i, Who(), "10.0.0.1")) for i in range(12)]
    assert answered == [True] * 8 + [False] * 4  # each from its own identity: 2N at once
    assert _from(core, b"t", Who(), "10.0.0.2")  # another address: answered
    # Nor does a JOIN (its JOIN bucket is full, but the address's frames are spent).
    assert _from(core, b"j", Join("carol"), "10.0.0.1") == []
    assert core.roster.by_name("carol") is None
    # N / 2 = 2 a second.
    answered = [bool(_from(core, b"u%d" % i, Who(), "10.0.0.1", now=1.0)) for i in range(3)]
    assert answered == [True, True, False]


def test_one_stranger_also_spends_its_own_bucket_before_its_address_is_spent():
    core = _core(Limits(max_per_address=64))  # the address: 128 at once
    answered = sum(1 for _ in range(c.STRANGER_BURST + 5)
                   if _from(core, b"s", Who(), "10.0.0.1"))
    assert answered == c.STRANGER_BURST
    assert _from(core, b"other", Who(), "10.0.0.1")


def test_strangers_without_an_address_are_not_limited_per_address():
    core = _core(Limits(max_per_address=2))
    assert all(_from(core, b"s%d" % i, Who(), "") for i in range(50))


def test_a_joined_client_is_not_limited_by_its_address_bucket():
    core = _core(Limits(max_per_address=2, burst=1000))
    assert _welcomed(_from(core, A, Join("ana"), "10.0.0.1"))
    for i in range(10):
        _from(core, b"s%d" % i, Who(), "10.0.0.1")  # strangers spend the address's frames
    assert _from(core, b"late", Who(), "10.0.0.1") == []
    for cid in range(1, 21):
        assert _acked(_from(core, A, Say("still here", cid), "10.0.0.1"), A)


# ---- FETCH: answered when the budgets allow, else later -----------------------------------

BIG = Limits(burst=1_000_000, byte_rate=1e9, byte_burst=1_000_000_000)


def _history_of(count: int, text: str, work_clock=no_work) -> BrokerCore:
    """ana (A) and bob (B) joined; ana said ``count`` messages of ``text``."""
    core = BrokerCore(heartbeat=1.0, wall_clock=lambda: WALL, limits=BIG, work_clock=work_clock)
    _join(core, A, "ana")
    _join(core, B, "bob")
    for cid in range(1, count + 1):
        _handle(core, A, Say(text, cid))
    return core


def _pages(actions, identity: bytes) -> list:
    """The EVENTS pages among ``actions``, all sent to ``identity``."""
    assert all(type(a) is Send and a.identity == identity for a in actions), actions
    pages = [decode_broker(a.frame) for a in actions]
    assert all(p.command == c.EVENTS and p.kind == c.K_REPLAY for p in pages), pages
    return pages


def test_a_fetch_within_the_budgets_is_answered_at_once():
    core = _history_of(5, "m")
    (page,) = _pages(core.handle(B, [encode(Fetch(2, 0))], 0.0), B)
    assert [e.seq for e in page.events] == [3, 4, 5, 6, 7]
    assert core.serve_fetches(0.0) == []  # nothing left waiting


def test_a_fetch_waits_while_its_connection_is_not_ready_and_is_answered_later():
    core = _history_of(5, "m")
    core.ready = lambda identity: False
    assert core.handle(B, [encode(Fetch(0, 0))], 0.0) == []
    assert core.serve_fetches(1.0) == []
    core.ready = lambda identity: True
    (page,) = _pages(core.serve_fetches(2.0), B)
    assert [e.seq for e in page.events] == list(range(1, 8))
    assert core.serve_fetches(3.0) == []


def test_a_newer_fetch_replaces_the_one_that_waits():
    core = _history_of(5, "m")
    core.ready = lambda identity: False
    assert core.handle(B, [encode(Fetch(0, 0))], 0.0) == []
    assert core.handle(B, [encode(Fetch(5, 0))], 0.0) == []
    core.ready = lambda identity: True
    (page,) = _pages(core.serve_fetches(0.0), B)  # one answer: to the newer
    assert [e.seq for e in page.events] == [6, 7]


def test_a_connection_that_is_not_ready_does_not_hold_up_the_others():
    core = _history_of(3, "m")
    core.ready = lambda identity: identity != A
    assert core.handle(A, [encode(Fetch(0, 0))], 0.0) == []
    assert len(_pages(core.handle(B, [encode(Fetch(0, 0))], 0.0), B)) == 1
    core.ready = lambda identity: True
    assert len(_pages(core.serve_fetches(0.0), A)) == 1


def test_a_fetch_of_a_session_that_left_meanwhile_is_dropped():
    core = _history_of(3, "m")
    core.ready = lambda identity: False
    core.handle(B, [encode(Fetch(0, 0))], 0.0)
    _handle(core, B, Leave())
    core.ready = lambda identity: True
    assert core.serve_fetches(0.0) == []
    _join(core, B, "bobby", now=1.0)  # a new session on that connection asked for nothing
    assert core.serve_fetches(1.0) == []


def _spend_replies(core: BrokerCore, identity: bytes) -> list[int]:
    """FETCH big pages at time 0 until one waits; the sizes of those answered."""
    sizes: list[int] = []
    while True:
        actions = core.handle(identity, [encode(Fetch(0, 0))], 0.0)
        if not actions:
            return sizes
        (action,) = actions
        sizes.append(len(action.frame))
        assert len(sizes) < 1000


def test_big_pages_spend_the_reply_budget_and_the_next_fetch_waits_for_it():
    core = _history_of(80, "x" * c.MAX_TEXT_CHARS)  # pages of about MAX_PAGE_BYTES
    sizes = _spend_replies(core, B)
    assert min(sizes) > c.MAX_PAGE_BYTES // 2
    assert sum(sizes[:-1]) < c.REPLY_BURST <= sum(sizes)  # the last one ran into debt
    # The waiting FETCH is answered once REPLY_RATE has paid the debt back.
    debt = sum(sizes) - c.REPLY_BURST
    assert core.serve_fetches(0.9 * debt / c.REPLY_RATE) == []
    (page,) = _pages(core.serve_fetches(debt / c.REPLY_RATE + 0.01), B)
    assert page.events[0].seq == 1 and page.more
    # Others have budgets of their own.
    assert len(_pages(core.handle(A, [encode(Fetch(0, 0))], 0.0), A)) == 1


def test_who_costs_reply_bytes_and_is_refused_when_they_are_spent():
    core = _history_of(80, "x" * c.MAX_TEXT_CHARS)
    (users,) = core.handle(B, [encode(Who())], 0.0)
    bucket = core.roster.by_identity(B).buckets[3]  # (the reply-byte bucket)
    assert bucket.tokens == c.REPLY_BURST - len(users.frame)  # its size, in bytes
    _spend_replies(core, B)
    assert _is_rate_limited(_handle(core, B, Who()), B)
    debt = -bucket.tokens
    assert _handle(core, B, Who(), now=debt / c.REPLY_RATE + 0.01) == [
        ("send", B, Users(("ana", "bob")))]


def _ticking(step: float):
    """A work clock that moves ``step`` seconds each time it is read: every page
    costs ``step`` of the pages' share."""
    reads = iter(range(1_000_000))
    return lambda: next(reads) * step


def test_pages_share_the_time_and_the_others_wait_their_turn_oldest_first():
    core = _history_of(3, "m", work_clock=_ticking(0.02))
    assert PAGES_BURST == 0.03 and PAGES_SHARE == 0.5  # (the figures below)
    D, E = b"\x00id-d", b"\x00id-e"
    for identity, name in ((C, "carol"), (D, "dave"), (E, "eve")):
        _join(core, identity, name)
    # 0.03 s of page time at once; each page takes 0.02: two pages, the second in debt.
    assert len(_pages(core.handle(A, [encode(Fetch(0, 0))], 0.0), A)) == 1
    assert len(_pages(core.handle(B, [encode(Fetch(0, 0))], 0.0), B)) == 1
    for identity in (C, D, E):
        assert core.handle(identity, [encode(Fetch(0, 0))], 0.0) == []
    assert core.handle(C, [encode(Fetch(1, 0))], 0.0) == []  # replaced, keeps its place
    assert core.serve_fetches(0.015) == []  # -0.01 + 0.0075: still in debt
    # Refilled at PAGES_SHARE: one page each time there is some, oldest waiting first.
    (page,) = _pages(core.serve_fetches(0.03), C)
    assert page.events[0].seq == 2
    assert core.serve_fetches(0.04) == []
    assert len(_pages(core.serve_fetches(0.075), D)) == 1
    assert len(_pages(core.serve_fetches(0.12), E)) == 1
    assert core.serve_fetches(1.0) == []


def test_next_deadline_is_soon_while_fetches_wait():
    start = 1000.0
    core = _core(BIG)
    _join(core, A, "ana", now=start)
    _handle(core, A, Say("m", 1), now=start)
    core.tick(start + 0.5)  # the next tick: 1.5 s after start
    assert core.next_deadline() == start + 1.5
    core.ready = lambda identity: False
    assert core.handle(A, [encode(Fetch(0, 0))], start + 0.5) == []
    assert core.next_deadline() == start + 0.5 + FETCH_RETRY
    core.ready = lambda identity: True
    assert core.serve_fetches(start + 0.5)
    assert core.next_deadline() == start + 1.5


# ---- refusals of strangers are logged, not once a frame ---------------------------------------

def test_refusals_of_strangers_are_logged_at_most_once_a_second(logs):
    core = _core()
    for i in range(10):
        core.handle(b"s%d" % i, [encode(Who())], 0.0)
    core.handle(b"g", [b"GET / HTTP/1.1"], 0.2)  # garbage too
    for i in range(5):
        core.handle(b"t%d" % i, [encode(Say("hi", 1))], 0.5)
    assert _log_lines(logs) == [f"refused {c.E_NOT_JOINED} from {b's0'.hex()}: WHO before JOIN"]
    core.handle(b"late", [encode(Who())], 1.0)
    core.handle(b"later", [encode(Who())], 1.5)
    assert _log_lines(logs)[1:] == [
        f"refused {c.E_NOT_JOINED} from {b'late'.hex()}: WHO before JOIN (and 15 more)"]
    core.handle(b"next", [encode(Who())], 2.0)
    assert _log_lines(logs)[2] == (
        f"refused {c.E_NOT_JOINED} from {b'next'.hex()}: WHO before JOIN (and 1 more)")
