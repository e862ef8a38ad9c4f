"""Failover of a zchat cluster: how long clients take to move after `kill -9` of their
broker (or after it goes silent: ``--signal stop``), and whether they lose or
duplicate anything.

    python benchmarks/failover.py [--clients 20] [--heartbeat 1.0] [--rate 50] [--reps 3]
                                  [--signal kill|stop]

Each repetition starts a redis-server of its own (free loopback port, nothing
persisted) and two brokers with ``--cluster`` on it (flood limits lifted, as in
run.py). Then, all in this one process on one poll loop:

- a *sender* on broker 2 says numbered public messages (``n=K``, cid K+1) at a
  steady ``--rate``, from before the kill until ``--after`` seconds after the last
  client has failed over;
- a *witness* on broker 2 only reads: a control for loss, and it counts the
  JOINED/LEFT announcements the moving clients cause;
- K *clients* on broker 1 that know both endpoints (``[broker 1, broker 2]``), raw
  DEALER sockets speaking ZCHAT/1 as zchat's own client does (client/app.py):
  any frame is a heartbeat, a PING after one idle interval, and a broker silent
  for 3 intervals (HEARTBEAT_LIVENESS x the WELCOME's heartbeat) is lost: the
  socket is closed and a new one JOINs the next endpoint with the same name and
  session token and ``resume=true``; no WELCOME within 3 intervals starts over
  on the next endpoint, backing off as the client does. A joined connection
  that drops (the socket monitor's DISCONNECTED) is JOINed again at once at the
  same endpoint, and the broker is lost only if no WELCOME comes within the
  client's grace (client/app.py's RESUME_GRACE and RESUME_REDIAL_MS, imported).
  Cursors, gap detection and FETCH paging are zchat's own `Timeline`
  (client/timeline.py).

After ``--before`` seconds of traffic broker 1 gets SIGKILL (``--signal stop``:
SIGSTOP, a silent host; it is killed after the measurement). Per client:

- *drop seen*: kill -> the monitor reports the connection dropped (none for stop);
- *detect*: kill -> the client declares its broker lost (grace over, or no frame
  for 3 intervals);
- *failover*: kill -> WELCOME from broker 2 (the figure asked for);
- *caught up*: kill -> the client holds every message the sender had sent (and
  had acknowledged) by the time of that WELCOME, live or through FETCH replay.

Then every client must hold every number the sender sent, exactly once: its raw
receipts (live MSGs and replayed events) are deduplicated by ``seq``; a number
missing is *lost*, a number under two different seqs is *duplicated* (stored
twice). The numbers the client's Timeline released for display are checked the
same way (what a user would see). Raw results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import systems
import zmq
from zmq.utils.monitor import recv_monitor_message

from zchat.client.app import RESUME_REDIAL_MS, resume_grace
from zchat.client.timeline import Step, Timeline
from zchat.protocol import (
    Ack,
    Bye,
    Error,
    Events,
    Join,
    Joined,
    Left,
    Msg,
    Ping,
    ProtocolError,
    Say,
    Welcome,
    decode_broker,
    encode,
)
from zchat.protocol import constants as c

RESULTS_DIR = systems.BENCH_DIR / "results"
SENDER = "sender"
#: As client/app.py: the wait between JOIN attempts grows by half up to this.
MAX_RETRY = 5.0


def number_of(msg: Msg) -> int | None:
    """The sender's message number from ``n=K ...``, or None for any other MSG."""
    if msg.sender != SENDER or not msg.text.startswith("n="):
        return None
    return int(msg.text[2:].split(" ", 1)[0])


# ---- a client: raw DEALER, zchat's liveness and Timeline ---------------------------------

