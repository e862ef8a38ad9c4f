"""Drive real zchat processes as a person would: spawn, type, expect, kill.

Each child runs on a pseudo-terminal (or pipes), and a reader thread drains its
output into a buffer, so a child never blocks on a full pipe. Every wait is an
`expect(regex, timeout)` whose failure shows the last lines of output; a
process is stopped by PID (terminate, bounded wait, kill).
"""

from __future__ import annotations

import codecs
import fcntl
import os
import pty
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import zmq

from zchat.protocol import BrokerMessage, Welcome
from zchat.protocol.constants import FEED_TOPIC

from .frames import DEFAULT_TIMEOUT, next_event, next_of

# Our own terminal control sequences (clear line, colours) are stripped before
# matching, so patterns are written against what a person reads.
_CSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: The start of such a sequence at the very end of what was read so far.
_CSI_START = re.compile(r"\x1b(\[[0-9;]*)?\Z")

M = TypeVar("M")


def zchat_command() -> list[str]:
    """The installed `zchat` console script beside this interpreter."""
    script = Path(sys.executable).with_name("zchat")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "zchat"]


def _controlling_tty() -> None:
    """In the child: a new session whose controlling terminal is the pty on fd 0,
    so typing Ctrl-C delivers SIGINT as it would to a person's program."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _child_setup(tty: bool, nofile: int | None) -> None:
    """In the child, before exec: the pty session if ``tty``, and at most ``nofile``
    open descriptors (soft and hard limit) if given."""
    if tty:
        _controlling_tty()
    if nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))


class Proc:
    """One child process with its output captured and an input channel."""

    def __init__(self, args: list[str], *, use_pty: bool = True,
                 env: dict[str, str] | None = None, label: str = "",
                 nofile: int | None = None) -> None:
        """``nofile``: the child's descriptor limit (soft and hard); else inherited."""
        self.label = label or " ".join(args[:3])
        self.args = args
        self.use_pty = use_pty
        full_env = dict(os.environ)
        full_env.update({"PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
        full_env.pop("NO_COLOR", None)
        full_env.update(env or {})
        self._raw = bytearray()
        #: What was printed, our control sequences removed (``_held`` not yet: the
        #: rest of a control sequence may still be coming). Cleaned once per chunk,
        #: not per look: a client that prints megabytes is read in linear time.
        self._clean = ""
        self._held = ""
        self._pos = 0
        self._cond = threading.Condition()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._eof = False
        setup = partial(_child_setup, use_pty, nofile)
        if use_pty:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
            self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave,
                                         env=full_env, preexec_fn=setup, close_fds=True)
            os.close(slave)
            self._out_fd = master
            self._in_fd = master
        else:
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=full_env,
                                         start_new_session=True,
                                         preexec_fn=None if nofile is None else setup)
            assert self.proc.stdout is not None and self.proc.stdin is not None
            self._out_fd = self.proc.stdout.fileno()
            self._in_fd = self.proc.stdin.fileno()
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name=f"read-{self.pid}",
                                        daemon=True)
        self._reader.start()

    # ---- output -------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._out_fd, 65536)
            except OSError:  # EIO from a pty whose child side closed
                chunk = b""
            with self._cond:
                if not chunk:
                    self._clean += _CSI.sub("", self._held + self._decoder.decode(b"", True))
                    self._held = ""
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._raw += chunk
                text = self._held + self._decoder.decode(chunk)
                half = _CSI_START.search(text)  # a sequence cut by the read: wait for the rest
                cut = half.start() if half else len(text)
                self._clean += _CSI.sub("", text[:cut])
                self._held = text[cut:]
                self._cond.notify_all()

    @property
    def raw(self) -> bytes:
        with self._cond:
            return bytes(self._raw)

    @property
    def text(self) -> str:
        """Everything printed so far, with our terminal control sequences removed."""
        with self._cond:
            return self._clean + _CSI.sub("", self._held)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.text.replace("\r", "\n").splitlines()[-lines:])

    def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT,
               anywhere: bool = False) -> re.Match[str]:
        """Wait for ``pattern`` after the last match (or ``anywhere`` in the output,
        without moving the cursor); fail with the output's tail."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = regex.search(self._clean, 0 if anywhere else self._pos)
                if match:
                    if not anywhere:
                        self._pos = match.end()
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._eof and self.proc.poll() is not None):
                    break
                self._cond.wait(min(remaining, 0.1))
        raise AssertionError(
            f"{self.label} (pid {self.pid}): no {pattern!r} within {timeout}s; "
            f"exit={self.proc.poll()}; last output:\n{self.tail()}")

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.text))

    def assert_not_seen(self, pattern: str) -> None:
        text = self.text
        assert not re.search(pattern, text), (
            f"{self.label}: unexpected {pattern!r} in output:\n{self.tail()}")

    # ---- input ---------------------------------------------------------------

    def type(self, text: str) -> None:
        os.write(self._in_fd, text.encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        os.write(self._in_fd, data)

    def line(self, text: str) -> None:
        """Type a line and press Enter."""
        self.type(text + ("\r" if self.use_pty else "\n"))

    def close_input(self) -> None:
        """End of input on a pipe (Ctrl-D is typed instead on a terminal)."""
        assert not self.use_pty and self.proc.stdin is not None
        self.proc.stdin.close()

    # ---- lifetime ------------------------------------------------------------

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.label} (pid {self.pid}) still running after "
                                 f"{timeout}s; last output:\n{self.tail()}") from None

    def stop(self) -> None:
        """Terminate, wait a bounded time, then kill: only this PID."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(3)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        self._reader.join(2)
        for fd in {self._out_fd, self._in_fd}:
            if self.use_pty:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if not self.use_pty:
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass


