"""Who holds which name beyond this broker: the narrow interface to a cluster.

A single broker needs nothing from outside, so `LocalBackplane` answers from
its own roster. A cluster (cluster.py) answers from Redis, and its events come
back to every broker, this one included, through the shared log: `shared`
tells the core to deliver them then, in the log's order, rather than at once.
Both pass one contract (tests/unit/test_backplane_contract.py), as does the
core's unit tests' stand-in for Redis.
"""

from typing import Protocol

from .roster import Roster, Session
from .store import LinkDown

__all__ = ["CLAIMED", "RESUMED", "TAKEN", "Backplane", "LinkDown", "LocalBackplane"]

#: hold() results: a new holder, the same session (token) moving in, or someone else's.
CLAIMED = "claimed"
RESUMED = "resumed"
TAKEN = "taken"


class Backplane(Protocol):
    """The names held across the chat, as one broker sees them.

    The core asks only about names its roster does not settle: it calls `hold`
    for a name no session of its own holds (or to take back its own session's),
    and `locate` for a name not in its roster. `hold` answers CLAIMED (free: it is
    this session's now), RESUMED (this session, held by another broker until now:
    it moves here) or TAKEN (another session's, or the same token under another
    CURVE key); `release` gives up a session's name and says whether it was still
    held here (False: the session moved to another broker, so it did not leave).
    `heal` hands the cluster this broker's sessions again after an outage: it
    returns those whose names had lapsed (claimed again), those whose names
    another session took meanwhile, and the (name, reason) of the sessions that
    ended during the outage and were released (a LEAVE among them retires its
    token, as `Ownership.unbind` would have).

    Raises:
        LinkDown: from any method, when the cluster cannot be reached
            now; `up` is then False until `heal` succeeds. A broker alone never
            raises it.
    """

    #: Events are delivered when the shared log brings them back, not when made.
    shared: bool
    #: False once a call failed, until the cluster is healed.
    up: bool

    def hold(self, name: str, stream: str, user: str) -> str: ...
    def release(self, name: str, stream: str) -> bool: ...
    def locate(self, name: str) -> tuple[str, str] | None: ...
    def names(self) -> list[str]: ...
    def some_names(self, count: int, but: str) -> list[str]: ...
    def count(self) -> int: ...
    def heal(self, sessions: list[Session], left: dict[str, tuple[str, str, str]]
             ) -> tuple[list[Session], list[Session], list[tuple[str, str]]]: ...


class LocalBackplane:
    """One broker alone: the roster is the whole chat."""

    shared = False
    up = True

    def __init__(self, roster: Roster) -> None:
        self._roster = roster

    def hold(self, name: str, stream: str, user: str) -> str:
        """The core has checked the roster: a free name is ours."""
        return CLAIMED

    def release(self, name: str, stream: str) -> bool:
        """Whether to announce the user as gone: alone, always."""
        return True

    def locate(self, name: str) -> tuple[str, str] | None:
        """(name, stream) of a user on another broker: there are none."""
        return None

    def names(self) -> list[str]:
        return self._roster.names()

    def some_names(self, count: int, but: str) -> list[str]:
        return self._roster.some_names(count, but)

    def count(self) -> int:
        return len(self._roster)

    def heal(self, sessions: list[Session], left: dict[str, tuple[str, str, str]]
             ) -> tuple[list[Session], list[Session], list[tuple[str, str]]]:
        """Never cut off from itself: nothing to hand back."""
        return [], [], []
