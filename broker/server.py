"""The broker process: one ROUTER, one poller loop, signals and deadlines.

This is the only module that sends. It drains the ROUTER in bounded batches,
hands each message to BrokerCore and carries out the actions it returns.
The store is committed before anything is sent. Sends never block: a peer
that is gone (EHOSTUNREACH, thanks to ROUTER_MANDATORY) is dropped and
announced; one whose queue is full (EAGAIN) misses that event and is told to
catch up from history (BrokerCore.lagging).
"""

import errno
import logging
import os
import signal
import time
from collections.abc import Iterable, Sequence

import zmq

from zchat.protocol import constants as c

from .core import Action, BrokerCore, Fanout
from .store import StoreError

log = logging.getLogger(__name__)

#: Messages read per poll wake-up before timers get a turn.
BATCH = 500
#: Outbound queue bound per client; past it the client misses events and catches up.
SEND_HWM = 10_000
#: How long closing waits to flush BYE frames on shutdown.
LINGER_MS = 500


class BindError(Exception):
    """An endpoint could not be bound: in use, malformed, or not permitted."""

    def __init__(self, endpoint: str, reason: str, in_use: bool) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason
        self.in_use = in_use


class BrokerServer:
    """Owns the context, the ROUTER socket and the loop around a BrokerCore."""

    def __init__(self, core: BrokerCore, endpoints: Sequence[str]) -> None:
        self.core = core
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, LINGER_MS)
        # Unroutable sends must raise, not vanish: that is how a gone peer is noticed.
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # Oversized frames are refused by libzmq before they reach Python.
        self.router.setsockopt(zmq.MAXMSGSIZE, c.MAX_FRAME_BYTES)
        self.router.setsockopt(zmq.SNDHWM, SEND_HWM)
        self.router.setsockopt(zmq.BACKLOG, 4096)
        self.endpoints: list[str] = []
        try:
            for endpoint in endpoints:
                self._bind(endpoint)
        except BindError:
            self.close(linger=0)
            raise
        self._stop = False

    def _bind(self, endpoint: str) -> None:
        try:
            self.router.bind(endpoint)
        except zmq.ZMQError as exc:
            raise BindError(endpoint, exc.strerror, exc.errno == errno.EADDRINUSE) from None
        last = self.router.getsockopt(zmq.LAST_ENDPOINT)
        self.endpoints.append(last.decode() if isinstance(last, bytes) else str(last))

    # ---- running --------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; returns how many clients were told BYE."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        # A signal writes to the pipe, which wakes the poller at once.
        old_fd = signal.set_wakeup_fd(wake_w)
        old_int = signal.signal(signal.SIGINT, self.request_stop)
        old_term = signal.signal(signal.SIGTERM, self.request_stop)
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(wake_r, zmq.POLLIN)
        try:
            while not self._stop:
                self._flush(self.core.tick(time.monotonic()))
                timeout_ms = max(0.0, self.core.next_deadline() - time.monotonic()) * 1000
                events = dict(poller.poll(timeout_ms))
                if wake_r in events:
                    _drain_fd(wake_r)
                if self.router in events:
                    self._flush(self._drain())
            told = len(self.core.roster)
            self._flush(self.core.shutdown())
            return told
        finally:
            signal.set_wakeup_fd(old_fd)
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            os.close(wake_r)
            os.close(wake_w)

    def _drain(self) -> list[Action]:
        """Read up to BATCH messages and return what the core says to do about them."""
        router = self.router
        core = self.core
        actions: list[Action] = []
        for _ in range(BATCH):
            try:
                identity = router.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            frames: list[bytes] = []
            peer = ""
            while router.getsockopt(zmq.RCVMORE):
                part = router.recv(copy=False)
                if len(frames) < 2:  # more than one frame is an error; keep it bounded
                    data = part.bytes
                    frames.append(data)
                    if data.startswith(b"ZCHAT/1 JOIN"):
                        peer = _peer_address(part)
            try:
                actions.extend(core.handle(identity, frames, time.monotonic(), peer))
            except StoreError:
                raise
            except Exception:
                # A bug must not let one client's frame stop everyone's chat.
                log.exception("unexpected error handling a frame from %s", identity.hex())
        return actions

    def _flush(self, actions: list[Action]) -> None:
        """Commit the store, then send: nothing goes out that a crash could lose."""
        while actions:
            self.core.commit()
            actions = self._perform(actions)

    def _perform(self, actions: Iterable[Action]) -> list[Action]:
        """Send everything; return the actions that dropping unreachable peers causes."""
        gone: list[bytes] = []
        router = self.router
        core = self.core
        for action in actions:
            if type(action) is Fanout:
                frame = action.frame
                exclude = action.exclude
                for identity in core.roster.identities():
                    if identity != exclude:
                        status = _send(router, identity, frame)
                        if status is not SENT:
                            self._missed(identity, status, gone)
            else:
                status = _send(router, action.identity, action.frame)
                if status is not SENT:
                    self._missed(action.identity, status, gone)
        more: list[Action] = []
        for identity in gone:
            more.extend(core.drop_identity(identity, c.R_LOST))
        return more

    def _missed(self, identity: bytes, status: str, gone: list[bytes]) -> None:
        if status is GONE:
            gone.append(identity)  # dropped after the loop, not while iterating the roster
        else:
            self.core.lagging(identity)

    def close(self, linger: int | None = None) -> None:
        self.router.close(linger=linger)
        self.ctx.term()


SENT, FULL, GONE = "sent", "full", "gone"


def _send(router: zmq.Socket, identity: bytes, frame: bytes) -> str:
    """Send one message without blocking: SENT, FULL (queue at its high-water
    mark: the peer misses this event) or GONE (EHOSTUNREACH: no such peer)."""
    try:
        router.send(identity, zmq.SNDMORE | zmq.NOBLOCK)
        router.send(frame, zmq.NOBLOCK)
    except zmq.Again:
        return FULL
    except zmq.ZMQError as exc:
        if exc.errno == errno.EHOSTUNREACH:
            return GONE
        raise
    return SENT


def _peer_address(frame: zmq.Frame) -> str:
    try:
        return frame.get("Peer-Address")
    except (zmq.ZMQError, KeyError, AttributeError):
        return ""


def _drain_fd(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
