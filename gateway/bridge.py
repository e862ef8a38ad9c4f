"""One WebSocket and one DEALER, frame for frame (docs/WEB.md, The WebSocket).

Browser text messages go to the DEALER as one frame each (their UTF-8 octets); each
frame the DEALER receives goes to the browser as one text message. The bridge opens
no frame but the few it must read (the browser's JOIN, PART and LEAVE; the broker's
WELCOME and ENTERED) and changes none. Every send to the browser is awaited, so a
browser that does not read stops the DEALER's reading: what waits is bounded by
aiohttp's writer limit and the DEALER's queue, and the broker's slow-consumer rules
then apply to the session as to any client that does not read.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp
import zmq
import zmq.asyncio
from aiohttp import web

from zchat.protocol import (
    Entered,
    Join,
    Part,
    ProtocolError,
    Welcome,
    decode_broker,
    decode_client,
    room_key,
)
from zchat.protocol import constants as c

from .feed import Feed, feed_endpoint
from .parking import Parking
from .settings import Settings

log = logging.getLogger(__name__)

#: What the bridge reads, by the start of the frame (anything else passes unopened).
_JOIN = c.HEADER + b"JOIN "
_PART = c.HEADER + b"PART "
_LEAVE = c.HEADER + b"LEAVE"
_WELCOME = c.HEADER + b"WELCOME "
_ENTERED = c.HEADER + b"ENTERED "

#: Why a bridge ended, as the log says it.
CLOSED_BY_PAGE = "closed by the page"
IDLE = "idle"
BINARY = "binary message"
TOO_BIG = "message too big"
STOPPING = "gateway stopping"


def open_dealer(ctx: zmq.asyncio.Context, settings: Settings) -> zmq.asyncio.Socket:
    """A DEALER with the reference client's options (PROTOCOL.md, Socket options),
    connected to the broker."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, c.MAX_BROKER_FRAME_BYTES)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    if settings.curve is not None:
        settings.curve.apply(sock)  # (all three keys before connect, or it speaks plaintext)
    sock.connect(settings.connect)
    return sock


