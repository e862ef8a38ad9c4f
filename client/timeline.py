"""What this client has shown, as two cursors, and how it closes gaps. Pure.

Every event the broker sends carries its sequence number and `prev`, the
previous event of the reader's stream: the public stream (messages, joins,
leaves) or this user's private stream. A client shows an event when its
`prev` is the cursor of its stream; otherwise it has missed something, so it
holds live events back, FETCHes from its cursors and shows the replay (marked
as missed) before them. Duplicates (seq at or below the cursor) are dropped,
so every event is shown exactly once and in order.
"""

from dataclasses import dataclass, field

from zchat.protocol import Event, Events, Fetch, Joined, Left, Msg, Priv, Welcome, name_key

MISSED = "missed"
HISTORY = "history"


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
        self.epoch = ""
        self.catching_up = False
        self._held: list[Event] = []
        self._away_until = (0, 0)
        #: (our private cursor, WELCOME's private head) when the broker no longer held our
        #: private stream: the cursor restarts at that head once the catch-up is done.
        self._restart: tuple[int, int] | None = None

    @property
    def joined_before(self) -> bool:
        return self.pub is not None

    def _fetch(self) -> Fetch:
        assert self.pub is not None and self.priv is not None
        self.catching_up = True
        return Fetch(self.pub, self.priv)

    def welcome(self, w: Welcome) -> Step:
        """Adopt the broker's heads, or catch up to them. Not its name: we are who we
        asked to be (a resume may change only the spelling, which compares the same)."""
        # Events up to these heads happened while we were away: a replay shows them
        # as missed. Later ones are live events that came late (a slow feed, a full
        # queue) and are shown as live.
        self._away_until = (w.pub, w.priv)
        if self.pub is None or self.priv is None or w.epoch != self.epoch or w.pub < self.pub:
            reset = self.pub is not None  # history we knew is gone: say so
            self.pub, self.priv, self.epoch = w.pub, w.priv, w.epoch
            self.catching_up = False
            self._restart = None
            step = Step(reset=reset)
            held, self._held = sorted(self._held, key=lambda e: e.seq), []
            if not reset:  # a first WELCOME: events that came before it can be placed now
                for event in held:
                    self._take(event, step)
            return step
        if w.priv < self.priv:
            # The same history, but our private stream's head is gone: the broker pruned it
            # with all its events while we were away (or gave us a fresh session). Not a
            # reset: the public events we missed may still be held. Catch up from our
            # cursors (the replay's `lost` says what may be gone after ours), then restart
            # the private cursor where the stream's next event will link.
            self._restart = (self.priv, w.priv)
            return Step(fetch=self._fetch())
        if w.pub > self.pub or w.priv > self.priv:
            return Step(fetch=self._fetch())
        return Step()

    def live(self, event: Event) -> Step:
        """An event as it happens."""
        step = Step()
        self._take(event, step)
        return step

    def _take(self, event: Event, step: Step) -> None:
        private = isinstance(event, Priv)
        cursor = self.priv if private else self.pub
        if event.seq == 0:  # unnumbered (a cluster outage): shown, never held or counted
            if not self._own(event):  # (on a feed our own come back: we echoed them)
                step.shown.append(Shown(event))
            return
        if cursor is None or self.catching_up:
            self._held.append(event)  # placed after WELCOME, or after the catch-up
            return
        if event.seq <= cursor:
            return  # already shown
        if event.prev == cursor:
            # On a feed (--fanout pub) our own public events come back: step over them.
            if not self._own(event):
                step.shown.append(Shown(event))
            self._advance(event)
            return
        self._held.append(event)
        step.fetch = self._fetch()

    def _advance(self, event: Event) -> None:
        if isinstance(event, Priv):
            self.priv = event.seq
        else:
            self.pub = event.seq

    def replay(self, batch: Events) -> Step:
        """A page of missed events answering our FETCH."""
        step = Step(lost=batch.lost)  # a stream's loss shows on the page holding its first event
        for event in sorted(batch.events, key=lambda e: e.seq):
            cursor = self.priv if isinstance(event, Priv) else self.pub
            if cursor is not None and event.seq <= cursor:
                continue
            if not self._own(event):  # our own messages and joins are not shown back to us
                away = self._away_until[1 if isinstance(event, Priv) else 0]
                step.shown.append(Shown(event, MISSED if event.seq <= away else ""))
            self._advance(event)
        if batch.more and batch.events:
            step.fetch = Fetch(self.pub or 0, self.priv or 0)
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
        assert self.pub is not None and self.priv is not None
        return Fetch(self.pub, self.priv)

    def own_public(self, seq: int, prev: int) -> None:
        """Our public message was stored as ``seq``: we are not sent it, so step over it."""
        if not self.catching_up and self.pub == prev:
            self.pub = seq

    def heads(self, pub: int | None, priv: int | None) -> Step:
        """The broker's heads from a PING: behind them means we lost something."""
        if self.catching_up or self.pub is None or self.priv is None:
            return Step()
        if (pub is not None and pub > self.pub) or (priv is not None and priv > self.priv):
            return Step(fetch=self._fetch())
        return Step()
