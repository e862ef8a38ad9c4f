"""Start and stop each system under test as a subprocess on a free loopback port.

Every server is a child process we started ourselves, found again by its PID
only: it is killed on a normal stop, on an error and on Ctrl-C (``atexit`` plus
a SIGTERM handler), so a benchmark never leaves a broker behind. Nothing binds
anything but 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq.auth

BENCH_DIR = Path(__file__).resolve().parent
ALL_SYSTEMS = ("seed", "relay", "ngircd", "zchat", "zchat-memory", "zchat-curve", "zchat-pub")
#: Which wire protocol the load generator must speak to each system.
PROTOCOL = {"seed": "line", "relay": "relay", "ngircd": "irc", "zchat": "zchat",
            "zchat-memory": "zchat", "zchat-curve": "zchat", "zchat-pub": "zchat"}
DESCRIPTION = {
    "seed": "seed design: thread per client, loop of send() over a shared list, newline framing",
    "relay": "bare pyzmq ROUTER relay, send(identity, SNDMORE) + send(payload), no checks/log",
    "ngircd": "ngircd (C IRC server, single thread), one channel, sender is oper with +F",
    "zchat": "zchat broker with its defaults (SQLite history, log to a file), flood limits "
             "lifted for the load generator",
    "zchat-memory": "the same with --store memory: the cost of the history store",
    "zchat-pub": "the same as zchat with --fanout pub: public events on an XPUB feed, "
                 "copied to every subscriber by libzmq",
    "zchat-curve": "the same as zchat with --curve-secret (a key pair made per run, no allow "
                   "list); every client socket of the load generator speaks CURVE",
}
#: The load generator floods by design; a person never meets these limits.
_NO_FLOOD_LIMITS = ["--rate", "1e9", "--burst", "1000000000", "--byte-rate", "1e12",
                    "--byte-burst", "1000000000000", "--max-clients", "100000"]

_READY = re.compile(r"listening on (?:tcp://)?\[?(127\.0\.0\.1)\]?:(\d+)", re.IGNORECASE)
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
_LIVE: dict[int, subprocess.Popen[bytes]] = {}


class SystemUnavailable(RuntimeError):
    """The system cannot run here (e.g. ngircd is not installed)."""


@dataclass
class Running:
    """A started server: where it listens, and how to read its cost from /proc."""

    name: str
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    workdir: Path
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)
    #: Set when a run went wrong: run.py then copies the server's output before stop().
    keep_log: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def server_key(self) -> str | None:
        """The broker's CURVE public key file, for a system that encrypts (else None)."""
        return self.extra.get("server_key")

    @property
    def endpoint(self) -> str:
        """ZeroMQ-style endpoint for the ZeroMQ systems, host:port for the TCP ones."""
        if PROTOCOL[self.name] in ("relay", "zchat"):
            return f"tcp://{self.host}:{self.port}"
        return f"{self.host}:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """utime + stime of the server process, all threads included."""
        return proc_cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        """Resident set size now, from /proc/PID/statm."""
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE_KB

    def stop(self) -> None:
        _kill(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def available(name: str) -> tuple[bool, str]:
    """Whether ``name`` can run on this machine, and why not."""
    if name == "ngircd" and shutil.which("ngircd") is None:
        return False, "ngircd is not installed (apt-get install -y ngircd)"
    if name.startswith("zchat") and _zchat_command() is None:
        return False, "the zchat console script was not found next to this Python"
    return True, ""


def _zchat_command() -> list[str] | None:
    script = Path(sys.executable).with_name("zchat")
    if script.exists():
        return [str(script)]
    found = shutil.which("zchat")
    return [found] if found else None


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (only for ngircd's config file)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, timeout: float = 15.0, zchat_heartbeat: float = 60.0) -> Running:
    """Start ``name`` and return once it listens; raise (after killing it) if it does not."""
    ok, why = available(name)
    if not ok:
        raise SystemUnavailable(why)
    workdir = Path(tempfile.mkdtemp(prefix=f"zchat-bench-{name}-"))
    out_path = workdir / "stdout.txt"
    log_path = workdir / "log.txt"
    py = sys.executable
    extra: dict[str, str] = {}
    if name == "seed":
        cmd = [py, str(BENCH_DIR / "seed_server.py"), "--port", "0"]
    elif name == "relay":
        cmd = [py, str(BENCH_DIR / "relay.py"), "--bind", "tcp://127.0.0.1:*"]
    elif name.startswith("zchat"):
        zchat = _zchat_command()
        assert zchat is not None
        cmd = [*zchat, "broker", "--bind", "tcp://127.0.0.1:*",
               "--heartbeat", str(zchat_heartbeat), "--lang", "en", *_NO_FLOOD_LIMITS]
        if name == "zchat-memory":
            cmd += ["--store", "memory"]
        elif name == "zchat-pub":
            cmd += ["--fanout", "pub"]
        elif name == "zchat-curve":
            # A fresh broker key pair in this run's folder; no --allow-keys, so any
            # client key is admitted (the load generator makes one per socket).
            public, secret = zmq.auth.create_certificates(str(workdir), "broker")
            cmd += ["--curve-secret", str(secret)]
            extra["server_key"] = str(public)
    elif name == "ngircd":
        conf = workdir / "ngircd.conf"
        conf.write_text(ngircd_config(free_port()))
        os.chmod(workdir, 0o755)  # ngircd drops to 'nobody' and must still read it
        os.chmod(conf, 0o644)
        cmd = ["ngircd", "--nodaemon", "--passive", "--config", str(conf)]
        extra = {"oper": "bench", "password": "bench", "channel": "#bench"}
    else:
        raise ValueError(f"unknown system {name!r}")
    # Anything a server keeps on disk (zchat's history store) goes to this run's own
    # temporary folder: every run starts empty and nothing leaks into the user's home.
    env = dict(os.environ, XDG_DATA_HOME=str(workdir), HOME=str(workdir))
    with open(out_path, "wb") as out, open(log_path, "wb") as log:
        # ngircd logs to stdout; the others print the ready line to stdout and log to stderr.
        proc = subprocess.Popen(cmd, stdout=out, stderr=log, stdin=subprocess.DEVNULL, cwd=workdir,
                                env=env)
    _LIVE[proc.pid] = proc
    deadline = time.monotonic() + timeout
    while True:
        text = out_path.read_text(errors="replace")
        match = _READY.search(text)
        if match:
            return Running(name, proc, match.group(1), int(match.group(2)), workdir, log_path,
                           extra)
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill(proc)
            err = log_path.read_text(errors="replace")[-2000:]
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"{name} did not start: {text[-1000:]} {err}")
        time.sleep(0.02)


def ngircd_config(port: int) -> str:
    """A private ngircd config: loopback only, no DNS/ident/PAM, no per-IP limits."""
    return f"""[Global]
Name = bench.local
Info = zchat benchmark
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
PingTimeout = 600
PongTimeout = 300
[Options]
DNS = no
Ident = no
PAM = no
[Operator]
Name = bench
Password = bench
"""


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a short grace period, then SIGKILL; by PID only."""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
    finally:
        _LIVE.pop(proc.pid, None)


def kill_all() -> None:
    """Kill every server this process started and has not stopped yet."""
    for proc in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            _kill(proc)


def _on_sigterm(signum: int, _frame: object) -> None:
    kill_all()
    raise SystemExit(128 + signum)


atexit.register(kill_all)
if __name__ != "__main__":
    with contextlib.suppress(ValueError):  # only possible from the main thread
        signal.signal(signal.SIGTERM, _on_sigterm)
