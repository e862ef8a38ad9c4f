"""Rooms across the brokers of a cluster (docs/ROOMS.md, docs/CLUSTER.md): real
redis-server, real brokers, PTY clients. A room's members on every broker see its
messages, joins, leaves and topic, and no one else does; counts and member lists
are the cluster's; a member whose broker is killed moves and is still in its rooms. The
first two run in both fan-out modes (a cluster's rooms on each broker's feed).
"""

import re
import signal

import pytest

from .harness import Cluster

STAMP = r"\[\d\d:\d\d:\d\d\]"


def _brokers(chat: Cluster, count: int, heartbeat: float = 0.2) -> list:
    redis = chat.redis()
    return [chat.broker("--cluster", redis.url, heartbeat=heartbeat) for _ in range(count)]


def _enter(user, room: str) -> None:
    user.line(f"/join {room}")
    user.expect(rf"\* You are in {room}\.")


@pytest.mark.both_fanouts
def test_a_room_spans_the_brokers_and_reaches_its_members_only(chat: Cluster) -> None:
    a, b = _brokers(chat, 2)
    ana = chat.client("ana", a.endpoint)
    carol = chat.client("carol", a.endpoint)  # in no room but the default one, on A
    bob = chat.client("bob", b.endpoint)
    dave = chat.client("dave", b.endpoint)  # the same, on B
    ana.expect(r"\* dave joined the chat")
    _enter(ana, "#sala")
    ana.line("/topic planos da semana")
    ana.expect(r"\* ana set the topic of #sala: planos da semana")
    for i in range(3):
        ana.line(f"antes {i}")
        ana.expect(rf"\] ana: antes {i}")
    # (Her lines are shown as she types them; a reply to a later request means the
    # broker has stored them: it handles a client's frames in order.)
    ana.line("/who #sala")
    ana.expect(r"In #sala \(1\): ana")
    # A newcomer on the other broker: the topic, the members on both, the history.
    bob.line("/join #Sala")
    bob.expect(r"\* Topic of #sala: planos da semana")
    bob.expect(r"\* In #sala \(2\): ana, bob")
    bob.expect(r"\(history\) ana: antes 2")
    assert bob.count(r"\(history\) ana: antes \d") == 3, bob.tail(20)
    assert bob.count(r"ana: antes \d") == 3, bob.tail(20)  # none of them again, live
    ana.expect(r"\* bob joined #sala")
    bob.line("oi sala")
    ana.expect(rf"{STAMP} bob: oi sala")
    ana.line("oi bob")
    bob.expect(rf"{STAMP} ana: oi bob")
    # /msg to the room from another room, on the other broker.
    _enter(bob, "#outra")
    bob.line("/msg #sala de fora")
    ana.expect(rf"{STAMP} bob: de fora")
    # Counts and lists are the cluster's, asked on either broker.
    dave.line("/rooms")
    dave.expect(r"#geral: 4 member")
    dave.expect(r"#outra: 1 member")
    dave.expect(r"#sala: 2 member\(s\) .*planos da semana")
    ana.line("/who #sala")
    ana.expect(r"In #sala \(2\): ana, bob")
    # A topic set on B is shown to the members on A.
    bob.line("/join #sala")  # (back to it: it is the current room again)
    bob.expect(r"\* Now talking in #sala\.")
    bob.line("/topic lançamento sexta")
    ana.expect(r"\* bob set the topic of #sala: lançamento sexta")
    bob.expect(r"\* bob set the topic of #sala: lançamento sexta")
    # Parting is seen on the other broker.
    ana.line("/part #sala")
    ana.expect(r"\* You left #sala\.")
    bob.expect(r"\* ana left #sala")
    bob.line("/who #sala")
    bob.expect(r"In #sala \(1\): bob")
    # Something everyone sees, after all the above: then nothing of #sala reached
    # the non-members on either broker.
    carol.line("fim")
    for user in (ana, bob, dave):
        user.expect(r"carol: fim")
    carol.assert_not_seen(r"#sala|oi sala|oi bob|de fora|antes \d|planos|sexta")
    dave.assert_not_seen(r"oi sala|oi bob|de fora|antes \d|sexta|joined #|left #")
    assert ana.count(rf"{STAMP} bob: oi sala") == 1


def _numbers(proc, sender: str) -> list[int]:
    return [int(n) for n in re.findall(rf"{STAMP} (?:\(missed\) )?{sender}: n(\d+)\b",
                                       proc.text)]


