"""Messages sent but not yet acknowledged, kept to resend after a reconnect.

Pure. Each message gets a client message id (cid), increasing for the life of
the process; the broker stores (session token, cid) with the message, so a
resend of something it already stored is acknowledged, not shown twice.
"""

from collections import OrderedDict
from dataclasses import replace

from zchat.protocol import Say, Tell

#: Unacknowledged messages kept at most; past it, new messages are refused.
OUTBOX_LIMIT = 1000


class Outbox:
    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self._limit = limit
        self._next = 1
        self._waiting: OrderedDict[int, Say | Tell] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, msg: Say | Tell) -> Say | Tell | None:
        """Give ``msg`` the next cid and keep it; None when the outbox is full."""
        if len(self._waiting) >= self._limit:
            return None
        msg = replace(msg, cid=self._next)
        self._next += 1
        self._waiting[msg.cid] = msg
        return msg

    def settle(self, cid: int) -> Say | Tell | None:
        """The broker stored (or refused) ``cid``: forget it and return it."""
        return self._waiting.pop(cid, None)

    def resend(self) -> list[Say | Tell]:
        """Everything unacknowledged, oldest first, flagged as a retry."""
        return [replace(msg, retry=True) for msg in self._waiting.values()]
