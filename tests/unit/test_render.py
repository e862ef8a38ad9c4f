"""client/render.py and common/safetext.py: line formats, languages, escape sanitising."""

import re
import time
import unicodedata

import pytest

from zchat.client.render import Renderer, name_colour
from zchat.client.texts import client_catalogue
from zchat.common.safetext import sanitize
from zchat.protocol import (
    Error,
    Joined,
    Left,
    Msg,
    Priv,
    RoomInfo,
    RoomList,
    TopicSet,
    name_problem,
    room_problem,
)
from zchat.protocol import constants as c

# 01:02:03 UTC on 1970-01-01, and 23:59:59 UTC on 2023-11-14.
TS = 3723.0
TS2 = 1700006399.0
SGR = re.compile(r"\x1b\[[0-9;]*m")
STAMP = r"\[\d\d:\d\d:\d\d\]"


def _renderer(lang: str = "en", colour: bool = False) -> Renderer:
    return Renderer(client_catalogue(lang), colour=colour, localtime=time.gmtime)


# ---- line formats --------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "pt"])
def test_public_line(lang):
    r = _renderer(lang)
    assert r.public(Msg("ana", "olá, mundo", TS)) == "[01:02:03] ana: olá, mundo"
    assert r.public(Msg("Bob", "hi", TS2)) == "[23:59:59] Bob: hi"


def test_own_line_matches_public_format():
    r = _renderer()
    assert r.own("ana", "hello", TS) == "[01:02:03] ana: hello"
    assert r.own("ana", "hello", TS) == r.public(Msg("ana", "hello", TS))


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "[01:02:03] (private) ana: psst"),
    ("pt", "[01:02:03] (privado) ana: psst"),
])
def test_private_incoming(lang, expected):
    assert _renderer(lang).private(Priv("ana", "bob", "psst", TS), me="bob") == expected


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "[01:02:03] (private to bob): psst"),
    ("pt", "[01:02:03] (privado para bob): psst"),
])
def test_private_echo_to_sender(lang, expected):
    assert _renderer(lang).private(Priv("ana", "bob", "psst", TS), me="ana") == expected


def test_private_to_self_is_shown_as_incoming():
    line = _renderer().private(Priv("ana", "ana", "note", TS), me="ana")
    assert line == "[01:02:03] (private) ana: note"


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "[01:02:03] * bob joined the chat"),
    ("pt", "[01:02:03] * bob entrou no chat"),
])
def test_joined_notice(lang, expected):
    assert _renderer(lang).joined(Joined("bob", TS)) == expected


@pytest.mark.parametrize(("lang", "reason", "expected"), [
    ("en", c.R_QUIT, "[01:02:03] * bob left the chat (left)"),
    ("en", c.R_TIMEOUT, "[01:02:03] * bob left the chat (timed out)"),
    ("en", c.R_LOST, "[01:02:03] * bob left the chat (connection lost)"),
    ("en", c.R_SLOW, "[01:02:03] * bob left the chat (too slow to keep up)"),
    ("en", c.R_SHUTDOWN, "[01:02:03] * bob left the chat (broker shutting down)"),
    ("pt", c.R_QUIT, "[01:02:03] * bob saiu do chat (saiu)"),
    ("pt", c.R_TIMEOUT, "[01:02:03] * bob saiu do chat (tempo esgotado)"),
    ("pt", c.R_LOST, "[01:02:03] * bob saiu do chat (conexão perdida)"),
    ("pt", c.R_SLOW, "[01:02:03] * bob saiu do chat (lento demais para acompanhar)"),
    ("pt", c.R_SHUTDOWN, "[01:02:03] * bob saiu do chat (broker encerrando)"),
    ("en", c.R_KICKED, "[01:02:03] * bob left the chat (kicked by an operator)"),
    ("pt", c.R_BANNED, "[01:02:03] * bob saiu do chat (banido(a) por um operador)"),
    ("en", "renamed", "[01:02:03] * bob left the chat (renamed)"),  # (unknown: as sent)
    ("en", "evil\x1b[2J", "[01:02:03] * bob left the chat (evil\\x1b[2J)"),
])
def test_left_notice_with_reason(lang, reason, expected):
    assert _renderer(lang).left(Left("bob", reason, TS)) == expected


def test_notice_without_timestamp_uses_now():
    line = _renderer().notice("hello")
    assert re.fullmatch(STAMP + r" \* hello", line)


