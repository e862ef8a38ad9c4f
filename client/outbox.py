"""Messages sent but not yet acknowledged, kept to resend after a reconnect.

Pure. Each message gets a client message id (cid), increasing for the life of
the process; the broker stores (session token, cid) with the message, so a
resend of something it already stored is acknowledged, not shown twice.
"""

from collections import OrderedDict, deque
from dataclasses import replace

from zchat.protocol import Say, Tell

#: Unacknowledged messages kept at most; past it, new messages are refused.
OUTBOX_LIMIT = 1000


class Outbox:
    """Waiting messages in order; those not yet sent (on this connection) are queued."""

    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self._limit = limit
        self._next = 1
        self._waiting: OrderedDict[int, Say | Tell] = OrderedDict()
        self._unsent: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, msg: Say | Tell) -> Say | Tell | None:
        """Give ``msg`` the next cid and keep it; None when the outbox is full."""
        if len(self._waiting) >= self._limit:
            return None
        msg = replace(msg, cid=self._next)
        self._next += 1
        self._waiting[msg.cid] = msg
        self._unsent.append(msg.cid)
        return msg

    def peek(self) -> Say | Tell | None:
        """The next message to send, if any is waiting to go out."""
        while self._unsent:
            msg = self._waiting.get(self._unsent[0])
            if msg is not None:
                return msg
            self._unsent.popleft()  # settled before it was even sent
        return None

    def sent(self) -> None:
        """The message `peek` returned has gone out."""
        self._unsent.popleft()

    def again(self, cid: int) -> None:
        """The broker refused ``cid`` for now (rate limit): send it again next."""
        if cid in self._waiting and cid not in self._unsent:
            self._unsent.appendleft(cid)

    def requeue(self) -> None:
        """A new connection: every unacknowledged message goes out again, as a retry."""
        for cid, msg in self._waiting.items():
            self._waiting[cid] = replace(msg, retry=True)
        self._unsent = deque(self._waiting)

    def settle(self, cid: int) -> Say | Tell | None:
        """The broker stored (or refused) ``cid``: forget it and return it."""
        return self._waiting.pop(cid, None)

