"""The topics of the `--fanout pub` feed (PROTOCOL.md, Fan-out modes). Pure.

The default room's events go on the feed as single-frame ZCHAT/1 messages, so
they all start with the header, which is their topic. Another room's events go
as two frames, the room's topic and then the message, so that a subscriber
given only its own rooms' topics gets no byte of any other room: libzmq's
prefix match does the filtering. A room's topic is its key (the form rooms are
compared in) and a space, which no room name holds, so ``#sal `` never matches
``#sala ``.
"""

from .constants import HEADER, ROOM_PREFIX
from .names import room_key, room_problem

#: The default room's topic: every single-frame message on the feed starts with it.
DEFAULT_TOPIC = HEADER
_END = b" "


def room_topic(key: str) -> bytes:
    """The topic of the room whose key is ``key`` (``room_key``'s form)."""
    return key.encode("utf-8") + _END


def topic_room(topic: bytes) -> str | None:
    """The room key ``topic`` is the topic of, or None if it is no room's topic in
    the exact form the broker publishes (a key, then one space)."""
    if not topic.startswith(ROOM_PREFIX.encode()) or not topic.endswith(_END):
        return None
    try:
        room = topic[:-len(_END)].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if room_problem(room) is not None or room_key(room) != room:
        return None
    return room
