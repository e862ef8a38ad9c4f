"""Run the zchat fan-out benchmarks: seed design, bare relay, ngircd and zchat, interleaved.

zchat-cluster is two zchat brokers over a redis-server of its own (--cluster):
the sender joins broker 1 and every receiver broker 2, so every delivery
crosses brokers through Redis. failover.py measures the cluster's failover.

    /tmp/venv/bin/python benchmarks/run.py --quick              # a few seconds, smoke test
    /tmp/venv/bin/python benchmarks/run.py --n 10,100,1000 --reps 3

Each measurement starts the system fresh on a free loopback port, connects N
receivers (in this process), starts one sender process and stops everything
by PID afterwards. Systems run interleaved (A B C A B C ...) so a noisy
neighbour hits all of them alike; report.py then compares them by ratios
taken inside each repetition. See benchmarks/README.md for what each figure
means. Raw records go to benchmarks/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import loadgen
import report
import systems
import zmq

RESULTS_DIR = systems.BENCH_DIR / "results"
#: Idle clients per helper process in the memory runs (2 descriptors each for ZeroMQ).
HOLD_PER_PROCESS = 4000
Record = dict[str, Any]


# ---- machine ---------------------------------------------------------------------

def raise_fd_limit(need: int) -> int:
    """Raise RLIMIT_NOFILE to ``need`` (the hard limit too, when we may); return the soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "python": platform.python_version(), "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(), "loadavg": os.getloadavg(),
    }
    with contextlib.suppress(Exception):
        import zchat
        info["zchat"] = zchat.__version__
        # zchat changes quickly: say which working tree was measured.
        root = Path(zchat.__file__).resolve().parent.parent
        newest = max(p.stat().st_mtime for d in ("broker", "common", "protocol", "zchat")
                     for p in (root / d).glob("*.py"))
        info["zchat_tree_newest_file"] = time.strftime("%Y-%m-%d %H:%M:%S",
                                                       time.localtime(newest))
    if shutil.which("ngircd"):
        with contextlib.suppress(Exception):
            out = subprocess.run(["ngircd", "--version"], capture_output=True, text=True,
                                 timeout=5).stdout
            info["ngircd"] = out.splitlines()[0] if out else "?"
    return info


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


#: Seconds over which the broker's CPU is read with every client idle.
IDLE_CPU_S = 5.0


# ---- one measurement each ---------------------------------------------------------------

@contextlib.contextmanager
def running(name: str, args: argparse.Namespace) -> Iterator[systems.Running]:
    sysrun = systems.start(name, zchat_heartbeat=args.heartbeat,
                           relay_rooms=getattr(args, "relay_rooms", False))
    try:
        yield sysrun
    except BaseException:
        sysrun.keep_log = True
        raise
    finally:
        if sysrun.keep_log:
            _keep_server_log(sysrun, args)
        sysrun.stop()


def _keep_server_log(sysrun: systems.Running, args: argparse.Namespace) -> None:
    """Copy a troubled run's server output next to the results (the run folder is removed)."""
    prefix = getattr(args, "log_prefix", None)
    if prefix is None:
        return
    state = "alive" if sysrun.alive() else sysrun.exit_status()
    dest = Path(f"{prefix}-{sysrun.name}-pid{sysrun.pid}.log")
    with contextlib.suppress(OSError):
        parts = [f"# {sysrun.name} pid {sysrun.pid}, {state} at {time.strftime('%H:%M:%S')}\n"]
        for label, path in sysrun.log_files():
            if path.exists():
                parts.append(f"# ---- {label}: {path.name} (last 200 KB)\n")
                parts.append(path.read_bytes()[-200_000:].decode(errors="replace"))
        dest.write_text("".join(parts))
        print(f"# kept the server's log: {dest}", flush=True)


def _troubled(sysrun: systems.Running, res: loadgen.RunResult, sres: dict[str, Any],
              rec: Record) -> None:
    """Note a server that died, and keep the log of any run that timed out or failed."""
    if not sysrun.alive():
        rec["error"] = sysrun.exit_status()
    if res.timed_out or sres.get("error") or not sysrun.alive():
        sysrun.keep_log = True


