"""The gateway's server: the page's files, the WebSocket at /ws and their checks, on
one aiohttp server; and its start and stop (docs/WEB.md).

Every HTTP response carries the security headers (a strict CSP: the page's own
scripts, styles and WebSocket only). The upgrade is refused with 403 for an Origin
that is not the page's (or an --allow-origin), and with 429 beyond the limits; each
accepted WebSocket is a Bridge (bridge.py) until it closes.
"""

import asyncio
import logging
import signal
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp
import zmq.asyncio
from aiohttp import web

from zchat.protocol import constants as c

from .address import address_key, client_address
from .bridge import Bridge
from .limits import Admission
from .origin import normal_origin, origin_problem
from .parking import Parking
from .settings import Settings
from .static import content_type, relative_path, resolve
from .throttle import Throttle

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
WS_PATH = "/ws"
#: Seconds a closing handshake may take before the connection is dropped.
_CLOSE_TIMEOUT = 2.0


def installed_page() -> Path:
    """The page's files as installed (the zchat.web package's folder)."""
    return Path(str(files("zchat.web")))


class Gateway:
    """What the server holds: the ZeroMQ context, the bridges, the parked DEALERs and
    the counts; ``app()`` is the aiohttp application serving ``root``."""

    def __init__(self, settings: Settings, root: Path | None = None) -> None:
        """``root``: the folder whose files are the page (default: the installed one)."""
        self.settings = settings
        self.root = installed_page() if root is None else root
        self.ctx = zmq.asyncio.Context()
        self.admission = Admission(settings.max_per_address, settings.max_connections)
        self.parking = Parking(self.admission, settings.resume_grace)
        self.bridges: set[Bridge] = set()
        self.stopping = False
        self._allowed = frozenset(normal_origin(o) for o in settings.allow_origins)
        self._throttle = Throttle()

    def app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(_secure)
        app.router.add_get(WS_PATH, self.websocket)
        app.router.add_get("/{path:.*}", self.page)  # (add_get also answers HEAD)
        return app

    # ---- the page -----------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        relative = relative_path(request.raw_path)
        target = None if relative is None else resolve(self.root, relative)
        if target is None:
            raise web.HTTPNotFound(text="not found\n")
        return web.FileResponse(target, headers={"Content-Type": content_type(target)})

    # ---- the WebSocket ----------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        address = client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                 self.settings.forwarded_by)
        key = address_key(address)
        problem = origin_problem(request.headers.get("Origin"), request.headers.get("Host"),
                                 self._allowed)
        if problem is not None:
            self._refused("origin", address, problem)
            raise web.HTTPForbidden(text="forbidden: this page's origin only\n")
        if self.stopping:
            raise web.HTTPServiceUnavailable(text="the gateway is stopping\n")
        problem = self.admission.open_problem(key)
        if problem is not None:
            self._refused("limit", address, problem)
            raise web.HTTPTooManyRequests(text="too many connections\n")
        ws = web.WebSocketResponse(max_msg_size=c.MAX_FRAME_BYTES + 1,  # (aiohttp: < max)
                                   compress=False, timeout=_CLOSE_TIMEOUT)
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="a WebSocket upgrade is expected here\n")
        self.admission.opened(key)
        why = "upgrade failed"
        try:
            await ws.prepare(request)
            self._connection_line("opened", key, "WebSocket from %s opened", address)
            bridge = Bridge(ws, self.ctx, self.settings, self.parking, address, key,
                            lambda: self.stopping)
            self.bridges.add(bridge)
            try:
                why = await bridge.run()
            finally:
                self.bridges.discard(bridge)
        finally:
            self.admission.closed(key)
            self._connection_line("closed", key, "WebSocket from %s closed: %s", address, why)
        return ws

    def _refused(self, kind: str, address: str, why: str) -> None:
        """Log a refused upgrade, at most once a second for each kind."""
        unsaid = self._throttle.allow(f"refused {kind}", asyncio.get_running_loop().time())
        if unsaid is not None:
            more = f" (and {unsaid} more refused since the last line)" if unsaid else ""
            log.info("WebSocket from %s refused: %s%s", address, why, more)

    def _connection_line(self, kind: str, key: str, fmt: str, *args: Any) -> None:
        """An opened or closed line, at most once a second per address and kind (a
        page could open and close in a loop)."""
        unsaid = self._throttle.allow(f"{kind} {key}", asyncio.get_running_loop().time())
        if unsaid is not None:
            log.info(fmt + (f" ({unsaid} more since the last line)" if unsaid else ""),
                     *args)

    # ---- the end --------------------------------------------------------------

    async def stop(self) -> None:
        """Close every WebSocket with 1001 and every parked DEALER (each bridge closes
        its own DEALER as its WebSocket closes)."""
        self.stopping = True
        await asyncio.gather(*(bridge.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY,
                                               message=b"gateway stopping")
                               for bridge in list(self.bridges)),
                             return_exceptions=True)
        self.parking.close_all()

    def close(self) -> None:
        self.ctx.destroy(linger=0)


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    """The security headers, on every response (errors too)."""
    response.headers.update(SECURITY_HEADERS)
    if response.content_type == "text/html" or \
            response.headers.get("Content-Type", "").startswith("text/html"):
        response.headers["Cache-Control"] = "no-cache"


async def serve(settings: Settings, host: str, port: int, root: Path | None,
                ready: Callable[[int], None]) -> None:
    """Serve until SIGTERM or SIGINT; ``ready(port)`` once listening. Raises OSError
    when ``host:port`` cannot be listened on."""
    gateway = Gateway(settings, root)
    runner = web.AppRunner(gateway.app(), access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        ready(runner.addresses[0][1])
        await stop.wait()
        await gateway.stop()
    finally:
        await runner.cleanup()
        gateway.parking.close_all()
        gateway.close()
