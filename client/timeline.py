"""What this client has shown, as one cursor per stream, and how it closes gaps. Pure.

Every event the broker sends carries its sequence number and `prev`, the
previous event of the reader's stream: the public stream (the default room's
messages, joins, leaves), this user's private stream, or one of the other
rooms the session is in (docs/ROOMS.md), each a stream of its own. A client
shows an event when its `prev` is the cursor of its stream; otherwise it has
missed something, so it holds live events back, FETCHes from its cursors and
shows the replay (marked as missed) before them. Duplicates (seq at or below
the cursor) are dropped, so every event is shown exactly once and in order.

A stream is named by its room's key: "" for the public stream (the default
room, whose events carry no room), PRIV for the private one.
"""

from dataclasses import dataclass, field

from zchat.protocol import (
    Event,
    Events,
    Fetch,
    Joined,
    Left,
    Msg,
    Priv,
    Welcome,
    name_key,
    room_key,
)

from .rooms import default_room

MISSED = "missed"
HISTORY = "history"
#: The private stream's name among the streams (no room key is empty or lacks "#").
PRIV = "@"
PUBLIC = ""


def stream_of(event: Event) -> str:
    """The stream ``event`` belongs to: PRIV, PUBLIC or a room's key."""
    if isinstance(event, Priv):
        return PRIV
    return room_key(event.room) if event.room else PUBLIC


@dataclass(slots=True)
class Shown:
    """An event to display, with ``tag`` "" (live), MISSED or HISTORY."""

    event: Event
    tag: str = ""


@dataclass(slots=True)
class Step:
    """What one input led to: lines to show, a FETCH to send, events lost for good."""

    shown: list[Shown] = field(default_factory=list)
    fetch: Fetch | None = None
    lost: int = 0
    reset: bool = False


