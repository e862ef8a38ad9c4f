"""What a broker of a cluster does beyond the chat rules: numbering at commit,
showing what the shared log brings back, and outages, from going down to healing.

The cluster's state and its yes/no decisions (what is queued, which events are
shown once around an outage, when an ACK goes, when to try healing again) are
link.py's; this module turns them into actions, with delivery.py's. A broker
alone (LocalBackplane) never queues, never goes down and calls none of this.
"""

import logging
from collections.abc import Callable

from zchat.common.i18n import Catalogue
from zchat.protocol import Bye, Notice, encode, name_key
from zchat.protocol import constants as c

from .actions import Ack, Action, Broadcast, PublicEvent, Send
from .backplane import Backplane
from .delivery import Delivery, ack, ack_frame
from .link import ClusterLink
from .roster import Roster
from .store import HistoryStore, LinkDown, StoredEvent

log = logging.getLogger(__name__)

#: Above every sequence number.
MAX_SEQ_PLUS = c.MAX_SEQ + 1


class ClusterSide:
    """The cluster's part of publishing, committing and delivering, for one core."""

    def __init__(self, roster: Roster, backplane: Backplane, store: HistoryStore,
                 link: ClusterLink, delivery: Delivery, catalogue: Catalogue,
                 wall_clock: Callable[[], float]) -> None:
        self.roster = roster
        self.backplane = backplane
        self.store = store
        self.link = link
        self.delivery = delivery
        self._t = catalogue.t
        self._wall = wall_clock
        #: The last number this broker's commits had Redis give (`BrokerCore.committed`).
        self.numbered = 0

    def publish(self, event: StoredEvent, exclude: bytes | None,
                ack_to: bytes | None) -> list[Action]:
        """Queue ``event`` for the cycle's commit, which numbers the cycle's events in
        one call to Redis; each broker delivers them when the shared log brings them
        back, in its order. With the link down it reaches this broker's users only,
        unnumbered (seq 0), unless Redis answers again."""
        if not self.link.island:
            self.link.queue(event, exclude, ack_to)
            return []
        try:
            self.store.add(event)
        except LinkDown:
            return self._unnumbered(event) + self.delivery.show(event, exclude, ack_to)
        self.numbered = max(self.numbered, event.seq)
        return self.delivery.show(event, exclude, ack_to)

    def commit(self) -> list[Action]:
        """Number the queued events; return the ACKs of all but messages (a message's
        ACK goes when the log brings it back, in its place). If Redis cannot be
        reached, the events go to this broker's users only."""
        queued = self.link.take_queued()
        if not queued:
            return []
        try:
            self.store.add_many([event for event, _, _ in queued])
        except LinkDown:
            shown: list[Action] = []
            for event, exclude, ack_to in queued:
                shown += self._unnumbered(event) + self.delivery.show(event, exclude, ack_to)
            return shown
        self.numbered = max(self.numbered, queued[-1][0].seq)
        actions: list[Action] = []
        for event, _, ack_to in queued:
            if ack_to is None:
                continue
            if event.kind == c.MSG:
                self.link.ack_on_arrival(event.seq, event.origin, ack_frame(event))
            else:
                actions.append(ack(ack_to, event))
        return actions

    def arrived(self, event: StoredEvent, reader: str = "") -> list[Action]:
        """An event from the cluster: the shared log (public), or this broker's
        inbox, addressed to the private stream ``reader``."""
        if reader:
            return self.delivery.private(event, reader)
        late = self._late_acks(event.seq)
        if event.room:
            return late + self._room_arrived(event)
        held = (event.kind == c.LEFT and event.reason != c.R_PART
                and self.roster.by_name(event.name) is not None)
        if not self.link.seen(event, held):
            return late  # shown here already, or never gone for our users (link.py)
        own = None  # the sender or joiner is not sent its own event
        if event.kind == c.MSG:
            own = self.roster.by_stream(event.origin)
            frame = self.link.ack_for(event.seq)
            if frame is not None and own is not None:  # (the sender's ACK, in its place)
                if len(self.roster) == 1:
                    return [*late, Ack(own.identity, frame)]
                action: PublicEvent = self.delivery.public_msg(event, own.identity, frame)
                return [*late, action]
        elif event.kind == c.JOINED:
            own = self.roster.by_name(event.name)
        if len(self.roster) == (own is not None):
            return late  # no one else here to show it to: not even worth encoding
        return late + self.delivery.deliver(event, own.identity if own is not None else None)

    def _room_arrived(self, event: StoredEvent) -> list[Action]:
        """An event of a room other than the default one, for its members here: the
        sender or joiner is not sent its own (a message's sender gets its ACK in its
        place), and what they saw already or must not see is not shown (around an
        outage, as for the public stream: link.py; the sweep's LEFT of a member still
        here, whom the cluster took for gone while this broker was cut off)."""
        own = None
        frame = None
        if event.kind == c.MSG:
            own = self.roster.by_stream(event.origin)
            frame = self.link.ack_for(event.seq)
        elif not self.link.seen_in_room(event):
            return []  # shown here already, or never gone for our users (link.py)
        elif event.kind == c.JOINED:
            own = self.roster.by_name(event.name)
        elif event.reason != c.R_PART:
            here = self.roster.by_name(event.name)
            if here is not None and event.room in here.rooms:
                return []
        if frame is not None and own is not None:
            if self.delivery.feed:
                return [*self.delivery.room(event, own.identity), Ack(own.identity, frame)]
            return self.delivery.room(event, own.identity, own.identity, frame)
        return self.delivery.room(event, own.identity if own is not None else None)

    def link_down(self) -> list[Action]:
        """The cluster cannot be reached (a call failed, or the server's log reader
        lost Redis): tell this broker's users, once, that only they can be reached now."""
        if not self.link.went_down():
            return []
        late = self._late_acks(MAX_SEQ_PLUS)  # the log will not bring them back now
        log.warning(self._t("log.cluster_down"))
        notice = Notice(c.N_CLUSTER_DOWN, "the link to the other brokers is down")
        return [*late, Broadcast(encode(notice))]

    def rejoin(self, now: float, force: bool = False) -> list[Action]:
        """Hand the cluster this broker's users again: after an outage, or after the
        others took this broker for dead. Names taken meanwhile are given up."""
        if not self.link.may_heal(now, force):
            return []
        try:
            claimed, taken, released = self.backplane.heal(self.roster.sessions(),
                                                           dict(self.link.left_meanwhile))
        except LinkDown:
            self.link.heal_failed(now)
            return []
        actions: list[Action] = []
        where = self.link.rooms_meanwhile  # (where those who left meanwhile were)
        if self.link.healed({session.key for session in claimed},
                            {(session.key, room) for session in claimed
                             for room in session.rooms}):
            log.warning(self._t("log.cluster_up"))
            actions.append(Broadcast(encode(Notice(c.N_CLUSTER_UP, "the link is back"))))
        ts = self._wall()
        for session in taken:  # another broker's user holds the name now: start over
            self.roster.remove(session)
            actions.append(Send(session.identity, encode(Bye(c.R_SHUTDOWN))))
        for session in claimed:  # (the sweep announced them gone from their rooms too)
            if session.in_default:
                actions += self.publish(StoredEvent(0, c.JOINED, ts, session.name),
                                        session.identity, None)
            for room in sorted(session.rooms):
                actions += self.publish(StoredEvent(0, c.JOINED, ts, session.name, room=room),
                                        session.identity, None)
        for name, reason in released:
            in_default, rooms = where.get(name_key(name), (True, []))
            if in_default:
                actions += self.publish(StoredEvent(0, c.LEFT, ts, name, reason=reason),
                                        None, None)
            for room in rooms:
                actions += self.publish(StoredEvent(0, c.LEFT, ts, name, reason=reason,
                                                    room=room), None, None)
        return actions

    def _unnumbered(self, event: StoredEvent) -> list[Action]:
        """The cluster is out of reach: ``event`` is shown here only, with seq 0."""
        event.seq = event.prev = event.prev_to = 0
        if event.kind == c.LEFT:
            self.link.told_left(event.name, event.room)
        return self.link_down()

    def _late_acks(self, seq: int) -> list[Action]:
        """ACKs of messages numbered before ``seq`` that the log will not bring back
        here (link.py): sent now, to whoever holds the sender's session."""
        actions: list[Action] = []
        for stream, frame in self.link.acks_before(seq):
            session = self.roster.by_stream(stream)
            if session is not None:
                actions.append(Ack(session.identity, frame))
        return actions
