"""Does one client searching in a loop stall delivery for the others? (issue 18)

A search runs on the broker's loop (broker/finding.py): one search stops after
SEARCH_BUDGET seconds, and searches take at most SEARCH_SHARE of the broker's time
(past it they are refused, RATE_LIMITED, ref ``search``). This measures what that
bound leaves to everyone else: the public-message latency of N receivers, the
same paced sender as run.py's latency runs, in two phases on one broker (``--rounds``
times: a, b, a, b by default):

- **(a)** nobody searches;
- **(b)** one more client sends SEARCH in a loop, the next as soon as the broker
  answers the last (a page of hits, or a refusal), for the whole phase.

The broker is a real ``zchat broker`` (its SQLite history and search index, in a
folder of this run; flood limits lifted as in run.py, so that only the search
share bounds the searcher, and the paced sender is not refused). Its history is
filled before it starts with ``--messages`` messages of search.py's generator
(50 rooms, the default room a third of them, 500 senders, one in 20 private),
written to its store directly; the broker makes its index from that history at
start, as after an upgrade. The searcher is in the default room and, with
``--words foreign`` (the default), in every other room but ``#sala1``, and
searches ``#sala1``'s own words: thousands of matches, none of which it may
read, so each search walks them all (the slowest kind search.py knows, about
10 ms at a million). ``--words common`` searches common words instead (a page
fills at once: cheap searches).

Figures per phase: latency p50 / p99 / max over every delivery (receipt minus send
stamp, as run.py), loss, the broker's CPU (cores busy); in (b) the searches
answered and refused, per second, and their round trip as the searcher saw it.
Then p99 (b) / (a). Raw records go to benchmarks/results/search-load-*.json.

    python benchmarks/search_load.py                    # 1,000,000 messages, 10 s phases (~2 min)
    python benchmarks/search_load.py --quick            # 20,000 messages, 1 s phases, a few s

Every process it starts (broker, sender, searcher) is stopped by its PID, also on
errors and Ctrl-C; the broker's folder is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import loadgen
import report
import rooms
import run
import search
import systems
import zmq

from zchat.broker.sqlite_store import SqliteStore
from zchat.protocol import Enter, Error, Events, Join, Leave, Ping, Search, decode_broker, encode
from zchat.protocol import constants as c

Record = dict[str, Any]
#: The room whose words the searcher looks for, in every room but it.
FOREIGN_ROOM = "#sala1"
#: A SEARCH answer (docs/PROTOCOL.md): a page of hits, newest first.
_FOUND = b'ZCHAT/1 EVENTS {"kind":"found"'
_ERROR = b"ZCHAT/1 ERROR"
_PING = b"ZCHAT/1 PING"


# ---- the history ---------------------------------------------------------------------

def history_args(messages: int) -> argparse.Namespace:
    """search.py's generator at its defaults, for ``messages`` messages."""
    return argparse.Namespace(messages=messages, rooms=50, senders=500, priv_every=20,
                              vocabulary=30_000)


def fill(data_dir: Path, history: search.History, messages: int, retain: int) -> float:
    """Write ``messages`` generated messages into a history store in ``data_dir``, as
    the broker keeps it (its SqliteStore), 10,000 a commit; the seconds it took."""
    started = time.perf_counter()
    store = SqliteStore(data_dir, retain=retain)
    try:
        step = 10_000
        for first in range(1, messages + 1, step):
            for event in history.events(first, min(step, messages - first + 1), first):
                store.append(event)
            store.commit()
    finally:
        store.close()
    return time.perf_counter() - started


def searcher_plan(history: search.History, words: str) -> tuple[list[str], list[str]]:
    """(rooms the searcher enters besides the default one, the words it searches)."""
    if words == "foreign":
        return ([r for r in history.rooms if r and r != FOREIGN_ROOM],
                history.topics[FOREIGN_ROOM])
    return [], search.COMMON[:30]


# ---- the searcher (a process of its own: `search_load.py searcher ...`) ------------------

