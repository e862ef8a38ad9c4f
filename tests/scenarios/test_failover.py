"""A client given several brokers joins the first it can reach and moves on when it is lost.

The moves run in both fan-out modes: with --fanout pub the feed must follow the
broker now dialled. Reading the endpoint list from the environment runs once.
"""

import signal
import socket
from collections.abc import Iterator

import pytest

from .harness import Cluster, Proc
from .proxy import TcpProxy

WELCOME = r"Welcome to zchat, "


@pytest.fixture
def dead() -> Iterator[str]:
    """A TCP endpoint where no broker listens: the port is bound (so nobody else takes
    it) but not listening, so every connection attempt is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def _client_from_env(chat: Cluster, name: str, connect: str) -> Proc:
    """`zchat join NAME` with no --connect: the endpoints come from ZCHAT_CONNECT."""
    proc = chat.spawn(["join", name, "--heartbeat", "0.2", "--lang", "en"], label=name,
                      env={"ZCHAT_CONNECT": connect,
                           "XDG_CONFIG_HOME": str(chat.tmp / "config")})
    proc.expect(WELCOME)
    return proc


@pytest.mark.both_fanouts
def test_first_endpoint_dead_joins_on_the_second(chat: Cluster, dead: str) -> None:
    live = chat.broker()
    ana = chat.client("ana", dead, "--connect", live.endpoint)
    ana.expect(rf"connecting to {dead} as ana", anywhere=True)
    ana.expect(rf"connecting to {live.endpoint} as ana", anywhere=True)
    bob = chat.client("bob", live.endpoint)
    ana.expect(r"bob joined the chat")
    bob.line("oi ana")
    ana.expect(r"bob: oi ana")
    ana.line("oi bob")
    bob.expect(r"ana: oi bob")
    assert "Traceback" not in ana.text + bob.text


@pytest.mark.both_fanouts
def test_broker_killed_client_moves_to_the_next(chat: Cluster) -> None:
    first = chat.broker()
    second = chat.broker()
    ana = chat.client("ana", first.endpoint, "--connect", second.endpoint)
    bob = chat.client("bob", second.endpoint)
    first.signal(signal.SIGKILL)
    first.wait()
    ana.line("enquanto fora")  # kept in the outbox and sent to whichever broker takes us
    ana.expect(r"Connection to the broker lost; reconnecting", timeout=5)
    ana.expect(rf"connecting to {second.endpoint} as ana")
    ana.expect(r"Reconnected as ana")
    bob.expect(r"ana joined the chat")
    bob.expect(r"ana: enquanto fora")
    ana.line("cheguei")
    bob.expect(r"ana: cheguei")
    bob.line("bem-vinda")
    ana.expect(r"bob: bem-vinda")
    bob.line("/who")
    bob.expect(r"Online \(2\): ana, bob")
    assert bob.count(r"ana: enquanto fora") == 1
    assert "Traceback" not in ana.text + bob.text


@pytest.mark.parametrize("separator", [" ", ","])
def test_endpoint_list_from_the_environment(chat: Cluster, dead: str, separator: str) -> None:
    live = chat.broker()
    ana = _client_from_env(chat, "ana", f"{dead}{separator}{live.endpoint}")
    ana.expect(rf"connecting to {dead} as ana", anywhere=True)
    ana.expect(rf"connecting to {live.endpoint} as ana", anywhere=True)
    bob = chat.client("bob", live.endpoint)
    ana.expect(r"bob joined the chat")
    bob.line("via ZCHAT_CONNECT")
    ana.expect(r"bob: via ZCHAT_CONNECT")
    ana.line("recebido")
    bob.expect(r"ana: recebido")


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


@pytest.mark.both_fanouts
def test_connection_reset_client_resumes_on_the_same_broker(chat: Cluster) -> None:
    """A network blip: the connection is reset while the broker lives on. The client
    redials the same broker at once and resumes there: it does not move to the next
    endpoint and tells its user nothing but that it reconnected."""
    first = chat.broker()
    second = chat.broker()
    proxy = TcpProxy(_port(first.endpoint)).start()
    try:
        # ana reaches the first broker through the proxy only; bob directly.
        ana = chat.client("ana", proxy.endpoint, "--connect", second.endpoint)
        bob = chat.client("bob", first.endpoint)
        ana.expect("bob joined")
        proxy.reset()
        ana.expect(r"Reconnected as ana")
        ana.line("depois do susto")
        bob.expect(r"ana: depois do susto")
        bob.line("/who")
        bob.expect(r"Online \(2\): ana, bob")
        ana.assert_not_seen(rf"connecting to {second.endpoint}|Connection to the broker lost")
        assert proxy.connections >= 2  # she came back through the proxy
        assert "Traceback" not in ana.text + bob.text
    finally:
        proxy.stop()
