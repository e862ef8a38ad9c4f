"""The chat rules of rooms (docs/ROOMS.md): entering, parting, saying in a room,
who is in one, the list of rooms and their topics.

Every session is in the default room, which is the public stream (core.py's
rules, unchanged); these are the other rooms. Each is a stream of its own in the
history store, with its own `prev` chain, and its events go to its members
only (delivery.py). Who is in which room is the roster's; it is kept in the
store too (`RoomState`), with the session, so a session that comes back after a
restart or a timeout is in its rooms again. Who is in a room across the chat
(WHO, ROOMS, ENTERED, --max-rooms) is the backplane's: this broker's roster
alone, or in a cluster every broker's (its store is the RoomState then, and a
session that moves in from another broker is in its rooms again, silently).
With `--fanout pub` a room's events go once on the feed under the room's topic
(delivery.py, feedgate.py).

A part of BrokerCore (core.py), kept apart so the core stays the rules of one
room; it uses the core's roster, store, publishing and refusals.
"""

from typing import TYPE_CHECKING

from zchat.common.safetext import sanitize
from zchat.protocol import (
    DEFAULT_TOPIC,
    Entered,
    Events,
    Parted,
    Ping,
    RoomInfo,
    RoomList,
    TopicSet,
    Users,
    encode,
    name_key,
    room_key,
    room_problem,
    room_topic,
)
from zchat.protocol import constants as c

from .actions import Action, Broadcast, RoomEvent, Send, StopFeed
from .flood import replies_left
from .roster import Session
from .store import PARTED_DEFAULT, PUBLIC, LinkDown, RoomState, StoredEvent

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .backplane import Backplane
    from .delivery import Delivery
    from .flood import Budgets
    from .roster import Roster
    from .store import HistoryStore


