"""Three people chatting through real zchat processes on pseudo-terminals.

Delivery (public and private messages) runs in both fan-out modes; errors to one
client, commands, language and what a terminal shows do not depend on the mode
and run once (conftest.py: ``both_fanouts``).
"""

import re

import pytest

from .harness import Cluster

STAMP = r"\[\d\d:\d\d:\d\d\]"


@pytest.mark.both_fanouts
def test_three_clients_public_messages_reach_everyone_else(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    ana.expect("Nobody else is online yet")
    bob = chat.client("bob", broker.endpoint)
    bob.expect(r"Online: ana")
    ana.expect(r"\* bob joined the chat")
    carol = chat.client("carol", broker.endpoint)
    carol.expect(r"Online: ana, bob")
    ana.expect(r"\* carol joined the chat")
    bob.expect(r"\* carol joined the chat")

    ana.line("olá a todos")
    bob.expect(rf"{STAMP} ana: olá a todos")
    carol.expect(rf"{STAMP} ana: olá a todos")
    bob.line("oi ana")
    ana.expect(rf"{STAMP} bob: oi ana")
    carol.expect(rf"{STAMP} bob: oi ana")
    # The sender sees its own line once (local echo), never a received copy: any
    # copy from the broker would arrive before carol's later marker does.
    ana.expect(rf"{STAMP} ana: olá a todos", anywhere=True)
    bob.expect(rf"{STAMP} bob: oi ana", anywhere=True)
    carol.line("marcador")
    ana.expect("carol: marcador")
    bob.expect("carol: marcador")
    assert ana.count(rf"{STAMP} ana: olá a todos") == 1
    assert bob.count(rf"{STAMP} bob: oi ana") == 1


@pytest.mark.both_fanouts
def test_private_message_reaches_only_its_target(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)
    ana.expect("carol joined")

    ana.line("@bob segredo 42")
    bob.expect(rf"{STAMP} \(private\) ana: segredo 42")
    ana.expect(rf"{STAMP} \(private to bob\): segredo 42")
    # Names are case-insensitive: @BOB reaches bob.
    ana.line("@BOB outro segredo")
    bob.expect(r"\(private\) ana: outro segredo")
    # A public marker after the privates: once carol sees it, she would have
    # seen the privates before it (one sender, one broker, in order).
    ana.line("marcador")
    carol.expect(r"ana: marcador")
    carol.assert_not_seen("segredo")
    bob.expect(r"ana: marcador")


def test_malformed_private_messages_get_an_error_to_the_sender_only(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    for line in ("@bob", "@", "@ texto", "@bob    "):
        ana.line(line)
        ana.expect(r"! malformed private message; use: @name message")
    ana.line("@zed oi")
    ana.expect(r"! nobody named zed is online")
    ana.line("fim")
    bob.expect(r"ana: fim")
    bob.assert_not_seen(r"texto|zed|malformed|private")


def test_who_help_and_empty_line(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    ana.line("")
    ana.line("/who")
    ana.expect(r"Online \(2\): ana, bob")
    ana.line("/help")
    ana.expect(r"@name text\s+send a private message")
    ana.expect(r"sair or /quit")
    ana.line("/nope")
    ana.expect(r"Unknown command /nope")


def test_portuguese_client(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint, lang="pt")
    ana.expect(r"Ninguém mais está online ainda")
    bob = chat.client("bob", broker.endpoint)
    ana.expect(r"\* bob entrou no chat")
    bob.line("@ana oi")
    ana.expect(r"\(privado\) bob: oi")
    ana.line("@ninguem oi")
    ana.expect(r"ninguém chamado ninguem está online")
    bob.line("sair")
    ana.expect(r"\* bob saiu do chat \(saiu\)")


def test_locale_picks_portuguese_when_no_lang_option(chat: Cluster) -> None:
    broker = chat.broker()
    proc = chat.spawn(["join", "ana", "--connect", broker.endpoint, "--heartbeat", "0.2"],
                      env={"LANG": "pt_BR.UTF-8", "LC_ALL": ""})
    proc.expect(r"Bem-vindo\(a\) ao zchat, ana")


def test_escape_sequences_never_reach_another_terminal(chat: Cluster) -> None:
    broker = chat.broker()
    bob = chat.client("bob", broker.endpoint)
    # The attacker's stdin is a pipe, so raw bytes go out as typed.
    eve = chat.client("eve", broker.endpoint, use_pty=False)
    bob.expect("eve joined")
    evil = "x\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rfake\x08\x9b\u202eevil"
    eve.line(evil)
    bob.expect(r"eve: x")
    bob.expect(r"evil")
    raw = bob.raw.decode("utf-8", "replace")
    # Strip the client's own sequences (clear line, colours); nothing else may remain.
    leftover = re.sub(r"\x1b\[(K|[0-9;]*m)", "", raw)
    for bad in ("\x1b", "\x07", "\x08", "\x9b", "\u202e"):
        assert bad not in leftover, f"{bad!r} reached bob's terminal"
    assert "\\x1b]0;pwned\\x07" in bob.text
    assert "\\u202eevil" in bob.text


def test_colour_on_a_terminal_and_none_with_no_color(chat: Cluster) -> None:
    broker = chat.broker()
    bob = chat.client("bob", broker.endpoint)
    plain = chat.client("carl", broker.endpoint, env={"NO_COLOR": "1"})
    ana = chat.client("ana", broker.endpoint)
    bob.expect("ana joined")
    plain.expect("ana joined")
    ana.line("colours?")
    bob.expect("ana: colours")
    plain.expect("ana: colours")
    assert re.search(rb"\x1b\[\d+mana\x1b\[0m: colours", bob.raw)
    assert not re.search(rb"\x1b\[[0-9;]*m", plain.raw)


def test_incoming_lines_never_break_the_line_being_typed(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    ana.type("meio dig")
    ana.expect(r"ana> meio dig")
    bob.line("interrompendo")
    # The incoming line is printed above, then the prompt and the typed text return.
    ana.expect(r"bob: interrompendo\s*\n\s*ana> meio dig")
    ana.type("xy\x7f\x7fitado\r")  # a typo, two Backspaces, the rest, Enter
    bob.expect(r"ana: meio digitado")
    ana.type("lixo\x15tudo certo\r")  # Ctrl-U clears the line
    bob.expect(r"ana: tudo certo")
    bob.assert_not_seen("lixo")
