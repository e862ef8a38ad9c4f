"""The batcher: when and in what order actions go out (broker/batcher.py), on a fake clock."""

from hypothesis import given, settings
from hypothesis import strategies as st

from zchat.broker.actions import (
    Ack,
    Broadcast,
    Opening,
    PresenceEvent,
    PrivateCopy,
    PublicEvent,
    RoomCopy,
    RoomEvent,
    Send,
)
from zchat.broker.batcher import PRESENCE_WINDOW, Batcher, OnFeed, To, ToAll, ToSome
from zchat.protocol import Ack as Ack_
from zchat.protocol import (
    Acks,
    Joined,
    Msg,
    Ping,
    decode_broker,
    encode,
    encode_ack,
    room_topic,
)
from zchat.protocol import constants as c

A, B, C = b"\x00a", b"\x00b", b"\x00c"
CLIENTS = (A, B, C)
#: A newcomer: its own JOINED is nobody's concern here.
D = b"\x00d"


def msg(seq: int, sender: bytes = A, real_ack: bool = False) -> PublicEvent:
    """``real_ack``: an ACK frame as the core makes it (cid = seq), not b"ACK seq"."""
    frame = encode(Msg(sender.decode("latin-1")[-1], f"m{seq}", 1.0, seq, seq - 1))
    return PublicEvent(frame, sender, ack_frame(seq, real_ack))


def ack_frame(seq: int, real: bool, room: str = "") -> bytes:
    return encode_ack(seq, seq, seq - 1, room) if real else b"ACK %d" % seq


def joined(seq: int, who: bytes = C) -> PresenceEvent:
    return PresenceEvent(encode(Joined(who.decode("latin-1")[-1], 1.0, seq, seq - 1)), who)


def received(outs, clients=CLIENTS) -> dict[bytes, list[bytes]]:
    """What each client gets, in order, from the batcher's output (router mode)."""
    got: dict[bytes, list[bytes]] = {client: [] for client in clients}
    for out in outs:
        if type(out) is To:
            got[out.identity].append(out.frame)
        elif type(out) is ToSome:
            for client in out.identities:
                got[client].append(out.frame)
        elif type(out) is ToAll:
            for client in clients:
                frame = out.instead.get(client, out.frame) if client in out.instead else out.frame
                if frame is not None:
                    got[client].append(frame)
        else:
            raise AssertionError(out)
    return got


def seqs(frames: list[bytes]) -> list[object]:
    """Each frame as the seqs it holds (an event or a live batch), an ACK as "ack N"."""
    out: list[object] = []
    for frame in frames:
        if frame.startswith(b"ACK "):
            out.append(f"ack {int(frame[4:])}")
            continue
        decoded = decode_broker(frame)
        if isinstance(decoded, Ack_):  # (a real ACK, or several in an ACKS: their cids)
            out.append(f"ack {decoded.cid}")
            continue
        if isinstance(decoded, Acks):
            out.extend(f"ack {a.cid}" for a in decoded.acks)
            continue
        events = getattr(decoded, "events", None)
        out.extend(e.seq for e in events) if events is not None else out.append(decoded.seq)
    return out


def test_a_frame_for_one_client_goes_at_once_when_nothing_waits() -> None:
    batcher = Batcher(16384)
    assert batcher.add([Send(A, b"x")], 0.0) == [To(A, b"x")]
    assert not batcher


def test_a_cycles_messages_go_as_one_frame_each_sender_getting_its_acks_in_place() -> None:
    batcher = Batcher(16384)
    outs = batcher.add([msg(1, A), msg(2, B), msg(3, A)], 0.0)
    got = received(outs)
    assert seqs(got[C]) == [1, 2, 3] and len(got[C]) == 1  # one frame for the others
    assert seqs(got[A]) == ["ack 1", 2, "ack 3"]  # its own messages replaced by their ACKs
    assert seqs(got[B]) == [1, "ack 2", 3]
    assert not batcher


