"""The cluster reader: a thread that reads the shared logs and this broker's inbox.

The broker's state stays single-threaded: this thread only talks to Redis and
queues what it read; a byte on an inproc PAIR socket wakes the main loop,
which takes the queue (RedisCluster.take). It also keeps this broker's lease
alive and, once per interval, lets Redis announce the users of brokers whose
lease expired as gone (the `sweep` script operation, atomic, so one broker
does it). When Redis fails it queues DOWN, reconnects with backoff, and
queues UP when reading works again.
"""

import logging
import threading
import time
from collections import deque
from typing import Any, cast

import redis
import zmq

from .backplane import DOWN, EVENT, RESYNC, UP
from .cluster_script import CID_TTL, SCRIPT, Entry, entry_event
from .store import StoredEvent

log = logging.getLogger(__name__)

#: Entries read per XREAD.
READ_COUNT = 1000
MAX_BACKOFF = 2.0


class ClusterReader(threading.Thread):
    def __init__(self, url: str, prefix: str, me: str, interval: float, lease_ms: float,
                 start_id: bytes, ctx: zmq.Context[Any], wake_endpoint: str,
                 retain: int, room_start_id: bytes = b"0-0") -> None:
        super().__init__(name="zchat-cluster-reader", daemon=True)
        self.url, self.p, self.me = url, prefix, me
        self.interval = interval
        self.lease_ms = lease_ms
        self.retain = retain
        self._ids = {(prefix + "log").encode(): start_id, (prefix + "i:" + me).encode(): b"0-0",
                     (prefix + "rlog").encode(): room_start_id}
        self._inbox = (prefix + "i:" + me).encode()
        self._ctx = ctx
        self._endpoint = wake_endpoint
        self._items: deque[tuple[str, StoredEvent | None, str]] = deque()
        self._stopping = threading.Event()  # (not _stop: Thread has one)
        # Block at most this long in XREAD, so the lease is renewed in time and
        # stopping is quick.
        self._block_ms = max(10, min(500, int(interval * 1000 / 3)))

    def take(self) -> list[tuple[str, StoredEvent | None, str]]:
        items = []
        while self._items:
            items.append(self._items.popleft())
        return items

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=2 + self._block_ms / 1000)

    def run(self) -> None:
        wake = self._ctx.socket(zmq.PAIR)
        wake.setsockopt(zmq.SNDHWM, 1)  # one pending wake-up is enough
        wake.connect(self._endpoint)
        backoff = 0.1
        down = False
        try:
            while not self._stopping.is_set():
                try:
                    self._serve(wake, down)
                except redis.RedisError as exc:
                    if not down:
                        log.warning("cluster reader lost Redis: %s; retrying", exc)
                        self._post(wake, (DOWN, None, ""))
                    down = True
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
        finally:
            wake.close(0)

    def _serve(self, wake: zmq.Socket[bytes], was_down: bool) -> None:
        from .cluster import connect  # (cluster imports this module)

        r = connect(self.url, self._block_ms / 1000 + 2.0)
        try:
            lua = r.register_script(SCRIPT)
            uptime = int(r.info("server").get("uptime_in_seconds", 0))
            # Just after a Redis restart every lease looks expired: wait until every
            # live broker has reconnected (within MAX_BACKOFF) and renewed its own.
            grace = self.lease_ms / 1000 + MAX_BACKOFF + self.interval + 1  # (+1: whole seconds)
            sweep_after = time.monotonic() + max(0.0, grace - uptime)
            if was_down:
                self._post(wake, (UP, None, ""))
            next_lease = next_sweep = 0.0
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_lease:
                    alive = lua(args=["lease", self.p, self.me, int(self.lease_ms)])
                    if not alive:  # expired: the others may have announced our users gone
                        self._post(wake, (RESYNC, None, ""))
                    next_lease = now + self.interval
                if now >= next_sweep and now >= sweep_after:
                    lua(args=["sweep", self.p, self.me, repr(time.time()), self.retain,
                              CID_TTL])
                    next_sweep = now + self.interval
                got = cast("list[tuple[bytes, list[Entry]]]",
                           r.xread(self._ids, count=READ_COUNT,  # type: ignore[arg-type]
                                   block=self._block_ms))
                if got:
                    self._queue(got)
                    self._wake(wake)
        finally:
            r.close()

    def _queue(self, got: list[tuple[bytes, list[Entry]]]) -> None:
        """Queue what one XREAD brought, in seq order across its streams (the public
        log, the room log, the inbox: each in seq order already; a topic change, not
        numbered, keeps its place after what came before it on the room log)."""
        read: list[tuple[int, tuple[str, StoredEvent | None, str]]] = []
        for stream, entries in got:
            inbox = stream == self._inbox
            place = 0
            for entry_id, fields in entries:
                event = entry_event(entry_id, fields)
                reader = fields.get(b"f", b"").decode() if inbox else ""
                place = event.seq or place
                read.append((place, (EVENT, event, reader)))
            self._ids[stream] = entries[-1][0]
        if len(got) > 1:
            read.sort(key=_place)
        self._items.extend(item for _, item in read)

    def _post(self, wake: zmq.Socket[bytes], item: tuple[str, StoredEvent | None, str]
              ) -> None:
        self._items.append(item)
        self._wake(wake)

    @staticmethod
    def _wake(wake: zmq.Socket[bytes]) -> None:
        try:
            wake.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # a wake-up is already pending


def _place(item: tuple[int, object]) -> int:
    return item[0]
