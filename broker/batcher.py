"""When and in what order the core's actions go out: a policy, sans I/O.

The public events of one cycle (MSG, JOINED, LEFT) go out together, as one
EVENTS ``live`` frame per client instead of one frame per event per client: a
cycle's k messages to N clients cost N sends, not k*N. Joins and leaves alone
wait up to `window` seconds for others (a room of M joining at once costs
about M*M/batch sends, not M*M); a message sends the batch at the end of the
cycle. A batch closes before it would pass `most_bytes` or MAX_FETCH events.

The ordering rule: **no frame to a client overtakes an earlier event of a
stream it reads.** A frame for one client (an ACK, a private copy, a room's
event, a reply)
caused after an event still waiting in the batch waits behind it and goes out
right after the batch (at the end of this cycle's actions); if the batch is
only joins and leaves waiting for company, the batch goes at once instead, so
a reply never waits for the window. A broadcast outside the public stream
(PING, NOTICE, BYE) sends the batch first. So each client gets its frames in
the order the core produced them, and a sender's ACK (which names its
message's place in the public stream) never arrives before the events its
message follows. A session's opening frames (its WELCOME and history) go at
once: the client reads no stream before them, and their heads count every
event still waiting (it drops those as duplicates when they come).

The batcher returns what to send (`To`, `ToAll`, `OnFeed`, and a room's `StopFeed`,
as it came); the server sends
it. It reads no clock: the caller gives the time.
"""

from collections.abc import Iterable
from typing import NamedTuple

from zchat.protocol import constants as c
from zchat.protocol import encode_live_items, live_item, room_topic

