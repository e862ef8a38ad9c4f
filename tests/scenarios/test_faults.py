"""The broker dies, restarts, starts late, or cannot start: users are told and rejoin.

Every scenario with a chat runs in both fan-out modes; a broker that cannot start
runs once (conftest.py: ``both_fanouts``).
"""

import signal

import pytest

from .harness import Cluster


@pytest.mark.both_fanouts
def test_broker_killed_and_restarted_clients_rejoin(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=0.2)
    endpoint = broker.endpoint
    ana = chat.client("ana", endpoint)
    bob = chat.client("bob", endpoint)
    ana.expect("bob joined")
    broker.signal(signal.SIGKILL)
    broker.wait()
    ana.expect(r"Connection to the broker lost; reconnecting", timeout=5)
    bob.expect(r"Connection to the broker lost; reconnecting", timeout=5)
    again = chat.broker(bind=endpoint, heartbeat=0.2, data_dir=broker.data_dir)
    assert again.endpoint == endpoint
    ana.expect(r"Reconnected as ana")
    bob.expect(r"Reconnected as bob")
    ana.line("de volta")
    bob.expect(r"ana: de volta")
    bob.line("/who")
    bob.expect(r"Online \(2\): ana, bob")
    assert "Traceback" not in ana.text + bob.text


@pytest.mark.both_fanouts
def test_client_started_before_the_broker_joins_when_it_is_up(chat: Cluster) -> None:
    endpoint = f"ipc://{chat.tmp}/zchat.sock"
    ana = chat.client("ana", endpoint, wait=False)
    ana.expect(rf"connecting to {endpoint} as ana")
    chat.broker(bind=endpoint)
    ana.expect(r"Welcome to zchat, ana!")
    bob = chat.client("bob", endpoint)
    bob.line("cheguei")
    ana.expect(r"bob: cheguei")


