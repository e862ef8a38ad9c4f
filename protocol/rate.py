"""The rate limit both sides apply: a token bucket, as docs/PROTOCOL.md defines it.

Shared by the broker (which refuses and, for persistent flooders, disconnects)
and the client (which paces its own sends to the rate the broker announces,
so a person pasting many lines is never refused).
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        """Spend ``amount`` if there is enough; False (nothing spent) if not."""
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def wait(self, now: float, amount: float = 1.0) -> float:
        """Seconds until ``amount`` can be spent (0 if it can now)."""
        self._refill(now)
        missing = min(amount, self.burst) - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate


def take_both(first: TokenBucket, second: TokenBucket, now: float,
              amount: float = 1.0) -> bool:
    """Spend 1 from ``first`` and ``amount`` (capped at its burst) from ``second``,
    or nothing from either: a message costs a message and its bytes at once.
    (The broker's per-message path: each bucket is refilled once.)"""
    first._refill(now)
    second._refill(now)
    amount = min(amount, second.burst)
    if first.tokens >= 1.0 and second.tokens >= amount:
        first.tokens -= 1.0
        second.tokens -= amount
        return True
    return False
