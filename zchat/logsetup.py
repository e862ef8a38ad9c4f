"""Logging configuration, done once at the CLI entry point and nowhere else."""

import logging
import sys

_FORMAT = "%(asctime)s.%(msecs)03d %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S"


def configure_broker_logging(log_file: str | None) -> None:
    """Stamp every line with date and time; to stderr, and to ``log_file`` if given.

    Raises OSError when the log file cannot be opened, before anything is bound.
    """
    formatter = logging.Formatter(_FORMAT, _DATEFMT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