class RoomRules:
    """Rooms, the default one's entering and parting too: the rules, over the core's state."""

    if TYPE_CHECKING:  # what it uses of BrokerCore (core.py)
        roster: Roster
        store: HistoryStore
        backplane: Backplane
        budgets: Budgets
        room_state: RoomState | None
        default_room: str
        max_rooms: int
        _room_heads: dict[str, int]
        delivery: Delivery
        history: int
        fanout: str
        _note: Callable[[str], None]
        _wall: Callable[[], float]
        _t: Callable[..., str]

        def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                    ref: str = "", cid: int = 0) -> list[Action]: ...
        def _throttle(self, session: Session, cid: int) -> list[Action]: ...
        def _publish(self, event: StoredEvent, exclude: bytes | None = None,
                     ack_to: bytes | None = None) -> list[Action]: ...
        def _follow(self, session: Session, room: str, entered: bool) -> None: ...
        def _first_marks(self, session: Session, heads: Mapping[str, int],
                         marks: dict[str, int] | None = None) -> dict[str, int]: ...

    def rooms_on(self) -> bool:
        """Whether this broker offers rooms (announced in WELCOME's ``room``)."""
        return self.room_state is not None

    def _room_of(self, session: Session, room: str, cid: int = 0,
                 member: bool = True) -> tuple[str, list[Action]]:
        """The key of ``room``, or "" and the refusal: not offered, a bad name, or
        (``member``) a room the session is not in."""
        if not self.rooms_on():
            return "", self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                    "this broker has no rooms", "rooms", cid)
        problem = room_problem(room)
        if problem is not None:
            return "", self._refuse(session.identity, session, c.E_BAD_ROOM, problem, room,
                                    cid)
        key = room_key(room)
        inside = session.in_default if key == self.default_room else key in session.rooms
        if member and not inside:
            return "", self._refuse(session.identity, session, c.E_NOT_IN_ROOM,
                                    f"not in {key}", key, cid)
        return key, []

    def _enter(self, session: Session, room: str) -> list[Action]:
        key, refused = self._room_of(session, room, member=False)
        if not key:
            return refused
        state = self.room_state
        assert state is not None
        try:
            if key == self.default_room and not session.in_default:
                return self._enter_default(session)
            if key == self.default_room or key in session.rooms:
                return [self._entered(session, key)]  # already in: nothing stored
            if len(session.rooms) + 1 >= c.MAX_ROOMS_PER_USER:
                return self._refuse(session.identity, session, c.E_TOO_MANY_ROOMS,
                                    "in too many rooms", str(c.MAX_ROOMS_PER_USER))
            held = self.backplane.rooms()
            if key not in held and len(held) >= self.max_rooms:
                return self._refuse(session.identity, session, c.E_ROOMS_FULL,
                                    "the broker holds too many rooms", str(self.max_rooms))
            state.enter(session.stream, key, key)
            self._follow(session, key, True)
        except LinkDown:
            return self._cut_off(session, key)
        self.roster.enter(session, key)
        self._note(self._t("log.enter", name=sanitize(session.name), room=key))
        joined = self._publish(StoredEvent(0, c.JOINED, self._wall(), session.name, room=key),
                               session.identity)
        # One head for ENTERED and the history: in a cluster the head moves between two
        # reads, and a client whose cursor is below the history's last event would show
        # that event again when it arrives live.
        head = self.store.head(key)
        self._first_marks(session, {key: head})
        actions: list[Action] = [self._entered(session, key, head)]
        recent = self.store.recent_room(key, self.history, head) if self.history else []
        if recent:
            events = tuple(event.for_reader(key) for event in recent)
            actions.append(Send(session.identity, encode(Events(c.K_HISTORY, events, room=key))))
        return actions + joined

    def _enter_default(self, session: Session) -> list[Action]:
        """Back in the default room (the public stream): its members see the JOINED."""
        assert self.room_state is not None
        self.room_state.part(session.stream, PARTED_DEFAULT)  # (LinkDown: _enter's)
        self._follow(session, PARTED_DEFAULT, False)
        self.roster.enter_default(session)
        self._note(self._t("log.enter", name=sanitize(session.name), room=self.default_room))
        joined = self._publish(StoredEvent(0, c.JOINED, self._wall(), session.name),
                               session.identity)
        head = self.store.head(PUBLIC)  # one head for ENTERED and the history (_enter's)
        self._first_marks(session, {PUBLIC: head})
        actions: list[Action] = [self._entered(session, self.default_room, head)]
        recent = self.store.recent_public(self.history, head) if self.history else []
        if recent:
            events = tuple(event.for_reader(PUBLIC) for event in recent)
            actions.append(Send(session.identity, encode(Events(c.K_HISTORY, events,
                                                                room=self.default_room))))
        return actions + joined

    def _entered(self, session: Session, key: str, head: int | None = None) -> Send:
        state = self.room_state
        assert state is not None
        if head is None:
            head = self.store.head(PUBLIC if key == self.default_room else key)
        others = [name for name in self._names_in(key) if name_key(name) != session.key]
        try:
            topic = state.topic(key)
        except LinkDown:
            topic = ""
        return Send(session.identity, encode(Entered(key, head, topic,
                                                     tuple(others[:c.WELCOME_USERS]),
                                                     len(others))))

    def _names_in(self, key: str) -> list[str]:
        """Who is in the room ``key`` now, across the chat (with the cluster out of
        reach: on this broker), sorted."""
        try:
            if key != self.default_room:
                return self.backplane.members(key)
            outside = {name_key(name) for name in self.backplane.members(PARTED_DEFAULT)}
            return [name for name in self.backplane.names() if name_key(name) not in outside]
        except LinkDown:
            if key != self.default_room:
                names = [m.name for m in self.roster.members(key)]
            else:
                names = [s.name for s in self.roster.sessions() if s.in_default]
            return sorted(names, key=name_key)

    def _cut_off(self, session: Session, key: str) -> list[Action]:
        """A room command that needs the cluster while it is out of reach."""
        return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                            "the cluster link is down: try again", key)

    def _part(self, session: Session, room: str) -> list[Action]:
        key, refused = self._room_of(session, room)
        if not key:
            return refused
        assert self.room_state is not None
        try:
            if key == self.default_room:
                self.room_state.enter(session.stream, PARTED_DEFAULT, "")
                self._follow(session, PARTED_DEFAULT, True)
            else:
                self.room_state.part(session.stream, key)
                self._follow(session, key, False)
        except LinkDown:
            return self._cut_off(session, key)
        if key == self.default_room:
            self.roster.part_default(session)
            self._note(self._t("log.part", name=sanitize(session.name), room=key))
            left = self._publish(StoredEvent(0, c.LEFT, self._wall(), session.name,
                                             reason=c.R_PART))
            return [*self._unfeed(session, DEFAULT_TOPIC),
                    Send(session.identity, encode(Parted(key))), *left]
        self.roster.part(session, key)
        self._note(self._t("log.part", name=sanitize(session.name), room=key))
        left = self._publish(StoredEvent(0, c.LEFT, self._wall(), session.name,
                                         reason=c.R_PART, room=key))
        return [*self._unfeed(session, room_topic(key)),
                Send(session.identity, encode(Parted(key))), *left]

    def _unfeed(self, session: Session, topic: bytes) -> list[Action]:
        """On a feed, a parted room's topic is taken from the session's subscriber
        (feedgate.py), before any more of the room's events go out."""
        return [StopFeed(session.identity, topic)] if self.fanout == c.FANOUT_PUB else []

    def _room_pings(self) -> list[Action]:
        """On a feed, the head of each room that moved since the last tick, under the
        room's topic: a feed drops silently for a slow subscriber, and a member that
        missed a room's last event learns it from this (the default room's head is in
        every PING)."""
        pings: list[Action] = []
        heads, fed = self._room_heads, self.delivery.fed
        for key in [key for key in fed if not self.roster.members(key)]:
            del fed[key]
            heads.pop(key, None)
        for key, head in fed.items():  # (what went on the feed: in a cluster, what
            if heads.get(key) != head:  # arrived here, not what Redis holds)
                heads[key] = head
                pings.append(RoomEvent(key, encode(Ping(rooms=((key, head),))), event=False))
        return pings

    def _left_rooms(self, session: Session, rooms: set[str], reason: str,
                    ts: float) -> list[Action]:
        """A session ended: a LEFT in each room it was in, stamped ``ts`` like the
        default room's (a client shows one notice per person)."""
        actions: list[Action] = []
        for key in sorted(rooms):
            actions += self._publish(StoredEvent(0, c.LEFT, ts, session.name, reason=reason,
                                                 room=key))
        return actions

    def _rejoined_rooms(self, session: Session) -> list[Action]:
        """A new session whose token was in rooms (after a restart or a timeout): it is
        in them again, and their members see it join."""
        rooms = self._back_in_rooms(session)
        ts = self._wall() if rooms else 0.0  # (a wall-clock read only when needed)
        return [action for key in rooms
                for action in self._publish(StoredEvent(0, c.JOINED, ts, session.name,
                                                        room=key), session.identity)]

    def _back_in_rooms(self, session: Session) -> list[str]:
        """Put ``session`` in the rooms its token is in (and out of the default room if
        it parted it); the rooms, sorted. Nothing is published: a session that moved
        in from another broker of the cluster never left them."""
        if not self.rooms_on():
            return []
        assert self.room_state is not None
        try:
            stored = self.room_state.rooms_of(session.stream)
        except LinkDown:
            return []  # (just held: the link went down since; its rooms come back later)
        rooms = []
        for key in sorted(stored):
            if key == PARTED_DEFAULT:
                self.roster.part_default(session)
            else:
                self.roster.enter(session, key)
                rooms.append(key)
        return rooms

    def _who_room(self, session: Session, room: str, now: float) -> list[Action]:
        key, refused = self._room_of(session, room)
        if not key:
            return refused
        return self._paid(session, encode(Users(tuple(self._names_in(key)), key)), now)

    def _list_rooms(self, session: Session, now: float) -> list[Action]:
        if not self.rooms_on():
            return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                "this broker has no rooms", "rooms")
        state = self.room_state
        assert state is not None
        try:
            held = self.backplane.rooms()
            held[self.default_room] = (self.backplane.count()
                                       - len(self.backplane.members(PARTED_DEFAULT)))
            listed = sorted(held)[:c.MAX_ROOMS_LISTED]
            rooms = tuple(RoomInfo(key, held[key], state.topic(key)) for key in listed)
        except LinkDown:
            return self._cut_off(session, "")
        return self._paid(session, encode(RoomList(rooms)), now)

    def _set_topic(self, session: Session, room: str, text: str) -> list[Action]:
        key, refused = self._room_of(session, room)
        if not key:
            return refused
        assert self.room_state is not None
        try:
            self.room_state.set_topic(key, text)
            self.backplane.share_topic(key, text, session.name)
        except LinkDown:
            return self._cut_off(session, key)
        self._note(self._t("log.topic", name=sanitize(session.name), room=key,
                           text=sanitize(text)))
        if self.backplane.shared:
            return []  # shown to the members on every broker when the shared log brings it
        return self._topic_shown(key, text, session.name)

    def _topic_shown(self, key: str, text: str, by: str) -> list[Action]:
        """A room's new topic, to its members here."""
        frame = encode(TopicSet(key, text, by))
        if key == self.default_room:
            if not self.roster.outside:
                return [Broadcast(frame)]
            return [Send(s.identity, frame) for s in self.roster.sessions() if s.in_default]
        return [Send(member.identity, frame) for member in self.roster.members(key)]

    def _paid(self, session: Session, frame: bytes, now: float) -> list[Action]:
        """A reply paid for in reply bytes (USERS, ROOMS: they can be long)."""
        replies = self.budgets.of(session)[3]
        if not replies_left(replies, now):
            return self._throttle(session, 0)
        replies.tokens -= len(frame)
        return [Send(session.identity, frame)]


def room_state_of(store: object) -> RoomState | None:
    """The store's memberships and topics, if it keeps them."""
    return store if isinstance(store, RoomState) else None


