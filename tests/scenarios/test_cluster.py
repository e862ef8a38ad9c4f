"""Several brokers over one Redis act as one chat: real redis-server, real brokers.

Delivery runs in both fan-out modes; names and start-up errors run once.
"""

import re
import signal

import pytest

from .harness import Cluster, RedisServer, free_port

STAMP = r"\[\d\d:\d\d:\d\d\]"


def _brokers(chat: Cluster, redis: RedisServer, count: int, *extra: str,
             heartbeat: float = 0.2) -> list:
    return [chat.broker("--cluster", redis.url, *extra, heartbeat=heartbeat)
            for _ in range(count)]


@pytest.mark.both_fanouts
def test_three_brokers_are_one_chat(chat: Cluster) -> None:
    redis = chat.redis()
    a, b, c = _brokers(chat, redis, 3)
    ana = chat.client("ana", a.endpoint)
    bia = chat.client("bia", b.endpoint)
    ana.expect(r"\* bia joined the chat")
    caio = chat.client("caio", c.endpoint)
    caio.expect(r"Online: ana, bia")
    ana.expect(r"\* caio joined the chat")
    bia.expect(r"\* caio joined the chat")

    ana.line("olá de A")
    bia.expect(rf"{STAMP} ana: olá de A")
    caio.expect(rf"{STAMP} ana: olá de A")
    caio.line("oi de C")
    ana.expect(rf"{STAMP} caio: oi de C")
    bia.expect(rf"{STAMP} caio: oi de C")

    # A private message reaches its target on another broker, and only it.
    ana.line("@caio segredo 42")
    caio.expect(rf"{STAMP} \(private\) ana: segredo 42")
    ana.expect(rf"{STAMP} \(private to caio\): segredo 42")
    ana.line("@zed oi")
    ana.expect(r"! nobody named zed is online")

    bia.line("/who")
    bia.expect(r"Online \(3\): ana, bia, caio|Online: ana, bia, caio")
    ana.line("marcador")
    bia.expect("ana: marcador")
    caio.expect("ana: marcador")
    bia.assert_not_seen("segredo")
    # The sender never gets its own public message back from the cluster.
    assert ana.count(rf"{STAMP} ana: olá de A") == 1

    caio.line("sair")
    assert caio.wait() == 0
    ana.expect(r"\* caio left the chat")
    bia.expect(r"\* caio left the chat")


def test_a_name_is_unique_across_the_cluster(chat: Cluster) -> None:
    redis = chat.redis()
    a, b = _brokers(chat, redis, 2)
    chat.client("ana", a.endpoint)
    other = chat.client("ANA", b.endpoint, wait=False)
    other.expect(r"name .*taken|already in use|taken")
    assert other.wait() != 0


@pytest.mark.both_fanouts
def test_a_dead_brokers_users_are_announced_gone(chat: Cluster) -> None:
    redis = chat.redis()
    a, b = _brokers(chat, redis, 2)
    ana = chat.client("ana", a.endpoint)
    chat.client("bia", b.endpoint)
    ana.expect("bia joined")
    b.signal(signal.SIGKILL)
    # Heartbeat 0.2 s: the lease lapses after 1 s and a sweep follows within 0.27 s
    # (after the sweep grace that follows a reader connecting, docs/CLUSTER.md).
    ana.expect(r"\* bia left the chat \(connection lost\)", timeout=10)


@pytest.mark.both_fanouts
def test_redis_down_local_chat_goes_on_and_the_cluster_heals(chat: Cluster) -> None:
    redis = chat.redis()
    a, b = _brokers(chat, redis, 2)
    ana = chat.client("ana", a.endpoint)
    bob = chat.client("bob", a.endpoint)
    carol = chat.client("carol", b.endpoint)
    ana.expect("carol joined")
    bob.expect("carol joined")

    redis.signal(signal.SIGKILL)
    redis.wait()
    for user in (ana, bob, carol):
        user.expect("The link to the other brokers is down")
    ana.line("só aqui")
    bob.expect(rf"{STAMP} ana: só aqui")
    ana.line("@bob local ainda")
    bob.expect(r"\(private\) ana: local ainda")
    ana.line("@carol longe")
    ana.expect(r"! private message to carol not sent")

    chat.redis(port=redis.port, folder=redis.folder)
    for user in (ana, bob, carol):
        user.expect("The link to the other brokers is back", timeout=15)
    ana.line("de volta")
    carol.expect(rf"{STAMP} ana: de volta")
    bob.expect(rf"{STAMP} ana: de volta")
    carol.line("oi ana")
    ana.expect(rf"{STAMP} carol: oi ana")
    ana.line("@carol perto")
    carol.expect(r"\(private\) ana: perto")
    # What was said during the outage stayed on broker A, and nobody was
    # announced as gone or joined again.
    carol.assert_not_seen("só aqui|local ainda|longe")
    for user in (ana, bob, carol):
        user.assert_not_seen(r"left the chat")
    assert ana.count(r"\* carol joined") == 1