def _say(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def _stdin_word(timeout: float) -> str:
    """A line from the orchestrator ("" if none within ``timeout`` seconds)."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        return ""
    line = sys.stdin.readline()
    return line.strip() or "EXIT"  # (end of file: the orchestrator is gone)


def _answer(sock: zmq.Socket[bytes], deadline: float) -> bytes | None:
    """The broker's answer to our SEARCH (pings answered, other frames passed over),
    or None at the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sock.poll(int(left * 1000) + 1):
            return None
        frame = sock.recv()
        if frame.startswith((_FOUND, _ERROR)):
            return frame
        if frame.startswith(_PING):
            sock.send(encode(Ping()))


def _searcher_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="search_load.py searcher")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--name", default="searcher")
    p.add_argument("--rooms", default="", help="comma list of rooms to enter first")
    p.add_argument("--words", required=True, help="comma list: each search one of them, in turn")
    p.add_argument("--retry-pause-ms", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=30.0, help="bound on each wait")
    args = p.parse_args(argv)
    words = [w for w in args.words.split(",") if w]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 500)
    sock.connect(args.endpoint)
    try:
        sock.send(encode(Join(args.name)))
        wanted = [r for r in args.rooms.split(",") if r]
        deadline = time.monotonic() + args.timeout
        entered = welcomed = 0
        while not welcomed or entered < len(wanted):
            if time.monotonic() > deadline or not sock.poll(200):
                if time.monotonic() > deadline:
                    _say({"ready": False, "error": f"welcomed {welcomed}, entered {entered} of "
                                                   f"{len(wanted)} rooms in {args.timeout} s"})
                    return 1
                continue
            frame = sock.recv()
            if frame.startswith(b"ZCHAT/1 WELCOME"):
                welcomed = 1
                for room in wanted:
                    sock.send(encode(Enter(room)))
            elif frame.startswith(b"ZCHAT/1 ENTERED"):
                entered += 1
            elif frame.startswith(_ERROR):
                _say({"ready": False, "error": repr(decode_broker(frame))})
                return 1
        _say({"ready": True, "rooms": entered})
        if _stdin_word(args.timeout) != "GO":
            return 1
        answered = hits = more = cut = lost = 0
        refused: Counter[str] = Counter()
        round_trips: list[float] = []
        cpu0, t0 = time.process_time(), time.monotonic()
        k = 0
        while not _stdin_word(0):
            ask = encode(Search(words[k % len(words)]))
            k += 1
            started = time.perf_counter()
            sock.send(ask)
            answer = _answer(sock, time.monotonic() + args.timeout)
            took = time.perf_counter() - started
            if answer is None:
                lost += 1
            elif answer.startswith(_FOUND):
                found = decode_broker(answer)
                assert isinstance(found, Events)
                answered += 1
                hits += len(found.events)
                more += found.more
                # (Fewer hits than a page, and more to come: the budget cut it short.)
                cut += found.more and len(found.events) < c.DEFAULT_SEARCH_HITS
                round_trips.append(took * 1000)
            else:
                error = decode_broker(answer)
                assert isinstance(error, Error)
                refused[f"{error.code}/{error.ref or '-'}"] += 1
                if args.retry_pause_ms:
                    time.sleep(args.retry_pause_ms / 1000)
        wall = time.monotonic() - t0
        round_trips.sort()
        _say({"seconds": wall, "asked": k, "answered": answered, "refused": dict(refused),
              "unanswered": lost, "hits": hits, "more": more,
              "cut_by_budget": cut,
              "answered_per_s": answered / wall, "refused_per_s": sum(refused.values()) / wall,
              "rtt_p50_ms": statistics.median(round_trips) if round_trips else None,
              "rtt_p99_ms": round_trips[round(0.99 * (len(round_trips) - 1))]
              if round_trips else None,
              "rtt_max_ms": round_trips[-1] if round_trips else None,
              "cpu_util": (time.process_time() - cpu0) / wall})
        sock.send(encode(Leave()))
        return 0
    finally:
        sock.close()
        ctx.term()


def host_busy_seconds() -> float:
    """CPU seconds the whole host has spent busy (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def wait_host_quiet(args: argparse.Namespace) -> float:
    """Before a phase: wait (at most ``args.host_quiet_timeout`` seconds) until the
    host's busy cores over a second are under ``args.host_quiet_cores`` (the broker
    and our clients are idle then: anyone busy is someone else); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < args.host_quiet_timeout:
        busy0, t0 = host_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        if (host_busy_seconds() - busy0) / (time.monotonic() - t0) < args.host_quiet_cores:
            break
    return time.monotonic() - started


