"""protocol/rate.py: the token bucket both the broker and the client apply."""

import pytest

from zchat.protocol.rate import TokenBucket, take_both


def test_a_new_bucket_is_full():
    bucket = TokenBucket(2.0, 3)
    assert bucket.tokens == 3
    assert bucket.wait(0.0) == 0.0


def test_a_bucket_can_start_with_fewer_tokens():
    bucket = TokenBucket(2.0, 3, tokens=0.0)
    assert bucket.take(0.0) is False
    assert bucket.wait(0.0) == pytest.approx(0.5)


def test_take_spends_the_burst_then_refuses():
    bucket = TokenBucket(2.0, 3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.tokens == 0
    assert bucket.take(0.0) is False
    assert bucket.tokens == 0  # a refused take spends nothing


def test_a_refused_take_of_an_amount_spends_nothing():
    bucket = TokenBucket(1.0, 10)
    assert bucket.take(0.0, 7) is True
    assert bucket.take(0.0, 4) is False
    assert bucket.tokens == 3
    assert bucket.take(0.0, 3) is True
    assert bucket.tokens == 0


def test_tokens_come_back_at_the_rate():
    bucket = TokenBucket(2.0, 3)
    for _ in range(3):
        bucket.take(0.0)
    assert bucket.take(0.25) is False  # half a token
    assert bucket.take(0.5) is True  # one whole token after half a second
    assert bucket.take(0.5) is False
    assert bucket.take(1.0) is True
    assert bucket.take(1.5) is True


def test_refill_is_capped_at_the_burst():
    bucket = TokenBucket(2.0, 3)
    bucket.take(0.0)
    assert bucket.wait(1000.0) == 0.0
    assert bucket.tokens == 3  # not 2 + 2000
    assert [bucket.take(1000.0) for _ in range(4)] == [True, True, True, False]


def test_wait_says_how_long_until_an_amount_can_be_spent():
    bucket = TokenBucket(4.0, 8)
    assert bucket.take(0.0, 8)
    assert bucket.wait(0.0) == pytest.approx(0.25)
    assert bucket.wait(0.0, 4) == pytest.approx(1.0)
    assert bucket.wait(0.5, 4) == pytest.approx(0.5)
    assert bucket.wait(1.0, 4) == 0.0
    assert bucket.take(1.0, 4) is True


def test_wait_spends_nothing():
    bucket = TokenBucket(1.0, 2)
    for _ in range(5):
        assert bucket.wait(0.0) == 0.0
    assert bucket.tokens == 2
    assert bucket.take(0.0, 2) is True


def test_wait_for_more_than_the_burst_is_the_wait_for_a_full_bucket():
    bucket = TokenBucket(2.0, 4)
    bucket.take(0.0, 4)
    assert bucket.wait(0.0, 100) == pytest.approx(2.0)  # never longer than filling up
    assert bucket.wait(2.0, 100) == 0.0
    assert bucket.take(2.0, 100) is False  # but more than the burst is never spent at once


@pytest.mark.parametrize(("rate", "burst"), [(0.5, 1), (0.1, 2), (2.5, 5.5)])
def test_fractional_rates(rate, burst):
    bucket = TokenBucket(rate, burst)
    while bucket.take(0.0):
        pass
    left = bucket.tokens
    assert 0 <= left < 1
    wait = bucket.wait(0.0)
    assert wait == pytest.approx((1 - left) / rate)
    assert bucket.take(wait * 0.99) is False
    assert bucket.take(wait * 1.01) is True


def test_fractional_amounts():
    bucket = TokenBucket(0.5, 1)
    assert [bucket.take(0.0, 0.25) for _ in range(5)] == [True, True, True, True, False]
    assert bucket.wait(0.0, 0.25) == pytest.approx(0.5)
    assert bucket.take(0.5, 0.25) is True


def test_time_going_backwards_is_harmless():
    bucket = TokenBucket(1.0, 5)
    for _ in range(5):
        bucket.take(100.0)
    assert bucket.take(50.0) is False  # earlier than the last refill: no tokens appear
    assert bucket.tokens == 0
    assert bucket.wait(-1000.0) == pytest.approx(1.0)
    assert bucket.tokens >= 0
    # Back at the right time, refilling counts from the latest time seen, not the earlier one.
    assert bucket.take(100.5) is False
    assert bucket.take(101.0) is True
    assert bucket.take(99.0) is False
    assert 0 <= bucket.tokens <= bucket.burst


def test_a_clock_far_from_zero_starts_with_a_full_bucket_only():
    bucket = TokenBucket(10.0, 3)
    assert [bucket.take(1e6) for _ in range(4)] == [True, True, True, False]


def test_take_both_spends_from_both_buckets_or_from_neither() -> None:
    messages, octets = TokenBucket(rate=1, burst=2), TokenBucket(rate=100, burst=300)
    assert take_both(messages, octets, 0.0, 200)
    assert (messages.tokens, octets.tokens) == (1, 100)
    assert not take_both(messages, octets, 0.0, 150)  # bytes short: no message spent either
    assert (messages.tokens, octets.tokens) == (1, 100)
    assert take_both(messages, octets, 0.0, 100)
    assert not take_both(messages, octets, 0.0, 1)  # messages short: no bytes spent either
    assert (messages.tokens, octets.tokens) == (0, 0)
    # Refilled by time; a text bigger than the byte burst costs a full bucket, not forever.
    assert take_both(messages, octets, 3.0, 10_000)
    assert (messages.tokens, octets.tokens) == (1, 0)
