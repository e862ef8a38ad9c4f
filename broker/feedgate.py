"""Who may read the `--fanout pub` feed: subscriptions, checked. Sans I/O.

The feed is an XPUB socket in manual mode: libzmq applies no subscription by
itself, it hands each one to the broker, which applies the one that matters
(everything, the empty prefix) only for a subscriber that shows a joined
session's token. A subscriber sends two subscriptions: the empty prefix (so
its own SUB socket lets every frame through) and ``ZCHAT/1 FEED <token>``.
Anything else is a stranger's: random subscriptions cost libzmq memory for
every byte (4,000-byte ones grew a broker by gigabytes), so the connection
that sends one, or too many, is shed.
"""

from collections.abc import Callable
from enum import Enum

from zchat.protocol.constants import FEED_TOPIC as TOKEN_PREFIX

#: Subscription messages one feed connection may send (two, and a resend each).
MOST_SUBSCRIPTIONS = 4


class Verdict(Enum):
    SUBSCRIBE = "subscribe"  # apply the empty prefix to this subscriber
    UNSUBSCRIBE = "unsubscribe"  # it asked for nothing more
    IGNORE = "ignore"
    SHED = "shed"  # close this feed connection


class FeedGate:
    """Decides about each subscription message the feed hands over."""

    def __init__(self, session_of: Callable[[str], bytes | None]) -> None:
        """``session_of(token)``: the ROUTER identity of the joined session holding
        ``token`` on this broker, or None."""
        self._session_of = session_of
        self._count: dict[int, int] = {}  # feed descriptor -> subscriptions seen
        #: Feed descriptor -> the identity of the session it reads for; and back, with
        #: the feed socket's inode (a descriptor number is reused once closed).
        self.reader: dict[int, bytes] = {}
        self.feed_of: dict[bytes, tuple[int, int]] = {}

    def judge(self, message: bytes, fd: int, inode: int = 0) -> Verdict:
        """One subscription message (``\\x01`` or ``\\x00``, then the topic) from the
        feed connection on ``fd``, socket ``inode`` (fd -1: libzmq's own, from a
        connection that ended)."""
        if fd < 0:
            return Verdict.IGNORE  # an unsubscription for a subscriber already gone
        count = self._count[fd] = self._count.get(fd, 0) + 1
        if count > MOST_SUBSCRIPTIONS or message[:1] not in (b"\x00", b"\x01"):
            return Verdict.SHED
        subscribe, topic = message[:1] == b"\x01", message[1:]
        if topic == b"":
            return Verdict.IGNORE if subscribe else Verdict.UNSUBSCRIBE
        if not topic.startswith(TOKEN_PREFIX):
            return Verdict.SHED
        if not subscribe:
            return Verdict.IGNORE
        try:
            token = topic[len(TOKEN_PREFIX):].decode("ascii")
        except UnicodeDecodeError:
            return Verdict.SHED
        identity = self._session_of(token)
        if identity is None:
            return Verdict.SHED  # no such session here (or not yet: it retries on reconnect)
        self.reader[fd] = identity
        self.feed_of[identity] = (fd, inode)
        return Verdict.SUBSCRIBE

    def closed(self, fd: int) -> None:
        """The feed connection on ``fd`` is gone."""
        self._count.pop(fd, None)
        identity = self.reader.pop(fd, None)
        if identity is not None and self.feed_of.get(identity, (-1, 0))[0] == fd:
            del self.feed_of[identity]

    def ended(self, identity: bytes) -> tuple[int, int] | None:
        """The session ``identity`` ended: (descriptor, inode) of its feed connection, to
        shed."""
        found = self.feed_of.pop(identity, None)
        if found is not None:
            self.reader.pop(found[0], None)
            self._count.pop(found[0], None)  # (the next connection on that number starts afresh)
        return found