@pytest.mark.parametrize(("lang", "err", "expected"), [
    ("en", Error(c.E_NO_SUCH_USER, "no such user online", "carol"),
     "nobody named carol is online"),
    ("pt", Error(c.E_NO_SUCH_USER, "no such user online", "carol"),
     "ninguém chamado carol está online"),
    ("en", Error(c.E_BAD_PRIVATE, "usage: @name message", ""),
     "malformed private message; use: @name message"),
    ("pt", Error(c.E_BAD_PRIVATE, "usage: @name message", ""),
     "mensagem privada malformada; use: @nome mensagem"),
    ("en", Error(c.E_NAME_TAKEN, "name is taken", "ana"),
     "the name ana is already taken by someone online"),
    ("en", Error(c.E_TOO_LONG, "too long", "2000"), "message too long (at most 2000 characters)"),
    ("en", Error(c.E_VERSION, "", "1"), "protocol version mismatch: the broker speaks ZCHAT/1"),
    ("en", Error("WEIRD_NEW_CODE", "something odd", "x"), "error WEIRD_NEW_CODE: something odd"),
    ("pt", Error("WEIRD_NEW_CODE", "something odd", "x"), "erro WEIRD_NEW_CODE: something odd"),
    ("en", Error("EVIL\x1b[31m", "d\x07", ""), "error EVIL\\x1b[31m: d\\x07"),
    ("en", Error(c.E_NO_SUCH_USER, "", "x\x1b]0;pwned\x07"),
     "nobody named x\\x1b]0;pwned\\x07 is online"),
    # Why a name or room was refused: the protocol's reasons in the user's language.
    ("pt", Error(c.E_BAD_ROOM, room_problem("#"), "#"), "nome de sala inválido #: está vazio"),
    ("en", Error(c.E_BAD_ROOM, room_problem("sala"), "sala"),
     "invalid room name sala: a room's name starts with #"),
    ("pt", Error(c.E_BAD_NAME, name_problem("x" * 40), "x" * 40),
     f"nome inválido {'x' * 40}: tem mais de 32 caracteres"),
    ("pt", Error(c.E_BAD_NAME, name_problem("@ana"), "@ana"),
     "nome inválido @ana: começa com @ ou /"),
    ("pt", Error(c.E_BAD_NAME, name_problem("a\tb"), "a\tb"),
     "nome inválido a\\x09b: tem um espaço ou um caractere de controle"),
    ("pt", Error(c.E_BAD_NAME, name_problem("a\u115fb"), "a\u115fb"),
     "nome inválido a\u115fb: tem um caractere invisível (U+115F)"),
    ("pt", Error(c.E_BAD_ROOM, "a reason of its own", "#x"),
     "nome de sala inválido #x: a reason of its own"),
])
def test_error_lines_by_code(lang, err, expected):
    line = _renderer(lang).error(err)
    match = re.fullmatch(STAMP + r" ! (.*)", line, flags=re.DOTALL)
    assert match is not None, line
    assert match.group(1) == expected


def test_users_line():
    line = _renderer().users(["ana", "bob\x1b[2J"])
    assert re.fullmatch(STAMP + r" \* Online \(2\): ana, bob\\x1b\[2J", line)


# ---- sanitising in rendered lines ----------------------------------------------------