@pytest.mark.both_fanouts
def test_stopped_client_comes_back_and_rejoins(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=0.2)
    bob = chat.client("bob", broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    ana.signal(signal.SIGSTOP)  # a brief drop: the broker expires ana
    bob.expect(r"ana left the chat \(timed out\)", timeout=5)
    bob.line("while you were away")
    ana.signal(signal.SIGCONT)
    ana.expect(r"Connection to the broker lost; reconnecting", timeout=5)
    ana.expect(r"Reconnected as ana")
    bob.expect(r"ana joined")
    ana.line("voltei")
    bob.expect(r"ana: voltei")


@pytest.mark.both_fanouts
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_broker_stops_cleanly_and_tells_clients(chat: Cluster, sig: int) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    broker.signal(sig)
    assert broker.wait() == 0
    ana.expect(r"The broker is shutting down")
    broker.expect(r"stopping: told 1 client\(s\) the broker is going away")
    broker.expect(r"broker stopped")
    assert "Traceback" not in broker.text
    # The client stays, waiting to rejoin; a new broker brings it back.
    chat.broker(bind=broker.endpoint, data_dir=broker.data_dir)
    ana.expect(r"Reconnected as ana")


def test_port_in_use_is_one_clear_line(chat: Cluster) -> None:
    first = chat.broker()
    second = chat.broker(bind=first.endpoint, wait=False)
    assert second.wait() == 1
    second.expect(rf"zchat: cannot listen on {first.endpoint}: address already in use")
    assert "Traceback" not in second.text


@pytest.mark.parametrize("endpoint", ["tcp://192.0.2.1:5555", "tcp://no-such-iface:5555",
                                      "ipc:///no/such/dir/zchat.sock"])
def test_endpoint_that_cannot_be_bound_is_one_clear_line(chat: Cluster, endpoint: str) -> None:
    """Well formed, but not here (an address of another host, no such interface or
    folder): only binding can tell. (A malformed one is a usage error, exit 2, before
    anything is opened: tests/unit/test_cli_args.py.)"""
    broker = chat.broker(bind=endpoint, wait=False)
    assert broker.wait() == 1
    broker.expect(r"zchat: cannot listen on ")
    assert "Traceback" not in broker.text


def test_malformed_endpoint_is_a_usage_error(chat: Cluster) -> None:
    broker = chat.broker(bind="tcp://127.0.0.1:notaport", wait=False)
    assert broker.wait() == 2
    broker.expect(r"Invalid value for '--bind': 'tcp://127\.0\.0\.1:notaport'")
    assert not broker.data_dir.exists()


@pytest.mark.both_fanouts
def test_several_binds_tcp_and_ipc(chat: Cluster) -> None:
    ipc = f"ipc://{chat.tmp}/b.sock"
    broker = chat.broker("--bind", ipc)
    broker.expect(rf"{ipc}")  # both endpoints are on the ready line
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", ipc)
    ana.expect("bob joined")
    bob.line("via ipc")
    ana.expect("bob: via ipc")


# A long heartbeat, so that only the socket monitor can tell the client in time: liveness
# would take 2 to 3 intervals (10 to 15 s) after a crash.
SLOW_HEARTBEAT = 5.0
#: Generous for a move that takes a fraction of a second, and well under liveness.
PROMPT = 5.0


@pytest.mark.both_fanouts
def test_broker_killed_single_client_says_so_at_once_and_rejoins(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=SLOW_HEARTBEAT)
    endpoint = broker.endpoint
    ana = chat.client("ana", endpoint)
    bob = chat.client("bob", endpoint)
    ana.expect("bob joined")
    broker.signal(signal.SIGKILL)
    broker.wait()
    # The kernel reset the connections: that is known at once, not after 3 silent
    # intervals.
    ana.expect(r"Connection to the broker lost; reconnecting", timeout=PROMPT)
    bob.expect(r"Connection to the broker lost; reconnecting", timeout=PROMPT)
    ana.line("ana-1")  # kept, and sent once the broker is back
    chat.broker(bind=endpoint, heartbeat=SLOW_HEARTBEAT, data_dir=broker.data_dir)
    ana.expect(r"Reconnected as ana")
    bob.expect(r"Reconnected as bob")
    bob.expect(r"ana: ana-1")
    bob.line("/who")
    bob.expect(r"Online \(2\): ana, bob")
    assert bob.count(r"ana: ana-1") == 1
    assert "Traceback" not in ana.text + bob.text


@pytest.mark.both_fanouts
def test_broker_restarted_at_once_client_resumes_without_a_word(chat: Cluster) -> None:
    """A reset that is not a crash: the broker is back on its port (same history)
    before the client redials, so the client rejoins there and tells its user
    nothing but that it reconnected. (ana is stopped while the broker restarts:
    a restart quicker than her redial, whatever the machine's speed; bob, not
    stopped, sees a crash and a return.)"""
    broker = chat.broker(heartbeat=SLOW_HEARTBEAT)
    endpoint = broker.endpoint
    ana = chat.client("ana", endpoint)
    bob = chat.client("bob", endpoint)
    ana.expect("bob joined")
    ana.signal(signal.SIGSTOP)
    broker.signal(signal.SIGKILL)
    broker.wait()
    bob.expect(r"Connection to the broker lost; reconnecting", timeout=PROMPT)
    chat.broker(bind=endpoint, heartbeat=SLOW_HEARTBEAT, data_dir=broker.data_dir)
    bob.expect(r"Reconnected as bob")
    ana.line("ana-1")  # typed while stopped: read when she runs again
    ana.signal(signal.SIGCONT)
    ana.expect(r"Reconnected as ana", timeout=PROMPT)
    bob.expect(r"ana: ana-1")
    bob.line("bob-1")
    ana.expect(r"bob: bob-1")
    ana.assert_not_seen(r"Connection to the broker lost|Not connected")
    assert bob.count(r"ana: ana-1") == 1
    assert "Traceback" not in ana.text + bob.text
