"""Log lines that a stranger could otherwise make once a frame, counted instead.

A storm of refusals, closed connections or failed handshakes is one line a
second with "(and N more)". The caller gives the time, so the core, which
reads no clock, can use it as the server does.
"""


class Throttle:
    """At most one line per ``interval`` seconds, counting the ones left out."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._quiet = 0

    def allow(self, now: float) -> bool:
        """Whether a line may be logged at ``now`` (else it is counted)."""
        if now - self._last < self.interval:
            self._quiet += 1
            return False
        self._last = now
        return True

    def suffix(self) -> str:
        """" (and N more)" for the lines left out since the last one; resets the count."""
        quiet, self._quiet = self._quiet, 0
        return f" (and {quiet} more)" if quiet else ""
