"""What full-text search (broker/search.py, issue 18) costs with a big history.

Builds a SearchIndex of ``--messages`` stored messages (Portuguese and English
chat text from a fixed-seed generator: words drawn by a Zipf law over a
vocabulary of common words and a long tail of rarer made-up ones; ``--rooms``
rooms, the default room busiest; ``--senders`` senders; one message in
``--priv-every`` a private one between two senders), committed ``--batch`` at a
time, in a file as the broker keeps it. Then times searches of each kind below,
``--repeat`` each with different words, as a broker would run them (the page of
20 hits newest first, the permission filter, the time budget). Each room also
has topic words of its own, in one of five of its messages: the last kind
searches one of a busy room's by someone in every room but that one, the
worst case of a search by words alone (see broker/search.py). Reported:

- p50 / p99 / max wall time per kind, with the budget out of the way (10 s), so
  the figures are the searches' whole cost; then how many of them the broker's
  default budget would have cut short (a second pass at that budget);
- indexing throughput (messages/s over the whole build, commits included), the
  index's size on disk, and bytes per message;
- a broker cycle's commit (``--cycle`` messages) on the full index, ``--cycles`` of
  them: p50, p99, p99.9, max;
- one prune of the oldest tenth, as the history store's own.

    python benchmarks/search.py                # 1,000,000 messages (a few minutes)
    python benchmarks/search.py --quick        # 20,000 messages, a few seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from zchat.broker.search import BUDGET_S, SearchIndex, SearchResult
from zchat.broker.store import StoredEvent
from zchat.protocol import constants as c

SEED = 18
#: Words people type most, both languages mixed as in a Brazilian/Portuguese chat.
COMMON = """
de que não o a é e eu do da em um para com uma os no se na por mais as dos como mas
foi ao ele das tem à seu sua ou ser quando muito há nos já está também só pelo pela
até isso ela entre era depois sem mesmo aos ter seus quem nas me esse eles estão você
tinha foram essa num nem suas meu às minha têm numa pelos elas havia seja qual será
nós tenho lhe deles essas esses pelas este fosse dele tu te vocês vos lhes meus minhas
teu tua teus tuas nosso nossa nossos nossas dela delas esta estes estas aquele aquela
the to and of a in is it you that he was for on are with as I his they be at one
have this from or had by hot word but what some we can out other were all there
when up use your how said an each she which do their time if will way about many
then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call first
who may down side been now find any new work part take get place made live where
after back little only round man year came show every good me give our under name
very through just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well also play
small end put home read hand port large spell add even land here must big high such
olá obrigado bom dia boa tarde noite amanhã hoje ontem agora sim claro beleza
reunião projeto código servidor cliente mensagem sala conversa pergunta resposta
problema erro teste versão atualização ação informação função configuração
café almoço jantar trabalho casa cidade viagem férias semana mês ano hora minuto
""".split()
SYLLABLES = ("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga go gu la le "
             "li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se "
             "si so su ta te ti to tu va ve vi vo za zo ção ções são ã õ nh lh qu gue gui "
             "tra tre pro pre bra cri flo gra ex in on an er or al el il ul").split()


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """COMMON first (the Zipf law's head), then made-up words (its tail), all distinct."""
    words = list(dict.fromkeys(COMMON))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def stream_key(name: str) -> str:
    return "t:" + hashlib.sha256(name.encode()).hexdigest()[:32]


class History:
    """The generated chat: its vocabulary, rooms, senders and messages."""

    def __init__(self, args: argparse.Namespace) -> None:
        rng = random.Random(SEED)
        self.words = vocabulary(args.vocabulary, rng)
        self.word_weights = _cumulative([1 / (rank + 1) ** 1.07 for rank in range(len(self.words))])
        self.rooms = ["", *(f"#sala{k}" for k in range(1, args.rooms))]
        # The default room takes a third; the others a Zipf share of the rest.
        self.room_weights = _cumulative([0.5 * sum(1 / k for k in range(1, args.rooms)),
                                         *(1 / k for k in range(1, args.rooms))])
        self.senders = [f"{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}{i}"
                        for i in range(args.senders)]
        #: Each room's own words (one of them in one of five of its messages).
        self.topics = {room: [f"{room.lstrip('#') or 'geral'}x{k}" for k in range(3)]
                       for room in self.rooms}
        self.keys = [stream_key(name) for name in self.senders]
        self.args = args

    def events(self, first: int, count: int, seed: int) -> Iterator[StoredEvent]:
        rng = random.Random(seed)
        args = self.args
        lengths = rng.choices(range(3, 21), k=count)
        words = iter(rng.choices(self.words, cum_weights=self.word_weights, k=sum(lengths)))
        rooms = rng.choices(self.rooms, cum_weights=self.room_weights, k=count)
        senders = rng.choices(range(len(self.senders)), k=count)
        topical = rng.choices((True, False), (1, 4), k=count)
        for i in range(count):
            seq = first + i
            text = " ".join(next(words) for _ in range(lengths[i]))
            if topical[i]:
                text += " " + rng.choice(self.topics[rooms[i]])
            s = senders[i]
            if seq % args.priv_every == 0:
                t = rng.randrange(len(self.senders))
                yield StoredEvent(seq, c.PRIV, 1.7e9 + seq / 10, self.senders[s], text,
                                  self.senders[t], origin=self.keys[s], cid=seq,
                                  prev=seq - 1, to_key=self.keys[t], prev_to=seq - 2)
            else:
                yield StoredEvent(seq, c.MSG, 1.7e9 + seq / 10, self.senders[s], text,
                                  origin=self.keys[s], cid=seq, prev=seq - 1, room=rooms[i])


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def build(index: SearchIndex, history: History, messages: int, batch: int) -> float:
    """Index every message, ``batch`` a commit; the seconds it took (generation aside)."""
    spent = 0.0
    for first in range(1, messages + 1, batch):
        events = list(history.events(first, min(batch, messages - first + 1), first))
        started = time.perf_counter()
        index.add(events)
        index.commit()
        spent += time.perf_counter() - started
        if first // batch % 100 == 99:
            print(f"  indexed {first + batch - 1:,} ({spent:.1f} s)", file=sys.stderr)
    return spent


Query = dict[str, Any]


def query_kinds(history: History, rng: random.Random) -> dict[str, Callable[[], Query]]:
    """Each kind of search: a function that makes one (new words each time)."""
    words = history.words
    everyone = {"rooms": history.rooms, "private": [history.keys[0]]}
    # A few rooms only, none of the busiest: most matches are others'.
    few = {"rooms": history.rooms[10:13], "private": [history.keys[1]]}
    small = {"rooms": history.rooms[-1:], "private": [history.keys[3]]}
    # Every room but the busiest after the default one: ~80% of the chat.
    all_but_one = {"rooms": [r for r in history.rooms if r != "#sala1"],
                   "private": [history.keys[2]]}
    common = lambda: rng.choice(words[:30])
    medium = lambda: rng.choice(words[100:1000])
    rare = lambda: rng.choice(words[len(words) // 2:])
    return {
        "common word": lambda: {"query": common(), **everyone},
        "rare word": lambda: {"query": rare(), **everyone},
        "two common words (AND)": lambda: {"query": f"{common()} {common()}", **everyone},
        "two medium words (AND)": lambda: {"query": f"{medium()} {medium()}", **everyone},
        "common word, one sender": lambda: {"query": common(),
                                            "sender": rng.choice(history.senders).upper(),
                                            **everyone},
        "common word, a page back": lambda: {"query": common(),
                                             "before": history.args.messages // 2, **everyone},
        "common word, 3 rooms": lambda: {"query": common(), **few},
        "medium word, 3 rooms": lambda: {"query": medium(), **few},
        "rare word, 3 rooms": lambda: {"query": rare(), **few},
        "two medium words, 3 rooms": lambda: {"query": f"{medium()} {medium()}", **few},
        "common word, one small room": lambda: {"query": common(), **small},
        "another room's word, 3 rooms": lambda: {
            "query": rng.choice(history.topics["#sala1"]), **few},
        "another room's word, all rooms but it": lambda: {
            "query": rng.choice(history.topics["#sala1"]), **all_but_one},
    }


def run_searches(index: SearchIndex, queries: list[Query]) -> tuple[list[float], list[int]]:
    times, hits = [], []
    for query in queries:
        started = time.perf_counter()
        result: SearchResult = index.search(**query)
        times.append((time.perf_counter() - started) * 1000)
        hits.append(len(result.hits))
    return times, hits


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--quick", action="store_true", help="20,000 messages, 50 searches a kind")
    p.add_argument("--rooms", type=int, default=50, help="rooms, the default one included")
    p.add_argument("--senders", type=int, default=500)
    p.add_argument("--priv-every", type=int, default=20, help="one message in N is private")
    p.add_argument("--vocabulary", type=int, default=30_000, help="distinct words")
    p.add_argument("--batch", type=int, default=1000, help="messages a commit while building")
    p.add_argument("--cycle", type=int, default=10, help="messages in a timed cycle's commit")
    p.add_argument("--cycles", type=int, default=2000, help="cycles' commits timed")
    p.add_argument("--repeat", type=int, default=200, help="searches of each kind")
    p.add_argument("--dir", type=Path, help="where the index goes (default: a temporary folder)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = p.parse_args(argv)
    if args.quick:
        args.messages, args.repeat, args.cycles = 20_000, 50, 200
    with tempfile.TemporaryDirectory(prefix="zchat-search-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "search.db"
        for old in folder.glob("search.db*"):
            old.unlink()
        figures = measure(args, path)
    print_report(args, figures)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))
    return 0


def measure(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    history = History(args)
    index = SearchIndex(path, budget_s=10.0)
    print(f"building an index of {args.messages:,} messages in {path} ...", file=sys.stderr)
    build_s = build(index, history, args.messages, args.batch)
    index.close()
    size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))
    index = SearchIndex(path, budget_s=10.0)
    rng = random.Random(SEED + 1)
    kinds = query_kinds(history, rng)
    run_searches(index, [kinds["common word"]() for _ in range(20)])  # warm the page cache
    searches: dict[str, Any] = {}
    for label, make in kinds.items():
        queries = [make() for _ in range(args.repeat)]
        index.budget_s = 10.0
        times, hits = run_searches(index, queries)
        index.budget_s = BUDGET_S
        cut = 0
        for query in queries:
            cut += not index.search(**query).complete
        searches[label] = {"p50_ms": statistics.median(times), "p99_ms": _pct(times, 0.99),
                           "max_ms": max(times), "mean_hits": statistics.fmean(hits),
                           "empty": hits.count(0), "cut_by_budget": cut,
                           "searches": len(queries)}
        print(f"  {label}: p99 {searches[label]['p99_ms']:.2f} ms", file=sys.stderr)
    cycles = []
    first = args.messages + 1
    for _ in range(args.cycles):
        events = list(history.events(first, args.cycle, first))
        first += args.cycle
        started = time.perf_counter()
        index.add(events)
        index.commit()
        cycles.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    index.prune(args.messages // 10)
    prune_s = time.perf_counter() - started
    index.close()
    return {
        "messages": args.messages, "rooms": args.rooms, "senders": args.senders,
        "priv_every": args.priv_every, "batch": args.batch, "repeat": args.repeat,
        "budget_ms": BUDGET_S * 1000,
        "build_s": build_s, "index_msgs_per_s": args.messages / build_s,
        "size_bytes": size, "bytes_per_msg": size / args.messages,
        "cycle_messages": args.cycle, "cycles": len(cycles),
        "cycle_commit_p50_ms": statistics.median(cycles),
        "cycle_commit_p99_ms": _pct(cycles, 0.99), "cycle_commit_p999_ms": _pct(cycles, 0.999),
        "cycle_commit_max_ms": max(cycles), "prune_tenth_s": prune_s,
        "searches": searches,
    }


def print_report(args: argparse.Namespace, f: dict[str, Any]) -> None:
    print(f"\n{f['messages']:,} messages ({f['rooms']} rooms, {f['senders']} senders, one in "
          f"{f['priv_every']} private); {f['repeat']} searches a kind, 20 hits a page\n")
    print(f"indexing: {f['index_msgs_per_s']:,.0f} messages/s ({f['batch']} a commit, "
          f"{f['build_s']:.1f} s); index on disk {f['size_bytes'] / 2**20:,.1f} MiB "
          f"({f['bytes_per_msg']:.0f} bytes/message)")
    print(f"a cycle's commit of {f['cycle_messages']} messages ({f['cycles']} timed): p50 "
          f"{f['cycle_commit_p50_ms']:.2f} ms, p99 {f['cycle_commit_p99_ms']:.2f}, p99.9 "
          f"{f['cycle_commit_p999_ms']:.2f}, max {f['cycle_commit_max_ms']:.2f} ms")
    print(f"prune of the oldest tenth ({f['messages'] // 10:,} messages): "
          f"{f['prune_tenth_s']:.2f} s\n")
    print(f"| search | p50 ms | p99 ms | max ms | hits (mean) | none found | "
          f"cut by the {f['budget_ms']:.0f} ms budget |")
    print("|---|---|---|---|---|---|---|")
    for label, s in f["searches"].items():
        print(f"| {label} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} | "
              f"{s['mean_hits']:.1f} | {s['empty']} | {s['cut_by_budget']} of {s['searches']} |")
    worst = max(s["p99_ms"] for s in f["searches"].values())
    print(f"\nworst p99 {worst:.2f} ms: the 50 ms target is "
          f"{'met' if worst < 50 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