# ---- one phase -------------------------------------------------------------------------

def phase(label: str, sysrun: systems.Running, rc: Any, args: argparse.Namespace,
          sender_name: str, searcher: list[str] | None, profile: Path | None) -> Record:
    """One paced latency run (run.py's) on the running broker; with ``searcher`` (its
    command), that process searching in a loop for the whole run."""
    m = int(args.rate * args.seconds)
    rec: Record = {"kind": "latency", "phase": label, "n": rc.n, "rate": args.rate,
                   "messages": m, "searching": searcher is not None,
                   "loadavg_start": os.getloadavg()}
    helper = None
    spy = None
    rec["waited_for_host_s"] = wait_host_quiet(args)
    own0 = _own_cpu_seconds()
    try:
        if searcher is not None:
            helper = rooms.Helper(searcher, sysrun.workdir / f"{sender_name}-searcher.err")
            ready = helper.line(time.monotonic() + args.connect_timeout)
            if not ready.get("ready"):
                rec["error"] = f"searcher: {ready.get('error')}"
                return rec
            rec["searcher_rooms"] = ready.get("rooms")
            rc.settle(quiet_s=0.3, timeout=args.connect_timeout)  # (its JOINED)
            helper.tell("GO")
        if profile is not None:
            spy = run._start_pyspy(sysrun.pid, profile)
        cpu0, host0, t0 = sysrun.cpu_seconds(), host_busy_seconds(), time.monotonic()
        run.paced_latency(sysrun, rc, args.rate, m, args, rec, sender_name=sender_name)
        wall = time.monotonic() - t0
        rec["broker_cpu_util"] = (sysrun.cpu_seconds() - cpu0) / wall
        # (Everything on the host: ours, and anyone else's, who would skew the figures.)
        rec["host_busy_cores"] = (host_busy_seconds() - host0) / wall
        rec["wall_s"] = wall
        if helper is not None:
            helper.tell("STOP")
            rec["search"] = helper.line(time.monotonic() + args.timeout)
    finally:
        if spy is not None:
            run._stop_pyspy(spy)
        if helper is not None:
            helper.stop()
    if "wall_s" in rec:
        # What the rest of the host did meanwhile: busy cores, less the broker's and
        # ours (this process and its sender and searcher, reaped by now; their start-up
        # included, so this leans low).
        ours = rec["broker_cpu_util"] + (_own_cpu_seconds() - own0) / rec["wall_s"]
        rec["others_cores"] = max(0.0, rec["host_busy_cores"] - ours)
    rec["alive_after"] = sysrun.alive()
    if profile is not None and profile.exists():
        rec["profile"] = report.pyspy_summary(profile)
    return rec


