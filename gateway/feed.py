"""The `--fanout pub` feed of one bridge: a SUB beside its DEALER (PROTOCOL.md,
Fan-out modes). Its messages go to the browser as binary WebSocket messages, so the
page tells them from the DEALER's; the page never sees the SUB's subscriptions, which
the gateway makes from the frames it reads (WELCOME, ENTERED, PART).
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence

import zmq
import zmq.asyncio

from zchat.common.curve import Curve
from zchat.protocol import constants as c
from zchat.protocol import room_topic


def feed_endpoint(dialled: str, feeds: Sequence[str]) -> str | None:
    """The feed to connect to, for the transport the gateway dialled: over tcp the
    entry on the dialled host, else a ``tcp://*:P`` one with ``*`` as that host; over
    ipc an ipc entry; None when there is none (the page then fetches: no feed)."""
    if dialled.startswith("tcp://"):
        host = dialled[len("tcp://"):].rsplit(":", 1)[0]
        for feed in feeds:
            if feed.startswith(f"tcp://{host}:"):
                return feed
        for feed in feeds:
            if feed.startswith("tcp://*:"):
                return feed.replace("tcp://*:", f"tcp://{host}:", 1)
        return None
    if dialled.startswith("ipc://"):
        return next((feed for feed in feeds if feed.startswith("ipc://")), None)
    return None


class Feed:
    """One SUB on the broker's feed, subscribed as a client's (everything, its session,
    its rooms' topics), and what it reads handed to ``deliver``."""

    def __init__(self, ctx: zmq.asyncio.Context, endpoint: str, session: str,
                 rooms: Iterable[str], curve: Curve | None) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, c.MAX_BROKER_FRAME_BYTES)
        if curve is not None:
            curve.apply(self.sock)  # (before connect, or it speaks plaintext)
        self._topics: set[bytes] = set()
        for topic in (b"", c.FEED_TOPIC + session.encode("ascii", "replace")):
            self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        for room in rooms:
            self.follow(room)
        self.sock.connect(endpoint)

    def follow(self, room: str, on: bool = True) -> None:
        """Subscribe to ``room``'s topic (a room key), or unsubscribe: the broker applies
        a room's topic only while the session is in it, hence after ENTERED, and a
        subscriber that still has the topic of a room its session parts loses its feed
        connection, hence before PART."""
        topic = room_topic(room)
        if (topic in self._topics) == on:
            return
        self.sock.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, topic)
        if on:
            self._topics.add(topic)
        else:
            self._topics.discard(topic)

    async def pump(self, deliver: Callable[[bytes], Awaitable[bool]]) -> None:
        """Hand the last frame of each feed message to ``deliver``, awaited, until it
        returns False: a browser that does not read stops this read, and the SUB's
        queue, then the broker's (which drops for a slow subscriber), bound what waits."""
        while True:
            frames = await self.sock.recv_multipart()
            if not await deliver(frames[-1]):
                return

    def close(self) -> None:
        self.sock.close(0)