from .actions import (
    Ack,
    Action,
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

#: Joins and leaves wait at most this long (seconds) to go out with others.
PRESENCE_WINDOW = 0.05


class To(NamedTuple):
    """Send ``frame`` to one client."""

    identity: bytes
    frame: bytes


class ToAll(NamedTuple):
    """Send ``frame`` to every joined client; those in ``instead`` get the frame
    mapped to them (None: nothing)."""

    frame: bytes
    instead: dict[bytes, bytes | None]


class ToSome(NamedTuple):
    """Send ``frame`` to each of ``identities`` (a room's members here)."""

    identities: tuple[bytes, ...]
    frame: bytes


class OnFeed(NamedTuple):
    """Publish ``frame`` once on the feed (``--fanout pub``): every subscriber of the
    default room gets it, or, after ``topic`` (a room's), every subscriber of that room."""

    frame: bytes
    topic: bytes = b""


Out = To | ToSome | ToAll | OnFeed | StopFeed

_DIRECT = (Send, Ack, PrivateCopy)
_EVENTS = (PublicEvent, PresenceEvent)


class Batcher:
    """Holds a cycle's public events, and the frames queued behind them."""

    def __init__(self, most_bytes: int, window: float = PRESENCE_WINDOW,
                 feed: bool = False, outside: set[bytes] | None = None) -> None:
        """``most_bytes``: a batch's bytes of events; ``feed``: public events go on a
        feed (every subscriber gets every event, its own too); ``outside``: the clients
        not in the default room, who get none of its events (the roster keeps it)."""
        self.outside = outside if outside is not None else set()
        self.most_bytes = most_bytes
        self.window = window
        self.feed = feed
        self._events: list[PublicEvent | PresenceEvent] = []
        self._bytes = 0
        #: A message is waiting: the batch goes at the end of this call to `add`.
        self._urgent = False
        #: When joins and leaves waiting alone must go.
        self._due = float("inf")
        #: Frames for one client, caused after a waiting event: they go right after it.
        self._held: list[To | ToSome] = []

    def __bool__(self) -> bool:
        return bool(self._events)

    def next_deadline(self) -> float:
        """When `due` has something to send (inf: nothing waits)."""
        return self._due if self._events else float("inf")

    def add(self, actions: Iterable[Action], now: float) -> list[Out]:
        """What to send now for ``actions`` (in the order the core made them)."""
        out: list[Out] = []
        for action in actions:
            kind = type(action)
            if kind is Opening:
                out.append(To(action.identity, action.frame))  # type: ignore[union-attr]
            elif kind in _DIRECT:
                self._direct(To(action.identity, action.frame), out)  # type: ignore[union-attr]
            elif kind in _EVENTS:
                self._queue(action, now, out)  # type: ignore[arg-type]
            elif kind is Broadcast:
                self._close(out)
                out.append(ToAll(action.frame, {}))  # type: ignore[union-attr]
            elif kind is RoomCopy:  # (as a frame for one client, for each member)
                self._direct(ToSome(action.identities, action.frame), out)  # type: ignore[union-attr]
            elif kind is RoomEvent:  # (its own stream, on the feed: it waits for no batch)
                out.append(OnFeed(action.frame, room_topic(action.room)))  # type: ignore[union-attr]
            elif kind is StopFeed:
                out.append(action)  # type: ignore[arg-type]
            else:
                raise TypeError(f"not an action: {action!r}")
        if self._urgent:
            self._close(out)
        return out

    def _direct(self, to: To | ToSome, out: list[Out]) -> None:
        """A frame for one client (or each of some): at once, or behind a waiting batch."""
        if not self._events:
            out.append(to)
        elif self._urgent:
            self._held.append(to)  # behind the batch, at the end of this call
        else:
            self._close(out)  # joins and leaves only: they need not wait for it
            out.append(to)

    def due(self, now: float) -> list[Out]:
        """The joins and leaves whose window has passed."""
        out: list[Out] = []
        if self._events and now >= self._due:
            self._close(out)
        return out

    def _queue(self, event: PublicEvent | PresenceEvent, now: float, out: list[Out]) -> None:
        if self._events and self._bytes + len(event.frame) > self.most_bytes:
            self._close(out)
        if not self._events:
            self._due = now + self.window
        self._events.append(event)
        self._bytes += len(event.frame)
        if type(event) is PublicEvent:
            self._urgent = True
        if len(self._events) == c.MAX_FETCH:  # an EVENTS frame holds at most this many
            self._close(out)

    def _close(self, out: list[Out]) -> None:
        """The waiting events as one frame per client, then what waited behind them."""
        events, held = self._events, self._held
        self._events, self._held = [], []
        self._bytes, self._urgent, self._due = 0, False, float("inf")
        if events:
            self._batch(events, out)
        out.extend(held)

    def _batch(self, events: list[PublicEvent | PresenceEvent], out: list[Out]) -> None:
        """Everyone gets the batch as one frame; a sender gets, instead, the batch cut at
        its own messages, each replaced by its ACK: it shows its own text already, and
        its stream still arrives in order. (A joiner does get its own JOINED in a batch
        of several: clients skip their own.) With a feed everyone, sender included, gets
        the batch on the feed, and the ACKs go on each sender's connection."""
        acks = [To(e.sender, e.ack) for e in events
                if type(e) is PublicEvent and e.sender is not None and e.ack is not None]
        if self.feed:
            items = [live_item(event.frame) for event in events]
            out.append(OnFeed(events[0].frame if len(events) == 1 else encode_live_items(items)))
            out.extend(acks)
            return
        if len(events) == 1:
            event = events[0]
            skip = event.sender if isinstance(event, PublicEvent) else event.subject
            instead: dict[bytes, bytes | None] = dict.fromkeys(self.outside)
            if skip is not None:
                instead[skip] = None
            out.append(ToAll(event.frame, instead))
            out.extend(acks)
            return
        items = [live_item(event.frame) for event in events]
        owner = [event.sender if type(event) is PublicEvent else None for event in events]
        senders = {o for o in owner if o is not None}
        out.append(ToAll(encode_live_items(items), dict.fromkeys(self.outside | senders)))
        for sender in senders:
            segment: list[bytes] = []
            for event, item, o in zip(events, items, owner, strict=True):
                if o != sender:
                    segment.append(item)
                    continue
                if segment:
                    out.append(To(sender, encode_live_items(segment)))
                    segment = []
                if type(event) is PublicEvent and event.ack is not None:
                    out.append(To(sender, event.ack))
            if segment:
                out.append(To(sender, encode_live_items(segment)))
