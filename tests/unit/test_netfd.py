"""broker/netfd.py: what the kernel says about a connection, against real sockets.

Plain sockets made here (a socketpair, a TCP listener on 127.0.0.1:0): the module
works on descriptor numbers, whoever opened them. Only the routing-id test uses
ZeroMQ, since it checks what libzmq does with the C library's rand().
"""

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from zchat.broker import netfd

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the kernel's queue figures are read the Linux way")


@pytest.fixture
def tcp() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(ours, theirs): the accepted end of a loopback TCP connection, and its peer."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.create_connection(listener.getsockname(), timeout=5)
        ours, _ = listener.accept()
    with ours, theirs:
        yield ours, theirs


@pytest.fixture
def unix() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield ours, theirs


def _fill(sock: socket.socket) -> int:
    """Write to ``sock`` until the kernel takes no more (its peer does not read)."""
    sock.setblocking(False)
    chunk, total = b"x" * 65536, 0
    while True:
        try:
            total += sock.send(chunk)
        except BlockingIOError:
            return total


def _ino(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def _read_to_end(sock: socket.socket, timeout: float = 5.0) -> tuple[str, int]:
    """Read until the connection ends: ("eof" or "reset", the bytes read) (bounded)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 20)
        except ConnectionResetError:
            return "reset", got
        if not data:
            return "eof", got
        got += len(data)
    raise AssertionError("the connection did not end")


# ---- inode -------------------------------------------------------------------------------

def test_inode_of_a_socket(tcp, unix):
    for sock in (*tcp, *unix):
        assert netfd.inode(sock.fileno()) == _ino(sock) > 0
    assert netfd.inode(tcp[0].fileno()) != netfd.inode(tcp[1].fileno())


def test_inode_is_zero_for_what_is_not_an_open_socket(tmp_path):
    read, write = os.pipe()
    try:
        assert netfd.inode(read) == 0 and netfd.inode(write) == 0
    finally:
        os.close(read)
        os.close(write)
    with open(tmp_path / "f", "wb") as file:
        assert netfd.inode(file.fileno()) == 0
    sock = socket.socket()
    fd = sock.fileno()
    sock.close()
    assert netfd.inode(fd) == 0  # closed (and not reused: nothing opened since)
    assert netfd.inode(-1) == 0


# ---- describe ------------------------------------------------------------------------------

def test_describe_a_tcp_connection(tcp):
    ours, theirs = tcp
    host, port = ours.getsockname()
    assert netfd.describe(ours.fileno()) == (_ino(ours), "127.0.0.1", f"{host}:{port}")
    assert theirs.getpeername() == (host, port)


def test_describe_a_unix_socket_has_no_peer_address(tmp_path):
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.bind(str(tmp_path / "client"))  # a named peer still has no address
            client.connect(path)
            ours, _ = listener.accept()
            with ours:
                assert netfd.describe(ours.fileno()) == (_ino(ours), "", path)


def test_describe_a_socketpair(unix):
    ino, peer, _ = netfd.describe(unix[0].fileno())
    assert (ino, peer) == (_ino(unix[0]), "")


def test_describe_what_is_not_a_connected_socket(tmp_path):
    with socket.socket() as unconnected:
        assert netfd.describe(unconnected.fileno()) is None
    read, write = os.pipe()
    try:
        assert netfd.describe(read) is None
    finally:
        os.close(read)
        os.close(write)
    assert netfd.describe(-1) is None


# ---- unsent --------------------------------------------------------------------------------

@linux_only
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_unsent_is_zero_when_the_peer_reads(kind, request):
    ours, theirs = request.getfixturevalue(kind)
    ours.sendall(b"y" * 10_000)
    theirs.settimeout(5)
    got = 0
    while got < 10_000:
        got += len(theirs.recv(65536))
    deadline = time.monotonic() + 5
    while netfd.unsent(ours.fileno(), _ino(ours)) != 0:  # (TCP: the ACKs, on loopback)
        assert time.monotonic() < deadline, netfd.unsent(ours.fileno(), _ino(ours))
        time.sleep(0.001)


@linux_only
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_unsent_grows_when_the_peer_never_reads(kind, request):
    ours, _ = request.getfixturevalue(kind)
    assert netfd.unsent(ours.fileno(), _ino(ours)) == 0
    written = _fill(ours)
    unsent = netfd.unsent(ours.fileno(), _ino(ours))
    assert unsent is not None and unsent >= 64 * 1024 and written >= 64 * 1024
    if kind == "tcp":
        assert unsent <= written  # (a Unix socket counts its buffers' overhead too)


def test_unsent_of_another_socket_or_of_none_is_none(tcp, unix):
    ours = tcp[0]
    assert netfd.unsent(ours.fileno(), _ino(ours) + 1) is None
    assert netfd.unsent(ours.fileno(), _ino(unix[0])) is None
    assert netfd.unsent(ours.fileno(), 0) is None
    read, write = os.pipe()
    try:
        assert netfd.unsent(read, 0) is None
        assert netfd.unsent(read, os.fstat(read).st_ino) is None
    finally:
        os.close(read)
        os.close(write)


# ---- kick ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_kick_ends_the_connection_and_leaves_our_descriptor_open(kind, request):
    ours, theirs = request.getfixturevalue(kind)
    fd, ino = ours.fileno(), _ino(ours)
    assert netfd.kick(fd, ino) is True
    assert _read_to_end(theirs)[0] in ("eof", "reset")
    assert os.fstat(fd).st_ino == ino  # still ours: libzmq closes it, not us
    ours.settimeout(5)
    assert ours.recv(10) == b""  # our end reads the end too: that is how libzmq notices
    assert netfd.kick(fd, ino) is True  # already shut down: still going
    assert ours.fileno() == fd


def test_kick_of_a_connection_its_peer_already_ended_says_it_is_going(tcp):
    ours, theirs = tcp
    theirs.close()
    ours.settimeout(5)
    assert ours.recv(10) == b""
    assert netfd.kick(ours.fileno(), _ino(ours)) is True
    assert netfd.kick(ours.fileno(), _ino(ours)) is True  # (ENOTCONN by now)
    os.fstat(ours.fileno())


@linux_only
def test_kick_ends_a_connection_whose_peer_does_not_read(tcp):
    ours, theirs = tcp
    written = _fill(ours)
    assert netfd.kick(ours.fileno(), _ino(ours)) is True
    ours.close()  # what libzmq does once it sees the end
    # An abortive close: the kernel drops the queue (a FIN would wait behind it).
    end, got = _read_to_end(theirs)
    assert end == "reset" and got < written


def test_kick_of_another_inode_does_nothing(tcp, unix):
    ours, theirs = tcp
    fd = ours.fileno()
    assert netfd.kick(fd, _ino(ours) + 1) is False
    assert netfd.kick(fd, _ino(unix[0])) is False
    assert netfd.kick(fd, 0) is False
    os.fstat(fd)  # open
    ours.sendall(b"still connected")
    theirs.settimeout(5)
    assert theirs.recv(100) == b"still connected"


def test_kick_of_what_is_not_a_socket_does_nothing():
    read, write = os.pipe()
    try:
        assert netfd.kick(read, os.fstat(read).st_ino) is False
        os.write(write, b"x")
        assert os.read(read, 1) == b"x"
    finally:
        os.close(read)
        os.close(write)
    assert netfd.kick(-1, 1) is False


# ---- the process's limits and libc's rand() ------------------------------------------------

_LIMIT_PROBE = """
import resource
from zchat.broker import netfd
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(64, hard), hard))
print(*netfd.raise_descriptor_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def test_raise_descriptor_limit_raises_the_soft_limit_to_the_hard_one():
    out = subprocess.run([sys.executable, "-c", _LIMIT_PROBE], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    before, now, soft, hard = (int(v) for v in out.split())
    assert before == min(64, hard)
    assert now == soft <= hard
    if hard != resource.RLIM_INFINITY:
        assert now == hard


def test_raise_descriptor_limit_at_the_hard_limit_changes_nothing():
    before, now = netfd.raise_descriptor_limit()  # (this process: raised, or already up)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert before <= now
    assert soft <= hard or hard == resource.RLIM_INFINITY
    assert now == soft
    assert netfd.raise_descriptor_limit() == (soft, soft)


_FIRST_ID = """
import sys, zmq
from zchat.broker import netfd
if sys.argv[1] == "seed":
    assert netfd.seed_libc_rand() is True
ctx = zmq.Context()
router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
router.bind("inproc://first-id")
dealer.connect("inproc://first-id")
dealer.send(b"")
assert router.poll(5000)
print(router.recv().hex())
"""


def _first_auto_id(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", _FIRST_ID, mode], capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


@linux_only
def test_seed_libc_rand_makes_libzmqs_first_routing_id_unpredictable():
    assert netfd.seed_libc_rand() is True
    # Unseeded, every process gives its first id-less peer the same id: glibc's first rand().
    assert _first_auto_id("plain") == _first_auto_id("plain") == "006b8b4567"
    seeded = {_first_auto_id("seed") for _ in range(2)}
    assert len(seeded) == 2 and "006b8b4567" not in seeded
    assert all(len(v) == 10 and v.startswith("00") for v in seeded)
