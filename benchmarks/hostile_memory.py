"""Hostile load on a broker's memory and time: issue 13's attacks at full size, with figures.

Each attack (items 2, 3, 4, 5, 8 and 15 of issue 13, the same code as the
scenario tests: tests/scenarios/attacks_memory.py) runs against a fresh
`zchat broker` at its default limits (heartbeat 1 s, its own data folder),
from attacker source addresses 127.0.0.3 and up, while two honest sessions on
127.0.0.1 say timestamped probes to each other every 0.1 s. Reported per
attack: the broker's RSS (VmRSS every 100 ms) before, at its peak and after
the attacker left, its growth rate, the broker's CPU, the honest probes'
latency during the attack (p50, p99, max; a probe that never arrived counts as
infinitely late), whether honest users were still served afterwards, and what
the attacker sent.

Safety: an attack stops as soon as the broker's RSS passes ``--cap-mb`` (2 GB);
if it still grows past 1.5 times that, the broker is killed (SIGKILL, by PID).
Every broker is one this script started, and is stopped afterwards.

    python benchmarks/hostile_memory.py                          # everything, ~5 minutes
    python benchmarks/hostile_memory.py --quick                   # a sixth of the time
    python benchmarks/hostile_memory.py --attacks fetch-cpu --seconds-scale 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import systems
import zmq

from zchat.protocol import Ack, Events, Fetch, Msg, Say, encode
from zchat.protocol import constants as c

sys.path.insert(0, str(systems.BENCH_DIR.parent))  # the repository, for tests.scenarios
from tests.scenarios import attacks_memory as am

RESULTS = systems.BENCH_DIR / "results"
#: Maximal texts in history for the FETCH attacks: more than one 200-event page.
HISTORY_TEXTS = 224
#: Seconds the RSS is still watched after the attacker has gone (--after-seconds).
AFTER_S = 5.0


@dataclass
class Result:
    attack: str
    size: str
    seconds: float = 0.0
    capped: bool = False
    killed: bool = False
    rss_base_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_after_mb: float = 0.0
    growth_mb_s: float = 0.0
    broker_cpu: float = 0.0
    probes_sent: int = 0
    probes_delivered: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    served_after: bool = False
    dropped: list[str] = field(default_factory=list)
    sent: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class Watchdog(threading.Thread):
    """Kills the broker (SIGKILL, its PID only) if its RSS passes ``kill_kb``."""

    def __init__(self, pid: int, kill_kb: int) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.pid, self.kill_kb = pid, kill_kb
        self.killed = False
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            if am.rss_kb(self.pid) > self.kill_kb:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.killed = True
                return


def cpu_seconds(pid: int) -> float:
    """The broker's CPU seconds so far (0 once it is gone)."""
    try:
        return systems.proc_cpu_seconds(pid)
    except OSError:
        return 0.0


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a bounded wait, then SIGKILL: this broker only."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    systems.kill_all()  # (forgets it in systems' registry of live servers)


