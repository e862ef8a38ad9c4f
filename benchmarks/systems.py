"""Start and stop each system under test as a subprocess on a free loopback port.

Every server is a child process we started ourselves, found again by its PID
only: it is killed on a normal stop, on an error and on Ctrl-C (``atexit`` plus
a SIGTERM handler), so a benchmark never leaves a broker behind. Nothing binds
anything but 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
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
ALL_SYSTEMS = ("seed", "relay", "ngircd", "zchat", "zchat-memory", "zchat-curve", "zchat-pub",
               "zchat-cluster", "zchat-cluster-split", "zchat-nosearch",
               "zchat-cluster-search", "zchat-metrics")
#: Started by start() but never by run.py: heartbeat_floor.py's PING/PONG ROUTER, the
#: floor under zchat's idle figures (idle_floor.py, heartbeat_floor.py).
FLOOR = "floor"
#: The systems made of several brokers over one redis-server of their own.
CLUSTER_SYSTEMS = ("zchat-cluster", "zchat-cluster-split", "zchat-cluster-search")
#: Which wire protocol the load generator must speak to each system.
PROTOCOL = {"seed": "line", "relay": "relay", "ngircd": "irc", "zchat": "zchat",
            "zchat-memory": "zchat", "zchat-curve": "zchat", "zchat-pub": "zchat",
            "zchat-cluster": "zchat", "zchat-cluster-split": "zchat", "zchat-nosearch": "zchat",
            "zchat-cluster-search": "zchat",
            "zchat-metrics": "zchat",
            FLOOR: "floor"}
DESCRIPTION = {
    "seed": "seed design: thread per client, loop of send() over a shared list, newline framing",
    "relay": "bare pyzmq ROUTER relay, send(identity, SNDMORE) + send(payload), no checks/log",
    "ngircd": "ngircd (C IRC server, single thread), one channel, sender is oper with +F",
    "zchat": "zchat broker with its defaults (SQLite history, log to a file), flood limits "
             "lifted for the load generator",
    "zchat-memory": "the same with --store memory: the cost of the history store and of the "
                    "search index (off with --store memory; zchat-nosearch is the index alone)",
    "zchat-nosearch": "the same as zchat with --no-search: the cost of the search index",
    "zchat-metrics": "the same as zchat with --metrics on a loopback port, scraped every "
                     "second by a process of its own (scraper.py): the cost of the metrics",
    "zchat-pub": "the same as zchat with --fanout pub: public events on an XPUB feed, "
                 "copied to every subscriber by libzmq",
    "zchat-curve": "the same as zchat with --curve-secret (a key pair made per run, no allow "
                   "list); every client socket of the load generator speaks CURVE",
    "zchat-cluster": "a redis-server of its own and two zchat brokers with --cluster (flood "
                     "limits lifted as for zchat); the sender on broker 1, every receiver on "
                     "broker 2: every delivery crosses brokers through Redis",
    FLOOR: "bare pyzmq ROUTER answering each client's PING frame with a PONG frame "
           "(heartbeat_floor.py), no Python state",
    "zchat-cluster-split": "the same, with the receivers alternating over broker 1 and broker "
                           "2 (half the deliveries cross brokers)",
    "zchat-cluster-search": "the same as zchat-cluster with --search on both brokers: the "
                            "cost of a cluster's search index (off by default with --cluster)",
}
#: The load generator floods by design; a person never meets these limits.
_NO_FLOOD_LIMITS = ["--rate", "1e9", "--burst", "1000000000", "--byte-rate", "1e12",
                    "--byte-burst", "1000000000000", "--max-clients", "100000",
                    "--max-per-address", "100000"]

_READY = re.compile(r"listening on (?:tcp://)?\[?(127\.0\.0\.1)\]?:(\d+)", re.IGNORECASE)
_REDIS_READY = re.compile(r"Ready to accept connections")
_REDIS_FAILED = re.compile(r"Address already in use|Could not create server TCP|"
                           r"Failed listening", re.IGNORECASE)
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
_LIVE: dict[int, subprocess.Popen[bytes]] = {}


class SystemUnavailable(RuntimeError):
    """The system cannot run here (e.g. ngircd is not installed)."""


@dataclass
class Helper:
    """Another process of a multi-process system: a second broker, or its redis-server."""

    #: "broker" (counted in the broker's CPU and RSS), "redis" (counted apart) or
    #: "scraper" (zchat-metrics' Prometheus stand-in: not counted).
    role: str
    label: str
    proc: subprocess.Popen[bytes]
    port: int
    files: tuple[Path, ...] = ()


@dataclass
class Running:
    """A started server: where it listens, and how to read its cost from /proc.

    A cluster system (zchat-cluster) is several processes: ``proc`` and ``port`` are
    the broker the receivers use (broker 2); ``helpers`` hold broker 1 (the
    sender's) and the redis-server. CPU and RSS figures sum the brokers; the
    redis-server's CPU is read apart (``redis_cpu_seconds``).
    """

    name: str
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    workdir: Path
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)
    #: Set when a run went wrong: run.py then copies the server's output before stop().
    keep_log: bool = False
    #: The other processes of a cluster system (none for the others).
    helpers: list[Helper] = field(default_factory=list)
    #: Where the sender connects when not to ``port`` (zchat-cluster: broker 1).
    sender_port: int | None = None
    #: Where the receivers connect, receiver i to ``receiver_ports[i % len]``
    #: (zchat-cluster-split); empty: all to ``port``.
    receiver_ports: tuple[int, ...] = ()

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
        if PROTOCOL[self.name] in ("relay", "zchat", "floor"):
            return f"tcp://{self.host}:{self.port}"
        return f"{self.host}:{self.port}"

    def _endpoint(self, port: int) -> str:
        if PROTOCOL[self.name] in ("relay", "zchat", "floor"):
            return f"tcp://{self.host}:{port}"
        return f"{self.host}:{port}"

    @property
    def sender_endpoint(self) -> str:
        """Where the load generator's sender connects."""
        return self._endpoint(self.sender_port) if self.sender_port else self.endpoint

    @property
    def receivers_endpoint(self) -> str:
        """Where the receivers connect: one endpoint, or a comma list that receiver i
        takes element ``i % len`` of (loadgen.make_receivers)."""
        if not self.receiver_ports:
            return self.endpoint
        return ",".join(self._endpoint(p) for p in self.receiver_ports)

    def broker_pids(self) -> list[int]:
        """The system's broker processes (a cluster's: the receivers' broker first)."""
        return [self.pid, *(h.proc.pid for h in self.helpers if h.role == "broker")]

    def alive(self) -> bool:
        return self.proc.poll() is None and all(h.proc.poll() is None for h in self.helpers)

    @property
    def clustered(self) -> bool:
        """Whether it is several brokers (its main process is then broker 2)."""
        return any(h.role == "broker" for h in self.helpers)

    def exit_status(self) -> str:
        """Which of its processes exited, and how ("" if all are alive)."""
        dead = [("broker 2" if self.clustered else self.name, self.proc)] if \
            self.proc.poll() is not None else []
        dead += [(h.label, h.proc) for h in self.helpers if h.proc.poll() is not None]
        return "; ".join(f"{label} exited with {p.returncode}" for label, p in dead)

    def cpu_seconds(self) -> float:
        """utime + stime of the server process, all threads included (a cluster: the
        sum over its brokers, not counting the redis-server)."""
        return sum(proc_cpu_seconds(pid) for pid in self.broker_pids())

    def cpu_by_process(self) -> dict[str, float]:
        """utime + stime of each process of a cluster system, by label (broker 1 is the
        sender's, broker 2 the receivers'); empty for a one-process system."""
        if not self.clustered:
            return {}
        out = {"broker 2": proc_cpu_seconds(self.pid)}
        for h in self.helpers:
            out[h.label] = proc_cpu_seconds(h.proc.pid)
        return out

    def redis_cpu_seconds(self) -> float | None:
        """utime + stime of a cluster's redis-server (None for the other systems)."""
        pids = [h.proc.pid for h in self.helpers if h.role == "redis"]
        return sum(proc_cpu_seconds(pid) for pid in pids) if pids else None

    def rss_kb(self) -> int:
        """Resident set size now, from /proc/PID/statm (a cluster: summed over its brokers)."""
        total = 0
        for pid in self.broker_pids():
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE_KB
        return total

    def log_files(self) -> list[tuple[str, Path]]:
        """(label, path) of every output file this system's processes write."""
        main = "broker 2" if self.clustered else "server"
        out = [(main, self.workdir / "stdout.txt"), (main, self.log_path)]
        out += [(h.label, f) for h in self.helpers for f in h.files]
        return out

    def stop(self) -> None:
        _kill_many([self.proc, *(h.proc for h in self.helpers if h.role == "broker")])
        _kill_many([h.proc for h in self.helpers if h.role != "broker"])
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
    if name in CLUSTER_SYSTEMS:
        if shutil.which("redis-server") is None:
            return False, "redis-server is not installed (apt-get install -y redis-server)"
        if importlib.util.find_spec("redis") is None:
            return False, "redis-py is not installed in this Python (zchat --cluster needs it)"
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


def start(name: str, timeout: float = 15.0, zchat_heartbeat: float = 60.0,
          relay_rooms: bool = False) -> Running:
    """Start ``name`` and return once it listens; raise (after killing it) if it does not.
    ``relay_rooms``: the relay in its rooms mode (relay.py --rooms, for rooms.py)."""
    ok, why = available(name)
    if not ok:
        raise SystemUnavailable(why)
    workdir = Path(tempfile.mkdtemp(prefix=f"zchat-bench-{name}-"))
    if name in CLUSTER_SYSTEMS:
        return _start_cluster(name, workdir, timeout, zchat_heartbeat)
    out_path = workdir / "stdout.txt"
    log_path = workdir / "log.txt"
    py = sys.executable
    extra: dict[str, str] = {}
    if name == "seed":
        cmd = [py, str(BENCH_DIR / "seed_server.py"), "--port", "0"]
    elif name == "relay":
        cmd = [py, str(BENCH_DIR / "relay.py"), "--bind", "tcp://127.0.0.1:*"]
        if relay_rooms:
            cmd.append("--rooms")
    elif name == FLOOR:
        cmd = [py, str(BENCH_DIR / "heartbeat_floor.py"), "--role", "serve",
               "--endpoint", "tcp://127.0.0.1:*"]
    elif name.startswith("zchat"):
        zchat = _zchat_command()
        assert zchat is not None
        cmd = [*zchat, "broker", "--bind", "tcp://127.0.0.1:*",
               "--heartbeat", str(zchat_heartbeat), "--lang", "en", *_NO_FLOOD_LIMITS]
        if name == "zchat-memory":
            cmd += ["--store", "memory"]
        elif name == "zchat-nosearch":
            cmd += ["--no-search"]
        elif name == "zchat-metrics":
            extra["metrics_port"] = str(free_port())
            cmd += ["--metrics", f"127.0.0.1:{extra['metrics_port']}"]
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
            running = Running(name, proc, match.group(1), int(match.group(2)), workdir,
                              log_path, extra)
            if "metrics_port" in extra:
                running.helpers.append(_start_scraper(workdir, int(extra["metrics_port"])))
            return running
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill(proc)
            err = log_path.read_text(errors="replace")[-2000:]
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"{name} did not start: {text[-1000:]} {err}")
        time.sleep(0.02)