def test_a_lone_message_goes_to_all_but_its_sender_who_gets_its_ack() -> None:
    got = received(Batcher(16384).add([msg(5, A)], 0.0))
    assert seqs(got[A]) == ["ack 5"] and seqs(got[B]) == seqs(got[C]) == [5]


def test_clients_outside_the_default_room_get_none_of_its_events_but_broadcasts() -> None:
    outside = {C}
    batcher = Batcher(16384, outside=outside)
    got = received(batcher.add([msg(1, A)], 0.0) + batcher.add([msg(2, A), msg(3, B)], 0.0)
                   + batcher.add([Broadcast(encode(Joined("x", 1.0, 9, 8)))], 0.0))
    assert seqs(got[C]) == [9]  # the broadcast alone (a PING, a NOTICE, a BYE)
    assert seqs(got[A]) == ["ack 1", "ack 2", 3, 9] and seqs(got[B]) == [1, 2, "ack 3", 9]
    outside.clear()  # back in the room (the roster keeps the set): it gets them again
    assert seqs(received(batcher.add([msg(4, A)], 0.0))[C]) == [4]


def test_frames_caused_after_a_waiting_message_follow_it() -> None:
    batcher = Batcher(16384)
    private = PrivateCopy(B, b"ACK 99")
    got = received(batcher.add([msg(1, A), private, msg(2, C)], 0.0))
    # bob's private copy was caused after message 1 and before message 2: it may go after
    # both (the batch is one frame), never before message 1.
    assert seqs(got[B]) == [1, 2, "ack 99"]


def test_a_rooms_event_goes_to_its_members_as_one_output_behind_a_waiting_message() -> None:
    batcher = Batcher(16384)
    room = encode(Msg("c", "na sala", 1.0, 50, 49, "#sala"))
    outs = batcher.add([RoomCopy((A, B), room)], 0.0)
    assert outs == [ToSome((A, B), room)]  # nothing waits: at once, one loop for both
    got = received(batcher.add([msg(1, C), RoomCopy((A, B), room), msg(2, C)], 0.0))
    assert seqs(got[A]) == [1, 2, 50] and seqs(got[B]) == [1, 2, 50]
    assert seqs(got[C]) == ["ack 1", "ack 2"]


def test_joins_alone_wait_for_their_window_then_go_together() -> None:
    batcher = Batcher(16384)
    assert batcher.add([joined(1, C)], 10.0) == []
    assert batcher.add([joined(2, B)], 10.01) == []
    assert batcher.next_deadline() == 10.0 + PRESENCE_WINDOW
    assert batcher.due(10.0 + PRESENCE_WINDOW / 2) == []
    got = received(batcher.due(10.0 + PRESENCE_WINDOW))
    assert seqs(got[A]) == [1, 2] and len(got[A]) == 1
    assert batcher.next_deadline() == float("inf")


def test_a_message_sends_waiting_joins_with_it_at_the_end_of_the_cycle() -> None:
    batcher = Batcher(16384)
    assert batcher.add([joined(1, C)], 0.0) == []
    got = received(batcher.add([msg(2, A)], 0.01))
    assert seqs(got[B]) == [1, 2] and seqs(got[A]) == [1, "ack 2"]


def test_a_reply_does_not_wait_for_the_presence_window() -> None:
    batcher = Batcher(16384)
    batcher.add([joined(1, C)], 0.0)
    outs = batcher.add([Send(A, b"USERS")], 0.0)
    got = received(outs)
    assert got[A][-1] == b"USERS" and seqs(got[A][:-1]) == [1]  # the joins went first
    assert not batcher


def test_a_sessions_opening_frames_go_at_once() -> None:
    batcher = Batcher(16384)
    batcher.add([msg(1, A)], 0.0)  # (closed at the end of its call)
    batcher.add([joined(2, B)], 0.0)
    assert batcher.add([Opening(C, b"WELCOME")], 0.0) == [To(C, b"WELCOME")]
    assert batcher  # the join still waits


