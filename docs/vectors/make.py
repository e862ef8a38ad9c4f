# The frames are JSON, full of braces: %-formatting keeps them readable. The look-alike
# characters (full-width, Cyrillic) are the point of the name vectors.
# ruff: noqa: UP031, RUF001
"""Write the test vectors of this folder from the reference implementation.

    python docs/vectors/make.py          # rewrite the JSON files
    python docs/vectors/make.py --check  # exit 1 if a file would change

The inputs are written here by hand, each refusal with the code and `ref` that
docs/PROTOCOL.md gives it: this script stops if the code answers otherwise. The
results (decoded fields, encoded bytes, name keys, bucket levels, what a
dialog's clients are sent) are the reference code's, to be read and checked
against the page before committing. tests/unit/test_vectors.py checks the
committed files against the code (it does not regenerate them), and the Worked
example of docs/PROTOCOL.md against the dialog vectors.
"""

import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "unit"))

from test_vectors import (  # noqa: E402  (the shared conversions and dialog runner)
    decode_result,
    run_dialog,
    to_json,
)

from zchat.protocol import (  # noqa: E402
    Ack,
    Acks,
    Bye,
    Enter,
    Entered,
    Error,
    Events,
    Fetch,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Msg,
    Notice,
    Part,
    Parted,
    Ping,
    Priv,
    RoomInfo,
    RoomList,
    Say,
    SetTopic,
    Tell,
    TopicSet,
    Users,
    Welcome,
    Who,
    encode,
    is_blank,
    name_key,
    name_problem,
)
from zchat.protocol import constants as c  # noqa: E402
from zchat.protocol.names import WHITE_SPACE  # noqa: E402
from zchat.protocol.rate import TokenBucket  # noqa: E402

MAX = c.MAX_SEQ
TS = 1735689600.25
FORMAT = "zchat-vectors/1"

# ---- frames -------------------------------------------------------------------------

DECODE: list[dict[str, Any]] = []


def ok(vid: str, frame: str | bytes, direction: str = "client", note: str = "") -> None:
    _add(vid, frame, direction, None, note)


def bad(vid: str, frame: str | bytes, code: str, ref: str = "", cid: int = 0,
        direction: str = "client", note: str = "") -> None:
    _add(vid, frame, direction, {"code": code, "ref": ref, "cid": cid}, note)