@contextlib.contextmanager
def receivers(sysrun: systems.Running, n: int) -> Iterator[loadgen.Receivers]:
    rc = loadgen.make_receivers(systems.PROTOCOL[sysrun.name], sysrun.receivers_endpoint, n,
                                server_key=sysrun.server_key)
    try:
        yield rc
    finally:
        rc.close()


def _connect(rc: loadgen.Receivers, args: argparse.Namespace) -> float:
    setup = rc.connect(timeout=args.connect_timeout)
    rc.settle(quiet_s=0.3, timeout=args.connect_timeout)
    return setup


def measure_fanout(name: str, n: int, m: int, rep: int, args: argparse.Namespace,
                   profile_to: Path | None = None) -> Record:
    """N receivers, M messages flat out: deliveries/s, loss, broker CPU per delivery."""
    rec: Record = {"kind": "fanout", "system": name, "n": n, "messages": m, "rep": rep,
                   "expected": n * m}
    with running(name, args) as sysrun, receivers(sysrun, n) as rc:
        rec["rss_base_kb"] = sysrun.rss_kb()
        rec["setup_s"] = _connect(rc, args)
        rec["rss_idle_kb"] = sysrun.rss_kb()
        sender = loadgen.spawn_sender(systems.PROTOCOL[name], sysrun.sender_endpoint, m,
                                      ready_timeout=args.connect_timeout,
                                      server_key=sysrun.server_key)
        # Every broker of the system (a cluster's: the receivers' broker first).
        spies = [_start_pyspy(pid, _broker_profile(profile_to, k))
                 for k, pid in enumerate(sysrun.broker_pids())] if profile_to else []
        try:
            redis0, parts0 = sysrun.redis_cpu_seconds(), sysrun.cpu_by_process()
            cpu0, gen0, t0 = sysrun.cpu_seconds(), _self_cpu(), time.monotonic()
            sender.go()
            res = rc.run(m, latency=False, deadline_s=args.timeout, idle_s=args.idle_timeout,
                         sender_done=sender.finished)
            cpu1, gen1, t1 = sysrun.cpu_seconds(), _self_cpu(), time.monotonic()
            redis1, parts1 = sysrun.redis_cpu_seconds(), sysrun.cpu_by_process()
            sres = sender.collect(timeout=args.timeout)
        finally:
            sender.close()
            for spy in spies:
                if spy:
                    _stop_pyspy(spy)
        _troubled(sysrun, res, sres, rec)
    delivered = sum(min(c, m) for c in res.counts)
    rec.update(delivered=delivered, loss=n * m - delivered, sent=sres.get("sent", 0),
               broker_cpu_s=cpu1 - cpu0, gen_cpu_util=(gen1 - gen0) / max(1e-9, t1 - t0),
               broker_cpu_util=(cpu1 - cpu0) / max(1e-9, t1 - t0))
    first = int(sres.get("first_send_ns") or 0)
    if res.last_recv_ns and first:
        elapsed = (res.last_recv_ns - first) / 1e9
        last_send = int(sres.get("last_send_ns") or first)
        rec.update(elapsed_s=elapsed, rate=delivered / elapsed,
                   sender_msgs_per_s=(sres.get("sent") or 0) / max(1e-9, (last_send - first) / 1e9))
    if delivered:
        rec["cpu_per_m"] = (cpu1 - cpu0) / delivered * 1e6
    if redis0 is not None and redis1 is not None:
        # A cluster: the brokers' CPU above; the redis-server's here, apart.
        rec.update(redis_cpu_s=redis1 - redis0,
                   redis_cpu_util=(redis1 - redis0) / max(1e-9, t1 - t0))
        if delivered:
            rec["redis_cpu_per_m"] = (redis1 - redis0) / delivered * 1e6
        rec["cpu_s_by_process"] = {k: round(parts1[k] - parts0[k], 2) for k in parts1}
    if res.timed_out:
        rec["timed_out"] = res.timed_out
    if sres.get("error"):
        rec["error"] = f"sender: {sres['error']}" + (f"; {rec['error']}" if "error" in rec else "")
    return rec


def measure_latency(name: str, n: int, rate: float, m: int, rep: int,
                    args: argparse.Namespace) -> Record:
    """Paced sender: per-delivery latency from the send stamp to the receipt time."""
    rec: Record = {"kind": "latency", "system": name, "n": n, "rate": rate, "messages": m,
                   "rep": rep}
    with running(name, args) as sysrun, receivers(sysrun, n) as rc:
        _connect(rc, args)
        paced_latency(sysrun, rc, rate, m, args, rec)
    return rec


