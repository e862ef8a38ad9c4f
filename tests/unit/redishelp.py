"""A real redis-server for the contract tests: started on a free loopback port,
stopped by PID. Without one the tests skip, unless ZCHAT_REQUIRE_REDIS=1 (CI),
where they fail."""

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

_READY = re.compile(r"Ready to accept connections|Address already in use|"
                    r"Could not create server TCP")
_prefixes = itertools.count()


def unique_prefix() -> str:
    """A key prefix no other test of this process uses: tests share one server."""
    return f"zchat-test-{os.getpid()}-{next(_prefixes)}:"


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not installed: the Redis contract needs a real one"
        if os.environ.get("ZCHAT_REQUIRE_REDIS") == "1":
            pytest.fail(reason + " (ZCHAT_REQUIRE_REDIS=1)")
        pytest.skip(reason)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process, its output drained by a thread (never a full pipe)."""

    def __init__(self, folder: Path) -> None:
        binary = redis_server_binary()
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # the port is free when picked; another process may take it
            self.port = _free_port()
            self._output = ""
            self._cond = threading.Condition()
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(folder), "--daemonize", "no"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            threading.Thread(target=self._drain, daemon=True).start()
            if self._expect(10.0).startswith("Ready"):
                return
            self.kill()
        raise AssertionError("no free port for redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self._output += line
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _expect(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = _READY.search(self._output)
                if found:
                    return found.group(0)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"redis-server did not start:\n{self._output[-2000:]}")
                self._cond.wait(left)

    def kill(self) -> None:
        """SIGKILL by PID and reap it (a crash, for the tests that cut the link)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
