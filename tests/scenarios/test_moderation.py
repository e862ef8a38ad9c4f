"""Moderation (issue 19) as users see it, with real processes: an operator named by
--operators kicks, bans (the ban survives a broker restart), mutes and slows a room
down; a non-operator is refused; every action is a line in the audit log."""

import json
import signal
from pathlib import Path

import pytest

from .harness import Cluster, Proc, wait_until
from .test_security import keygen


class Chat:
    """A CURVE broker whose operators folder holds ana's key, and terminals for it."""

    def __init__(self, chat: Cluster, start: bool = True) -> None:
        self.chat = chat
        self.server_pub, self.server_secret = keygen(chat, "server", chat.tmp / "server")
        self.keys = {name: keygen(chat, name, chat.tmp / name)[1]
                     for name in ("ana", "bob", "carol")}
        self.operators = chat.tmp / "operators"
        self.operators.mkdir()
        (self.operators / "ana.key").write_bytes(
            (chat.tmp / "ana" / "ana.key").read_bytes())
        if start:
            self.broker = self.start()

    def start(self, data_dir: Path | None = None, bind: str = "tcp://127.0.0.1:*",
              *extra: str) -> Proc:
        return self.chat.broker("--curve-secret", str(self.server_secret), "--operators",
                                str(self.operators), *extra, data_dir=data_dir, bind=bind)

    def terminal(self, name: str, lang: str = "en", wait: bool = True) -> Proc:
        return self.chat.client(name, self.broker.endpoint, "--server-key",
                                str(self.server_pub), "--key", str(self.keys[name]),
                                lang=lang, wait=wait)


@pytest.fixture
def mod(chat: Cluster) -> Chat:
    return Chat(chat)


def test_kick_and_a_ban_that_survives_a_restart(chat: Cluster, mod: Chat) -> None:
    ana, bob, carol = mod.terminal("ana"), mod.terminal("bob", "pt"), mod.terminal("carol")
    carol.line("/kick bob")  # carol is no operator
    carol.expect(r"! only operators can do that")
    ana.line("/kick bob chega de spam")
    bob.expect(r"ana tirou bob do chat \(chega de spam\)")
    bob.expect(r"um operador tirou você do chat")
    assert bob.wait() != 0  # the client stops: no reconnecting after a kick
    carol.expect(r"ana removed bob from the chat \(chega de spam\)")
    carol.expect(r"bob left the chat \(kicked by an operator\)")
    bob = mod.terminal("bob", "pt")  # a kick is not a ban: he is back
    ana.line("/ban bob 2h flood")
    bob.expect(r"ana baniu bob até \d{4}-\d\d-\d\d \d\d:\d\d \(flood\)")
    bob.expect(r"um operador baniu você do chat")
    bob.wait()
    carol.expect(r"bob left the chat \(banned by an operator\)")
    lines = (mod.broker.data_dir / "audit.log").read_text().splitlines()
    assert [(e["by"], e["op"], e["name"]) for e in map(json.loads, lines)] == [
        ("ana", "kick", "bob"), ("ana", "ban", "bob")]
    # The broker restarts on the same data: the ban holds.
    mod.broker.signal(signal.SIGTERM)
    mod.broker.wait()
    mod.broker = mod.start(mod.broker.data_dir, bind=mod.broker.endpoint)
    ana.expect(r"Reconnected as ana", timeout=10)
    bob = mod.terminal("bob", wait=False)
    bob.expect(r"you are banned from this chat")
    assert bob.wait() != 0
    ana.line("/unban bob")
    ana.expect(r"ana lifted the ban on bob")
    mod.terminal("bob")


def test_mute_and_slow_mode_in_a_room(mod: Chat) -> None:
    ana, bob, carol = mod.terminal("ana"), mod.terminal("bob"), mod.terminal("carol", "pt")
    for who in (ana, bob, carol):
        who.line("/join #dev")
        who.expect(r"You are in #dev\.|Você está em #dev\.")
    ana.line("/mute bob #dev 10m")
    bob.expect(r"ana muted bob in #dev until \d{4}-\d\d-\d\d \d\d:\d\d")
    carol.expect(r"ana silenciou bob em #dev")
    bob.line("posso falar?")
    bob.expect(r"! you are muted in #dev")
    bob.line("/msg #geral no geral pode")
    carol.expect(r"#geral bob: no geral pode")
    ana.line("/unmute bob #dev")
    bob.expect(r"ana unmuted bob in #dev")
    bob.line("obrigado")
    carol.expect(r"bob: obrigado")
    ana.line("/slow #dev 30")
    carol.expect(r"ana ativou o modo lento em #dev: uma mensagem a cada 30 s")
    carol.line("primeira")
    bob.expect(r"carol: primeira")
    carol.line("segunda")
    carol.expect(r"! modo lento: espere \d+ s antes da próxima mensagem aqui")
    ana.line("operadora pode")  # operators are exempt
    ana.line("de novo")
    bob.expect(r"ana: de novo")
    ana.line("/lock #dev")
    carol.expect(r"ana travou o tópico de #dev")
    carol.line("/topic meu tópico")
    carol.expect(r"! o tópico de #dev está travado: só operadores podem mudá-lo")
    assert carol.count("segunda") == 1, carol.tail(10)  # (only as she typed it)
    wait_until(lambda: len((mod.broker.data_dir / "audit.log").read_text().splitlines()) == 4,
               "four lines in the audit log")


def test_a_ban_on_one_broker_holds_on_the_other(chat: Cluster) -> None:
    mod = Chat(chat, start=False)
    redis = chat.redis()
    a, b = (mod.start(None, "tcp://127.0.0.1:*", "--cluster", redis.url) for _ in range(2))
    mod.broker = a
    ana = mod.terminal("ana")
    mod.broker = b
    bob = mod.terminal("bob", "pt")
    ana.line("/who *")
    ana.expect(r"Online \(2\): ana, bob")
    ana.line("/ban bob 1h spam")
    bob.expect(r"ana baniu bob até .* \(spam\)")
    bob.expect(r"um operador baniu você do chat")
    assert bob.wait() != 0
    ana.expect(r"ana banned bob until .* \(spam\)")
    for broker in (a, b):  # neither broker lets him back, under any name of his key
        again = chat.client("roberto", broker.endpoint, "--server-key", str(mod.server_pub),
                            "--key", str(mod.keys["bob"]), wait=False)
        again.expect(r"you are banned from this chat")
        assert again.wait() != 0
