"""Make untrusted text safe to print: no control or escape sequence survives.

Used by the client before anything reaches a terminal and by the broker before
anything reaches its log, so one user can never move another's cursor, change
colours, retitle a window, or forge a log line.
"""

import unicodedata

# Format characters that reorder or hide text (bidi overrides and isolates).
_BIDI = frozenset("\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def sanitize(text: str) -> str:
    """Replace control characters (C0, DEL, C1) and bidi controls by visible escapes."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI or ch in "\u2028\u2029":
            out.append(_escape(ch))
        else:
            # Other non-printables (e.g. zero-width joiners) are harmless to show.
            out.append(ch)
    return "".join(out)
