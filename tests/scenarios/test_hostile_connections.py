"""Hostile connections: a stranger must not crash the broker or lock others out (issue 13).

The attacks of issue 13's items 1, 6 and 7 against a real broker, each asserting
what the issue demands (the defences are described in docs/SECURITY.md and under
Limits in docs/PROTOCOL.md):

* claimed routing ids: the broker survives in every mode, never answers a peer
  whose zero-prefixed routing id it did not give, and an honest `zchat join` works;
* silent connections and stalled CURVE handshakes under a small descriptor limit:
  a newcomer still joins, and the broker does not spin;
* JOINs from one address do not fill `--max-clients`.

Attackers connect from 127.0.0.3 and up, honest clients from 127.0.0.1. The attack
primitives are in attacks_connections.py (benchmarks/hostile_connections.py runs
them at full size and times the newcomers). Bounds are generous: these assert
outcomes; the benchmark measures.
"""

from __future__ import annotations

import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq.auth

from zchat.protocol import Join, encode

from .attacks_connections import (
    CURVE_STALL,
    NULL_HELLO,
    Claimer,
    Curve,
    JoinFlood,
    RoutingIdAttack,
    SilentConnections,
    attacker_addresses,
    cpu_seconds,
    guessed_auto_ids,
    join_round_trip,
    next_auto_ids,
    open_descriptors,
)
from .harness import Broker, Cluster

MODES = ("plaintext", "curve", "curve-allow", "pub")
#: The descriptor limit of the small host the issue describes.
NOFILE = 1024
#: Silent connections: the issue's 1,004 filled a 1,024 limit beside that broker's own
#: descriptors; ours has fewer of its own, so a few more make sure the limit is reached.
SILENT = 1040
#: How long a newcomer may take to get its WELCOME while an attack goes on (the
#: issue's target is 1 s; benchmarks/hostile_connections.py measures it).
NEWCOMER_BOUND = 5.0
#: Of one core. libzmq's I/O thread spinning on a failing accept4 takes all of a core it
#: can get (27-67% measured on a loaded 2-core host); a broker that sheds the attack idles.
CPU_BOUND = 0.25


# ---- keys and brokers -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyFiles:
    """CURVE certificates made once for the module: the broker's, an honest user's
    (ana) and the attacker's (mallory), and two allow lists."""

    root: Path

    def public(self, name: str) -> Path:
        return self.root / f"{name}.key"

    def secret(self, name: str) -> Path:
        return self.root / f"{name}.key_secret"

    def curve(self, name: str) -> Curve:
        server_public, _ = zmq.auth.load_certificate(self.public("server"))
        public, secret = zmq.auth.load_certificate(self.secret(name))
        assert secret is not None
        return Curve(server_public, public, secret)

    def allow(self, *names: str) -> Path:
        """A folder holding the public keys of ``names`` (an allow list)."""
        folder = self.root / ("allow-" + "-".join(names))
        if not folder.is_dir():
            folder.mkdir()
            for name in names:
                (folder / f"{name}.key").write_bytes(self.public(name).read_bytes())
        return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    root = tmp_path_factory.mktemp("keys")
    for name in ("server", "ana", "mallory"):
        zmq.auth.create_certificates(root, name)
    return KeyFiles(root)


@dataclass
class Target:
    """A broker in one mode, and how an attacker and an honest user reach it."""

    broker: Broker
    attacker: Curve | None  # None: plaintext
    honest: Curve | None
    join_args: list[str]


def start(chat: Cluster, mode: str, keys: KeyFiles, *extra: str, **kw: object) -> Target:
    """plaintext; curve (no allow list: the attacker makes its own key pair);
    curve-allow (an allow list that lists the attacker's key); pub (--fanout pub)."""
    if mode == "pub":
        chat.fanout = "pub"
    if mode not in ("curve", "curve-allow"):
        return Target(chat.broker(*extra, **kw), None, None, [])  # type: ignore[arg-type]
    secure = ["--curve-secret", str(keys.secret("server"))]
    if mode == "curve-allow":
        secure += ["--allow-keys", str(keys.allow("ana", "mallory"))]
    broker = chat.broker(*secure, *extra, **kw)  # type: ignore[arg-type]
    honest = keys.curve("ana")
    attacker = (keys.curve("mallory") if mode == "curve-allow"
                else Curve.made_up(honest.server_public))
    return Target(broker, attacker, honest,
                  ["--server-key", str(keys.public("server")), "--key", str(keys.secret("ana"))])


