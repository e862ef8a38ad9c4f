"""How many WebSockets the gateway holds: per client address and in all. Pure.

Each WebSocket costs a DEALER on the broker, and a parked one (parking.py) keeps its
DEALER for the grace: both count in all (--max-connections), so a stream of reloads
cannot grow the gateway's sockets without bound. Open WebSockets count per address
(--max-per-address); parked ones per address only against a bound of their own (the
same number), so a page reloaded at its address's limit still resumes.
"""

from collections import Counter

#: Why an upgrade is refused (HTTP 429), as the log says it.
PER_ADDRESS = "too many WebSockets from this address"
IN_ALL = "the gateway holds --max-connections"


class Admission:
    """The counts, and the decisions on them; the caller opens and closes."""

    def __init__(self, max_per_address: int, max_connections: int) -> None:
        self.max_per_address = max_per_address
        self.max_connections = max_connections
        self._open: Counter[str] = Counter()
        self._parked: Counter[str] = Counter()

    @property
    def held(self) -> int:
        """WebSockets open and DEALERs parked, in all."""
        return self._open.total() + self._parked.total()

    def open_problem(self, key: str) -> str | None:
        """Why a new WebSocket from ``key`` (address_key) is refused now, or None."""
        if self.held >= self.max_connections:
            return IN_ALL
        if self._open[key] >= self.max_per_address:
            return PER_ADDRESS
        return None

    def opened(self, key: str) -> None:
        self._open[key] += 1

    def closed(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def may_park(self, key: str) -> bool:
        """Whether ``key`` may park one more DEALER (else its oldest parked one goes)."""
        return self._parked[key] < self.max_per_address

    def parked(self, key: str) -> None:
        self._parked[key] += 1

    def unparked(self, key: str) -> None:
        self._parked[key] -= 1
        if self._parked[key] <= 0:
            del self._parked[key]
