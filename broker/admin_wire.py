"""The admin socket's wire format (`zchat broker --admin`, `zchat admin`): one request,
one reply, each a single frame that opens with a signature and holds a JSON object.

    request  ZCHAT-ADMIN/1 {"op": "ban", "name": "bob", "seconds": 7200, "reason": "flood"}
    reply    ZCHAT-ADMIN/1 {"ok": true, ...what the op answers}
             ZCHAT-ADMIN/1 {"ok": false, "code": "NO_SUCH_USER", "detail": "...", "ref": "bob"}

A request names its ``op`` and only the fields that op takes (OPS): ``name`` (a user),
``room``, ``seconds`` (a ban's or mute's length, 0: until lifted) and ``reason``; absent
ones are empty or 0. A reply's ``code`` is one of the chat protocol's error codes
(protocol/constants.py) or BAD_REQUEST or INTERNAL below; ``detail`` is prose for people.

Pure: no sockets, no I/O. Every way a frame can be wrong is one AdminWireError, and a
request's size is checked before it is decoded.
"""

import json
from dataclasses import dataclass
from typing import Any, Final

from zchat.protocol import constants as c

SIGNATURE: Final = b"ZCHAT-ADMIN/1 "
#: A request frame is at most this many bytes (the broker's socket refuses bigger ones).
MAX_REQUEST_BYTES: Final = 4096

STATUS: Final = "status"
WHO: Final = "who"
ROOMS: Final = "rooms"
BANS: Final = "bans"
#: Each op and the fields it takes; those in REQUIRED it must have.
OPS: Final[dict[str, frozenset[str]]] = {
    STATUS: frozenset(),
    WHO: frozenset({"room"}),
    ROOMS: frozenset(),
    BANS: frozenset(),
    c.M_KICK: frozenset({"name", "reason"}),
    c.M_BAN: frozenset({"name", "seconds", "reason"}),
    c.M_UNBAN: frozenset({"name"}),
    c.M_MUTE: frozenset({"name", "room", "seconds", "reason"}),
    c.M_UNMUTE: frozenset({"name", "room"}),
}
REQUIRED: Final[dict[str, frozenset[str]]] = {
    c.M_KICK: frozenset({"name"}), c.M_BAN: frozenset({"name"}),
    c.M_UNBAN: frozenset({"name"}), c.M_MUTE: frozenset({"name", "room"}),
    c.M_UNMUTE: frozenset({"name", "room"}),
}
#: The ops that moderate (carried out by BrokerCore.moderate).
MODERATION: Final = frozenset({c.M_KICK, c.M_BAN, c.M_UNBAN, c.M_MUTE, c.M_UNMUTE})

#: Reply codes of the admin socket's own: a request it cannot read, and a bug.
E_BAD_REQUEST: Final = "BAD_REQUEST"
E_INTERNAL: Final = "INTERNAL"

#: A name or room field longer than this is refused before any rule looks at it.
_MAX_FIELD_CHARS: Final = 4 * c.MAX_NAME_CHARS


class AdminWireError(Exception):
    """A frame that is not a well-formed admin request or reply."""


@dataclass(frozen=True, slots=True)
class AdminRequest:
    op: str
    name: str = ""
    room: str = ""
    seconds: int = 0
    reason: str = ""


def encode_request(request: AdminRequest) -> bytes:
    """The request's frame; fields at their defaults are left out."""
    body: dict[str, object] = {"op": request.op}
    for field in ("name", "room", "seconds", "reason"):
        value = getattr(request, field)
        if value:
            body[field] = value
    return SIGNATURE + json.dumps(body, ensure_ascii=False).encode()


def decode_request(frame: bytes) -> AdminRequest:
    """The request in ``frame``.

    Raises:
        AdminWireError: too big, no signature, not a JSON object, an unknown op, a
            field the op does not take or lacks, or a field of the wrong type or size.
    """
    if len(frame) > MAX_REQUEST_BYTES:
        raise AdminWireError(f"a request is at most {MAX_REQUEST_BYTES} bytes")
    body = _object(frame)
    op = body.pop("op", None)
    if not isinstance(op, str) or op not in OPS:
        raise AdminWireError(f"unknown op {op!r}: one of {', '.join(OPS)}")
    extra = set(body) - OPS[op]
    if extra:
        raise AdminWireError(f"{op} takes no {', '.join(sorted(extra))}")
    missing = REQUIRED.get(op, frozenset()) - set(body)
    if missing:
        raise AdminWireError(f"{op} needs {', '.join(sorted(missing))}")
    for field in ("name", "room"):
        value = body.get(field, "")
        if not isinstance(value, str) or len(value) > _MAX_FIELD_CHARS:
            raise AdminWireError(f"{field} must be a string of at most {_MAX_FIELD_CHARS} "
                                 "characters")
    seconds = body.get("seconds", 0)
    if type(seconds) is not int or not 0 <= seconds <= c.MAX_MOD_SECONDS:
        raise AdminWireError(f"seconds must be an integer from 0 to {c.MAX_MOD_SECONDS}")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > c.MAX_REASON_CHARS:
        raise AdminWireError(f"reason must be a string of at most {c.MAX_REASON_CHARS} "
                             "characters")
    return AdminRequest(op, body.get("name", ""), body.get("room", ""), seconds, reason)


def encode_reply(reply: dict[str, Any]) -> bytes:
    """A reply's frame: ``reply`` holds ``ok`` and what the op answers (see `failure`)."""
    return SIGNATURE + json.dumps(reply, ensure_ascii=False, sort_keys=True).encode()


def failure(code: str, detail: str, ref: str = "") -> dict[str, Any]:
    """A refusal, as a reply."""
    return {"ok": False, "code": code, "detail": detail, "ref": ref}


def decode_reply(frame: bytes) -> dict[str, Any]:
    """The reply in ``frame``.

    Raises:
        AdminWireError: no signature, not a JSON object, no boolean ``ok``, or a
            refusal without a string ``code`` and ``detail``.
    """
    body = _object(frame)
    ok = body.get("ok")
    if not isinstance(ok, bool):
        raise AdminWireError("a reply without ok")
    if not ok and not (isinstance(body.get("code"), str) and isinstance(body.get("detail"), str)):
        raise AdminWireError("a refusal without code and detail")
    return body


def _object(frame: bytes) -> dict[str, Any]:
    if not frame.startswith(SIGNATURE):
        raise AdminWireError("not a zchat admin frame (no ZCHAT-ADMIN/1 signature)")
    try:
        body = json.loads(frame[len(SIGNATURE):].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # (JSONDecodeError too)
        raise AdminWireError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AdminWireError("not a JSON object")
    return body
