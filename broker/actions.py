"""What the core asks the server to send: each kind of frame a type of its own.

The core decides what goes to whom; the batcher (batcher.py) decides when, and
in what order, from these types alone: no one outside ``protocol/`` reads a
frame's bytes to learn what it is. Tuples, because one is made for every
message and they must be cheap.
"""

from typing import NamedTuple


class Send(NamedTuple):
    """A frame to one client: a reply (ERROR, USERS, a FETCH page, BYE) or its PING."""

    identity: bytes
    frame: bytes


class Opening(NamedTuple):
    """A session's first frames: its WELCOME and its history. They count every event
    numbered so far (the WELCOME's heads), so they need not wait for events still on
    their way: the client drops those as duplicates."""

    identity: bytes
    frame: bytes


class Ack(NamedTuple):
    """ACK of a client's SAY or TELL, to its sender."""

    identity: bytes
    frame: bytes


class PrivateCopy(NamedTuple):
    """One reader's copy of a PRIV (its target's, or its sender's own)."""

    identity: bytes
    frame: bytes


class RoomCopy(NamedTuple):
    """An event of ``room`` (not the default one), for its members here
    (``identities``): the same bytes for every one, encoded once and sent in one loop.
    ``ack``: its sender's ACK, which takes the message's place in ``sender``'s stream
    (a room's consecutive events go out as one live batch: batcher.py)."""

    identities: tuple[bytes, ...]
    frame: bytes
    room: str = ""
    sender: bytes | None = None
    ack: bytes | None = None


class RoomEvent(NamedTuple):
    """An event of a room other than the default one, once for all its members: on
    the feed (``--fanout pub``) under the room's topic, which only members are given."""

    room: str
    frame: bytes
    #: False for what is not an event of the room (its PING): it goes alone.
    event: bool = True


class StopFeed(NamedTuple):
    """``identity`` no longer reads ``topic`` on the feed (it parted that room): if its
    subscriber still has it, the feed connection is closed (the client's SUB comes
    back with the topics it may read)."""

    identity: bytes
    topic: bytes


class PublicEvent(NamedTuple):
    """A MSG of the public stream, to every joined client but ``sender`` (None: a
    message from another broker of the cluster, for everyone). ``ack``: the sender's
    ACK, which takes the message's place in the sender's stream."""

    frame: bytes
    sender: bytes | None = None
    ack: bytes | None = None


class PresenceEvent(NamedTuple):
    """A JOINED or LEFT of the public stream, to every joined client but ``subject``
    (the joiner, if it is here; a client skips its own anyway)."""

    frame: bytes
    subject: bytes | None = None


class Broadcast(NamedTuple):
    """The same frame to every joined client, outside the public stream (the interval's
    PING, a NOTICE, BYE at shutdown): on the ROUTER whatever the fan-out mode."""

    frame: bytes


#: A frame for one client.
Direct = Send | Opening | Ack | PrivateCopy
Action = (Send | Opening | Ack | PrivateCopy | RoomCopy | RoomEvent | StopFeed | PublicEvent
          | PresenceEvent | Broadcast)
