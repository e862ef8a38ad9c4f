"""broker/feedgate.py: which subscriptions to the `--fanout pub` feed are honoured."""

import pytest

from zchat.broker.feedgate import (
    MOST_SUBSCRIPTIONS,
    SUBSCRIPTIONS_PER_SECOND,
    FeedGate,
    Verdict,
)
from zchat.protocol import DEFAULT_TOPIC, room_topic
from zchat.protocol.constants import FEED_TOPIC

TOKEN = "feed-token-0123456789abcdef"
ANA = b"\x00ana"
SUBSCRIBE_ALL, UNSUBSCRIBE_ALL = b"\x01", b"\x00"
SALA = room_topic("#sala")
#: What ana may read: the default room and #sala (the test changes it).
READS: dict[bytes, list[bytes]] = {}


def _sub(token: str | bytes) -> bytes:
    raw = token.encode("ascii") if isinstance(token, str) else token
    return b"\x01" + FEED_TOPIC + raw


@pytest.fixture
def gate() -> FeedGate:
    """One joined session, ana, holding TOKEN, in the default room and #sala."""
    READS[ANA] = [DEFAULT_TOPIC, SALA]
    return FeedGate({TOKEN: ANA}.get, lambda identity: list(READS.get(identity, [])))


def judge(gate: FeedGate, message: bytes, fd: int, inode: int = 0, now: float = 0.0
          ) -> Verdict:
    return gate.judge(message, fd, inode, now)[0]


def test_the_empty_prefix_is_ignored_and_its_end_unsubscribes_everything(gate):
    assert judge(gate, SUBSCRIBE_ALL, 7) is Verdict.IGNORE  # nothing is given for it
    assert gate.judge(UNSUBSCRIBE_ALL, 7) == (Verdict.UNSUBSCRIBE, ())
    assert gate.reader == {} and gate.feed_of == {}
    gate.judge(_sub(TOKEN), 7)
    verdict, topics = gate.judge(UNSUBSCRIBE_ALL, 7)
    assert verdict is Verdict.UNSUBSCRIBE and sorted(topics) == sorted([DEFAULT_TOPIC, SALA])


def test_the_token_of_a_joined_session_gives_its_rooms_and_is_remembered(gate):
    assert judge(gate, SUBSCRIBE_ALL, 7) is Verdict.IGNORE
    # Its rooms' topics: never the empty prefix, which would give it every room.
    assert gate.judge(_sub(TOKEN), 7, inode=70) == (Verdict.SUBSCRIBE, (DEFAULT_TOPIC, SALA))
    assert gate.reader == {7: ANA}
    assert gate.feed_of == {ANA: (7, 70)}  # (with its socket's inode: numbers are reused)


def test_an_unsubscription_of_a_token_is_ignored(gate):
    assert judge(gate, b"\x00" + FEED_TOPIC + TOKEN.encode(), 7) is Verdict.IGNORE
    assert gate.reader == {}


@pytest.mark.parametrize("message", [
    _sub("no-such-token-0123456789"),        # a token no session here holds
    _sub(""),                                # no token at all
    _sub(TOKEN + "x"),                       # a prefix is not the token
    _sub(TOKEN.encode() + b"\xc3\xa9"),      # not ASCII
    _sub(b"\xff\xfe"),
    b"\x01" + b"x" * 4000,                   # a stranger's random topic
    b"\x01Z",
    b"\x01" + FEED_TOPIC[:-1],               # almost the prefix
    b"\x01#Sala ",                           # a room, not in the form it is published
    b"\x01#sala",                            # a room without its end
    b"\x01#s la ",                           # no room's name
    b"\x01#" + b"x" * 40 + b" ",             # too long for a room
    b"\x01" + DEFAULT_TOPIC[:-1],            # almost the default room
    b"\x00random",                           # an unsubscription of a random topic
    b"\x02" + FEED_TOPIC + TOKEN.encode(),   # neither subscribe nor unsubscribe
    b"hello",
    b"",                                     # not even the first byte
], ids=["unknown", "empty-token", "longer", "non-ascii", "not-utf8", "random", "short",
        "almost-prefix", "room-case", "room-unended", "room-space", "room-long",
        "almost-default", "unsubscribe-random", "first-byte-2", "text", "empty"])
def test_anything_else_sheds_the_connection(gate, message):
    assert judge(gate, message, 7) is Verdict.SHED
    assert gate.reader == {} and gate.feed_of == {}


