"""The audit log (issue 19): one JSON line per moderation action, who did what to
whom, why and when, appended and flushed as it happens, readable by the broker's
owner only. The core hands it each action as a dict (moderation.py); it never
reads it back."""

import json
import logging
import os
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)


class AuditLog:
    """Appends one line per action to ``path`` (made owner-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # (a file made before, by hand, is tightened too)
        self._out: TextIO = os.fdopen(fd, "a", encoding="utf-8")

    def __call__(self, entry: dict[str, object]) -> None:
        try:
            self._out.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            self._out.flush()
        except OSError as exc:  # the action stands; the operator's log says what was lost
            log.error("cannot write the audit log %s: %s (%s)", self.path, exc.strerror,
                      json.dumps(entry, ensure_ascii=False))

    def close(self) -> None:
        self._out.close()