@pytest.mark.both_fanouts
def test_a_member_whose_broker_is_killed_moves_and_is_still_in_its_rooms(
        chat: Cluster) -> None:
    """kill -9 of broker A: ana (who knows B too) moves there and is still in #sala,
    silently, and sees each of its messages once, in order; dave (who knows no other
    broker) is announced gone, once, by the sweep."""
    # Clients notice in 3 intervals, leases lapse in 5: at 0.5 s the move has a full
    # second to spare even on a loaded machine.
    a, b = _brokers(chat, 2, heartbeat=0.5)
    bob = chat.client("bob", b.endpoint)
    carol = chat.client("carol", b.endpoint)  # not in #sala
    ana = chat.client("ana", a.endpoint, "--connect", b.endpoint)
    dave = chat.client("dave", a.endpoint)
    for user in (bob, ana, dave):
        _enter(user, "#sala")
    bob.expect(r"\* dave joined #sala")
    for i in range(1, 11):
        bob.line(f"n{i}")
    ana.expect(rf"{STAMP} bob: n10\b")
    a.signal(signal.SIGKILL)
    a.wait()
    for i in range(11, 21):  # while ana notices and moves
        bob.line(f"n{i}")
    ana.expect(r"Connection to the broker lost", timeout=10)
    ana.expect(rf"connecting to {b.endpoint}")
    ana.expect(r"Reconnected as ana", timeout=10)
    ana.line("a1")  # still in #sala, on B now
    bob.expect(rf"{STAMP} ana: a1\b")
    bob.expect(r"\* dave left", timeout=15)
    bob.line("fim")
    ana.expect(rf"{STAMP} bob: fim")
    assert _numbers(ana, "bob") == list(range(1, 21)), ana.tail(40)
    ana.line("/who #sala")
    ana.expect(r"In #sala \(2\): ana, bob")
    carol.line("marcador")
    for user in (ana, bob):
        user.expect(r"carol: marcador")
    # She moved, she did not leave: nobody saw her go or come back; dave's leave is
    # one notice (for #geral and #sala); carol saw nothing of #sala.
    bob.assert_not_seen(r"ana left")
    assert bob.count(r"\* ana joined the chat") == 1, bob.tail(30)
    assert bob.count(r"\* ana joined #sala") == 1, bob.tail(30)
    assert bob.count(r"\* dave left") == 1, bob.tail(30)
    carol.assert_not_seen(r"#sala|bob: n\d|ana: a1")
    assert "Traceback" not in ana.text + bob.text


def test_parting_the_default_room_holds_across_the_cluster_and_a_failover(
        chat: Cluster) -> None:
    """/part #geral on A: B's users see it leave #geral and count it out; after a kill -9
    of A it is on B, still out of #geral (nothing of #geral reaches it), and nobody sees
    it leave or join."""
    a, b = _brokers(chat, 2, heartbeat=0.5)
    bob = chat.client("bob", b.endpoint)
    ana = chat.client("ana", a.endpoint, "--connect", b.endpoint)
    bob.expect(r"\* ana joined the chat")
    _enter(ana, "#sala")
    ana.line("/part #geral")
    ana.expect(r"\* You left #geral\.")
    bob.expect(r"\* ana left #geral")
    bob.line("/rooms")
    bob.expect(r"#geral: 1 member")
    bob.expect(r"#sala: 1 member")
    a.signal(signal.SIGKILL)
    a.wait()
    ana.expect(r"Reconnected as ana", timeout=10)
    bob.line("fora da sala")
    ana.line("/rooms")
    ana.expect(r"#geral: 1 member")  # bob only: ana is still out of it
    ana.expect(r"#sala: 1 member")
    ana.line("ainda aqui")  # to #sala, her current room
    ana.line("/who #sala")  # answered after her message is numbered (a later cycle's commit)
    ana.expect(r"In #sala \(1\): ana")
    _enter(bob, "#sala")
    bob.expect(r"\(history\) ana: ainda aqui")
    bob.line("oi ana")
    ana.expect(rf"{STAMP} bob: oi ana")
    ana.assert_not_seen("fora da sala")
    bob.assert_not_seen(r"ana left the chat|ana joined #geral")
    assert bob.count(r"\* ana joined the chat") == 1, bob.tail(30)


def test_redis_down_a_room_goes_on_among_one_brokers_members_and_heals(chat: Cluster) -> None:
    redis = chat.redis()
    a, b = (chat.broker("--cluster", redis.url) for _ in range(2))
    ana = chat.client("ana", a.endpoint)
    bob = chat.client("bob", a.endpoint)
    carol = chat.client("carol", b.endpoint)
    for user in (ana, bob, carol):
        _enter(user, "#sala")
    ana.expect(r"\* carol joined #sala")
    redis.signal(signal.SIGKILL)
    redis.wait()
    for user in (ana, bob, carol):
        user.expect("The link to the other brokers is down")
    ana.line("só aqui")
    bob.expect(rf"{STAMP} ana: só aqui")
    ana.line("/join #outra")
    ana.expect(r"rooms cannot be changed or listed while the link to the other brokers is down")
    chat.redis(port=redis.port, folder=redis.folder)
    for user in (ana, bob, carol):
        user.expect("The link to the other brokers is back", timeout=15)
    ana.line("de volta")
    carol.expect(rf"{STAMP} ana: de volta")
    bob.expect(rf"{STAMP} ana: de volta")
    carol.line("oi ana")
    ana.expect(rf"{STAMP} carol: oi ana")
    bob.expect(rf"{STAMP} carol: oi ana")
    _enter(ana, "#outra")
    carol.assert_not_seen("só aqui")
    for user in (ana, bob, carol):
        user.assert_not_seen(r"left")
    carol.assert_not_seen(r"joined #sala")  # (she came last, and nobody came again)
    assert ana.count(r"\* carol joined #sala") == 1
    assert bob.count(rf"{STAMP} ana: de volta") == 1
