"""The real client against a hostile broker: a bare ROUTER in this process that
answers JOIN with whatever the test chooses. Nothing it sends may reach the
user's terminal raw, and nothing it names may end the client."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from zchat.protocol import (
    Bye,
    Error,
    Events,
    Join,
    Joined,
    Left,
    Msg,
    Notice,
    Priv,
    Users,
    Welcome,
    decode_client,
    encode,
)
from zchat.protocol import constants as c

from .harness import Cluster, FakeBroker, Proc

#: An OSC window title, a clear screen and an 8-bit CSI (a C1 control).
ATTACK = "\x1b]0;pwned\x07\x1b[2J\x9b"
#: The name a hostile WELCOME gives the client, and a name for everyone else.
EVIL = "ana" + ATTACK
OTHER = "bob" + ATTACK
#: What the client may write itself: clear line and colours.
OWN_SEQUENCES = re.compile(r"\x1b\[(K|[0-9;]*m)")


@pytest.fixture
def fake() -> Iterator[FakeBroker]:
    broker = FakeBroker()
    try:
        yield broker
    finally:
        broker.close()


def assert_terminal_clean(proc: Proc) -> None:
    """The bytes written to the pty hold no control sequence but the client's own."""
    leftover = OWN_SEQUENCES.sub("", proc.raw.decode("utf-8", "replace"))
    for bad in ("\x1b", "\x07", "\x9b"):
        assert bad not in leftover, f"{bad!r} reached the terminal:\n{proc.tail()}"


def joined(fake: FakeBroker) -> tuple[bytes, Join]:
    """Wait for the client's next JOIN (skipping PINGs on an older socket)."""
    identity, frame = fake.recv_until(b"ZCHAT/1 JOIN")
    join = decode_client(frame)
    assert isinstance(join, Join)
    return identity, join


def test_nothing_a_broker_sends_reaches_the_terminal_raw(chat: Cluster,
                                                          fake: FakeBroker) -> None:
    ana = chat.client("ana", fake.endpoint, wait=False)
    who, join = joined(fake)
    assert join.name == "ana"
    fake.send(who, encode(Welcome(EVIL, join.token, 0.2, users=(EVIL,), server=EVIL,
                                  epoch="e")))
    ana.expect(r"Welcome to zchat, ")
    now = time.time()
    for msg in (Users((EVIL, OTHER)),
                Error(EVIL, EVIL, EVIL),  # an unknown code
                Error(c.E_NO_SUCH_USER, EVIL, EVIL),
                Notice(EVIL, EVIL),
                Events(c.K_HISTORY, (Msg(OTHER, "from history", now),)),
                Joined(OTHER, now, 1, 0),
                Msg(OTHER, "public", now, 2, 1),
                Priv(OTHER, EVIL, "private", now, 1, 0),
                Left(OTHER, ATTACK, now, 3, 2),
                Bye(ATTACK)):  # a BYE nobody asked for
        fake.send(who, encode(msg))
    ana.expect(r"left the chat")
    assert_terminal_clean(ana)
    # The client keeps the name it asked for: the broker's string never drives the
    # prompt, and it is the name the client joins with again.
    ana.expect(r"ana> ", anywhere=True)
    assert "Welcome to zchat, ana!" in ana.text
    assert "\\x1b]0;pwned\\x07" in ana.text  # shown escaped where it is shown at all

    # Silence: the client gives the broker up and joins again, on a new socket.
    ana.expect(r"Connection to the broker lost")
    who, join = joined(fake)
    assert join.name == "ana"
    fake.send(who, encode(Welcome(EVIL, join.token, 0.2, resumed=True, epoch="e", pub=3,
                                  priv=1)))
    ana.expect(r"Reconnected as ana\.")
    ana.expect(r"\rana> ")
    assert_terminal_clean(ana)


def test_a_broker_naming_an_unusable_feed_does_not_end_the_client(chat: Cluster,
                                                                  fake: FakeBroker) -> None:
    ana = chat.client("ana", fake.endpoint, wait=False)
    who, join = joined(fake)
    fake.send(who, encode(Welcome("ana", join.token, 1.0, epoch="e", fanout=c.FANOUT_PUB,
                                  feeds=("tcp://127.0.0.1:notaport", "ipc://"))))
    ana.expect(r"Welcome to zchat, ana!")
    fake.send(who, encode(Msg("bob", "still here", time.time(), 1, 0)))
    ana.expect(r"bob: still here")
    assert ana.proc.poll() is None
