"""Encode messages to ZCHAT/1 frames and decode frames back, with every check.

A ZCHAT/1 message is exactly one ZeroMQ frame (after the ROUTER envelope):

    "ZCHAT/1" SP COMMAND [SP JSON-object]

Decoding checks the size before anything else, then the signature, the
command, the UTF-8 and JSON of the body and each field's type and bound.
Every failure raises ``ProtocolError``; nothing else escapes.
"""

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from . import constants as c
from .errors import ProtocolError
from .messages import (
    BrokerMessage,
    Bye,
    ClientMessage,
    Error,
    Join,
    Joined,
    Leave,
    Left,
    Message,
    Msg,
    Ping,
    Priv,
    Say,
    Tell,
    Users,
    Welcome,
    Who,
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_VERSION_PREFIX = c.SIGNATURE + b"/"
_DIGITS = re.compile(rb"\d+")


def _frame(command: str, body: dict[str, Any] | None = None) -> bytes:
    head = c.HEADER + command.encode("ascii")
    if not body:
        return head
    return head + b" " + _dumps(body).encode("utf-8")


def encode(msg: Message) -> bytes:
    """Return the one frame that carries ``msg``."""
    match msg:
        case Join(name, token):
            return _frame(c.JOIN, {"name": name, "token": token} if token else {"name": name})
        case Say(text):
            return _frame(c.SAY, {"text": text})
        case Tell(to, text):
            return _frame(c.TELL, {"to": to, "text": text})
        case Who() | Leave() | Ping():
            return _frame(msg.command)
        case Welcome(name, session, heartbeat, users, server, resumed):
            return _frame(c.WELCOME, {
                "name": name, "session": session, "heartbeat": heartbeat,
                "users": list(users), "server": server, "resumed": resumed,
            })
        case Msg(sender, text, ts):
            return _frame(c.MSG, {"from": sender, "text": text, "ts": ts})
        case Priv(sender, to, text, ts):
            return _frame(c.PRIV, {"from": sender, "to": to, "text": text, "ts": ts})
        case Joined(name, ts):
            return _frame(c.JOINED, {"name": name, "ts": ts})
        case Left(name, reason, ts):
            return _frame(c.LEFT, {"name": name, "reason": reason, "ts": ts})
        case Users(names):
            return _frame(c.USERS, {"names": list(names)})
        case Error(code, detail, ref):
            return _frame(c.ERROR, {"code": code, "detail": detail, "ref": ref})
        case Bye(reason):
            return _frame(c.BYE, {"reason": reason})
    raise TypeError(f"not a ZCHAT/1 message: {msg!r}")


# ---- field readers: each raises ProtocolError naming the field -------------

# JSON may carry lone surrogates (\\ud800) that are not valid Unicode text and
# could not be encoded again; they are refused like invalid UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _str(body: dict[str, Any], key: str, limit: int, default: str | None = None,
         too_long: str = c.E_BAD_FRAME) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"field '{key}' must be a string")
    if len(value) > limit:
        raise ProtocolError(f"field '{key}' is longer than {limit}", too_long, str(limit))
    if not value.isascii() and _SURROGATE.search(value):
        raise ProtocolError(f"field '{key}' holds a lone surrogate")
    return value


def _num(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)  # a huge JSON integer overflows here
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise ProtocolError(f"field '{key}' must be a finite number")


def _names(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"field '{key}' must be a list of strings")
    return tuple(value)


_NAME = c.MAX_NAME_CHARS
_TEXT = c.MAX_TEXT_CHARS
# Targets and names are bounded loosely here; the broker applies the name rules.
_LOOSE = 4 * c.MAX_NAME_CHARS

_Decoder = Callable[[dict[str, Any]], Message]

_FROM_CLIENT: dict[bytes, _Decoder] = {
    b"JOIN": lambda b: Join(_str(b, "name", _LOOSE, too_long=c.E_BAD_NAME),
                            _str(b, "token", c.MAX_TOKEN_CHARS, "")),
    b"SAY": lambda b: Say(_str(b, "text", _TEXT, too_long=c.E_TOO_LONG)),
    b"TELL": lambda b: Tell(_str(b, "to", _LOOSE, too_long=c.E_BAD_PRIVATE),
                            _str(b, "text", _TEXT, too_long=c.E_TOO_LONG)),
    b"WHO": lambda b: Who(),
    b"LEAVE": lambda b: Leave(),
    b"PING": lambda b: Ping(),
}


