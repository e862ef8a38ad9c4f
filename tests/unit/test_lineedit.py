"""client/lineedit.py: the cbreak line editor, fed text, returning events."""

import pytest

from zchat.client.lineedit import Eof, LineEditor, Submit


def _feed_all(editor: LineEditor, *chunks: str) -> list:
    events = []
    for chunk in chunks:
        events.extend(editor.feed(chunk))
    return events


def test_typing_fills_the_buffer_without_events():
    ed = LineEditor()
    assert ed.feed("hello") == []
    assert ed.buffer == "hello"
    assert ed.feed(" wörld 😀") == []
    assert ed.buffer == "hello wörld 😀"


@pytest.mark.parametrize("key", ["\x7f", "\x08"], ids=["DEL", "BS"])
def test_backspace(key):
    ed = LineEditor()
    ed.feed("abc")
    assert ed.feed(key) == []
    assert ed.buffer == "ab"
    ed.feed(key * 5)  # on an empty buffer it is harmless
    assert ed.buffer == ""
    ed.feed("x")
    assert ed.buffer == "x"


def test_ctrl_u_clears_the_line():
    ed = LineEditor()
    ed.feed("some text")
    assert ed.feed("\x15") == []
    assert ed.buffer == ""
    ed.feed("new")
    assert ed.buffer == "new"


@pytest.mark.parametrize(("typed", "after"), [
    ("hello world", "hello "),
    ("hello world   ", "hello "),
    ("hello", ""),
    ("one two three", "one two "),
    ("", ""),
    ("   ", ""),
])
def test_ctrl_w_deletes_the_last_word(typed, after):
    ed = LineEditor()
    ed.feed(typed)
    assert ed.feed("\x17") == []
    assert ed.buffer == after


@pytest.mark.parametrize("enter", ["\r", "\n"], ids=["CR", "LF"])
def test_enter_submits_and_clears(enter):
    ed = LineEditor()
    assert ed.feed("hi there" + enter) == [Submit("hi there")]
    assert ed.buffer == ""
    assert ed.feed(enter) == [Submit("")]


def test_enter_in_the_middle_of_a_chunk():
    ed = LineEditor()
    assert ed.feed("abc\rde") == [Submit("abc")]
    assert ed.buffer == "de"


def test_ctrl_d_on_empty_line_is_eof():
    ed = LineEditor()
    assert ed.feed("\x04") == [Eof()]
    ed.feed("x\x7f")
    assert ed.feed("\x04") == [Eof()]


def test_ctrl_d_on_non_empty_line_does_nothing():
    ed = LineEditor()
    ed.feed("abc")
    assert ed.feed("\x04") == []
    assert ed.buffer == "abc"


@pytest.mark.parametrize("seq", [
    "\x1b[A", "\x1b[B", "\x1b[C", "\x1b[D",  # arrows
    "\x1bOA", "\x1bOP", "\x1bOQ",  # SS3 arrows and F1/F2
    "\x1b[3~", "\x1b[15~", "\x1b[1;5C", "\x1b[200~",  # Delete, F5, Ctrl-Right, paste start
    "\x1bx",  # Alt-x
], ids=repr)
def test_escape_sequences_are_swallowed(seq):
    ed = LineEditor()
    ed.feed("ab")
    assert ed.feed(seq) == []
    assert ed.buffer == "ab"
    ed.feed("c")
    assert ed.buffer == "abc"


@pytest.mark.parametrize("chunks", [
    ("\x1b", "[A"),
    ("\x1b[", "A"),
    ("\x1b", "[", "1", ";", "5", "C"),
    ("\x1b", "O", "P"),
    ("\x1bO", "P"),
], ids=repr)
def test_escape_sequences_split_across_feeds(chunks):
    ed = LineEditor()
    ed.feed("ab")
    assert _feed_all(ed, *chunks) == []
    assert ed.buffer == "ab"
    ed.feed("cd")
    assert ed.buffer == "abcd"


def test_escape_sequence_then_text_in_one_chunk():
    ed = LineEditor()
    assert ed.feed("x\x1b[Ay\x1bOPz\r") == [Submit("xyz")]


def test_runaway_csi_is_bounded():
    ed = LineEditor()
    ed.feed("\x1b[" + "1" * 100)  # digits only: no final byte ever arrives
    # After at most 32 characters the sequence is abandoned and typing works again.
    ed.feed("\x15ok")
    assert ed.buffer == "ok"


def test_tab_becomes_a_space():
    ed = LineEditor()
    ed.feed("a\tb")
    assert ed.buffer == "a b"


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\x02", "\x07", "\x0b", "\x0c", "\x0e",
                                "\x1c", "\x1f", "\x85", "\x9b", "\u202e", "\u2028"], ids=repr)
def test_other_control_characters_are_ignored(ch):
    ed = LineEditor()
    assert ed.feed(f"a{ch}b") == []
    assert ed.buffer == "ab"


def test_multi_line_paste_gives_several_submits():
    ed = LineEditor()
    events = ed.feed("first line\nsecond line\nthird")
    assert events == [Submit("first line"), Submit("second line")]
    assert ed.buffer == "third"
    assert ed.feed("\r") == [Submit("third")]


def test_paste_with_eof_after_submit():
    ed = LineEditor()
    assert ed.feed("bye\n\x04") == [Submit("bye"), Eof()]


def test_max_chars_bounds_the_buffer():
    ed = LineEditor(max_chars=5)
    ed.feed("abcdefgh")
    assert ed.buffer == "abcde"
    ed.feed("\t")
    assert ed.buffer == "abcde"
    ed.feed("\x7fZ")
    assert ed.buffer == "abcdZ"
    assert ed.feed("\n") == [Submit("abcdZ")]


def test_default_max_chars():
    ed = LineEditor()
    ed.feed("x" * 10_000)
    assert len(ed.buffer) == 8192