def test_a_broadcast_sends_the_batch_first() -> None:
    batcher = Batcher(16384)
    batcher.add([joined(1, C)], 0.0)
    outs = batcher.add([Broadcast(b"PING")], 0.0)
    assert type(outs[0]) is ToAll and outs[-1] == ToAll(b"PING", {})


def test_a_batch_closes_before_it_passes_its_bytes_or_events() -> None:
    one = msg(1, B)
    batcher = Batcher(2 * len(one.frame))
    got = received(batcher.add([msg(n, B) for n in range(1, 4)], 0.0))
    assert [seqs([f]) for f in got[A]] == [[1, 2], [3]]
    batcher = Batcher(10**9)
    many = received(batcher.add([joined(n, C) for n in range(1, c.MAX_FETCH + 2)], 0.0))
    assert len(many[A]) == 1 and len(seqs(many[A])) == c.MAX_FETCH  # an EVENTS frame's most
    assert batcher  # the last join waits for its window


def test_with_a_feed_everyone_gets_the_batch_on_it_and_senders_their_acks() -> None:
    outs = Batcher(16384, feed=True).add([msg(1, A), msg(2, B)], 0.0)
    assert type(outs[0]) is OnFeed and seqs([outs[0].frame]) == [1, 2]
    assert outs[1:] == [To(A, b"ACK 1"), To(B, b"ACK 2")]


def room_msg(seq: int, sender: bytes, to: tuple[bytes, ...], room: str = "#sala",
             real_ack: bool = False) -> RoomCopy:
    frame = encode(Msg(sender.decode("latin-1")[-1], f"r{seq}", 1.0, seq, seq - 1, room))
    return RoomCopy(to, frame, room, sender, ack_frame(seq, real_ack, room))


def test_a_rooms_consecutive_messages_go_as_one_frame_each_sender_its_acks_in_place() -> None:
    batcher = Batcher(16384)
    run = [room_msg(1, C, (A, B)), room_msg(2, C, (A, B)), room_msg(3, A, (B, C))]
    outs = batcher.add(run, 0.0)
    got = received(outs)
    assert seqs(got[B]) == [1, 2, 3] and len(got[B]) == 1  # one frame: a live batch
    assert seqs(got[A]) == [1, 2, "ack 3"] and len(got[A]) == 2
    assert seqs(got[C]) == ["ack 1", "ack 2", 3]
    assert sum(type(o) is ToSome for o in outs) == 1  # (B alone is plain: one loop)


def test_a_rooms_run_follows_its_membership_and_ends_at_anything_else() -> None:
    batcher = Batcher(16384)
    joined_d = RoomCopy((A, B), encode(Joined("d", 1.0, 2, 1, "#sala")), "#sala")
    got = received(batcher.add([room_msg(1, C, (A, B)), joined_d, room_msg(3, C, (A, B, D)),
                                Send(A, b"ACK 90"), room_msg(4, C, (A, B, D)),
                                room_msg(5, B, (A, C), "#outra")], 0.0), (*CLIENTS, D))
    assert seqs(got[A]) == [1, 2, 3, "ack 90", 4, 5]  # the core's order, every frame
    assert len(got[A]) == 4  # 1-3 together; 4 and 5 alone (a reply, another room between)
    assert seqs(got[D]) == [3, 4]  # only what was sent to it once it was in
    assert seqs(got[C]) == ["ack 1", "ack 3", "ack 4", 5]


def test_a_rooms_run_is_bounded_like_a_batch() -> None:
    one = room_msg(1, C, (A, B))
    got = received(Batcher(2 * len(one.frame)).add([room_msg(n, C, (A, B))
                                                     for n in range(1, 4)], 0.0))
    assert [seqs([f]) for f in got[A]] == [[1, 2], [3]]


