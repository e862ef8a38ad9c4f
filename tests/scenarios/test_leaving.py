"""Leaving in every way a person can, and being dropped when a client dies.

How a client leaves (the keys it reads, a closed pipe) is the client's business and
runs once; that the LEFT reaches the others, however it came about, runs in both
fan-out modes (conftest.py: ``both_fanouts``).
"""

import signal
import time

import pytest

from .harness import Cluster


@pytest.mark.parametrize("how", ["sair", "SAIR", "Sair", "/quit", "ctrl-d", "ctrl-c"])
def test_leaving_tells_the_others_and_exits_0(chat: Cluster, how: str) -> None:
    broker = chat.broker()
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    if how == "ctrl-d":
        ana.type("\x04")
    elif how == "ctrl-c":
        ana.type("\x03")  # the terminal turns it into SIGINT
    else:
        ana.line(how)
    bob.expect(r"\* ana left the chat \(left\)")
    ana.expect(r"Bye!")
    assert ana.wait() == 0
    assert "Traceback" not in ana.text
    bob.line("/who")
    bob.expect(r"Online \(1\): bob")


def test_eof_on_a_pipe_leaves(chat: Cluster) -> None:
    broker = chat.broker()
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint, use_pty=False)
    bob.expect("ana joined")
    ana.close_input()
    bob.expect(r"ana left the chat \(left\)")
    assert ana.wait() == 0


@pytest.mark.both_fanouts
def test_sigterm_on_a_client_leaves(chat: Cluster) -> None:
    broker = chat.broker()
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    ana.signal(signal.SIGTERM)
    bob.expect(r"ana left the chat \(left\)")
    assert ana.wait() == 0


@pytest.mark.both_fanouts
def test_killed_client_is_dropped_and_its_name_freed(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=0.2)
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    ana.signal(signal.SIGKILL)
    # Within ~3 intervals (0.6 s); the bound here only absorbs a loaded machine.
    bob.expect(r"\* ana left the chat \((timed out|connection lost)\)", timeout=5)
    broker.expect(r"leave ana \((timed out|connection lost)\)")
    bob.line("/who")
    bob.expect(r"Online \(1\): bob")
    again = chat.client("ana", broker.endpoint)
    again.expect("Online: bob")
    bob.expect("ana joined")


@pytest.mark.both_fanouts
def test_a_silent_client_times_out(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=0.2)
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    ana.signal(signal.SIGSTOP)  # alive but silent: the TCP connection stays open
    bob.expect(r"\* ana left the chat \(timed out\)", timeout=5)
    broker.expect(r"leave ana \(timed out\)")


@pytest.mark.both_fanouts
def test_idle_clients_stay_connected(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=0.1)
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    # The stimulus here is idleness itself: ten intervals with no user traffic,
    # in which heartbeats alone must keep both users in.
    time.sleep(1.0)
    ana.line("/who")
    ana.expect(r"Online \(2\): ana, bob")
    assert "left the chat" not in bob.text


def test_duplicate_name_is_refused(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    for name in ("ana", "ANA"):
        other = chat.client(name, broker.endpoint, wait=False)
        other.expect(r"the name \S+ is already taken by someone online")
        assert other.wait() == 1
    ana.line("/who")
    ana.expect(r"Online \(1\): ana")


@pytest.mark.parametrize("name", ["a b", "@ana", "/ana", "x" * 33, "a\x1bb", ""])
def test_invalid_name_is_a_usage_error_before_any_traffic(chat: Cluster, name: str) -> None:
    # No broker at all: the name is refused before connecting.
    proc = chat.spawn(["join", name, "--connect", "tcp://127.0.0.1:9"], use_pty=False)
    assert proc.wait() == 2
    proc.expect(r"Invalid value for 'NAME'")
    assert "connecting" not in proc.text
