"""Reading what a broker sends a raw peer, as messages and events rather than bytes.

One frame decoded, the next message of a kind, and the events a message carries:
a live EVENTS batch (the public events of one broker cycle) stands for its events,
each as if it had come alone, so a test reads events whatever the batching. Every
read is bounded by a timeout. Used by the harness's RawPeer and by the raw-socket
scenarios; it sends nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import zmq

from zchat.protocol import BrokerMessage, Error, Events, decode_broker
from zchat.protocol import constants as c

#: How long any one wait of a scenario may take (the harness uses it too).
DEFAULT_TIMEOUT = 10.0

M = TypeVar("M")


def read(sock: zmq.Socket[bytes], timeout: float = DEFAULT_TIMEOUT) -> BrokerMessage:
    """The next message on ``sock``, decoded."""
    msg = _receive(sock, timeout)
    if msg is None:
        raise AssertionError(f"no frame within {timeout}s")
    return msg


def _receive(sock: zmq.Socket[bytes], timeout: float) -> BrokerMessage | None:
    """The next message, or None after ``timeout`` seconds."""
    if not sock.poll(max(timeout, 0.0) * 1000, zmq.POLLIN):
        return None
    parts = sock.recv_multipart()
    assert len(parts) == 1, f"the broker sends one frame per message, not {parts!r}"
    return decode_broker(parts[0])


def live_events(msg: BrokerMessage) -> tuple[BrokerMessage, ...]:
    """The events ``msg`` stands for: those of a live batch, else ``msg`` itself."""
    if isinstance(msg, Events) and msg.kind == c.K_LIVE:
        return msg.events
    return (msg,)


def next_of(sock: zmq.Socket[bytes], kind: type[M], timeout: float = DEFAULT_TIMEOUT) -> M:
    """The next ``kind`` message, skipping others (PINGs, events); an ERROR, unless
    ``kind`` is Error, fails at once with its code."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        if (msg := _receive(sock, remaining)) is None:
            break
        if isinstance(msg, kind):
            return msg
        if isinstance(msg, Error):
            raise AssertionError(f"expected {kind.__name__}, got ERROR {msg.code}: {msg.detail}")
        seen.append(type(msg).__name__)
    raise AssertionError(f"no {kind.__name__} within {timeout}s (saw {seen[-5:]})")


def next_batch(sock: zmq.Socket[bytes], kind: str, timeout: float = DEFAULT_TIMEOUT) -> Events:
    """The next EVENTS batch of ``kind`` (c.K_REPLAY, c.K_HISTORY...), skipping others."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        batch = next_of(sock, Events, remaining)
        if batch.kind == kind:
            return batch
    raise AssertionError(f"no {kind} batch within {timeout}s")


def next_event(sock: zmq.Socket[bytes], wanted: Callable[[BrokerMessage], bool],
               timeout: float = DEFAULT_TIMEOUT, what: str = "wanted event") -> BrokerMessage:
    """The next event, alone or in a live batch, for which ``wanted`` is true."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if (msg := _receive(sock, remaining)) is None:
            break
        for event in live_events(msg):
            if wanted(event):
                return event
    raise AssertionError(f"no {what} within {timeout}s")


def error_code(frame: bytes) -> str:
    """The code of an ERROR frame (fails if ``frame`` is anything else)."""
    msg = decode_broker(frame)
    assert isinstance(msg, Error), frame
    return msg.code