def paced_latency(sysrun: systems.Running, rc: loadgen.Receivers, rate: float, m: int,
                  args: argparse.Namespace, rec: Record, sender_name: str = "sender") -> Record:
    """``m`` messages at ``rate`` from a new sender process to the receivers ``rc``,
    connected to ``sysrun`` (search_load.py runs several on one broker, each sender
    with a name of its own): per-delivery latency from the send stamp to the receipt
    time, and loss, into ``rec`` (also returned). Bounded by ``args.timeout``,
    ``args.idle_timeout`` and ``args.connect_timeout``."""
    name = sysrun.name
    sender = loadgen.spawn_sender(systems.PROTOCOL[name], sysrun.sender_endpoint, m, rate=rate,
                                  ready_timeout=args.connect_timeout,
                                  server_key=sysrun.server_key, name=sender_name)
    try:
        sender.go()
        res = rc.run(m, latency=True, deadline_s=m / rate + args.timeout,
                     idle_s=args.idle_timeout, sender_done=sender.finished)
        sres = sender.collect(timeout=args.timeout)
    finally:
        sender.close()
    _troubled(sysrun, res, sres, rec)
    delivered = sum(min(c, m) for c in res.counts)
    lat = sorted(res.latencies_ns)
    rec.update(delivered=delivered, loss=rc.n * m - delivered, samples=len(lat),
               bad_frames=res.bad_frames)
    if lat:
        rec.update(p50_ms=_pct(lat, 50) / 1e6, p99_ms=_pct(lat, 99) / 1e6, max_ms=lat[-1] / 1e6,
                   mean_ms=statistics.fmean(lat) / 1e6)
    if res.timed_out:
        rec["timed_out"] = res.timed_out
    if sres.get("error"):
        rec["error"] = f"sender: {sres['error']}" + (f"; {rec['error']}" if "error" in rec else "")
    return rec


def _pct(sorted_vals: Sequence[int], p: float) -> float:
    k = min(len(sorted_vals) - 1, max(0, round(p / 100 * (len(sorted_vals) - 1))))
    return float(sorted_vals[k])


def measure_stall(name: str, n: int, plan: loadgen.StallPlan, args: argparse.Namespace) -> Record:
    """Flat-out sender; receiver 0 stops reading mid-run: what do the others get meanwhile?"""
    rec: Record = {"kind": "stall", "system": name, "n": n, "stall_s": plan.for_s}
    duration = plan.after_s + plan.for_s + plan.post_s + 0.5
    with running(name, args) as sysrun, receivers(sysrun, n) as rc:
        _connect(rc, args)
        sender = loadgen.spawn_sender(systems.PROTOCOL[name], sysrun.sender_endpoint, 0,
                                      duration=duration, ready_timeout=args.connect_timeout,
                                      server_key=sysrun.server_key)
        try:
            sender.go()
            res = rc.run(10**12, latency=False, deadline_s=duration + args.timeout,
                         idle_s=plan.for_s + args.idle_timeout, stall=plan,
                         sender_done=sender.finished)
            sres = sender.collect(timeout=args.timeout + duration)
        finally:
            sender.close()
        rec["alive_after"] = sysrun.alive()
        if not rec["alive_after"] or sres.get("error"):
            sysrun.keep_log = True
    sent = int(sres.get("sent") or 0)
    rec.update(res.stall)
    rec.update(sent=sent, stalled_received=res.counts[plan.index],
               others_lost=sum(max(0, sent - c) for i, c in enumerate(res.counts)
                               if i != plan.index))
    if sres.get("error"):
        rec["sender_error"] = str(sres["error"])
    if res.timed_out:
        rec["ended_by"] = res.timed_out
    return rec


