"""client/outbox.py: client message ids, the bound, settling and resending."""

from zchat.client.outbox import OUTBOX_LIMIT, Outbox
from zchat.protocol import Say, Tell, decode_client, encode


def test_cids_start_at_one_and_increase():
    outbox = Outbox()
    sent = [outbox.add(Say("a")), outbox.add(Tell("bob", "b")), outbox.add(Say("c"))]
    assert sent == [Say("a", 1), Tell("bob", "b", 2), Say("c", 3)]
    assert len(outbox) == 3


def test_the_cid_given_replaces_any_the_message_had():
    outbox = Outbox()
    assert outbox.add(Say("a", cid=99, retry=False)) == Say("a", 1)


def test_cids_are_never_reused_after_settling():
    outbox = Outbox()
    first = outbox.add(Say("a"))
    assert outbox.settle(first.cid) == first
    assert outbox.add(Say("b")).cid == 2
    assert outbox.add(Say("c")).cid == 3


def test_settle_forgets_and_returns_the_message():
    outbox = Outbox()
    outbox.add(Say("a"))
    tell = outbox.add(Tell("bob", "b"))
    assert outbox.settle(2) == tell
    assert len(outbox) == 1
    assert outbox.settle(2) is None  # a second ACK for it (e.g. a duplicate) is harmless
    assert outbox.settle(0) is None
    assert outbox.settle(42) is None
    assert len(outbox) == 1


def test_limit_refuses_new_messages_until_one_is_settled():
    outbox = Outbox(limit=2)
    assert outbox.add(Say("a")) is not None
    assert outbox.add(Say("b")) is not None
    assert outbox.add(Say("c")) is None
    assert len(outbox) == 2
    outbox.settle(1)
    assert outbox.add(Say("d")) == Say("d", 3)  # a refused message used no cid
    assert outbox.add(Say("e")) is None


def test_default_limit():
    outbox = Outbox()
    for _ in range(OUTBOX_LIMIT):
        assert outbox.add(Say("x")) is not None
    assert outbox.add(Say("one too many")) is None


def test_resend_marks_retry_in_order_and_keeps_everything():
    outbox = Outbox()
    for msg in [Say("a"), Tell("bob", "b"), Say("c"), Tell("carol", "d")]:
        outbox.add(msg)
    outbox.settle(3)
    assert outbox.resend() == [Say("a", 1, True), Tell("bob", "b", 2, True),
                               Tell("carol", "d", 4, True)]
    assert outbox.resend() == outbox.resend()  # resending settles nothing
    assert len(outbox) == 3
    assert outbox.settle(1) == Say("a", 1)  # the kept copy is the original, not the retry


def test_resend_of_an_empty_outbox_is_empty():
    assert Outbox().resend() == []


def test_outbox_messages_encode_with_their_cid_and_retry_flag():
    outbox = Outbox()
    outbox.add(Say("olá"))
    outbox.add(Tell("bob", "psst"))
    for msg in outbox.resend():
        assert decode_client(encode(msg)) == msg
    assert encode(outbox.resend()[0]) == 'ZCHAT/1 SAY {"text":"olá","cid":1,"retry":true}'.encode()
