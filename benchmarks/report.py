"""Turn raw benchmark records into medians, within-repetition ratios, tables and a plot.

Absolute rates on a shared 2-core machine swing between runs, so every
comparison between systems is a ratio taken inside one repetition (same
minute, same neighbours) and only then summarised as median and min-max.
``python report.py results/FILE.json`` re-renders a saved run.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def summary(values: Iterable[float]) -> tuple[float, float, float] | None:
    """(median, min, max), or None for no values."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"


def fmt_cell(s: tuple[float, float, float] | None, fmt: Any = fmt_rate) -> str:
    if s is None:
        return "-"
    med, lo, hi = s
    if lo == hi:
        return fmt(med)
    return f"{fmt(med)} ({fmt(lo)}-{fmt(hi)})"


def _by(records: Iterable[Record], kind: str) -> list[Record]:
    return [r for r in records if r.get("kind") == kind]


def _ok(r: Record) -> bool:
    return not r.get("error") and r.get("loss", 0) == 0


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def fanout_table(records: list[Record], systems: Sequence[str], ns: Sequence[int]) -> str:
    rows = []
    for sysname in systems:
        row = [sysname]
        for n in ns:
            rs = [r for r in _by(records, "fanout") if r["system"] == sysname and r["n"] == n]
            cell = fmt_cell(summary(r["rate"] for r in rs if _ok(r)))
            bad = [r for r in rs if not _ok(r)]
            if bad:
                cell += f" ⚠ {len(bad)}/{len(rs)} runs lost or failed"
            row.append(cell)
        rows.append(row)
    return _table(["system", *[f"N={n}" for n in ns]], rows)


def ratios(records: list[Record], num: str, den: str, n: int, key: str = "rate") -> list[float]:
    """``num``/``den`` of ``key`` for each repetition where both ran cleanly at this N."""
    per_rep: dict[int, dict[str, float]] = defaultdict(dict)
    for r in _by(records, "fanout"):
        if r["n"] == n and _ok(r) and r.get(key):
            per_rep[r["rep"]][r["system"]] = r[key]
    return [v[num] / v[den] for v in per_rep.values() if num in v and den in v]


def ratio_table(records: list[Record], systems: Sequence[str], ns: Sequence[int],
                base: str, key: str = "rate") -> str:
    rows = []
    for sysname in systems:
        if sysname == base:
            continue
        row = [f"{sysname} / {base}"]
        for n in ns:
            row.append(fmt_cell(summary(ratios(records, sysname, base, n, key)),
                                lambda x: f"{x:.2f}x"))
        rows.append(row)
    return _table(["ratio", *[f"N={n}" for n in ns]], rows)


def cpu_table(records: list[Record], systems: Sequence[str], ns: Sequence[int],
              key: str = "cpu_per_m") -> str:
    rows = []
    for sysname in systems:
        row = [sysname]
        for n in ns:
            rs = [r for r in _by(records, "fanout")
                  if r["system"] == sysname and r["n"] == n and _ok(r)]
            row.append(fmt_cell(summary(r.get(key) for r in rs), lambda x: f"{x:.2f} s"))
        rows.append(row)
    return _table(["system", *[f"N={n}" for n in ns]], rows)


def per_rep_ratio_table(records: list[Record], pairs: Sequence[tuple[str, str]],
                        ns: Sequence[int]) -> str:
    """Every repetition's ratio (not only the median): one row per pair and repetition."""
    rows = []
    reps = sorted({r["rep"] for r in _by(records, "fanout") if r.get("rep", -1) >= 0})
    for num, den in pairs:
        for rep in reps:
            row = [f"{num} / {den}", str(rep)]
            for n in ns:
                got = {r["system"]: r for r in _by(records, "fanout")
                       if r["n"] == n and r["rep"] == rep and r["system"] in (num, den)}
                a, b = got.get(num), got.get(den)
                if a is None or b is None:
                    row.append("-")
                elif not (_ok(a) and _ok(b) and a.get("rate") and b.get("rate")):
                    row.append("failed/lost")
                else:
                    row.append(f"{a['rate'] / b['rate']:.2f}x")
            rows.append(row)
    return _table(["ratio", "rep", *[f"N={n}" for n in ns]], rows)


def loss_table(records: list[Record], systems: Sequence[str], ns: Sequence[int]) -> str:
    rows = []
    for sysname in systems:
        row = [sysname]
        for n in ns:
            rs = [r for r in _by(records, "fanout") if r["system"] == sysname and r["n"] == n]
            lost = sum(r.get("loss", 0) for r in rs)
            errors = sum(1 for r in rs if r.get("error"))
            cell = f"{lost}" + (f" ({errors} failed)" if errors else "")
            row.append(cell)
        rows.append(row)
    return _table(["system", *[f"N={n}" for n in ns]], rows)


