"""Who holds which name beyond this broker: the narrow interface to a cluster.

A single broker needs nothing from outside, so `LocalBackplane` answers from
its own roster. A cluster (cluster.py) answers from Redis, and its events come
back to every broker, this one included, through the shared log: `shared`
tells the core to deliver them then, in the log's order, rather than at once.
Both pass one contract (tests/unit/test_backplane_contract.py), as does the
core's unit tests' stand-in for Redis.
"""

from typing import Protocol

from zchat.protocol import name_key

from .roster import Roster, Session
from .store import PARTED_DEFAULT, LinkDown

__all__ = ["CLAIMED", "DOWN", "EVENT", "RESUMED", "RESYNC", "TAKEN", "UP", "Backplane",
           "LinkDown", "LocalBackplane"]

#: What a cluster's reader thread (cluster_reader.py) tells the loop over its link
#: socket. Here, not there, so that a broker without a cluster never imports redis.
EVENT, DOWN, UP, RESYNC = "event", "down", "up", "resync"

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

    Rooms, across the chat: `members` are the names of the sessions in a room now
    (room key; PARTED_DEFAULT: those who parted the default room), sorted by name
    key; `rooms` every room (not the default one) someone is in now, with how many.
    In a cluster a session's memberships are the RoomState's (the store, by stream):
    a session is in a room here from the `RoomState.enter` of a held name, or the
    `hold` of a session with memberships, until its `part`, or `release`. Alone, the
    roster answers. `share_topic` tells the other brokers that a room's topic
    changed (they show it to their members when the shared log brings it; alone:
    nothing to do, the core shows it at once); `share_moderation` likewise what an
    operator did (``told``: moderation.py's record of it, JSON).

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
    def members(self, room: str) -> list[str]: ...
    def rooms(self) -> dict[str, int]: ...
    def share_topic(self, room: str, text: str, by: str) -> None: ...
    def share_moderation(self, told: str, room: str, by: str) -> None: ...


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

    def members(self, room: str) -> list[str]:
        if room == PARTED_DEFAULT:
            names = [s.name for s in self._roster.sessions() if not s.in_default]
        else:
            names = [s.name for s in self._roster.members(room)]
        return sorted(names, key=name_key)

    def rooms(self) -> dict[str, int]:
        return self._roster.rooms()

    def share_topic(self, room: str, text: str, by: str) -> None:
        """No one else to tell."""

    def share_moderation(self, told: str, room: str, by: str) -> None:
        """No one else to tell."""
