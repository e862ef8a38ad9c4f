"""What the core's unit tests share: a fixed wall clock, pages that cost no time, and
the core's actions read back as (where, to, message) tuples."""

from zchat.broker.actions import (
    Ack,
    Broadcast,
    Opening,
    PresenceEvent,
    PrivateCopy,
    PublicEvent,
    Send,
)
from zchat.protocol import decode_broker

WALL = 1000.0


def no_work() -> float:
    """A work clock that never moves: pages cost no time (PAGES_SHARE has tests of its own)."""
    return 0.0


def decoded(actions) -> list[tuple]:
    """("send", identity, message) for a frame to one client (a reply, an ACK, a private
    copy); ("fanout", excluded identity or None, message) for one to every client; a
    message's ACK carried by its event, right after it."""
    out = []
    for action in actions:
        kind = type(action)
        if kind in (Send, Opening, Ack, PrivateCopy):
            out.append(("send", action.identity, decode_broker(action.frame)))
        elif kind is PublicEvent:
            out.append(("fanout", action.sender, decode_broker(action.frame)))
            if action.ack is not None:  # (the sender's ACK, in its message's place)
                out.append(("send", action.sender, decode_broker(action.ack)))
        elif kind is PresenceEvent:
            out.append(("fanout", action.subject, decode_broker(action.frame)))
        elif kind is Broadcast:
            out.append(("fanout", None, decode_broker(action.frame)))
        else:
            raise AssertionError(f"not an action: {action!r}")
    return out


def to_one(action) -> bool:
    """Whether ``action`` is a frame for one client."""
    return type(action) in (Send, Opening, Ack, PrivateCopy)
