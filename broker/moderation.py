"""Moderation (issue 19): operators kick, ban, mute, slow a room down and lock its
topic; the local admin command does the same as "admin".

Operators are CURVE keys (`--operators DIR`, NAME.key files that also pin NAME):
nobody is one unless named, and without CURVE there are none in the chat. What
they do is kept by the store (`ModerationState`: bans and mutes with their end,
rooms' rules), so it survives restarts; every action is a line in the audit
log (who, what, to whom, why, when) and in the broker's log.

A ban is of the name's CURVE key when the name is bound to one (its owner, or
the key of the session holding it), else of the name; it ends the target's
session if it is on, and refuses its JOINs until it ends. A mute refuses the
target's SAYs in one room; a slow mode lets each member say one message per
interval in a room (operators are exempt from both); a locked topic is changed
by operators only. Everyone affected is told (MODERATED); so are the others who
see it happen: the members of the rooms concerned.

The checks on the message path cost nothing while no room has rules and no one
is muted: the core keeps those in memory (loaded at start, changed here).

A part of BrokerCore (core.py), like rooms.py.
"""

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zchat.common.safetext import sanitize
from zchat.protocol import (
    Bye,
    Moderate,
    Moderated,
    encode,
    name_key,
    name_problem,
    room_key,
    room_problem,
)
from zchat.protocol import constants as c

from .actions import Send
from .store import LinkDown, ModerationState, Sanction

if TYPE_CHECKING:
    from .actions import Action
    from .admission import Admission
    from .backplane import Backplane
    from .roster import Roster, Session

log = logging.getLogger(__name__)

#: The actor name of the local admin command.
ADMIN = "admin"
#: Sanctions held at most (bans and mutes together): past it the soonest to end give way.
MAX_SANCTIONS = 100_000

#: A refusal: (error code, detail, ref).
Problem = tuple[str, str, str]


def target_keys(name: str, user: str = "", owner: str | None = None) -> list[str]:
    """What a sanction of ``name`` may be held under: its name, its owner key, the key
    of the session holding it."""
    keys = ["n:" + name_key(name)]
    keys += [f"k:{key}" for key in dict.fromkeys((owner or "", user)) if key]
    return keys


