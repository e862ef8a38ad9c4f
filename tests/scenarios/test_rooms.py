"""Rooms (docs/ROOMS.md) with real processes: entering, talking per room, parting,
in both fan-out modes (in pub mode each room is its own topic on the feed). Rooms
across the brokers of a cluster are test_cluster_rooms.py's.
"""

import re
import signal
from pathlib import Path

import pytest

from zchat.protocol import (
    Enter,
    Entered,
    Join,
    Leave,
    Msg,
    Part,
    Parted,
    Say,
    Welcome,
    decode_broker,
    encode,
    room_topic,
)

from .harness import Cluster, Proc, RawFeed, RawPeer


@pytest.mark.both_fanouts
def test_a_room_is_talked_in_by_its_members_only(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)
    ana.expect("carol joined the chat")
    ana.line("/join #sala")
    ana.expect(r"\* You are in #sala\.")
    bob.line("/join #Sala")
    bob.expect(r"\* In #sala \(2\): .*ana")
    ana.expect(r"\* bob joined #sala")
    bob.line("oi sala")
    ana.expect(r"\] bob: oi sala")
    carol.line("oi geral")
    ana.expect(r"\] #geral carol: oi geral")
    bob.expect(r"\] #geral carol: oi geral")
    carol.assert_not_seen("oi sala")
    ana.line("/part")
    ana.expect(r"\* You left #sala\.")
    bob.expect(r"\* ana left #sala")
    bob.line("/who")
    bob.expect(r"In #sala \(1\): bob")
    carol.assert_not_seen("#sala")