class Timeline:
    def __init__(self, name: str) -> None:
        self.me = name_key(name)
        self.pub: int | None = None
        self.priv: int | None = None
        #: The cursors of the rooms other than the default one the session is in, by key.
        self.rooms: dict[str, int] = {}
        #: Whether we are in the default room (the public stream): after a PART of it, its
        #: events and heads are not ours to follow until we ENTER it again.
        self.public_on = True
        self._default = ""
        self.epoch = ""
        self.catching_up = False
        self._held: list[Event] = []
        self._away_until: dict[str, int] = {}
        #: (our private cursor, WELCOME's private head) when the broker no longer held our
        #: private stream: the cursor restarts at that head once the catch-up is done.
        self._restart: tuple[int, int] | None = None

    @property
    def joined_before(self) -> bool:
        return self.pub is not None

    def cursor(self, stream: str) -> int | None:
        if stream == PRIV:
            return self.priv
        if stream == PUBLIC:
            return self.pub if self.public_on else None
        return self.rooms.get(stream)

    def _set(self, stream: str, seq: int) -> None:
        if stream == PRIV:
            self.priv = seq
        elif stream == PUBLIC:
            self.pub = seq
        else:
            self.rooms[stream] = seq

    def _cursors(self) -> Fetch:
        assert self.pub is not None and self.priv is not None
        return Fetch(self.pub, self.priv, rooms=tuple(sorted(self.rooms.items())))

    def _fetch(self) -> Fetch:
        self.catching_up = True
        return self._cursors()

    @staticmethod
    def _room_heads(w: Welcome) -> dict[str, int]:
        """WELCOME's rooms but the default one (whose head is ``pub``), by key."""
        default = room_key(default_room(w.room)) if w.room else None
        return {key: head for key, head in ((room_key(r), h) for r, h in w.rooms)
                if key != default}

    def welcome(self, w: Welcome) -> Step:
        """Adopt the broker's heads, or catch up to them. Not its name: we are who we
        asked to be (a resume may change only the spelling, which compares the same)."""
        heads = self._room_heads(w)
        if w.room:  # a broker with rooms lists every room we are in, the default one too
            self._default = room_key(default_room(w.room))
            self.public_on = any(room_key(r) == self._default for r, _ in w.rooms)
        # Events up to these heads happened while we were away: a replay shows them
        # as missed. Later ones are live events that came late (a slow feed, a full
        # queue) and are shown as live.
        self._away_until = {PUBLIC: w.pub, PRIV: w.priv, **heads}
        if self.pub is None or self.priv is None or w.epoch != self.epoch or w.pub < self.pub:
            reset = self.pub is not None  # history we knew is gone: say so
            self.pub, self.priv, self.epoch = w.pub, w.priv, w.epoch
            self.rooms = dict(heads)
            self.catching_up = False
            self._restart = None
            step = Step(reset=reset)
            held, self._held = sorted(self._held, key=lambda e: e.seq), []
            if not reset:  # a first WELCOME: events that came before it can be placed now
                for event in held:
                    self._take(event, step)
            return step
        # The rooms we are still in (a PART that went through while we were away, or a
        # session that lost its rooms, drops ours); one we entered meanwhile starts at
        # its head, and one whose head went back (emptied, made again) too.
        behind = False
        rooms: dict[str, int] = {}
        for key, head in heads.items():
            cursor = self.rooms.get(key)
            if cursor is None or head < cursor:
                rooms[key] = head
            else:
                rooms[key] = cursor
                behind = behind or head > cursor
        self.rooms = rooms
        self._held = [e for e in self._held if self.cursor(stream_of(e)) is not None]
        if w.priv < self.priv:
            # The same history, but our private stream's head is gone: the broker pruned it
            # with all its events while we were away (or gave us a fresh session). Not a
            # reset: the public events we missed may still be held. Catch up from our
            # cursors (the replay's `lost` says what may be gone after ours), then restart
            # the private cursor where the stream's next event will link.
            self._restart = (self.priv, w.priv)
            return Step(fetch=self._fetch())
        if w.pub > self.pub or w.priv > self.priv or behind:
            return Step(fetch=self._fetch())
        return Step()

    def entered(self, room: str, head: int) -> Step:
        """We are in ``room`` (ENTERED), whose head, counting our own JOINED, is ``head``.
        Entered again (already a member), a head past our cursor means we missed some."""
        key = room_key(room)
        if key == self._default:
            if not self.public_on:  # back in the default room: follow it from its head
                self.public_on, self.pub = True, head
            return Step()
        cursor = self.rooms.get(key)
        if cursor is None:
            self.rooms[key] = head
            return Step()
        if head > cursor and not self.catching_up:
            return Step(fetch=self._fetch())
        return Step()

    def parted(self, room: str) -> None:
        """We are no longer in ``room``: its events still on their way are not shown."""
        key = room_key(room)
        if key == self._default:
            self.public_on = False
            self._held = [e for e in self._held if stream_of(e) != PUBLIC]
            return
        self.rooms.pop(key, None)
        self._away_until.pop(key, None)
        self._held = [e for e in self._held if stream_of(e) != key]

    def live(self, event: Event) -> Step:
        """An event as it happens."""
        step = Step()
        self._take(event, step)
        return step

    def _take(self, event: Event, step: Step) -> None:
        stream = stream_of(event)
        cursor = self.cursor(stream)
        if event.seq == 0:  # unnumbered (a cluster outage): shown, never held or counted
            if not self._own(event):  # (on a feed our own come back: we echoed them)
                step.shown.append(Shown(event))
            return
        if self.pub is None or self.catching_up:
            self._held.append(event)  # placed after WELCOME, or after the catch-up
            return
        if cursor is None:
            return  # a room we are not in (parted, its events still on their way)
        if event.seq <= cursor:
            return  # already shown
        if event.prev == cursor:
            # On a feed (--fanout pub) our own public events come back: step over them.
            if not self._own(event):
                step.shown.append(Shown(event))
            self._set(stream, event.seq)
            return
        self._held.append(event)
        step.fetch = self._fetch()

    def replay(self, batch: Events) -> Step:
        """A page of missed events answering our FETCH."""
        step = Step(lost=batch.lost)  # a stream's loss shows on the page holding its first event
        for event in sorted(batch.events, key=lambda e: e.seq):
            stream = stream_of(event)
            cursor = self.cursor(stream)
            if cursor is None and (stream != PRIV and (stream != PUBLIC or not self.public_on)):
                continue  # a room we have left since we asked
            if cursor is not None and event.seq <= cursor:
                continue
            if not self._own(event):  # our own messages and joins are not shown back to us
                away = self._away_until.get(stream, 0)
                step.shown.append(Shown(event, MISSED if event.seq <= away else ""))
            self._set(stream, event.seq)
        if batch.more and batch.events:
            step.fetch = Fetch(self.pub or 0, self.priv or 0,
                               rooms=tuple(sorted(self.rooms.items())))
            return step
        self.catching_up = False
        if self._restart is not None:
            cursor, head = self._restart
            self._restart = None
            if self.priv == cursor:  # (a private event in the replay began the new chain)
                self.priv = head
        held, self._held = sorted(self._held, key=lambda e: e.seq), []
        for event in held:
            self._take(event, step)
        return step

    def _own(self, event: Event) -> bool:
        if isinstance(event, Msg):
            return name_key(event.sender) == self.me
        if isinstance(event, Joined | Left):
            return name_key(event.name) == self.me
        return False

    def refetch(self) -> Fetch:
        """Ask again from the cursors, when a FETCH went unanswered."""
        return self._cursors()

    def own_public(self, seq: int, prev: int, room: str = "") -> None:
        """Our message to ``room`` ("": the default room) was stored as ``seq``: we are
        not sent it, so step over it."""
        stream = room_key(room) if room else PUBLIC
        if not self.catching_up and self.cursor(stream) == prev:
            self._set(stream, seq)

    def heads(self, pub: int | None, priv: int | None,
              rooms: tuple[tuple[str, int], ...] = ()) -> Step:
        """The broker's heads from a PING: behind them means we lost something."""
        if self.catching_up or self.pub is None or self.priv is None:
            return Step()
        behind = any((cursor := self.rooms.get(room_key(room))) is not None and head > cursor
                     for room, head in rooms)
        if (behind or (pub is not None and self.public_on and pub > self.pub)
                or (priv is not None and priv > self.priv)):
            return Step(fetch=self._fetch())
        return Step()
