"""Which pages may open a WebSocket: the Origin check at the upgrade. Pure.

A browser sends the Origin of the page that opens a WebSocket, and lets any page
open one to any host; without this check, a page elsewhere could chat through a
visitor's browser as that visitor. The page's own origin is the Host the request was
sent to, over http or https (behind a TLS proxy the gateway itself sees http).
"""

from collections.abc import Collection


def normal_origin(origin: str) -> str:
    """``origin`` as compared: scheme and host are case-insensitive, no trailing slash."""
    return origin.strip().rstrip("/").lower()


def origin_problem(origin: str | None, host: str | None, allowed: Collection[str]) -> str | None:
    """Why a WebSocket upgrade with this Origin, sent to this Host, is refused, or None.

    ``allowed``: the --allow-origin values, already normal_origin()'d."""
    if not origin:
        return "no Origin header"
    seen = normal_origin(origin)
    if seen == "null":
        return "Origin null (a sandboxed or local page)"
    if host:
        own = host.strip().lower()
        if seen in (f"http://{own}", f"https://{own}"):
            return None
    if seen in allowed:
        return None
    return "Origin is not this page's nor an --allow-origin"


def origin_option_problem(value: str) -> str | None:
    """Why an --allow-origin value cannot be an Origin browsers send, or None."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return "expected http://HOST[:PORT] or https://HOST[:PORT]"
    if not rest or "/" in rest.rstrip("/") or any(ch.isspace() for ch in rest):
        return "an origin is a scheme and a host (and port), no path"
    return None