def wait_until(condition: Callable[[], bool], what: str,
               timeout: float = DEFAULT_TIMEOUT, every: float = 0.02) -> None:
    """Poll ``condition`` (a read of real state: a file, a process) until it holds;
    fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)  # (a poll interval, not a synchronisation: the loop checks)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for servers that need a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """The redis-server to start, or skip (fail in CI: ZCHAT_REQUIRE_REDIS=1) without one."""
    import pytest

    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not installed: cluster scenarios need a real one"
        if os.environ.get("ZCHAT_REQUIRE_REDIS") == "1":
            pytest.fail(reason + " (ZCHAT_REQUIRE_REDIS=1)")
        pytest.skip(reason)
    return found


class RedisServer(Proc):
    """A redis-server of the test's own, on a free loopback port, with an
    append-only file so that a restart on the same folder keeps the data."""

    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Broker(Proc):
    endpoint: str
    data_dir: Path


class Cluster:
    """Starts brokers and clients for one test and stops exactly those."""

    def __init__(self, tmp: Path, fanout: str = "router") -> None:
        self.tmp = tmp
        self.fanout = fanout
        self.procs: list[Proc] = []

    def spawn(self, args: list[str], **kw: object) -> Proc:
        proc = Proc(zchat_command() + args, **kw)  # type: ignore[arg-type]
        self.procs.append(proc)
        return proc

    def broker(self, *extra: str, bind: str = "tcp://127.0.0.1:*", heartbeat: float = 0.2,
               lang: str = "en", wait: bool = True, data_dir: Path | None = None,
               nofile: int | None = None) -> Broker:
        """A broker with its own data directory (pass one to restart on the same history);
        ``nofile`` limits its open descriptors (soft and hard), as a small host would."""
        if data_dir is None:
            data_dir = self.tmp / f"data-{len(self.procs)}"
        args = ["broker", "--bind", bind, "--heartbeat", str(heartbeat), "--lang", lang,
                "--data-dir", str(data_dir), "--fanout", self.fanout, *extra]
        proc = Proc(zchat_command() + args, use_pty=False, label="broker",
                    env={"XDG_DATA_HOME": str(self.tmp / "xdg")}, nofile=nofile)
        proc.__class__ = Broker
        proc.data_dir = data_dir  # type: ignore[attr-defined]
        self.procs.append(proc)
        if wait:
            match = proc.expect(r"listening on (\S+)")
            proc.endpoint = match.group(1)  # type: ignore[attr-defined]
        return proc  # type: ignore[return-value]

    def redis(self, port: int | None = None, folder: Path | None = None) -> RedisServer:
        """Start a redis-server (again, when given the port and folder of an earlier one)."""
        binary = redis_server_binary()
        folder = folder or self.tmp / f"redis-{len(self.procs)}"
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # the port is free when picked, but another process may take it
            chosen = port or free_port()
            args = [binary, "--port", str(chosen), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder),
                    "--protected-mode", "yes", "--daemonize", "no"]
            proc = Proc(args, use_pty=False, label="redis")
            self.procs.append(proc)
            if proc.expect(r"Ready to accept connections|Address already in use|"
                           r"Could not create server TCP", timeout=10).group(0) \
                    .startswith("Ready"):
                proc.__class__ = RedisServer
                proc.port, proc.folder = chosen, folder  # type: ignore[attr-defined]
                return proc  # type: ignore[return-value]
            proc.stop()
            if port is not None:
                raise AssertionError(f"redis-server could not bind port {port} again")
        raise AssertionError("no free port for redis-server")

    def client(self, name: str, endpoint: str, *extra: str, lang: str = "en",
               use_pty: bool = True, heartbeat: float = 0.2, wait: bool = True,
               env: dict[str, str] | None = None) -> Proc:
        args = ["join", name, "--connect", endpoint, "--heartbeat", str(heartbeat),
                "--lang", lang, *extra]
        # Keys a client makes for itself go to this test's folder, not the user's.
        env = {"XDG_CONFIG_HOME": str(self.tmp / "config"), **(env or {})}
        proc = Proc(zchat_command() + args, use_pty=use_pty, env=env, label=name)
        self.procs.append(proc)
        if wait:
            proc.expect(r"Welcome to zchat, |Bem-vindo\(a\) ao zchat, ")
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


class RawPeer:
    """A bare DEALER speaking (or breaking) the protocol, for wire-level tests."""

    def __init__(self, endpoint: str, rcvhwm: int = 1000) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self.sock.connect(endpoint)

    def send(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))

    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> list[bytes]:
        if not self.sock.poll(timeout * 1000, zmq.POLLIN):
            raise AssertionError(f"no reply within {timeout}s")
        return self.sock.recv_multipart()

    def next(self, kind: type[M], timeout: float = DEFAULT_TIMEOUT) -> M:
        """The next ``kind`` message, decoded, skipping others (frames.next_of)."""
        return next_of(self.sock, kind, timeout)

    def next_event(self, wanted: Callable[[BrokerMessage], bool],
                   timeout: float = DEFAULT_TIMEOUT, what: str = "wanted event") -> BrokerMessage:
        """The next event, alone or in a live batch, that is ``wanted`` (frames.next_event)."""
        return next_event(self.sock, wanted, timeout, what)

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


class RawFeed:
    """A bare SUB on a `--fanout pub` feed, subscribed as the protocol page says (the
    empty prefix and the session's token), for wire-level tests of what it is given."""

    def __init__(self, welcome: Welcome, *topics: bytes) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        for topic in (b"", *topics, FEED_TOPIC + welcome.session.encode()):
            self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.sock.connect(welcome.feeds[0])
        #: Every message read, in order.
        self.seen: list[list[bytes]] = []

    def subscribe(self, topic: bytes, on: bool = True) -> None:
        self.sock.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, topic)

    def until(self, wanted: Callable[[list[bytes]], bool], timeout: float = DEFAULT_TIMEOUT,
              what: str = "wanted frame") -> list[list[bytes]]:
        """Every message read, up to and including the first that is ``wanted``."""
        got: list[list[bytes]] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.sock.poll(remaining * 1000, zmq.POLLIN):
                break
            got.append(self.sock.recv_multipart())
            self.seen.append(got[-1])
            if wanted(got[-1]):
                return got
        raise AssertionError(f"no {what} on the feed within {timeout}s; got {got!r}")

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


class FakeBroker:
    """A bare ROUTER in the test process that answers the real client as a hostile
    (or merely odd) broker would: the test decides every frame it sends."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")  # a free port, no race
        self.endpoint: str = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[bytes, bytes]:
        """The next (identity, frame) a client sent."""
        if not self.sock.poll(timeout * 1000, zmq.POLLIN):
            raise AssertionError(f"no frame from a client within {timeout}s")
        identity, frame, *_ = self.sock.recv_multipart()
        return identity, frame

    def recv_until(self, prefix: bytes, timeout: float = DEFAULT_TIMEOUT) -> tuple[bytes, bytes]:
        """Skip frames (e.g. PINGs) until one starts with ``prefix``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no frame starting {prefix!r} within {timeout}s")
            identity, frame = self.recv(remaining)
            if frame.startswith(prefix):
                return identity, frame

    def send(self, identity: bytes, frame: bytes) -> None:
        self.sock.send_multipart([identity, frame])

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()