@dataclass
class Client:
    ctx: zmq.Context
    poller: zmq.Poller
    name: str
    endpoints: tuple[str, ...]
    interval: float
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    sock: zmq.Socket | None = None
    #: The monitor of ``sock``: only its drops (EVENT_DISCONNECTED) are followed.
    monitor: zmq.Socket | None = None
    #: While a dropped connection is given its grace: when the grace ends.
    resume_until: float | None = None
    dialled: int = 0
    joined: bool = False
    last_recv: float = 0.0
    last_send: float = 0.0
    join_sent: float = 0.0
    fetch_sent: float = 0.0
    retry: float = 0.0
    #: (monotonic time, endpoint index, resumed, WELCOME pub head) of each WELCOME.
    welcomes: list[tuple[float, int, bool, int]] = field(default_factory=list)
    #: Times this client's joined connection dropped, and times it declared its broker
    #: lost; JOINs it sent (time, endpoint).
    dropped_at: list[float] = field(default_factory=list)
    lost_at: list[float] = field(default_factory=list)
    joins: list[tuple[float, int]] = field(default_factory=list)
    #: Raw receipts of the sender's messages: seq -> number, and number -> first time.
    seqs: dict[int, int] = field(default_factory=dict)
    receipts: int = 0
    first_seen: dict[int, float] = field(default_factory=dict)
    #: Numbers the Timeline released to be shown, with how often.
    shown: Counter[int] = field(default_factory=Counter)
    #: Announcements seen (live or replayed, once per seq): (time, kind, name, reason).
    presence: list[tuple[float, str, str, str]] = field(default_factory=list)
    presence_seqs: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    fetches: int = 0
    #: (time, why) of every FETCH sent: "gap" (a live event or a PING head ahead of the
    #: cursor), "welcome", "more" (next page) or "refetch" (unanswered).
    fetch_log: list[tuple[float, str]] = field(default_factory=list)
    lost_events: int = 0
    resets: int = 0

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.name)
        self.retry = self.interval * c.HEARTBEAT_LIVENESS

    # -- sockets
    def open(self, now: float, redial_ms: int | None = None) -> None:
        """A fresh DEALER to the endpoint dialled now, with a JOIN queued (as app.py)."""
        self.close()
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, c.MAX_BROKER_FRAME_BYTES)
        sock.setsockopt(zmq.RECONNECT_IVL, 100 if redial_ms is None else redial_ms)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000 if redial_ms is None else 0)
        self.monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.poller.register(self.monitor, zmq.POLLIN)
        sock.connect(self.endpoints[self.dialled])
        self.sock = sock
        self.poller.register(sock, zmq.POLLIN)
        self.joined = False
        self.resume_until = None
        self.send(Join(self.name, self.token, self.timeline.joined_before), now)
        self.join_sent = self.last_recv = now
        self.joins.append((now, self.dialled))

    def close(self) -> None:
        if self.monitor is not None:
            self.poller.unregister(self.monitor)
            if self.sock is not None:
                self.sock.disable_monitor()
            self.monitor.close(0)
            self.monitor = None
        if self.sock is not None:
            self.poller.unregister(self.sock)
            self.sock.close(0)
            self.sock = None

    def link_event(self, now: float) -> None:
        """The monitor's news: a joined connection that drops is JOINed again at
        once at the same endpoint, for the grace (app.py's _dropped)."""
        assert self.monitor is not None
        recv_monitor_message(self.monitor)
        if not self.joined:
            return
        self.read(now)  # a BYE queued before the drop decides first
        if not self.joined:
            return
        self.dropped_at.append(now)
        self.open(now, RESUME_REDIAL_MS)
        self.resume_until = now + resume_grace(self.interval)

    def start_over(self, now: float) -> None:
        """The broker is gone: JOIN again on a new socket, at the next endpoint."""
        self.dialled = (self.dialled + 1) % len(self.endpoints)
        self.open(now)

    def send(self, msg: object, now: float) -> None:
        assert self.sock is not None
        with contextlib.suppress(zmq.Again):
            self.sock.send(encode(msg), zmq.NOBLOCK)  # type: ignore[arg-type]
            self.last_send = now

    # -- inbound
    def read(self, now: float) -> None:
        sock = self.sock
        while sock is not None and sock is self.sock:
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.last_recv = now
            try:
                msg = decode_broker(frame)
            except ProtocolError:
                self.errors.append(f"undecodable frame {frame[:60]!r}")
                continue
            self.on_message(msg, now)

    def _record(self, event: object, now: float) -> None:
        if isinstance(event, Msg):
            k = number_of(event)
            if k is not None:
                self.receipts += 1
                self.seqs.setdefault(event.seq, k)
                self.first_seen.setdefault(k, now)
        elif isinstance(event, Joined | Left) and event.seq not in self.presence_seqs:
            self.presence_seqs.add(event.seq)
            reason = event.reason if isinstance(event, Left) else ""
            self.presence.append((now, event.command, event.name, reason))

    def on_message(self, msg: object, now: float) -> None:
        match msg:
            case Welcome():
                self.joined = True
                self.resume_until = None
                self.interval = msg.heartbeat
                self.retry = self.interval * c.HEARTBEAT_LIVENESS
                self.welcomes.append((now, self.dialled, msg.resumed, msg.pub))
                self.step(self.timeline.welcome(msg), now, "welcome")
            case Msg() | Joined() | Left():
                self._record(msg, now)
                self.step(self.timeline.live(msg), now, "gap: live event")
            case Events(kind, events) if kind == c.K_HISTORY:
                pass  # the newcomer's history frame (this chat is empty when they join)
            case Events(kind, events) if kind == c.K_LIVE:
                for event in events:  # a cycle's public events, each as if alone
                    self._record(event, now)
                    self.step(self.timeline.live(event), now, "gap: live event")
            case Events(_, events):
                for event in events:
                    self._record(event, now)
                self.step(self.timeline.replay(msg), now, "more")
            case Ping(pub, priv):
                self.step(self.timeline.heads(pub, priv), now, "gap: PING head")
            case Error():
                self.errors.append(f"ERROR {msg.code} {msg.detail} {msg.ref}")
                if msg.code == c.E_NOT_JOINED and self.joined:
                    self.lost_at.append(now)
                    self.start_over(now)
            case Bye():
                self.errors.append(f"BYE {msg.reason}")
                if msg.reason == c.R_SHUTDOWN:
                    self.start_over(now)
            case Ack():
                pass

    def step(self, step: Step, now: float, why: str = "") -> None:
        self.lost_events += step.lost
        self.resets += step.reset
        for shown in step.shown:
            if isinstance(shown.event, Msg):
                k = number_of(shown.event)
                if k is not None:
                    self.shown[k] += 1
        if step.fetch is not None and self.joined:
            self.send(step.fetch, now)
            self.fetch_sent = now
            self.fetches += 1
            self.fetch_log.append((now, why))

    # -- timers (client/app.py's _timers and _next_deadline)
    def deadline(self) -> float:
        if self.joined:
            return min(self.last_send + self.interval,
                       self.last_recv + self.interval * c.HEARTBEAT_LIVENESS)
        if self.resume_until is not None:
            return min(self.resume_until, self.join_sent + self.retry)
        return self.join_sent + self.retry

    def timers(self, now: float) -> None:
        if self.joined:
            if now - self.last_recv > self.interval * c.HEARTBEAT_LIVENESS:
                self.lost_at.append(now)
                self.start_over(now)
            elif (self.timeline.catching_up
                  and now - self.fetch_sent > self.interval * c.HEARTBEAT_LIVENESS):
                self.send(self.timeline.refetch(), now)
                self.fetch_sent = now
                self.fetches += 1
                self.fetch_log.append((now, "refetch"))
            elif now - self.last_send >= self.interval:
                self.send(Ping(), now)
        elif self.resume_until is not None and now >= self.resume_until:
            self.lost_at.append(now)  # not back within the grace
            self.start_over(now)
        elif now - self.join_sent >= self.retry:
            self.retry = max(self.retry, min(self.retry * 1.5, MAX_RETRY))
            self.start_over(now)

    def has_all(self, numbers: range) -> bool:
        have = set(self.seqs.values())
        return all(k in have for k in numbers) and not self.timeline.catching_up