def generator_table(records: list[Record], systems: Sequence[str], ns: Sequence[int]) -> str:
    """Cores busy during the timed part: the broker's, then the receivers' process
    (a cluster: its brokers', then its redis-server's, then the receivers')."""
    rows = []
    two = lambda x: f"{x:.2f}"
    for sysname in systems:
        row = [sysname]
        for n in ns:
            rs = [r for r in _by(records, "fanout")
                  if r["system"] == sysname and r["n"] == n and _ok(r)]
            broker = summary(r.get("broker_cpu_util") for r in rs)
            redis = summary(r.get("redis_cpu_util") for r in rs)
            gen = summary(r.get("gen_cpu_util") for r in rs)
            mid = f" / redis {two(redis[0])}" if redis else ""
            row.append(f"{two(broker[0]) if broker else '-'}{mid} / "
                       f"{two(gen[0]) if gen else '-'}")
        rows.append(row)
    return _table(["system", *[f"N={n}" for n in ns]], rows)


def latency_table(records: list[Record], systems: Sequence[str]) -> str:
    rows = []
    lat = _by(records, "latency")
    for sysname in systems:
        rs = [r for r in lat if r["system"] == sysname]
        if not rs:
            continue
        good = [r for r in rs if _ok(r) and r.get("samples")]
        ms = lambda x: f"{x:.2f}"
        rows.append([sysname, fmt_cell(summary(r["p50_ms"] for r in good), ms),
                     fmt_cell(summary(r["p99_ms"] for r in good), ms),
                     fmt_cell(summary(r["max_ms"] for r in good), ms),
                     str(sum(r.get("loss", 0) for r in rs))])
    return _table(["system", "p50 ms", "p99 ms", "max ms", "lost"], rows)


def memory_table(records: list[Record], systems: Sequence[str]) -> str:
    idle = _by(records, "idle")
    sizes = sorted({r["n"] for r in idle})
    rows = []
    mb = lambda x: f"{x / 1024:.1f} MB"
    kb = lambda x: f"{x:.1f} KB"
    secs = lambda x: f"{x:.1f} s"
    for sysname in systems:
        row = [sysname]
        for n in sizes:
            rs = [r for r in idle if r["system"] == sysname and r["n"] == n]
            good = [r for r in rs if not r.get("error")]
            if not good:
                row += ["-" if not rs else "failed: " + str(rs[0].get("error"))[:100], "-", "-",
                        "-"]
                continue
            share = [r["idle_cpu_share"] for r in good if "idle_cpu_share" in r]
            row += [fmt_cell(summary(r["rss_kb"] for r in good), mb),
                    fmt_cell(summary(r["per_client_kb"] for r in good), kb),
                    fmt_cell(summary(r["setup_s"] for r in good), secs),
                    fmt_cell(summary(share), lambda x: f"{100 * x:.1f}%") if share else "-"]
        rows.append(row)
    header = ["system"]
    for n in sizes:
        header += [f"RSS, {n} idle", "per client", f"connect {n}", "CPU idle"]
    return _table(header, rows)


def stall_table(records: list[Record], systems: Sequence[str]) -> str:
    stalls = _by(records, "stall")
    secs = stalls[0].get("stall_s", 5.0) if stalls else 5.0
    rows = []
    for sysname in systems:
        for r in _by(records, "stall"):
            if r["system"] != sysname:
                continue
            if r.get("error"):
                rows.append([sysname, "failed: " + str(r["error"])[:80], "", "", "", ""])
                continue
            before, during = r.get("rate_before", 0.0), r.get("rate_during", 0.0)
            rows.append([sysname, fmt_rate(before), fmt_rate(during),
                         f"{during / before:.2f}" if before else "-",
                         fmt_rate(r.get("rate_after", 0.0)),
                         f"{r['stalled_received']}/{r['sent']}"])
    return _table(["system", "others' rate before", f"during {secs:.0f} s stall", "during/before",
                   "after", "stalled receiver got"], rows)


