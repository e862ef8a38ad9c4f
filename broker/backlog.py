"""How many bytes the broker may be holding for each connection: accounting, sans I/O.

libzmq queues what the broker sends to a peer until the peer's TCP window
takes it; a peer that never reads makes the broker hold everything sent to it
(its queue is bounded in messages, not bytes: 1,000 pages of 1.5 MB each were
1.5 GB). So the broker counts, per connection, the bytes handed to libzmq
since the connection was last seen to have taken all it was sent (the kernel
had nothing of it left unsent), and asks the kernel again once that passes
`check_bytes`. A connection whose bytes stay unsent is *stuck*: it is sent
nothing more (its live events are missed and fetched later, as with a full
queue) until it drains. So what one connection can make the broker hold is
about `check_bytes` plus what was on its way; the sum over all of them is
`total`, and past `most` the largest stuck ones are shed.

Broadcasts (the same frame to every joined connection) are counted once, in a
running total each connection's figure is measured against, so the fan-out
loop does no per-recipient bookkeeping.
"""

from dataclasses import dataclass


@dataclass(slots=True)
class Account:
    """One connection's bytes handed to libzmq since it last drained."""

    base: int  # the broadcast total when it last drained
    unique: int = 0  # bytes sent to it alone since then
    #: Since when it has been stuck (0: it is not); its figure when it stuck.
    stuck_since: float = 0.0
    frozen: int = 0


class Backlog:
    """The bytes each connection (by ROUTER identity) may still have queued."""

    def __init__(self, check_bytes: int, most: int) -> None:
        self.check_bytes = check_bytes
        self.most = most
        #: Bytes fanned out to every joined connection so far.
        self.broadcast = 0
        self._accounts: dict[bytes, Account] = {}
        #: Stuck identities (those the fan-out must skip), for the server.
        self.stuck: dict[bytes, None] = {}

    def __len__(self) -> int:
        return len(self._accounts)

    def _account(self, identity: bytes) -> Account:
        account = self._accounts.get(identity)
        if account is None:
            account = self._accounts[identity] = Account(self.broadcast)
        return account

    def track(self, identity: bytes) -> None:
        """Count ``identity``'s bytes from now on (a session joined on it)."""
        self._account(identity)

    def held(self, identity: bytes) -> int:
        """Bytes this connection may still hold: handed over, not yet seen to leave."""
        account = self._accounts.get(identity)
        if account is None:
            return 0
        if account.stuck_since:
            return account.frozen
        return self.broadcast - account.base + account.unique

    def sent(self, identity: bytes, size: int) -> bool:
        """``size`` bytes went to ``identity`` alone; True when its queue should be
        checked now (it may be holding more than check_bytes)."""
        account = self._account(identity)
        account.unique += size
        return self.broadcast - account.base + account.unique >= self.check_bytes

    def fanned_out(self, size: int) -> None:
        """``size`` bytes went to every joined connection."""
        self.broadcast += size

    def missed(self, identity: bytes, size: int) -> None:
        """A send counted as made did not happen (the queue was full, or it was
        skipped): take it back, so the figure does not drift up."""
        account = self._accounts.get(identity)
        if account is not None and not account.stuck_since:
            account.unique -= size

    def due(self) -> list[bytes]:
        """Connections (not stuck) that may hold check_bytes or more: check them."""
        threshold = self.broadcast - self.check_bytes
        return [identity for identity, a in self._accounts.items()
                if not a.stuck_since and a.base - a.unique <= threshold]

    def drained(self, identity: bytes) -> bool:
        """The kernel has nothing left unsent for it: start counting from zero.
        True when it was stuck until now."""
        account = self._accounts.get(identity)
        if account is None:
            return False
        was_stuck = bool(account.stuck_since)
        account.base, account.unique = self.broadcast, 0
        account.stuck_since, account.frozen = 0.0, 0
        self.stuck.pop(identity, None)
        return was_stuck

    def stuck_now(self, identity: bytes, now: float) -> bool:
        """Its bytes are not leaving: send it nothing more until it drains. True when
        it was not stuck before."""
        account = self._account(identity)
        if account.stuck_since:
            return False
        account.frozen = self.broadcast - account.base + account.unique
        account.stuck_since = now
        self.stuck[identity] = None
        return True

    def stuck_for(self, identity: bytes, now: float) -> float:
        account = self._accounts.get(identity)
        return now - account.stuck_since if account and account.stuck_since else 0.0

    def forget(self, identity: bytes) -> None:
        """The connection is gone, and all it held with it."""
        self._accounts.pop(identity, None)
        self.stuck.pop(identity, None)

    def over(self) -> list[bytes]:
        """Stuck connections to shed, largest first, until the rest hold at most `most`
        in all (counting every connection's figure, stuck or not)."""
        total = sum(self.held(identity) for identity in self._accounts)
        if total <= self.most:
            return []
        shed = []
        for identity in sorted(self.stuck, key=self.held, reverse=True):
            shed.append(identity)
            total -= self.held(identity)
            if total <= self.most:
                break
        return shed