def assert_alive(broker: Broker, during: str) -> None:
    code = broker.proc.poll()
    if code is None:
        return
    how = (f"killed by {signal.Signals(-code).name} (a shell shows exit {128 - code})"
           if code < 0 else f"exit {code}")
    raise AssertionError(f"the broker died {during}: {how}; last output:\n{broker.tail(5)}")


def honest_join_works(chat: Cluster, target: Target, during: str) -> None:
    """A JOIN from 127.0.0.1 is answered (the broker is alive and serving), then a real
    `zchat join` gets its Welcome."""
    assert_alive(target.broker, during)
    probe = join_round_trip(target.broker.endpoint, "probe", NEWCOMER_BOUND, target.honest)
    assert_alive(target.broker, during)
    assert probe.welcomed, f"a JOIN from 127.0.0.1 {during}: {probe}, not WELCOME"
    chat.client("ana", target.broker.endpoint, *target.join_args)


# ---- item 1: claimed routing ids ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_claiming_the_next_routing_ids_does_not_crash_the_broker(
        chat: Cluster, keys: KeyFiles, mode: str) -> None:
    target = start(chat, mode, keys)
    # The attack: 100 DEALERs claim the ids an unseeded libzmq gives next, then
    # ordinary connections take them (today: abort, exit 134, within milliseconds).
    attack = RoutingIdAttack(target.broker.endpoint, next_auto_ids(100), ordinary=20,
                             curve=target.attacker)
    try:
        report = attack.run()
    finally:
        attack.close()
    print(f"\nnext routing ids ({mode}): {report}")
    honest_join_works(chat, target, "after 100 claimed routing ids")


@pytest.mark.parametrize("mode", MODES)
def test_claiming_guessed_routing_ids_does_not_crash_the_broker(
        chat: Cluster, keys: KeyFiles, mode: str) -> None:
    started = time.time()
    target = start(chat, mode, keys)
    # What a stranger tries next: the ids after srand() with the seeds a careless fix
    # would use (the start time, the pid, the two mixed), and the unseeded ids further
    # on, spread over many source addresses; then 300 ordinary connections.
    claims = guessed_auto_ids(started, target.broker.pid)
    attack = RoutingIdAttack(target.broker.endpoint, claims, ordinary=300,
                             curve=target.attacker)
    try:
        report = attack.run()
    finally:
        attack.close()
    print(f"\nguessed routing ids ({mode}): {len(claims)} claimed; {report}")
    honest_join_works(chat, target, f"after {len(claims)} guessed routing ids")


@pytest.mark.parametrize("mode", MODES)
def test_a_peer_with_a_claimed_zero_prefixed_id_is_never_answered(
        chat: Cluster, keys: KeyFiles, mode: str) -> None:
    target = start(chat, mode, keys)
    # Only libzmq names peers 0x00 + 4 octets; a peer that claims such an id (or a
    # longer zero-prefixed one) is closed without an answer: no WELCOME, no ERROR.
    claimers = [Claimer(target.broker.endpoint, b"\x00" + secrets.token_bytes(size),
                        target.attacker) for size in (4, 8)]
    try:
        for n, claimer in enumerate(claimers):
            claimer.send(encode(Join(f"claimer{n}", secrets.token_hex(16))))
        honest_join_works(chat, target, "after JOINs from claimed routing ids")
        for claimer in claimers:
            got = claimer.received(1.0)
            if got:
                pytest.fail(f"the peer that claimed routing id {claimer.ident.hex()} was "
                            f"answered: {got[0][:60]!r}")
    finally:
        for claimer in claimers:
            claimer.close()


# ---- item 6: descriptors ------------------------------------------------------------------


def cpu_share(pid: int, seconds: float) -> float:
    """The share of one core process ``pid`` used over the next ``seconds``."""
    before, began = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # the measuring window, not a synchronisation
    return (cpu_seconds(pid) - before) / (time.monotonic() - began)


KINDS = {"tcp": b"", "zmtp": NULL_HELLO}


@pytest.mark.parametrize("kind", KINDS)
def test_silent_connections_from_one_address_do_not_lock_out_a_newcomer(
        chat: Cluster, kind: str) -> None:
    broker = chat.broker(nofile=NOFILE)
    attack = SilentConnections(broker.endpoint, ["127.0.0.3"], SILENT, KINDS[kind]).start()
    try:
        assert attack.wait_opened(SILENT, timeout=20), attack.stats
        probe = join_round_trip(broker.endpoint, "newcomer", NEWCOMER_BOUND)
        assert_alive(broker, f"under {SILENT} silent connections")
        descriptors = open_descriptors(broker.pid)
        share = cpu_share(broker.pid, 2.0)
        print(f"\nsilent {kind} from one address: {attack.stats}, holding "
              f"{attack.holding}; broker at {descriptors}/{NOFILE} descriptors, "
              f"{share:.0%} of a core; newcomer: {probe}")
        assert probe.welcomed, (
            f"a newcomer from 127.0.0.1 got {probe} within {NEWCOMER_BOUND}s, not WELCOME, while "
            f"127.0.0.3 held {attack.holding} silent {kind} connections (broker at "
            f"{descriptors}/{NOFILE} descriptors)")
        assert share < CPU_BOUND, (f"the broker used {share:.0%} of a core under silent "
                                   f"connections (libzmq spinning on a failing accept4?)")
    finally:
        attack.close()
    # At the limit SQLite cannot open its files either.
    broker.assert_not_seen(r"checkpoint failed")


