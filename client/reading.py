"""What the user has read: MARKs for the broker, and where the "new" line goes.

Pure: no sockets, no clock of its own. The terminal shows every event it gets,
so what it showed is read; the client notes each shown event here (`seen`) and
sends the marks now and then (`due`, at most every MARK_EVERY seconds, and
`flush` when leaving), one MARK for every room and conversation that moved.

After WELCOME the broker's UNREAD says how far each room was read; `unread`
keeps that, and `new_line` says, once per room, when the first event past it is
shown (a history or a replay), so the screen can draw the line between read and
unread there.
"""

from zchat.protocol import Mark, Unread, name_key, room_key
from zchat.protocol import constants as c

#: Seconds between two MARKs (each costs a message of the flood budget).
MARK_EVERY = 2.0


def peer_key(name: str) -> str:
    """The key of the private conversation with ``name`` (in MARK: "@" and the name)."""
    return c.PEER_PREFIX + name_key(name)


class ReadTracker:
    """Read marks to send, and the unread boundaries UNREAD announced."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._sent: dict[str, int] = {}
        self._last_sent = float("-inf")
        #: key -> the last event read, for rooms with unread events not shown yet.
        self._boundary: dict[str, int] = {}

    def seen(self, key: str, seq: int) -> None:
        """An event of ``key`` (a room's key as WELCOME names it, or a `peer_key`) was
        shown (or sent by the user)."""
        if seq > self._seen.get(key, 0):
            self._seen[key] = seq

    def due(self, now: float) -> Mark | None:
        """The MARK to send now, if something moved and the last one is old enough."""
        if now - self._last_sent < MARK_EVERY:
            return None
        mark = self.flush()
        if mark is not None:
            self._last_sent = now
        return mark

    def flush(self) -> Mark | None:
        """The MARK of everything that moved since the last one (None: nothing did)."""
        moved = tuple((key, seq) for key, seq in self._seen.items()
                      if seq > self._sent.get(key, 0))[:c.MAX_MARKS]
        if not moved:
            return None
        self._sent.update(moved)
        return Mark(moved)

    def unread(self, items: tuple[Unread, ...], heads: dict[str, int]) -> tuple[Unread, ...]:
        """UNREAD: keep the boundaries of the rooms and conversations with unread events;
        the items still unread. ``heads``: WELCOME's rooms (key -> head). What this
        client showed before its marks reached the broker (a reconnect within
        MARK_EVERY) is read all the same: such an item goes, or its boundary moves up."""
        kept = []
        self._boundary = {}
        for item in items:
            if not item.unread:
                continue
            peer = item.key.startswith(c.PEER_PREFIX)
            key = peer_key(item.key[1:]) if peer else room_key(item.key)
            seen = self._seen.get(key, 0)
            if seen >= (item.last if peer else heads.get(key, c.MAX_SEQ)):
                continue  # shown already, all of it
            self._boundary[key] = max(item.read, seen)
            kept.append(item)
        return tuple(kept)

    def new_line(self, key: str, seq: int) -> bool:
        """Whether the "new" line goes before this event of ``key`` (once per key)."""
        read = self._boundary.get(key)
        if read is None or seq <= read:
            return False
        del self._boundary[key]
        return True


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the user ``name`` as a word (``@name`` too), in any case:
    the broker counts mentions the same way (broker/reading.py)."""
    folded, key = text.casefold(), name_key(name)
    start = folded.find(key)
    while start >= 0:
        end = start + len(key)
        before = folded[start - 1] if start else " "
        after = folded[end] if end < len(folded) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        start = folded.find(key, start + 1)
    return False