HOSTILE = [
    ("esc-sgr", "\x1b[31mred", "\\x1b[31mred"),
    ("esc-clear", "\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
    ("osc-title", "\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("bel", "ding\x07", "ding\\x07"),
    ("backspace", "abc\x08\x08X", "abc\\x08\\x08X"),
    ("cr", "fake\rline", "fake\\x0dline"),
    ("lf", "two\nlines", "two\\x0alines"),
    ("crlf", "a\r\n[00:00:00] admin: forged", "a\\x0d\\x0a[00:00:00] admin: forged"),
    ("nul", "nul\x00byte", "nul\\x00byte"),
    ("del", "del\x7f", "del\\x7f"),
    ("c1-csi", "c1\x9b31m", "c1\\x9b31m"),
    ("c1-nel", "c1\x85", "c1\\x85"),
    ("bidi-rlo", "abc\u202edcba", "abc\\u202edcba"),
    ("bidi-isolate", "\u2067x\u2069", "\\u2067x\\u2069"),
    ("tab", "a\tb", "a\\x09b"),
    ("line-sep", "a\u2028b", "a\\u2028b"),
]

_FORBIDDEN_RAW = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _assert_clean(line: str) -> None:
    assert _FORBIDDEN_RAW.search(line) is None, repr(line)


@pytest.mark.parametrize(("text", "escaped"), [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("lang", ["en", "pt"])
def test_hostile_text_is_escaped_without_colour(lang, text, escaped):
    r = _renderer(lang)
    lines = [
        r.public(Msg("ana", text, TS)),
        r.private(Priv("ana", "bob", text, TS), me="bob"),
        r.private(Priv("bob", "ana", text, TS), me="bob"),
    ]
    for line in lines:
        _assert_clean(line)
        assert line.endswith(": " + escaped)
    assert lines[0] == f"[01:02:03] ana: {escaped}"


@pytest.mark.parametrize(("name", "escaped"), [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_hostile_names_are_escaped_without_colour(name, escaped):
    r = _renderer()
    lines = {
        "public": r.public(Msg(name, "hi", TS)),
        "private_from": r.private(Priv(name, "me", "hi", TS), me="me"),
        "private_to": r.private(Priv("me", name, "hi", TS), me="me"),
        "joined": r.joined(Joined(name, TS)),
        "left": r.left(Left(name, c.R_QUIT, TS)),
        "error": r.error(Error(c.E_NO_SUCH_USER, "", name)),
        "users": r.users([name]),
    }
    for kind, line in lines.items():
        _assert_clean(line)
        assert escaped in line, kind
    assert lines["public"] == f"[01:02:03] {escaped}: hi"
    assert lines["private_from"] == f"[01:02:03] (private) {escaped}: hi"
    assert lines["private_to"] == f"[01:02:03] (private to {escaped}): hi"
    assert lines["joined"] == f"[01:02:03] * {escaped} joined the chat"


@pytest.mark.parametrize(("text", "escaped"), [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_with_colour_the_only_escapes_are_our_sgr(text, escaped):
    r = _renderer(colour=True)
    lines = [
        r.public(Msg(text, text, TS)),
        r.own(text, text, TS),
        r.private(Priv(text, "me", text, TS), me="me"),
        r.private(Priv("me", text, text, TS), me="me"),
        r.joined(Joined(text, TS)),
        r.left(Left(text, text, TS)),
        r.error(Error(text, text, text)),
        r.error(Error(c.E_NO_SUCH_USER, text, text)),
        r.users([text, "ana"]),
        r.problem("local"),
    ]
    for line in lines:
        assert "\x1b[" in line  # colour is on
        stripped = SGR.sub("", line)
        _assert_clean(stripped)
        assert "\x1b" not in stripped
    assert SGR.sub("", lines[0]) == f"[01:02:03] {escaped}: {escaped}"


def test_colour_wraps_name_in_its_colour():
    line = _renderer(colour=True).public(Msg("ana", "hi", TS))
    assert line == f"[01:02:03] \x1b[{name_colour('ana')}mana\x1b[0m: hi"


def test_colour_off_has_no_escape_at_all():
    r = _renderer(colour=False)
    for line in (r.public(Msg("ana", "hi", TS)), r.joined(Joined("ana", TS)),
                 r.error(Error(c.E_EMPTY)), r.private(Priv("a", "b", "x", TS), me="b")):
        assert "\x1b" not in line


@pytest.mark.parametrize("name", ["ana", "bob", "Zoë", "北京", "x" * 32])
def test_name_colour_is_stable(name):
    colour = name_colour(name)
    assert colour in (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
    assert all(name_colour(name) == colour for _ in range(5))
    r = _renderer(colour=True)
    first = r.public(Msg(name, "one", TS))
    second = r.public(Msg(name, "two", TS2))
    assert f"\x1b[{colour}m" in first
    assert f"\x1b[{colour}m" in second


def test_name_colours_are_spread():
    assert len({name_colour(f"user{i}") for i in range(100)}) > 6


# ---- safetext.sanitize -------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("", ""),
    ("plain text", "plain text"),
    ("olá ação 漢字 😀", "olá ação 漢字 😀"),
    ("a b", "a b"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("\x00\x01\x1f", "\\x00\\x01\\x1f"),
    ("\t\n\r", "\\x09\\x0a\\x0d"),
    ("\x7f", "\\x7f"),
    ("\x80\x9b\x9f", "\\x80\\x9b\\x9f"),
    ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
    ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
    ("\u200e\u200f", "\\u200e\\u200f"),
    ("\u2028\u2029", "\\u2028\\u2029"),
    ("\ud800", "\\ud800"),
    ("a\u200bb", "a\u200bb"),  # zero-width space: harmless, kept
    ("a\u00a0b", "a\u00a0b"),  # no-break space: kept
    ("back\\slash", "back\\slash"),
])
def test_sanitize_table(text, expected):
    assert sanitize(text) == expected


def test_sanitize_escapes_every_control_character():
    every = "".join(chr(i) for i in range(0x3000) if not 0xD800 <= i <= 0xDFFF)
    out = sanitize(every)
    _assert_clean(out)
    assert not any(unicodedata.category(ch) == "Cc" for ch in out)


def test_sanitize_is_idempotent():
    text = "a\x1b[31m\u202eb\x00\x9b\n"
    once = sanitize(text)
    assert sanitize(once) == once


# Regression: common/safetext.py _BIDI once listed every Unicode Bidi_Control character but
# U+061C ARABIC LETTER MARK, which then reached the terminal raw.
@pytest.mark.parametrize("ch", ["\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066",
                                "\u2069"])
def test_sanitize_escapes_all_bidi_controls(ch):
    assert sanitize(f"a{ch}b") == f"a\\u{ord(ch):04x}b"


def test_a_big_room_lists_some_names_and_counts_the_rest():
    line = Renderer(client_catalogue("en")).users(["ana", "bob"], "client.online", total=102)
    assert "Online: ana, bob and 100 more (/who lists everyone)" in line
    line = Renderer(client_catalogue("pt")).users(["ana"], "client.online", total=3)
    assert "ana e mais 2 (/who lista todos)" in line


# ---- rooms -----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "pt"])
def test_a_message_of_another_room_carries_its_name_after_the_time(lang):
    r = _renderer(lang)
    msg = Msg("bob", "oi", TS, room="#sala")
    assert r.event(msg, "ana", where="#sala") == "[01:02:03] #sala bob: oi"
    assert r.event(msg, "ana") == "[01:02:03] bob: oi"  # the current room: as before rooms
    assert r.own("ana", "oi", TS, "#sala") == "[01:02:03] #sala ana: oi"


def test_a_room_name_is_sanitised_and_after_the_tag():
    line = _renderer().event(Msg("bob", "oi", TS), "ana", "history", where="#s\x1b[31m")
    assert line == "[01:02:03] (history) #s\\x1b[31m bob: oi"


@pytest.mark.parametrize(("lang", "joined", "parted", "quit_"), [
    ("en", "bob joined #sala", "bob left #sala", "bob left the chat (left)"),
    ("pt", "bob entrou em #sala", "bob saiu de #sala", "bob saiu do chat (saiu)"),
])
def test_room_notices_name_the_room(lang, joined, parted, quit_):
    r = _renderer(lang)
    assert r.event(Joined("bob", TS, room="#sala"), "ana", room="#sala") \
        == f"[01:02:03] * {joined}"
    assert r.event(Left("bob", c.R_PART, TS, room="#sala"), "ana", room="#sala") \
        == f"[01:02:03] * {parted}"
    # leaving the chat is told as today, whatever room it came in
    assert r.event(Left("bob", c.R_QUIT, TS, room="#sala"), "ana", room="#sala") \
        == f"[01:02:03] * {quit_}"


@pytest.mark.parametrize(("lang", "expected"), [("en", "bob joined the chat"),
                                                 ("pt", "bob entrou no chat")])
def test_default_room_notices_are_as_before_rooms(lang, expected):
    assert _renderer(lang).event(Joined("bob", TS), "ana") == f"[01:02:03] * {expected}"


@pytest.mark.parametrize(("lang", "set_", "cleared"), [
    ("en", "bob set the topic of #sala: futebol", "bob cleared the topic of #sala"),
    ("pt", "bob definiu o tópico de #sala: futebol", "bob apagou o tópico de #sala"),
])
def test_topic_changes(lang, set_, cleared):
    r = _renderer(lang)
    assert r.topic(TopicSet("#sala", "futebol", "bob")).endswith(f"* {set_}")
    assert r.topic(TopicSet("#sala", "", "bob")).endswith(f"* {cleared}")


@pytest.mark.parametrize(("lang", "head", "line", "none"), [
    ("en", "Rooms (2):", "  #geral: 3 member(s)", "There are no rooms."),
    ("pt", "Salas (2):", "  #geral: 3 membro(s)", "Não há salas."),
])
def test_rooms_list(lang, head, line, none):
    r = _renderer(lang)
    lines = r.rooms(RoomList((RoomInfo("#geral", 3), RoomInfo("#sala", 1, "futebol"))))
    assert lines[0].endswith(f"* {head}")
    assert lines[1] == line
    assert lines[2].startswith("  #sala: 1 ") and lines[2].endswith(" - futebol")
    assert r.rooms(RoomList(())) [0].endswith(f"* {none}")


@pytest.mark.parametrize(("lang", "members", "alone"), [
    ("en", "In #sala (2): ana, bob", "Nobody else is in #sala."),
    ("pt", "Em #sala (2): ana, bob", "Ninguém mais está em #sala."),
])
def test_room_members(lang, members, alone):
    r = _renderer(lang)
    assert r.room_members("#sala", ["ana", "bob"]).endswith(f"* {members}")
    assert r.room_members("#sala", []).endswith(f"* {alone}")