def _welcome(b: dict[str, Any]) -> Welcome:
    heartbeat = _num(b, "heartbeat")
    if not c.MIN_HEARTBEAT <= heartbeat <= c.MAX_HEARTBEAT:
        raise ProtocolError("field 'heartbeat' is out of range")
    resumed = b.get("resumed", False)
    if not isinstance(resumed, bool):
        raise ProtocolError("field 'resumed' must be a boolean")
    return Welcome(_str(b, "name", _LOOSE), _str(b, "session", c.MAX_TOKEN_CHARS),
                   heartbeat, _names(b, "users"), _str(b, "server", 200, ""), resumed)


_BIG = c.MAX_BROKER_FRAME_BYTES

_FROM_BROKER: dict[bytes, _Decoder] = {
    b"WELCOME": _welcome,
    b"MSG": lambda b: Msg(_str(b, "from", _LOOSE), _str(b, "text", _TEXT, too_long=c.E_TOO_LONG),
                          _num(b, "ts")),
    b"PRIV": lambda b: Priv(_str(b, "from", _LOOSE), _str(b, "to", _LOOSE),
                            _str(b, "text", _TEXT, too_long=c.E_TOO_LONG), _num(b, "ts")),
    b"JOINED": lambda b: Joined(_str(b, "name", _LOOSE), _num(b, "ts")),
    b"LEFT": lambda b: Left(_str(b, "name", _LOOSE), _str(b, "reason", 64), _num(b, "ts")),
    b"USERS": lambda b: Users(_names(b, "names")),
    b"ERROR": lambda b: Error(_str(b, "code", 64), _str(b, "detail", _BIG, ""),
                              _str(b, "ref", _BIG, "")),
    b"BYE": lambda b: Bye(_str(b, "reason", 64)),
    b"PING": lambda b: Ping(),
}


def _decode(frame: bytes, table: dict[bytes, _Decoder], limit: int) -> Message:
    if not isinstance(frame, bytes):
        raise ProtocolError("a frame must be bytes")
    if len(frame) > limit:
        raise ProtocolError(f"frame is larger than {limit} bytes", c.E_TOO_LONG, str(limit))
    if not frame.startswith(c.HEADER):
        if frame.startswith(_VERSION_PREFIX):
            version = _DIGITS.match(frame, len(_VERSION_PREFIX))
            if version is None or version.group() != str(c.VERSION).encode():
                raise ProtocolError(f"this peer speaks ZCHAT/{c.VERSION} only", c.E_VERSION,
                                    str(c.VERSION))
            raise ProtocolError("malformed header: expected 'ZCHAT/1 COMMAND'")
        raise ProtocolError("not a ZCHAT frame (missing signature)", c.E_BAD_SIGNATURE)
    command, _, raw = frame[len(c.HEADER):].partition(b" ")
    decoder = table.get(command)
    if decoder is None:
        shown = command[: c.MAX_COMMAND_CHARS].decode("ascii", "replace")
        raise ProtocolError(f"unknown command {shown!r}", c.E_UNKNOWN_COMMAND, shown)
    if raw:
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError("body is not valid UTF-8") from None
        except (ValueError, RecursionError):
            raise ProtocolError("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ProtocolError("body must be a JSON object")
    else:
        body = {}
    return decoder(body)


def _one(frames: Sequence[bytes]) -> bytes:
    if len(frames) != 1:
        raise ProtocolError(f"expected 1 frame, got {len(frames)}")
    return frames[0]


def decode_client(frame: bytes) -> ClientMessage:
    """Decode a frame a client sent (checked against the client frame limit)."""
    return _decode(frame, _FROM_CLIENT, c.MAX_FRAME_BYTES)  # type: ignore[return-value]


def decode_broker(frame: bytes) -> BrokerMessage:
    """Decode a frame the broker sent."""
    return _decode(frame, _FROM_BROKER, c.MAX_BROKER_FRAME_BYTES)  # type: ignore[return-value]


def decode_client_frames(frames: Sequence[bytes]) -> ClientMessage:
    """Like ``decode_client`` for a whole multipart message (must be one frame)."""
    return decode_client(_one(frames))


def decode_broker_frames(frames: Sequence[bytes]) -> BrokerMessage:
    return decode_broker(_one(frames))
