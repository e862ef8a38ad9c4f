"""Turn broker events into the lines a person reads. Pure: returns strings.

Every name and text from the network passes through `sanitize` first, so no
control character or escape sequence from another user reaches the terminal.
Colour (ANSI SGR) is added only here, only when asked, and never inside
untrusted text.
"""

import time
import zlib
from collections.abc import Callable, Iterable

from zchat.common.i18n import Catalogue
from zchat.common.safetext import sanitize
from zchat.protocol import (
    Error,
    Event,
    Joined,
    Left,
    Moderated,
    Msg,
    Notice,
    Priv,
    RoomList,
    TopicSet,
    Unread,
    name_key,
    names,
)
from zchat.protocol import constants as c

from .reading import mentions

#: The reasons a name is refused (protocol/names.py) and the texts that say them.
_PROBLEMS = {names.P_EMPTY: "client.problem_empty", names.P_TOO_LONG: "client.problem_too_long",
             names.P_BAD_START: "client.problem_bad_start",
             names.P_BAD_CHARACTER: "client.problem_bad_character",
             names.P_NO_PREFIX: "client.problem_no_prefix"}

# Distinct, readable foreground colours for sender names.
_NAME_COLOURS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
_RESET = "\x1b[0m"
_PRIVATE = "\x1b[1;35m"
_NOTICE = "\x1b[2m"
_ERROR = "\x1b[1;31m"
_MENTION = "\x1b[1;33m"
# Service notices that mean something the user relies on does not work now.
_WARNINGS = frozenset({c.N_CLUSTER_DOWN})


def name_colour(name: str) -> int:
    """A stable colour for a name, the same in every session and process."""
    return _NAME_COLOURS[zlib.crc32(name.encode("utf-8")) % len(_NAME_COLOURS)]