def measure_idle(name: str, n: int, args: argparse.Namespace) -> Record:
    """RSS of the broker with N idle clients connected (and joined).

    The clients live in helper processes of at most ``HOLD_PER_PROCESS`` each:
    a ZeroMQ client costs this side two descriptors, and the hard RLIMIT_NOFILE
    (which we may not raise) would not fit 10,000 of them in one process.
    """
    rec: Record = {"kind": "idle", "system": name, "n": n, "rep": 0,
                   "heartbeat": args.idle_heartbeat}
    holders: list[subprocess.Popen[bytes]] = []
    # Heartbeats included: the broker at a real interval, its clients answering.
    with running(name, argparse.Namespace(**{**vars(args), "heartbeat": args.idle_heartbeat})
                 ) as sysrun:
        rec["rss_base_kb"] = sysrun.rss_kb()
        t0 = time.monotonic()
        try:
            holders = spawn_holders(sysrun, n, args.idle_connect_timeout)
            error = await_holders(holders, t0 + args.idle_connect_timeout + 10,
                                  f"not all {n} clients registered in "
                                  f"{args.idle_connect_timeout:.0f}s", sysrun.workdir)
            if error:
                rec["error"] = error
                return rec
            rec["setup_s"] = time.monotonic() - t0
            time.sleep(0.5)
            rec["rss_kb"] = sysrun.rss_kb()
            rec["per_client_kb"] = (rec["rss_kb"] - rec["rss_base_kb"]) / n
            # The broker's own work with everyone idle: heartbeats both ways.
            cpu0, t1 = sysrun.cpu_seconds(), time.monotonic()
            time.sleep(args.idle_cpu_seconds)
            rec["idle_cpu_share"] = (sysrun.cpu_seconds() - cpu0) / (time.monotonic() - t1)
        finally:
            stop_holders(holders)
    return rec


def spawn_holders(sysrun: systems.Running, n: int, timeout: float) -> list[
        subprocess.Popen[bytes]]:
    """N idle clients of ``sysrun`` in `loadgen.py hold` processes of at most
    ``HOLD_PER_PROCESS`` each (their stderr in the run's folder, holder-FIRST.err).
    ``timeout`` bounds their connecting, and then how long they stay."""
    holders: list[subprocess.Popen[bytes]] = []
    try:
        for first in range(0, n, HOLD_PER_PROCESS):
            count = min(HOLD_PER_PROCESS, n - first)
            with open(sysrun.workdir / f"holder-{first}.err", "wb") as err:
                holders.append(subprocess.Popen(
                    [sys.executable, str(systems.BENCH_DIR / "loadgen.py"), "hold",
                     "--protocol", systems.PROTOCOL[sysrun.name],
                     "--endpoint", sysrun.receivers_endpoint,
                     "--n", str(count), "--first-name", str(first),
                     "--timeout", str(timeout),
                     *(["--server-key", sysrun.server_key] if sysrun.server_key else [])],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err))
    except BaseException:
        stop_holders(holders)
        raise
    return holders


def await_holders(holders: list[subprocess.Popen[bytes]], deadline: float, late: str,
                  err_dir: Path | None = None) -> str | None:
    """Wait (until ``deadline``) for each holder's JSON status line; None once every
    one said ``{"ready": true}``, else why not (``late`` when one said nothing in
    time, with the tails of ``err_dir``'s holder-*.err files)."""
    for proc in holders:
        line = _read_line(proc, deadline)
        if line.startswith("{"):
            status = json.loads(line)
        else:
            errs = " ".join(p.read_text(errors="replace")[-300:]
                            for p in (err_dir.glob("holder-*.err") if err_dir else []))
            status = {"error": line or f"{late} {errs}".strip()}
        if not status.get("ready"):
            return str(status.get("error", "holder failed"))
    return None


def stop_holders(holders: list[subprocess.Popen[bytes]]) -> None:
    """Tell each holder process (`loadgen.py hold`, `heartbeat_floor.py --role hold`) to
    go, then wait for it (killed if it hangs)."""
    for proc in holders:
        with contextlib.suppress(OSError):
            if proc.stdin:
                proc.stdin.write(b"EXIT\n")
                proc.stdin.close()
    for proc in holders:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> str:
    """One line from ``proc``'s stdout, or "" at the deadline (never blocks past it)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return ""
        if poller.poll(int(min(left, 0.5) * 1000)):
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace")


def _start_pyspy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return None
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "400", "--format",
                             "raw", "--nolineno", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let it attach before the clock starts
    return proc


def _broker_profile(path: Path, k: int) -> Path:
    """Where broker k's profile goes: ``path`` itself for the first (or only) broker."""
    return path if k == 0 else path.with_name(f"{path.stem}-broker{k + 1}{path.suffix}")


