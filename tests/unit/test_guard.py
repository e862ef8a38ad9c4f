"""broker/guard.py: which connections the broker keeps, a policy over descriptor numbers.

Pure: descriptors, inodes and times are made up here; nothing is opened.
"""

import pytest

from zchat.broker.guard import (
    FULL,
    LOCAL,
    PER_ADDRESS,
    UNJOINED,
    Bounds,
    Guard,
    Shed,
    address_group,
)
from zchat.protocol import constants as c


def _inode(fd: int) -> int:
    return 1000 + fd  # a made-up socket inode per descriptor


def _accept(guard: Guard, fd: int, peer: str = "10.0.0.1", now: float = 0.0) -> list[Shed]:
    return guard.accepted(fd, _inode(fd), peer, now)


# ---- address_group -------------------------------------------------------------------

@pytest.mark.parametrize(("peer", "group"), [
    ("10.1.2.3", "10.1.2.3"),
    ("127.0.0.1", "127.0.0.1"),
    # IPv6: the /64, however the address is spelt.
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:0DB8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::1", "::/64"),
    # IPv4-mapped IPv6 (a dual-stack listener's view of an IPv4 peer): its IPv4.
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("::ffff:a01:203", "10.1.2.3"),
    # Brackets and zone ids (link-local addresses) are not part of the address.
    ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("[fe80::1%2]", "fe80::/64"),
    ("[::ffff:10.1.2.3]", "10.1.2.3"),
    # What cannot be parsed is counted as itself.
    ("not-an-address", "not-an-address"),
    ("10.1.2", "10.1.2"),
    ("[]", "[]"),
    # No address at all: a Unix-socket peer.
    ("", LOCAL),
])
def test_address_group(peer, group):
    assert address_group(peer) == group


def test_address_groups_of_one_host_are_equal_and_of_others_differ():
    assert address_group("2001:db8::1") == address_group("2001:db8::ffff:1")
    assert address_group("2001:db8::1") != address_group("2001:db8:0:1::1")
    assert address_group("::ffff:10.0.0.1") == address_group("10.0.0.1")
    assert address_group("10.0.0.1") != address_group("10.0.0.2")


def test_local_is_the_empty_string():
    assert LOCAL == ""


def test_the_default_bounds_are_the_protocol_constants():
    bounds = Bounds()
    assert bounds.per_address == c.DEFAULT_MAX_PER_ADDRESS
    assert bounds.unjoined_seconds == c.UNJOINED_SECONDS


# ---- per address ---------------------------------------------------------------------

def test_the_connection_over_the_per_address_bound_is_shed():
    guard = Guard(Bounds(per_address=3, connections=100))
    for fd in (10, 11, 12):
        assert _accept(guard, fd) == []
    assert _accept(guard, 13) == [Shed(13, _inode(13), "10.0.0.1", PER_ADDRESS)]
    assert 13 not in guard and len(guard) == 3
    assert guard.from_address("10.0.0.1") == 3
    for fd in (10, 11, 12):  # the older ones stay
        assert fd in guard


def test_other_addresses_are_not_limited_by_one_full_address():
    guard = Guard(Bounds(per_address=2, connections=100))
    _accept(guard, 10)
    _accept(guard, 11)
    assert _accept(guard, 12) != []
    assert _accept(guard, 13, "10.0.0.2") == []
    assert _accept(guard, 14, "10.0.0.2") == []
    assert _accept(guard, 15, "10.0.0.2")[0].why == PER_ADDRESS


def test_a_closed_connection_frees_its_place_at_its_address():
    guard = Guard(Bounds(per_address=2, connections=100))
    _accept(guard, 10)
    _accept(guard, 11)
    guard.closed(10)
    assert guard.from_address("10.0.0.1") == 1
    assert _accept(guard, 12) == []
    assert _accept(guard, 13)[0].fd == 13


def test_an_ipv6_slash_64_counts_as_one_address():
    guard = Guard(Bounds(per_address=2, connections=100))
    assert _accept(guard, 10, "2001:db8::1") == []
    assert _accept(guard, 11, "[2001:db8::2]") == []
    assert _accept(guard, 12, "2001:db8::ffff:3") == [
        Shed(12, _inode(12), "2001:db8::/64", PER_ADDRESS)]
    assert _accept(guard, 13, "2001:db8:0:1::1") == []  # the next /64


def test_local_peers_are_never_limited_per_address():
    guard = Guard(Bounds(per_address=1, connections=100))
    for fd in range(10, 30):
        assert _accept(guard, fd, LOCAL) == []
    assert len(guard) == 20
    assert guard.from_address(LOCAL) == 20  # still counted


# ---- in all --------------------------------------------------------------------------

def test_over_the_total_bound_the_oldest_unjoined_are_shed_down_to_a_sixteenth_below():
    guard = Guard(Bounds(per_address=1000, connections=32))
    for fd in range(100, 132):
        assert _accept(guard, fd, now=fd) == []
    for fd in (100, 102):
        guard.joined(fd)
    shed = _accept(guard, 132, now=132)
    # 33 connections, bound 32: down to 32 - 32 // 16 = 30, oldest unjoined first.
    assert shed == [Shed(fd, _inode(fd), "10.0.0.1", FULL) for fd in (101, 103, 104)]
    assert len(guard) == 30
    assert 100 in guard and 102 in guard and 132 in guard


