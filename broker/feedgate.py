"""Who may read what on the `--fanout pub` feed: subscriptions, checked. Sans I/O.

The feed is an XPUB socket in manual mode: libzmq applies no subscription by
itself, it hands each one to the broker, which applies, to the subscriber that
sent it, only the topics that subscriber's session may read: the default
room's (protocol/feed.py) while the session is in it, and the topic of each
other room it is in. A subscriber shows its session by subscribing to
``ZCHAT/1 FEED <token>``; that gives it every topic the session may read. It
also subscribes to the empty prefix (so its own SUB lets every frame through;
nothing is applied for it) and, once in a room, to the room's topic, so that
the broker can apply it (libzmq lets an application subscribe a subscriber only
right after reading that subscriber's message). Before parting a room it
unsubscribes from its topic; a session that parts a room whose topic its
subscriber still has loses its feed connection (`stop`): no one reads a room
they are not in. Anything else is a stranger's: random subscriptions cost libzmq
memory for every byte (4,000-byte ones grew a broker by gigabytes), so the
connection that sends one, or too many, is shed.
"""

from collections.abc import Callable
from enum import Enum

from zchat.protocol import DEFAULT_TOPIC, topic_room
from zchat.protocol.constants import FEED_TOPIC as TOKEN_PREFIX
from zchat.protocol.constants import MAX_ROOMS_PER_USER

#: Subscription messages one feed connection may send at once: its token, the
#: empty prefix, the default room and each of its rooms, and a resend of each.
MOST_SUBSCRIPTIONS = 2 * (3 + MAX_ROOMS_PER_USER)
#: ... and then per second (a room entered or parted is one each way).
SUBSCRIPTIONS_PER_SECOND = 2.0

Topics = tuple[bytes, ...]


class Verdict(Enum):
    SUBSCRIBE = "subscribe"  # apply these topics to this subscriber
    UNSUBSCRIBE = "unsubscribe"  # take these topics from it
    IGNORE = "ignore"
    SHED = "shed"  # close this feed connection


_NOTHING: Topics = ()


class FeedGate:
    """Decides about each subscription message the feed hands over."""

    def __init__(self, session_of: Callable[[str], bytes | None],
                 topics_of: Callable[[bytes], list[bytes]]) -> None:
        """``session_of(token)``: the ROUTER identity of the joined session holding
        ``token`` on this broker, or None; ``topics_of(identity)``: the topics that
        session may read now."""
        self._session_of = session_of
        self._topics_of = topics_of
        #: Feed descriptor -> (subscriptions it may still send, when that was counted).
        self._allowance: dict[int, tuple[float, float]] = {}
        #: Feed descriptor -> the identity of the session it reads for; and back, with
        #: the feed socket's inode (a descriptor number is reused once closed).
        self.reader: dict[int, bytes] = {}
        self.feed_of: dict[bytes, tuple[int, int]] = {}
        #: Feed descriptor -> the topics applied to it.
        self.applied: dict[int, set[bytes]] = {}

    def judge(self, message: bytes, fd: int, inode: int = 0,
              now: float = 0.0) -> tuple[Verdict, Topics]:
        """One subscription message (``\\x01`` or ``\\x00``, then the topic) from the
        feed connection on ``fd``, socket ``inode`` (fd -1: libzmq's own, from a
        connection that ended), at ``now`` (seconds): the verdict and the topics it
        applies to."""
        if fd < 0:
            return Verdict.IGNORE, _NOTHING  # an unsubscription for a subscriber gone
        if not self._spend(fd, now) or message[:1] not in (b"\x00", b"\x01"):
            return Verdict.SHED, _NOTHING
        subscribe, topic = message[:1] == b"\x01", message[1:]
        if topic == b"":
            if subscribe:
                return Verdict.IGNORE, _NOTHING
            return Verdict.UNSUBSCRIBE, self._take(fd, None)  # it wants nothing more
        if topic == DEFAULT_TOPIC or topic_room(topic) is not None:
            return self._room(fd, topic, subscribe)
        if not topic.startswith(TOKEN_PREFIX):
            return Verdict.SHED, _NOTHING
        if not subscribe:
            return Verdict.IGNORE, _NOTHING
        try:
            token = topic[len(TOKEN_PREFIX):].decode("ascii")
        except UnicodeDecodeError:
            return Verdict.SHED, _NOTHING
        identity = self._session_of(token)
        if identity is None:
            return Verdict.SHED, _NOTHING  # no such session here (or not yet: it retries)
        self.reader[fd] = identity
        self.feed_of[identity] = (fd, inode)
        topics = self._topics_of(identity)
        self.applied.setdefault(fd, set()).update(topics)
        return Verdict.SUBSCRIBE, tuple(topics)

    def _spend(self, fd: int, now: float) -> bool:
        left, then = self._allowance.get(fd, (float(MOST_SUBSCRIPTIONS), now))
        left = min(float(MOST_SUBSCRIPTIONS), left + (now - then) * SUBSCRIPTIONS_PER_SECOND)
        if left < 1.0:
            return False
        self._allowance[fd] = (left - 1.0, now)
        return True

    def _room(self, fd: int, topic: bytes, subscribe: bool) -> tuple[Verdict, Topics]:
        """A room's topic (the default room's too)."""
        identity = self.reader.get(fd)
        if identity is None:
            return Verdict.IGNORE, _NOTHING  # before its token: that applies them all
        if not subscribe:
            return Verdict.UNSUBSCRIBE, self._take(fd, topic)
        if topic not in self._topics_of(identity):
            return Verdict.IGNORE, _NOTHING  # not in that room (or not yet, or no more)
        self.applied.setdefault(fd, set()).add(topic)
        return Verdict.SUBSCRIBE, (topic,)

    def _take(self, fd: int, topic: bytes | None) -> Topics:
        """Take ``topic`` (None: every topic) from what ``fd`` has."""
        applied = self.applied.get(fd, set())
        if topic is None:
            self.applied.pop(fd, None)
            return tuple(applied)
        if topic not in applied:
            return _NOTHING
        applied.discard(topic)
        return (topic,)

    def stop(self, identity: bytes, topic: bytes) -> tuple[int, int] | None:
        """The session ``identity`` may no longer read ``topic``: (descriptor, inode) of
        its feed connection, to shed, if that still has the topic."""
        found = self.feed_of.get(identity)
        if found is None or topic not in self.applied.get(found[0], ()):
            return None
        return self.ended(identity)

    def closed(self, fd: int) -> None:
        """The feed connection on ``fd`` is gone."""
        self._allowance.pop(fd, None)
        self.applied.pop(fd, None)
        identity = self.reader.pop(fd, None)
        if identity is not None and self.feed_of.get(identity, (-1, 0))[0] == fd:
            del self.feed_of[identity]

    def ended(self, identity: bytes) -> tuple[int, int] | None:
        """The session ``identity`` ended: (descriptor, inode) of its feed connection, to
        shed."""
        found = self.feed_of.pop(identity, None)
        if found is not None:
            self.reader.pop(found[0], None)
            self.applied.pop(found[0], None)
            self._allowance.pop(found[0], None)  # (the next connection there starts afresh)
        return found