class Run:
    """One attack against a fresh broker: start it, watch it, attack, report, stop it."""

    def __init__(self, attack: str, size: str, opts: argparse.Namespace,
                 *broker_args: str) -> None:
        self.result = Result(attack, size)
        self.opts = opts
        self.folder = Path(tempfile.mkdtemp(prefix=f"zchat-hostile-{attack}-"))
        # The default limits, unlike the other benchmarks' brokers: they are under attack.
        cmd = [str(Path(sys.executable).with_name("zchat")), "broker",
               "--bind", "tcp://127.0.0.1:*", "--heartbeat", "1.0", "--lang", "en",
               "--data-dir", str(self.folder / "data"), *broker_args]
        self.proc, out, log = systems.spawn_zchat(cmd, self.folder)
        port = systems.wait_listening(self.proc, out, log, time.monotonic() + 15, "broker")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.pid = self.proc.pid
        cap_kb = opts.cap_mb * 1024
        self.rss = am.RssWatch(self.pid, cap_kb=cap_kb).__enter__()
        self.watchdog = Watchdog(self.pid, int(cap_kb * 1.5))
        self.watchdog.start()
        self.pair: am.HonestPair | None = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pair is not None:
            self.pair.stop()
        self.watchdog.halt.set()
        self.rss.__exit__()
        stop(self.proc)
        shutil.rmtree(self.folder, ignore_errors=True)

    def honest(self, private: bool = False) -> am.HonestPair:
        """Start the honest pair (private probes keep the public history as it is)."""
        self.pair = am.HonestPair(self.endpoint, interval=0.1, private=private)
        self.pair.start()
        self.pair.wait_ready()
        return self.pair

    def attack(self, attack: am.Attack, seconds: float,
               ready: Callable[[], bool] | None = None) -> tuple[float, float]:
        """Run ``attack`` for ``seconds`` (from when ``ready``) or until the cap;
        then watch the broker AFTER_S more. Returns the attack's (start, end)."""
        r = self.result
        with attack:
            deadline = time.monotonic() + 30
            while ready is not None and not ready() and not attack.error \
                    and not self.rss.over.is_set() and time.monotonic() < deadline:
                self.rss.watch(0.05)
            cpu0 = cpu_seconds(self.pid)
            start = time.monotonic()
            r.capped = self.rss.watch(seconds)
            end = time.monotonic()
            cpu1 = cpu_seconds(self.pid)
        r.error = attack.error
        r.seconds = round(end - start, 1)
        r.broker_cpu = round((cpu1 - cpu0) / max(1e-9, end - start), 2)
        r.growth_mb_s = round(self.rss.slope_kb_s(start, end) / 1024, 1)
        # The broker after the attacker left (a pace).
        threading.Event().wait(self.opts.after_seconds)
        r.rss_after_mb = round(self.rss.last_kb / 1024, 1)
        r.rss_base_mb = round(self.rss.base_kb / 1024, 1)
        r.rss_peak_mb = round(self.rss.peak_kb() / 1024, 1)
        r.killed = self.watchdog.killed or self.proc.poll() is not None
        if self.pair is not None:
            self.honest_figures(start, end)
        r.sent = {"frames": attack.sent, "MB": round(attack.sent_bytes / 2**20, 1)}
        return start, end

    def honest_figures(self, start: float, end: float) -> None:
        """The honest pair's probes sent in [start, end], and whether one sent now
        still gets through."""
        assert self.pair is not None
        r = self.result
        r.served_after = not r.killed and self.pair.delivered_after(time.monotonic(), 10.0)
        self.pair.settle(5.0)
        probes = self.pair.probes(start, end)
        r.probes_sent, r.probes_delivered = probes.sent, probes.received
        r.p50_ms, r.p99_ms, r.max_ms = (round(q * 1000) if q != float("inf") else -1
                                        for q in (probes.p50, probes.p99, probes.worst))
        r.dropped = list(self.pair.dropped)


# ---- the attacks -------------------------------------------------------------------------


def fetch_memory(opts: argparse.Namespace) -> Result:
    sessions = 5
    with Run("fetch-memory", f"{sessions} sessions x {c.FETCH_BURST} FETCH, never read",
             opts) as run:
        am.fill_history(run.endpoint, HISTORY_TEXTS)
        run.honest()
        attack = am.FetchHoard(run.endpoint, sessions=sessions)
        run.attack(attack, opts.scale * 20, ready=attack.sent_all.is_set)
        run.result.notes["all FETCH sent"] = attack.sent_all.is_set()
        return run.result


def feed_subscriptions(opts: argparse.Namespace) -> Result:
    with Run("feed-subscriptions", "1 stranger, 4,000-byte subscriptions", opts,
             "--fanout", "pub") as run:
        pair = run.honest()
        attack = am.SubscriptionFlood(pair.feed)
        run.attack(attack, opts.scale * 20)
        run.result.sent.update(connections=attack.connections,
                               closed_by_broker=attack.closed_by_broker)
        return run.result


