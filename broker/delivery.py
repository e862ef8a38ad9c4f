"""Which actions show one numbered event to this broker's users, encoded once.

A public event is one action for everyone (its sender or joiner left out); a
private one is a copy for each of its two streams' sessions that is here; a
message's ACK goes with it, in its place in its sender's stream (batcher.py
keeps that order). Used by the core for what happens here and by the cluster
side (clustered.py) for what the shared log brings back.
"""

from zchat.protocol import constants as c
from zchat.protocol import encode, encode_ack, encode_msg

from .actions import Ack, Action, PresenceEvent, PrivateCopy, PublicEvent, RoomCopy, RoomEvent
from .roster import Roster
from .store import PUBLIC, StoredEvent


class Delivery:
    """The actions that show events to the sessions of one roster."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        #: ``--fanout pub``: a room's events go once on the feed, under its topic...
        self.feed = False
        #: ... and each room's last event that went there (rooms.py's room pings).
        self.fed: dict[str, int] = {}

    def show(self, event: StoredEvent, exclude: bytes | None,
             ack_to: bytes | None) -> list[Action]:
        """Deliver ``event`` here and acknowledge it to ``ack_to``. A message carries
        its sender's ACK: it takes that message's place in the sender's stream."""
        if event.room:
            if ack_to is not None and not self.feed:  # (the ACK in its message's place)
                return self.room(event, exclude, ack_to, ack_frame(event))
            actions = self.room(event, exclude)
            if ack_to is not None:
                actions.append(ack(ack_to, event))
            return actions
        if event.kind == c.MSG and ack_to is not None and ack_to == exclude:
            return [self.public_msg(event, exclude, ack_frame(event))]
        actions = self.deliver(event, exclude)
        if ack_to is not None:
            actions.append(ack(ack_to, event))
        return actions

    def deliver(self, event: StoredEvent, exclude: bytes | None) -> list[Action]:
        """Actions that show ``event`` to this broker's users but ``exclude``."""
        if event.room:
            return self.room(event, exclude)
        if event.kind == c.MSG:
            return [self.public_msg(event, exclude)]
        if event.kind != c.PRIV:
            return [PresenceEvent(encode(event.for_reader(PUBLIC)), exclude)]
        actions = self.private(event, event.to_key)
        if event.origin != event.to_key:  # the sender's copy, on its own private stream
            actions += self.private(event, event.origin)
        return actions

    def private(self, event: StoredEvent, reader: str) -> list[Action]:
        """The copy of a PRIV for the private stream ``reader``, if its session is here."""
        session = self.roster.by_stream(reader)
        if session is None:
            return []  # gone, or moved to another broker: it fetches this from history
        return [PrivateCopy(session.identity, encode(event.for_reader(reader)))]

    def room(self, event: StoredEvent, exclude: bytes | None, ack_to: bytes | None = None,
             ack_frame: bytes | None = None) -> list[Action]:
        """An event of a room other than the default one: a copy for each member here
        but ``exclude``, the same bytes for all (on a feed: once, for every member);
        ``ack_frame`` (not on a feed): ``ack_to``'s ACK, carried in the event's place."""
        members = self.roster.members(event.room)
        if not members and ack_frame is None:
            return []
        if event.kind == c.MSG:
            frame = encode_msg(event.name, event.text, event.ts, event.seq, event.prev,
                               event.room)
        else:
            frame = encode(event.for_reader(event.room))
        if self.feed:
            self.fed[event.room] = event.seq
            return [RoomEvent(event.room, frame)]
        others = tuple(m.identity for m in members if m.identity != exclude)
        if ack_frame is not None:
            return [RoomCopy(others, frame, event.room, ack_to, ack_frame)]
        return [RoomCopy(others, frame, event.room)] if others else []

    @staticmethod
    def public_msg(event: StoredEvent, exclude: bytes | None,
                   ack_frame: bytes | None = None) -> PublicEvent:
        """A MSG for everyone but ``exclude`` (the hot path: formatted, not encoded)."""
        frame = encode_msg(event.name, event.text, event.ts, event.seq, event.prev)
        return PublicEvent(frame, exclude, ack_frame)


def ack(identity: bytes, event: StoredEvent) -> Ack:
    """The ACK of a stored SAY or TELL: ``prev`` is a MSG's place in the public stream."""
    return Ack(identity, ack_frame(event))


def ack_frame(event: StoredEvent) -> bytes:
    """The frame of `ack` (a message's own: it takes the message's place)."""
    return encode_ack(event.cid, event.seq, event.prev if event.kind == c.MSG else 0,
                      event.room)
