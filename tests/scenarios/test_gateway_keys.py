"""Gateways' keys (`zchat broker --gateway-keys DIR`; docs/WEB.md, Names and keys),
against real processes: several people connect through one gateway's CURVE key, as
`zchat web` does, and each is a person of their own, not the key's.

The gateway is played by raw CURVE DEALERs sharing its key pair; ana is a terminal
client with her own key. Keys are made by `zchat keygen`; every wait is bounded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq
import zmq.auth

from zchat.protocol import (
    Ack,
    DmList,
    Error,
    Events,
    History,
    Join,
    ListDms,
    Priv,
    Tell,
    Welcome,
    encode,
)
from zchat.protocol import constants as c

from .harness import Cluster, RawPeer
from .test_security import keygen

#: Raw peers send no PING: a heartbeat long enough that none is dropped meanwhile.
HEARTBEAT = 2.0


class CurvePeer(RawPeer):
    """A RawPeer whose DEALER speaks CURVE with the given key pair, as the gateway's
    DEALERs do (one per WebSocket, all with the gateway's key)."""

    def __init__(self, endpoint: str, server: Path, pair: Path) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.curve_serverkey = zmq.auth.load_certificate(server)[0]
        self.sock.curve_publickey, self.sock.curve_secretkey = zmq.auth.load_certificate(pair)
        self.sock.connect(endpoint)


def _keys(chat: Cluster) -> dict[str, tuple[Path, Path]]:
    """server, ana and the gateway's key pairs; the allow list holds ana's key, the
    gateways' folder the gateway's (under a name that means nothing there)."""
    made = {name: keygen(chat, name, chat.tmp / name) for name in ("server", "ana", "web")}
    (chat.tmp / "allow").mkdir()
    shutil.copy(made["ana"][0], chat.tmp / "allow")
    (chat.tmp / "gateways").mkdir()
    shutil.copy(made["web"][0], chat.tmp / "gateways" / "anything.key")
    return made


def test_people_behind_one_gateway_key_are_each_their_own(chat: Cluster) -> None:
    keys = _keys(chat)
    broker = chat.broker("--curve-secret", str(keys["server"][1]),
                         "--allow-keys", str(chat.tmp / "allow"),
                         "--gateway-keys", str(chat.tmp / "gateways"), heartbeat=HEARTBEAT)
    broker.expect(r"gateway keys \S+: 1 key\(s\)", anywhere=True)
    ana = chat.client("ana", broker.endpoint, "--server-key", str(keys["server"][0]),
                      "--key", str(keys["ana"][1]), heartbeat=HEARTBEAT)
    peers: list[CurvePeer] = []

    def through_gateway(name: str) -> CurvePeer:
        peer = CurvePeer(broker.endpoint, keys["server"][0], keys["web"][1])
        peers.append(peer)
        peer.send(encode(Join(name, f"{name}-token-0123456789abcdef")))
        return peer

    try:
        # Not in the allow list, yet admitted (a gateway's key), but not as ana: her key's.
        mallory = through_gateway("ana")
        refused = mallory.next(Error)
        assert (refused.code, refused.ref) == (c.E_NAME_OWNED, "ana")
        broker.expect(r"refused NAME_OWNED from \S+: this name belongs to another key")
        bob, carol = through_gateway("bob"), through_gateway("carol")
        assert bob.next(Welcome).name == "bob" and carol.next(Welcome).name == "carol"
        bob.send(encode(Tell("carol", "só para a carol", 1)))
        assert bob.next(Ack).cid == 1
        assert carol.next(Priv).text == "só para a carol"
        carol.send(encode(ListDms()))
        assert [i.key for i in carol.next(DmList).items] == ["@bob"]
        bob.send(encode(ListDms()))
        assert [i.key for i in bob.next(DmList).items] == ["@carol"]
        carol.send(encode(History("", peer="bob")))
        assert [e.text for e in carol.next(Events).events] == ["só para a carol"]
        # dave, through the same key, sees none of bob and carol's conversation.
        dave = through_gateway("dave")
        assert dave.next(Welcome).name == "dave"
        dave.send(encode(ListDms()))
        assert dave.next(DmList).items == ()
        for peer in ("carol", "bob"):
            dave.send(encode(History("", peer=peer)))
            assert dave.next(Events).events == ()
        ana.expect(r"\* dave joined the chat")  # ana, on her key, saw them all come
        ana.assert_not_seen("só para a carol")
    finally:
        for peer in peers:
            peer.close()


def test_bad_gateway_keys_are_usage_errors(chat: Cluster) -> None:
    keys = _keys(chat)
    secret = ["--curve-secret", str(keys["server"][1])]
    operators = chat.tmp / "operators"
    operators.mkdir()
    shutil.copy(keys["web"][0], operators / "chefe.key")  # the gateway's key, as an operator
    cases = [
        ([*secret, "--gateway-keys", str(chat.tmp / "no-such")],
         "Invalid value for '--gateway-keys': Directory"),
        (["--gateway-keys", str(chat.tmp / "gateways")],
         "Invalid value for '--gateway-keys': needs --curve-secret"),
        ([*secret, "--operators", str(operators), "--gateway-keys", str(chat.tmp / "gateways")],
         "is also an operator's key (--operators"),
    ]
    for args, message in cases:
        broker = chat.broker(*args, wait=False)
        assert broker.wait() == 2, broker.text
        assert message in broker.text.replace("\n", " "), broker.text
    # The gateway's key in the allow list too: it starts, but says the name is lost.
    shutil.copy(keys["web"][0], chat.tmp / "allow" / "portal.key")
    broker = chat.broker(*secret, "--allow-keys", str(chat.tmp / "allow"),
                         "--gateway-keys", str(chat.tmp / "gateways"))
    broker.expect(r"--allow-keys pins portal to a gateway's key: nobody can join as it",
                  anywhere=True)
