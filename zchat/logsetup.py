"""Logging configuration, done once at the CLI entry point and nowhere else."""

import logging
import sys

from zchat.broker.journal import Journal


def configure_broker_logging(log_file: str | None) -> Journal:
    """Every log line, stamped with date and time, to stderr and to ``log_file`` if given.

    Returns the journal, which the broker flushes once per poll cycle. Raises
    OSError when the log file cannot be opened, before anything is bound.
    """
    streams = [sys.stderr]
    if log_file:
        streams.append(open(log_file, "a", encoding="utf-8"))
    journal = Journal(streams)
    root = logging.getLogger()
    root.addHandler(journal)
    root.setLevel(logging.INFO)
    return journal