def join_leave(opts: argparse.Namespace) -> Result:
    with Run("join-leave", "40 connections x JOIN+LEAVE / 0.2 s, never read", opts) as run:
        am.fill_history(run.endpoint, c.DEFAULT_HISTORY)
        run.honest(private=True)
        attack = am.JoinLeaveHoard(run.endpoint, connections=40, every=0.2, addresses=10)
        run.attack(attack, opts.scale * 60)
        run.result.sent["joins"] = attack.joins
        return run.result


def presence_churn(opts: argparse.Namespace) -> Result:
    retain = opts.churn_retain
    with Run("presence-churn", f"100 connections, one address, --retain {retain}", opts,
             "--retain", str(retain)) as run:
        ctx = zmq.Context()
        try:
            ana = am.dealer(ctx, run.endpoint)
            first = am.join(ana, "ana")
            for cid in range(1, 6):
                ana.send(encode(Say(f"kept {cid}", cid)))
            acks = [am.expect(ana, Ack) for _ in range(5)]
            am.leave(ana)
            ana.close(0)
            pair = run.honest(private=True)
            presence0 = pair.presence
            attack = am.PresenceChurn(run.endpoint, connections=100)
            start, end = run.attack(attack, opts.scale * 60)
            presence = pair.presence - presence0
            ana = am.dealer(ctx, run.endpoint)
            back = am.join(ana, "ana", first.session, resume=True)
            ana.send(encode(Fetch(acks[0].prev, 0)))
            replay = am.expect(ana, Events)
        finally:
            ctx.destroy(linger=0)
        elapsed = end - start
        probes = pair.probes(start, end).sent
        stored = back.pub - acks[-1].seq - probes
        kept = {e.seq for e in replay.events if isinstance(e, Msg)} & {a.seq for a in acks}
        rate = stored / elapsed
        run.result.sent.update(joins=attack.welcomed, refused=attack.refused)
        run.result.notes.update({
            "events stored/s": round(rate),
            "join/leave lines/s": round(presence / elapsed),
            "acknowledged kept": f"{len(kept)}/5 (lost {replay.lost})",
            "default 100,000-event history flushed in": (
                f"{100_000 / rate:.0f} s" if rate > 0 else "never"),
        })
        return run.result


def fetch_cpu(opts: argparse.Namespace) -> Result:
    sessions, window = 10, 20
    with Run("fetch-cpu", f"{sessions} sessions reading, {window} FETCH outstanding each",
             opts) as run:
        am.fill_history(run.endpoint, HISTORY_TEXTS, am.COSTLIEST_TEXT)
        run.honest()
        attack = am.FetchReaders(run.endpoint, sessions=sessions, window=window)
        start, end = run.attack(attack, opts.scale * 30, ready=attack.joined.is_set)
        run.result.sent.update(pages=attack.pages,
                               pages_MB=round(attack.page_bytes / 2**20),
                               refused=attack.refused)
        run.result.notes["pages/s"] = round(attack.pages / max(1e-9, end - start))
        return run.result


def feed_stranger(opts: argparse.Namespace) -> Result:
    """Item 15: what a SUB that never joined reads while honest users chat."""
    with Run("feed-stranger", "1 SUB on the empty prefix, no JOIN", opts,
             "--fanout", "pub") as run:
        pair = run.honest()
        ctx = zmq.Context()
        seen = am.FeedWatch()
        try:
            sub = am.feed_socket(ctx, pair.feed, source=am.attacker_address(0))
            start = time.monotonic()
            while time.monotonic() < start + max(5.0, opts.scale * 10):
                seen.drain(sub, 0.1)
            end = time.monotonic()
        finally:
            ctx.destroy(linger=0)
        r = run.result
        r.seconds = round(end - start, 1)
        r.rss_base_mb = round(run.rss.base_kb / 1024, 1)
        r.rss_peak_mb = r.rss_after_mb = round(run.rss.peak_kb() / 1024, 1)
        run.honest_figures(start, end)
        r.notes["public messages the stranger read"] = (
            f"{len(seen.matching('probe '))} of the {r.probes_sent} said")
        return r