# ---- the sender ----------------------------------------------------------------------

class Sender:
    """Joins one broker and says ``n=K`` at a steady rate; records the ACKs."""

    def __init__(self, ctx: zmq.Context, poller: zmq.Poller, endpoint: str, rate: float,
                 heartbeat: float) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.poller = poller
        poller.register(self.sock, zmq.POLLIN)
        self.interval = 1.0 / rate
        self.heartbeat = heartbeat
        self.joined = False
        self.sent = 0
        self.start = 0.0
        self.sending = False
        self.last_send = 0.0
        self.sent_at: dict[int, float] = {}
        self.acked: dict[int, tuple[int, float]] = {}  # number -> (seq, ack time)
        self.errors: list[str] = []
        self.sock.send(encode(Join(SENDER, secrets.token_hex(16))))

    def go(self, now: float) -> None:
        self.start, self.sending = now, True

    def deadline(self) -> float:
        nxt = self.last_send + self.heartbeat
        if self.sending:
            nxt = min(nxt, self.start + self.sent * self.interval)
        return nxt

    def timers(self, now: float) -> None:
        if not self.joined:
            return
        while self.sending and now >= self.start + self.sent * self.interval:
            k = self.sent
            self.sock.send(encode(Say(f"n={k} " + "x" * 60, cid=k + 1)))
            self.sent_at[k] = now
            self.sent += 1
            self.last_send = now
        if now - self.last_send >= self.heartbeat:
            self.sock.send(encode(Ping()))
            self.last_send = now

    def read(self, now: float) -> None:
        while True:
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = decode_broker(frame)
            except ProtocolError:
                continue
            if isinstance(msg, Welcome):
                self.joined = True
                self.heartbeat = msg.heartbeat
            elif isinstance(msg, Ack):
                self.acked[msg.cid - 1] = (msg.seq, now)
            elif isinstance(msg, Error | Bye):
                self.errors.append(repr(msg))