@pytest.mark.parametrize("kind", KINDS)
def test_silent_connections_from_many_addresses_do_not_lock_out_a_newcomer(
        chat: Cluster, kind: str) -> None:
    broker = chat.broker(nofile=NOFILE)
    # 51 addresses, 21 connections each: under any limit per address. The attacker
    # opens again each connection the broker closes, so only keeping descriptors for
    # newcomers (closing the oldest connections that have not joined) lets one in.
    addresses = attacker_addresses(10, 51)
    attack = SilentConnections(broker.endpoint, addresses, 21 * len(addresses), KINDS[kind],
                               refill=True).start()
    try:
        assert attack.wait_opened(attack.count or 0, timeout=20), attack.stats
        probe = join_round_trip(broker.endpoint, "newcomer", NEWCOMER_BOUND)
        assert_alive(broker, "under silent connections from many addresses")
        descriptors = open_descriptors(broker.pid)
        print(f"\nsilent {kind} from {len(addresses)} addresses: {attack.stats}, holding "
              f"{attack.holding}; broker at {descriptors}/{NOFILE} descriptors; "
              f"newcomer: {probe}")
        assert probe.welcomed, (
            f"a newcomer from 127.0.0.1 got {probe} within {NEWCOMER_BOUND}s, not WELCOME, while "
            f"{len(addresses)} addresses held {attack.holding} silent {kind} connections "
            f"(broker at {descriptors}/{NOFILE} descriptors)")
    finally:
        attack.close()
    broker.assert_not_seen(r"checkpoint failed")


def test_stalled_curve_handshakes_do_not_lock_out_an_allowed_newcomer(
        chat: Cluster, keys: KeyFiles) -> None:
    # The 50 stalled CURVE greetings a second (no key at all), against a smaller
    # limit so that ten seconds of it fill the broker today (libzmq's default handshake
    # limit is 30 s): 500 stalled greetings, from 51 addresses.
    nofile, rate, seconds = 400, 50, 10
    broker = chat.broker("--curve-secret", str(keys.secret("server")),
                         "--allow-keys", str(keys.allow("ana")), nofile=nofile)
    attack = SilentConnections(broker.endpoint, attacker_addresses(10, 51), None, CURVE_STALL,
                               rate=rate).start()
    try:
        assert attack.wait_opened(rate * seconds, timeout=seconds + 10), attack.stats
        probe = join_round_trip(broker.endpoint, "ana", NEWCOMER_BOUND, keys.curve("ana"))
        assert_alive(broker, "under stalled CURVE handshakes")
        descriptors = open_descriptors(broker.pid)
        print(f"\nstalled CURVE greetings at {rate}/s: {attack.stats}, holding "
              f"{attack.holding}; broker at {descriptors}/{nofile} descriptors; "
              f"newcomer: {probe}")
        assert probe.welcomed, (
            f"an allowed newcomer got {probe} within {NEWCOMER_BOUND}s, not WELCOME, after "
            f"{seconds}s of {rate} stalled CURVE greetings a second ({attack.holding} "
            f"open; broker at {descriptors}/{nofile} descriptors)")
    finally:
        attack.close()


# ---- item 7: one address fills --max-clients ---------------------------------------------


def test_joins_from_one_address_do_not_fill_max_clients(chat: Cluster) -> None:
    clients = 100
    broker = chat.broker("--max-clients", str(clients), heartbeat=1.0)
    flood = JoinFlood(broker.endpoint, clients, "127.0.0.3").start()
    try:
        stats = flood.settle(timeout=20)
        print(f"\n{clients} JOINs from 127.0.0.3: {stats.welcomed} welcomed, "
              f"refused {stats.refused}")
        ana = chat.client("ana", broker.endpoint)  # from 127.0.0.1: Welcome, not "full"
        ana.assert_not_seen("the broker is full")
        assert_alive(broker, "under a JOIN flood")
    finally:
        flood.close()