# ---- the whole run ---------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000, help="history before the run")
    p.add_argument("--receivers", type=int, default=50)
    p.add_argument("--rate", type=float, default=1000.0, help="the paced sender's messages/s")
    p.add_argument("--seconds", type=float, default=10.0, help="each phase's sending")
    p.add_argument("--rounds", type=int, default=2, help="phases (a) and (b), this many times")
    p.add_argument("--words", choices=("foreign", "common"), default="foreign",
                   help="what the searcher looks for (see above)")
    p.add_argument("--retry-pause-ms", type=float, default=0.0,
                   help="the searcher's pause after a refusal (0: asks again at once)")
    p.add_argument("--py-spy", type=Path, default=None, metavar="PREFIX",
                   help="profile the broker during each phase into PREFIX-a1.txt, PREFIX-b1.txt, "
                        "... (py-spy raw; the top functions go in the report)")
    p.add_argument("--quiet-cores", type=float, default=0.05,
                   help="before the first phase, wait until the broker's CPU over a second is "
                        "under this (it checkpoints the index it made at start)")
    p.add_argument("--quiet-timeout", type=float, default=300.0)
    p.add_argument("--host-quiet-cores", type=float, default=0.2,
                   help="before each phase, wait until the whole host's CPU over a second is "
                        "under this (others' work skews latency on a small host)")
    p.add_argument("--host-quiet-timeout", type=float, default=120.0,
                   help="... but no longer than this (then the phase runs anyway)")
    p.add_argument("--heartbeat", type=float, default=60.0)
    p.add_argument("--start-timeout", type=float, default=600.0,
                   help="bound on the broker's start (it indexes the whole history first)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="bound on one phase, past its sending")
    p.add_argument("--idle-timeout", type=float, default=3.0)
    p.add_argument("--connect-timeout", type=float, default=60.0)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 20,000 messages, 5 receivers, 1 s phases, one round, "
                        "no wait for a quiet host")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default results/)")
    args = p.parse_args(argv)
    if args.quick:  # (what was given explicitly stays)
        args.messages = 20_000 if args.messages == 1_000_000 else args.messages
        args.receivers = 5 if args.receivers == 50 else args.receivers
        args.seconds = 1.0 if args.seconds == 10.0 else args.seconds
        args.rounds = 1 if args.rounds == 2 else args.rounds
        args.host_quiet_timeout = 0.0 if args.host_quiet_timeout == 120.0 \
            else args.host_quiet_timeout
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["searcher"]:
        return _searcher_main(argv[1:])
    args = parse_args(argv)
    run.raise_fd_limit(2 * args.receivers + 1024)
    out = args.out or run.RESULTS_DIR / f"search-load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"meta": {
        "command": " ".join(["python", "benchmarks/search_load.py", *argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": run.machine(),
        "messages": args.messages, "receivers": args.receivers, "rate": args.rate,
        "seconds": args.seconds, "words": args.words, "retry_pause_ms": args.retry_pause_ms},
        "records": []}
    records: list[Record] = results["records"]
    history = search.History(history_args(args.messages))
    enter, words = searcher_plan(history, args.words)
    retain = max(c.DEFAULT_RETAIN, 2 * args.messages)
    workdir = Path(tempfile.mkdtemp(prefix="zchat-search-load-"))
    sysrun = None
    try:
        print(f"# filling a history of {args.messages:,} messages ...", flush=True)
        results["meta"]["fill_s"] = fill(workdir / "data", history, args.messages, retain)
        cmd = systems.zchat_broker_command(args.heartbeat, "--data-dir", str(workdir / "data"),
                                           "--retain", str(retain))
        started = time.monotonic()
        proc, out_path, log_path = systems.spawn_zchat(cmd, workdir)
        sysrun = systems.Running("zchat", proc, "127.0.0.1", 0, workdir, log_path)
        sysrun.port = systems.wait_listening(proc, out_path, log_path,
                                             started + args.start_timeout, "zchat broker")
        results["meta"]["broker_start_s"] = time.monotonic() - started
        print(f"# filled in {results['meta']['fill_s']:.0f} s; the broker indexed it and "
              f"listens after {results['meta']['broker_start_s']:.0f} s", flush=True)
        rc = loadgen_receivers(sysrun, args)
        try:
            results["meta"]["quiet_after_s"] = wait_quiet(sysrun, args)
            print(f"# the broker was quiet {results['meta']['quiet_after_s']:.0f} s after its "
                  "receivers joined", flush=True)
            for k in range(args.rounds):
                searcher = [sys.executable, str(Path(__file__).resolve()), "searcher",
                            "--endpoint", sysrun.endpoint, "--name", f"searcher{k}",
                            "--rooms", ",".join(enter), "--words", ",".join(words),
                            "--retry-pause-ms", str(args.retry_pause_ms),
                            "--timeout", str(args.connect_timeout)]
                for label, command in (("a", None), ("b", searcher)):
                    spy = args.py_spy and args.py_spy.with_name(
                        f"{args.py_spy.name}-{label}{k + 1}.txt")
                    rec = phase(label, sysrun, rc, args, f"sender-{label}{k}", command,
                                spy or None)
                    rec["round"] = k
                    records.append(rec)
                    print(json.dumps({key: round(v, 3) if isinstance(v, float) else v
                                      for key, v in rec.items()
                                      if key not in ("profile", "loadavg_start")}), flush=True)
                    out.write_text(json.dumps(results, indent=1))
        finally:
            rc.close()
    except KeyboardInterrupt:
        print("# interrupted: writing what was measured", flush=True)
    finally:
        if sysrun is not None:
            sysrun.stop()  # (by its PID; removes the folder)
        systems.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
        out.write_text(json.dumps(results, indent=1))
    md = render(results)
    out.with_suffix(".md").write_text(md + "\n")
    print()
    print(md)
    print(f"\nraw results: {out}")
    ok = bool(records) and all(not r.get("error") and r.get("loss") == 0 and r.get("alive_after")
                               for r in records)
    return 0 if ok else 1


