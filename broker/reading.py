"""Read state (issue 18): how far each user has read, their private conversations,
and the rooms that follow a CURVE key.

A reader is a CURVE key when the session has one (its read marks, conversations
and rooms follow the key to another terminal or device), else the session itself
(its stream key: marks last as long as the session does, across reconnects,
resumes and restarts, and go with its `sair`). Clients MARK what they showed;
after WELCOME the broker sends UNREAD: per room and conversation, how many
messages came after the mark (counted up to MAX_UNREAD_COUNTED) and how many of
them name the user. The first mark of a room is its head when the reader is
first seen in it, so a room joined today has nothing unread from before.

A private message counts toward both sides' conversations once it is numbered:
on a broker alone at once (`_told`); in a cluster, where numbering waits for the
cycle's commit and the target may be on another broker, the sender's side after
that commit (`_sent`) and the target's on the broker that delivers the message to
the target's session, which knows whose it is (`_reached`).

Costs: a MARK is one message (Flood control) and one write per entry; UNREAD is
at most one bounded page read per room at join; DMS is one indexed read, paid
for in reply bytes like WHO. A store that keeps no read state answers MARK with
nothing, DMS with UNAVAILABLE, and no UNREAD is sent.

A part of BrokerCore (core.py), like rooms.py.
"""

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from zchat.protocol import (
    DmList,
    ListDms,
    Mark,
    Unread,
    UnreadList,
    encode,
    name_key,
    name_problem,
    room_key,
    room_problem,
)
from zchat.protocol import constants as c

from .store import PUBLIC, LinkDown, ReadState, RoomState, StoredEvent

if TYPE_CHECKING:
    from .actions import Action
    from .backplane import Backplane
    from .roster import Roster, Session
    from .store import HistoryStore

#: The reader key of a CURVE key (a session's is its stream key, "t:...").
KEY_PREFIX = "k:"


def reader_of(session: "Session") -> str:
    """Whose read state a session reads and writes: its key's, else its own."""
    return KEY_PREFIX + session.user if session.user else session.stream


def mentions(name: str) -> "re.Pattern[str]":
    """Matches a text that names ``name`` as a word (``@name`` too), in any case."""
    return re.compile(r"(?<!\w)@?" + re.escape(name_key(name)) + r"(?!\w)")


