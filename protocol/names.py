"""Name rules, shared by the CLI (before any traffic), the broker and the client."""

import unicodedata
from bisect import bisect_right
from typing import Final

from .constants import MAX_NAME_CHARS, ROOM_PREFIX

# Categories refused anywhere in a name: controls, format (bidi overrides,
# zero-width joiners), surrogates, private use, unassigned, and separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

#: Default_Ignorable_Code_Point, first and last code point of each range, from
#: DerivedCoreProperties.txt of Unicode 14.0.0 (the version of Python 3.11's
#: unicodedata, which has no such property). Most are Cf or Cn and refused already;
#: this table adds the ones that are letters or marks yet draw as nothing:
#: variation selectors, Hangul fillers, the combining grapheme joiner, Mongolian
#: free variation selectors, Khmer inherent vowels. Unicode keeps unassigned code
#: points of the reserved ranges (U+2060.., U+FFF0.., U+E0000..) default-ignorable,
#: so characters later versions assign there are refused too.
_DEFAULT_IGNORABLE: Final = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG FILLER, HANGUL JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE .. RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # WORD JOINER, invisible operators, bidi isolates, deprecated
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1..16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT controls
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN/END BEAM .. PHRASE
    (0xE0000, 0xE0FFF),  # tags, VARIATION SELECTOR-17..256, reserved
)
_STARTS: Final = tuple(first for first, _ in _DEFAULT_IGNORABLE)

#: Not default-ignorable, but drawn as a blank cell or as nothing at all.
_BLANK: Final = frozenset({
    "\u2800",  # BRAILLE PATTERN BLANK (So): a cell with no dots
    "\U00016FE4",  # KHITAN SMALL SCRIPT FILLER (Mn)
    "\U0001D159",  # MUSICAL SYMBOL NULL NOTEHEAD (So): a placeholder with no glyph
})


#: The code points with Unicode's White_Space property (PropList.txt; the same list
#: in every version since 4.1). What "whitespace" means on the wire, in every
#: language: not Python's str.isspace (which adds U+001C..U+001F) nor JavaScript's
#: \s (which adds U+FEFF and leaves out U+0085).
WHITE_SPACE: Final = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                      "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def is_blank(text: str) -> bool:
    """True when ``text`` is empty or White_Space only: a SAY or TELL the broker
    refuses (EMPTY, BAD_PRIVATE)."""
    return not text.strip(WHITE_SPACE)


def is_default_ignorable(ch: str) -> bool:
    """True when ``ch`` has Unicode's Default_Ignorable_Code_Point property."""
    code = ord(ch)
    i = bisect_right(_STARTS, code) - 1
    return i >= 0 and code <= _DEFAULT_IGNORABLE[i][1]


#: Why a name or room name is refused: the ERROR detail of BAD_NAME and BAD_ROOM (a
#: client may show its own words for these; INVISIBLE is followed by " U+XXXX").
P_EMPTY: Final = "empty"
P_TOO_LONG: Final = "too long"
P_BAD_START: Final = "starts with @ or /"
P_BAD_CHARACTER: Final = "whitespace or control character"
P_INVISIBLE: Final = "invisible character"
P_NO_PREFIX: Final = "must start with #"


def name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid user name (a P_ constant), or None when it is."""
    if not name:
        return P_EMPTY
    if len(name) > MAX_NAME_CHARS:
        return P_TOO_LONG
    if name_key(name)[:1] in ("@", "/", ""):  # also the full-width forms, e.g. U+FF20
        return P_BAD_START
    for ch in name:
        if ch in WHITE_SPACE or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            return P_BAD_CHARACTER
        # A name holding one would look exactly like the name without it.
        if ch in _BLANK or is_default_ignorable(ch):
            return f"{P_INVISIBLE} U+{ord(ch):04X}"
    return None


def room_problem(room: str) -> str | None:
    """Return why ``room`` is not a valid room name ("#" and a valid user name),
    or None when it is."""
    if not room.startswith(ROOM_PREFIX):
        return P_NO_PREFIX
    return name_problem(room[len(ROOM_PREFIX):])


def room_key(room: str) -> str:
    """The form rooms are compared and named in on the wire: "#Sala" is "#sala"."""
    return ROOM_PREFIX + name_key(room[len(ROOM_PREFIX):])


def is_valid_name(name: str) -> bool:
    return name_problem(name) is None


def name_key(name: str) -> str:
    """The form names are compared in: 'Ana' and 'ana' are one user."""
    return unicodedata.normalize("NFKC", name).casefold()


def adopted_name(asked: str, welcomed: str) -> str:
    """The name a client goes on with after WELCOME: the broker's spelling of the
    name it asked for (on a resume it may differ in case), never another name nor
    an invalid one. A broker has no say in who the user is."""
    if name_key(welcomed) == name_key(asked) and name_problem(welcomed) is None:
        return welcomed
    return asked
