"""What the core's unit tests share: a core on a fixed wall clock whose pages cost no
time, and its actions read back as (where, to, message) tuples."""

from zchat.broker.actions import (
    Ack,
    Broadcast,
    Opening,
    PresenceEvent,
    PrivateCopy,
    PublicEvent,
    RoomCopy,
    RoomEvent,
    Send,
    StopFeed,
)
from zchat.broker.core import BrokerCore
from zchat.protocol import Message, decode_broker, encode

WALL = 1000.0


def no_work() -> float:
    """A work clock that never moves: pages cost no time (PAGES_SHARE has tests of its own)."""
    return 0.0


def make_core(**kwargs) -> BrokerCore:
    """A core with a one-second heartbeat, the fixed wall clock and pages that cost no time."""
    return BrokerCore(heartbeat=1.0, wall_clock=lambda: WALL, work_clock=no_work, **kwargs)


def handled(core: BrokerCore, identity: bytes, msg: Message, now: float = 0.0, peer: str = "",
            user: str = "") -> list[tuple]:
    """What ``core`` does with ``msg`` from ``identity``, decoded (see ``decoded``)."""
    return decoded(core.handle(identity, [encode(msg)], now, peer, user))


def decoded(actions) -> list[tuple]:
    """("send", identity, message) for a frame to one client (a reply, an ACK, a private
    copy); ("fanout", excluded identity or None, message) for one to every client; a
    message's ACK carried by its event, right after it; ("feed", room, message) for a
    room's event on the feed, ("stopfeed", identity, topic) for a parted room's topic."""
    out = []
    for action in actions:
        kind = type(action)
        if kind in (Send, Opening, Ack, PrivateCopy):
            out.append(("send", action.identity, decode_broker(action.frame)))
        elif kind is RoomCopy:  # (one for all a room's members: one tuple each)
            out += [("send", identity, decode_broker(action.frame))
                    for identity in action.identities]
            if action.ack is not None:  # (the sender's ACK, in its message's place)
                out.append(("send", action.sender, decode_broker(action.ack)))
        elif kind is PublicEvent:
            out.append(("fanout", action.sender, decode_broker(action.frame)))
            if action.ack is not None:  # (the sender's ACK, in its message's place)
                out.append(("send", action.sender, decode_broker(action.ack)))
        elif kind is PresenceEvent:
            out.append(("fanout", action.subject, decode_broker(action.frame)))
        elif kind is Broadcast:
            out.append(("fanout", None, decode_broker(action.frame)))
        elif kind is RoomEvent:
            out.append(("feed", action.room, decode_broker(action.frame)))
        elif kind is StopFeed:
            out.append(("stopfeed", action.identity, action.topic))
        else:
            raise AssertionError(f"not an action: {action!r}")
    return out


def to_one(action) -> bool:
    """Whether ``action`` is a frame for one client."""
    return type(action) in (Send, Opening, Ack, PrivateCopy)