def test_a_small_total_bound_sheds_at_least_one_below_it():
    guard = Guard(Bounds(per_address=1000, connections=4))
    for fd in range(4):
        _accept(guard, fd)
    assert [s.fd for s in _accept(guard, 4)] == [0, 1]  # down to 4 - 1
    assert len(guard) == 3


def test_joined_connections_are_never_shed_for_the_total_the_newcomer_is():
    guard = Guard(Bounds(per_address=1000, connections=4))
    for fd in range(4):
        _accept(guard, fd)
        guard.joined(fd)
    assert _accept(guard, 4) == [Shed(4, _inode(4), "10.0.0.1", FULL)]
    assert len(guard) == 4 and 4 not in guard
    assert guard.unjoined == 0


def test_when_too_few_older_are_unjoined_they_go_and_the_newcomer_too():
    guard = Guard(Bounds(per_address=1000, connections=32))
    for fd in range(32):
        _accept(guard, fd)
        if fd != 7:
            guard.joined(fd)
    assert [s.fd for s in _accept(guard, 32)] == [7, 32]
    assert len(guard) == 31


def test_local_peers_count_toward_the_total():
    guard = Guard(Bounds(per_address=1, connections=4))
    for fd in range(4):
        _accept(guard, fd, LOCAL)
    assert [s.fd for s in _accept(guard, 4, LOCAL)] == [0, 1]


# ---- joined, left, closed -----------------------------------------------------------

def test_joined_left_closed_are_counted():
    guard = Guard(Bounds())
    _accept(guard, 5)
    _accept(guard, 6)
    assert (len(guard), guard.unjoined) == (2, 2)
    guard.joined(5)
    assert guard.unjoined == 1 and guard.conn(5).joined
    guard.left(5, now=1.0)
    assert guard.unjoined == 2 and not guard.conn(5).joined
    guard.closed(5)
    guard.closed(5)  # twice: nothing more
    assert (len(guard), guard.unjoined, guard.from_address("10.0.0.1")) == (1, 1, 1)
    assert guard.conn(5) is None and 5 not in guard
    guard.closed(6)
    assert (len(guard), guard.unjoined, guard.from_address("10.0.0.1")) == (0, 0, 0)


def test_unknown_descriptors_are_ignored():
    guard = Guard(Bounds())
    guard.joined(9)
    guard.left(9, 1.0)
    guard.closed(9)
    assert len(guard) == 0 and guard.next_deadline() == float("inf")


def test_a_reused_descriptor_number_is_counted_once():
    guard = Guard(Bounds(per_address=2, connections=100))
    _accept(guard, 7, "10.0.0.1")
    guard.joined(7)
    # Its connection went and another took the number before we heard it close.
    assert guard.accepted(7, 4242, "10.0.0.2", 3.0) == []
    assert len(guard) == 1 and guard.unjoined == 1
    assert guard.conn(7).inode == 4242 and not guard.conn(7).joined
    assert guard.from_address("10.0.0.1") == 0
    assert guard.from_address("10.0.0.2") == 1
    assert guard.accepted(7, 4243, "10.0.0.2", 4.0) == []  # the same address again
    assert guard.from_address("10.0.0.2") == 1


# ---- expiry --------------------------------------------------------------------------

def test_unjoined_connections_expire_in_age_order():
    guard = Guard(Bounds(unjoined_seconds=5.0))
    _accept(guard, 1, now=0.0)
    _accept(guard, 2, now=1.0)
    _accept(guard, 3, now=2.0)
    assert guard.expire(4.99) == []
    assert guard.expire(5.0) == [Shed(1, _inode(1), "10.0.0.1", UNJOINED)]
    assert 1 not in guard
    assert [s.fd for s in guard.expire(7.5)] == [2, 3]
    assert len(guard) == 0


def test_joined_connections_never_expire():
    guard = Guard(Bounds(unjoined_seconds=5.0))
    _accept(guard, 1, now=0.0)
    _accept(guard, 2, now=0.0)
    guard.joined(1)
    assert [s.fd for s in guard.expire(1e9)] == [2]
    assert 1 in guard


def test_left_restarts_the_clock():
    guard = Guard(Bounds(unjoined_seconds=5.0))
    _accept(guard, 1, now=0.0)
    guard.joined(1)
    _accept(guard, 2, now=3.0)
    guard.left(1, now=4.0)  # now younger than 2
    assert guard.expire(7.9) == []
    assert [s.fd for s in guard.expire(8.5)] == [2]
    assert guard.expire(8.99) == []
    assert [s.fd for s in guard.expire(9.0)] == [1]


def test_left_without_having_joined_does_not_restart_the_clock():
    guard = Guard(Bounds(unjoined_seconds=5.0))
    _accept(guard, 1, now=0.0)
    guard.left(1, now=4.0)
    assert [s.fd for s in guard.expire(5.0)] == [1]


def test_next_deadline_is_when_the_oldest_unjoined_expires():
    guard = Guard(Bounds(unjoined_seconds=5.0))
    assert guard.next_deadline() == float("inf")
    _accept(guard, 1, now=1.0)
    _accept(guard, 2, now=2.0)
    assert guard.next_deadline() == 6.0
    guard.joined(1)
    assert guard.next_deadline() == 7.0
    guard.joined(2)
    assert guard.next_deadline() == float("inf")
    guard.left(1, now=10.0)
    assert guard.next_deadline() == 15.0
    guard.expire(15.0)
    assert guard.next_deadline() == float("inf")
