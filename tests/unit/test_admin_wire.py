"""broker/admin_wire.py: the admin socket's requests and replies, both ways, and every
way a frame can be wrong turned into one AdminWireError."""

import json

import pytest

from zchat.broker.admin_wire import (
    MAX_REQUEST_BYTES,
    SIGNATURE,
    AdminRequest,
    AdminWireError,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    failure,
)
from zchat.protocol import constants as c


@pytest.mark.parametrize("request_", [
    AdminRequest("status"),
    AdminRequest("who"),
    AdminRequest("who", room="#dev"),
    AdminRequest("rooms"),
    AdminRequest("bans"),
    AdminRequest("kick", "bob"),
    AdminRequest("kick", "bob", reason="chega de spam ✋"),
    AdminRequest("ban", "bob", seconds=7200, reason="flood"),
    AdminRequest("ban", "bob", seconds=c.MAX_MOD_SECONDS),
    AdminRequest("unban", "Bob"),
    AdminRequest("mute", "carol", "#dev", 600, "calma"),
    AdminRequest("unmute", "carol", "#dev"),
], ids=repr)
def test_requests_round_trip(request_: AdminRequest) -> None:
    frame = encode_request(request_)
    assert frame.startswith(SIGNATURE)
    assert decode_request(frame) == request_


def test_a_request_leaves_out_what_is_at_its_default() -> None:
    frame = encode_request(AdminRequest("ban", "bob"))
    assert json.loads(frame[len(SIGNATURE):]) == {"op": "ban", "name": "bob"}


def _frame(body: object) -> bytes:
    return SIGNATURE + json.dumps(body).encode()


BAD_REQUESTS = [
    (b"", "signature"),
    (b"ZCHAT/1 SAY {}", "signature"),
    (SIGNATURE + b"{not json", "not JSON"),
    (SIGNATURE + b"\xff\xfe", "not JSON"),
    (SIGNATURE + b"[" * 3000 + b"]" * 3000, "bytes"),
    (SIGNATURE + b"[" * 2000, "not JSON"),  # (nested past the recursion limit)
    (_frame([1, 2]), "not a JSON object"),
    (_frame({}), "unknown op None"),
    (_frame({"op": "reboot"}), "unknown op 'reboot'"),
    (_frame({"op": 7}), "unknown op 7"),
    (_frame({"op": "status", "name": "x"}), "status takes no name"),
    (_frame({"op": "kick", "room": "#a", "name": "x"}), "kick takes no room"),
    (_frame({"op": "kick"}), "kick needs name"),
    (_frame({"op": "mute", "name": "x"}), "mute needs room"),
    (_frame({"op": "kick", "name": 5}), "name must be a string"),
    (_frame({"op": "kick", "name": "x" * 200}), "name must be a string"),
    (_frame({"op": "who", "room": None}), "room must be a string"),
    (_frame({"op": "ban", "name": "x", "seconds": -1}), "seconds must be an integer"),
    (_frame({"op": "ban", "name": "x", "seconds": 1.5}), "seconds must be an integer"),
    (_frame({"op": "ban", "name": "x", "seconds": True}), "seconds must be an integer"),
    (_frame({"op": "ban", "name": "x", "seconds": c.MAX_MOD_SECONDS + 1}), "seconds"),
    (_frame({"op": "kick", "name": "x", "reason": "r" * (c.MAX_REASON_CHARS + 1)}),
     "reason must be a string"),
    (_frame({"op": "kick", "name": "x", "reason": ["a"]}), "reason must be a string"),
    (SIGNATURE + b" " * MAX_REQUEST_BYTES, "at most 4096 bytes"),
]


@pytest.mark.parametrize(("frame", "says"), BAD_REQUESTS, ids=lambda v: repr(v)[:40])
def test_a_bad_request_is_one_error(frame: bytes, says: str) -> None:
    with pytest.raises(AdminWireError) as caught:
        decode_request(frame)
    assert says in str(caught.value)


def test_replies_round_trip() -> None:
    ok = {"ok": True, "names": ["ana", "bob"], "room": ""}
    assert decode_reply(encode_reply(ok)) == ok
    refused = failure(c.E_NO_SUCH_USER, "no such user online", "bob")
    assert decode_reply(encode_reply(refused)) == {
        "ok": False, "code": "NO_SUCH_USER", "detail": "no such user online", "ref": "bob"}


@pytest.mark.parametrize("frame", [
    b"", b"ZCHAT/1 WELCOME {}", SIGNATURE + b"nope", _frame([]), _frame({}),
    _frame({"ok": "yes"}), _frame({"ok": False}), _frame({"ok": False, "code": 1,
                                                          "detail": "x"}),
])
def test_a_bad_reply_is_one_error(frame: bytes) -> None:
    with pytest.raises(AdminWireError):
        decode_reply(frame)
