"""The broker's log: every line stamped with date and time, written once per poll cycle.

Logging every chat message is a requirement, and through the `logging`
module it was most of the broker's per-message time (docs/PERFORMANCE.md,
What was tried). The journal is a
logging handler (so every record, from any module, lands in order) with a
fast path, `line`, for the per-message events: it builds the line with a
timestamp prefix cached per second and buffers it; `flush` writes the
buffer to every stream once per poll cycle.
"""

import logging
import time
from typing import TextIO


class Journal(logging.Handler):
    def __init__(self, streams: list[TextIO]) -> None:
        super().__init__(logging.INFO)
        self.streams = streams
        self._lines: list[str] = []
        self._second = -1
        self._date = ""  # (date and time to the second)
        self._milli = -1
        self._prefix = ""  # (the whole stamp, to the millisecond, and a space)

    def line(self, text: str) -> None:
        """Add one stamped line (the hot path: no LogRecord, no formatting machinery;
        the stamp made once a millisecond, which many lines share under load)."""
        milli = int(time.time() * 1000)
        if milli != self._milli:
            self._milli = milli
            second = milli // 1000
            if second != self._second:
                self._second = second
                self._date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._prefix = f"{self._date}.{milli % 1000:03d} "
        self._lines.append(self._prefix + text + "\n")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.line(record.getMessage())
            if record.exc_info:
                self._lines.append(logging.Formatter().formatException(record.exc_info) + "\n")
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if not self._lines:
            return
        data = "".join(self._lines)
        self._lines.clear()
        for stream in self.streams:
            try:
                stream.write(data)
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must not stop the broker

    def close(self) -> None:
        self.flush()
        super().close()