def _stop_pyspy(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---- the whole run -------------------------------------------------------------------

def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--systems", default=",".join(systems.ALL_SYSTEMS),
                   help="comma list from: " + ", ".join(systems.ALL_SYSTEMS))
    p.add_argument("--n", default="10,100,1000", help="receiver counts for the fan-out runs")
    p.add_argument("--messages", default="",
                   help="messages per fan-out run: one number, or one per --n value "
                        "(default: --deliveries / N)")
    p.add_argument("--deliveries", type=int, default=600_000,
                   help="target N*M per fan-out run when --messages is not given")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--latency-n", type=int, default=50)
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--latency-seconds", type=float, default=2.0)
    p.add_argument("--stall-n", type=int, default=50)
    p.add_argument("--stall-seconds", type=float, default=5.0)
    p.add_argument("--idle", default="1000", help="idle-client counts for the memory figure")
    p.add_argument("--idle-10k", action="store_true",
                   help="also measure memory with 10,000 idle clients (needs ~25k fds, slow)")
    p.add_argument("--skip", default="", help="phases to skip: fanout,latency,stall,idle")
    p.add_argument("--py-spy", action="store_true",
                   help="one extra, uncounted fan-out run per N under py-spy (every broker)")
    p.add_argument("--py-spy-system", default="zchat",
                   help="the system --py-spy profiles (default zchat; e.g. zchat-cluster)")
    p.add_argument("--idle-cpu-seconds", type=float, default=IDLE_CPU_S,
                   help="how long the broker's CPU is read with every idle client joined")
    p.add_argument("--idle-heartbeat", type=float, default=1.0,
                   help="zchat --heartbeat for the idle-client (memory and heartbeat CPU) runs")
    p.add_argument("--heartbeat", type=float, default=60.0,
                   help="zchat --heartbeat (every zchat system, the cluster's brokers too): "
                        "long, so idle receivers need not ping")
    p.add_argument("--timeout", type=float, default=60.0, help="hard bound on one run, seconds")
    p.add_argument("--idle-timeout", type=float, default=3.0,
                   help="a run with nothing received for this long ends (loss reported)")
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--idle-connect-timeout", type=float, default=120.0,
                   help="bound on connecting the idle clients of one memory run")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: N=10,100, 1 rep, small M, short latency/stall runs")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default results/)")
    p.add_argument("--plot", type=Path, default=None, help="plot PNG (default next to JSON)")
    args = p.parse_args(argv)
    if args.quick:
        args.n = "10,100" if args.n == "10,100,1000" else args.n
        args.reps = 1 if args.reps == 3 else args.reps
        args.deliveries = 100_000 if args.deliveries == 600_000 else args.deliveries
        args.latency_seconds = min(args.latency_seconds, 1.0)
        args.stall_seconds = min(args.stall_seconds, 1.0)
        args.idle = "100" if args.idle == "1000" else args.idle
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in wanted:
        if s not in systems.ALL_SYSTEMS:
            sys.exit(f"unknown system {s!r}; choose from {', '.join(systems.ALL_SYSTEMS)}")
    ns = _ints(args.n)
    if args.messages:
        ms = _ints(args.messages)
        ms = ms * len(ns) if len(ms) == 1 else ms
        if len(ms) != len(ns):
            sys.exit("--messages needs one value or one per --n value")
    else:
        ms = [max(200, args.deliveries // n) for n in ns]
    idle_sizes = _ints(args.idle) + ([10_000] if args.idle_10k else [])
    skip = set(args.skip.split(","))
    # Receivers here cost 2 descriptors each (ZeroMQ); a server inherits the limit too.
    fds = raise_fd_limit(max(2 * max([*ns, HOLD_PER_PROCESS, args.stall_n]), *idle_sizes) + 2048)

    unavailable = {}
    run_systems = []
    for s in wanted:
        ok, why = systems.available(s)
        if ok:
            run_systems.append(s)
        else:
            unavailable[s] = why
            print(f"# skipping {s}: {why}", flush=True)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = args.out or RESULTS_DIR / f"run-{stamp}.json"
    plot_path = args.plot or out.with_suffix(".png")
    args.log_prefix = out.with_suffix("")  # troubled runs keep the server's log as PREFIX-*.log
    meta = {"command": " ".join([Path(sys.executable).name, "benchmarks/run.py",
                                 *(argv if argv is not None else sys.argv[1:])]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "systems": wanted, "n": ns,
            "messages": ms, "reps": args.reps, "unavailable": unavailable,
            "machine": machine(), "fd_limit": fds, "zchat_heartbeat": args.heartbeat}
    results: dict[str, Any] = {"meta": meta, "records": []}
    records: list[Record] = results["records"]
    t_all = time.monotonic()

    def log(rec: Record) -> None:
        records.append(rec)
        brief = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()
                 if k in ("kind", "system", "n", "rep", "rate", "loss", "cpu_per_m", "p50_ms",
                          "p99_ms", "rss_kb", "setup_s", "rate_before", "rate_during",
                          "stalled_received", "error", "timed_out", "gen_cpu_util")}
        print(json.dumps(brief), flush=True)
        out.write_text(json.dumps(results, indent=1))

    def guarded(kind: str, name: str, n: int, rep: int, fn: Any, *a: Any) -> None:
        """Run one measurement; a failure becomes a record, not the end of the run."""
        try:
            log(fn(*a))
        except (TimeoutError, RuntimeError, OSError, zmq.ZMQError) as exc:
            log({"kind": kind, "system": name, "n": n, "rep": rep,
                 "error": f"{type(exc).__name__}: {exc}"})

    try:
        for rep in range(args.reps):
            for n, m in zip(ns, ms, strict=True):
                for name in run_systems if "fanout" not in skip else []:
                    guarded("fanout", name, n, rep, measure_fanout, name, n, m, rep, args)
            if "latency" not in skip:
                lat_m = int(args.latency_rate * args.latency_seconds)
                for name in run_systems:
                    guarded("latency", name, args.latency_n, rep, measure_latency, name,
                            args.latency_n, args.latency_rate, lat_m, rep, args)
        if "stall" not in skip:
            plan = loadgen.StallPlan(0, after_s=min(2.0, args.stall_seconds),
                                     for_s=args.stall_seconds, post_s=min(2.0, args.stall_seconds))
            for name in run_systems:
                guarded("stall", name, args.stall_n, 0, measure_stall, name, args.stall_n, plan,
                        args)
        if "idle" not in skip:
            for size in idle_sizes:
                for name in run_systems:
                    # The N=size fan-out setups already measured this; reuse them.
                    reused = [r for r in records if r["kind"] == "fanout" and r["system"] == name
                              and r["n"] == size and "rss_idle_kb" in r]
                    for r in reused:
                        records.append({"kind": "idle", "system": name, "n": size,
                                        "rep": r["rep"], "rss_base_kb": r["rss_base_kb"],
                                        "rss_kb": r["rss_idle_kb"], "setup_s": r["setup_s"],
                                        "per_client_kb": (r["rss_idle_kb"] - r["rss_base_kb"])
                                        / size})
                    if not reused:
                        guarded("idle", name, size, 0, measure_idle, name, size, args)
        spied = args.py_spy_system
        if args.py_spy and spied in run_systems:
            profiles = []
            for n, m in zip(ns, ms, strict=True):
                raw = out.with_name(f"{out.stem}-pyspy-{spied}-n{n}.txt")
                rec = measure_fanout(spied, n, m, -1, args, profile_to=raw)
                rec["kind"] = "profiled"
                log(rec)
                for k in range(2 if spied in systems.CLUSTER_SYSTEMS else 1):
                    path = _broker_profile(raw, k)
                    if path.exists():
                        which = ("" if spied not in systems.CLUSTER_SYSTEMS
                                 else ", the sender's broker" if k else ", the receivers' broker")
                        profiles.append(f"{spied} N={n}{which} (rate under py-spy: "
                                        f"{report.fmt_rate(rec.get('rate', 0))}/s)\n\n"
                                        + report.pyspy_summary(path))
            results["profile"] = "\n\n".join(profiles)
    except KeyboardInterrupt:
        print("# interrupted: writing what was measured", flush=True)
    finally:
        systems.kill_all()
        meta["wall_s"] = time.monotonic() - t_all
        out.write_text(json.dumps(results, indent=1))

    md = report.render(results)
    out.with_suffix(".md").write_text(md + "\n")
    print()
    print(md)
    if report.plot(results, plot_path):
        print(f"\nplot: {plot_path}")
    else:
        print("\n(no plot: pip install matplotlib)")
    print(f"raw results: {out}  ({meta['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