def _numbers(proc, sender: str) -> list[int]:
    return [int(n) for n in re.findall(rf"{STAMP} (?:\(missed\) )?{sender}: n(\d+)\b", proc.text)]


@pytest.mark.both_fanouts
def test_broker_killed_clients_fail_over_and_miss_nothing(chat: Cluster) -> None:
    """kill -9 of a broker: clients that know another broker move there, rejoin under
    their name and show every numbered message once, in order; the one that knows
    no other broker is announced gone by the survivors."""
    redis = chat.redis()
    # Clients notice in 3 intervals, leases lapse in 5: at 0.5 s the move has a
    # full second to spare even on a loaded machine.
    a, b = _brokers(chat, redis, 2, heartbeat=0.5)
    wes = chat.client("wes", b.endpoint)
    carol = chat.client("carol", b.endpoint)
    ana = chat.client("ana", a.endpoint, "--connect", b.endpoint)
    bob = chat.client("bob", a.endpoint, "--connect", b.endpoint)
    chat.client("dave", a.endpoint)  # nowhere else to go
    wes.expect("dave joined")
    for i in range(1, 31):
        carol.line(f"n{i}")
    ana.expect(rf"{STAMP} carol: n30\b")
    a.signal(signal.SIGKILL)
    a.wait()
    for i in range(31, 61):  # while ana and bob are noticing and moving
        carol.line(f"n{i}")
    for i in range(1, 11):  # typed into the void: kept and sent after the move
        ana.line(f"a{i}")
    for user in (ana, bob):
        user.expect(r"Connection to the broker lost", timeout=10)
        user.expect(rf"connecting to {b.endpoint}")
        user.expect(r"Reconnected as", timeout=10)
    wes.expect(r"\* dave left the chat \(connection lost\)", timeout=15)
    carol.line("fim")
    for user in (ana, bob):
        user.expect(rf"{STAMP} carol: fim", timeout=10)
        assert _numbers(user, "carol") == list(range(1, 61)), user.tail(40)
    wes.expect(rf"{STAMP} ana: a10\b", anywhere=True)
    assert _numbers_a(wes) == list(range(1, 11)), wes.tail(40)
    # They moved, they did not leave: nobody saw them go or come back.
    for user in (wes, carol):  # (they joined before ana, bob after)
        user.assert_not_seen(r"ana left")
        assert user.count(r"\* ana joined") == 1
    bob.assert_not_seen(r"ana left|ana joined")


def _numbers_a(proc) -> list[int]:
    return [int(n) for n in re.findall(rf"{STAMP} ana: a(\d+)\b", proc.text)]


def test_bad_cluster_url_and_unreachable_redis_are_clear_errors(chat: Cluster) -> None:
    bad = chat.broker("--cluster", "http://example.org", wait=False)
    bad.expect(r"Invalid value for '--cluster'.*redis://HOST:PORT")
    assert bad.wait() == 2
    port = free_port()  # nothing listens there
    gone = chat.broker("--cluster", f"redis://:secret@127.0.0.1:{port}/0", wait=False)
    gone.expect(rf"cannot use the cluster at redis://:\*\*\*@127\.0\.0\.1:{port}/0")
    assert gone.wait() == 1
    assert "secret" not in gone.text and "Traceback" not in gone.text + bad.text


# A long heartbeat, so that only the socket monitor can move a client in time: liveness
# would take 2 to 3 intervals (10 to 15 s) after a crash, and the dead broker's lease
# (5 intervals) keeps the names of its users held meanwhile.
SLOW_HEARTBEAT = 5.0
#: Generous for a move that takes a fraction of a second, and well under liveness.
PROMPT = 5.0


