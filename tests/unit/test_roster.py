"""broker/roster.py: sessions indexed by identity and by case-folded name."""

import re

from zchat.broker.roster import Roster, Session
from zchat.broker.store import stream_key


def test_empty_roster():
    r = Roster()
    assert len(r) == 0
    assert r.by_identity(b"a") is None
    assert r.by_name("ana") is None
    assert r.names() == []
    assert r.by_stream(stream_key("tok")) is None
    assert r.sessions() == []
    assert list(r.identities()) == []
    assert r.silent_since(1e9) == []


def test_add_indexes_by_identity_and_name():
    r = Roster()
    s = r.add("Ana", b"id-a", 5.0, "1.2.3.4", "tok")
    assert isinstance(s, Session)
    assert (s.name, s.identity, s.token, s.last_seen, s.peer, s.key) == (
        "Ana", b"id-a", "tok", 5.0, "1.2.3.4", "ana")
    assert len(r) == 1
    assert r.by_identity(b"id-a") is s
    for variant in ("Ana", "ana", "ANA", "aNa"):
        assert r.by_name(variant) is s
    assert r.by_name("anna") is None
    assert list(r.identities()) == [b"id-a"]
    assert r.sessions() == [s]


def test_add_without_token_makes_a_random_one():
    r = Roster()
    a = r.add("ana", b"a", 0.0)
    b = r.add("bob", b"b", 0.0)
    assert re.fullmatch(r"[0-9a-f]{32}", a.token)
    assert re.fullmatch(r"[0-9a-f]{32}", b.token)
    assert a.token != b.token


def test_names_are_sorted_case_insensitively():
    r = Roster()
    for i, name in enumerate(["carol", "Bob", "ana", "Dave", "álvaro"]):
        r.add(name, bytes([i]), 0.0)
    assert r.names() == ["ana", "Bob", "carol", "Dave", "álvaro"]


def test_remove():
    r = Roster()
    a = r.add("ana", b"a", 0.0)
    b = r.add("bob", b"b", 0.0)
    r.remove(a)
    assert len(r) == 1
    assert r.by_identity(b"a") is None
    assert r.by_name("ana") is None
    assert r.by_name("bob") is b
    assert r.names() == ["bob"]
    r.remove(a)  # removing twice is harmless
    assert len(r) == 1


def test_removing_a_stale_session_keeps_the_new_holder_of_the_name():
    r = Roster()
    old = r.add("ana", b"a", 0.0)
    r.remove(old)
    new = r.add("ANA", b"b", 1.0)
    r.remove(old)
    assert r.by_name("ana") is new
    assert r.by_identity(b"b") is new


def test_rebind_moves_the_session_to_a_new_identity():
    r = Roster()
    s = r.add("ana", b"old", 0.0, "1.1.1.1", "tok")
    r.rebind(s, b"new", 7.0, "2.2.2.2")
    assert r.by_identity(b"old") is None
    assert r.by_identity(b"new") is s
    assert r.by_name("ana") is s
    assert (s.identity, s.last_seen, s.peer, s.token) == (b"new", 7.0, "2.2.2.2", "tok")
    assert len(r) == 1
    assert list(r.identities()) == [b"new"]


def test_rebind_without_peer_keeps_the_old_peer():
    r = Roster()
    s = r.add("ana", b"old", 0.0, "1.1.1.1")
    r.rebind(s, b"new", 1.0)
    assert s.peer == "1.1.1.1"


def test_silent_since_is_strict():
    r = Roster()
    a = r.add("ana", b"a", 1.0)
    b = r.add("bob", b"b", 2.0)
    c = r.add("carol", b"c", 3.0)
    assert r.silent_since(1.0) == []
    assert r.silent_since(2.0) == [a]
    assert r.silent_since(3.5) == [a, b, c]
    b.last_seen = 10.0
    assert r.silent_since(3.5) == [a, c]


def test_by_stream_finds_the_session_holding_a_token_whatever_its_name():
    r = Roster()
    a = r.add("Ana", b"a", 0.0, token="tok-a")
    b = r.add("bob", b"b", 0.0)
    assert r.by_stream(stream_key("tok-a")) is a
    assert r.by_stream(a.stream) is a
    assert r.by_stream(b.stream) is b
    assert r.by_stream(stream_key(b.token)) is b
    # Keyed by the token's stream key: neither the token, nor the name, finds it.
    for other in ("tok-a", "Ana", "ana", stream_key("tok-b"), stream_key("Ana")):
        assert r.by_stream(other) is None, other


def test_by_stream_follows_rebind_and_remove():
    r = Roster()
    s = r.add("ana", b"old", 0.0, token="tok")
    r.rebind(s, b"new", 1.0)
    assert r.by_stream(stream_key("tok")) is s
    r.remove(s)
    assert r.by_stream(stream_key("tok")) is None
    r.remove(s)  # twice: harmless
    assert r.by_stream(stream_key("tok")) is None


def test_removing_a_stale_session_keeps_the_new_holder_of_the_token():
    r = Roster()
    old = r.add("ana", b"a", 0.0, token="tok")
    r.remove(old)
    new = r.add("bob", b"b", 1.0, token="tok")
    r.remove(old)
    assert r.by_stream(stream_key("tok")) is new


# ---- take_changes: which identities gained or lost a session --------------------------

def test_take_changes_reports_each_identity_that_joined_or_left_in_order():
    r = Roster()
    assert r.take_changes() == []
    ana = r.add("ana", b"a", 0.0)
    r.add("bob", b"b", 0.0)
    assert r.take_changes() == [(b"a", True), (b"b", True)]
    assert r.take_changes() == []  # taken: reported once
    r.remove(ana)
    assert r.take_changes() == [(b"a", False)]


def test_take_changes_after_a_rebind_reports_the_old_identity_gone_then_the_new_one():
    r = Roster()
    s = r.add("ana", b"old", 0.0, token="tok")
    r.take_changes()
    r.rebind(s, b"new", 1.0)
    assert r.take_changes() == [(b"old", False), (b"new", True)]
    r.remove(s)
    assert r.take_changes() == [(b"new", False)]


def test_removing_an_unknown_or_already_removed_session_reports_nothing():
    r = Roster()
    s = r.add("ana", b"a", 0.0)
    r.remove(s)
    r.take_changes()
    r.remove(s)  # again
    r.remove(Session("ghost", b"g", "tok", 0.0))  # never added
    assert r.take_changes() == []
    assert len(r) == 0


def test_removing_a_stale_session_after_a_rebind_reports_only_what_changed():
    r = Roster()
    s = r.add("ana", b"a", 0.0, token="tok")
    r.rebind(s, b"a2", 1.0)
    r.take_changes()
    stale = Session("ana", b"a", "tok", 0.0)  # an older object for the old identity
    r.remove(stale)
    assert r.take_changes() == []
    assert r.by_identity(b"a2") is s
