"""What one line of user input means. Pure: no I/O, no sockets.

    text             a message to the current room
    @name text       private message (malformed forms go to the broker, which
                     answers with the error, so every client gets the same rules)
    /msg #room text  a message to another room, without switching to it
    /msg name text   the same as @name text
    /join #room      enter a room (or switch to it); /part [#room] leaves one
    /rooms           list the rooms; /topic text sets the current room's topic
    /who [#room|*]   the current room's members, another room's, or everyone online
    /history [#room|@name] [N]  N older messages of a room (default: the current one)
                     or of the private conversation with name
    /dms             the private conversations, most recent first, with unread counts
    /kick name [reason], /ban name [duration] [reason], /unban name,
    /mute name #room [duration], /unmute name #room, /slow #room seconds,
    /lock #room, /unlock #room   an operator's moderation (duration: 30s, 10m, 2h, 7d)
    /search words [from:name] [in:#room] [@name]  search what one may read
    /around N        the lines around result N of the last /search
    /help            the commands; /quit or `sair` (any case) leaves
    //text           a message that starts with '/'

A room may be typed without its '#' where only a room can be meant (/join sala,
/part sala).
Whether a name is a valid room is the caller's check (zchat.protocol.room_problem).
"""

from dataclasses import dataclass

from zchat.common import durations
from zchat.protocol.constants import (
    M_BAN,
    M_KICK,
    M_LOCK,
    M_MUTE,
    M_SLOW,
    M_UNBAN,
    M_UNLOCK,
    M_UNMUTE,
    MAX_HISTORY_PAGE,
    MAX_MOD_SECONDS,
    ROOM_PREFIX,
)

#: /who's argument for everyone online, whatever room one is in.
EVERYONE = "*"


@dataclass(frozen=True, slots=True)
class Public:
    """Text for the current room."""

    text: str


@dataclass(frozen=True, slots=True)
class Private:
    to: str
    text: str


@dataclass(frozen=True, slots=True)
class RoomSay:
    """Text for a named room (``/msg #room text``)."""

    room: str
    text: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class ListUsers:
    """``room``: "" the current room, EVERYONE everyone online, else that room."""

    room: str = ""


@dataclass(frozen=True, slots=True)
class EnterRoom:
    room: str


@dataclass(frozen=True, slots=True)
class PartRoom:
    """``room``: "" the current room."""

    room: str = ""


@dataclass(frozen=True, slots=True)
class ShowRooms:
    pass


@dataclass(frozen=True, slots=True)
class Topic:
    """Set the current room's topic."""

    text: str


@dataclass(frozen=True, slots=True)
class ScrollBack:
    """``/history``: older events of ``room`` ("" the current one) or of the private
    conversation with ``peer``, ``count`` of them (0: the broker's page)."""

    room: str = ""
    count: int = 0
    peer: str = ""


@dataclass(frozen=True, slots=True)
class Moderation:
    """An operator's command (``op``: a MOD op) on ``name`` and/or ``room``."""

    op: str
    name: str = ""
    room: str = ""
    seconds: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ShowDms:
    """``/dms``: the private conversations."""


@dataclass(frozen=True, slots=True)
class Find:
    """``/search``: messages with all of ``words``; from ``sender`` only, in ``room``
    only, or only the private ones with ``peer`` (each "" for any)."""

    words: str
    sender: str = ""
    room: str = ""
    peer: str = ""


@dataclass(frozen=True, slots=True)
class Around:
    """``/around N``: the lines around result ``number`` of the last search."""

    number: int


@dataclass(frozen=True, slots=True)
class ShowHelp:
    pass


@dataclass(frozen=True, slots=True)
class Nothing:
    pass


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    command: str


@dataclass(frozen=True, slots=True)
class Usage:
    """A known command typed without what it needs: show how it is used (``command``:
    "join", "msg" or "topic", the key of its usage text)."""

    command: str


Command = (Public | Private | RoomSay | Quit | ListUsers | EnterRoom | PartRoom | ShowRooms
           | Topic | ScrollBack | Find | Around | ShowHelp | Nothing | UnknownCommand | Usage
           | ShowDms | Moderation)

_QUIT_WORDS = frozenset({"sair", "/quit", "/sair", "/exit"})


def _room(word: str) -> str:
    return word if word.startswith(ROOM_PREFIX) else ROOM_PREFIX + word


def _split(stripped: str) -> tuple[str, str]:
    """The first word after the command, and the rest (stripped)."""
    parts = stripped.split(None, 1)
    rest = parts[1] if len(parts) > 1 else ""
    word, _, text = rest.partition(" ")
    return word, text.strip()


def parse_line(line: str) -> Command:
    """Turn one typed line (without its newline) into a command."""
    line = line.rstrip("\r\n")
    stripped = line.strip()
    if not stripped:
        return Nothing()
    lowered = stripped.casefold()
    if lowered in _QUIT_WORDS:
        return Quit()
    if stripped.startswith("//"):
        return Public(stripped[1:])
    if stripped.startswith("/"):
        return _slash(stripped, lowered.split()[0])
    if stripped.startswith("@"):
        target, _, text = stripped[1:].partition(" ")
        return Private(target, text.strip())
    return Public(line)


