"""Who holds which name beyond this broker: the narrow interface to a cluster.

A single broker needs nothing from outside, so `LocalBackplane` answers from
its own roster. A cluster (cluster.py) answers from Redis, and its events come
back to every broker, this one included, through the shared log: `shared`
tells the core to deliver them then, in the log's order, rather than at once.
"""

from typing import Protocol

from .roster import Roster, Session

#: hold() results: a new holder, the same session (token) moving in, or someone else's.
CLAIMED = "claimed"
RESUMED = "resumed"
TAKEN = "taken"


class LinkDown(Exception):
    """The cluster cannot be reached now: serve this broker's own users only."""


class Backplane(Protocol):
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
