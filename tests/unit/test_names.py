"""protocol/names.py beyond the basic table in test_protocol.py: invisible
characters, and the name a client keeps after WELCOME."""

import itertools
import unicodedata

import pytest

from zchat.protocol import (
    WHITE_SPACE,
    adopted_name,
    is_blank,
    is_default_ignorable,
    name_key,
    name_problem,
)
from zchat.protocol.names import _BLANK, _DEFAULT_IGNORABLE

# ---- invisible characters --------------------------------------------------------------

#: Each draws as nothing (or as a blank cell) beside "ana", so "ana" + it would be
#: a second "ana" on screen; the ones of category Cf were refused already.
INVISIBLE = [
    ("\ufe00", "U+FE00"),  # VARIATION SELECTOR-1
    ("\ufe0e", "U+FE0E"),  # VARIATION SELECTOR-15 (text presentation)
    ("\ufe0f", "U+FE0F"),  # VARIATION SELECTOR-16 (emoji presentation)
    ("\U000e0100", "U+E0100"),  # VARIATION SELECTOR-17
    ("\U000e01ef", "U+E01EF"),  # VARIATION SELECTOR-256
    ("\u180b", "U+180B"),  # MONGOLIAN FREE VARIATION SELECTOR ONE
    ("\u180f", "U+180F"),  # MONGOLIAN FREE VARIATION SELECTOR FOUR
    ("\u3164", "U+3164"),  # HANGUL FILLER (Lo)
    ("\u115f", "U+115F"),  # HANGUL CHOSEONG FILLER
    ("\u1160", "U+1160"),  # HANGUL JUNGSEONG FILLER
    ("\uffa0", "U+FFA0"),  # HALFWIDTH HANGUL FILLER
    ("\u034f", "U+034F"),  # COMBINING GRAPHEME JOINER (Mn)
    ("\u17b4", "U+17B4"),  # KHMER VOWEL INHERENT AQ
    ("\u17b5", "U+17B5"),  # KHMER VOWEL INHERENT AA
    ("\u2800", "U+2800"),  # BRAILLE PATTERN BLANK (So, not default-ignorable)
    ("\U00016fe4", "U+16FE4"),  # KHITAN SMALL SCRIPT FILLER
    ("\U0001d159", "U+1D159"),  # MUSICAL SYMBOL NULL NOTEHEAD
]

#: Default-ignorable too, but refused already by category (Cf, Zs, Cn).
ALREADY_REFUSED = ["\u00ad", "\u061c", "\u180e", "\u200b", "\u200c", "\u200d", "\u2060",
                   "\u2064", "\ufeff", "\U0001bca0", "\U0001d173", "\U000e0001",
                   "\U000e0041", "\ufff0", "\u3000", "\u2028"]


@pytest.mark.parametrize(("ch", "code"), INVISIBLE, ids=[c for _, c in INVISIBLE])
@pytest.mark.parametrize("where", ["end", "middle", "start", "alone"])
def test_a_name_with_an_invisible_character_is_refused(ch, code, where):
    name = {"end": "ana" + ch, "middle": "an" + ch + "a", "start": ch + "ana",
            "alone": ch}[where]
    assert name_problem(name) == f"invisible character {code}"


@pytest.mark.parametrize("ch", ALREADY_REFUSED, ids=lambda ch: f"U+{ord(ch):04X}")
def test_invisible_controls_and_spaces_are_still_refused_as_such(ch):
    assert name_problem("ana" + ch) == "whitespace or control character"


VISIBLE = [
    "José", "Zoë", "Ωmega", "山田", "北京", "Мария", "محمد", "דוד", "सीता", "김민준", "ひらがな",
    "ana_b", "o'neil",
    "😀",  # an emoji that is emoji by default needs no selector
    "❤",  # a text-default one is accepted without VS16 (with it: refused, see above)
    "👍🏽",  # a skin tone modifier is visible
    "e\u0301",  # a combining acute accent is a visible mark
    "\u00b4",  # ACUTE ACCENT: visible, though its key holds a space
    "\u2422",  # BLANK SYMBOL: a visible b with a stroke
    "\u303f",  # IDEOGRAPHIC HALF FILL SPACE: drawn as a half-filled box
    "\u3131",  # HANGUL LETTER KIYEOK, beside the filler U+3164
]


