"""NOTICE lines from the broker, and the UNREACHABLE refusal, in both languages."""

import re
import time

import pytest

from zchat.client.render import Renderer
from zchat.client.texts import client_catalogue
from zchat.protocol import Error, Notice
from zchat.protocol import constants as c

STAMP = r"\[\d\d:\d\d:\d\d\]"


def _renderer(lang: str = "en", colour: bool = False) -> Renderer:
    return Renderer(client_catalogue(lang), colour=colour, localtime=time.gmtime)


@pytest.mark.parametrize(("lang", "code", "mark", "expected"), [
    ("en", c.N_CLUSTER_DOWN, "!",
     "The link to the other brokers is down: you can chat with users of this broker only; "
     "these messages are not kept in history."),
    ("pt", c.N_CLUSTER_DOWN, "!",
     "A ligação com os outros brokers caiu: você só pode conversar com quem está neste "
     "broker; estas mensagens não ficam no histórico."),
    ("en", c.N_CLUSTER_UP, "*", "The link to the other brokers is back."),
    ("pt", c.N_CLUSTER_UP, "*", "A ligação com os outros brokers voltou."),
])
def test_known_codes_in_the_users_language(lang, code, mark, expected):
    # The broker's detail is English prose for logs: a known code never shows it.
    line = _renderer(lang).service_notice(Notice(code, "peer link lost"))
    assert line is not None
    match = re.fullmatch(rf"{STAMP} {re.escape(mark)} (.*)", line)
    assert match is not None, line
    assert match.group(1) == expected


def test_unknown_code_shows_its_detail():
    line = _renderer("pt").service_notice(Notice("MAINTENANCE", "restarting at 18:00"))
    assert line is not None
    assert re.fullmatch(rf"{STAMP} \* restarting at 18:00", line), line


def test_unknown_code_without_detail_is_ignored():
    assert _renderer().service_notice(Notice("SOMETHING_NEW")) is None


@pytest.mark.parametrize("colour", [False, True])
def test_unknown_detail_cannot_inject_escapes(colour):
    evil = "hi\x1b[2J\x1b]0;pwned\x07\u202e\r\nfake line\x9b31m"
    line = _renderer(colour=colour).service_notice(Notice("EVIL\x1b[31m", evil))
    assert line is not None
    assert "hi\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\x0d\\x0afake line\\x9b31m" in line
    # Only our own colour codes (SGR, when asked) may reach the terminal.
    bare = re.sub(r"\x1b\[[0-9;]*m", "", line) if colour else line
    assert not any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 for ch in bare), repr(line)
    assert "\u202e" not in line


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "private message to carol not sent: carol is on another broker and the link to "
           "the other brokers is down"),
    ("pt", "mensagem privada para carol não enviada: carol está em outro broker e a ligação "
           "com os outros brokers caiu"),
])
def test_unreachable_error(lang, expected):
    line = _renderer(lang).error(Error(c.E_UNREACHABLE, "cluster link down", "carol", 7))
    match = re.fullmatch(rf"{STAMP} ! (.*)", line)
    assert match is not None, line
    assert match.group(1) == expected


def test_unreachable_target_name_is_sanitized():
    line = _renderer().error(Error(c.E_UNREACHABLE, "", "x\x1b[2Jy"))
    assert "\x1b" not in line
    assert "x\\x1b[2Jy" in line


def test_the_client_shows_a_notice_it_receives():
    import io

    from zchat.client.app import ChatClient
    from zchat.client.screen import PlainScreen
    from zchat.protocol import decode_broker, encode

    out = io.StringIO()
    catalogue = client_catalogue("pt")
    client = ChatClient("ana", ["tcp://127.0.0.1:1"], 1.0, catalogue, PlainScreen(out),
                        Renderer(catalogue), stdin_fd=0)
    try:
        client._on_message(decode_broker(encode(Notice(c.N_CLUSTER_UP, ""))))
        client._on_message(decode_broker(encode(Notice("NEW_THING", ""))))
        client._on_message(decode_broker(encode(Notice("NEW_THING", "a\x1bb"))))
    finally:
        client.ctx.term()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(" * A ligação com os outros brokers voltou.")
    assert lines[1].endswith(" * a\\x1bb")
