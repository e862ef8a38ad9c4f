"""client/outbox.py: client message ids, the bound, settling, sending and resending."""

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


def _drain(outbox: Outbox) -> list:
    """What a connected client sends: peek, send, mark sent, until nothing waits."""
    out = []
    while (msg := outbox.peek()) is not None:
        out.append(msg)
        outbox.sent()
    return out


def test_peek_of_an_empty_outbox_is_none():
    outbox = Outbox()
    assert outbox.peek() is None
    outbox.requeue()
    assert outbox.peek() is None


def test_peek_gives_the_oldest_unsent_message_until_it_is_sent():
    outbox = Outbox()
    outbox.add(Say("a"))
    outbox.add(Tell("bob", "b"))
    assert outbox.peek() == Say("a", 1)
    assert outbox.peek() == Say("a", 1)  # peeking twice sends nothing
    outbox.sent()
    assert outbox.peek() == Tell("bob", "b", 2)
    outbox.sent()
    assert outbox.peek() is None
    assert len(outbox) == 2  # sent is not acknowledged: both are kept


def test_messages_go_out_once_each_in_order():
    outbox = Outbox()
    for msg in [Say("a"), Tell("bob", "b"), Say("c")]:
        outbox.add(msg)
    assert _drain(outbox) == [Say("a", 1), Tell("bob", "b", 2), Say("c", 3)]
    outbox.add(Say("d"))
    assert _drain(outbox) == [Say("d", 4)]  # a new message after the rest went out


def test_peek_skips_a_message_settled_before_it_was_sent():
    outbox = Outbox()
    for msg in [Say("a"), Say("b"), Say("c")]:
        outbox.add(msg)
    outbox.settle(1)
    outbox.settle(2)
    assert outbox.peek() == Say("c", 3)
    outbox.sent()
    assert outbox.peek() is None
    assert len(outbox) == 1


def test_requeue_marks_retry_in_order_and_keeps_everything():
    outbox = Outbox()
    for msg in [Say("a"), Tell("bob", "b"), Say("c"), Tell("carol", "d")]:
        outbox.add(msg)
    outbox.peek()
    outbox.sent()  # "a" went out; the others had not yet
    outbox.settle(3)
    outbox.requeue()
    retries = [Say("a", 1, True), Tell("bob", "b", 2, True), Tell("carol", "d", 4, True)]
    assert _drain(outbox) == retries
    outbox.requeue()  # another reconnect: the same again, settling nothing
    assert _drain(outbox) == retries
    assert len(outbox) == 3
    assert outbox.settle(1) == Say("a", 1, True)
    assert len(outbox) == 2


def test_requeue_of_an_empty_outbox_sends_nothing():
    outbox = Outbox()
    outbox.requeue()
    assert _drain(outbox) == []
    outbox.add(Say("a"))
    outbox.settle(1)
    outbox.requeue()
    assert _drain(outbox) == []


def test_requeue_does_not_send_a_waiting_message_twice():
    outbox = Outbox()
    outbox.add(Say("a"))
    outbox.add(Say("b"))  # neither sent yet when the connection is replaced
    outbox.requeue()
    assert _drain(outbox) == [Say("a", 1, True), Say("b", 2, True)]


def test_new_messages_after_a_requeue_are_not_retries_and_go_last():
    outbox = Outbox()
    outbox.add(Say("a"))
    outbox.requeue()
    outbox.add(Say("b"))
    assert _drain(outbox) == [Say("a", 1, True), Say("b", 2)]


def test_outbox_messages_encode_with_their_cid_and_retry_flag():
    outbox = Outbox()
    outbox.add(Say("olá"))
    outbox.add(Tell("bob", "psst"))
    first = outbox.peek()
    assert encode(first) == 'ZCHAT/1 SAY {"text":"olá","cid":1}'.encode()
    outbox.requeue()
    sent = _drain(outbox)
    for msg in sent:
        assert decode_client(encode(msg)) == msg
    assert encode(sent[0]) == 'ZCHAT/1 SAY {"text":"olá","cid":1,"retry":true}'.encode()


def test_a_resend_goes_to_the_same_room():
    outbox = Outbox()
    outbox.add(Say("oi", room="#sala"))
    outbox.add(Say("geral"))
    assert [m.cid for m in _drain(outbox)] == [1, 2]
    outbox.requeue()
    again = _drain(outbox)
    assert again == [Say("oi", 1, retry=True, room="#sala"), Say("geral", 2, retry=True)]
    assert decode_client(encode(again[0])) == again[0]
