"""Signals that wake a ZeroMQ poll loop at once, for the broker and the client alike.

A Python signal handler only runs between bytecodes, so a process blocked in
`zmq.Poller.poll` would notice SIGINT/SIGTERM only at its next timeout. With
`signal.set_wakeup_fd`, the C-level handler also writes a byte to a pipe the
poller watches: the loop wakes, drains the pipe and looks at its stop flag.
"""

import os
import signal
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType


class SignalWakeup:
    """While active: ``handler`` runs for ``signals`` and ``fd`` becomes readable."""

    def __init__(self, signals: Iterable[signal.Signals],
                 handler: Callable[[int, FrameType | None], object]) -> None:
        self._signals = tuple(signals)
        self._handler = handler
        self.fd = -1

    def __enter__(self) -> "SignalWakeup":
        self.fd, self._write_fd = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._write_fd, False)
        self._old_fd = signal.set_wakeup_fd(self._write_fd)
        self._old = {sig: signal.signal(sig, self._handler) for sig in self._signals}
        return self

    def drain(self) -> None:
        """Empty the pipe (call when the poller reports ``fd`` readable)."""
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        signal.set_wakeup_fd(self._old_fd)
        for sig, old in self._old.items():
            signal.signal(sig, old)
        os.close(self.fd)
        os.close(self._write_fd)
