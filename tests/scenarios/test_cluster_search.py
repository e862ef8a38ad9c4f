"""Search across a cluster (issue 18, docs/CLUSTER.md): real redis-server, real brokers,
PTY clients. A broker that starts (or restarts) after messages were said builds its
index from what Redis holds, and its users find them, only in the rooms they are in; a
user who moves to another broker finds its private messages there."""

import signal

from .harness import Cluster

BUILT = r"search index built from the cluster's history: \d+ entries read, {} messages"


def _enter(user, room: str) -> None:
    user.line(f"/join {room}")
    user.expect(rf"\* You are in {room}\.")


def test_a_broker_started_later_finds_what_was_said_in_ones_rooms_only(chat: Cluster) -> None:
    redis = chat.redis()
    a = chat.broker("--cluster", redis.url, "--search")
    ana = chat.client("ana", a.endpoint)
    bob = chat.client("bob", a.endpoint)
    for user in (ana, bob):
        _enter(user, "#dev")
    ana.line("o deploy de sexta vai às 18h")  # to #dev
    bob.expect(r"ana: o deploy de sexta")  # (delivered: numbered, in Redis)
    bob.line("/msg #geral deploy adiado")
    ana.expect(r"bob: deploy adiado")
    # B starts after both: its index is read back from Redis (the log, #dev's stream).
    b = chat.broker("--cluster", redis.url, "--search")
    b.expect(BUILT.format(2))
    carol = chat.client("carol", b.endpoint)  # in the default room only
    dave = chat.client("dave", b.endpoint)
    _enter(dave, "#dev")
    carol.line("/search deploy")
    carol.expect(r"\[1\] .*\(found\) .*bob: deploy adiado")
    carol.expect(r"No more results\.")
    dave.line("/search deploy")
    dave.expect(r"\[1\] .*\(found\) .*bob: deploy adiado")
    dave.expect(r"\[2\] .*\(found\) .*ana: o deploy de sexta")
    dave.expect(r"No more results\.")
    carol.line("/search sexta")
    carol.expect(r"No messages found\.")
    # kill -9 and started again, B builds its index again: what was said while it was
    # down is found too, by those who may read it.
    b.signal(signal.SIGKILL)
    b.wait()
    ana.line("deploy confirmado para sexta")  # to #dev, on A
    bob.expect(r"ana: deploy confirmado")
    b = chat.broker("--cluster", redis.url, "--search", bind=b.endpoint)
    b.expect(BUILT.format(3))
    for user in (carol, dave):
        user.expect(r"Reconnected as", timeout=10)
    dave.line("/search deploy sexta")
    dave.expect(r"\[1\] .*\(found\) .*ana: deploy confirmado para sexta")
    dave.expect(r"\[2\] .*\(found\) .*ana: o deploy de sexta")
    dave.expect(r"No more results\.")
    carol.line("/search sexta")
    carol.expect(r"No messages found\.")
    carol.line("/search deploy")
    carol.expect(r"\[1\] .*\(found\) .*bob: deploy adiado")
    carol.expect(r"No more results\.")
    carol.assert_not_seen(r"sexta|confirmado")
    assert "Traceback" not in a.text + b.text


def test_a_user_who_moves_finds_its_private_messages_on_the_other_broker(
        chat: Cluster) -> None:
    """bob's private messages reached broker A only (its inbox): A is killed, bob moves
    to B, and finds them there; carol, on B, does not."""
    redis = chat.redis()
    # (Clients notice in 3 intervals, leases lapse in 5: at 0.5 s the move has time.)
    a, b = (chat.broker("--cluster", redis.url, "--search", heartbeat=0.5) for _ in range(2))
    ana = chat.client("ana", a.endpoint)
    bob = chat.client("bob", a.endpoint, "--connect", b.endpoint)
    carol = chat.client("carol", b.endpoint)
    ana.line("@bob a senha nova é girassol")
    bob.expect(r"\(private\) ana: a senha nova é girassol")
    bob.line("@ana anotado, girassol")
    ana.expect(r"\(private\) bob: anotado, girassol")
    a.signal(signal.SIGKILL)
    a.wait()
    bob.expect(r"Reconnected as bob", timeout=10)
    bob.line("/search girassol")
    bob.expect(r"\[1\] .*\(found\) .*anotado, girassol")
    bob.expect(r"\[2\] .*\(found\) .*ana: a senha nova é girassol")
    bob.expect(r"No more results\.")
    bob.line("/search girassol @ana")
    bob.expect(r"\[2\] .*\(found\) .*ana: a senha nova é girassol")
    carol.line("/search girassol")
    carol.expect(r"No messages found\.")
    assert "Traceback" not in b.text
