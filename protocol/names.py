"""Name rules, shared by the CLI (before any traffic), the broker and the client."""

import unicodedata

from .constants import MAX_NAME_CHARS

# Categories refused anywhere in a name: controls, format (bidi overrides,
# zero-width joiners), surrogates, private use, unassigned, and separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid user name, or None when it is."""
    if not name:
        return "empty"
    if len(name) > MAX_NAME_CHARS:
        return "too long"
    if name_key(name)[:1] in ("@", "/", ""):  # also the full-width forms, e.g. U+FF20
        return "starts with @ or /"
    for ch in name:
        if ch.isspace() or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            return "whitespace or control character"
    return None


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