def test_more_than_most_subscriptions_from_one_connection_shed_it(gate):
    for _ in range(MOST_SUBSCRIPTIONS // 2):  # the client's, sent again on reconnect
        assert judge(gate, SUBSCRIBE_ALL, 7) is Verdict.IGNORE
        assert judge(gate, _sub(TOKEN), 7) is Verdict.SUBSCRIBE
    assert judge(gate, SUBSCRIBE_ALL, 7) is Verdict.SHED
    assert judge(gate, _sub(TOKEN), 8) is Verdict.SUBSCRIBE  # counted per connection


def test_subscriptions_come_back_at_a_rate(gate):
    for _ in range(MOST_SUBSCRIPTIONS):
        judge(gate, SUBSCRIBE_ALL, 7, now=100.0)
    assert judge(gate, SUBSCRIBE_ALL, 7, now=100.0) is Verdict.SHED
    for _ in range(MOST_SUBSCRIPTIONS):
        judge(gate, SUBSCRIBE_ALL, 8, now=100.0)
    later = 100.0 + 1.0 / SUBSCRIPTIONS_PER_SECOND  # one more, not two
    assert judge(gate, SUBSCRIBE_ALL, 8, now=later) is Verdict.IGNORE
    assert judge(gate, SUBSCRIBE_ALL, 8, now=later) is Verdict.SHED


def test_a_room_is_given_to_a_member_only_and_taken_back(gate):
    other = room_topic("#other")
    assert judge(gate, b"\x01" + SALA, 7) is Verdict.IGNORE  # before its token: not known
    gate.judge(_sub(TOKEN), 7)
    assert gate.judge(b"\x01" + other, 7) == (Verdict.IGNORE, ())  # not a member
    READS[ANA].append(other)  # ana entered #other
    assert gate.judge(b"\x01" + other, 7) == (Verdict.SUBSCRIBE, (other,))
    assert gate.judge(b"\x00" + other, 7) == (Verdict.UNSUBSCRIBE, (other,))
    assert gate.judge(b"\x00" + other, 7) == (Verdict.UNSUBSCRIBE, ())  # not had: nothing
    assert gate.judge(b"\x00" + DEFAULT_TOPIC, 7) == (Verdict.UNSUBSCRIBE, (DEFAULT_TOPIC,))
    assert gate.applied == {7: {SALA}}


def test_stop_sheds_a_feed_that_still_has_the_parted_room(gate):
    gate.judge(_sub(TOKEN), 7, inode=70)
    gate.judge(b"\x00" + SALA, 7)  # it unsubscribed before parting: nothing to do
    assert gate.stop(ANA, SALA) is None
    assert gate.stop(ANA, DEFAULT_TOPIC) == (7, 70)  # it did not: its connection goes
    assert gate.reader == {} and gate.feed_of == {} and gate.applied == {}
    assert gate.stop(ANA, DEFAULT_TOPIC) is None
    assert gate.stop(b"\x00nobody", SALA) is None


def test_libzmqs_own_unsubscriptions_are_ignored_and_not_counted(gate):
    for _ in range(3 * MOST_SUBSCRIPTIONS):
        assert judge(gate, UNSUBSCRIBE_ALL, -1) is Verdict.IGNORE
        assert judge(gate, b"garbage", -1) is Verdict.IGNORE
    assert gate.reader == {}


def test_closed_forgets_the_connection_and_its_count(gate):
    for _ in range(MOST_SUBSCRIPTIONS):
        judge(gate, _sub(TOKEN), 7)
    gate.closed(7)
    assert gate.reader == {} and gate.feed_of == {}
    # The next connection on that descriptor number starts afresh.
    for _ in range(MOST_SUBSCRIPTIONS):
        assert judge(gate, _sub(TOKEN), 7) is Verdict.SUBSCRIBE
    gate.closed(99)  # unknown: nothing


def test_closed_of_an_old_feed_connection_keeps_the_sessions_new_one(gate):
    gate.judge(_sub(TOKEN), 7, inode=70)
    gate.judge(_sub(TOKEN), 8, inode=80)  # ana's client opened its feed again
    assert gate.feed_of == {ANA: (8, 80)}
    gate.closed(7)
    assert gate.feed_of == {ANA: (8, 80)} and gate.reader == {8: ANA}


def test_ended_names_the_feed_connection_to_shed(gate):
    gate.judge(_sub(TOKEN), 7, inode=70)
    assert gate.ended(ANA) == (7, 70)
    assert gate.reader == {} and gate.feed_of == {}
    assert gate.ended(ANA) is None
    assert gate.ended(b"\x00nobody") is None


def test_a_descriptor_ended_hands_back_starts_afresh_for_the_next_connection(gate):
    gate.judge(SUBSCRIBE_ALL, 7)
    judge(gate, _sub(TOKEN), 7)
    gate.ended(ANA)  # the server sheds descriptor 7 (broker/server.py _follow_sessions)
    # Honest subscribers that get that number later, one after the other (Linux gives
    # the lowest free number: the same one, again and again, on a quiet broker).
    for _ in range(2):
        assert judge(gate, SUBSCRIBE_ALL, 7) is Verdict.IGNORE
        assert judge(gate, _sub(TOKEN), 7) is Verdict.SUBSCRIBE
        gate.ended(ANA)
