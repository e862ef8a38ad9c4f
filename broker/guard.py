"""Which connections the broker keeps: a policy over descriptors, sans I/O.

A stranger must not be able to hold the broker's descriptors, or a share of
them that keeps others out. The server tells the Guard each connection it
sees accepted (its descriptor, socket inode and peer address), and which ones
joined, left and closed; the Guard answers with the connections to shed:

- over `per_address` connections from one address (an IPv4 address, or an
  IPv6 /64, since one host holds a whole /64): the newest one;
- over `connections` in all (kept below the descriptor limit): the oldest
  connection that has not joined, else the newcomer;
- a connection that has not joined within `unjoined_seconds` of being
  accepted (or of its session ending).

Unix-socket (ipc://) peers have no address: they count in all, not per
address (the socket file's permissions say who may connect). This module
never touches a socket; `broker/watch.py` does what it decides.
"""

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from zchat.common.addresses import LOCAL as LOCAL
from zchat.common.addresses import address_group as address_group
from zchat.protocol import constants as c

#: Why a connection was shed (also the log's words).
PER_ADDRESS = "too many connections from its address"
FULL = "the broker is near its descriptor limit"
UNJOINED = "it did not join in time"
@dataclass(frozen=True, slots=True)
class Bounds:
    """How many connections, from where, and for how long without joining."""

    per_address: int = c.DEFAULT_MAX_PER_ADDRESS
    connections: int = 100_000
    unjoined_seconds: float = c.UNJOINED_SECONDS


class Shed(NamedTuple):
    """Close the connection on ``fd`` (if it is still socket ``inode``), because ``why``."""

    fd: int
    inode: int
    address: str
    why: str


@dataclass(slots=True)
class Conn:
    fd: int
    inode: int
    address: str
    #: Since when it has been without a session (accepted, or its session ended).
    since: float
    joined: bool = False


class Guard:
    """The broker's connections by descriptor, by address, and the unjoined in age order."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self._conns: dict[int, Conn] = {}
        self._per_address: Counter[str] = Counter()
        #: Descriptors of connections without a session, oldest first.
        self._unjoined: OrderedDict[int, Conn] = OrderedDict()

    def __len__(self) -> int:
        return len(self._conns)

    def __contains__(self, fd: int) -> bool:
        return fd in self._conns

    def from_address(self, address: str) -> int:
        return self._per_address[address]

    @property
    def unjoined(self) -> int:
        return len(self._unjoined)

    def conn(self, fd: int) -> Conn | None:
        return self._conns.get(fd)

    def accepted(self, fd: int, inode: int, peer: str, now: float) -> list[Shed]:
        """A new connection; returns what to shed because of it (it, or an older one)."""
        self.closed(fd)  # a reused number: that connection is gone
        address = address_group(peer)
        conn = Conn(fd, inode, address, now)
        self._conns[fd] = conn
        self._per_address[address] += 1
        self._unjoined[fd] = conn
        if address != LOCAL and self._per_address[address] > self.bounds.per_address:
            return [self._shed(conn, PER_ADDRESS)]
        if len(self._conns) <= self.bounds.connections:
            return []
        # Over the bound: the oldest connections without a session go, and a few more,
        # so that the next ones find descriptors while the shedding catches up with
        # what libzmq accepted meanwhile (it accepts on its own thread).
        shed = []
        room = self.bounds.connections - max(1, self.bounds.connections // 16)
        while len(self._conns) > room and self._unjoined:
            oldest = next(iter(self._unjoined.values()))  # (conn itself, at worst)
            shed.append(self._shed(oldest, FULL))
        return shed

    def closed(self, fd: int) -> None:
        """The connection on ``fd`` is gone (or is being shed)."""
        conn = self._conns.pop(fd, None)
        if conn is None:
            return
        self._unjoined.pop(fd, None)
        self._per_address[conn.address] -= 1
        if not self._per_address[conn.address]:
            del self._per_address[conn.address]

    def joined(self, fd: int) -> None:
        """A session now holds the connection on ``fd``."""
        conn = self._conns.get(fd)
        if conn is not None:
            conn.joined = True
            self._unjoined.pop(fd, None)

    def left(self, fd: int, now: float) -> None:
        """The session on ``fd`` ended; the connection may stay a little to join again."""
        conn = self._conns.get(fd)
        if conn is not None and conn.joined:
            conn.joined = False
            conn.since = now
            self._unjoined[fd] = conn  # the newest unjoined

    def expire(self, now: float) -> list[Shed]:
        """Connections that have been without a session for too long."""
        shed: list[Shed] = []
        deadline = now - self.bounds.unjoined_seconds
        for conn in list(self._unjoined.values()):
            if conn.since > deadline:
                break  # age order: the rest are younger
            shed.append(self._shed(conn, UNJOINED))
        return shed

    def next_deadline(self) -> float:
        """When `expire` next has something to do (inf: nothing waits)."""
        for conn in self._unjoined.values():
            return conn.since + self.bounds.unjoined_seconds
        return float("inf")

    def _shed(self, conn: Conn, why: str) -> Shed:
        self.closed(conn.fd)
        return Shed(conn.fd, conn.inode, conn.address, why)
