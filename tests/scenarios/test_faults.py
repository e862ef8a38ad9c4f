"""The broker dies, restarts, starts late, or cannot start: users are told and rejoin."""

import signal

import pytest

from .harness import Cluster

BOTH_FANOUTS = True  # every scenario here runs with --fanout router and --fanout pub


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


def test_client_started_before_the_broker_joins_when_it_is_up(chat: Cluster) -> None:
    endpoint = f"ipc://{chat.tmp}/zchat.sock"
    ana = chat.client("ana", endpoint, wait=False)
    ana.expect(rf"connecting to {endpoint} as ana")
    chat.broker(bind=endpoint)
    ana.expect(r"Welcome to zchat, ana!")
    bob = chat.client("bob", endpoint)
    bob.line("cheguei")
    ana.expect(r"bob: cheguei")


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


@pytest.mark.parametrize("endpoint", ["nonsense", "tcp://", "tcp://127.0.0.1:notaport",
                                      "udp://127.0.0.1:5"])
def test_bad_endpoint_is_one_clear_line(chat: Cluster, endpoint: str) -> None:
    broker = chat.broker(bind=endpoint, wait=False)
    assert broker.wait() == 1
    broker.expect(r"zchat: cannot listen on ")
    assert "Traceback" not in broker.text


def test_several_binds_tcp_and_ipc(chat: Cluster) -> None:
    ipc = f"ipc://{chat.tmp}/b.sock"
    broker = chat.broker("--bind", ipc)
    broker.expect(rf"{ipc}")  # both endpoints are on the ready line
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", ipc)
    ana.expect("bob joined")
    bob.line("via ipc")
    ana.expect("bob: via ipc")