def _slash(stripped: str, word: str) -> Command:
    arg, text = _split(stripped)
    match word:
        case "/who" | "/quem":
            if arg == EVERYONE or arg.startswith(ROOM_PREFIX):
                return ListUsers(arg)
            return ListUsers()  # (other words after /who were always ignored)
        case "/help" | "/ajuda" | "/?":
            return ShowHelp()
        case "/join" | "/entrar":
            return EnterRoom(_room(arg)) if arg else Usage("join")
        case "/part" | "/deixar":
            return PartRoom(_room(arg) if arg else "")
        case "/rooms" | "/salas":
            return ShowRooms()
        case "/topic" | "/topico" | "/tópico":
            parts = stripped.split(None, 1)
            return Topic(parts[1].strip()) if len(parts) > 1 else Usage("topic")
        case "/history" | "/historico" | "/histórico":
            return _scroll_back(stripped.split()[1:])
        case "/dms" | "/conversas":
            return ShowDms()
        case "/kick" | "/expulsar" | "/ban" | "/banir" | "/unban" | "/desbanir" | "/mute" \
                | "/silenciar" | "/unmute" | "/slow" | "/lento" | "/lock" | "/travar" \
                | "/unlock" | "/destravar":
            return _moderation(_MOD_WORDS[word], stripped.split(None, 1)[1:])
        case "/search" | "/buscar" | "/procurar":
            return _find(stripped.split()[1:])
        case "/around" | "/contexto":
            if arg.isascii() and arg.isdigit() and not text and 0 < int(arg) <= 1000:
                return Around(int(arg))
            return Usage("around")
        case "/msg":
            if not arg or not text:
                return Usage("msg")
            if arg.startswith(ROOM_PREFIX):
                return RoomSay(arg, text)
            return Private(arg, text)
    return UnknownCommand(stripped.split()[0])


def _scroll_back(words: list[str]) -> Command:
    """``/history [#room|@name] [N]``, in either order; anything else: its usage."""
    room, count, peer = "", 0, ""
    for word in words:
        if word.startswith(ROOM_PREFIX) and not room and not peer:
            room = word
        elif word.startswith("@") and len(word) > 1 and not room and not peer:
            peer = word[1:]
        elif word.isascii() and word.isdigit() and not count and 0 < int(word) <= MAX_HISTORY_PAGE:
            count = int(word)
        else:
            return Usage("history")
    return ScrollBack(room, count, peer)


def _find(words: list[str]) -> Command:
    """``/search``'s words and filters: ``from:name``, ``in:#room`` (or ``in:room``)
    and ``@name``, each at most once; the other words are searched for."""
    found: dict[str, str] = {}
    rest = []
    for word in words:
        lowered = word.casefold()
        for prefix, field in (("from:", "sender"), ("de:", "sender"), ("in:", "room"),
                              ("em:", "room"), ("@", "peer")):
            if lowered.startswith(prefix) and len(word) > len(prefix):
                if field in found:
                    return Usage("search")
                value = word[len(prefix):]
                found[field] = _room(value) if field == "room" else value
                break
        else:
            rest.append(word)
    if not rest:
        return Usage("search")
    return Find(" ".join(rest), **found)


_MOD_WORDS = {"/kick": M_KICK, "/expulsar": M_KICK, "/ban": M_BAN, "/banir": M_BAN,
              "/unban": M_UNBAN, "/desbanir": M_UNBAN, "/mute": M_MUTE, "/silenciar": M_MUTE,
              "/unmute": M_UNMUTE, "/slow": M_SLOW, "/lento": M_SLOW, "/lock": M_LOCK,
              "/travar": M_LOCK, "/unlock": M_UNLOCK, "/destravar": M_UNLOCK}
def duration(word: str) -> int | None:
    """A ban's or mute's length as typed (``30m``, ``2h``, ``7d``, ``1h30m``; a unit is
    needed: a number alone is a reason's first word), within what MOD allows."""
    seconds = durations.duration(word, bare=False)
    return seconds if seconds is not None and seconds <= MAX_MOD_SECONDS else None


def _moderation(op: str, rest: list[str]) -> Command:
    """An operator's command: its name, room, duration and reason, as ``op`` takes them."""
    words = rest[0].split() if rest else []
    text = rest[0] if rest else ""
    if op in (M_SLOW, M_LOCK, M_UNLOCK):
        if not words or not words[0].startswith(ROOM_PREFIX):
            return Usage(op)
        if op != M_SLOW:
            return Moderation(op, room=words[0]) if len(words) == 1 else Usage(op)
        ok = len(words) == 2 and words[1].isascii() and words[1].isdigit()
        return Moderation(op, room=words[0], seconds=int(words[1])) if ok else Usage(op)
    if not words:
        return Usage(op)
    name, after = words[0].removeprefix("@"), text.split(None, 1)[1:]
    if op in (M_KICK, M_UNBAN):
        if op == M_UNBAN and after:
            return Usage(op)
        return Moderation(op, name, reason=after[0].strip() if after else "")
    if op == M_BAN:
        more = after[0].split(None, 1) if after else []
        seconds = duration(more[0]) if more else None
        reason = (more[1] if len(more) > 1 else "") if seconds is not None else \
            (after[0] if after else "")
        return Moderation(op, name, seconds=seconds or 0, reason=reason.strip())
    # mute, unmute: name #room [duration]
    if len(words) < 2 or not words[1].startswith(ROOM_PREFIX):
        return Usage(op)
    if op == M_UNMUTE:
        return Moderation(op, name, words[1]) if len(words) == 2 else Usage(op)
    seconds = duration(words[2]) if len(words) == 3 else 0 if len(words) == 2 else None
    return Moderation(op, name, words[1], seconds) if seconds is not None else Usage(op)