class ReadRules:
    """MARK, DMS, UNREAD and rooms that follow a key, over the core's state."""

    if TYPE_CHECKING:  # what it uses of BrokerCore (core.py) and RoomRules (rooms.py)
        store: HistoryStore
        backplane: Backplane
        roster: Roster
        default_room: str
        read_state: ReadState | None
        room_state: RoomState | None
        #: In a cluster: private messages sent here, waiting for the commit that numbers
        #: them, with their senders.
        _talks_due: list[tuple[StoredEvent, Session]]

        def _paid(self, session: Session, frame: bytes, now: float) -> list[Action]: ...
        def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                    ref: str = "", cid: int = 0) -> list[Action]: ...

    # ---- what the client says it read --------------------------------------------

    def _mark(self, session: "Session", mark: Mark) -> "list[Action]":
        """Raise the session's reader's marks; entries it may not mark are skipped
        (a room it just parted, a bad name): a MARK is never answered."""
        state = self.read_state
        if state is None:
            return []
        last = self.store.last_seq()
        marks: dict[str, int] = {}
        for key, seq in mark.read:
            stream = self._mark_key(session, key)
            if stream:
                marks[stream] = max(marks.get(stream, 0), min(seq, last))
        if marks:
            try:
                state.mark(reader_of(session), marks)
            except LinkDown:
                pass  # (marks are a convenience: the next MARK carries them again)
        return []

    def _mark_key(self, session: "Session", key: str) -> str:
        """The stored key of a MARK entry, "" when the session may not mark it."""
        if key.startswith(c.PEER_PREFIX):
            peer = key[len(c.PEER_PREFIX):]
            return "" if name_problem(peer) else c.PEER_PREFIX + name_key(peer)
        if room_problem(key) is not None:
            return ""
        room = room_key(key)
        if room == self.default_room:
            return PUBLIC if session.in_default else ""
        return room if room in session.rooms else ""

    def _first_marks(self, session: "Session", heads: Mapping[str, int],
                     marks: dict[str, int] | None = None) -> dict[str, int]:
        """Rooms (stream key -> head) the reader has no mark in yet start read up to
        their head: what came before the user was there is history, not unread. The
        reader's marks (``marks``: already read), with those."""
        state = self.read_state
        if state is None or not heads:
            return {}
        try:
            held = state.marks(reader_of(session)) if marks is None else marks
            fresh = {key: head for key, head in heads.items() if key not in held}
            if fresh:
                state.mark(reader_of(session), fresh)
        except LinkDown:
            return {}
        return {**held, **fresh}

    # ---- what the broker says is unread ------------------------------------------------

    def _unread(self, session: "Session", heads: Mapping[str, int]) -> bytes | None:
        """UNREAD for a session that just joined or came back (None: nothing unread, or
        no read state), its rooms (stream key -> head) marked first where they have no
        mark yet: for each, the messages after its mark up to the head."""
        state = self.read_state
        if state is None:
            return None
        reader = reader_of(session)
        try:
            marks = self._first_marks(session, heads, state.marks(reader))
            talks = state.conversations(reader, c.MAX_DMS_LISTED)
        except LinkDown:
            return None
        named = mentions(session.name)
        items = []
        for stream, head in heads.items():
            read = marks.get(stream)
            if read is None or read >= head:
                continue
            events, more = self.store.page(stream, c.MAX_UNREAD_COUNTED, after=read,
                                           before=head + 1)
            said = [e for e in events if e.kind == c.MSG and name_key(e.name) != session.key]
            if said:
                items.append(Unread(self.default_room if stream == PUBLIC else stream, read,
                                    len(said), _named(said, named), more))
        for talk in talks:
            if talk.unread:
                key = c.PEER_PREFIX + talk.peer
                items.append(Unread(c.PEER_PREFIX + talk.name, marks.get(key, 0),
                                    min(talk.unread, c.MAX_UNREAD_COUNTED), 0,
                                    talk.unread > c.MAX_UNREAD_COUNTED, talk.last, talk.ts))
        return encode(UnreadList(tuple(items))) if items else None

    def _dms(self, session: "Session", _ask: ListDms, now: float) -> "list[Action]":
        state = self.read_state
        if state is None:
            return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                "this broker keeps no read state", "dms")
        reader = reader_of(session)
        try:
            marks = state.marks(reader)
            talks = state.conversations(reader, c.MAX_DMS_LISTED)
        except LinkDown:
            return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                "the cluster link is down: try again", "dms")
        items = tuple(Unread(c.PEER_PREFIX + t.name, marks.get(c.PEER_PREFIX + t.peer, 0),
                             min(t.unread, c.MAX_UNREAD_COUNTED), 0,
                             t.unread > c.MAX_UNREAD_COUNTED, t.last, t.ts) for t in talks)
        return self._paid(session, encode(DmList(items)), now)

    def _told(self, event: StoredEvent, sender: "Session", target: "Session | None") -> None:
        """``sender`` sent a private message (``target``: its target's session, when
        here). Alone, it is numbered now: both sides are recorded. In a cluster it is
        numbered at the cycle's commit, and only the sender's side is this broker's to
        record then (`_sent`); the target's is recorded where the message reaches it."""
        if self.read_state is None:
            return
        if self.backplane.shared:
            self._talks_due.append((event, sender))
        else:
            self._conversed(event, sender, target)

    def _sent(self) -> None:
        """In a cluster, after a commit: the private messages it numbered are the last of
        their senders' conversations (those it could not number, seq 0, are in none)."""
        due, self._talks_due = self._talks_due, []
        for event, sender in due:
            # (A session that has LEFT since has no read state any more: not made again.)
            if event.seq and (sender.user or self.roster.by_stream(sender.stream) is sender):
                self._conversed(event, sender, None)

    def _reached(self, event: StoredEvent, reader: str) -> None:
        """In a cluster: the private message ``event`` came to this broker for the private
        stream ``reader``. If that is its target's, and the target's session is here, it
        is one more unread of the target's conversation with its sender. (The sender's
        copy changes nothing: its side was recorded at its commit.)"""
        if (event.kind != c.PRIV or reader != event.to_key or reader == event.origin
                or self.read_state is None):
            return
        target = self.roster.by_stream(reader)
        if target is not None:
            self._conversed(event, None, target)

    def _conversed(self, event: StoredEvent, sender: "Session | None",
                   target: "Session | None") -> None:
        """A private message was stored: it is the last of its sender's conversation
        (``sender``: its session, when its side is recorded now) and of its target's, and
        one more unread for its target (``target``: its session, when here)."""
        state = self.read_state
        if state is None or not event.seq:
            return
        try:
            if sender is not None:
                state.converse(reader_of(sender), name_key(event.to), event.to, event.seq,
                               event.ts, False)
            if target is not None and target is not sender:
                state.converse(reader_of(target), name_key(event.name), event.name,
                               event.seq, event.ts, True)
        except LinkDown:
            pass

    # ---- rooms that follow a key ------------------------------------------------------

    def _follow(self, session: "Session", room: str, entered: bool) -> None:
        """A key-bound session entered or parted ``room`` (PARTED_DEFAULT: the default
        room, inverted): its key's rooms change with it."""
        if not session.user or self.room_state is None:
            return
        if entered:
            self.room_state.enter(KEY_PREFIX + session.user, room, room)
        else:
            self.room_state.part(KEY_PREFIX + session.user, room)

    def _followed_rooms(self, session: "Session") -> None:
        """A new session of a key-bound name whose token is in no room: it starts in
        the rooms its key was last in (and out of the default room if it parted it)."""
        state = self.room_state
        if not session.user or state is None:
            return
        if state.rooms_of(session.stream):
            return
        for key, shown in state.rooms_of(KEY_PREFIX + session.user).items():
            state.enter(session.stream, key, shown)  # (bounded when it was entered)


def _named(events: list[StoredEvent], named: "re.Pattern[str]") -> int:
    return sum(1 for event in events if named.search(event.text.casefold()))


def read_state_of(store: object) -> ReadState | None:
    """The store's read state, if it keeps one."""
    return store if isinstance(store, ReadState) else None
