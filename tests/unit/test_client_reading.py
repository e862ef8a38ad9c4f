"""client/reading.py and its lines in client/render.py: the marks a client sends, where
the "new" line goes, mentions, and how UNREAD and DMS read in both languages."""

import time

import pytest

from zchat.client.reading import MARK_EVERY, ReadTracker, mentions, peer_key
from zchat.client.render import Renderer
from zchat.client.texts import client_catalogue
from zchat.protocol import Mark, Moderated, Msg, Unread


def _renderer(lang: str = "en", colour: bool = False) -> Renderer:
    return Renderer(client_catalogue(lang), colour=colour, localtime=time.gmtime)


def test_marks_go_at_most_every_interval_and_only_what_moved() -> None:
    reading = ReadTracker()
    assert reading.due(0.0) is None  # nothing seen
    reading.seen("#dev", 5)
    reading.seen("#dev", 3)  # older: the mark stays at 5
    reading.seen(peer_key("Bob"), 7)
    assert reading.due(10.0) == Mark((("#dev", 5), ("@bob", 7)))
    reading.seen("#dev", 9)
    assert reading.due(10.0 + MARK_EVERY / 2) is None  # too soon
    assert reading.due(10.0 + MARK_EVERY) == Mark((("#dev", 9),))
    assert reading.flush() is None  # nothing moved since


def test_the_new_line_goes_once_before_the_first_unread_event() -> None:
    reading = ReadTracker()
    kept = reading.unread((Unread("#Dev", 10, 2), Unread("#geral", 4, 0),
                           Unread("@Bob", 3, 1, last=4)), {"#dev": 12, "#geral": 4})
    assert [item.key for item in kept] == ["#Dev", "@Bob"]
    assert not reading.new_line("#dev", 9)  # read already (history above the line)
    assert reading.new_line("#dev", 11)
    assert not reading.new_line("#dev", 12)  # once
    assert not reading.new_line("#geral", 5)  # nothing unread there
    assert reading.new_line(peer_key("bob"), 4)


def test_what_was_shown_before_the_marks_went_is_not_unread() -> None:
    """A reconnect within MARK_EVERY: UNREAD counts what this client showed already."""
    reading = ReadTracker()
    reading.seen("#dev", 12)  # all of #dev, up to its head
    reading.seen("#ops", 7)  # part of #ops
    reading.seen(peer_key("bob"), 4)  # the whole conversation
    kept = reading.unread((Unread("#dev", 10, 2), Unread("#ops", 5, 4),
                           Unread("@bob", 3, 1, last=4)), {"#dev": 12, "#ops": 9})
    assert [item.key for item in kept] == ["#ops"]
    assert not reading.new_line("#ops", 7) and reading.new_line("#ops", 8)
    assert not reading.new_line("#dev", 13)  # (a live message after: no line)


@pytest.mark.parametrize(("text", "named"), [
    ("ana, olha isto", True), ("@ANA dois", True), ("oi Ana!", True),
    ("banana", False), ("anabela", False), ("ana_b", False), ("", False),
])
def test_a_mention_is_the_name_as_a_word(text: str, named: bool) -> None:
    assert mentions(text, "Ana") is named


def test_a_mention_is_tagged_without_colour_and_painted_with_it() -> None:
    msg = Msg("bob", "ana: olha", 0.0, 5)
    assert _renderer().event(msg, "ana") == "[00:00:00] (mentions you) bob: ana: olha"
    assert _renderer("pt").event(msg, "ana") == "[00:00:00] (menciona você) bob: ana: olha"
    painted = _renderer(colour=True).event(msg, "ana")
    assert "\x1b[1;33mana: olha\x1b[0m" in painted and "mentions" not in painted
    assert _renderer().event(Msg("ana", "eu, ana", 0.0, 6), "ana") == "[00:00:00] ana: eu, ana"


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "3 unread in #dev, 1 mention(s) of you in #dev, 100+ unread in #geral, "
           "2 unread from bob"),
    ("pt", "3 não lidas em #dev, 1 menção(ões) a você em #dev, 100+ não lidas em #geral, "
           "2 não lidas de bob"),
])
def test_unread_is_one_line(lang: str, expected: str) -> None:
    line = _renderer(lang).unread((Unread("#dev", 1, 3, 1), Unread("#geral", 1, 100, 0, True),
                                   Unread("@bob", 0, 2)), str)
    assert line is not None and line.endswith("* " + expected)
    assert _renderer(lang).unread((), str) is None


def test_dms_list_one_line_each_and_untrusted_names_are_sanitised() -> None:
    lines = _renderer("pt").dms((Unread("@bob", 0, 2, last=9, ts=3600.0),
                                 Unread("@e\x1b[2Jve", 9, 0, last=8, ts=60.0)))
    assert lines[0].endswith("* Conversas privadas (2), a mais recente primeiro:")
    assert lines[1:] == ["  bob: 2 não lidas, última às 01:00",
                         "  e\\x1b[2Jve: 0 não lidas, última às 00:01"]
    assert _renderer().dms(())[0].endswith("No private conversations yet.")


@pytest.mark.parametrize(("lang", "told", "expected"), [
    ("en", Moderated("kick", "ana", "bob", "", "spam"), "ana removed bob from the chat (spam)"),
    ("pt", Moderated("ban", "ana", "bob", "", "", 3600.0),
     "ana baniu bob até 1970-01-01 01:00"),
    ("en", Moderated("mute", "ana", "e\x1b[2Jve", "#dev"), "ana muted e\\x1b[2Jve in #dev"),
    ("pt", Moderated("slow", "ana", "", "#dev", "", 5.0),
     "ana ativou o modo lento em #dev: uma mensagem a cada 5 s"),
    ("en", Moderated("slow", "ana", "", "#dev"), "ana turned slow mode off in #dev"),
    ("en", Moderated("lock", "admin", "", "#dev"), "admin locked the topic of #dev"),
    ("en", Moderated("promote", "ana", "bob"), "ana: promote bob"),
])
def test_what_an_operator_did_reads_as_a_notice(lang: str, told: Moderated,
                                                expected: str) -> None:
    assert _renderer(lang).moderated(told).endswith("* " + expected)
