"""Log lines a stranger could cause once per request, at most once a second each.

A refused upgrade (wrong Origin, too many connections) costs an attacker one
request; logging every one would let them fill the disk. Each kind is logged at
most once a second, with how many were left unsaid since its last line. Pure: the
caller passes the time and does the logging.
"""


class Throttle:
    """Per kind: whether to log now, and how many were counted instead."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._unsaid: dict[str, int] = {}

    def allow(self, kind: str, now: float) -> int | None:
        """None: stay silent (counted); else log now, the number is how many of this
        kind went unlogged before it."""
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._unsaid[kind] = self._unsaid.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._unsaid.pop(kind, 0)
