"""broker/backlog.py: the bytes each connection may still hold, counted without I/O."""

import pytest

from zchat.broker.backlog import Backlog

A, B, C, D = b"\x00a", b"\x00b", b"\x00c", b"\x00d"


@pytest.fixture
def backlog() -> Backlog:
    return Backlog(check_bytes=100, most=1000)


# ---- what a connection may hold -----------------------------------------------------

def test_nothing_is_held_by_an_unknown_connection(backlog):
    assert backlog.held(A) == 0
    assert len(backlog) == 0
    assert backlog.due() == []


def test_a_check_is_due_from_exactly_check_bytes_sent(backlog):
    assert backlog.sent(A, 60) is False
    assert backlog.sent(A, 39) is False
    assert backlog.held(A) == 99
    assert backlog.due() == []
    assert backlog.sent(A, 1) is True  # 100: exactly check_bytes
    assert backlog.held(A) == 100
    assert backlog.due() == [A]
    assert backlog.sent(A, 1) is True


def test_broadcasts_count_for_every_tracked_connection(backlog):
    backlog.track(A)
    backlog.track(B)
    backlog.fanned_out(99)
    assert backlog.held(A) == backlog.held(B) == 99
    assert backlog.due() == []
    backlog.fanned_out(1)
    assert sorted(backlog.due()) == [A, B]
    assert backlog.sent(C, 1) is False  # tracked from its first send: no broadcast before it


def test_broadcasts_and_own_sends_add_up(backlog):
    backlog.track(A)
    backlog.fanned_out(50)
    assert backlog.sent(A, 49) is False
    assert backlog.due() == []
    assert backlog.sent(A, 1) is True
    assert backlog.due() == [A]


def test_a_connection_tracked_later_does_not_count_earlier_broadcasts(backlog):
    backlog.track(A)
    backlog.fanned_out(80)
    backlog.track(B)
    backlog.track(B)  # (again: nothing changes)
    backlog.fanned_out(20)
    assert (backlog.held(A), backlog.held(B)) == (100, 20)
    assert backlog.due() == [A]


def test_drained_starts_counting_from_zero(backlog):
    backlog.track(A)
    backlog.fanned_out(70)
    backlog.sent(A, 70)
    assert backlog.drained(A) is False  # it was not stuck
    assert backlog.held(A) == 0
    assert backlog.due() == []
    backlog.fanned_out(99)
    assert backlog.due() == []
    assert backlog.sent(A, 1) is True
    assert backlog.drained(B) is False  # unknown


def test_missed_takes_the_bytes_back(backlog):
    backlog.track(A)
    backlog.fanned_out(120)
    assert backlog.due() == [A]
    backlog.missed(A, 120)  # that broadcast never reached its queue
    assert backlog.held(A) == 0
    assert backlog.due() == []
    backlog.sent(A, 30)
    backlog.missed(A, 30)
    assert backlog.held(A) == 0
    backlog.missed(B, 10)  # unknown: nothing to take back, nothing made
    assert len(backlog) == 1 and backlog.held(B) == 0


# ---- stuck connections ------------------------------------------------------------------

def test_stuck_now_freezes_the_figure(backlog):
    backlog.track(A)
    backlog.fanned_out(150)
    assert backlog.stuck_now(A, now=10.0) is True
    assert backlog.stuck_now(A, now=11.0) is False  # already stuck
    assert A in backlog.stuck
    assert backlog.held(A) == 150
    backlog.fanned_out(500)  # skipped for it: it holds no more
    backlog.sent(A, 50)
    assert backlog.held(A) == 150
    backlog.missed(A, 150)  # nor less
    assert backlog.held(A) == 150
    assert backlog.due() == []  # a stuck one is not checked as due (the server asks again)
    assert backlog.stuck_for(A, now=12.5) == 2.5  # since it first stuck
    assert backlog.stuck_for(B, now=12.5) == 0.0


def test_drained_ends_being_stuck(backlog):
    backlog.track(A)
    backlog.fanned_out(150)
    backlog.stuck_now(A, now=10.0)
    assert backlog.drained(A) is True
    assert A not in backlog.stuck
    assert backlog.held(A) == 0
    assert backlog.stuck_for(A, now=20.0) == 0.0
    backlog.fanned_out(100)  # counted again
    assert backlog.held(A) == 100 and backlog.due() == [A]
    assert backlog.drained(A) is False


def test_a_connection_can_be_found_stuck_before_it_is_tracked(backlog):
    assert backlog.stuck_now(A, now=1.0) is True
    assert A in backlog.stuck and len(backlog) == 1 and backlog.held(A) == 0


def test_forget(backlog):
    backlog.track(A)
    backlog.track(B)
    backlog.fanned_out(200)
    backlog.stuck_now(A, now=1.0)
    backlog.forget(A)
    backlog.forget(C)  # unknown: nothing
    assert len(backlog) == 1
    assert A not in backlog.stuck
    assert backlog.held(A) == 0
    assert backlog.due() == [B]


# ---- too much in all -------------------------------------------------------------------------

def _stuck_with(backlog: Backlog, identity: bytes, size: int) -> None:
    backlog.sent(identity, size)
    backlog.stuck_now(identity, now=1.0)


def test_nothing_is_shed_while_the_total_is_within_most():
    backlog = Backlog(check_bytes=100, most=1000)
    _stuck_with(backlog, A, 600)
    _stuck_with(backlog, B, 400)  # exactly most
    assert backlog.over() == []


def test_the_largest_stuck_ones_are_shed_first_until_within_most():
    backlog = Backlog(check_bytes=100, most=1000)
    _stuck_with(backlog, C, 200)
    _stuck_with(backlog, A, 600)
    _stuck_with(backlog, B, 300)
    backlog.sent(D, 500)  # not stuck (it reads): counted, never shed
    # 1600 in all: without A 1000, within most.
    assert backlog.over() == [A]
    backlog.most = 500
    assert backlog.over() == [A, B, C]  # 1600, 1000, 700, 500


def test_connections_that_are_not_stuck_are_never_shed():
    backlog = Backlog(check_bytes=100, most=100)
    _stuck_with(backlog, A, 50)
    backlog.sent(B, 5000)
    backlog.track(C)
    backlog.fanned_out(5000)
    assert backlog.over() == [A]  # still over, but only A may go
    backlog.forget(A)
    assert backlog.over() == []


def test_over_counts_broadcasts_to_everyone():
    backlog = Backlog(check_bytes=100, most=1000)
    for identity in (A, B, C):
        backlog.track(identity)
    backlog.fanned_out(300)
    _stuck_with(backlog, A, 100)  # 400, frozen
    backlog.fanned_out(100)  # B and C: 400 each, 1200 in all
    assert backlog.over() == [A]