class ModerationRules:
    """MOD, and the checks of bans, mutes, slow mode and locked topics."""

    if TYPE_CHECKING:  # what it uses of BrokerCore (core.py) and RoomRules (rooms.py)
        roster: Roster
        backplane: Backplane
        admission: Admission
        default_room: str
        moderation: ModerationState | None
        operators: set[str]
        _audit: Callable[[dict[str, object]], None]
        _wall: Callable[[], float]
        _mutes: dict[str, dict[str, Sanction]]
        _bans: dict[str, Sanction]
        _room_rules: dict[str, tuple[int, bool]]
        _said_at: dict[tuple[str, str], float]

        def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                    ref: str = "", cid: int = 0) -> list[Action]: ...
        def drop(self, session: Session, reason: str) -> list[Action]: ...

    def load_moderation(self) -> None:
        """Bans, mutes and rooms' rules into memory, at start: JOINs and the message path
        read them there (and read no clock while there are none). Those that ended go
        at the next tick."""
        state = self.moderation
        if state is None:
            return
        for held in state.sanctions(0.0, MAX_SANCTIONS):
            if held.room:
                self._mutes.setdefault(held.room, {})[held.target] = held
            else:
                self._bans[held.target] = held
        self._room_rules.update(state.rules())

    def expire_moderation(self, now: float) -> None:
        """At a tick: what ended goes (sanctions past their end, old slow-mode times)."""
        if self._said_at:
            for pair in [p for p, said in self._said_at.items()
                         if now - said >= c.MAX_SLOW_SECONDS]:
                del self._said_at[pair]
        if not (self._mutes or self._bans) or self.moderation is None:
            return
        wall = self._wall()
        for key in [key for key, held in self._bans.items() if not held.live(wall)]:
            del self._bans[key]
        for room, mutes in list(self._mutes.items()):
            for key in [key for key, held in mutes.items() if not held.live(wall)]:
                del mutes[key]
            if not mutes:
                del self._mutes[room]
        self.moderation.expire(wall)

    def sanctions_held(self) -> list[Sanction]:
        """The live bans and mutes, the soonest to end first (for the admin command)."""
        wall = self._wall()
        held = [*self._bans.values(), *(s for mutes in self._mutes.values()
                                        for s in mutes.values())]
        return sorted((s for s in held if s.live(wall)), key=lambda s: (not s.until, s.until))

    def is_operator(self, session: "Session") -> bool:
        return bool(session.user) and session.user in self.operators

    # ---- the checks -------------------------------------------------------------------

    def banned(self, name: str, user: str, owner: str | None) -> Sanction | None:
        """The live ban of a JOIN's name or key, if any."""
        if not self._bans:
            return None
        for key in target_keys(name, user, owner):
            held = self._bans.get(key)
            if held is not None and held.live(self._wall()):
                return held
        return None

    def say_refused(self, session: "Session", room: str, now: float) -> Problem | None:
        """Whether a SAY in ``room`` (a key) is refused: muted there, or sooner than
        its slow mode allows. (Called only while some room has rules or mutes.)"""
        if self.is_operator(session):
            return None
        mutes = self._mutes.get(room)
        if mutes:
            wall = self._wall()
            for key in target_keys(session.name, session.user):
                held = mutes.get(key)
                if held is not None and held.live(wall):
                    return c.E_MUTED, f"you are muted in {room}", room
        slow = self._room_rules.get(room, (0, False))[0]
        if slow:
            said = self._said_at.get((session.stream, room))
            if said is not None and now - said < slow:
                wait = max(1, round(slow - (now - said)))
                return c.E_SLOW_MODE, f"slow mode: one message every {slow} s", str(wait)
            self._said_at[(session.stream, room)] = now
        return None

    def topic_locked(self, session: "Session", room: str) -> bool:
        return self._room_rules.get(room, (0, False))[1] and not self.is_operator(session)

    # ---- MOD ----------------------------------------------------------------------------

    def _moderate(self, session: "Session", ask: Moderate) -> "list[Action]":
        if not self.is_operator(session):
            return self._refuse(session.identity, session, c.E_NOT_OPERATOR,
                                "only operators may do this", ask.op)
        actions, problem = self.moderate(ask, session.name, session)
        if problem is not None:
            return self._refuse(session.identity, session, *problem)
        return actions

    def moderate(self, ask: Moderate, by: str, actor: "Session | None" = None
                 ) -> "tuple[list[Action], Problem | None]":
        """Carry out ``ask`` for ``by`` (an operator's name, or ADMIN): the actions, or
        why not. The store is changed here; what follows (this broker's mirrors, who is
        told, sessions ended) at once alone, and in a cluster on every broker when the
        room log brings the record back (`moderation_arrived`)."""
        state = self.moderation
        if state is None:
            return [], (c.E_UNAVAILABLE, "this broker keeps no moderation state",
                        "moderation")
        try:
            record = self._decided(state, ask, by)
            if isinstance(record, tuple):
                return [], record
            if self.backplane.shared:
                self.backplane.share_moderation(json.dumps(record), record["room"], by)
                return [], None
        except LinkDown:
            return [], (c.E_UNAVAILABLE, "the cluster link is down: try again", ask.name)
        return self._applied(record, actor), None

    def moderation_arrived(self, record: str) -> "list[Action]":
        """A moderation record the room log brought (a cluster): applied here."""
        try:
            told = json.loads(record)
        except ValueError:
            return []
        if not isinstance(told, dict) or told.get("op") not in c.MOD_OPS:
            return []
        return self._applied(told, self.roster.by_name(str(told.get("by", ""))))

    def _decided(self, state: ModerationState, ask: Moderate, by: str
                 ) -> "dict[str, Any] | Problem":
        """Check ``ask``, change the store, audit it: the record of what was done (for
        `_applied`), or why not. Raises LinkDown."""
        room = ""
        if ask.op in (c.M_MUTE, c.M_UNMUTE, c.M_SLOW, c.M_LOCK, c.M_UNLOCK):
            if (problem := room_problem(ask.room)) is not None:
                return c.E_BAD_ROOM, problem, ask.room
            room = room_key(ask.room)
        now = self._wall()
        record: dict[str, Any] = {"op": ask.op, "by": by, "name": "", "room": room,
                                  "reason": ask.reason, "until": 0.0, "keys": []}
        if ask.op in (c.M_SLOW, c.M_LOCK, c.M_UNLOCK):
            slow, locked = state.rules().get(room, (0, False))
            if ask.op == c.M_SLOW:
                slow = min(ask.seconds, c.MAX_SLOW_SECONDS)
            else:
                locked = ask.op == c.M_LOCK
            state.set_rules(room, slow, locked)
            record.update(until=float(slow), slow=slow, locked=locked)
        else:
            if (problem := name_problem(ask.name)) is not None:
                return c.E_BAD_NAME, problem, ask.name
            here = self.roster.by_name(ask.name)
            located = (here.name, "") if here is not None else self.backplane.locate(ask.name)
            owner = self.admission.owners.owner(name_key(ask.name))
            keys = target_keys(ask.name, here.user if here else "", owner)
            shown = located[0] if located is not None else ask.name
            until = now + ask.seconds if ask.seconds else 0.0
            record.update(name=shown, until=until, keys=keys)
            if ask.op == c.M_KICK and located is None:
                return c.E_NO_SUCH_USER, "no such user online", ask.name
            if ask.op in (c.M_BAN, c.M_MUTE):  # (held as its key when it has one)
                state.sanction(Sanction(keys[-1], room, until, by, ask.reason, shown))
            elif ask.op in (c.M_UNBAN, c.M_UNMUTE):
                lifted = [key for key in keys if state.lift(key, room)]
                if ask.op == c.M_UNBAN and not lifted and not any(k in self._bans for k in keys):
                    return c.E_NO_SUCH_USER, "no ban of that user", ask.name
        self._audit({"ts": now, "by": by, "op": ask.op, "name": record["name"], "room": room,
                     "seconds": ask.seconds, "reason": ask.reason})
        log.warning("moderation: %s %s %s%s%s", sanitize(by), ask.op, sanitize(record["name"]),
                    f" in {room}" if room else "",
                    f": {sanitize(ask.reason)}" if ask.reason else "")
        return record

    def _applied(self, record: "dict[str, Any]", actor: "Session | None") -> "list[Action]":
        """What a decided action does on this broker: its mirrors, who is told here, and
        the target's session ended if it is here."""
        op, room, name = str(record["op"]), str(record.get("room", "")), str(record["name"])
        until = float(record.get("until") or 0.0)
        told = Moderated(op, str(record["by"]), name, room, str(record.get("reason", "")),
                         until)
        if op in (c.M_SLOW, c.M_LOCK, c.M_UNLOCK):
            slow, locked = int(record.get("slow", 0)), bool(record.get("locked", False))
            if slow or locked:
                self._room_rules[room] = (slow, locked)
            else:
                self._room_rules.pop(room, None)
            return self._notify([actor, *self._members(room)], told)
        keys = [str(key) for key in record.get("keys", ())]
        target = self.roster.by_name(name)
        if op in (c.M_BAN, c.M_MUTE) and keys:
            held = Sanction(keys[-1], room, until, told.by, told.reason, name)
            if op == c.M_BAN:
                self._bans[keys[-1]] = held
            else:
                self._mutes.setdefault(room, {})[keys[-1]] = held
        elif op == c.M_UNBAN:
            for key in keys:
                self._bans.pop(key, None)
        elif op == c.M_UNMUTE:
            mutes = self._mutes.get(room, {})
            for key in keys:
                mutes.pop(key, None)
            if not mutes:
                self._mutes.pop(room, None)
        if op in (c.M_KICK, c.M_BAN):
            if target is not None:
                return self._ended(target, told, c.R_KICKED if op == c.M_KICK else c.R_BANNED,
                                   actor)
            return self._notify([actor], told)
        if op == c.M_UNBAN:
            return self._notify([actor], told)
        return self._notify([actor, target, *self._members(room)], told)

    def _ended(self, target: "Session", told: Moderated, reason: str,
               actor: "Session | None") -> "list[Action]":
        """Tell those who see ``target`` what happened, then end its session."""
        rooms = set(target.rooms) | ({self.default_room} if target.in_default else set())
        seen = [member for room in rooms for member in self._members(room)]
        return [*self._notify([actor, *seen], told),
                Send(target.identity, encode(Bye(reason))), *self.drop(target, reason)]

    def _members(self, room: str) -> "list[Session]":
        if room == self.default_room:
            return [s for s in self.roster.sessions() if s.in_default]
        return list(self.roster.members(room))

    @staticmethod
    def _notify(sessions: "list[Session | None]", told: Moderated) -> "list[Action]":
        frame = encode(told)
        seen: set[bytes] = set()
        actions: list[Action] = []
        for session in sessions:
            if session is not None and session.identity not in seen:
                seen.add(session.identity)
                actions.append(Send(session.identity, frame))
        return actions


def moderation_state_of(store: object) -> ModerationState | None:
    """The store's moderation state, if it keeps one."""
    return store if isinstance(store, ModerationState) else None