ATTACKS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "fetch-memory": fetch_memory,  # item 2
    "feed-subscriptions": feed_subscriptions,  # item 3
    "join-leave": join_leave,  # item 4
    "presence-churn": presence_churn,  # item 5
    "fetch-cpu": fetch_cpu,  # item 8
    "feed-stranger": feed_stranger,  # item 15
}


# ---- report ------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "lost" if value < 0 else f"{value:.0f}"


def table(results: list[Result], cap_mb: int) -> str:
    rows = ["| attack | size | s | broker RSS base / peak / after (MB) | growth MB/s | "
            "broker CPU | honest p50 / p99 / max (ms) | delivered | served after | "
            "sent | notes |", "|" + "---|" * 11]
    for r in results:
        peak = f"{r.rss_peak_mb:.0f}" + (" (cap)" if r.capped else "") + \
            (" (killed)" if r.killed else "")
        parts = [f"{k}: {v}" for k, v in r.notes.items()]
        if r.dropped:
            parts.append(f"honest sessions dropped: {', '.join(sorted(set(r.dropped)))}")
        if r.error:
            parts.append(f"error: {r.error}")
        notes = "; ".join(parts)
        sent = ", ".join(f"{k} {v}" for k, v in r.sent.items())
        rows.append(
            f"| {r.attack} | {r.size} | {r.seconds} | {r.rss_base_mb:.0f} / {peak} / "
            f"{r.rss_after_mb:.0f} | {r.growth_mb_s} | {r.broker_cpu:.0%} | "
            f"{_ms(r.p50_ms)} / {_ms(r.p99_ms)} / {_ms(r.max_ms)} | "
            f"{r.probes_delivered}/{r.probes_sent} | {'yes' if r.served_after else 'NO'} | "
            f"{sent} | {notes} |")
    return "\n".join(rows) + (f"\n\nTargets (issue 13): RSS under 300 MB through each memory "
                              f"attack; honest latency under 100 ms during fetch-cpu and "
                              f"presence-churn; the stranger reads nothing. Cap: {cap_mb} MB.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attacks", default=",".join(ATTACKS),
                   help=f"comma list, in this order: {', '.join(ATTACKS)}")
    p.add_argument("--cap-mb", type=int, default=2048,
                   help="stop an attack when the broker's RSS passes this")
    p.add_argument("--seconds-scale", dest="scale", type=float, default=1.0,
                   help="multiply every attack's duration (the issue's sizes: 1)")
    p.add_argument("--quick", action="store_true", help="--seconds-scale 0.17")
    p.add_argument("--churn-retain", type=int, default=1000,
                   help="--retain for presence-churn (1000, the least, shows the flush)")
    p.add_argument("--after-seconds", type=float, default=AFTER_S,
                   help="how long the broker's RSS is still watched after each attack")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON, the table beside it as .md (default results/)")
    opts = p.parse_args(argv)
    if opts.quick:
        opts.scale = 0.17
    names = [n for n in opts.attacks.split(",") if n]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        p.error(f"unknown attack(s): {', '.join(unknown)}")
    results = []
    for name in names:
        print(f"# {name} ...", file=sys.stderr, flush=True)
        try:
            results.append(ATTACKS[name](opts))
        except Exception as exc:
            results.append(Result(name, "", error=repr(exc)))
        print(f"#   {asdict(results[-1])}", file=sys.stderr, flush=True)
    report = table(results, opts.cap_mb)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = opts.out or RESULTS / f"hostile-memory-{stamp}.json"
    out.write_text(json.dumps({"options": {**vars(opts), "out": str(out)},
                               "results": [asdict(r) for r in results]}, indent=1))
    out.with_suffix(".md").write_text(report + "\n")
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
