"""A broker's memory over time with N idle clients that heartbeat.

run.py takes one RSS reading once everyone has joined. This keeps the
clients connected for longer and reads the broker's RSS at intervals: libzmq's
per-connection pipes grow with the frames that pass through them, so a
snapshot taken at join time is not the steady state.

    python benchmarks/idle_growth.py --system zchat --n 10000 --seconds 720 --every 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import systems
from run import HOLD_PER_PROCESS, await_holders, raise_fd_limit, spawn_holders, stop_holders


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", default="zchat", choices=["relay", "zchat", "zchat-memory"])
    p.add_argument("--n", type=int, default=10_000, help="idle clients")
    p.add_argument("--heartbeat", type=float, default=1.0, help="zchat --heartbeat")
    p.add_argument("--seconds", type=float, default=720.0, help="how long to watch")
    p.add_argument("--every", type=float, default=60.0, help="seconds between readings")
    p.add_argument("--connect-timeout", type=float, default=300.0)
    args = p.parse_args(argv)
    raise_fd_limit(2 * HOLD_PER_PROCESS + 2048)
    run = systems.start(args.system, zchat_heartbeat=args.heartbeat)
    holders: list[subprocess.Popen[bytes]] = []
    try:
        holders = spawn_holders(run, args.n, args.connect_timeout + args.seconds + 60)
        error = await_holders(holders, time.monotonic() + args.connect_timeout,
                              f"not all {args.n} clients registered in "
                              f"{args.connect_timeout:.0f}s", run.workdir)
        if error:
            sys.exit(f"clients did not connect: {error}")
        print(f"# {args.system}, {args.n} idle clients, heartbeat {args.heartbeat} s")
        print("| seconds since all joined | RSS | RSS / N | CPU since the last reading: "
              "all / main thread / other threads |\n|---|---|---|---|")
        t0 = time.monotonic()
        last, last_t = thread_cpu_seconds(run.pid), t0
        while True:
            rss = run.rss_kb()
            now, cpu = time.monotonic(), thread_cpu_seconds(run.pid)
            share = "-"
            if now > last_t:
                main = (cpu.get(run.pid, 0.0) - last.get(run.pid, 0.0)) / (now - last_t)
                every = (sum(cpu.values()) - sum(last.values())) / (now - last_t)
                share = f"{every:.1%} / {main:.1%} / {every - main:.1%}"
            print(f"| {now - t0:.0f} | {rss / 1024:.1f} MB | {rss / args.n:.1f} KB | {share} |",
                  flush=True)
            last, last_t = cpu, now
            if now - t0 + args.every > args.seconds:
                break
            time.sleep(args.every)  # a sampling period, not a synchronisation
    finally:
        stop_holders(holders)
        run.stop()
    return 0


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``, by thread id: the
    main thread is Python's loop, the others libzmq's I/O thread and the like."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


if __name__ == "__main__":
    sys.exit(main())
