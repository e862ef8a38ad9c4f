"""ClusterLink's waiting ACKs: each goes out exactly once, either when its message
comes back from the log (`ack_for`) or when the log has passed it (`acks_before`)."""

from hypothesis import given
from hypothesis import strategies as st

from zchat.broker.link import ClusterLink


def test_acks_before_takes_only_the_earlier_ones_in_order() -> None:
    link = ClusterLink(heartbeat=1.0)
    for seq in (5, 3, 9, 7):
        link.ack_on_arrival(seq, f"s{seq}", f"ack{seq}".encode())
    assert link.acks_before(7) == [("s3", b"ack3"), ("s5", b"ack5")]
    assert link.acks_before(7) == []
    assert link.ack_for(7) == b"ack7"
    assert link.acks_before(10**9) == [("s9", b"ack9")]
    assert link.acks_before(10**9) == []


def test_an_ack_taken_on_arrival_is_not_sent_again_as_late() -> None:
    link = ClusterLink(heartbeat=1.0)
    link.ack_on_arrival(1, "a", b"one")
    link.ack_on_arrival(2, "a", b"two")
    assert link.acks_before(1) == []
    assert link.ack_for(1) == b"one"
    assert link.acks_before(3) == [("a", b"two")]
    assert link.ack_for(2) is None


@given(st.lists(st.tuples(st.sampled_from(["ack", "arrive", "before"]),
                          st.integers(min_value=1, max_value=40))))
def test_every_ack_goes_out_at_most_once_and_none_is_lost(
        steps: list[tuple[str, int]]) -> None:
    """Against a plain dict: the same ACKs, the same answers, whatever the order."""
    link = ClusterLink(heartbeat=1.0)
    model: dict[int, tuple[str, bytes]] = {}
    for op, seq in steps:
        if op == "ack":
            frame = f"{seq}".encode()
            link.ack_on_arrival(seq, "s", frame)
            model[seq] = ("s", frame)
        elif op == "arrive":
            want = model.pop(seq, None)
            assert link.ack_for(seq) == (want[1] if want else None)
        else:
            want_late = [model.pop(s) for s in sorted(s for s in model if s < seq)]
            assert link.acks_before(seq) == want_late
    assert link.acks_before(10**9) == [model[s] for s in sorted(model)]
