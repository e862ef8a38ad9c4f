"""Anything a raw DEALER can send: the broker answers where it can and never falls over."""

import pytest

from zchat.protocol import Error, Join, Msg, Say, Welcome, encode

from .frames import error_code
from .harness import Cluster, RawPeer

GARBAGE = [
    ([b""], "BAD_SIGNATURE"),
    ([b"hello"], "BAD_SIGNATURE"),
    ([b"GET / HTTP/1.1\r\n\r\n"], "BAD_SIGNATURE"),
    ([b"ZCHAT/2 SAY {}"], "VERSION"),
    ([b"ZCHAT/1 FLY {}"], "UNKNOWN_COMMAND"),
    ([b"ZCHAT/1 SAY \xff\xfe"], "BAD_FRAME"),
    ([b"ZCHAT/1 SAY {not json"], "BAD_FRAME"),
    ([b"ZCHAT/1 SAY [1,2]"], "BAD_FRAME"),
    ([b"ZCHAT/1 SAY " + b"[" * 5000], "BAD_FRAME"),
    ([b"ZCHAT/1 SAY {\"text\": 5}"], "BAD_FRAME"),
    ([b"ZCHAT/1 SAY {\"text\": \"x\"}", b"extra"], "BAD_FRAME"),
    ([b"a", b"b", b"c"], "BAD_FRAME"),
    ([encode(Say("before join"))], "NOT_JOINED"),
    ([b"ZCHAT/1 PING"], "NOT_JOINED"),
    ([b"ZCHAT/1 WHO"], "NOT_JOINED"),
    ([encode(Join("bad name"))], "BAD_NAME"),
    ([encode(Join("a\x1b[2Jb"))], "BAD_NAME"),
    ([b"ZCHAT/1 SAY {\"text\": \"" + b"x" * 2001 + b"\"}"], "TOO_LONG"),
]


def test_wire_garbage_gets_errors_and_never_reaches_anyone(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    peer = RawPeer(broker.endpoint)
    try:
        for frames, code in GARBAGE:
            peer.send(*frames)
            reply = peer.recv()
            assert len(reply) == 1, reply
            assert error_code(reply[0]) == code, frames
        # A 2 MiB frame is over ZMQ_MAXMSGSIZE: libzmq drops that connection,
        # so no reply is possible, but the broker carries on.
        peer.send(b"ZCHAT/1 SAY {\"text\": \"" + b"x" * (2 << 20) + b"\"}")
    finally:
        peer.close()
    ana.line("ainda aqui")
    bob.expect("ana: ainda aqui")
    bob.line("/who")
    bob.expect(r"Online \(2\): ana, bob")
    for proc in (ana, bob):
        proc.assert_not_seen(r"before join|bad name|HTTP|extra")
    assert "Traceback" not in broker.text


def test_an_honest_raw_peer_can_chat(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    peer = RawPeer(broker.endpoint)
    try:
        peer.send(encode(Join("raw", "t" * 32)))
        welcome = peer.next(Welcome)
        assert welcome.users == ("ana",) and welcome.heartbeat == pytest.approx(0.2)
        ana.expect("raw joined")
        ana.line("oi raw")
        msg = peer.next_event(lambda e: isinstance(e, Msg), what="MSG")
        assert isinstance(msg, Msg)
        assert (msg.sender, msg.text) == ("ana", "oi raw")
        peer.send(encode(Say("oi ana")))
        ana.expect("raw: oi ana")
    finally:
        peer.close()


def test_same_token_replaces_a_stale_session_other_token_is_refused(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=5)  # long enough that nothing expires meanwhile
    token = "a1" * 16
    first, second, third = (RawPeer(broker.endpoint) for _ in range(3))
    watcher = chat.client("bob", broker.endpoint, heartbeat=5)
    try:
        first.send(encode(Join("ana", token)))
        assert first.next(Welcome).resumed is False
        watcher.expect("ana joined")
        # The same client on a new socket (its old one is stale but not yet expired).
        second.send(encode(Join("ana", token)))
        assert second.next(Welcome).resumed is True
        # Someone else asking for the live name is still refused.
        third.send(encode(Join("Ana", "b2" * 16)))
        assert third.next(Error).code == "NAME_TAKEN"
        second.send(encode(Say("same session")))
        watcher.expect("ana: same session")
        watcher.assert_not_seen("ana left")
        assert watcher.count("ana joined") == 1
    finally:
        for peer in (first, second, third):
            peer.close()