def test_on_a_feed_a_rooms_run_is_one_batch_under_its_topic_then_the_acks() -> None:
    batcher = Batcher(16384, feed=True)
    frames = [room_msg(n, A, ()).frame for n in (1, 2)]
    ping = RoomEvent("#sala", encode(Ping(rooms=(("#sala", 2),))), event=False)
    outs = batcher.add([RoomEvent("#sala", frames[0]), Ack(A, b"ACK 1"),
                        RoomEvent("#sala", frames[1]), Ack(A, b"ACK 2"), ping], 0.0)
    assert type(outs[0]) is OnFeed and outs[0].topic == room_topic("#sala")
    assert seqs([outs[0].frame]) == [1, 2]
    assert outs[1:3] == [To(A, b"ACK 1"), To(A, b"ACK 2")]
    assert outs[3] == OnFeed(ping.frame, room_topic("#sala"))  # a PING goes alone


_kinds = st.sampled_from(["msg", "join", "send", "private", "opening", "broadcast", "room",
                          "room", "other room", "ack", "ack"])
_cycles = st.lists(st.lists(st.tuples(_kinds, st.sampled_from(CLIENTS)), min_size=1, max_size=8),
                   min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(_cycles, st.integers(min_value=300, max_value=3000), st.booleans(),
       st.sets(st.sampled_from(CLIENTS)))
def test_no_frame_to_a_client_overtakes_an_earlier_event(cycles, most_bytes, late,
                                                         batched) -> None:
    """For every client, whatever the mix and however the cycles fall: it gets every
    event meant for it, in order; no frame for it (an ACK, a reply, a private copy)
    arrives before an event caused before that frame; its ACKs keep their order, and so
    do its other frames. Only a session's opening frames may go ahead of events. The
    same whether its client takes ACKS (``batched``: consecutive ACKs in one frame)."""
    batcher = Batcher(most_bytes, batched_acks=set(batched))
    events: dict[bytes, list[int]] = {client: [] for client in CLIENTS}
    acks: dict[bytes, list[int]] = {client: [] for client in CLIENTS}
    others: dict[bytes, list[int]] = {client: [] for client in CLIENTS}
    opening: set[int] = set()
    rooms: dict[bytes, list[tuple[str, int]]] = {client: [] for client in CLIENTS}
    outs = []
    seq = 0
    now = 0.0
    for cycle in cycles:
        actions = []
        for kind, who in cycle:
            seq += 1
            if kind in ("room", "other room"):  # #sala: everyone's; #outra: A's and B's
                members = CLIENTS if kind == "room" else (A, B)
                actions.append(room_msg(seq, who, tuple(m for m in members if m != who),
                                        "#sala" if kind == "room" else "#outra",
                                        real_ack=True))
                for client in set(members) | {who}:
                    rooms[client].append(("ack" if client == who else "event", seq))
            elif kind == "msg":
                actions.append(msg(seq, who, real_ack=True))
                for client in CLIENTS:
                    (acks if client == who else events)[client].append(seq)
            elif kind == "join":
                actions.append(joined(seq, D))
                for client in CLIENTS:
                    events[client].append(seq)
            elif kind == "broadcast":
                actions.append(Broadcast(b"ACK %d" % seq))
                for client in CLIENTS:
                    others[client].append(seq)
            elif kind == "ack":  # (a cluster's: an ACK as an action of its own)
                actions.append(Ack(who, ack_frame(seq, True)))
                others[who].append(seq)
            else:
                kinds = {"send": Send, "private": PrivateCopy, "opening": Opening}
                actions.append(kinds[kind](who, b"ACK %d" % seq))
                if kind == "opening":
                    opening.add(seq)
                else:
                    others[who].append(seq)
        outs += batcher.add(actions, now)
        now += PRESENCE_WINDOW * (2 if late else 0.3)
        outs += batcher.due(now)
    outs += batcher.due(float("inf"))
    for client, frames in received(outs).items():
        got = [(kind, int(n)) for kind, n in (str(x).split() if isinstance(x, str) else
                                               ("event", x) for x in seqs(frames))]
        # Each room's stream in order, a sender's ACKs in their messages' places.
        in_rooms = {n for _, n in rooms[client]}
        assert [(k, n) for k, n in got if n in in_rooms] == rooms[client], (client, got)
        # A room's events and ACKs are frames for the client like the others below:
        # none of them overtakes an event of the default room caused before it.
        got = [("ack" if n in in_rooms else k, n) for k, n in got]
        assert [n for kind, n in got if kind == "event"] == events[client], client
        assert [n for kind, n in got if kind == "ack" and n in acks[client]] == acks[client]
        assert [n for kind, n in got if kind == "ack" and n in others[client]] == \
            others[client]
        for position, (kind, n) in enumerate(got):
            if kind == "ack" and n not in opening:
                earlier = {e for e in events[client] if e < n}
                seen = {m for k, m in got[:position] if k == "event"}
                assert earlier <= seen, (client, n, got)


def test_a_client_that_takes_acks_gets_its_consecutive_acks_in_one_frame() -> None:
    batcher = Batcher(16384, batched_acks={A})
    got = received(batcher.add([msg(1, A, True), msg(2, A, True), msg(3, B, True),
                                msg(4, A, True), msg(5, B, True), msg(6, B, True)], 0.0))
    assert [type(decode_broker(f)).__name__ for f in got[A]] == ["Acks", "Events", "Ack",
                                                                "Events"]
    assert seqs(got[A]) == ["ack 1", "ack 2", 3, "ack 4", 5, 6]
    # B did not say it takes ACKS: one ACK a frame, as before.
    assert seqs(got[B]) == [1, 2, "ack 3", 4, "ack 5", "ack 6"]
    assert [type(decode_broker(f)).__name__ for f in got[B][-2:]] == ["Ack", "Ack"]


def test_on_a_feed_and_in_a_room_a_client_that_takes_acks_gets_them_in_one_frame() -> None:
    feed = Batcher(16384, feed=True, batched_acks={A})
    outs = feed.add([msg(1, A, True), msg(2, B, True), msg(3, A, True), msg(4, B, True)], 0.0)
    assert type(outs[0]) is OnFeed
    acks = {out.identity: decode_broker(out.frame) for out in outs[1:]}
    assert [a.cid for a in acks[A].acks] == [1, 3]  # (each client's in order)
    assert [type(out) for out in outs[1:]].count(To) == 3 and len(outs) == 4  # B: one each
    room = Batcher(16384, batched_acks={A})
    got = received(room.add([room_msg(1, A, (B, C), real_ack=True),
                             room_msg(2, A, (B, C), real_ack=True),
                             room_msg(3, B, (A, C), real_ack=True)], 0.0))
    assert [type(decode_broker(f)).__name__ for f in got[A]] == ["Acks", "Msg"]
    assert seqs(got[A]) == ["ack 1", "ack 2", 3]


def test_consecutive_ack_actions_to_a_client_that_takes_acks_go_as_one_frame() -> None:
    """A cluster's sender alone on its broker gets its ACKs as actions of their own."""
    batcher = Batcher(16384, batched_acks={A})
    outs = batcher.add([Ack(A, ack_frame(1, True)), Ack(A, ack_frame(2, True)),
                        Ack(B, ack_frame(3, True)), Ack(B, ack_frame(4, True)),
                        Ack(A, ack_frame(5, True))], 0.0)
    got = received(outs)
    assert [type(decode_broker(f)).__name__ for f in got[A]] == ["Acks", "Ack"]
    assert seqs(got[A]) == ["ack 1", "ack 2", "ack 5"]
    assert seqs(got[B]) == ["ack 3", "ack 4"] and len(got[B]) == 2  # (B takes none)


def test_an_acks_frame_holds_at_most_max_acks() -> None:
    """However many ACK actions come in a row (a cluster's log read back in one go)."""
    batcher = Batcher(16384, batched_acks={A})
    count = 2 * c.MAX_ACKS + 50
    got = received(batcher.add([Ack(A, ack_frame(n, True)) for n in range(1, count + 1)], 0.0))
    sizes = [len(decode_broker(f).acks) for f in got[A]]
    assert sizes == [c.MAX_ACKS, c.MAX_ACKS, 50]
    assert seqs(got[A]) == [f"ack {n}" for n in range(1, count + 1)]
