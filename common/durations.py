"""Durations as people type them for bans and mutes (the chat's /ban and /mute, and
`zchat admin ... --for`): ``30s``, ``10m``, ``2h``, ``7d``, ``1w``, ``1h30m``."""

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"(?:([0-9]{1,9})([smhdw]))+|[0-9]{1,9}")
_PART = re.compile(r"([0-9]{1,9})([smhdw])")


def duration(text: str, bare: bool = True) -> int | None:
    """``text`` in seconds; None if it is not a duration, or is none at all (0).
    ``bare``: digits alone are seconds (False: a unit is needed, where a word without
    one means something else, as a ban's reason does in the chat)."""
    text = text.strip().lower()
    if not _DURATION.fullmatch(text) or (text.isdigit() and not bare):
        return None
    seconds = int(text) if text.isdigit() else \
        sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    return seconds or None