@pytest.mark.both_fanouts
def test_room_history_topic_list_and_msg_to_another_room(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    ana.line("/join #sala")
    ana.expect(r"\* You are in #sala\.")
    ana.line("/topic planos da semana")
    ana.expect(r"\* ana set the topic of #sala: planos da semana")
    for i in range(3):
        ana.line(f"antes {i}")
        ana.expect(rf"\] ana: antes {i}")
    ana.line("/who #sala")  # answered once her lines are stored (they are shown as typed)
    ana.expect(r"In #sala \(1\): ana")
    bob = chat.client("bob", broker.endpoint)
    bob.line("/join #sala")
    # A newcomer to a room sees its topic, its members and its last messages as history.
    bob.expect(r"\* Topic of #sala: planos da semana")
    bob.expect(r"\* In #sala \(2\): ana, bob")
    bob.expect(r"\(history\) ana: antes 2")
    assert bob.count(r"\(history\) ana: antes \d") == 3
    bob.line("/rooms")
    bob.expect(r"#geral: 2 member")
    bob.expect(r"#sala: 2 member\(s\) .*planos da semana")
    # /msg to a room one is in, without switching: it shows there, not in #geral.
    bob.line("/join #outra")
    bob.expect(r"\* You are in #outra\.")
    bob.line("/msg #sala de fora")
    ana.expect(r"\] bob: de fora")  # #sala is ana's current room: no prefix
    bob.line("na outra")
    ana.assert_not_seen("na outra")
    # Sending to a room one is not in is an error to the sender alone.
    ana.line("/msg #outra intrometida")
    ana.expect(r"not in #outra")
    bob.assert_not_seen("intrometida")


@pytest.mark.both_fanouts
def test_a_client_that_knows_no_rooms_sees_the_default_room_only(chat: Cluster) -> None:
    """Today's protocol, spoken raw: it joins, chats in the default room, and no event of
    another room ever reaches it."""
    broker = chat.broker(heartbeat=5.0)  # (the raw peer sends no heartbeats of its own)
    old = RawPeer(broker.endpoint)
    try:
        old.send(encode(Join("velho")))
        welcome = old.next(Welcome)
        assert welcome.name == "velho"
        # In pub mode the default room comes on the feed, subscribed to as today.
        feed = RawFeed(welcome) if welcome.fanout == "pub" else None
        ana = chat.client("ana", broker.endpoint)
        ana.line("/join #sala")
        ana.expect(r"\* You are in #sala\.")
        bob = chat.client("bob", broker.endpoint)
        bob.line("/join #sala")
        bob.expect(r"\* You are in #sala\.")  # (typed before that, a line goes to #geral)
        ana.expect(r"\* bob joined #sala")
        bob.line("so na sala")
        ana.expect(r"\] bob: so na sala")
        bob.line("/msg #geral para todos")
        if feed is None:
            seen = old.next_event(lambda m: isinstance(m, Msg))
        else:
            got = feed.until(lambda parts: b"para todos" in parts[-1])
            feed_frames = [part for parts in got for part in parts]
            seen = decode_broker(got[-1][-1])
        assert isinstance(seen, Msg)
        assert (seen.sender, seen.text, seen.room) == ("bob", "para todos", "")
        old.send(encode(Say("oi do velho", 1)))
        ana.expect(r"#geral velho: oi do velho")
        old.send(encode(Leave()))
        frames = _drain(old)
    finally:
        old.close()
        if feed is not None:
            feed.close()
    if feed is not None:
        # The feed gave it single frames of the default room only, the same as before.
        assert all(len(parts) == 1 for parts in got), got
        frames += feed_frames
    # Nothing it was sent names another room, in any form.
    assert not [f for f in frames if b'"room"' in f and b"WELCOME" not in f], frames
    assert not [f for f in frames if b"so na sala" in f]


def _drain(peer: RawPeer) -> list[bytes]:
    """Every frame until BYE (bounded by the harness's timeout)."""
    frames = []
    while True:
        frame = peer.recv()[0]
        frames.append(frame)
        if decode_broker(frame).command == "BYE":
            return frames


@pytest.mark.both_fanouts
def test_broker_killed_while_three_rooms_talk_each_member_sees_each_once(chat: Cluster) -> None:
    """kill -9 in the middle of numbered messages to three rooms: after the restart
    every member has seen each room's messages exactly once, in order, and the
    sessions are in their rooms again."""
    broker = chat.broker(heartbeat=0.2)
    endpoint = broker.endpoint
    ana = chat.client("ana", endpoint)
    bob = chat.client("bob", endpoint)
    for room in ("#a", "#b", "#c"):
        bob.line(f"/join {room}")
        bob.expect(rf"\* You are in {room}\.")
        ana.line(f"/join {room}")
        ana.expect(rf"\* You are in {room}\.")
    count = 12
    for i in range(count):
        for room in ("#a", "#b", "#c"):
            ana.line(f"/msg {room} {room[1]}{i}")
        if i == count // 2:
            broker.signal(signal.SIGKILL)
            broker.wait()
            broker = chat.broker(bind=endpoint, heartbeat=0.2, data_dir=broker.data_dir)
    for room in ("#a", "#b", "#c"):
        bob.expect(rf"ana: {room[1]}{count - 1}\b", timeout=20)
    ana.expect(r"Reconnected as ana")
    for room in ("#a", "#b", "#c"):
        # #c is bob's current room: its lines carry no prefix; the others name theirs.
        prefix = "" if room == "#c" else f"{room} "
        lines = re.findall(rf"\] (?:\(missed\) )?{prefix}ana: {room[1]}(\d+)\b", bob.text)
        assert [int(n) for n in lines] == list(range(count)), (room, lines, bob.tail(40))
    bob.line("/who #b")
    bob.expect(r"In #b \(2\): ana, bob")
    assert "Traceback" not in ana.text + bob.text


@pytest.mark.both_fanouts
def test_leaving_the_chat_is_one_notice_per_person_and_ends_the_rooms(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    for room in ("#a", "#b"):
        ana.line(f"/join {room}")
        ana.expect(rf"\* You are in {room}\.")
        bob.line(f"/join {room}")
        bob.expect(rf"\* You are in {room}\.")
    ana.expect(r"\* bob joined #b")
    bob.line("sair")
    ana.expect(r"bob (left|left #b)")
    chat.client("carol", broker.endpoint)  # a sign that everything before went out
    ana.expect(r"carol joined the chat")
    # One notice for bob, not one per room he shared with ana (#geral, #a, #b).
    assert len(re.findall(r"\* bob left", ana.text)) == 1, ana.tail(20)
    # LEAVE ended his rooms: back under the same name he is in the default room only.
    bob = chat.client("bob", broker.endpoint)
    bob.line("/who #a")
    bob.expect(r"not in #a")


def test_in_pub_mode_a_feed_carries_only_the_rooms_its_session_is_in(tmp_path: Path) -> None:
    """Each room is its own topic on the feed, given to members only: a subscriber that
    asks for a room it is not in gets no byte of it, and one that parts a room without
    unsubscribing loses its feed connection and comes back without the room."""
    chat = Cluster(tmp_path, "pub")
    raw = feed = None
    try:
        broker = chat.broker(heartbeat=5.0)  # (the raw peer sends no heartbeats)
        ana = chat.client("ana", broker.endpoint)
        ana.line("/join #sala")
        ana.expect(r"\* You are in #sala\.")
        raw = RawPeer(broker.endpoint)
        raw.send(encode(Join("raw")))
        welcome = raw.next(Welcome)
        sala = room_topic("#sala")
        feed = RawFeed(welcome, sala)  # it asks for #sala, not being in it
        got = _until_live(ana, feed, "/msg #geral", "segredo")
        assert all(len(parts) == 1 for parts in got), got  # the default room's only
        assert not [parts for parts in got if b"segredo" in parts[-1]]
        # In the room, and subscribed again (libzmq sends a subscription each time).
        raw.send(encode(Enter("#sala")))
        raw.next(Entered)
        feed.subscribe(sala)
        got = _until_live(ana, feed, "/msg #sala", "")
        assert got[-1][0] == sala and len(got[-1]) == 2  # the room's topic, then the MSG
        # Parted without unsubscribing: the broker closes that feed connection before
        # the PARTED; the SUB comes back, given the default room only.
        raw.send(encode(Part("#sala")))
        raw.next(Parted)
        got = _until_live(ana, feed, "/msg #geral", "depois")
        assert not [parts for parts in got if b"depois" in parts[-1] and b"#sala" in parts[-1]]
        assert all(len(parts) == 1 for parts in got), got
    finally:
        for peer in (raw, feed):
            if peer is not None:
                peer.close()
        chat.stop_all()


def _until_live(ana: Proc, feed: RawFeed, command: str, secret: str) -> list[list[bytes]]:
    """ana sends ``secret``+i to #sala and then ``command`` ``live``+i, again and again,
    until the feed gets one of the latter (its subscription is in place by then): every
    message the feed got meanwhile."""
    start = len(feed.seen)
    for i in range(40):
        if secret:
            ana.line(f"/msg #sala {secret} {i}")
        ana.line(f"{command} live {i}")
        marker = f"live {i}\"".encode()
        try:
            feed.until(lambda parts, m=marker: m in parts[-1], timeout=0.5)
            return feed.seen[start:]
        except AssertionError:
            continue
    raise AssertionError("the feed never got ana's messages")


def test_the_default_room_is_the_brokers_choice(chat: Cluster) -> None:
    broker = chat.broker("--default-room", "Sala")
    ana = chat.client("ana", broker.endpoint)
    ana.line("/rooms")
    ana.expect(r"#sala: 1 member")
    ana.line("/join #geral")  # an ordinary room on this broker
    ana.expect(r"\* You are in #geral\.")
    ana.line("/who #sala")
    ana.expect(r"In #sala \(1\): ana")


def test_a_cluster_offers_rooms(chat: Cluster) -> None:
    """A broker of a cluster announces the default room, and a raw ENTER is answered
    ENTERED (the rooms across brokers: test_cluster_rooms.py)."""
    redis = chat.redis()
    broker = chat.broker("--cluster", redis.url, heartbeat=5.0)  # (the raw peer: no PINGs)
    raw = RawPeer(broker.endpoint)
    try:
        raw.send(encode(Join("bob")))
        assert raw.next(Welcome).room == "#geral"
        raw.send(encode(Enter("#Sala")))
        entered = raw.next(Entered)
        assert (entered.room, entered.users, entered.online) == ("#sala", (), 0)
    finally:
        raw.close()


@pytest.mark.both_fanouts
def test_parting_the_default_room_leaves_a_user_in_no_room(chat: Cluster) -> None:
    """/part of #geral: the others see it leave #geral, and nothing of #geral reaches
    the user; typed text is an error to the user alone; /join #geral brings it back,
    with the room's history. A broker restart keeps where the user is."""
    broker = chat.broker(heartbeat=0.2)
    endpoint = broker.endpoint
    ana = chat.client("ana", endpoint)
    bob = chat.client("bob", endpoint)
    ana.expect("bob joined the chat")
    ana.line("/part")
    ana.expect(r"\* You left #geral\.")
    bob.expect(r"\* ana left #geral")
    ana.line("alguém?")
    ana.expect(r"you are in no room: /join #room to join one")
    bob.line("fora da sala")
    bob.line("/who")
    bob.expect(r"Online \(2\): ana, bob")
    broker.signal(signal.SIGKILL)
    broker.wait()
    broker = chat.broker(bind=endpoint, heartbeat=0.2, data_dir=broker.data_dir)
    ana.expect(r"Reconnected as ana")
    bob.expect(r"Reconnected as bob")
    bob.line("depois do restart")
    ana.line("/rooms")
    ana.expect(r"#geral: 1 member")  # bob only: ana is still out of it after the restart
    ana.assert_not_seen("fora da sala")
    ana.assert_not_seen("depois do restart")
    ana.line("/join #geral")
    ana.expect(r"\* You are in #geral\.")
    # The room's history (stored before the restart: bob's /who answer came after it);
    # bob's line after the restart comes as history or, still on its way, live.
    ana.expect(r"\(history\) bob: fora da sala")
    ana.expect(r"\] (\(history\) )?bob: depois do restart")
    bob.expect(r"\* ana joined")
    bob.line("de volta")
    ana.expect(r"\] bob: de volta")


def test_a_room_command_typed_before_the_welcome_waits_for_it(chat: Cluster) -> None:
    """A pipe (or a paste) sends its lines before the broker has said it offers rooms:
    they are carried out once it has, in order, as if typed after."""
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint, use_pty=False, wait=False)
    ana.line("/join #dev")
    ana.line("/who #dev")
    ana.expect(r"\* You are in #dev\.")
    ana.expect(r"In #dev \(1\): ana")
    ana.assert_not_seen(r"This broker has no rooms")