# ---- one repetition ----------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th)."""
    vals = sorted(values)
    k = max(1, math.ceil(p / 100 * len(vals)))
    return vals[k - 1]


def one_rep(rep: int, args: argparse.Namespace) -> dict[str, Any]:
    hb = args.heartbeat
    workdir = Path(tempfile.mkdtemp(prefix="zchat-failover-"))
    procs: list[Any] = []
    ctx = zmq.Context()
    rec: dict[str, Any] = {"rep": rep, "signal": args.signal, "clients": args.clients,
                           "heartbeat": hb, "rate": args.rate}
    try:
        redis_proc, redis_port, _ = systems.start_redis(workdir / "redis")
        procs.append(redis_proc)
        cmd = systems.zchat_broker_command(hb, "--cluster", f"redis://127.0.0.1:{redis_port}/0")
        b1 = systems.spawn_zchat(cmd, workdir / "b1")
        b2 = systems.spawn_zchat(cmd, workdir / "b2")
        procs += [b1[0], b2[0]]
        deadline = time.monotonic() + 15
        e1 = f"tcp://127.0.0.1:{systems.wait_listening(*b1, deadline, 'broker 1')}"
        e2 = f"tcp://127.0.0.1:{systems.wait_listening(*b2, deadline, 'broker 2')}"

        poller = zmq.Poller()
        now = time.monotonic()
        sender = Sender(ctx, poller, e2, args.rate, hb)
        witness = Client(ctx, poller, "witness", (e2,), hb)
        clients = [Client(ctx, poller, f"c{i:03d}", (e1, e2), hb) for i in range(args.clients)]
        everyone = [witness, *clients]
        for cl in everyone:
            cl.open(now)

        def loop_until(cond: Any, until: float) -> bool:
            """Run the loop until cond() or the time ``until``; True if cond() held."""
            while True:
                now = time.monotonic()
                for cl in everyone:
                    if cl.sock is not None:
                        cl.timers(now)
                sender.timers(now)
                if cond():
                    return True
                if now >= until:
                    return False
                nxt = min([until, sender.deadline(), *(cl.deadline() for cl in everyone)])
                owner = {cl.sock: cl for cl in everyone if cl.sock is not None}
                watching = {cl.monitor: cl for cl in everyone if cl.monitor is not None}
                for sock, _ in poller.poll(max(0.0, nxt - time.monotonic()) * 1000):
                    t = time.monotonic()
                    if sock is sender.sock:
                        sender.read(t)
                    elif sock in owner:
                        owner[sock].read(t)
                    elif sock in watching and watching[sock].monitor is sock:
                        watching[sock].link_event(t)  # (not if it reopened meanwhile)

        if not loop_until(lambda: sender.joined and all(cl.joined for cl in everyone),
                          time.monotonic() + 15):
            raise RuntimeError("not every client joined within 15 s")
        # Settle: the join announcements reach everyone before the clock starts.
        loop_until(lambda: False, time.monotonic() + 0.3)
        sender.go(time.monotonic())
        loop_until(lambda: False, time.monotonic() + args.before)

        t_kill = time.monotonic()
        if args.signal == "stop":
            os.kill(b1[0].pid, signal.SIGSTOP)
        else:
            os.kill(b1[0].pid, signal.SIGKILL)
            b1[0].wait(5)
        sent_at_kill = sender.sent

        def moved(cl: Client) -> bool:
            return any(t > t_kill and ep == 1 for t, ep, _, _ in cl.welcomes)

        limit = t_kill + args.failover_timeout
        all_moved = loop_until(lambda: all(moved(cl) for cl in clients), limit)
        t_moved = time.monotonic()
        if args.signal == "stop":  # (no SIGTERM to a stopped broker: it could not act on it)
            os.kill(b1[0].pid, signal.SIGKILL)
            b1[0].wait(5)
        loop_until(lambda: False, time.monotonic() + args.after)
        sender.sending = False
        sent = sender.sent
        numbers = range(sent)
        # Every message acknowledged (stored), and every reader holding every number.
        loop_until(lambda: len(sender.acked) >= sent
                   and all(cl.has_all(numbers) for cl in everyone),
                   time.monotonic() + 3 * hb * c.HEARTBEAT_LIVENESS + 5)
        t_end = time.monotonic()
        rec.update(all_moved=all_moved, sent=sent, sent_before_kill=sent_at_kill,
                   acked=len(sender.acked), sender_errors=sender.errors,
                   moved_after_s=t_moved - t_kill, run_s=t_end - sender.start,
                   broker2_alive=b2[0].poll() is None, redis_alive=redis_proc.poll() is None)
        rec["per_client"] = [_client_result(cl, t_kill, sender, numbers) for cl in clients]
        rec["witness"] = _client_result(witness, t_kill, sender, numbers)
        # Announcements the move caused, as the witness (never moved) saw them: for
        # the others a client that resumes on broker 2 should never have left.
        names = {cl.name for cl in clients}
        after = [(t - t_kill, k, n, r) for t, k, n, r in witness.presence
                 if t > t_kill and n in names]
        rec["witness_saw_left"] = dict(Counter(r for _, k, _, r in after if k == "LEFT"))
        rec["witness_saw_joined"] = sum(1 for _, k, _, _ in after if k == "JOINED")
        for kind in ("LEFT", "JOINED"):  # when, after the kill, the witness saw them
            ts = [t for t, k, _, _ in after if k == kind]
            if ts:
                rec[f"witness_{kind.lower()}_at_s"] = (min(ts), max(ts))
    finally:
        ctx.destroy(linger=0)
        systems._kill_many([p for p in procs if p is not procs[0]])
        systems._kill_many(procs[:1])
        if args.keep:
            print(f"# kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rec


def _client_result(cl: Client, t_kill: float, sender: Sender, numbers: range) -> dict[str, Any]:
    got = Counter(cl.seqs.values())  # number -> distinct seqs it came under
    out: dict[str, Any] = {
        "name": cl.name,
        "lost": [k for k in numbers if k not in got],
        "duplicated": sorted(k for k, n in got.items() if n > 1),
        "seq_mismatch": sum(1 for s, k in cl.seqs.items()
                            if k in sender.acked and sender.acked[k][0] != s),
        "repeated_receipts": cl.receipts - len(cl.seqs),  # same seq live and replayed
        "shown_lost": sum(1 for k in numbers if cl.shown[k] == 0),
        "shown_twice": sum(1 for k in numbers if cl.shown[k] > 1),
        "fetches": cl.fetches, "lost_events": cl.lost_events, "resets": cl.resets,
        "fetch_log": [(round(t - t_kill, 3), why) for t, why in cl.fetch_log],
        "errors": cl.errors[:5], "joins": len(cl.joins),
    }
    after = [w for w in cl.welcomes if w[0] > t_kill]
    if cl.dropped_at and cl.dropped_at[0] > t_kill:
        out["dropped_s"] = cl.dropped_at[0] - t_kill
    if cl.lost_at and cl.lost_at[0] > t_kill:
        out["detect_s"] = cl.lost_at[0] - t_kill
    if after:
        t_welcome, endpoint, resumed, _ = after[0]
        out.update(failover_s=t_welcome - t_kill, resumed=resumed, welcome_endpoint=endpoint)
        # Caught up: holding everything the sender had had acknowledged by that WELCOME.
        due = [k for k, (_, t_ack) in sender.acked.items() if t_ack <= t_welcome]
        if due and all(k in cl.first_seen for k in due):
            out["caught_up_s"] = max(cl.first_seen[k] for k in due) - t_kill
    return out


# ---- the report ----------------------------------------------------------------------

def summarize(recs: list[dict[str, Any]]) -> str:
    def ms(x: float) -> str:
        return f"{x * 1000:.0f}"

    lines = ["| rep | clients moved | drop seen p50 ms | detect p50 ms | failover p50 / p95 / "
             "max ms | caught up p50 / max ms | resumed | LEFT+JOINED seen by others | sent | lost "
             "| duplicated | shown lost / twice |", "|" + "---|" * 12]
    every: list[float] = []
    for r in recs:
        pcs = r["per_client"]
        fo = [p["failover_s"] for p in pcs if "failover_s" in p]
        det = [p["detect_s"] for p in pcs if "detect_s" in p]
        drop = [p["dropped_s"] for p in pcs if "dropped_s" in p]
        cu = [p["caught_up_s"] for p in pcs if "caught_up_s" in p]
        every += fo
        lost = sum(len(p["lost"]) for p in pcs)
        dup = sum(len(p["duplicated"]) for p in pcs)
        shown = (sum(p["shown_lost"] for p in pcs), sum(p["shown_twice"] for p in pcs))
        left = sum(r["witness_saw_left"].values())
        det_cell = ms(statistics.median(det)) if det else "-"
        drop_cell = ms(statistics.median(drop)) if drop else "-"
        fo_cell = f"{ms(statistics.median(fo))} / {ms(pct(fo, 95))} / {ms(max(fo))}" if fo else "-"
        cu_cell = f"{ms(statistics.median(cu))} / {ms(max(cu))}" if cu else "-"
        lines.append(
            f"| {r['rep']} | {len(fo)}/{r['clients']} | {drop_cell} | {det_cell} | {fo_cell}"
            f" | {cu_cell}"
            f" | {sum(1 for p in pcs if p.get('resumed'))}/{len(fo)}"
            f" | {left} LEFT, {r['witness_saw_joined']} JOINED"
            f" | {r['sent']} ({r['acked']} acked) | {lost} | {dup} | {shown[0]} / {shown[1]} |")
    out = "\n".join(lines)
    if every:
        out += (f"\n\nAll repetitions, {len(every)} client failovers (signal -> WELCOME from "
                f"broker 2): median {ms(statistics.median(every))} ms, p95 "
                f"{ms(pct(every, 95))} ms, max {ms(max(every))} ms, min {ms(min(every))} ms.")
    wl = sum(len(r["witness"]["lost"]) for r in recs)
    wd = sum(len(r["witness"]["duplicated"]) for r in recs)
    out += f"\nWitness on broker 2 (never moved): lost {wl}, duplicated {wd}."
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=20, help="clients that fail over (K)")
    p.add_argument("--heartbeat", type=float, default=1.0, help="the brokers' --heartbeat")
    p.add_argument("--rate", type=float, default=50.0, help="sender's messages per second")
    p.add_argument("--before", type=float, default=2.0, help="seconds of traffic before the kill")
    p.add_argument("--after", type=float, default=2.0,
                   help="seconds the sender goes on after the last client moved")
    p.add_argument("--failover-timeout", type=float, default=30.0,
                   help="bound on the wait for every client to move")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--signal", choices=("kill", "stop"), default="kill",
                   help="what broker 1 gets: SIGKILL (a crash: the kernel resets the "
                        "connections) or SIGSTOP (a silent host: nothing to see but silence)")
    p.add_argument("--keep", action="store_true", help="keep each repetition's folder (logs)")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default results/)")
    args = p.parse_args(argv)
    ok, why = systems.available("zchat-cluster")
    if not ok:
        print(f"# cannot run: {why}", flush=True)
        return 2
    RESULTS_DIR.mkdir(exist_ok=True)
    out = args.out or RESULTS_DIR / f"failover-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results: dict[str, Any] = {"meta": {"command": " ".join(["python", "benchmarks/failover.py",
                                                            *(argv or sys.argv[1:])]),
                                        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                        "args": {k: str(v) for k, v in vars(args).items()},
                                        "nproc": os.cpu_count(),
                                        "loadavg": os.getloadavg()},
                               "reps": []}
    try:
        for rep in range(args.reps):
            try:
                rec = one_rep(rep, args)
            except (RuntimeError, OSError, zmq.ZMQError) as exc:
                rec = {"rep": rep, "error": f"{type(exc).__name__}: {exc}"}
            results["reps"].append(rec)
            brief = {k: rec.get(k) for k in ("rep", "error", "all_moved", "sent", "acked")}
            fo = [x["failover_s"] for x in rec.get("per_client", []) if "failover_s" in x]
            if fo:
                brief["failover_ms_median"] = round(statistics.median(fo) * 1000)
            print(json.dumps(brief), flush=True)
            out.write_text(json.dumps(results, indent=1, default=str))
    except KeyboardInterrupt:
        print("# interrupted", flush=True)
    finally:
        systems.kill_all()
    good = [r for r in results["reps"] if "per_client" in r]
    if good:
        what = "kill -9" if args.signal == "kill" else "SIGSTOP"
        print(f"\nFailover after {what} of broker 1: {args.clients} clients, --heartbeat "
              f"{args.heartbeat}, sender at {args.rate:.0f} msg/s on broker 2:\n")
        print(summarize(good))
    print(f"raw results: {out}")
    return 0 if good and len(good) == len(results["reps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
