"""One broker's link to the rest of its cluster: its state, and the decisions it makes.

In a cluster the shared log numbers events, so what a broker's users say is
queued until the cycle's commit, and shown when the log brings it back. The
link can go down: the broker is then an *island*, showing what its users say
among themselves (unnumbered), and remembering who left meanwhile, to hand
the cluster back its users once the link heals (retrying with a back-off).
Around an outage some events must be shown once, not twice. And a message's
ACK waits for the log to bring the message back, to take its place in its
sender's stream.

All of it is state and yes/no answers; the core (core.py) makes the actions.
A broker alone never queues, never goes down, and keeps none of this.
"""

import heapq

from zchat.protocol import constants as c
from zchat.protocol import name_key

from .store import StoredEvent

#: What a broker queues for the next commit: (event, who is not shown it, who gets its ACK).
Queued = tuple[StoredEvent, bytes | None, bytes | None]


class ClusterLink:
    """What the core needs to remember about the cluster between calls."""

    def __init__(self, heartbeat: float) -> None:
        self.heartbeat = heartbeat
        #: The link is down: events stay among this broker's users (seq 0).
        self.island = False
        #: Sessions that ended during the outage: name key -> (name, stream, reason), and
        #: where they were: name key -> (in the default room, their other rooms).
        self.left_meanwhile: dict[str, tuple[str, str, str]] = {}
        self.rooms_meanwhile: dict[str, tuple[bool, list[str]]] = {}
        self._heal_at = 0.0
        self._heal_backoff = heartbeat
        #: Events waiting for `commit` to number them.
        self._queued: list[Queued] = []
        #: ACKs of this broker's messages, by seq, waiting for the shared log to bring
        #: each message back here: (sender's stream, ACK frame).
        self._acks_due: dict[int, tuple[str, bytes]] = {}
        #: Their seqs as a heap (with some already taken by `ack_for`), so that
        #: `acks_before`, asked at every event the log brings, never scans them all:
        #: a fast sender has thousands waiting (46% of a cluster broker's time at N=10).
        self._due_heap: list[int] = []
        #: The last public event delivered here (what PING tells clients).
        self.delivered = 0
        #: Names whose LEFT this broker's users saw during an outage, and names whose
        #: JOINED they need not see (this broker's own users, handed back).
        self._told_left: set[str] = set()
        self._quiet_joined: set[str] = set()
        #: The same for rooms' LEFTs and JOINEDs: (name key, room).
        self._told_left_rooms: set[tuple[str, str]] = set()
        self._quiet_room_joined: set[tuple[str, str]] = set()

    # ---- numbering ---------------------------------------------------------------

    def queue(self, event: StoredEvent, exclude: bytes | None, ack_to: bytes | None) -> None:
        self._queued.append((event, exclude, ack_to))

    def take_queued(self) -> list[Queued]:
        queued, self._queued = self._queued, []
        return queued

    def ack_on_arrival(self, seq: int, stream: str, frame: bytes) -> None:
        """Send the ACK ``frame`` to ``stream``'s session when message ``seq`` comes back."""
        self._acks_due[seq] = (stream, frame)
        heapq.heappush(self._due_heap, seq)

    def ack_for(self, seq: int) -> bytes | None:
        """The ACK waiting for message ``seq``, now that it came back (None: none)."""
        due = self._acks_due.pop(seq, None)
        return due[1] if due is not None else None

    def acks_before(self, seq: int) -> list[tuple[str, bytes]]:
        """ACKs of messages numbered before ``seq`` that the log did not bring back (the
        reader resynchronised past them, or the link went down): (stream, frame)."""
        heap, due = self._due_heap, self._acks_due
        late: list[tuple[str, bytes]] = []
        while heap and heap[0] < seq:
            waiting = due.pop(heapq.heappop(heap), None)
            if waiting is not None:  # (None: `ack_for` took it when its message came)
                late.append(waiting)
        return late

    # ---- what the log brings ---------------------------------------------------------

    def seen(self, event: StoredEvent, held_here: bool = False) -> bool:
        """A public event from the log: False when this broker's users must not see it
        (again): a LEFT of a user still held here (the cluster took it for gone while
        this broker was cut off: ``held_here``) or one they saw during the outage, a
        JOINED of their own user handed back to the cluster."""
        if event.seq > self.delivered:
            self.delivered = event.seq
        if event.kind == c.LEFT:
            if held_here:
                return False
            key = _key(event.name)
            if key in self._told_left:
                self._told_left.discard(key)
                return False
        elif event.kind == c.JOINED:
            key = _key(event.name)
            self._told_left.discard(key)
            if key in self._quiet_joined:
                self._quiet_joined.discard(key)
                return False
        return True

    def seen_in_room(self, event: StoredEvent) -> bool:
        """A room's LEFT or JOINED from the log: False when this broker's members of the
        room must not see it (again): a LEFT they saw during the outage, a JOINED of their
        own user handed back to the cluster (they never saw it leave)."""
        key = (_key(event.name), event.room)
        if event.kind == c.LEFT:
            if key in self._told_left_rooms:
                self._told_left_rooms.discard(key)
                return False
        elif event.kind == c.JOINED:
            self._told_left_rooms.discard(key)
            if key in self._quiet_room_joined:
                self._quiet_room_joined.discard(key)
                return False
        return True

    def told_left(self, name: str, room: str = "") -> None:
        """This broker's users were shown ``name`` leaving (``room``, or the chat), during
        the outage."""
        if room:
            self._told_left_rooms.add((_key(name), room))
        else:
            self._told_left.add(_key(name))

    # ---- outages ------------------------------------------------------------------------

    def went_down(self) -> bool:
        """The link is down; True the first time (tell the users, once)."""
        if self.island:
            return False
        self.island = True
        self._heal_backoff = self.heartbeat
        return True

    def may_heal(self, now: float, force: bool) -> bool:
        """Whether to try handing the cluster its users back now."""
        return force or now >= self._heal_at

    def heal_failed(self, now: float) -> None:
        """The cluster could not be reached: try again later, backing off."""
        self._heal_at = now + self._heal_backoff
        self._heal_backoff = min(self._heal_backoff * 2, 30 * self.heartbeat)

    def healed(self, claimed: set[str], rooms: set[tuple[str, str]]) -> bool:
        """The cluster took this broker's users back (``claimed``: their name keys, whose
        JOINED they need not see; ``rooms``: (name key, room) of their rooms' JOINEDs);
        True when it was an island until now."""
        was_island, self.island = self.island, False
        self._quiet_joined = claimed
        self._quiet_room_joined = rooms
        self.left_meanwhile.clear()
        self.rooms_meanwhile = {}
        return was_island


def _key(name: str) -> str:
    return name_key(name)
