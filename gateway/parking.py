"""Parked DEALERs: a page reloaded without a leave (docs/WEB.md, Parking).

When a WebSocket closes after its DEALER was welcomed (and the page did not LEAVE),
the DEALER is kept for the grace: it PINGs the broker every heartbeat interval and
discards what it receives, so the session stays alive. A new WebSocket whose JOIN
carries the session's token gets a DEALER of its own; its JOIN rebinds the session
quietly, and the parked DEALER is closed only once that WELCOME has passed (closing
it first would let the broker see the session lost, and everyone see it leave). At
the end of the grace the parked DEALER is closed without LEAVE: the broker sees the
session lost, as it would a closed tab.
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict

import zmq.asyncio

from zchat.protocol import constants as c

from .limits import Admission

log = logging.getLogger(__name__)

_PING = c.HEADER + b"PING"


class Parking:
    """The parked DEALERs, by session token, each kept by a task of its own."""

    def __init__(self, admission: Admission, grace: float) -> None:
        self.admission = admission
        self.grace = grace
        #: token -> (its keeper task, the address key it counts against), oldest first.
        self._kept: OrderedDict[str, tuple[asyncio.Task[None], str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def park(self, dealer: zmq.asyncio.Socket, token: str, heartbeat: float, key: str,
             address: str) -> None:
        """Keep ``dealer`` (welcomed with session ``token``) for the grace."""
        if self.grace <= 0 or not token:
            dealer.close(0)
            return
        self.release(token)  # (one DEALER per session: an older one is not the session's)
        if not self.admission.may_park(key):
            oldest = next(t for t, (_, k) in self._kept.items() if k == key)
            self.release(oldest)
        log.info("session of %s parked for %.0f s (a reload resumes it)", address, self.grace)
        task = asyncio.get_running_loop().create_task(
            self._keep(dealer, token, heartbeat, address))
        self._kept[token] = (task, key)
        self.admission.parked(key)

    def release(self, token: str) -> bool:
        """Close the DEALER parked for ``token``, if any (a new one has its session)."""
        kept = self._kept.pop(token, None)
        if kept is None:
            return False
        task, key = kept
        task.cancel()
        self.admission.unparked(key)
        return True

    def close_all(self) -> None:
        for token in list(self._kept):
            self.release(token)

    async def _keep(self, dealer: zmq.asyncio.Socket, token: str, heartbeat: float,
                    address: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        try:
            while (now := loop.time()) < deadline:
                ping_at = min(now + heartbeat, deadline)
                # (a broker gone quiet fills the queue: the PING waits at most until the next)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(dealer.send(_PING), heartbeat)
                while (left := ping_at - loop.time()) > 0:
                    if await dealer.poll(int(left * 1000) + 1):
                        await dealer.recv_multipart()  # discarded: nobody reads it here now
            log.info("parked session of %s closed: no page came back within %.0f s",
                     address, self.grace)
            if self._kept.get(token, (None, ""))[0] is asyncio.current_task():
                _, key = self._kept.pop(token)
                self.admission.unparked(key)
        finally:
            dealer.close(0)  # no LEAVE: the broker sees the session lost