def render(results: Record) -> str:
    """The whole markdown report for one run."""
    meta = results["meta"]
    recs = results["records"]
    systems = [s for s in meta["systems"] if s not in meta.get("unavailable", {})]
    ns = meta["n"]
    parts = [f"Fan-out deliveries per second, median (min-max) of {meta['reps']} repetitions "
             f"(M = {', '.join(f'{m} at N={n}' for n, m in zip(ns, meta['messages'], strict=True))}"
             " messages of 100 bytes):", "", fanout_table(recs, systems, ns), ""]
    if "relay" in systems:
        parts += ["Ratios to the bare relay, taken within each repetition:", "",
                  ratio_table(recs, systems, ns, "relay"), ""]
    if "zchat" in systems and "seed" in systems:
        parts += ["zchat against the seed's design:", "",
                  ratio_table(recs, ["zchat"], ns, "seed"), ""]
    variants = [s for s in ("zchat-memory", "zchat-curve") if s in systems]
    if "zchat" in systems and variants:
        parts += ["zchat's variants against zchat, within each repetition (zchat-memory / zchat "
                  "above 1 is what the history store and the search index cost; zchat-curve / "
                  "zchat below 1 is what CURVE costs):", "", ratio_table(recs, variants, ns,
                                                                      "zchat"), ""]
    if "zchat" in systems and "zchat-metrics" in systems:
        parts += ["What --metrics costs (scraped every second): zchat-metrics / zchat, within "
                  "each repetition (the target: a rate at least 0.97x, i.e. a cost of at most "
                  "3%); then the broker's CPU per delivery, the same way:", "",
                  ratio_table(recs, ["zchat-metrics"], ns, "zchat"), "",
                  ratio_table(recs, ["zchat-metrics"], ns, "zchat", "cpu_per_m"), "",
                  "The rate ratio, each repetition:", "",
                  per_rep_ratio_table(recs, [("zchat-metrics", "zchat")], ns), ""]
    clusters = [s for s in ("zchat-cluster", "zchat-cluster-split") if s in systems]
    if "zchat" in systems and clusters:
        parts += ["Cluster against one broker, within each repetition (target: zchat-cluster / "
                  "zchat >= 0.5; in zchat-cluster every delivery crosses brokers through "
                  "Redis):", "", ratio_table(recs, clusters, ns, "zchat"), "",
                  "The same, each repetition:", "",
                  per_rep_ratio_table(recs, [(s, "zchat") for s in clusters], ns), ""]
    searched = [(on, off) for on, off in (("zchat", "zchat-nosearch"),
                                          ("zchat-cluster-search", "zchat-cluster"))
                if on in systems and off in systems]
    if searched:
        parts += ["The search index's cost: each system with its index against the same without, "
                  "each repetition (target: >= 0.95):", "",
                  per_rep_ratio_table(recs, searched, ns), ""]
    parts += ["Broker CPU seconds per million deliveries (a cluster: both brokers summed):", "",
              cpu_table(recs, systems, ns), "",
              *(["The cluster's redis-server, CPU seconds per million deliveries (not in the "
                 "brokers' figure above):", "", cpu_table(recs, clusters, ns, "redis_cpu_per_m"),
                 ""] if clusters else []),
              "Deliveries lost (all repetitions):", "", loss_table(recs, systems, ns), "",
              "Cores busy during the timed part, broker / load generator's receivers (medians; "
              "1.00 = one core; the machine has "
              f"{meta['machine'].get('nproc', '?')}, shared with the sender):", "",
              generator_table(recs, systems, ns), ""]
    if _by(recs, "latency"):
        lat = _by(recs, "latency")[0]
        parts += [f"End-to-end latency at {lat['rate']:.0f} msg/s to {lat['n']} receivers "
                  f"({lat['messages']} messages per run):", "", latency_table(recs, systems), ""]
    if _by(recs, "idle"):
        parts += ["Broker memory (RSS from /proc) with idle clients connected:", "",
                  memory_table(recs, systems), ""]
    if _by(recs, "stall"):
        st = _by(recs, "stall")[0]
        parts += [f"Stalled receiver: {st['n']} receivers, one stops reading for "
                  f"{st['stall_s']:.0f} s; rates are the other receivers' deliveries/s:", "",
                  stall_table(recs, systems), ""]
    if meta.get("unavailable"):
        parts += ["Not run: " + "; ".join(f"{k}: {v}" for k, v in meta["unavailable"].items()), ""]
    for note in meta.get("notes", []):
        parts += [f"Note: {note}", ""]
    if results.get("profile"):
        parts += ["py-spy on the zchat broker (share of samples):", "", results["profile"], ""]
    return "\n".join(parts)


def plot(results: Record, path: Path) -> bool:
    """Deliveries/s against N, one line per system with min-max bars; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    meta = results["meta"]
    recs = _by(results["records"], "fanout")
    if not recs:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for sysname in meta["systems"]:
        xs, meds, los, his = [], [], [], []
        for n in meta["n"]:
            s = summary(r["rate"] for r in recs
                        if r["system"] == sysname and r["n"] == n and _ok(r))
            if s:
                xs.append(n)
                meds.append(s[0])
                los.append(s[0] - s[1])
                his.append(s[2] - s[0])
        if xs:
            ax.errorbar(xs, meds, yerr=[los, his], marker="o", capsize=3, label=sysname)
    ax.set_xscale("log")
    ax.set_xticks(meta["n"], [str(n) for n in meta["n"]])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("receivers N")
    ax.set_ylabel("fan-out deliveries per second")
    ax.set_title("Fan-out rate (median, min-max bars)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_rate(v)))
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def pyspy_summary(raw_path: Path, top: int = 12) -> str:
    """Self and inclusive share of samples per function from py-spy's raw (collapsed) output."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        frames = stack.split(";")
        total += c
        self_c[frames[-1]] += c
        for f in set(frames):
            incl[f] += c
    if not total:
        return "(no samples)"
    rows = [[f"`{f}`", f"{c / total:.1%}", f"{incl[f] / total:.1%}"]
            for f, c in self_c.most_common(top)]
    return _table(["function (self time order)", "self", "inclusive"], rows) + \
        f"\n\n{total} samples."


def main(argv: Sequence[str]) -> None:
    results = json.loads(Path(argv[0]).read_text())
    print(render(results))


if __name__ == "__main__":
    main(sys.argv[1:])
