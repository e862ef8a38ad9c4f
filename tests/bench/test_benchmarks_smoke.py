"""The benchmarks of benchmarks/, run for seconds at tiny sizes so that they cannot rot.

Nothing here measures anything: the suite shares its cores with these runs, so
no rate, latency or memory figure is checked. Each test runs one script as a
person would, as a subprocess of this Python (whose `zchat` console script the
scripts start), writes its results into the test's folder, and checks what the
results say about correctness: every run finished, nothing was lost, no server
died, every client failed over. A script that no longer starts, an option that
no longer parses, a result field that moved, or a broker change that breaks a
load generator fails here rather than in the next person's long run.

Sizes are the least that still exercises each path (two systems where the
load generator speaks differently, a stalled reader, idle holders in their own
processes, a cluster over Redis). The cluster systems and failover.py need a
redis-server: they skip without one, and fail under ZCHAT_REQUIRE_REDIS=1 (CI).
ngircd is an optional yardstick: its run skips when it is not installed, and fails
under ZCHAT_REQUIRE_NGIRCD=1 (CI installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"

#: A bound on one script (the runs below take 1-10 s on an idle 2-core machine).
SCRIPT_TIMEOUT_S = 100

#: run.py at tiny sizes: one N, a short paced run, a short stall, idle holders
#: (--idle 20, the fan-out's N, reuses the fan-out's reading instead; see the groups).
RUN_TINY = [
    "--n", "20", "--messages", "200", "--reps", "1",
    "--latency-n", "5", "--latency-seconds", "0.2",
    "--stall-n", "5", "--stall-seconds", "0.2",
    "--idle-cpu-seconds", "0.2",
    # Bounds, not waits: a run that ends by them has failed.
    "--timeout", "30", "--idle-timeout", "5", "--connect-timeout", "30",
    "--idle-connect-timeout", "30",
]

#: (systems, phases skipped, --idle): one run.py each, so that pytest-xdist can spread
#: them. A phase runs where the load generator has a path of its own for it: idle
#: holders in their own processes for zchat, a stalled reader for the seed's blocking
#: design and for zchat; elsewhere --idle 20, the fan-out's N, reuses the fan-out's
#: reading.
RUN_GROUPS = {
    "yardsticks": ("relay,seed", "stall", "20"),
    "zchat": ("zchat", "stall", "10"),
    # The same wire as zchat's: the paced run would add nothing the fan-out does not.
    "variants": ("zchat-memory,zchat-curve,zchat-metrics", "latency,stall", "20"),
    "zchat-pub": ("zchat-pub", "stall", "20"),
    "stall": ("seed,zchat", "fanout,latency,idle", "20"),
    "cluster": ("zchat-cluster", "stall", "20"),
    "cluster-split": ("zchat-cluster-split,zchat-cluster-search", "latency,stall", "20"),
    # Each IRC sender waits out ngircd's 1 s penalty for its MODE +F: the fan-out only.
    "ngircd": ("ngircd", "latency,stall", "20"),
}


def _need_redis() -> None:
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("ZCHAT_REQUIRE_REDIS") == "1":
            pytest.fail(reason + " (ZCHAT_REQUIRE_REDIS=1)")
        pytest.skip(reason)


def _script(name: str, *args: str, cwd: Path) -> str:
    """Run benchmarks/NAME with ARGS; its output, or a failure with its last lines."""
    cmd = [sys.executable, str(BENCH / name), *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-3000:]
        pytest.fail(f"{name} ran past {SCRIPT_TIMEOUT_S} s: {' '.join(args)}\n{tail!r}")
    if proc.returncode != 0:
        pytest.fail(f"{name} exited {proc.returncode}: {' '.join(args)}\n"
                    f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return proc.stdout


def _kept_logs(folder: Path) -> str:
    """The tail of every server log a benchmark kept in ``folder`` (it keeps the log of a
    run that failed or timed out), without the run's own messages: what a failing test
    shows of why."""
    out = []
    for log in sorted(folder.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if "|bm|" not in line]
        out.append(f"\n--- {log.name}\n" + "\n".join(lines[-40:]))
    return "".join(out)


def _problems(rec: dict[str, Any]) -> list[str]:
    """What is wrong with one run.py record (an empty list: nothing)."""
    found = [f"{key}: {rec[key]}" for key in ("error", "timed_out", "sender_error")
             if rec.get(key)]
    kind = rec["kind"]
    if kind in ("fanout", "latency") and rec.get("loss") != 0:
        found.append(f"lost {rec.get('loss')} deliveries")
    if kind == "fanout" and rec.get("delivered") != rec.get("expected"):
        found.append(f"delivered {rec.get('delivered')} of {rec.get('expected')}")
    if kind == "stall":
        # The stalled reader itself may miss live traffic (zchat's client FETCHes
        # it back); the others must not, and the server must outlive the stall.
        if rec.get("others_lost") != 0:
            found.append(f"the other readers lost {rec.get('others_lost')}")
        if not rec.get("alive_after"):
            found.append("the server died")
        if not rec.get("sent"):
            found.append("nothing was sent")
    if kind == "idle" and not rec.get("rss_kb"):
        found.append("no RSS reading")
    return found


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
@pytest.mark.parametrize("group", list(RUN_GROUPS))
def test_run_py(group: str, tmp_path: Path) -> None:
    """run.py over each installed system: every phase's runs finish with nothing lost."""
    names, skip, idle = RUN_GROUPS[group]
    if group == "ngircd" and shutil.which("ngircd") is None:
        reason = "ngircd is not installed (apt-get install -y ngircd)"
        if os.environ.get("ZCHAT_REQUIRE_NGIRCD") == "1":
            pytest.fail(reason + " (ZCHAT_REQUIRE_NGIRCD=1)")
        pytest.skip(reason)
    if group.startswith("cluster"):
        _need_redis()
    out = tmp_path / "run.json"
    _script("run.py", "--systems", names, *RUN_TINY, "--idle", idle,
            *(["--skip", skip] if skip else []), "--out", str(out), cwd=tmp_path)
    results = json.loads(out.read_text())
    assert results["meta"]["unavailable"] == {}
    records = results["records"]
    phases = [p for p in ("fanout", "latency", "stall", "idle") if p not in skip.split(",")]
    for name in names.split(","):
        for phase in phases:
            assert any(r["kind"] == phase and r["system"] == name for r in records), \
                f"no {phase} record for {name}"
    bad = {f"{r['kind']} {r['system']} n={r['n']}": _problems(r) for r in records}
    assert {run: why for run, why in bad.items() if why} == {}
    assert (out.with_suffix(".md")).read_text().strip()


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
@pytest.mark.parametrize("signal", ["kill", "stop"])
def test_failover(signal: str, tmp_path: Path) -> None:
    """failover.py: every client moves and resumes, nothing lost or shown twice."""
    _need_redis()
    out = tmp_path / "failover.json"
    # A stopped broker is noticed after 3 heartbeats: a short one keeps this quick.
    heartbeat = "0.5" if signal == "stop" else "1.0"
    _script("failover.py", "--reps", "1", "--clients", "3", "--before", "0.3",
            "--after", "0.3", "--heartbeat", heartbeat, "--signal", signal,
            "--out", str(out), cwd=tmp_path)
    (rep,) = json.loads(out.read_text())["reps"]
    assert "error" not in rep, rep["error"]
    assert rep["all_moved"] and rep["sender_errors"] == []
    assert rep["acked"] == rep["sent"] > 0
    for client in [*rep["per_client"], rep["witness"]]:
        wrong = {k: client[k] for k in ("lost", "duplicated", "shown_lost", "shown_twice",
                                        "errors") if client[k]}
        assert wrong == {}, client["name"]
    assert all(c["resumed"] for c in rep["per_client"])


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_cluster_index(tmp_path: Path) -> None:
    """cluster_index.py: a broker started on a filled Redis builds its index from it."""
    _need_redis()
    out = tmp_path / "cluster-index.json"
    _script("cluster_index.py", "--quick", "--out", str(out), cwd=tmp_path)
    figures = json.loads(out.read_text())
    assert figures["indexed"] == figures["entries_read"] == 1900  # (the PRIVs: at searches)
    assert figures["rss_kb"] > 0 and figures["plain_rss_kb"] > 0


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_core_cost_and_store_reads(tmp_path: Path) -> None:
    """core_cost.py, store_reads.py and store_stalls.py: the core and both stores still
    run as measured."""
    cost = _script("core_cost.py", "--messages", "640", cwd=tmp_path)
    assert "the core, SQLite store" in cost and "the core, memory store" in cost
    reads = _script("store_reads.py", "--events", "2000", "--repeat", "3", cwd=tmp_path)
    assert "find, a resend" in reads and "since, both at 0" in reads
    stalls = _script("store_stalls.py", "--retain", "1000", "--events", "3000", cwd=tmp_path)
    assert "3000 commits of one message, 1000 retained" in stalls
    assert "prune: 29 times" in stalls  # (past 1,100 at the 101st, then every 100th)


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_metrics_cost(tmp_path: Path) -> None:
    """metrics_cost.py: the broker's loop in-process, with the metrics off and on, and a
    scrape of them."""
    out = _script("metrics_cost.py", "--n", "3", "--messages", "500", "--burst", "100",
                  "--rounds", "2", cwd=tmp_path)
    assert "| off |" in out and "| control |" in out and "| on |" in out
    assert "on / off: median" in out and "control / off: median" in out
    assert "an HTTP GET of it" in out


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
@pytest.mark.parametrize("store", ["sqlite", "memory"])
def test_resume(store: str, tmp_path: Path) -> None:
    """resume.py: a rejoining reader FETCHes every message it missed."""
    out = _script("resume.py", "--messages", "300", "--reps", "1", "--store", store,
                  cwd=tmp_path)
    assert f"resume of 300 missed messages ({store} store)" in out


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_idle_growth_and_heartbeat_floor(tmp_path: Path) -> None:
    """idle_growth.py and heartbeat_floor.py: idle clients join and the readings come."""
    growth = _script("idle_growth.py", "--n", "10", "--seconds", "0.5", "--every", "0.5",
                     cwd=tmp_path)
    assert "RSS / N" in growth
    floor = _script("heartbeat_floor.py", "--n", "10", "--seconds", "0.5", "--every", "0.5",
                    cwd=tmp_path)
    assert "joined:" in floor


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_idle_floor(tmp_path: Path) -> None:
    """idle_floor.py: the floor and zchat both measured in one run, their ratios taken."""
    out = tmp_path / "idle-floor.json"
    text = _script("idle_floor.py", "--n", "20", "--seconds", "2", "--every", "1",
                   "--connect-timeout", "30", "--out", str(out), cwd=tmp_path)
    assert "zchat / floor" in text
    results = json.loads(out.read_text())
    records = results["records"]
    assert [r["system"] for r in records] == ["floor", "zchat"]
    for rec in records:
        assert "error" not in rec, rec["error"]
        assert [round(s["t"]) for s in rec["samples"]] == [0, 1, 2]
        assert 0 < rec["rss_join_kb"] <= rec["rss_max_kb"] <= rec["rss_peak_kb"]
        assert rec["rss_end_kb"] <= rec["rss_max_kb"]
        assert 0 <= rec["cpu_cores"] < 4 and 1.5 < rec["window_s"] < 10
    (ratio,) = results["ratios"]
    assert ratio["rss_end_kb"] > 0 and ratio["rss_max_kb"] > 0
    assert set(results["summary"]) >= {"memory_met", "cpu_met"}
    assert out.with_suffix(".md").read_text().strip()


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_hostile_connections(tmp_path: Path) -> None:
    """hostile_connections.py (exit 0: every broker survived, every newcomer got in)."""
    _script("hostile_connections.py", "--only", "ids-next-plaintext,silent-tcp-one",
            "--silent", "50", "--timeout", "10", "--out", str(tmp_path / "hc.json"),
            cwd=tmp_path)


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_hostile_memory(tmp_path: Path) -> None:
    """hostile_memory.py: the broker outlives each attack and still serves the honest."""
    out = tmp_path / "hm.json"
    _script("hostile_memory.py", "--attacks", "feed-subscriptions,fetch-cpu",
            "--seconds-scale", "0.03", "--after-seconds", "0.2", "--out", str(out),
            cwd=tmp_path)
    for r in json.loads(out.read_text())["results"]:
        assert not r["error"] and not r["killed"] and not r["capped"], r
        assert r["served_after"] and r["dropped"] == [], r


