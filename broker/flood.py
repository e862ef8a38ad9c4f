"""Who may make the broker do how much: flood control's buckets and decisions. Pure.

A joined session has four buckets (messages, text bytes, FETCHes, reply bytes:
`Limits.buckets`); a connection that has not joined spends its own bucket,
its address's and then a broker-wide one; each address has a bucket for
JOINs. This module answers yes or no; the core decides what a no costs (an
ERROR, a strike, silence). Addresses are counted as `guard.address_group`
counts them; Unix-socket peers have none and no per-address bucket.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from zchat.protocol import Fetch, Message, Say, Tell
from zchat.protocol import constants as c
from zchat.protocol.rate import TokenBucket, take_both

from .guard import LOCAL, address_group
from .roster import Session

#: Addresses whose JOIN and pre-JOIN budgets are remembered (the oldest is forgotten first).
ADDRESSES_TRACKED = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Flood control and capacity, announced to clients in WELCOME."""

    rate: float = c.DEFAULT_RATE
    burst: int = c.DEFAULT_BURST
    byte_rate: float = c.DEFAULT_BYTE_RATE
    byte_burst: int = c.DEFAULT_BYTE_BURST
    max_clients: int = c.DEFAULT_MAX_CLIENTS
    #: Connections at once from one address; also the JOINs one address may make at
    #: once (refilled at this many a minute).
    max_per_address: int = c.DEFAULT_MAX_PER_ADDRESS

    def buckets(self) -> tuple[TokenBucket, TokenBucket, TokenBucket, TokenBucket]:
        """A session's message, text-byte, FETCH and reply-byte buckets."""
        return (TokenBucket(self.rate, self.burst), TokenBucket(self.byte_rate, self.byte_burst),
                TokenBucket(c.FETCH_RATE, c.FETCH_BURST),
                TokenBucket(c.REPLY_RATE, c.REPLY_BURST))


class Budgets:
    """The buckets of strangers, addresses and sessions, and whether each may go on."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._unjoined = TokenBucket(c.UNJOINED_RATE, c.UNJOINED_BURST)
        # Each stranger has a small bucket of its own, and so has each address, so one
        # fast stranger (or many connections from one place) spends its own budget,
        # not the one newcomers from elsewhere need to JOIN.
        self._strangers: OrderedDict[bytes, TokenBucket] = OrderedDict()
        self._addresses: OrderedDict[str, TokenBucket] = OrderedDict()
        #: JOINs per address (max_per_address at once, as many again each minute): joins
        #: and leaves are events everyone is shown and history keeps, so they cost.
        self._joins: OrderedDict[str, TokenBucket] = OrderedDict()

    def stranger(self, identity: bytes, peer: str, now: float) -> bool:
        """Whether a frame from a connection that has not joined may be handled."""
        if not _bucket(self._strangers, identity, c.STRANGERS_TRACKED,
                       c.STRANGER_RATE, c.STRANGER_BURST).take(now):
            return False
        where = address_group(peer)
        most = self.limits.max_per_address
        if where != LOCAL and not _bucket(self._addresses, where, ADDRESSES_TRACKED,
                                          most / 2, most * 2).take(now):
            return False
        return self._unjoined.take(now)

    def join(self, peer: str, now: float) -> bool:
        """Whether a JOIN from ``peer``'s address may be handled."""
        where = address_group(peer)  # (Unix-socket peers have none: the file's mode rules)
        most = self.limits.max_per_address
        return where == LOCAL or _bucket(self._joins, where, ADDRESSES_TRACKED,
                                         most / 60.0, most).take(now)

    def message(self, session: Session, msg: Message, now: float) -> bool:
        """Whether a joined session's SAY, TELL, WHO, FETCH or room command may be
        handled (texts cost their bytes too); an allowed one clears its strikes."""
        if not isinstance(msg, Fetch):
            return self.said(session, msg.text if isinstance(msg, Say | Tell) else "", now)
        allowed = self.of(session)[2].take(now)
        if allowed:
            session.strikes = 0
        return allowed

    def said(self, session: Session, text: str, now: float) -> bool:
        """`message` for a message of ``text`` (a SAY's, the hot path, asks this
        directly): it costs a message and its bytes (a bigger message than the byte
        burst costs a full bucket)."""
        messages, octets, _, _ = session.buckets or self.of(session)
        if take_both(messages, octets, now,
                     len(text) if text.isascii() else len(text.encode("utf-8"))):
            session.strikes = 0
            return True
        return False

    def of(self, session: Session) -> tuple[TokenBucket, TokenBucket, TokenBucket, TokenBucket]:
        """The session's buckets, made full the first time they are needed."""
        if session.buckets is None:
            session.buckets = self.limits.buckets()
        return session.buckets


def replies_left(replies: TokenBucket, now: float) -> bool:
    """Whether a reply bucket may pay for one more answer (it may go into debt: an
    answer is paid for once its size is known)."""
    replies.take(now, 0.0)  # (refills it)
    return replies.tokens > 0


_K = TypeVar("_K", bytes, str)


def _bucket(buckets: OrderedDict[_K, TokenBucket], key: _K, most: int, rate: float,
            burst: float) -> TokenBucket:
    """The bucket of ``key``, made full when new; past ``most`` keys the longest
    known is forgotten (a forgotten key starts full again: bounded memory wins)."""
    bucket = buckets.get(key)
    if bucket is None:
        if len(buckets) >= most:
            buckets.popitem(last=False)
        bucket = buckets[key] = TokenBucket(rate, burst)
    return bucket
