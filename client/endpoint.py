"""Check a --connect endpoint before any traffic, so a typo is a usage error.

Connecting a throwaway socket to check it would open a real connection (and
an encrypted broker would log it as a failed handshake), so the two
transports zchat supports are checked by their syntax instead.
"""

import re

_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be connected to, or None."""
    if endpoint.startswith("ipc://"):
        return None if len(endpoint) > len("ipc://") else "an ipc endpoint needs a path"
    match = _TCP.fullmatch(endpoint)
    if match is None:
        return "expected tcp://HOST:PORT or ipc://PATH"
    if not 1 <= int(match.group(2)) <= 65535:
        return "the port must be 1 to 65535"
    return None
