"""broker/feedgate.py: which subscriptions to the `--fanout pub` feed are honoured."""

import pytest

from zchat.broker.feedgate import MOST_SUBSCRIPTIONS, FeedGate, Verdict
from zchat.protocol.constants import FEED_TOPIC

TOKEN = "feed-token-0123456789abcdef"
ANA = b"\x00ana"
SUBSCRIBE_ALL, UNSUBSCRIBE_ALL = b"\x01", b"\x00"


def _sub(token: str | bytes) -> bytes:
    raw = token.encode("ascii") if isinstance(token, str) else token
    return b"\x01" + FEED_TOPIC + raw


@pytest.fixture
def gate() -> FeedGate:
    """One joined session, ana, holding TOKEN."""
    return FeedGate({TOKEN: ANA}.get)


def test_the_empty_prefix_is_ignored_and_its_end_unsubscribes(gate):
    assert gate.judge(SUBSCRIBE_ALL, 7) is Verdict.IGNORE  # given only with a token
    assert gate.judge(UNSUBSCRIBE_ALL, 7) is Verdict.UNSUBSCRIBE
    assert gate.reader == {} and gate.feed_of == {}


def test_the_token_of_a_joined_session_subscribes_and_is_remembered(gate):
    assert gate.judge(SUBSCRIBE_ALL, 7) is Verdict.IGNORE
    assert gate.judge(_sub(TOKEN), 7, inode=70) is Verdict.SUBSCRIBE
    assert gate.reader == {7: ANA}
    assert gate.feed_of == {ANA: (7, 70)}  # (with its socket's inode: numbers are reused)


def test_an_unsubscription_of_a_token_is_ignored(gate):
    assert gate.judge(b"\x00" + FEED_TOPIC + TOKEN.encode(), 7) is Verdict.IGNORE
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
    b"\x00random",                           # an unsubscription of a random topic
    b"\x02" + FEED_TOPIC + TOKEN.encode(),   # neither subscribe nor unsubscribe
    b"hello",
    b"",                                     # not even the first byte
], ids=["unknown", "empty-token", "longer", "non-ascii", "not-utf8", "random", "short",
        "almost-prefix", "unsubscribe-random", "first-byte-2", "text", "empty"])
def test_anything_else_sheds_the_connection(gate, message):
    assert gate.judge(message, 7) is Verdict.SHED
    assert gate.reader == {} and gate.feed_of == {}


def test_more_than_most_subscriptions_from_one_connection_shed_it(gate):
    for _ in range(MOST_SUBSCRIPTIONS // 2):  # the client's two, sent again on reconnect
        assert gate.judge(SUBSCRIBE_ALL, 7) is Verdict.IGNORE
        assert gate.judge(_sub(TOKEN), 7) is Verdict.SUBSCRIBE
    assert gate.judge(SUBSCRIBE_ALL, 7) is Verdict.SHED
    assert gate.judge(_sub(TOKEN), 8) is Verdict.SUBSCRIBE  # counted per connection


def test_libzmqs_own_unsubscriptions_are_ignored_and_not_counted(gate):
    for _ in range(3 * MOST_SUBSCRIPTIONS):
        assert gate.judge(UNSUBSCRIBE_ALL, -1) is Verdict.IGNORE
        assert gate.judge(b"garbage", -1) is Verdict.IGNORE
    assert gate.reader == {}


def test_closed_forgets_the_connection_and_its_count(gate):
    for _ in range(MOST_SUBSCRIPTIONS):
        gate.judge(_sub(TOKEN), 7)
    gate.closed(7)
    assert gate.reader == {} and gate.feed_of == {}
    # The next connection on that descriptor number starts afresh.
    for _ in range(MOST_SUBSCRIPTIONS):
        assert gate.judge(_sub(TOKEN), 7) is Verdict.SUBSCRIBE
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
    gate.judge(_sub(TOKEN), 7)
    gate.ended(ANA)  # the server sheds descriptor 7 (broker/server.py _follow_sessions)
    # Honest subscribers that get that number later, one after the other (Linux gives
    # the lowest free number: the same one, again and again, on a quiet broker).
    for _ in range(2):
        assert gate.judge(SUBSCRIBE_ALL, 7) is Verdict.IGNORE
        assert gate.judge(_sub(TOKEN), 7) is Verdict.SUBSCRIBE
        gate.ended(ANA)