@pytest.mark.parametrize("name", VISIBLE)
def test_visible_names_in_any_script_are_accepted(name):
    assert name_problem(name) is None


def test_emoji_with_a_presentation_selector_is_refused_without_is_accepted():
    """Decided: VS16 is default-ignorable, and "❤" with and without it look alike on
    most terminals, so it is refused; the emoji alone is the name."""
    assert name_problem("\u2764\ufe0f") == "invisible character U+FE0F"
    assert name_problem("\u2764") is None
    assert name_problem("\U0001f44d\U0001f3fd") is None  # a skin tone is not a selector


def test_default_ignorable_table_is_sorted_and_disjoint():
    for (_, last), (first, _) in itertools.pairwise(_DEFAULT_IGNORABLE):
        assert last + 1 < first  # a gap between ranges: adjacent ones would be one
    assert all(first <= last for first, last in _DEFAULT_IGNORABLE)


def test_default_ignorable_lookup_at_range_edges():
    for first, last in _DEFAULT_IGNORABLE:
        assert is_default_ignorable(chr(first)) and is_default_ignorable(chr(last))
        assert not is_default_ignorable(chr(first - 1))
        assert not is_default_ignorable(chr(last + 1))
    assert not is_default_ignorable("\x00")
    assert not is_default_ignorable("a")


def test_the_table_holds_only_what_draws_nothing():
    """A transcription check: every code point the table holds that this Python
    knows is a format character, a mark, a letter filler or unassigned."""
    kinds = {unicodedata.category(chr(code)) for first, last in _DEFAULT_IGNORABLE
             for code in range(first, last + 1)}
    assert kinds <= {"Cf", "Mn", "Lo", "Cn"}
    letters = {chr(code) for first, last in _DEFAULT_IGNORABLE
               for code in range(first, last + 1) if unicodedata.category(chr(code)) == "Lo"}
    assert all("FILLER" in unicodedata.name(ch) for ch in letters)


def test_no_accepted_character_has_an_invisible_character_in_its_key():
    """Names are compared by key, checked as sent: no accepted character folds to
    a refused invisible one (so refusing them as sent is enough)."""
    for code in range(0x110000):
        ch = chr(code)
        if unicodedata.category(ch) in ("Cn", "Co", "Cs"):
            continue  # refused; and most of the code space
        key = name_key(ch)
        if key == ch or name_problem(ch) is not None:
            continue
        assert not any(is_default_ignorable(k) or k in _BLANK for k in key), f"U+{code:04X}"


# ---- the name a client keeps after WELCOME -----------------------------------------------


@pytest.mark.parametrize(("asked", "welcomed", "kept"), [
    ("ana", "ana", "ana"),
    ("ana", "Ana", "Ana"),  # the spelling the broker holds for our session
    ("ana", "\uff21\uff2e\uff21", "\uff21\uff2e\uff21"),  # full-width ANA: the same key
    ("ana", "bob", "ana"),  # another name: the broker has no say in who we are
    ("ana", "ana\x1b]0;pwned\x07", "ana"),  # not a valid name
    ("ana", "ana\x1b[2J", "ana"),
    ("ana", "ana\x9b", "ana"),
    ("ana", "ana\ufe00", "ana"),
    ("ana", "", "ana"),
    ("ana", "ANA ", "ana"),
])
def test_adopted_name(asked, welcomed, kept):
    assert adopted_name(asked, welcomed) == kept


# ---- whitespace -------------------------------------------------------------------------


def test_white_space_is_unicodes_property_not_pythons():
    """The 25 code points of PropList.txt's White_Space: Python's isspace adds
    U+001C..U+001F (bidi class B and S), which are not."""
    assert len(WHITE_SPACE) == len(set(WHITE_SPACE)) == 25
    python = {chr(i) for i in range(0x110000) if chr(i).isspace()}
    assert python - set(WHITE_SPACE) == {"\x1c", "\x1d", "\x1e", "\x1f"}
    assert set(WHITE_SPACE) <= python
    assert is_blank("") and is_blank(" \t\x85\u3000") and not is_blank("\ufeff")

