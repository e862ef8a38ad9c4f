"""When and in what order the core's actions go out: a policy, sans I/O.

The public events of one cycle (MSG, JOINED, LEFT) go out together, as one
EVENTS ``live`` frame per client instead of one frame per event per client: a
cycle's k messages to N clients cost N sends, not k*N. Joins and leaves alone
wait up to `window` seconds for others (a room of M joining at once costs
about M*M/batch sends, not M*M); a message sends the batch at the end of the
cycle. A batch closes before it would pass `most_bytes` or MAX_FETCH events.

A room other than the default one is batched more simply: its events that
come one after the other in the core's actions, with nothing else between
them, go out as one live frame per member (`_end_run`): a room's fast talker
costs its M members M frames per cycle, not one per message each, and since a
run is only ever of adjacent actions, every client's frames keep the core's
order exactly.

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
from zchat.protocol import encode_acks, encode_live_items, live_item, room_topic

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
                 feed: bool = False, outside: set[bytes] | None = None,
                 batched_acks: set[bytes] | None = None) -> None:
        """``most_bytes``: a batch's bytes of events; ``feed``: public events go on a
        feed (every subscriber gets every event, its own too); ``outside``: the clients
        not in the default room, who get none of its events; ``batched_acks``: the
        clients that take ACKS, consecutive ACKs in one frame (the roster keeps both)."""
        self.outside = outside if outside is not None else set()
        self.batched_acks = batched_acks if batched_acks is not None else set()
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
        #: A room's consecutive events (see `_end_run`), and in pub mode the ACKs of
        #: those on the feed, which go on their senders' connections after it.
        self._run: list[RoomCopy | RoomEvent] = []
        self._run_acks: list[To] = []
        self._run_bytes = 0

    def __bool__(self) -> bool:
        return bool(self._events)

    def next_deadline(self) -> float:
        """When `due` has something to send (inf: nothing waits)."""
        return self._due if self._events else float("inf")

    def add(self, actions: Iterable[Action], now: float) -> list[Out]:
        """What to send now for ``actions`` (in the order the core made them)."""
        out: list[Out] = []
        #: Consecutive ACK actions to one client that takes ACKS: they go as one frame
        #: (a cluster's sender alone on its broker gets its ACKs as such actions).
        acks_to: bytes | None = None
        acks: list[bytes] = []
        for action in actions:
            kind = type(action)
            if kind is Ack and action.identity in self.batched_acks and (  # type: ignore[union-attr]
                    not self._run or type(self._run[0]) is not RoomEvent):
                if acks and acks_to != action.identity:  # type: ignore[union-attr]
                    for to in _acks(acks_to, acks):  # type: ignore[arg-type]
                        self._direct(to, out)
                    acks = []
                if self._run:
                    self._end_run(out)
                acks_to = action.identity  # type: ignore[union-attr]
                acks.append(action.frame)  # type: ignore[union-attr]
                continue
            if acks:
                for to in _acks(acks_to, acks):  # type: ignore[arg-type]
                    self._direct(to, out)
                acks = []
            if kind is RoomCopy or (kind is RoomEvent and action.event):  # type: ignore[union-attr]
                self._extend_run(action, out)  # type: ignore[arg-type]
                continue
            if self._run:
                if kind is Ack and type(self._run[0]) is RoomEvent:
                    self._run_acks.append(To(action.identity, action.frame))  # type: ignore[union-attr]
                    continue
                self._end_run(out)  # anything else ends a room's run: the order holds
            if kind is Opening:
                out.append(To(action.identity, action.frame))  # type: ignore[union-attr]
            elif kind in _DIRECT:
                self._direct(To(action.identity, action.frame), out)  # type: ignore[union-attr]
            elif kind in _EVENTS:
                self._queue(action, now, out)  # type: ignore[arg-type]
            elif kind is Broadcast:
                self._close(out)
                out.append(ToAll(action.frame, {}))  # type: ignore[union-attr]
            elif kind is RoomEvent:  # (a room's PING: alone, on the feed)
                out.append(OnFeed(action.frame, room_topic(action.room)))  # type: ignore[union-attr]
            elif kind is StopFeed:
                out.append(action)  # type: ignore[arg-type]
            else:
                raise TypeError(f"not an action: {action!r}")
        if acks:
            for to in _acks(acks_to, acks):  # type: ignore[arg-type]
                self._direct(to, out)
        if self._run:
            self._end_run(out)
        if self._urgent:
            self._close(out)
        return out

    def _extend_run(self, event: RoomCopy | RoomEvent, out: list[Out]) -> None:
        """One more event of a room: with the run of its room's events just before it,
        unless the run is of another room or full (as a batch: `most_bytes`, MAX_FETCH)."""
        run = self._run
        if run and (type(run[0]) is not type(event) or run[0].room != event.room
                    or len(run) == c.MAX_FETCH
                    or self._run_bytes + len(event.frame) > self.most_bytes):
            self._end_run(out)
        self._run.append(event)
        self._run_bytes += len(event.frame)

    def _end_run(self, out: list[Out]) -> None:
        """A room's consecutive events, as one live batch per member: k messages to a
        room of M members cost M frames, not k*M, and the order of every client's
        frames is the core's (a run is only ever of events with nothing between them).
        Each member gets the events addressed to it; a sender gets, in place of its
        own message, its ACK (as the default room's batch does, `_batch`). On the feed,
        one batch under the room's topic, then the ACKs on the senders' connections."""
        run, acks = self._run, self._run_acks
        self._run, self._run_acks, self._run_bytes = [], [], 0
        if type(run[0]) is RoomEvent:
            out.append(OnFeed(_live([e.frame for e in run]), room_topic(run[0].room)))
            for to in self._grouped(acks):
                self._direct(to, out)
            return
        for each in _room_outs(run, self.batched_acks):  # type: ignore[arg-type]
            self._direct(each, out)

    def _grouped(self, acks: list[To]) -> list[To]:
        """ACKs, each sender's in one ACKS frame when its client takes them (each client's
        in their order; different clients' frames are independent of one another)."""
        if len(acks) < 2:
            return acks
        by_client: dict[bytes, list[bytes]] = {}
        for to in acks:
            by_client.setdefault(to.identity, []).append(to.frame)
        grouped: list[To] = []
        for identity, frames in by_client.items():
            if identity in self.batched_acks:
                grouped += _acks(identity, frames)
            else:
                grouped.extend(To(identity, frame) for frame in frames)
        return grouped

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
        if self.feed:
            items = [live_item(event.frame) for event in events]
            out.append(OnFeed(events[0].frame if len(events) == 1 else encode_live_items(items)))
            out.extend(self._grouped(_acks_of(events)))
            return
        if len(events) == 1:
            event = events[0]
            skip = event.sender if isinstance(event, PublicEvent) else event.subject
            instead: dict[bytes, bytes | None] = dict.fromkeys(self.outside)
            if skip is not None:
                instead[skip] = None
            out.append(ToAll(event.frame, instead))
            out.extend(_acks_of(events))
            return
        items = [live_item(event.frame) for event in events]
        owner = [event.sender if type(event) is PublicEvent else None for event in events]
        senders = {o for o in owner if o is not None}
        out.append(ToAll(encode_live_items(items), dict.fromkeys(self.outside | senders)))
        for sender in senders:
            batched = sender in self.batched_acks
            segment: list[bytes] = []
            acked: list[bytes] = []  # (consecutive ACKs, for a client that takes ACKS)
            for event, item, o in zip(events, items, owner, strict=True):
                if o != sender:
                    if acked:
                        out += _acks(sender, acked)
                        acked = []
                    segment.append(item)
                    continue
                if segment:
                    out.append(To(sender, encode_live_items(segment)))
                    segment = []
                if type(event) is PublicEvent and event.ack is not None:
                    if batched:
                        acked.append(event.ack)
                    else:
                        out.append(To(sender, event.ack))
            if acked:
                out += _acks(sender, acked)
            if segment:
                out.append(To(sender, encode_live_items(segment)))


def _acks_of(events: list[PublicEvent | PresenceEvent]) -> list[To]:
    """The ACKs the senders of ``events`` are owed, one To each, in order."""
    return [To(e.sender, e.ack) for e in events
            if type(e) is PublicEvent and e.sender is not None and e.ack is not None]


def _acks(identity: bytes, frames: list[bytes]) -> list[To]:
    """ACK frames for one client that takes ACKS, as ACKS frames of at most MAX_ACKS."""
    return [To(identity, encode_acks(frames[i:i + c.MAX_ACKS]))
            for i in range(0, len(frames), c.MAX_ACKS)]


def _live(frames: list[bytes]) -> bytes:
    """One event as it is, or several as one EVENTS ``live`` frame."""
    return frames[0] if len(frames) == 1 else encode_live_items([live_item(f) for f in frames])


def _room_outs(run: list[RoomCopy], batched_acks: set[bytes]) -> list[To | ToSome]:
    """What each member gets of a room's run: the members that every event is for and
    that sent none of them, one frame in one loop; each other member its own events, and
    a sender its ACKs in its messages' places (consecutive ones in one ACKS frame when
    its client takes them: ``batched_acks``)."""
    if len(run) == 1:
        copy = run[0]
        single: list[To | ToSome] = [ToSome(copy.identities, copy.frame)] \
            if copy.identities else []
        if copy.ack is not None and copy.sender is not None:
            single.append(To(copy.sender, copy.ack))
        return single
    everyone = dict.fromkeys(i for copy in run for i in copy.identities)
    senders = {copy.sender for copy in run if copy.ack is not None}
    common = set(run[0].identities).intersection(*(copy.identities for copy in run[1:]))
    plain = tuple(i for i in everyone if i in common and i not in senders)
    outs: list[To | ToSome] = [ToSome(plain, _live([copy.frame for copy in run]))] \
        if plain else []
    for identity in [i for i in everyone if i not in plain] + [
            s for s in senders if s is not None and s not in everyone]:
        batched = identity in batched_acks
        segment: list[bytes] = []
        acked: list[bytes] = []
        for copy in run:
            if copy.sender == identity and copy.ack is not None:
                if segment:
                    outs.append(To(identity, _live(segment)))
                    segment = []
                if batched:
                    acked.append(copy.ack)
                else:
                    outs.append(To(identity, copy.ack))
            elif identity in copy.identities:
                if acked:
                    outs += _acks(identity, acked)
                    acked = []
                segment.append(copy.frame)
        if acked:
            outs += _acks(identity, acked)
        if segment:
            outs.append(To(identity, _live(segment)))
    return outs