def _add(vid: str, frame: str | bytes, direction: str, error: dict | None, note: str) -> None:
    raw = frame if isinstance(frame, bytes) else frame.encode("utf-8")
    vector: dict[str, Any] = {"id": vid, "direction": direction}
    try:
        vector["frame"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        vector["frame_hex"] = raw.hex()
    result = decode_result(direction, raw)
    if error is not None and result.get("error") != error:
        raise SystemExit(f"{vid}: the page says {error}, the code gives {result}")
    if error is None and "error" in result:
        raise SystemExit(f"{vid}: the page says it decodes, the code gives {result}")
    vector.update(result)
    if note:
        vector["note"] = note
    DECODE.append(vector)


H = "ZCHAT/1 "
BF, UC, TL = c.E_BAD_FRAME, c.E_UNKNOWN_COMMAND, c.E_TOO_LONG
T32 = "9f3c1e7a5b2d4c6e8f0a1b2c3d4e5f60"


def client_frames() -> None:
    # JOIN
    ok("join-minimal", H + 'JOIN {"name":"ana"}')
    ok("join-full", H + 'JOIN {"name":"ana","token":"%s","resume":true}' % T32)
    ok("join-unknown-fields-ignored",
       H + 'JOIN {"name":"ana","colour":"blue","x":[1,{"y":null}],"resume":false}')
    ok("join-token-64", H + 'JOIN {"name":"ana","token":"%s"}' % ("t" * 64))
    bad("join-token-65", H + 'JOIN {"name":"ana","token":"%s"}' % ("t" * 65), BF, "64")
    ok("join-token-short-decodes", H + 'JOIN {"name":"ana","token":"0123"}',
       note="decodes; the broker treats a token under 16 code points as none")
    ok("join-invalid-name-decodes", H + 'JOIN {"name":"@ana"}',
       note="the name rules are the broker's (BAD_NAME), not the decoder's")
    ok("join-name-128", H + 'JOIN {"name":"%s"}' % ("n" * 128))
    bad("join-name-129", H + 'JOIN {"name":"%s"}' % ("n" * 129), c.E_BAD_NAME, "128")
    bad("join-name-missing", H + "JOIN {}", BF)
    bad("join-no-body", H + "JOIN", BF)
    bad("join-name-null", H + 'JOIN {"name":null}', BF)
    bad("join-name-number", H + 'JOIN {"name":5}', BF)
    bad("join-token-null", H + 'JOIN {"name":"ana","token":null}', BF,
        note="null is not a value of any type, not the default")
    bad("join-resume-1", H + 'JOIN {"name":"ana","resume":1}', BF)
    bad("join-resume-string", H + 'JOIN {"name":"ana","resume":"true"}', BF)
    ok("join-acks", H + 'JOIN {"name":"ana","acks":true}',
       note="the client takes ACKS frames (several ACKs in one)")
    bad("join-acks-string", H + 'JOIN {"name":"ana","acks":"yes"}', BF)
    # SAY
    ok("say-minimal", H + 'SAY {"text":"oi"}')
    ok("say-full", H + 'SAY {"text":"oi","cid":7,"retry":true}')
    ok("say-empty-text-decodes", H + 'SAY {"text":"","cid":1}',
       note="decodes; the broker answers EMPTY")
    ok("say-utf8", H + 'SAY {"text":"olá, ação 漢字 😀","cid":2}')
    ok("say-escapes", H + r'SAY {"text":"\u00e9\n\t\"\\\/\ud83d\ude00","cid":3}',
       note="JSON escapes, a surrogate pair among them, decode to their characters")
    ok("say-key-order-free", H + 'SAY {"retry":false,"cid":4,"text":"oi"}')
    ok("say-two-spaces-before-body", H + 'SAY  {"text":"oi"}',
       note="RFC 8259 allows whitespace around the object")
    ok("say-whitespace-after-body", H + 'SAY {"text":"oi"} \r\n\t')
    ok("say-whitespace-inside-body", H + 'SAY { "text" : "oi" , "cid" : 5 }')
    ok("say-duplicate-key-last-wins", H + 'SAY {"text":"a","cid":1,"text":"b","cid":2}',
       note="senders MUST NOT emit duplicate keys; the reference decoder keeps the last")
    bad("say-no-body", H + "SAY", BF)
    bad("say-empty-object", H + "SAY {}", BF)
    bad("say-text-missing-cid-recovered", H + 'SAY {"cid":3}', BF, cid=3)
    bad("say-text-number-cid-recovered", H + 'SAY {"text":5,"cid":9}', BF, cid=9)
    bad("say-text-null", H + 'SAY {"text":null,"cid":9}', BF, cid=9)
    ok("say-text-2000", H + 'SAY {"text":"%s","cid":1}' % ("x" * 2000))
    bad("say-text-2001", H + 'SAY {"text":"%s","cid":1}' % ("x" * 2001), TL, "2000", 1)
    ok("say-text-2000-four-byte-chars", H + 'SAY {"text":"%s","cid":2}' % ("😀" * 2000),
       note="a character outside the BMP is one code point (two UTF-16 units)")
    bad("say-text-2001-four-byte-chars", H + 'SAY {"text":"%s","cid":2}' % ("😀" * 2001),
        TL, "2000", 2)
    ok("say-text-2000-escaped", H + 'SAY {"text":"%s","cid":3}' % (r"\u00e9" * 2000),
       note="the length is counted after unescaping")
    bad("say-lone-high-surrogate", H + r'SAY {"text":"a\ud800b","cid":4}', BF, cid=4)
    bad("say-lone-low-surrogate", H + r'SAY {"text":"\udc00","cid":4}', BF, cid=4)
    bad("say-reversed-surrogates", H + r'SAY {"text":"\ude00\ud83d","cid":4}', BF, cid=4)
    bad("say-cid-true", H + 'SAY {"text":"oi","cid":true}', BF,
        note="true is not an integer, so no cid is recovered either")
    bad("say-cid-fraction", H + 'SAY {"text":"oi","cid":1.0}', BF)
    bad("say-cid-exponent", H + 'SAY {"text":"oi","cid":1e3}', BF)
    bad("say-cid-negative", H + 'SAY {"text":"oi","cid":-1}', BF)
    bad("say-cid-string", H + 'SAY {"text":"oi","cid":"5"}', BF)
    bad("say-cid-null", H + 'SAY {"text":"oi","cid":null}', BF)
    ok("say-cid-max", H + 'SAY {"text":"oi","cid":%d}' % MAX,
       note="2^53-1: the largest integer every JSON parser (JavaScript's too) holds exactly")
    bad("say-cid-over-max", H + 'SAY {"text":"oi","cid":%d}' % (MAX + 1), BF)
    bad("say-nan-in-unknown-field", H + 'SAY {"text":"oi","cid":7,"x":NaN}', BF,
        note="NaN is not JSON, even where the field is ignored; the body is not decoded")
    bad("who-infinity", H + 'WHO {"x":Infinity}', BF, note="Infinity is not JSON")
    bad("who-minus-infinity", H + 'WHO {"x":-Infinity}', BF)
    bad("say-retry-null", H + 'SAY {"text":"oi","cid":6,"retry":null}', BF, cid=6)
    bad("say-retry-0", H + 'SAY {"text":"oi","cid":6,"retry":0}', BF, cid=6)
    bad("say-too-long-cid-recovered", H + 'SAY {"cid":8,"text":"%s"}' % ("y" * 2001),
        TL, "2000", 8)
    # TELL
    ok("tell-minimal", H + 'TELL {"to":"bob","text":"psst"}')
    ok("tell-full", H + 'TELL {"to":"bob","text":"psst","cid":3,"retry":true}')
    ok("tell-bad-target-decodes", H + 'TELL {"to":"@bob","text":"","cid":4}',
       note="decodes; the broker answers BAD_PRIVATE")
    bad("tell-to-missing", H + 'TELL {"text":"psst","cid":5}', BF, cid=5)
    bad("tell-text-missing", H + 'TELL {"to":"bob","cid":5}', BF, cid=5)
    bad("tell-to-129", H + 'TELL {"to":"%s","text":"psst","cid":6}' % ("b" * 129),
        c.E_BAD_PRIVATE, "128", 6)
    bad("tell-text-2001", H + 'TELL {"to":"bob","text":"%s","cid":7}' % ("z" * 2001),
        TL, "2000", 7)
    bad("tell-to-129-and-text-2001",
        H + 'TELL {"text":"%s","to":"%s","cid":7}' % ("z" * 2001, "b" * 129),
        c.E_BAD_PRIVATE, "128", 7, note="fields are checked in the order of the page's "
        "table (to, then text), whatever their order in the object")
    bad("tell-lone-surrogate-in-to", H + r'TELL {"to":"bo\udbff","text":"x","cid":8}',
        BF, cid=8)
    # FETCH
    ok("fetch-minimal", H + 'FETCH {"pub":0,"priv":0}')
    ok("fetch-full", H + 'FETCH {"pub":5,"priv":6,"limit":1}')
    ok("fetch-limit-200", H + 'FETCH {"pub":5,"priv":6,"limit":200}')
    ok("fetch-cursors-max", H + 'FETCH {"pub":%d,"priv":%d}' % (MAX, MAX))
    bad("fetch-limit-0", H + 'FETCH {"pub":0,"priv":0,"limit":0}', BF)
    bad("fetch-limit-201", H + 'FETCH {"pub":0,"priv":0,"limit":201}', BF)
    bad("fetch-limit-null", H + 'FETCH {"pub":0,"priv":0,"limit":null}', BF)
    bad("fetch-pub-missing", H + 'FETCH {"priv":0}', BF)
    bad("fetch-priv-missing", H + 'FETCH {"pub":0}', BF)
    bad("fetch-pub-over-max", H + 'FETCH {"pub":%d,"priv":0}' % (MAX + 1), BF)
    bad("fetch-pub-negative", H + 'FETCH {"pub":-1,"priv":0}', BF)
    bad("fetch-pub-fraction", H + 'FETCH {"pub":1.5,"priv":0}', BF)
    bad("fetch-pub-zero-fraction", H + 'FETCH {"pub":0.0,"priv":0}', BF)
    bad("fetch-pub-false", H + 'FETCH {"pub":false,"priv":0}', BF)
    bad("fetch-pub-string", H + 'FETCH {"pub":"1","priv":0}', BF)
    # Commands without fields
    ok("who", H + "WHO")
    ok("who-empty-body", H + "WHO {}")
    ok("who-body-ignored", H + 'WHO {"x":1}')
    bad("who-array-body", H + "WHO []", BF)
    bad("who-trailing-space", H + "WHO ", BF)
    ok("leave", H + "LEAVE")
    ok("ping", H + "PING")
    ok("ping-fields-ignored", H + 'PING {"pub":5}',
       note="a client's PING has no fields: the broker ignores these")
    # Rooms (docs/ROOMS.md): ENTER, PART, ROOMS, TOPIC, and the room fields of SAY, WHO, FETCH
    ok("enter", H + 'ENTER {"room":"#sala"}')
    ok("enter-room-129", H + 'ENTER {"room":"#%s"}' % ("s" * 128),
       note="decodes; the room name rules (# and a valid name, 1-32 code points) are the "
       "broker's: it answers BAD_ROOM")
    ok("enter-invalid-room-decodes", H + 'ENTER {"room":"sala"}',
       note="decodes; the broker answers BAD_ROOM (no #)")
    bad("enter-room-130", H + 'ENTER {"room":"#%s"}' % ("s" * 129), c.E_BAD_ROOM, "129",
        note="over the decoder's bound (129 code points): BAD_ROOM, ref the bound")
    bad("enter-room-missing", H + "ENTER {}", BF)
    bad("enter-no-body", H + "ENTER", BF)
    bad("enter-room-number", H + 'ENTER {"room":5}', BF)
    ok("part", H + 'PART {"room":"#sala"}')
    bad("part-room-missing", H + "PART {}", BF)
    ok("rooms", H + "ROOMS")
    ok("rooms-body-ignored", H + 'ROOMS {"x":1}')
    ok("topic", H + 'TOPIC {"room":"#sala","text":"planos"}')
    ok("topic-clear", H + 'TOPIC {"room":"#sala","text":""}', note="an empty text clears it")
    ok("topic-text-200", H + 'TOPIC {"room":"#sala","text":"%s"}' % ("t" * 200))
    bad("topic-text-201", H + 'TOPIC {"room":"#sala","text":"%s"}' % ("t" * 201), TL, "200")
    bad("topic-room-missing", H + 'TOPIC {"text":"planos"}', BF)
    bad("topic-text-missing", H + 'TOPIC {"room":"#sala"}', BF)
    bad("topic-room-130", H + 'TOPIC {"room":"#%s","text":"planos"}' % ("s" * 129),
        c.E_BAD_ROOM, "129")
    ok("say-room", H + 'SAY {"text":"oi","cid":2,"room":"#sala"}')
    ok("say-room-empty", H + 'SAY {"text":"oi","cid":2,"room":""}',
       note="\"\" is the default room, as when room is absent")
    bad("say-room-130-cid-recovered",
        H + 'SAY {"text":"oi","cid":2,"room":"#%s"}' % ("s" * 129), c.E_BAD_ROOM, "129", 2)
    bad("say-room-number", H + 'SAY {"text":"oi","cid":2,"room":1}', BF, cid=2)
    ok("who-room", H + 'WHO {"room":"#sala"}')
    bad("who-room-null", H + 'WHO {"room":null}', BF)
    ok("fetch-rooms", H + 'FETCH {"pub":3,"priv":0,"rooms":{"#sala":7,"#Outra":0}}',
       note="room names are not checked here (rooms the session is not in are ignored)")
    ok("fetch-rooms-empty", H + 'FETCH {"pub":3,"priv":0,"rooms":{}}')
    ok("fetch-rooms-cursor-max", H + 'FETCH {"pub":3,"priv":0,"rooms":{"#sala":%d}}' % MAX)
    bad("fetch-rooms-not-object", H + 'FETCH {"pub":3,"priv":0,"rooms":[["#sala",7]]}', BF)
    bad("fetch-rooms-cursor-over-max",
        H + 'FETCH {"pub":3,"priv":0,"rooms":{"#sala":%d}}' % (MAX + 1), BF)
    bad("fetch-rooms-cursor-negative", H + 'FETCH {"pub":3,"priv":0,"rooms":{"#sala":-1}}', BF)
    bad("fetch-rooms-cursor-string", H + 'FETCH {"pub":3,"priv":0,"rooms":{"#sala":"7"}}', BF)
    bad("fetch-rooms-102", H + 'FETCH {"pub":3,"priv":0,"rooms":{%s}}'
        % ",".join('"#r%d":0' % i for i in range(c.MAX_ROOMS_PER_USER + 2)), BF,
        note="at most 101 rooms: the 100 a session may be in and the default room")
    bad("fetch-rooms-name-130", H + 'FETCH {"pub":3,"priv":0,"rooms":{"#%s":0}}' % ("s" * 129),
        BF)
    # The header
    bad("command-lower-case", H + 'say {"text":"oi"}', UC, "say")
    bad("command-mixed-case", H + "Who", UC, "Who")
    bad("command-empty", H.rstrip(" ") + " ", UC, "")
    bad("command-empty-two-spaces", H + ' SAY {"text":"oi"}', UC, "")
    bad("command-unknown", H + "HELLO", UC, "HELLO")
    bad("command-of-the-broker", H + 'WELCOME {"name":"ana"}', UC, "WELCOME")
    bad("command-then-newline", H + "WHO\n", UC, "WHO\n")
    bad("command-then-tab", H + 'SAY\t{"text":"oi"}', UC, 'SAY\t{"text":"oi"')
    bad("command-then-brace", H + 'SAY{"text":"oi"}', UC, 'SAY{"text":"oi"}')
    bad("command-17-letters", H + "ABCDEFGHIJKLMNOPQ", UC, "ABCDEFGHIJKLMNOP",
        note="ref: the command cut to 16 octets")
    bad("command-non-ascii", H + "SAÝ", UC, "SA\ufffd\ufffd",
        note="ref: each non-ASCII octet becomes U+FFFD")
    bad("command-not-utf8", (H + "S\xff").encode("latin-1"), UC, "S\ufffd")
    # Signature and version
    bad("version-2", 'ZCHAT/2 SAY {"text":"oi"}', c.E_VERSION, "1")
    bad("version-01", 'ZCHAT/01 SAY {"text":"oi"}', c.E_VERSION, "1")
    bad("version-10", 'ZCHAT/10 SAY {"text":"oi"}', c.E_VERSION, "1")
    bad("version-none", 'ZCHAT/ SAY {"text":"oi"}', c.E_VERSION, "1")
    bad("version-slash-only", "ZCHAT/", c.E_VERSION, "1")
    bad("version-letter", "ZCHAT/x WHO", c.E_VERSION, "1")
    bad("version-arabic-indic-one", "ZCHAT/\u0661 WHO", c.E_VERSION, "1",
        note="only ASCII digits are digits")
    bad("version-1-no-space", 'ZCHAT/1SAY {"text":"oi"}', BF)
    bad("version-1-end", "ZCHAT/1", BF)
    bad("version-1-tab", "ZCHAT/1\tWHO", BF)
    bad("version-1-dot", "ZCHAT/1.1 WHO", BF)
    bad("signature-lower-case", "zchat/1 WHO", c.E_BAD_SIGNATURE)
    bad("signature-none", '{"text":"oi"}', c.E_BAD_SIGNATURE)
    bad("signature-empty-frame", "", c.E_BAD_SIGNATURE)
    bad("signature-no-slash", "ZCHAT WHO", c.E_BAD_SIGNATURE)
    bad("signature-leading-space", " ZCHAT/1 WHO", c.E_BAD_SIGNATURE)
    bad("signature-bom", "\ufeffZCHAT/1 WHO", c.E_BAD_SIGNATURE)
    # The body
    bad("body-not-utf8", b'ZCHAT/1 SAY {"text":"\xff","cid":5}', BF,
        note="no cid: a body that is not UTF-8 is not decoded at all")
    bad("body-overlong-utf8", b'ZCHAT/1 SAY {"text":"\xc0\xaf","cid":5}', BF)
    bad("body-utf8-surrogate", b'ZCHAT/1 SAY {"text":"\xed\xa0\x80","cid":5}', BF,
        note="a surrogate encoded in UTF-8 (CESU-8) is not UTF-8")
    bad("body-bom", H + 'SAY \ufeff{"text":"oi","cid":5}', BF)
    bad("body-truncated", H + 'SAY {"text":"oi"', BF)
    bad("body-single-quotes", H + "SAY {'text':'oi'}", BF)
    bad("body-trailing-comma", H + 'SAY {"text":"oi","cid":5,}', BF)
    bad("body-two-objects", H + 'SAY {"text":"oi"}{}', BF)
    bad("body-extra-data", H + 'SAY {"text":"oi"} x', BF)
    bad("body-raw-newline-in-string", H + 'SAY {"text":"a\nb","cid":5}', BF,
        note="a control character in a JSON string must be escaped")
    bad("body-array", H + 'SAY ["oi"]', BF)
    bad("body-string", H + 'SAY "oi"', BF)
    bad("body-number", H + "SAY 1", BF)
    bad("body-null", H + "SAY null", BF)
    bad("body-true", H + "WHO true", BF)


WELCOME_FULL = ('{"name":"ana","session":"%s","heartbeat":1.0,"users":["bob","eve"],'
                '"server":"zchat/0.1.0","resumed":true,"pub":7,"priv":6,'
                '"epoch":"5e1f0c2a9b7d3e48","rate":10.0,"burst":30,"byte_rate":32768.0,'
                '"byte_burst":131072,"online":2,"fanout":"pub",'
                '"feeds":["tcp://127.0.0.1:34233","tcp://*:34234"]}' % T32)
WELCOME_MIN = ('{"name":"ana","session":"%s","heartbeat":1,"users":[],"server":"zchat/0.1.0",'
               '"resumed":false,"pub":1,"priv":0,"epoch":"5e1f0c2a9b7d3e48"}' % T32)
MSG_BODY = '{"from":"ana","text":"oi","ts":1735689600.25,"seq":7,"prev":5}'
EV_MSG = '{"from":"ana","text":"oi","ts":1735689600.25,"seq":7,"prev":5,"type":"MSG"}'
EV_JOINED = '{"name":"bob","ts":1735689600.5,"seq":8,"prev":7,"type":"JOINED"}'
EV_LEFT = '{"name":"eve","reason":"timeout","ts":1735689600.75,"seq":9,"prev":8,"type":"LEFT"}'
EV_MSG_ROOM = ('{"from":"ana","text":"oi, sala","ts":1735689602.25,"seq":6,"prev":5,'
               '"room":"#sala","type":"MSG"}')
EV_PRIV = ('{"from":"ana","to":"bob","text":"psst","ts":1735689601.0,"seq":10,"prev":0,'
           '"type":"PRIV"}')


def broker_frames() -> None:
    def okb(vid: str, frame: str, note: str = "") -> None:
        ok(vid, frame, "broker", note)

    def badb(vid: str, frame: str, code: str = BF, ref: str = "", note: str = "") -> None:
        bad(vid, frame, code, ref, 0, "broker", note)

    okb("welcome-full", H + "WELCOME " + WELCOME_FULL)
    okb("welcome-minimal", H + "WELCOME " + WELCOME_MIN,
        note="the optional fields take their defaults; a heartbeat written 1 is the number 1")
    okb("welcome-unknown-fields-ignored",
        H + "WELCOME " + WELCOME_MIN[:-1] + ',"motd":{"en":"hi"}}')
    okb("welcome-heartbeat-min", H + "WELCOME " + WELCOME_MIN.replace('"heartbeat":1',
                                                                      '"heartbeat":0.05'))
    okb("welcome-heartbeat-max", H + "WELCOME " + WELCOME_MIN.replace('"heartbeat":1',
                                                                      '"heartbeat":3600'))
    badb("welcome-heartbeat-under", H + "WELCOME " + WELCOME_MIN.replace(
        '"heartbeat":1', '"heartbeat":0.049'))
    badb("welcome-heartbeat-over", H + "WELCOME " + WELCOME_MIN.replace(
        '"heartbeat":1', '"heartbeat":3600.5'))
    badb("welcome-heartbeat-string", H + "WELCOME " + WELCOME_MIN.replace(
        '"heartbeat":1', '"heartbeat":"1"'))
    badb("welcome-heartbeat-missing", H + "WELCOME " + WELCOME_MIN.replace(
        '"heartbeat":1,', ""))
    badb("welcome-rate-negative", H + "WELCOME " + WELCOME_MIN[:-1] + ',"rate":-1}')
    badb("welcome-burst-fraction", H + "WELCOME " + WELCOME_MIN[:-1] + ',"burst":30.5}')
    badb("welcome-users-not-strings", H + "WELCOME " + WELCOME_MIN.replace(
        '"users":[]', '"users":["bob",5]'))
    badb("welcome-users-lone-surrogate", H + "WELCOME " + WELCOME_MIN.replace(
        '"users":[]', r'"users":["bob","\ud800"]'))
    badb("welcome-session-65", H + "WELCOME " + WELCOME_MIN.replace(T32, "s" * 65), ref="64")
    badb("welcome-fanout-17", H + "WELCOME " + WELCOME_MIN[:-1] + ',"fanout":"%s"}' % ("p" * 17),
         ref="16")
    okb("welcome-fanout-unknown", H + "WELCOME " + WELCOME_MIN[:-1] + ',"fanout":"carrier"}',
        note="decodes; a client that does not know the value treats it as router")
    okb("msg", H + "MSG " + MSG_BODY)
    okb("msg-ts-integer", H + 'MSG {"from":"ana","text":"oi","ts":1735689600,"seq":7,"prev":5}')
    okb("msg-seq-prev-absent", H + 'MSG {"from":"ana","text":"oi","ts":1735689600.25}',
        note="a broker always sends both; a client MAY read an absent one as 0, as the "
        "reference does")
    okb("msg-seq-0-outage", H + 'MSG {"from":"ana","text":"oi","ts":1735689600.25,"seq":0,'
        '"prev":0}')
    badb("msg-ts-string", H + 'MSG {"from":"ana","text":"oi","ts":"now","seq":7,"prev":5}')
    badb("msg-ts-true", H + 'MSG {"from":"ana","text":"oi","ts":true,"seq":7,"prev":5}')
    badb("msg-ts-not-finite", H + 'MSG {"from":"ana","text":"oi","ts":1e400,"seq":7,"prev":5}',
         note="1e400 is JSON, but not a finite number in binary64")
    badb("msg-ts-missing", H + 'MSG {"from":"ana","text":"oi","seq":7,"prev":5}')
    badb("msg-from-missing", H + 'MSG {"text":"oi","ts":1735689600.25,"seq":7,"prev":5}')
    badb("msg-seq-over-max", H + 'MSG {"from":"ana","text":"oi","ts":1.5,"seq":%d,"prev":5}'
         % (MAX + 1))
    badb("msg-text-2001", H + 'MSG {"from":"ana","text":"%s","ts":1.5,"seq":7,"prev":5}'
         % ("x" * 2001), TL, "2000")
    okb("priv", H + 'PRIV {"from":"ana","to":"bob","text":"psst","ts":1735689601.5,"seq":6,'
        '"prev":0}')
    badb("priv-to-missing", H + 'PRIV {"from":"ana","text":"psst","ts":1.5,"seq":6,"prev":0}')
    okb("joined", H + 'JOINED {"name":"bob","ts":1735689601.0,"seq":4,"prev":2}')
    okb("left", H + 'LEFT {"name":"ana","reason":"quit","ts":1735689602.0,"seq":8,"prev":7}')
    okb("left-unknown-reason", H + 'LEFT {"name":"ana","reason":"%s","ts":1.5,"seq":8,'
        '"prev":7}' % ("r" * 64), note="clients MUST accept reasons they do not know")
    badb("left-reason-65", H + 'LEFT {"name":"ana","reason":"%s","ts":1.5,"seq":8,"prev":7}'
         % ("r" * 65), ref="64")
    okb("users", H + 'USERS {"names":["ana","Bob","ｚé"]}')
    okb("users-empty", H + 'USERS {"names":[]}')
    badb("users-not-a-list", H + 'USERS {"names":"ana"}')
    okb("error-full", H + 'ERROR {"code":"BAD_PRIVATE","detail":"usage: @name message",'
        '"ref":"bob","cid":4}')
    okb("error-minimal", H + 'ERROR {"code":"EMPTY"}',
        note="detail and ref default to \"\", cid to 0")
    okb("error-unknown-code", H + 'ERROR {"code":"SOMETHING_NEW","detail":"?","ref":""}')
    badb("error-code-missing", H + 'ERROR {"detail":"?"}')
    okb("ack", H + 'ACK {"cid":1,"seq":5,"prev":4}')
    okb("ack-outage", H + 'ACK {"cid":1,"seq":0,"prev":0}')
    badb("ack-cid-missing", H + 'ACK {"seq":5,"prev":4}')
    okb("acks", H + 'ACKS {"acks":[{"cid":1,"seq":5,"prev":4},{"cid":2,"seq":6,"prev":5}]}')
    okb("acks-room", H + 'ACKS {"acks":[{"cid":3,"seq":9,"prev":8,"room":"#sala"},'
        '{"cid":4,"seq":10,"prev":9,"room":"#sala"}]}')
    badb("acks-empty", H + 'ACKS {"acks":[]}')
    badb("acks-not-a-list", H + 'ACKS {"acks":{"cid":1,"seq":5,"prev":4}}')
    badb("acks-item-not-an-object", H + 'ACKS {"acks":[5]}')
    badb("acks-item-cid-missing", H + 'ACKS {"acks":[{"seq":5,"prev":4}]}')
    badb("acks-201", H + 'ACKS {"acks":[%s]}' % ",".join(['{"cid":1,"seq":5,"prev":4}'] * 201))
    okb("events-live", H + 'EVENTS {"kind":"live","more":false,"lost":0,"events":[%s,%s,%s]}'
        % (EV_MSG, EV_JOINED, EV_LEFT))
    okb("events-replay", H + 'EVENTS {"kind":"replay","more":true,"lost":3,"events":[%s,%s]}'
        % (EV_MSG, EV_PRIV))
    okb("events-history", H + 'EVENTS {"kind":"history","more":false,"lost":0,"events":[%s]}'
        % EV_MSG)
    okb("events-empty", H + 'EVENTS {"kind":"replay","more":false,"lost":0,"events":[]}')
    okb("events-key-order-free", H + 'EVENTS {"events":[{"type":"JOINED","prev":7,"seq":8,'
        '"ts":1.5,"name":"bob"}],"lost":0,"more":false,"kind":"live"}')
    badb("events-unknown-type", H + 'EVENTS {"kind":"live","more":false,"lost":0,"events":[%s,'
         '{"name":"bob","ts":1.5,"seq":9,"prev":8,"type":"RENAMED"}]}' % EV_MSG,
         note="the whole frame is refused: the client discards it")
    badb("events-type-missing", H + 'EVENTS {"kind":"live","more":false,"lost":0,'
         '"events":[{"name":"bob","ts":1.5,"seq":9,"prev":8}]}')
    badb("events-bad-event-field", H + 'EVENTS {"kind":"live","more":false,"lost":0,'
         '"events":[{"name":"bob","ts":"x","seq":9,"prev":8,"type":"JOINED"}]}')
    badb("events-not-objects", H + 'EVENTS {"kind":"live","more":false,"lost":0,"events":["x"]}')
    badb("events-missing", H + 'EVENTS {"kind":"live","more":false,"lost":0}')
    badb("events-lost-negative", H + 'EVENTS {"kind":"replay","more":false,"lost":-1,'
         '"events":[]}')
    okb("bye", H + 'BYE {"reason":"quit"}')
    badb("bye-reason-missing", H + "BYE {}")
    okb("notice", H + 'NOTICE {"code":"CLUSTER_DOWN","detail":"the link to the other brokers '
        'is down"}')
    okb("notice-minimal", H + 'NOTICE {"code":"CLUSTER_UP"}')
    okb("ping-broker", H + 'PING {"pub":5}')
    okb("ping-broker-lagging", H + 'PING {"pub":7,"priv":6}')
    badb("ping-broker-pub-negative", H + 'PING {"pub":-1}')
    # Rooms (docs/ROOMS.md)
    okb("welcome-rooms", H + "WELCOME " + WELCOME_MIN[:-1]
        + ',"room":"#geral","rooms":{"#geral":1,"#sala":7},"max_rooms":100}')
    badb("welcome-rooms-not-object", H + "WELCOME " + WELCOME_MIN[:-1]
         + ',"room":"#geral","rooms":["#geral"]}')
    badb("welcome-rooms-head-negative", H + "WELCOME " + WELCOME_MIN[:-1]
         + ',"room":"#geral","rooms":{"#geral":-1}}')
    okb("msg-room", H + 'MSG {"from":"ana","text":"oi","ts":1735689600.25,"seq":7,"prev":5,'
        '"room":"#sala"}')
    okb("joined-room", H + 'JOINED {"name":"bob","ts":1735689601.0,"seq":4,"prev":2,'
        '"room":"#sala"}')
    okb("left-part", H + 'LEFT {"name":"ana","reason":"part","ts":1735689602.0,"seq":8,'
        '"prev":7,"room":"#sala"}')
    okb("ack-room", H + 'ACK {"cid":1,"seq":6,"prev":5,"room":"#sala"}')
    okb("users-room", H + 'USERS {"names":["ana","bob"],"room":"#sala"}')
    okb("events-history-room", H + 'EVENTS {"kind":"history","more":false,"lost":0,'
        '"room":"#sala","events":[%s]}' % EV_MSG_ROOM)
    okb("events-replay-rooms", H + 'EVENTS {"kind":"replay","more":false,"lost":0,'
        '"events":[%s,%s]}' % (EV_MSG, EV_MSG_ROOM),
        note="a replay mixes streams: each event carries its room")
    badb("events-room-number", H + 'EVENTS {"kind":"history","more":false,"lost":0,"room":1,'
         '"events":[]}')
    okb("entered", H + 'ENTERED {"room":"#sala","head":7,"topic":"planos","users":["ana","bob"],'
        '"online":2}')
    okb("entered-minimal", H + 'ENTERED {"room":"#sala","head":4}',
        note="a new room: no topic, nobody else")
    badb("entered-room-missing", H + 'ENTERED {"head":4}')
    badb("entered-head-missing", H + 'ENTERED {"room":"#sala"}')
    badb("entered-topic-201", H + 'ENTERED {"room":"#sala","head":4,"topic":"%s"}' % ("t" * 201),
         ref="200")
    okb("parted", H + 'PARTED {"room":"#sala"}')
    badb("parted-room-missing", H + "PARTED {}")
    okb("rooms-list", H + 'ROOMS {"rooms":[{"name":"#geral","online":3},{"name":"#sala",'
        '"online":2,"topic":"planos"}]}')
    okb("rooms-list-empty", H + 'ROOMS {"rooms":[]}')
    badb("rooms-list-missing", H + "ROOMS {}")
    badb("rooms-list-not-objects", H + 'ROOMS {"rooms":["#sala"]}')
    okb("rooms-list-online-absent", H + 'ROOMS {"rooms":[{"name":"#sala"}]}',
        note="a broker always sends online; a client MAY read an absent one as 0, as the "
        "reference does (an absent topic is \"\": none)")
    badb("rooms-list-name-missing", H + 'ROOMS {"rooms":[{"online":2}]}')
    okb("topic-broker", H + 'TOPIC {"room":"#sala","text":"planos","by":"bob"}')
    okb("topic-broker-cleared", H + 'TOPIC {"room":"#sala","text":"","by":"bob"}')
    badb("topic-broker-by-missing", H + 'TOPIC {"room":"#sala","text":"planos"}',
         note="from the broker, TOPIC names who set it")
    okb("ping-broker-rooms", H + 'PING {"pub":3,"priv":0,"rooms":{"#sala":8}}',
        note="to a lagging client: the heads of its rooms other than the default one")
    badb("ping-broker-rooms-not-object", H + 'PING {"pub":3,"rooms":8}')
    badb("broker-command-from-client-set", H + 'SAY {"text":"oi"}', UC, "SAY",
         note="SAY is not a command a broker sends")
    badb("broker-version-2", "ZCHAT/2 PING", c.E_VERSION, "1")


ENCODE: list[dict[str, Any]] = []


def enc(vid: str, msg: Any, direction: str, expect: str, note: str = "") -> None:
    frame = encode(msg)
    if frame != expect.encode("utf-8"):
        raise SystemExit(f"{vid}: expected {expect!r}, the encoder writes {frame!r}")
    vector = {"id": "encode-" + vid, "direction": direction, "message": to_json(msg),
              "frame": expect}
    if note:
        vector["note"] = note
    ENCODE.append(vector)


def encode_vectors() -> None:
    enc("join", Join("ana"), "client", H + 'JOIN {"name":"ana"}',
        note="token and resume are left out when they hold their defaults")
    enc("join-full", Join("Ana", T32, True), "client",
        H + 'JOIN {"name":"Ana","token":"%s","resume":true}' % T32)
    enc("say", Say("oi"), "client", H + 'SAY {"text":"oi","cid":0}',
        note="cid is always written, retry only when true")
    enc("say-full", Say("oi", 7, True), "client", H + 'SAY {"text":"oi","cid":7,"retry":true}')
    enc("say-utf8-and-escapes", Say('olá "x" \\ /\n\t\x1b\x7f\u2028😀', 2), "client",
        H + 'SAY {"text":"olá \\"x\\" \\\\ /\\n\\t\\u001b\x7f\u2028😀","cid":2}',
        note="raw UTF-8; only the quote, the backslash and C0 controls are escaped "
        "(\\n, \\t, \\u001b lower-case hex); DEL and U+2028 are written raw")
    enc("tell", Tell("bob", "psst", 3), "client", H + 'TELL {"to":"bob","text":"psst","cid":3}')
    enc("tell-retry", Tell("bob", "psst", 3, True), "client",
        H + 'TELL {"to":"bob","text":"psst","cid":3,"retry":true}')
    enc("fetch", Fetch(5, 6), "client", H + 'FETCH {"pub":5,"priv":6,"limit":200}')
    enc("who", Who(), "client", H + "WHO")
    enc("leave", Leave(), "client", H + "LEAVE")
    enc("ping", Ping(), "client", H + "PING")
    enc("welcome", Welcome("ana", T32, 1.0, (), "zchat/0.1.0", False, 1, 0, "5e1f0c2a9b7d3e48",
                           10.0, 30, 32768.0, 131072), "broker",
        H + 'WELCOME {"name":"ana","session":"%s","heartbeat":1.0,"users":[],'
        '"server":"zchat/0.1.0","resumed":false,"pub":1,"priv":0,"epoch":"5e1f0c2a9b7d3e48",'
        '"rate":10.0,"burst":30,"byte_rate":32768.0,"byte_burst":131072}' % T32,
        note="online, fanout and feeds are left out at their defaults")
    enc("welcome-full", Welcome("ana", T32, 1.0, ("bob", "eve"), "zchat/0.1.0", True, 7, 6,
                                "5e1f0c2a9b7d3e48", 10.0, 30, 32768.0, 131072, 2, "pub",
                                ("tcp://127.0.0.1:34233",)), "broker",
        H + "WELCOME " + WELCOME_FULL.replace(',"tcp://*:34234"', ""))
    enc("msg", Msg("ana", "oi", TS, 7, 5), "broker", H + "MSG " + MSG_BODY)
    enc("msg-utf8", Msg("José", "ação 😀 \"q\"", 1735689600.5, 8, 7), "broker",
        H + 'MSG {"from":"José","text":"ação 😀 \\"q\\"","ts":1735689600.5,"seq":8,"prev":7}')
    enc("priv", Priv("ana", "bob", "psst", 1735689601.0, 10, 0), "broker",
        H + "PRIV " + EV_PRIV.replace(',"type":"PRIV"', ""))
    enc("joined", Joined("bob", 1735689600.5, 8, 7), "broker",
        H + "JOINED " + EV_JOINED.replace(',"type":"JOINED"', ""))
    enc("left", Left("eve", "timeout", 1735689600.75, 9, 8), "broker",
        H + "LEFT " + EV_LEFT.replace(',"type":"LEFT"', ""))
    enc("users", Users(("ana", "bob")), "broker", H + 'USERS {"names":["ana","bob"]}')
    enc("error", Error("EMPTY", "empty message", "", 5), "broker",
        H + 'ERROR {"code":"EMPTY","detail":"empty message","ref":"","cid":5}')
    enc("error-no-cid", Error("NOT_JOINED", "PING before JOIN"), "broker",
        H + 'ERROR {"code":"NOT_JOINED","detail":"PING before JOIN","ref":""}',
        note="cid is left out when it is 0")
    enc("ack", Ack(1, 5, 4), "broker", H + 'ACK {"cid":1,"seq":5,"prev":4}')
    enc("acks", Acks((Ack(1, 5, 4), Ack(2, 6, 5))), "broker",
        H + 'ACKS {"acks":[{"cid":1,"seq":5,"prev":4},{"cid":2,"seq":6,"prev":5}]}')
    enc("events-live", Events("live", (Msg("ana", "oi", TS, 7, 5), Joined("bob", 1735689600.5,
                                       8, 7), Left("eve", "timeout", 1735689600.75, 9, 8))),
        "broker", H + 'EVENTS {"kind":"live","more":false,"lost":0,"events":[%s,%s,%s]}'
        % (EV_MSG, EV_JOINED, EV_LEFT),
        note="an event object is its frame's body with type added last")
    enc("events-replay", Events("replay", (Msg("ana", "oi", TS, 7, 5),
                                           Priv("ana", "bob", "psst", 1735689601.0, 10, 0)),
                                True, 3), "broker",
        H + 'EVENTS {"kind":"replay","more":true,"lost":3,"events":[%s,%s]}' % (EV_MSG, EV_PRIV))
    enc("bye", Bye("quit"), "broker", H + 'BYE {"reason":"quit"}')
    enc("notice", Notice("CLUSTER_UP", "the link is back"), "broker",
        H + 'NOTICE {"code":"CLUSTER_UP","detail":"the link is back"}')
    enc("ping-broker", Ping(5), "broker", H + 'PING {"pub":5}')
    enc("ping-broker-lagging", Ping(7, 6), "broker", H + 'PING {"pub":7,"priv":6}')
    # Rooms (docs/ROOMS.md)
    enc("enter", Enter("#sala"), "client", H + 'ENTER {"room":"#sala"}')
    enc("part", Part("#sala"), "client", H + 'PART {"room":"#sala"}')
    enc("rooms", ListRooms(), "client", H + "ROOMS")
    enc("topic", SetTopic("#sala", "planos"), "client",
        H + 'TOPIC {"room":"#sala","text":"planos"}')
    enc("say-room", Say("oi", 2, False, "#sala"), "client",
        H + 'SAY {"text":"oi","cid":2,"room":"#sala"}',
        note="room is left out for the default room (\"\")")
    enc("who-room", Who("#sala"), "client", H + 'WHO {"room":"#sala"}')
    enc("fetch-rooms", Fetch(3, 0, 200, (("#sala", 7),)), "client",
        H + 'FETCH {"pub":3,"priv":0,"limit":200,"rooms":{"#sala":7}}',
        note="rooms is left out when empty")
    enc("welcome-rooms", Welcome("ana", T32, 1.0, (), "zchat/0.1.0", False, 1, 0,
                                 "5e1f0c2a9b7d3e48", room="#geral",
                                 rooms=(("#geral", 1), ("#sala", 7)), max_rooms=100), "broker",
        H + 'WELCOME {"name":"ana","session":"%s","heartbeat":1.0,"users":[],'
        '"server":"zchat/0.1.0","resumed":false,"pub":1,"priv":0,"epoch":"5e1f0c2a9b7d3e48",'
        '"rate":0.0,"burst":0,"byte_rate":0.0,"byte_burst":0,"room":"#geral",'
        '"rooms":{"#geral":1,"#sala":7},"max_rooms":100}' % T32,
        note="room, rooms and max_rooms are left out by a broker without rooms")
    enc("msg-room", Msg("ana", "oi", TS, 7, 5, "#sala"), "broker",
        H + 'MSG {"from":"ana","text":"oi","ts":1735689600.25,"seq":7,"prev":5,"room":"#sala"}',
        note="room is last, and left out for the default room")
    enc("joined-room", Joined("bob", 1735689601.0, 4, 2, "#sala"), "broker",
        H + 'JOINED {"name":"bob","ts":1735689601.0,"seq":4,"prev":2,"room":"#sala"}')
    enc("left-part", Left("ana", "part", 1735689602.0, 8, 7, "#sala"), "broker",
        H + 'LEFT {"name":"ana","reason":"part","ts":1735689602.0,"seq":8,"prev":7,'
        '"room":"#sala"}')
    enc("ack-room", Ack(1, 6, 5, "#sala"), "broker",
        H + 'ACK {"cid":1,"seq":6,"prev":5,"room":"#sala"}')
    enc("users-room", Users(("ana", "bob"), "#sala"), "broker",
        H + 'USERS {"names":["ana","bob"],"room":"#sala"}')
    enc("events-history-room", Events("history", (Msg("ana", "oi, sala", 1735689602.25, 6, 5,
                                                      "#sala"),), room="#sala"), "broker",
        H + 'EVENTS {"kind":"history","more":false,"lost":0,"room":"#sala","events":[%s]}'
        % EV_MSG_ROOM, note="room comes before events")
    enc("entered", Entered("#sala", 7, "planos", ("ana", "bob"), 2), "broker",
        H + 'ENTERED {"room":"#sala","head":7,"topic":"planos","users":["ana","bob"],'
        '"online":2}')
    enc("entered-minimal", Entered("#sala", 4), "broker", H + 'ENTERED {"room":"#sala","head":4}',
        note="topic, users and online are left out when empty or 0")
    enc("parted", Parted("#sala"), "broker", H + 'PARTED {"room":"#sala"}')
    enc("rooms-list", RoomList((RoomInfo("#geral", 3), RoomInfo("#sala", 2, "planos"))),
        "broker", H + 'ROOMS {"rooms":[{"name":"#geral","online":3},{"name":"#sala",'
        '"online":2,"topic":"planos"}]}', note="a room's topic is left out when empty")
    enc("topic-broker", TopicSet("#sala", "planos", "bob"), "broker",
        H + 'TOPIC {"room":"#sala","text":"planos","by":"bob"}')
    enc("ping-broker-rooms", Ping(3, 0, (("#sala", 8),)), "broker",
        H + 'PING {"pub":3,"priv":0,"rooms":{"#sala":8}}')

# ---- names and whitespace -----------------------------------------------------------

WS = "whitespace or control character"
NAMES: list[tuple[str, str | None]] = [
    ("ana", None), ("Ana", None), ("José_Ñ", None), ("ana-bob.1", None), ("ana@home", None),
    ("a/b", None), ("漢字", None), ("Ωμέγα", None), ("❤", None), ("😀", None),
    ("n" * 32, None), ("😀" * 32, None), ("ＡＮＡ", None), ("ﬁ", None), ("Straße", None),
    ("ΣΑΣ", None), ("İstanbul", None), ("\u212a", None), ("\u01c7", None), ("①", None),
    ("\u00adana", WS),
    ("", "empty"), ("n" * 33, "too long"), ("😀" * 33, "too long"),
    ("@ana", "starts with @ or /"), ("/ana", "starts with @ or /"),
    ("＠ana", "starts with @ or /"), ("／ana", "starts with @ or /"),
    ("@" + "n" * 32, "too long"),
    ("a b", WS), ("ana\t", WS),
    ("a\u00a0b", WS), ("a\u3000b", WS),
    ("a\u2028b", WS), ("a\u0085", WS),
    ("a\u001cb", WS), ("a\x7f", WS),
    ("a\u200eb", WS), ("\u202eana", WS),
    ("a\u200db", WS), ("a\u200bb", WS),
    ("a\ufeff", WS), ("a\u180e", WS),
    ("a\ue000", WS), ("a\u0378", WS),
    ("a\ud800", WS),
    ("ana\u034f", "invisible character U+034F"), ("❤\ufe0f", "invisible character U+FE0F"),
    ("a\u3164", "invisible character U+3164"), ("\u115fana", "invisible character U+115F"),
    ("a\uffa0", "invisible character U+FFA0"), ("a\u17b4", "invisible character U+17B4"),
    ("a\u180b", "invisible character U+180B"), ("a\U000e0100", "invisible character U+E0100"),
    ("\u2800", "invisible character U+2800"), ("a\U0001d159", "invisible character U+1D159"),
    ("a\U00016fe4", "invisible character U+16FE4"),
    ("a\u034f b", "invisible character U+034F"), ("a b\u034f", WS),
]

PAIRS = [("Ana", "ANA", True), ("ana", "ａｎａ", True), ("Straße", "STRASSE", True),
         ("ﬁ", "fi", True), ("ana", "\u0430na", False), ("ana", "\u0430\u043d\u0430", False),
         ("\u212a", "k", True), ("\u212b", "å", True), ("\u01c7", "lj", True),
         ("ΣΑΣ", "σας", True), ("o", "\u03bf", False), ("ẞ", "ss", True),
         ("José", "jose\u0301", True), ("①", "1", True)]

BLANK = ["", " ", "\t\n\u000b\u000c\r", "\u0085", "\u00a0", "\u1680", "\u3000\u2028",
         "\u2029\u202f\u205f", "\u2000\u200a", WHITE_SPACE]
NOT_BLANK = ["a", " a ", "\u001c", "\u001f", "\ufeff", "\u200b", "\u180e", "\u2060",
             "\u00a0x\u00a0", "\u3164", "\u2800", ".", "\u0000"]


def names_file() -> dict[str, Any]:
    names = [{"name": n, "problem": name_problem(n), "key": name_key(n)} for n, _ in NAMES]
    for (n, expected), vector in zip(NAMES, names, strict=True):
        if vector["problem"] != expected:
            raise SystemExit(f"name {n!r}: expected {expected}, the code says {vector}")
    pairs = []
    for a, b, same in PAIRS:
        pair = {"a": a, "b": b, "key_a": name_key(a), "key_b": name_key(b), "same": same}
        if (pair["key_a"] == pair["key_b"]) is not same:
            raise SystemExit(f"pair {pair}: expected same={same}")
        pairs.append(pair)
    return {"format": FORMAT, "names": names, "pairs": pairs}


def whitespace_file() -> dict[str, Any]:
    if len(WHITE_SPACE) != 25:
        raise SystemExit("WHITE_SPACE is not 25 code points")
    texts = [{"text": t, "blank": True} for t in BLANK]
    texts += [{"text": t, "blank": False} for t in NOT_BLANK]
    for vector in texts:
        if is_blank(vector["text"]) is not vector["blank"]:
            raise SystemExit(f"is_blank disagrees: {vector}")
    return {"format": FORMAT, "white_space": [f"U+{ord(ch):04X}" for ch in WHITE_SPACE],
            "texts": texts}


# ---- token buckets ------------------------------------------------------------------

BUCKETS: list[tuple[str, float, float, list[tuple[float, str, float]], str]] = [
    ("messages-rate-1-burst-2", 1.0, 2.0, [
        (0.0, "take", 1), (0.0, "take", 1), (0.0, "take", 1), (0.0, "wait", 1),
        (0.5, "wait", 1), (0.5, "take", 1), (1.0, "take", 1), (1.0, "wait", 1),
        (10.0, "wait", 1), (10.0, "take", 1)],
     "starts full; a failed take spends nothing; refill is capped at the burst"),
    ("bytes-rate-4-burst-8", 4.0, 8.0, [
        (0.0, "take", 5), (0.0, "take", 5), (0.0, "wait", 5), (0.25, "wait", 5),
        (0.5, "take", 5), (0.5, "wait", 0.5), (0.625, "take", 0.5)],
     "amounts need not be whole"),
    ("wait-caps-at-burst", 2.0, 3.0, [
        (0.0, "wait", 10), (0.0, "take", 10), (0.0, "take", 2), (0.0, "wait", 10),
        (0.25, "wait", 10)],
     "wait(n) waits for min(n, burst); take(n) with n above the burst never succeeds"),
    ("clock-going-back", 1.0, 4.0, [
        (5.0, "take", 4), (4.0, "take", 1), (4.0, "wait", 1), (5.5, "wait", 1),
        (6.0, "take", 1)],
     "a time before the last refill refills nothing and does not move the last refill"),
    ("default-messages", c.DEFAULT_RATE, float(c.DEFAULT_BURST),
     [(0.0, "take", 1)] * 30 + [(0.0, "take", 1), (0.0, "wait", 1), (0.0625, "take", 1),
                                (0.125, "take", 1), (0.125, "take", 1), (0.125, "wait", 1)],
     "the broker's default message bucket: 30 at once, then 10 a second"),
]


def bucket_file() -> dict[str, Any]:
    cases = []
    for vid, rate, burst, ops, note in BUCKETS:
        bucket = TokenBucket(rate, burst)
        steps = []
        for t, op, n in ops:
            result = getattr(bucket, op)(t, n)
            steps.append({"t": t, "op": op, "n": n, "result": result,
                          "tokens": bucket.tokens})
        cases.append({"id": vid, "rate": rate, "burst": burst, "note": note, "ops": steps})
    return {"format": FORMAT, "buckets": cases}


# ---- dialogs ------------------------------------------------------------------------

EPOCH = "5e1f0c2a9b7d3e48"
TA, TB = T32, "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
TE = "5d2e8f1a3c4b6a7980e1f2d3c4b5a697"
TA2 = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
BROKER = {"heartbeat": 1.0, "epoch": EPOCH, "wall_clock": {"start": 1735689600.0, "step": 0.25},
          "history": c.DEFAULT_HISTORY, "tokens": ["a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
                                                   "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"]}
#: CURVE client keys (z85), as the ZAP handler gives them: any 40 characters do here.
KEY_ANA, KEY_BOB, KEY_EVE = ("Ana" + "a" * 37, "Bob" + "b" * 37, "Eve" + "e" * 37)


def _in(who: str, body: str, key: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {"from": who, "frame": H + body}
    if key:
        item["key"] = key
    return item


def step(*ins: dict[str, Any], at: float | None = None, comment: str = "",
         tick: bool = False, full: tuple[str, ...] = (), shown: bool = True) -> dict[str, Any]:
    s: dict[str, Any] = {}
    if comment:
        s["comment"] = comment
    if at is not None:
        s["at"] = at
    if tick:
        s["tick"] = True
    if ins:
        s["in"] = list(ins)
    if full:
        s["full"] = list(full)
    if not shown:
        s["shown"] = False
    return s


def join(who: str, token: str, extra: str = "", key: str = "", name: str = "") -> dict:
    return _in(who, 'JOIN {"name":"%s","token":"%s"%s}' % (name or who, token, extra), key)


def dialogs() -> list[dict[str, Any]]:
    out = []

    def dialog(vid: str, description: str, steps: list, **broker: Any) -> None:
        out.append({"id": vid, "description": description, "broker": {**BROKER, **broker},
                    "steps": steps})

    dialog("worked-example-1", "docs/PROTOCOL.md, Worked example, the first block", [
        step(join("ana", TA), at=0.0, comment="1. ana joins an empty chat"),
        step(_in("ana", 'SAY {"text":"bom dia","cid":1}'),
             comment='2. ana types "bom dia" (cid 1), then "@ana comprar pão" (cid 2)'),
        step(_in("ana", 'TELL {"to":"ana","text":"comprar pão","cid":2}')),
        step(join("bob", TB), comment="3. bob joins, gets the recent public history"),
        step(_in("bob", 'SAY {"text":"oi","cid":1}'), comment='4. bob types "oi" (cid 1)'),
        step(_in("ana", 'TELL {"to":"bob","text":"tudo bem?","cid":3}'),
             comment="5. a private message: two copies, each with its reader's prev"),
        step(_in("ana", 'TELL {"to":"bob","text":"","cid":4}'),
             comment='6. ana types "@bob" with no text (cid 4)'),
        step(_in("bob", "WHO"), comment="7. bob types /who"),
        step(at=1.0, tick=True, comment="8. the broker's interval tick"),
        step(_in("ana", "PING"), comment="ana, idle for one interval"),
        step(_in("ana", 'SAY {"text":"alô?","cid":5}'), full=("bob",),
             comment="9. bob's queue is full: he misses the MSG"),
        step(at=2.0, tick=True, comment="next tick: bob is lagging and gets his heads"),
        step(_in("bob", 'FETCH {"pub":5,"priv":6,"limit":200}')),
        step(_in("ana", "LEAVE"), comment="10. ana types /quit"),
    ])
    dialog("worked-example-2", "docs/PROTOCOL.md, Worked example, the second block: resume, "
           "duplicate and refusal", [
        step(join("ana", TA), at=0.0, shown=False),
        step(join("bob", TB), shown=False),
        step(_in("ana", 'SAY {"text":"ainda aí?","cid":1}'),
             comment="ana's first socket goes stale: the ACK is sent to it, never read"),
        step(_in("bob", 'SAY {"text":"sim","cid":1}')),
        step(join("ana'", TA, ',"resume":true', name="Ana"),
             comment="ana reconnects on a new socket (ana'), resumes"),
        step(_in("ana'", 'FETCH {"pub":2,"priv":0,"limit":200}')),
        step(_in("ana'", 'SAY {"text":"ainda aí?","cid":1,"retry":true}'),
             comment="the resent SAY is a duplicate: only acknowledged"),
        step(_in("ana", "PING"), comment="the stale socket is no longer joined"),
        step(join("eve", "0123", name="ANA"), comment="eve cannot take the name"),
    ])
    limits = {"rate": 1.0, "burst": 2, "max_clients": 2}
    dialog("worked-example-3", "docs/PROTOCOL.md, Worked example, the third block: flood "
           "control and keys (--rate 1 --burst 2 --max-clients 2, CURVE without allow list)", [
        step(join("ana", TA, key=KEY_ANA), at=0.0, comment="ana joins with her key"),
        step(join("bob", TB, key=KEY_BOB), shown=False, comment="bob joins (not shown)"),
        step(_in("ana", 'SAY {"text":"um","cid":1}'),
             comment="three lines at once, unpaced: the third is refused"),
        step(_in("ana", 'SAY {"text":"dois","cid":2}')),
        step(_in("ana", 'SAY {"text":"três","cid":3}')),
        step(join("eve", TE, key=KEY_EVE, name="Ana"),
             comment="eve, with another key, asks for ana's name, then her own"),
        step(join("eve", TE, key=KEY_EVE)),
    ], limits=limits)
    dialog("worked-example-4", "docs/PROTOCOL.md, Worked example, the fourth block: pub "
           "fan-out mode (feed frames go to \"feed\": every subscriber)", [
        step(join("ana", TA), at=0.0, comment="ana joins; her JOINED finds no subscriber"),
        step(join("bob", TB), comment="bob joins the same way"),
        step(_in("bob", 'SAY {"text":"oi","cid":1}'),
             comment="the MSG goes once on the feed, the ACK to bob"),
    ], fanout="pub", feeds=["tcp://127.0.0.1:34233"])
    dialog("worked-example-5", "docs/PROTOCOL.md, Worked example, the fifth block: rooms "
           "(the dialog rooms without WHO, the lagging member and FETCH)", [
        step(join("ana", TA), at=0.0, shown=False),
        step(join("bob", TB), shown=False),
        step(join("carol", TE), shown=False),
        step(_in("ana", 'ENTER {"room":"#sala"}'),
             comment="ana enters #sala, creating it; no message there yet: no history frame"),
        step(_in("bob", 'ENTER {"room":"#Sala"}'),
             comment="bob enters it as #Sala, the same room: ana sees him join it"),
        step(_in("ana", 'SAY {"text":"oi, sala","cid":1,"room":"#sala"}'),
             comment="ana says something in #sala"),
        step(_in("carol", 'SAY {"text":"posso?","cid":1,"room":"#sala"}'),
             comment="carol is not in #sala"),
        step(_in("bob", 'TOPIC {"room":"#sala","text":"planos"}'), comment="bob sets the topic"),
        step(_in("carol", "ROOMS"), comment="carol lists the rooms, then enters #sala"),
        step(_in("carol", 'ENTER {"room":"#sala"}')),
        step(_in("ana", 'PART {"room":"#sala"}'), comment="ana parts #sala"),
        step(_in("bob", "LEAVE"), comment="bob quits"),
    ])
    dialog("worked-example-6", "docs/PROTOCOL.md, Worked example, the sixth block: read "
           "state (CURVE keys, no allow list): MARK, a private conversation's page, rooms "
           "and read state that follow a key to a new session, UNREAD, DMS", [
        step(join("ana", TA, key=KEY_ANA), at=0.0, shown=False),
        step(join("bob", TB, key=KEY_BOB), shown=False),
        step(_in("ana", 'ENTER {"room":"#dev"}'), shown=False),
        step(_in("bob", 'ENTER {"room":"#dev"}'), shown=False),
        step(_in("bob", 'SAY {"text":"deploy às 15h","cid":1,"room":"#dev"}'),
             comment="bob says something in #dev; ana's client shows it and marks it read"),
        step(_in("ana", 'MARK {"read":{"#dev":5}}')),
        step(_in("bob", 'TELL {"to":"ana","text":"viu?","cid":2}'),
             comment="bob writes to ana; she pages back through their conversation"),
        step(_in("ana", 'HISTORY {"with":"bob","limit":20}')),
        step(_in("ana", "LEAVE"), comment="ana quits without marking the private message"),
        step(_in("bob", 'SAY {"text":"ana, pode revisar?","cid":3,"room":"#dev"}'),
             comment="meanwhile bob names her in #dev"),
        step(join("ana'", TA2, key=KEY_ANA, name="ana"),
             comment="ana on another device: a new token, the same key. Her rooms follow the "
             "key; UNREAD comes before the histories it applies to"),
        step(_in("ana'", "DMS"), comment="she lists her conversations, and reads bob's"),
        step(_in("ana'", 'HISTORY {"with":"bob","limit":20}')),
        step(_in("ana'", 'MARK {"read":{"#dev":9,"@bob":6}}'),
             comment="her client marks what it showed: the conversation is read"),
        step(_in("ana'", "DMS")),
    ])
    dialog("refusals", "Refusals before and after joining, and what each costs nobody else", [
        step(_in("ana", 'SAY {"text":"oi","cid":1}'), at=0.0,
             comment="not joined: NOT_JOINED, with the cid"),
        step(_in("ana", "LEAVE"), comment="LEAVE is answered with BYE quit, joined or not"),
        step(_in("ana", 'JOIN {"name":"@ana"}'), comment="a name the rules refuse"),
        step(_in("ana", 'JOIN {"name":"a\\u034fna"}'), comment="an invisible character"),
        step(_in("ana", 'JOIN {"name":"ana","token":"0123"}'),
             comment="a token under 16 code points is none: the broker makes one"),
        step(_in("ana", 'JOIN {"name":"ana"}'), comment="joined already"),
        step(_in("bob", 'JOIN {"name":"ANA"}'), comment="the name is taken (names compare by key)"),
        step(_in("bob", 'JOIN {"name":"bob"}')),
        step(_in("ana", 'SAY {"text":" \\u3000\\u2028","cid":2}'),
             comment="whitespace only: EMPTY"),
        step(_in("ana", 'SAY {"text":"\\u001c","cid":3}'),
             comment="U+001C is not White_Space: a message"),
        step(_in("ana", 'TELL {"to":"carol","text":"oi","cid":4}'),
             comment="nobody of that name: NO_SUCH_USER"),
        step(_in("ana", 'TELL {"to":"b\\u200bob","text":"oi","cid":5}'),
             comment="not a name: BAD_PRIVATE"),
        step(_in("ana", 'TELL {"to":"BOB","text":"oi","cid":6}'),
             comment="names compare by key: PRIV to is the spelling the broker holds"),
        step(_in("ana", 'SAY {"text":"%s","cid":7}' % ("x" * 2001)),
             comment="TOO_LONG, refused while decoding: the cid is recovered"),
        step({"from": "ana", "frame": "say hi"}, comment="not ZCHAT at all"),
        step(_in("ana", "ZCHAT/1 HELLO"[len(H):]), comment="an unknown command"),
        step(_in("bob", "WHO")),
    ], tokens=["c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"])
    dialog("live-batch", "Frames read in one poll cycle: joins batched into one EVENTS live "
           "frame, and two messages cut at each sender's own MSG, which its ACK replaces", [
        step(join("ana", TA), join("bob", TB), join("carol", TE), at=0.0,
             comment="three JOINs in one cycle"),
        step(_in("ana", 'SAY {"text":"um","cid":1}'), _in("bob", 'SAY {"text":"dois","cid":1}'),
             comment="two SAYs in one cycle"),
        step(_in("carol", 'FETCH {"pub":0,"priv":0,"limit":2}'), comment="a page cut by limit"),
        step(_in("carol", 'FETCH {"pub":2,"priv":0}')),
        step(_in("carol", "LEAVE"), _in("bob", "LEAVE")),
    ])
    dialog("rooms", "Rooms (docs/ROOMS.md): entering, saying in a room, a room one is not "
           "in, its topic, the room list, its members, a lagging member's heads and FETCH of "
           "a room, parting, leaving", [
        step(join("ana", TA), at=0.0, comment="ana, bob and carol join: all in the default "
             "room (#geral)"),
        step(join("bob", TB)),
        step(join("carol", TE)),
        step(_in("ana", 'ENTER {"room":"#sala"}'),
             comment="ana enters #sala, creating it; it holds no message: no history frame"),
        step(_in("bob", 'ENTER {"room":"#Sala"}'),
             comment="bob enters it as #Sala, the same room: ana sees him join it"),
        step(_in("ana", 'SAY {"text":"oi, sala","cid":1,"room":"#sala"}'),
             comment="ana says something in #sala: bob's MSG and her ACK carry the room"),
        step(_in("carol", 'SAY {"text":"posso?","cid":1,"room":"#sala"}'),
             comment="carol is not in #sala: NOT_IN_ROOM, with the cid"),
        step(_in("bob", 'TOPIC {"room":"#sala","text":"planos"}'),
             comment="bob sets the topic: a TOPIC frame to each member"),
        step(_in("carol", "ROOMS"), comment="carol asks for the room list"),
        step(_in("carol", 'ENTER {"room":"#sala"}'),
             comment="carol enters #sala: ENTERED with the topic and the members, then the "
             "room's history"),
        step(_in("bob", 'WHO {"room":"#sala"}'), comment="bob asks who is in #sala"),
        step(_in("ana", 'SAY {"text":"bem-vinda","cid":2,"room":"#sala"}'), full=("bob",),
             comment="bob's queue is full: he misses the MSG"),
        step(at=1.0, tick=True, comment="the tick: bob is lagging and gets his heads, "
             "#sala's among them"),
        step(_in("bob", 'FETCH {"pub":3,"priv":0,"rooms":{"#sala":7}}'),
             comment="bob fetches from his cursors, #sala's among them"),
        step(_in("ana", 'PART {"room":"#sala"}'),
             comment="ana parts #sala: PARTED, and the others see her leave it"),
        step(_in("bob", "LEAVE"),
             comment="bob quits: a LEFT in the default room and one in #sala, one ts"),
    ])
    for d in out:
        for i, sent in run_dialog(d):
            d["steps"][i]["out"] = sent
    return out


# ---- writing --------------------------------------------------------------------------


#: Written as escapes: they are invisible, or look like another character.
_ESCAPED = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800\U0001d159")


def _shown(ch: str) -> bool:
    """Whether ``ch`` is written as itself in the files (else as a \\u escape)."""
    cat = unicodedata.category(ch)
    return ch == " " or not (cat[0] in "CZ" or cat in ("Mn", "Me") or ch in _ESCAPED
                             or "\ufe00" <= ch <= "\ufe0f")


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if _shown(ch) or ch == "\n":
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out.append("\\u%04x\\u%04x" % (0xD800 + high, 0xDC00 + low))
        else:
            out.append("\\u%04x" % ord(ch))
    return "".join(out)


def _fmt(value: Any, depth: int, flat_at: int, indent: str = "") -> str:
    """``value`` as JSON: objects and lists at ``flat_at`` levels down (or short) on one
    line, the ones above them one item a line."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if depth >= flat_at or not isinstance(value, dict | list) or len(flat) + len(indent) < 90:
        return flat
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {_fmt(v, depth + 1, flat_at, inner)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [inner + _fmt(v, depth + 1, flat_at, inner) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def dumps(data: Any, flat_at: int = 2) -> str:
    """JSON with one vector a line, invisible characters as escapes."""
    return _escape(_fmt(data, 0, flat_at)) + "\n"


def build() -> dict[str, str]:
    client_frames()
    broker_frames()
    encode_vectors()
    return {
        "frames.json": dumps({"format": FORMAT, "decode": DECODE, "encode": ENCODE}),
        "names.json": dumps(names_file()),
        "whitespace.json": dumps(whitespace_file()),
        "token_bucket.json": dumps(bucket_file()),
        "dialogs.json": dumps({"format": FORMAT, "dialogs": dialogs()}, flat_at=6),
    }


def main() -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # The frames one live batch sends its senders go out in set order: per recipient
        # the order is fixed, between recipients it follows the hash seed. A fixed seed
        # keeps the files the same from run to run.
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:]])
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in build().items():
        path = HERE / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(("would change: " if check else "wrote: ") + ", ".join(stale))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
