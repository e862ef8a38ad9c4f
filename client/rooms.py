"""The rooms this session is in, which one is current, and how each is shown. Pure.

Rooms are kept by key (zchat.protocol.room_key), shown by the name the broker
gave them. The default room is special twice over: on the wire its events and
SAYs carry no room, and a user who never typed a room command sees the chat
exactly as before rooms (no room in the prompt, `/who` lists everyone online).
A broker without rooms announces no default room: then nothing here is used.
"""

from zchat.protocol import room_key
from zchat.protocol.constants import ROOM_PREFIX


def default_room(name: str) -> str:
    """WELCOME's default room as a room name (a broker may give it without its '#')."""
    return name if not name or name.startswith(ROOM_PREFIX) else ROOM_PREFIX + name


class Rooms:
    def __init__(self) -> None:
        #: The default room's key and name ("": a broker without rooms).
        self.default = ""
        self.default_name = ""
        #: The rooms we are in: key -> name as the broker shows it.
        self.names: dict[str, str] = {}
        #: The room typed text goes to (a key), None when we are in no room.
        self.current: str | None = None
        #: The user has typed a room command: the prompt names the current room.
        self.chosen = False
        self._welcomed = False

    @property
    def enabled(self) -> bool:
        return bool(self.default)

    def welcome(self, default: str, rooms: tuple[tuple[str, int], ...]) -> None:
        """WELCOME: the broker's default room ("": none) and the rooms we are in."""
        default = default_room(default)
        self.default = room_key(default) if default else ""
        self.default_name = default
        self.names = {room_key(room): room for room, _ in rooms}
        if not self.default:
            self.names, self.current = {}, None
            return
        self._welcomed = True  # (WELCOME lists every room we are in, the default one too)
        if self.current not in self.names:
            self.current = self._fallback()

    def _fallback(self) -> str | None:
        if self.default in self.names:
            return self.default
        return next(iter(self.names), None)

    def key(self, room: str) -> str:
        """The key of an event's or a frame's room ("": the default room)."""
        return room_key(room) if room else self.default

    def name(self, key: str) -> str:
        if key == self.default:
            return self.default_name
        return self.names.get(key, key)

    def wire(self, key: str) -> str:
        """A room as SAY names it: nothing for the default room."""
        return "" if key == self.default else self.name(key)

    def where(self, room: str) -> str:
        """What a message of ``room`` is marked with: its name unless it is current."""
        if not self.enabled:
            return ""
        key = self.key(room)
        return "" if key == self.current else self.name(key)

    def notice_room(self, room: str, parted: bool = False) -> str:
        """The room a join or leave notice names: none for the default room, but a
        part of the default room names it."""
        if not self.enabled or (not parted and self.key(room) == self.default):
            return ""
        return self.name(self.key(room))

    def entered(self, room: str) -> None:
        """ENTERED: we are in ``room``, and talk there now."""
        key = room_key(room)
        self.names[key] = room
        self.current = key
        self.chosen = True

    def switch(self, key: str) -> None:
        self.current = key
        self.chosen = True

    def parted(self, room: str) -> None:
        """PARTED: leaving the current room makes the default one (or another) current."""
        key = room_key(room)
        self.names.pop(key, None)
        self.chosen = True
        if self.current == key:
            self.current = self._fallback()

    def prompt(self, name: str) -> str:
        """``name> `` as before rooms, until the user moved or is in other rooms."""
        if self.current is None or not (self.chosen or set(self.names) - {self.default}):
            return f"{name}> "
        return f"{name} {self.name(self.current)}> "
