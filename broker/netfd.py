"""What the kernel knows about one of libzmq's connections, and how to end one.

libzmq hides its TCP connections: a ROUTER cannot say how many bytes it holds
for a peer, nor close one. The descriptors are still ours (the socket monitor
names them, and each message carries its source descriptor, ZMQ_SRCFD), so
this module asks the kernel directly: who is on the other end, how much of
what we sent it has not left this machine, and, to shed a connection, shuts
it down under libzmq's feet (libzmq then sees the peer gone and frees the
pipe with everything queued in it). A descriptor number is reused as soon as
libzmq closes it, so every action names the socket's inode too and does
nothing if the number now belongs to another socket.

Linux first: elsewhere `unsent` returns None (the caller then relies on
libzmq's high-water mark alone). Nothing here raises on a closed or reused
descriptor; it answers None or False.
"""

import ctypes
import errno
import fcntl
import logging
import os
import resource
import secrets
import socket
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

#: struct tcp_info: tcpi_notsent_bytes (Linux 4.6+) lies at this offset.
_NOTSENT_OFFSET = 144
_TCP_INFO_SIZE = 160
#: Linux SIOCOUTQ (= TIOCOUTQ): for a Unix stream socket, the bytes the peer has not read.
_SIOCOUTQ = 0x5411
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_LINGER_ABORT = struct.pack("ii", 1, 0)


@contextmanager
def _borrowed(fd: int) -> Iterator[socket.socket | None]:
    """A socket object on ``fd`` itself, given back (detached, never closed) after.

    Not a duplicate: when a connection storm has filled the descriptor table, a
    dup would fail exactly when connections must be looked at and shed."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        yield None
        return
    try:
        yield sock
    finally:
        sock.detach()


def inode(fd: int) -> int:
    """The inode of the socket open on ``fd``, or 0 if ``fd`` is not an open socket."""
    try:
        st = os.fstat(fd)
    except OSError:
        return 0
    return st.st_ino if stat.S_ISSOCK(st.st_mode) else 0


def describe(fd: int) -> tuple[int, str, str] | None:
    """(inode, peer address, local address) of the connection on ``fd``; None if it
    is gone. The peer address is "" for a Unix socket; the local one is what the
    listener bound ("host:port", or the path)."""
    ino = inode(fd)
    if not ino:
        return None
    with _borrowed(fd) as sock:
        if sock is None:
            return None
        try:
            peer = sock.getpeername()
            local = sock.getsockname()
        except OSError:
            return None
    return ino, _host(peer), _where(local)


def _host(addr: object) -> str:
    if isinstance(addr, tuple):
        return str(addr[0])
    return ""  # a Unix socket's peer is unnamed


def _where(addr: object) -> str:
    if isinstance(addr, tuple):
        return f"{addr[0]}:{addr[1]}"
    if isinstance(addr, bytes):
        return addr.decode("utf-8", "replace")
    return str(addr)


def unsent(fd: int, ino: int) -> int | None:
    """Bytes we wrote to this connection that the peer has not taken yet: TCP's
    not-yet-sent bytes (the peer's window is closed when it does not read), or
    what a Unix socket's peer has not read. None: gone, reused, or not knowable here."""
    if inode(fd) != ino:
        return None
    with _borrowed(fd) as sock:
        if sock is None:
            return None
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                if _TCP_INFO is None:
                    return None
                info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
                if len(info) < _NOTSENT_OFFSET + 4:
                    return None  # a kernel older than 4.6
                return int(struct.unpack_from("I", info, _NOTSENT_OFFSET)[0])
            if sock.family == socket.AF_UNIX:
                buf = fcntl.ioctl(fd, _SIOCOUTQ, b"\0\0\0\0")
                return int(struct.unpack("i", buf)[0])
            return None
        except OSError:
            return None


def kick(fd: int, ino: int) -> bool:
    """Shut the connection on ``fd`` down, if it is still the socket ``ino``. The
    kernel drops what is queued for it (an abortive close: RST, not a FIN behind a
    backlog the peer will never read); libzmq sees the peer gone and closes its end."""
    if not ino or inode(fd) != ino:
        return False
    with _borrowed(fd) as sock:
        if sock is None:
            return False
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
            sock.shutdown(socket.SHUT_RDWR)
            return True
        except OSError as exc:
            return exc.errno == errno.ENOTCONN  # already shut down: it is going


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (before, now)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft


def seed_libc_rand() -> bool:
    """Seed the C library's rand() from the OS's random source.

    libzmq numbers peers that choose no routing id with a counter started from
    rand(), which nobody seeds: in every process its first id is 0x006b8b4567.
    A stranger who knows the next ids can claim them for itself; when libzmq
    then gives one of them to a new peer, a ROUTER asserts and the process
    aborts (libzmq 4.3.5 router.cpp identify_peer: no collision check on the
    generated path). A random start makes the next ids a 32-bit guess. Call it
    before creating the ROUTER (the counter is started then)."""
    try:
        libc = ctypes.CDLL(None)
        libc.srand(ctypes.c_uint(secrets.randbits(32)))
    except (OSError, AttributeError):
        log.warning("could not seed the C library's rand(): libzmq's routing ids "
                    "for this broker are predictable")
        return False
    return True
