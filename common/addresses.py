"""Network addresses as the broker and the gateway count and judge them. Pure.

Both bound what one client may hold by its address, and both warn when they listen
beyond this machine: one rule each, so the two cannot drift apart.
"""

import ipaddress

#: The address key of peers without one (Unix sockets): not limited per address.
LOCAL = ""


def loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (a name other than
    localhost may resolve to anything: it is taken as reachable)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_group(peer: str) -> str:
    """The key one client's connections are counted under: an IPv4 address, the /64 of
    an IPv6 one (one host holds a whole /64; an IPv4-mapped IPv6 address counts as its
    IPv4), LOCAL for none, and a string that is no address as itself."""
    if not peer:
        return LOCAL
    try:
        ip = ipaddress.ip_address(peer.strip("[]").split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