class Bridge:
    """The life of one WebSocket: from the upgrade to its close, then the DEALER's end
    (closed, or parked when the session should survive a reload)."""

    def __init__(self, ws: web.WebSocketResponse, ctx: zmq.asyncio.Context,
                 settings: Settings, parking: Parking, address: str, key: str,
                 stopping: Callable[[], bool]) -> None:
        self.ws = ws
        self.ctx = ctx
        self.settings = settings
        self.parking = parking
        self.address = address
        self.key = key
        self._stopping = stopping
        self.dealer = open_dealer(ctx, settings)
        self.feed: Feed | None = None
        self._feed_task: asyncio.Task[None] | None = None
        #: The token of the page's last JOIN: a parked DEALER of that session goes once
        #: this DEALER's WELCOME has passed.
        self.token = ""
        self.welcome: Welcome | None = None
        self.left = False
        self._send_lock = asyncio.Lock()

    async def run(self) -> str:
        """Bridge until the WebSocket closes; why it did."""
        from_broker = asyncio.get_running_loop().create_task(self._from_broker())
        try:
            return await self._from_browser()
        finally:
            from_broker.cancel()
            (ended,) = await asyncio.gather(from_broker, return_exceptions=True)
            if isinstance(ended, Exception):
                log.error("bridge of %s: reading the broker failed", self.address,
                          exc_info=ended)
            self._close_feed()
            self._settle()

    # ---- browser to broker --------------------------------------------------

    async def _from_browser(self) -> str:
        ws = self.ws
        while True:
            try:
                msg = await ws.receive(timeout=self.settings.idle_timeout)
            except TimeoutError:
                await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION,
                               message=b"idle: no message within --idle-timeout")
                return IDLE
            if msg.type is aiohttp.WSMsgType.TEXT:
                frame = str(msg.data).encode("utf-8")
                if len(frame) > c.MAX_FRAME_BYTES:  # (aiohttp's max_msg_size catches it first)
                    await ws.close(code=aiohttp.WSCloseCode.MESSAGE_TOO_BIG)
                    return TOO_BIG
                self._read_browser(frame)
                await self.dealer.send(frame)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await ws.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA,
                               message=b"text messages only")
                return BINARY
            elif msg.type is aiohttp.WSMsgType.ERROR:
                # aiohttp closed it already: over max_msg_size (1009) or malformed
                return TOO_BIG if ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG \
                    else f"error {ws.close_code}"
            else:  # CLOSE, CLOSING, CLOSED
                return STOPPING if self._stopping() else CLOSED_BY_PAGE

    def _read_browser(self, frame: bytes) -> None:
        """The three frames of the page's the gateway acts on; the rest pass unread."""
        if frame.startswith(_LEAVE):
            self.left = True
        elif frame.startswith(_JOIN):
            with contextlib.suppress(ProtocolError):
                msg = decode_client(frame)
                if isinstance(msg, Join):
                    self.token = msg.token
        elif frame.startswith(_PART) and self.feed is not None:
            with contextlib.suppress(ProtocolError):
                msg = decode_client(frame)
                if isinstance(msg, Part):
                    self.feed.follow(room_key(msg.room), on=False)  # before the PART goes

    # ---- broker to browser --------------------------------------------------

    async def _from_broker(self) -> None:
        while True:
            for frame in await self.dealer.recv_multipart():
                welcome = self._read_welcome(frame)
                try:
                    text = frame.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # a client ignores what it cannot decode
                if not await self._send(text):
                    return
                if welcome is not None and welcome.session == self.token:
                    # The broker honoured the token: the session is this DEALER's now (a
                    # token it did not honour opened another session: a parked one stays).
                    self.parking.release(welcome.session)
                elif frame.startswith(_ENTERED) and self.feed is not None:
                    with contextlib.suppress(ProtocolError):
                        entered = decode_broker(frame)
                        if isinstance(entered, Entered):
                            self.feed.follow(room_key(entered.room))

    def _read_welcome(self, frame: bytes) -> Welcome | None:
        """A WELCOME: note the session, and (re)open the feed in pub mode."""
        if not frame.startswith(_WELCOME):
            return None
        try:
            welcome = decode_broker(frame)
        except ProtocolError:
            return None
        if not isinstance(welcome, Welcome):
            return None
        self.welcome = welcome
        self._close_feed()
        if welcome.fanout == c.FANOUT_PUB:
            endpoint = feed_endpoint(self.settings.connect, welcome.feeds)
            if endpoint is not None:
                default = room_key(welcome.room) if welcome.room else ""
                rooms = [room_key(room) for room, _ in welcome.rooms
                         if room_key(room) != default]
                self.feed = Feed(self.ctx, endpoint, welcome.session, rooms,
                                 self.settings.curve)
                self._feed_task = asyncio.get_running_loop().create_task(
                    self.feed.pump(self._send))
        return welcome

    async def _send(self, data: str | bytes) -> bool:
        """One message to the page, awaited (backpressure); False once it is closed."""
        if self.ws.closed:
            return False
        async with self._send_lock:
            try:
                if isinstance(data, str):
                    await self.ws.send_str(data)
                else:
                    await self.ws.send_bytes(data)
            except (ConnectionError, RuntimeError):
                return False
        return True

    # ---- the end --------------------------------------------------------------

    def _close_feed(self) -> None:
        if self._feed_task is not None:
            self._feed_task.cancel()
            self._feed_task = None
        if self.feed is not None:
            self.feed.close()
            self.feed = None

    def _settle(self) -> None:
        """Park the DEALER of a session the page may come back to; close any other
        (after a LEAVE, with a moment for it to go, as the reference client does)."""
        welcome = self.welcome
        if welcome is not None and not self.left and not self._stopping():
            self.parking.park(self.dealer, welcome.session, welcome.heartbeat, self.key,
                              self.address)
        else:
            self.dealer.close(1000 if self.left else 0)