class Renderer:
    """Formats events as `[HH:MM:SS] name: text` lines, in one language."""

    def __init__(self, catalogue: Catalogue, colour: bool = False,
                 localtime: Callable[[float], time.struct_time] = time.localtime) -> None:
        self.t = catalogue.t
        self.colour = colour
        self._localtime = localtime

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def _name(self, name: str) -> str:
        return self._paint(f"\x1b[{name_colour(name)}m", sanitize(name))

    def _stamp(self, ts: float, tag: str = "") -> str:
        """``[HH:MM:SS]``, then ``(missed)`` or ``(history)`` for events not seen live."""
        stamp = time.strftime("[%H:%M:%S]", self._localtime(ts))
        if tag:
            stamp += " " + self._paint(_NOTICE, self.t(f"client.tag_{tag}"))
        return stamp

    def event(self, event: Event, me: str, tag: str = "", where: str = "",
              room: str = "") -> str:
        """Any chat event: public, private, join or leave. ``where``: the name of a
        message's room when it is not the current one (shown after the time);
        ``room``: the name of a join's or leave's room when it is not the default one."""
        match event:
            case Msg():
                return self.public(event, tag, where, me)
            case Priv():
                return self.private(event, me, tag)
            case Joined():
                return self.joined(event, tag, room)
            case Left():
                return self.left(event, tag, room)
        raise TypeError(f"not an event: {event!r}")

    def _where(self, where: str) -> str:
        return f" {sanitize(where)}" if where else ""

    def public(self, msg: Msg, tag: str = "", where: str = "", me: str = "") -> str:
        """A room's message; one that names ``me`` (a mention) is highlighted, and
        tagged as one when there is no colour to show it."""
        text = sanitize(msg.text)
        if me and name_key(msg.sender) != name_key(me) and mentions(msg.text, me):
            text = self._paint(_MENTION, text)
            if not self.colour:
                tag = tag or "mention"
        return f"{self._stamp(msg.ts, tag)}{self._where(where)} {self._name(msg.sender)}: {text}"

    def new_line(self, room: str) -> str:
        """The line between what the user had read and what came since, in ``room``."""
        return self._paint(_MENTION, self.t("client.new_line", room=sanitize(room)))

    def unread(self, items: Iterable[Unread], name: Callable[[str], str]) -> str | None:
        """UNREAD as one line ("3 unread in #dev, 1 mention of you in #geral, 2 from
        bob"); ``name``: a room key's name as shown. None: nothing unread."""
        parts = []
        for item in items:
            count = f"{item.unread}+" if item.more else str(item.unread)
            if item.key.startswith(c.PEER_PREFIX):
                parts.append(self.t("client.unread_from", count=count,
                                    name=sanitize(item.key[1:])))
                continue
            room = sanitize(name(item.key))
            parts.append(self.t("client.unread_in", count=count, room=room))
            if item.mentions:
                parts.append(self.t("client.unread_mentions", count=item.mentions, room=room))
        return self.notice(", ".join(parts)) if parts else None

    def moderated(self, told: Moderated) -> str:
        """What an operator did, as a notice (untrusted names and reason sanitised)."""
        until = ""
        if told.until and told.op in (c.M_BAN, c.M_MUTE):
            when = time.strftime("%Y-%m-%d %H:%M", self._localtime(told.until))
            until = self.t("client.mod_until", time=when)
        reason = self.t("client.mod_reason", reason=sanitize(told.reason)) if told.reason else ""
        key = "client.mod_slow_off" if told.op == c.M_SLOW and not told.until \
            else f"client.mod_{told.op}"
        try:
            text = self.t(key, by=sanitize(told.by), name=sanitize(told.name),
                          room=sanitize(told.room), until=until, reason=reason,
                          seconds=int(told.until))
        except KeyError:  # an op this client does not know: said plainly
            text = f"{sanitize(told.by)}: {sanitize(told.op)} {sanitize(told.name)}"
        return self.notice(text)

    def dms(self, items: Iterable[Unread]) -> list[str]:
        """The answer to DMS: a heading, then one line per conversation."""
        listed = list(items)
        if not listed:
            return [self.notice(self.t("client.dms_none"))]
        lines = [self.notice(self.t("client.dms", count=len(listed)))]
        for item in listed:
            count = f"{item.unread}+" if item.more else str(item.unread)
            when = time.strftime("%H:%M", self._localtime(item.ts))
            lines.append(self.t("client.dm_line", name=sanitize(item.key[1:]), count=count,
                                time=when))
        return lines

    def own(self, name: str, text: str, ts: float, where: str = "") -> str:
        """The user's own message, echoed locally in terminal mode."""
        return f"{self._stamp(ts)}{self._where(where)} {self._name(name)}: {sanitize(text)}"

    def private(self, msg: Priv, me: str, tag: str = "") -> str:
        if name_key(msg.sender) == name_key(me) and name_key(msg.to) != name_key(me):
            label = self._paint(_PRIVATE, self.t("client.private_to", name=sanitize(msg.to)))
        else:
            label = self._paint(_PRIVATE,
                                self.t("client.private_from", name=sanitize(msg.sender)))
        return f"{self._stamp(msg.ts, tag)} {label}: {sanitize(msg.text)}"

    def joined(self, event: Joined, tag: str = "", room: str = "") -> str:
        name = sanitize(event.name)
        text = (self.t("client.joined_room", name=name, room=sanitize(room)) if room
                else self.t("client.joined", name=name))
        return self.notice(text, event.ts, tag)

    def left(self, event: Left, tag: str = "", room: str = "") -> str:
        """A leave: of one room (reason part: ``room`` names it) or of the chat."""
        name = sanitize(event.name)
        if event.reason == c.R_PART and room:
            return self.notice(self.t("client.left_room", name=name, room=sanitize(room)),
                               event.ts, tag)
        reason_key = f"reason.{event.reason}"
        try:
            reason = self.t(reason_key)
        except KeyError:
            reason = sanitize(event.reason)
        return self.notice(self.t("client.left", name=name, reason=reason), event.ts, tag)

    def notice(self, text: str, ts: float | None = None, tag: str = "") -> str:
        """A line from zchat itself (not from a user): set apart with '*'."""
        stamp = self._stamp(time.time() if ts is None else ts, tag)
        return self._paint(_NOTICE, f"{stamp} * {text}")

    def error(self, err: Error) -> str:
        key = f"error.{err.code}"
        detail = sanitize(err.detail)
        if err.code in (c.E_BAD_NAME, c.E_BAD_ROOM):
            detail = self._name_problem(detail)
        fields = {"ref": sanitize(err.ref), "detail": detail, "code": sanitize(err.code)}
        try:
            text = self.t(key, **fields)
        except KeyError:
            text = self.t("error.unknown", **fields)
        return self.problem(text)

    def _name_problem(self, detail: str) -> str:
        """Why a name was refused, in the user's words when it is one of the reasons
        the protocol names (protocol/names.py); the broker's own words otherwise."""
        if detail.startswith(names.P_INVISIBLE + " U+"):
            return self.t("client.problem_invisible", char=detail[len(names.P_INVISIBLE) + 1:])
        key = _PROBLEMS.get(detail)
        return self.t(key, max=c.MAX_NAME_CHARS) if key else detail

    def service_notice(self, notice: Notice) -> str | None:
        """A NOTICE about the broker's service: known codes in our own words (a
        degraded service as a problem), others by the broker's detail, which is
        untrusted text; an unknown code without detail is ignored."""
        try:
            text = self.t(f"notice.{notice.code}")
        except KeyError:
            if not notice.detail:
                return None
            return self.notice(sanitize(notice.detail))
        return self.problem(text) if notice.code in _WARNINGS else self.notice(text)

    def problem(self, text: str) -> str:
        """A local error or refusal, shown to this user only."""
        return self._paint(_ERROR, f"{self._stamp(time.time())} ! {text}")

    def users(self, names: Iterable[str], key: str = "client.who", total: int = 0) -> str:
        shown = [sanitize(n) for n in names]
        listed = ", ".join(shown)
        if total > len(shown):  # a WELCOME lists only some of a big room
            listed += self.t("client.and_more", count=total - len(shown))
        return self.notice(self.t(key, count=max(total, len(shown)), names=listed))

    def room_members(self, room: str, names: Iterable[str], total: int = 0) -> str:
        """Who is in ``room`` (an answer to /who #room, or on entering it)."""
        shown = [sanitize(n) for n in names]
        if not shown and total <= 0:
            return self.notice(self.t("client.room_alone", room=sanitize(room)))
        listed = ", ".join(shown)
        if total > len(shown):
            listed += self.t("client.and_more", count=total - len(shown))
        return self.notice(self.t("client.room_members", room=sanitize(room),
                                  count=max(total, len(shown)), names=listed))

    def topic(self, change: TopicSet) -> str:
        room, name = sanitize(change.room), sanitize(change.by)
        if not change.text:
            return self.notice(self.t("client.topic_cleared", name=name, room=room))
        return self.notice(self.t("client.topic_set", name=name, room=room,
                                  topic=sanitize(change.text)))

    def rooms(self, answer: RoomList) -> list[str]:
        """The ROOMS answer: a heading, then one line per room."""
        if not answer.rooms:
            return [self.notice(self.t("client.rooms_none"))]
        lines = [self.notice(self.t("client.rooms", count=len(answer.rooms)))]
        for info in answer.rooms:
            topic = f" - {sanitize(info.topic)}" if info.topic else ""
            lines.append(self.t("client.room_line", room=sanitize(info.name),
                                count=info.online, topic=topic))
        return lines