def wait_quiet(sysrun: systems.Running, args: argparse.Namespace) -> float:
    """Seconds until the broker's CPU (every thread) over one second was under
    ``args.quiet_cores`` (or ``args.quiet_timeout`` passed: the run goes on)."""
    started = time.monotonic()
    while time.monotonic() - started < args.quiet_timeout:
        cpu0, t0 = sysrun.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        if (sysrun.cpu_seconds() - cpu0) / (time.monotonic() - t0) < args.quiet_cores:
            break
    return time.monotonic() - started


def loadgen_receivers(sysrun: systems.Running, args: argparse.Namespace) -> Any:
    """The N receivers of run.py's latency runs, connected and settled."""
    rc = loadgen.make_receivers("zchat", sysrun.receivers_endpoint, args.receivers)
    try:
        run._connect(rc, args)
    except BaseException:
        rc.close()
        raise
    return rc


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [f"{meta['messages']:,} messages in history; {meta['receivers']} receivers, "
             f"{meta['rate']:.0f} msg/s for {meta['seconds']:g} s a phase; searcher's words: "
             f"{meta['words']}, pause after a refusal {meta['retry_pause_ms']:g} ms", "",
             "| round | phase | p50 ms | p99 ms | max ms | lost | broker cores | others' "
             "cores | searches answered/s | refused/s | search round trip p50 / p99 / max ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def ms(rec: Record, key: str) -> str:
        value = rec.get(key)
        return "-" if value is None else f"{value:.2f}"

    for rec in results["records"]:
        s = rec.get("search") or {}
        name = "(b) one searching" if rec["searching"] else "(a) nobody searching"
        if rec.get("error"):
            name += f" ERROR: {rec['error']}"
        lines.append(
            f"| {rec['round'] + 1} | {name} | {ms(rec, 'p50_ms')} | {ms(rec, 'p99_ms')} | "
            f"{ms(rec, 'max_ms')} | {rec.get('loss', '-')} | {rec.get('broker_cpu_util', 0):.2f} | "
            f"{rec.get('others_cores', 0):.2f} | "
            + (f"{s.get('answered_per_s', 0):.1f} | {s.get('refused_per_s', 0):.0f} | "
               f"{ms(s, 'rtt_p50_ms')} / {ms(s, 'rtt_p99_ms')} / {ms(s, 'rtt_max_ms')} |"
               if rec["searching"] else "| | |"))
    ratios = []
    for k in sorted({r["round"] for r in results["records"]}):
        pair = {r["phase"]: r for r in results["records"] if r["round"] == k}
        if "p99_ms" in pair.get("a", {}) and "p99_ms" in pair.get("b", {}):
            ratios.append(pair["b"]["p99_ms"] / pair["a"]["p99_ms"])
    if ratios:
        lines += ["", "p99 (b) / (a): " + ", ".join(f"{x:.2f}x" for x in ratios)]
    for rec in results["records"]:
        s = rec.get("search")
        if s and "asked" in s:
            lines.append(f"round {rec['round'] + 1}: {s['asked']:,} searches asked in "
                         f"{s['seconds']:.1f} s, {s['answered']:,} answered ({s['hits']:,} "
                         f"hits, {s['cut_by_budget']} cut short by the budget), refused: "
                         f"{s['refused']}, unanswered: {s['unanswered']}; "
                         f"the searcher's CPU {s['cpu_util']:.2f} cores")
        if rec.get("profile"):
            lines += ["", f"broker profile, round {rec['round'] + 1}, phase ({rec['phase']}):",
                      "", rec["profile"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
