"""zchat's idle cost against the bare PING/PONG ROUTER floor, in one run.

Issue 17's idle target: "10,000 idle heartbeating clients cost at most 1.15x
the bare PING/PONG ROUTER floor in memory and CPU, measured in the same run".
heartbeat_floor.py (the floor) and idle_growth.py (zchat) each measure one side,
at different times, on a machine whose figures move from one run to the next;
this runs both under the same conditions, one after the other, and compares.

For each system (the floor first, then zchat; repetitions interleaved) it
starts the server on a free loopback port, connects ``--n`` clients in helper
processes that heartbeat every ``--heartbeat`` seconds, waits until every one is
connected (the floor's: each has had a PONG; zchat's: each is joined and the
join announcements are drained), lets ``--settle`` seconds pass, then reads the
server's RSS and CPU (utime + stime, all threads) from /proc every ``--every``
seconds for ``--seconds``. The floor is heartbeat_floor.py's ROUTER answering
each client's PING with a PONG, its clients pinging every ``--heartbeat`` s;
zchat is ``zchat broker --heartbeat HEARTBEAT`` (systems.py: its defaults, flood
limits lifted) with run.py's idle holders, whose clients answer each of the
broker's PINGs as zchat's client does. So both servers get one frame in and one
frame out per client per interval.

    python benchmarks/idle_floor.py --n 10000 --seconds 120 --every 30

Reported per system: RSS at join, at the end and the most of the readings, the
kernel's peak (VmHWM, the join included), the server's CPU over the watched
window in cores busy (its main thread and its other threads, libzmq's I/O
thread), the clients' processes' CPU; then zchat / floor for the end RSS, the
max RSS and the CPU, each met or not against 1.15x (with --reps > 1: the median
of the ratios taken inside each repetition). Raw results go to
benchmarks/results/idle-floor-*.json (and the table to .md next to it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import heartbeat_floor
import systems
from idle_growth import thread_cpu_seconds
from run import (
    HOLD_PER_PROCESS,
    RESULTS_DIR,
    await_holders,
    machine,
    raise_fd_limit,
    spawn_holders,
    stop_holders,
)

#: The floor first, then the system under test, in every repetition.
SYSTEMS = (systems.FLOOR, "zchat")
#: Issue 17: zchat may cost at most this many times the floor.
TARGET = 1.15
#: What the ratios compare: (record field, label).
RATIOS = (("rss_end_kb", "end RSS"), ("rss_max_kb", "max RSS"), ("cpu_cores", "CPU"))
Record = dict[str, Any]


def _peak_kb(pid: int) -> int:
    """The kernel's high-water mark of ``pid``'s RSS (VmHWM in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _holders_cpu(holders: list[subprocess.Popen[bytes]]) -> float:
    return sum(systems.proc_cpu_seconds(h.pid) for h in holders if h.poll() is None)


def measure(name: str, rep: int, args: argparse.Namespace) -> Record:
    """One system: start it, connect the clients, watch it; its record."""
    rec: Record = {"system": name, "rep": rep, "n": args.n, "heartbeat": args.heartbeat}
    server = systems.start(name, zchat_heartbeat=args.heartbeat)
    holders: list[subprocess.Popen[bytes]] = []
    try:
        rec["rss_empty_kb"] = server.rss_kb()
        # The holders' own bound: connecting, settling, watching, and a margin.
        life = args.connect_timeout + args.settle + args.seconds + 60
        t0 = time.monotonic()
        if name == systems.FLOOR:
            holders = heartbeat_floor.spawn_holders(server.endpoint, args.n, args.heartbeat, life)
        else:
            holders = spawn_holders(server, args.n, life)
        print(f"# rep {rep + 1}, {name}: connecting {args.n} clients "
              f"({len(holders)} processes)", flush=True)
        error = await_holders(holders, t0 + args.connect_timeout,
                              f"not all {args.n} clients connected in "
                              f"{args.connect_timeout:.0f} s", server.workdir)
        if error:
            rec["error"] = error
            return rec
        rec["connect_s"] = time.monotonic() - t0
        time.sleep(args.settle)  # a bound on the join's aftermath, the same for both
        rec.update(watch(server, holders, args))
    except (RuntimeError, OSError) as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        stop_holders(holders)
        server.stop()
    return rec


def watch(server: systems.Running, holders: list[subprocess.Popen[bytes]],
          args: argparse.Namespace) -> Record:
    """Readings at 0, --every, 2 --every, ... and --seconds after the join."""
    pid = server.pid
    t0 = time.monotonic()
    # The process's figure counts ended threads too; its threads' are read at the same
    # moments, so that "other threads" is the process's minus its main thread's.
    cpu0, threads0, hold0 = server.cpu_seconds(), thread_cpu_seconds(pid), _holders_cpu(holders)
    samples: list[Record] = []
    last_t, last_cpu, threads = t0, cpu0, threads0
    k = 0
    while True:
        due = t0 + min(k * args.every, args.seconds)
        time.sleep(max(0.0, due - time.monotonic()))  # a sampling period, not a sync
        if not server.alive():
            raise RuntimeError(f"{server.name}: {server.exit_status()}")
        now, cpu, threads = time.monotonic(), server.cpu_seconds(), thread_cpu_seconds(pid)
        rss = server.rss_kb()
        sample = {"t": now - t0, "rss_kb": rss, "cpu_s": cpu - cpu0,
                  "cpu_cores_since_last": (cpu - last_cpu) / (now - last_t)
                  if now > last_t else 0.0}
        samples.append(sample)
        print(f"  {sample['t']:6.1f} s  RSS {rss / 1024:7.1f} MB  "
              f"CPU since last {sample['cpu_cores_since_last']:6.1%}", flush=True)
        last_t, last_cpu = now, cpu
        if due >= t0 + args.seconds:
            break
        k += 1
    span = last_t - t0
    main_s = threads.get(pid, 0.0) - threads0.get(pid, 0.0)
    all_s = last_cpu - cpu0
    return {
        "samples": samples,
        "window_s": span,
        "rss_join_kb": samples[0]["rss_kb"],
        "rss_end_kb": samples[-1]["rss_kb"],
        "rss_max_kb": max(s["rss_kb"] for s in samples),
        "rss_peak_kb": _peak_kb(pid),
        "cpu_s": all_s,
        "cpu_cores": all_s / span if span > 0 else 0.0,
        "cpu_main_cores": main_s / span if span > 0 else 0.0,
        # (max: the two are read a few microseconds apart, in ticks of 10 ms)
        "cpu_other_cores": max(0.0, all_s - main_s) / span if span > 0 else 0.0,
        "clients_cpu_cores": (_holders_cpu(holders) - hold0) / span if span > 0 else 0.0,
    }


def compare(records: list[Record]) -> list[Record]:
    """zchat / floor for each repetition where both were measured."""
    out: list[Record] = []
    for rep in sorted({r["rep"] for r in records}):
        by = {r["system"]: r for r in records if r["rep"] == rep and "error" not in r}
        floor, zchat = by.get(systems.FLOOR), by.get("zchat")
        if floor is None or zchat is None:
            continue
        out.append({"rep": rep, **{key: zchat[key] / floor[key] if floor[key] else None
                                   for key, _ in (("rss_join_kb", ""), *RATIOS)}})
    return out


def summary(ratios: list[Record]) -> Record:
    """The median ratio of each figure over the repetitions, and the verdicts."""
    out: Record = {}
    for key, _ in (("rss_join_kb", ""), *RATIOS):
        vals = [r[key] for r in ratios if r[key] is not None]
        out[key] = statistics.median(vals) if vals else None
    met = {key: out[key] is not None and out[key] <= TARGET for key, _ in RATIOS}
    out["memory_met"] = met["rss_end_kb"] and met["rss_max_kb"]
    out["cpu_met"] = met["cpu_cores"]
    return out


def _mb(kb: float) -> str:
    return f"{kb / 1024:.1f} MB"


def table(records: list[Record], ratios: list[Record], summ: Record,
          args: argparse.Namespace) -> str:
    lines = [f"# Idle clients against the PING/PONG floor: N = {args.n}, heartbeat "
             f"{args.heartbeat:g} s, watched {args.seconds:g} s (reading every "
             f"{args.every:g} s)", "",
             "| rep | system | connect | RSS join | RSS end | RSS max | VmHWM | "
             "CPU (cores busy) | main / other threads | clients' CPU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['rep'] + 1} | {r['system']} | error: {r['error']} "
                         "| | | | | | | |")
            continue
        lines.append(
            f"| {r['rep'] + 1} | {r['system']} | {r['connect_s']:.1f} s "
            f"| {_mb(r['rss_join_kb'])} | {_mb(r['rss_end_kb'])} | {_mb(r['rss_max_kb'])} "
            f"| {_mb(r['rss_peak_kb'])} | {r['cpu_cores']:.1%} "
            f"| {r['cpu_main_cores']:.1%} / {r['cpu_other_cores']:.1%} "
            f"| {r['clients_cpu_cores']:.1%} |")
    lines += ["", "| rep | zchat / floor: RSS join | end RSS | max RSS | CPU |",
              "|---|---|---|---|---|"]

    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    for q in ratios:
        lines.append(f"| {q['rep'] + 1} | {x(q['rss_join_kb'])} | {x(q['rss_end_kb'])} "
                     f"| {x(q['rss_max_kb'])} | {x(q['cpu_cores'])} |")
    if ratios:
        if len(ratios) > 1:
            lines.append(f"| median | {x(summ['rss_join_kb'])} | {x(summ['rss_end_kb'])} "
                         f"| {x(summ['rss_max_kb'])} | {x(summ['cpu_cores'])} |")
        verdict = {True: "met", False: "not met"}
        lines += ["", f"Target <= {TARGET:.2f}x the floor: memory (end and max RSS) "
                  f"**{verdict[summ['memory_met']]}**, CPU **{verdict[summ['cpu_met']]}**."]
    else:
        lines += ["", "No repetition measured both systems: no ratio."]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="idle clients per system")
    p.add_argument("--heartbeat", type=float, default=1.0,
                   help="zchat --heartbeat, and the floor's clients' PING interval (s)")
    p.add_argument("--seconds", type=float, default=120.0, help="how long to watch each system")
    p.add_argument("--every", type=float, default=30.0, help="seconds between readings")
    p.add_argument("--reps", type=int, default=1, help="repetitions, systems interleaved")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds between the last client connected and the first reading")
    p.add_argument("--connect-timeout", type=float, default=300.0,
                   help="bound on connecting one system's clients (s)")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON (default benchmarks/results/idle-floor-*.json)")
    args = p.parse_args(argv)
    if args.n < 1 or args.every <= 0 or args.seconds < 0 or args.reps < 1:
        p.error("--n and --reps must be >= 1, --every > 0, --seconds >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # This process holds nothing but the holders' pipes; the servers and the
    # holders raise their own limits (2 descriptors a ZeroMQ client each side).
    raise_fd_limit(2 * HOLD_PER_PROCESS + 2048)
    meta = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None
            else " ".join(argv), "target": TARGET}
    records: list[Record] = []
    try:
        for rep in range(args.reps):
            for name in SYSTEMS:
                records.append(measure(name, rep, args))
    finally:
        meta["loadavg_end"] = list(os.getloadavg())
        ratios = compare(records)
        summ = summary(ratios)
        text = table(records, ratios, summ, args)
        print("\n" + text)
        out = args.out or RESULTS_DIR / f"idle-floor-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"meta": meta, "options": {**vars(args), "out": str(out)},
                                   "records": records, "ratios": ratios, "summary": summ},
                                  indent=1, default=str))
        out.with_suffix(".md").write_text(text + "\n")
        print(f"\nraw results: {out}")
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