@pytest.mark.both_fanouts
def test_broker_killed_clients_move_at_once_and_miss_nothing(chat: Cluster) -> None:
    redis = chat.redis()
    a, b = _brokers(chat, redis, 2, heartbeat=SLOW_HEARTBEAT)
    carol = chat.client("carol", b.endpoint)
    ana = chat.client("ana", a.endpoint, "--connect", b.endpoint)
    carol.expect("ana joined")
    for i in range(1, 11):
        carol.line(f"n{i}")
    ana.expect(rf"{STAMP} carol: n10\b")
    a.signal(signal.SIGKILL)
    a.wait()
    for i in range(11, 21):  # while ana moves
        carol.line(f"n{i}")
    for i in range(1, 6):  # typed into the void: kept and sent after the move
        ana.line(f"a{i}")
    ana.expect(r"Connection to the broker lost", timeout=PROMPT)
    ana.expect(rf"connecting to {b.endpoint}")
    ana.expect(r"Reconnected as ana", timeout=PROMPT)
    carol.line("fim")
    ana.expect(rf"{STAMP} carol: fim")
    assert _numbers(ana, "carol") == list(range(1, 21)), ana.tail(40)
    carol.expect(rf"{STAMP} ana: a5\b", anywhere=True)
    assert _numbers_a(carol) == list(range(1, 6)), carol.tail(40)
    # She moved, she did not leave.
    carol.assert_not_seen(r"ana left")
    assert carol.count(r"\* ana joined") == 1


@pytest.mark.both_fanouts
def test_stopped_broker_clients_move_after_liveness(chat: Cluster) -> None:
    """A silent host (SIGSTOP: no reset, no drop for the monitor to see): liveness
    still moves the client, within 3 intervals of the silence."""
    redis = chat.redis()
    a, b = _brokers(chat, redis, 2, heartbeat=0.5)
    carol = chat.client("carol", b.endpoint)
    ana = chat.client("ana", a.endpoint, "--connect", b.endpoint)
    carol.expect("ana joined")
    a.signal(signal.SIGSTOP)
    ana.expect(r"Connection to the broker lost", timeout=PROMPT)
    ana.expect(rf"connecting to {b.endpoint}")
    ana.expect(r"Reconnected as ana", timeout=PROMPT)
    ana.line("cheguei")
    carol.expect(rf"{STAMP} ana: cheguei")
    carol.assert_not_seen(r"ana left")
    assert carol.count(r"\* ana joined") == 1


@pytest.mark.both_fanouts
def test_broker_restarted_at_once_clients_stay_with_it(chat: Cluster) -> None:
    """A reset that is not a crash: the broker is back on its port before the client
    redials, so the client resumes there, does not move to the other broker, and
    nobody sees it leave or join. (ana is stopped while the broker restarts: a
    restart quicker than her redial, whatever the machine's speed.)"""
    redis = chat.redis()
    a, b = _brokers(chat, redis, 2, heartbeat=SLOW_HEARTBEAT)
    carol = chat.client("carol", b.endpoint)
    ana = chat.client("ana", a.endpoint, "--connect", b.endpoint)
    carol.expect("ana joined")
    ana.signal(signal.SIGSTOP)
    a.signal(signal.SIGKILL)
    a.wait()
    chat.broker("--cluster", redis.url, bind=a.endpoint, heartbeat=SLOW_HEARTBEAT)
    carol.line("n1")  # said while ana is away
    ana.line("a1")  # typed while stopped: read when she runs again
    ana.signal(signal.SIGCONT)
    ana.expect(r"Reconnected as ana", timeout=PROMPT)
    carol.expect(rf"{STAMP} ana: a1\b")
    ana.expect(rf"{STAMP} (?:\(missed\) )?carol: n1\b", anywhere=True)
    carol.line("n2")
    ana.expect(rf"{STAMP} carol: n2\b")
    ana.assert_not_seen(rf"connecting to {b.endpoint}|Connection to the broker lost")
    assert _numbers(ana, "carol") == [1, 2], ana.tail(40)
    carol.assert_not_seen(r"ana left")
    assert carol.count(r"\* ana joined") == 1
    assert carol.count(rf"{STAMP} ana: a1\b") == 1