def zchat_broker_command(heartbeat: float, *extra: str) -> list[str]:
    """``zchat broker`` on a free loopback port, flood limits lifted, plus ``extra``."""
    zchat = _zchat_command()
    if zchat is None:
        raise SystemUnavailable("the zchat console script was not found next to this Python")
    return [*zchat, "broker", "--bind", "tcp://127.0.0.1:*", "--heartbeat", str(heartbeat),
            "--lang", "en", *_NO_FLOOD_LIMITS, *extra]


def spawn_zchat(cmd: list[str], folder: Path, tag: str = "") -> tuple[
        subprocess.Popen[bytes], Path, Path]:
    """Start a zchat broker whose data and output stay in ``folder``: (process, stdout
    file, log file). It is registered for kill_all(); wait_listening() waits for it."""
    folder.mkdir(parents=True, exist_ok=True)
    out_path = folder / f"{tag}stdout.txt"
    log_path = folder / f"{tag}log.txt"
    env = dict(os.environ, XDG_DATA_HOME=str(folder), HOME=str(folder))
    with open(out_path, "wb") as out, open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                                cwd=folder, env=env)
    _LIVE[proc.pid] = proc
    return proc, out_path, log_path


def wait_listening(proc: subprocess.Popen[bytes], out_path: Path, log_path: Path,
                   deadline: float, what: str) -> int:
    """The port from a zchat broker's ready line; raise (the caller kills) if none comes."""
    while True:
        text = out_path.read_text(errors="replace")
        match = _READY.search(text)
        if match:
            return int(match.group(2))
        if proc.poll() is not None or time.monotonic() > deadline:
            err = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} did not start: {text[-1000:]} {err}")
        time.sleep(0.02)


