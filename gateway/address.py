"""Addresses: where the gateway listens (--listen) and whom a WebSocket is counted
against (the TCP peer, or the client a trusted proxy names). Pure.
"""

import ipaddress
import re

from zchat.common.addresses import address_group
from zchat.common.addresses import loopback as loopback

#: What one client is counted as: the broker's own rule (common/addresses.py).
address_key = address_group

#: --listen HOST:PORT; HOST an address ([v6] in brackets) or a name.
_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), brackets of an IPv6 host removed; ValueError
    saying what is wrong."""
    match = _LISTEN.fullmatch(value.strip())
    if match is None:
        raise ValueError("expected HOST:PORT (e.g. 127.0.0.1:8080; PORT 0 picks a free one)")
    host, port = match.group(1), int(match.group(2))
    if port > 65535:
        raise ValueError("the port must be 0 to 65535")
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    return host, port


def client_address(peer: str | None, forwarded_for: str | None, forwarded_by: str) -> str:
    """The address a WebSocket is counted against: the TCP peer, unless the peer is the
    trusted proxy (``forwarded_by``, "" for none), whose X-Forwarded-For's last entry
    (the one that proxy added) names the client. Anyone may write the header, so it is
    read from that proxy only, and only its last entry; an entry that is no address
    leaves the peer's."""
    shown = peer or "unknown"
    if not forwarded_by or not forwarded_for or peer is None:
        return shown
    if address_key(peer) != address_key(forwarded_by):
        return shown
    last = forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last.strip("[]")))
    except ValueError:
        return shown
