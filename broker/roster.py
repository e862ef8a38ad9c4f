"""Who is connected: one object owns every index so they never disagree.

Sessions are found by ROUTER identity, by name key (case-folded) and by private
stream; each remembers when its peer was last heard from and which rooms other
than the default one it is in, and the roster knows each room's members. Nothing
here sends or logs.
"""

import secrets
from collections.abc import KeysView, Set
from dataclasses import dataclass, field

from zchat.protocol import name_key
from zchat.protocol.rate import TokenBucket

from .store import stream_key

#: The rooms of a session in none but the default room (most of them): one shared empty
#: set rather than a set each, 216 bytes a session (docs/PERFORMANCE.md, Idle clients).
_NO_ROOMS: frozenset[str] = frozenset()


@dataclass(slots=True)
class Session:
    name: str
    identity: bytes
    token: str
    last_seen: float
    peer: str = ""
    #: The client's CURVE public key (z85) when encryption is on, else "".
    user: str = ""
    key: str = field(init=False)
    #: This session's private stream in the history store (see store.stream_key).
    stream: str = field(init=False)
    #: Highest client message id seen from this session (duplicate detection).
    max_cid: int = field(default=0, init=False)
    #: Flood control: message, text-byte, FETCH and reply-byte buckets (Limits.buckets),
    #: and refusals in a row.
    buckets: tuple[TokenBucket, TokenBucket, TokenBucket, TokenBucket] | None = field(
        default=None, init=False)
    strikes: int = field(default=0, init=False)
    #: The rooms it is in besides the default one (room keys, "#sala"); only the roster
    #: changes it (`enter`, `part`).
    rooms: Set[str] = field(default=_NO_ROOMS, init=False)
    #: Whether it is in the default room (every session is, until it parts it).
    in_default: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        self.key = name_key(self.name)
        self.stream = stream_key(self.token)


class Roster:
    """The joined clients, indexed by identity and by name key."""

    def __init__(self) -> None:
        self._by_identity: dict[bytes, Session] = {}
        self._by_key: dict[str, Session] = {}
        self._by_stream: dict[str, Session] = {}
        #: Identities that gained (True) or lost (False) a session, in order, until
        #: `take_changes`: the server follows connections with them.
        self._changes: list[tuple[bytes, bool]] = []
        #: Each room's members (besides the default room), by key.
        self._members: dict[str, dict[str, Session]] = {}
        #: The identities of sessions not in the default room: the batcher leaves them
        #: out of its events (the same set object, kept up to date here).
        self.outside: set[bytes] = set()
        #: The identities of sessions whose clients take ACKS (JOIN's ``acks``): the
        #: batcher sends them a cycle's consecutive ACKs as one frame (the same set object).
        self.batched_acks: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._by_identity)

    def by_identity(self, identity: bytes) -> Session | None:
        return self._by_identity.get(identity)

    def by_name(self, name: str) -> Session | None:
        return self._by_key.get(name_key(name))

    def by_stream(self, stream: str) -> Session | None:
        """The session holding a token, whatever its name (one token, one session)."""
        return self._by_stream.get(stream)

    def add(self, name: str, identity: bytes, now: float, peer: str = "",
            token: str = "", user: str = "") -> Session:
        """Add a new session; the caller has checked that the name is free.

        ``token`` is the client's own session token when it sent one (so a JOIN
        whose WELCOME was lost can still be resumed); otherwise one is made.
        """
        session = Session(name, identity, token or secrets.token_hex(16), now, peer, user)
        self._by_identity[identity] = session
        self._by_key[session.key] = session
        self._by_stream[session.stream] = session
        self._changes.append((identity, True))
        return session

    def rebind(self, session: Session, identity: bytes, now: float, peer: str = "") -> None:
        """Move a session to a new identity: its client reconnected on a new socket."""
        self._by_identity.pop(session.identity, None)
        if not session.in_default:
            self.outside.discard(session.identity)
            self.outside.add(identity)
        self.batched_acks.discard(session.identity)  # (the new JOIN says again: `acks`)
        self._changes += ((session.identity, False), (identity, True))
        session.identity = identity
        session.last_seen = now
        if peer:
            session.peer = peer
        self._by_identity[identity] = session

    def acks(self, session: Session, batched: bool) -> None:
        """What its JOIN said: whether the session's client takes ACKS."""
        if batched:
            self.batched_acks.add(session.identity)
        else:
            self.batched_acks.discard(session.identity)

    def enter(self, session: Session, room: str) -> None:
        session.rooms = session.rooms | {room}  # (a new set: rooms are entered seldom)
        self._members.setdefault(room, {})[session.stream] = session

    def part(self, session: Session, room: str) -> None:
        session.rooms = session.rooms - {room} or _NO_ROOMS
        members = self._members.get(room)
        if members is not None:
            members.pop(session.stream, None)
            if not members:
                del self._members[room]  # a room is held while it has members

    def part_default(self, session: Session) -> None:
        session.in_default = False
        self.outside.add(session.identity)

    def enter_default(self, session: Session) -> None:
        session.in_default = True
        self.outside.discard(session.identity)

    def members(self, room: str) -> list[Session]:
        """The sessions in ``room`` (not the default room: everyone is in that one)."""
        return list(self._members.get(room, {}).values())

    def rooms(self) -> dict[str, int]:
        """Every room held (one with members), and how many it has."""
        return {room: len(members) for room, members in self._members.items()}

    def room_count(self) -> int:
        """How many rooms are held (read from another thread: one len, nothing walked)."""
        return len(self._members)

    def remove(self, session: Session) -> None:
        for room in list(session.rooms):
            self.part(session, room)
        self.outside.discard(session.identity)
        self.batched_acks.discard(session.identity)
        if self._by_identity.pop(session.identity, None) is not None:
            self._changes.append((session.identity, False))
        if self._by_key.get(session.key) is session:
            del self._by_key[session.key]
        if self._by_stream.get(session.stream) is session:
            del self._by_stream[session.stream]

    def take_changes(self) -> list[tuple[bytes, bool]]:
        """The (identity, joined) changes since the last call."""
        changes, self._changes = self._changes, []
        return changes

    def identities(self) -> KeysView[bytes]:
        """Every joined identity, live (the fan-out loop iterates it)."""
        return self._by_identity.keys()

    def some_names(self, count: int, but: str) -> list[str]:
        """Up to ``count`` names other than ``but`` (the longest joined), sorted:
        a WELCOME must not cost O(N) names in a room of N."""
        names = []
        but = name_key(but)
        for session in self._by_key.values():
            if session.key != but:
                names.append(session.name)
                if len(names) == count:
                    break
        return sorted(names, key=name_key)

    def names(self) -> list[str]:
        return sorted((s.name for s in self._by_key.values()), key=name_key)

    def silent_since(self, deadline: float) -> list[Session]:
        """Sessions not heard from since ``deadline``."""
        return [s for s in self._by_identity.values() if s.last_seen < deadline]

    def sessions(self) -> list[Session]:
        return list(self._by_identity.values())