def start_redis(folder: Path, timeout: float = 15.0) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A redis-server of our own on a free loopback port, nothing persisted (no RDB
    snapshots, no append-only file), its files in ``folder``: (process, port, output).
    Retried on another port if the one picked was taken meanwhile."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemUnavailable("redis-server is not installed (apt-get install -y redis-server)")
    folder.mkdir(parents=True, exist_ok=True)
    last = ""
    for attempt in range(5):
        port = free_port()
        out_path = folder / f"redis-{attempt}.txt"
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(folder), "--daemonize", "no",
               "--protected-mode", "yes", "--logfile", ""]
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=folder)
        _LIVE[proc.pid] = proc
        deadline = time.monotonic() + timeout
        while True:
            text = out_path.read_text(errors="replace")
            if _REDIS_READY.search(text):
                return proc, port, out_path
            if _REDIS_FAILED.search(text) or proc.poll() is not None \
                    or time.monotonic() > deadline:
                _kill(proc)
                last = text[-1000:]
                break
            time.sleep(0.02)
    raise RuntimeError(f"redis-server did not start: {last}")


def _start_cluster(name: str, workdir: Path, timeout: float, heartbeat: float) -> Running:
    """redis-server, then two brokers with --cluster on it, started side by side.

    Broker 2 is the Running's main process (the receivers' broker); broker 1
    (the sender's) and the redis-server are its helpers."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_proc, redis_port, redis_out = start_redis(workdir / "redis", timeout)
        procs.append(redis_proc)
        url = f"redis://127.0.0.1:{redis_port}/0"
        cmd = zchat_broker_command(heartbeat, "--cluster", url,
                                   *(["--search"] if name.endswith("-search") else []))
        b1 = spawn_zchat(cmd, workdir / "broker1", "")
        procs.append(b1[0])
        b2 = spawn_zchat(cmd, workdir, "")
        procs.append(b2[0])
        deadline = time.monotonic() + timeout
        port1 = wait_listening(*b1, deadline, f"{name} broker 1")
        port2 = wait_listening(*b2, deadline, f"{name} broker 2")
    except BaseException:
        _kill_many(procs[1:])
        _kill_many(procs[:1])
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    helpers = [Helper("broker", "broker 1", b1[0], port1, (b1[1], b1[2])),
               Helper("redis", "redis-server", redis_proc, redis_port, (redis_out,))]
    split = (port1, port2) if name == "zchat-cluster-split" else ()
    return Running(name, b2[0], "127.0.0.1", port2, workdir, b2[2], {"redis_url": url},
                   helpers=helpers, sender_port=port1, receiver_ports=split)


def _start_scraper(folder: Path, port: int) -> Helper:
    """scraper.py on the broker's metrics, every second (the broker serves them before
    its ready line); it exits 1 on a failed scrape, which Running.alive sees."""
    out_path = folder / "scraper.txt"
    cmd = [sys.executable, str(BENCH_DIR / "scraper.py"), f"http://127.0.0.1:{port}/metrics"]
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=folder)
    _LIVE[proc.pid] = proc
    return Helper("scraper", "scraper", proc, port, (out_path,))


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


def _kill_many(procs: list[subprocess.Popen[bytes]], grace: float = 3.0) -> None:
    """_kill for several processes at once: SIGTERM to all, one shared grace period,
    then SIGKILL to those still there; by PID only."""
    try:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.terminate()
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
    finally:
        for proc in procs:
            _LIVE.pop(proc.pid, None)


def kill_all() -> None:
    """Kill every server this process started and has not stopped yet."""
    with contextlib.suppress(Exception):
        _kill_many(list(_LIVE.values()))
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