def _rooms_quick(tmp_path: Path, out: Path, *args: str) -> list[dict[str, Any]]:
    """rooms.py --quick ARGS: its records (R = 1 and 10), each with nothing lost, nothing
    twice, nothing of another room and no error (else the kept server log is shown)."""
    _script("rooms.py", "--quick", *args, "--out", str(out), cwd=tmp_path)
    records: list[dict[str, Any]] = json.loads(out.read_text())["records"]
    assert sorted(r["r"] for r in records) == [1, 10]
    for rec in records:
        wrong = {k: rec[k] for k in ("error", "timed_out", "unavailable", "loss", "foreign",
                                     "duplicates") if rec.get(k)}
        assert wrong == {}, (rec, _kept_logs(tmp_path))
    return records


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
@pytest.mark.parametrize("system", ["relay", "zchat", "zchat-pub"])
def test_rooms(system: str, tmp_path: Path) -> None:
    """rooms.py --quick (R = 1 and 10 rooms of 10): every receiver got every message of
    its room, once, and none of another room's (in pub mode: no byte of another room
    on its feed either; relay: the bare ROUTER relay in its rooms mode)."""
    out = tmp_path / "rooms.json"
    for rec in _rooms_quick(tmp_path, out, "--systems", system):
        assert rec["delivered"] == rec["expected"] > 0
        assert rec["foreign_bytes_per_receiver"] == 0 < rec["own_bytes_per_receiver"]
        if system == "zchat":
            # A receiver starved of CPU may lag and catch up from history (the run is
            # flat out on a shared machine); only one the broker said was lagging may.
            assert set(rec["caught_up"]) <= set(rec.get("lagging", [])), rec
        else:
            assert rec["recovered"] == 0 or system == "zchat-pub", rec  # (XPUB drops silently)
    assert (out.with_suffix(".md")).read_text().strip()


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
@pytest.mark.parametrize("system", ["zchat", "zchat-pub"])
def test_rooms_receivers_catch_up_from_history(system: str, tmp_path: Path) -> None:
    """rooms.py --quick --drop-every 2: every receiver misses every other frame of its
    room, as when the broker could not queue it, sees the gap (or, for the last ones,
    the silence) and FETCHes the rest: nothing lost, nothing twice."""
    out = tmp_path / "rooms.json"
    for rec in _rooms_quick(tmp_path, out, "--systems", system, "--drop-every", "2"):
        assert rec["delivered"] == rec["expected"] > rec["recovered"] > 0, rec
        assert len(rec["caught_up"]) == 9 * rec["r"], rec
    assert "from history" in (out.with_suffix(".md")).read_text()


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_search(tmp_path: Path) -> None:
    """search.py --quick: the index is built, every kind of search runs and reports."""
    out = tmp_path / "search.json"
    text = _script("search.py", "--quick", "--out", str(out), cwd=tmp_path)
    assert "messages/s" in text and "| search |" in text
    figures = json.loads(out.read_text())
    assert figures["messages"] == 20_000
    assert figures["index_msgs_per_s"] > 0 and figures["size_bytes"] > 0
    assert figures["cycles"] == 200 and figures["prune_tenth_s"] > 0
    assert len(figures["searches"]) >= 10
    for label, kind in figures["searches"].items():
        assert kind["searches"] == 50, label
        assert 0 < kind["p50_ms"] <= kind["p99_ms"] <= kind["max_ms"], label
    assert figures["searches"]["common word"]["mean_hits"] == 20  # a full page each


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_search_load(tmp_path: Path) -> None:
    """search_load.py --quick: a broker over a filled history, both phases once, no loss,
    and the searcher's searches answered (--quick does not wait for a quiet host)."""
    out = tmp_path / "search-load.json"
    text = _script("search_load.py", "--quick", "--out", str(out), cwd=tmp_path)
    assert "p99 (b) / (a)" in text
    records = json.loads(out.read_text())["records"]
    assert [(r["phase"], r["searching"]) for r in records] == [("a", False), ("b", True)]
    for rec in records:
        assert not _problems(rec), _problems(rec)
        assert rec["alive_after"] and rec["samples"] == rec["delivered"] > 0
    search = records[1]["search"]
    assert search["answered"] > 0 and search["unanswered"] == 0


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 20)
def test_gateway(tmp_path: Path) -> None:
    """gateway.py --quick: every path delivers every message, pages join, both processes
    live to the end."""
    out = _script("gateway.py", "--quick", cwd=tmp_path)
    for path in ("direct", "gateway", "mixed"):
        assert re.search(rf"^  {path} +p50 ", out, re.M), out
    assert "20 pages joined and open" in out
    assert "zchat web and zchat broker alive: True" in out
