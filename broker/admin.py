"""The admin socket's requests (`zchat broker --admin ipc://PATH`), each turned into core
calls and a reply.

Its one job: a request's frame in, the reply's frame and the actions to perform out.
Moderation (kick, ban, unban, mute, unmute) is `BrokerCore.moderate`, as "admin": its
actions are the core's own kind, and the server performs them as it does every other
(the store committed first, then the sends and drops) before it sends the reply, so a
reply that says done means done, and kept. Status, who, rooms and bans read the core.

It never touches a socket and blocks no more than the core's own calls do (SQLite; in a
cluster, Redis round trips). Requests are not rate limited like clients' (only the
broker's user can connect: adminpath.py) but each is bounded in size (admin_wire.py),
and the server reads a bounded number per turn of its loop.
"""

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from zchat.common import __version__
from zchat.protocol import Moderate, room_key, room_problem
from zchat.protocol import constants as c

from .actions import Action
from .admin_wire import (
    BANS,
    E_BAD_REQUEST,
    E_INTERNAL,
    ROOMS,
    STATUS,
    WHO,
    AdminRequest,
    AdminWireError,
    decode_request,
    encode_reply,
    failure,
)
from .core import BrokerCore
from .moderation import ADMIN
from .roster import Session
from .store import PARTED_DEFAULT, LinkDown, StoreError

log = logging.getLogger(__name__)

#: Seconds between samples of the store's last event number (status: the event rates).
SAMPLE_EVERY = 1.0
#: The windows, in seconds, status gives event rates over (the longest bounds the samples).
WINDOWS = (10, 60)
#: Rooms, and bans and mutes, listed in one reply (status counts them all).
MAX_LISTED = c.MAX_ROOMS_LISTED

Reply = dict[str, Any]


class Admin:
    """Answers the admin socket's requests about, and on behalf of, ``core``."""

    def __init__(self, core: BrokerCore, store: str, where: str,
                 wall: Callable[[], float] = time.time, now: float | None = None) -> None:
        """``store``: the kind of store (sqlite, memory, cluster), ``where`` it is (its
        directory, or the cluster's URL as shown); ``now`` (monotonic): when it started."""
        self.core = core
        self.store = store
        self.where = where
        self._wall = wall
        self.started = time.monotonic() if now is None else now
        self.started_at = wall()
        self._first = core.store.last_seq()
        #: (monotonic time, the store's last event number), one a SAMPLE_EVERY at most.
        self._samples: deque[tuple[float, int]] = deque(
            [(self.started, self._first)], maxlen=int(max(WINDOWS) / SAMPLE_EVERY) + 1)

    def sample(self, now: float) -> None:
        """The loop's timer: note how many events there are (at most once a second)."""
        if now - self._samples[-1][0] >= SAMPLE_EVERY:
            self._samples.append((now, self.core.store.last_seq()))

    def handle(self, frame: bytes, now: float) -> tuple[bytes, list[Action]]:
        """The reply to the request in ``frame`` and the actions to perform before it
        goes (StoreError passes: the broker cannot go on without its store)."""
        try:
            request = decode_request(frame)
        except AdminWireError as exc:
            return encode_reply(failure(E_BAD_REQUEST, str(exc))), []
        try:
            reply, actions = self._answer(request, now)
        except StoreError:
            raise
        except LinkDown:
            reply, actions = failure(c.E_UNAVAILABLE, "the cluster link is down: try again"), []
        except Exception:
            # A bug must not stop the chat, nor leave the command waiting.
            log.exception("unexpected error answering an admin %s", request.op)
            reply, actions = failure(E_INTERNAL, "the broker failed (its log says why)"), []
        return encode_reply(reply), actions

    def _answer(self, request: AdminRequest, now: float) -> tuple[Reply, list[Action]]:
        if request.op == STATUS:
            return self._status(now), []
        if request.op == WHO:
            return self._who(request.room, now), []
        if request.op == ROOMS:
            return self._rooms(), []
        if request.op == BANS:
            return self._bans(), []
        return self._moderate(request)  # (admin_wire.MODERATION: every other op)

    # ---- moderation -------------------------------------------------------------------

    def _moderate(self, request: AdminRequest) -> tuple[Reply, list[Action]]:
        ask = Moderate(request.op, request.name, request.room, request.seconds, request.reason)
        actions, problem = self.core.moderate(ask, ADMIN)
        if problem is not None:
            return failure(*problem), []
        log.info("admin socket: %s %s done", request.op, request.name)
        timed = request.seconds and request.op in (c.M_BAN, c.M_MUTE)
        return {"ok": True, "op": request.op, "name": request.name,
                "room": room_key(request.room) if request.room else "",
                "until": self._wall() + request.seconds if timed else 0}, actions

    def _bans(self) -> Reply:
        held = self.core.sanctions_held()
        return {"ok": True, "count": len(held), "sanctions": [
            {"op": c.M_MUTE if s.room else c.M_BAN, "name": s.name, "target": s.target,
             "room": s.room, "until": s.until, "by": s.by, "reason": s.reason}
            for s in held[:MAX_LISTED]]}

    # ---- what is going on -------------------------------------------------------------

    def _status(self, now: float) -> Reply:
        core = self.core
        backplane = core.backplane
        problems: list[str] = []
        cluster: dict[str, object] | None = None
        if backplane.shared:
            up = backplane.up and not core.link.island
            cluster = {"url": self.where, "up": up}
            if not up:
                problems.append("the cluster link is down: this broker serves its own "
                                "users only, and refuses new ones")
        chat: int | None
        rooms: int | None
        try:
            chat = backplane.count()
            rooms = len(backplane.rooms()) + 1 if core.rooms_on() else 0
        except LinkDown:
            chat = rooms = None  # (not known now)
        last = core.store.last_seq()
        return {
            "ok": True, "healthy": not problems, "problems": problems,
            "version": __version__, "pid": os.getpid(),
            "uptime": round(now - self.started, 1), "started": self.started_at,
            "users": {"here": len(core.roster), "chat": chat},
            "rooms": rooms,
            "events": {"since_start": last - self._first, **self._rates(now, last)},
            "store": {"kind": self.store, "where": self.where, "last_seq": last,
                      "epoch": core.store.epoch, "moderation": core.moderation is not None,
                      "search": core.index is not None},
            "cluster": cluster,
        }

    def _rates(self, now: float, last: int) -> dict[str, float]:
        """Events numbered per second over each of WINDOWS, from the samples."""
        rates: dict[str, float] = {}
        for window in WINDOWS:
            then, seq = next(((t, s) for t, s in self._samples if t >= now - window),
                             (now, last))
            rates[f"per_second_{window}s"] = round((last - seq) / (now - then), 2) \
                if now > then else 0.0
        return rates

    def _who(self, room: str, now: float) -> Reply:
        """Who is online (``room`` "") or in ``room``, across the chat; with an entry for
        each session on this broker (address, key, rooms, idle)."""
        core = self.core
        key = ""
        here: list[Session]
        partial = False
        if room:
            if not core.rooms_on():
                return failure(c.E_UNAVAILABLE, "this broker has no rooms", "rooms")
            problem = room_problem(room)
            if problem is not None:
                return failure(c.E_BAD_ROOM, problem, room)
            key = room_key(room)
            names = core._names_in(key)  # (the cluster's, or this broker's when cut off)
            here = [s for s in core.roster.sessions() if s.in_default] \
                if key == core.default_room else core.roster.members(key)
        else:
            try:
                names = core.backplane.names()
            except LinkDown:
                names, partial = core.roster.names(), True
            here = core.roster.sessions()
        sessions = [self._session(s, now) for s in sorted(here, key=lambda s: s.key)]
        return {"ok": True, "room": key, "names": names, "partial": partial,
                "sessions": sessions}

    def _session(self, session: Session, now: float) -> Reply:
        rooms = sorted(session.rooms)
        if session.in_default:
            rooms.insert(0, self.core.default_room)
        return {"name": session.name, "address": session.peer, "key": session.user,
                "operator": self.core.is_operator(session), "rooms": rooms,
                "idle": round(max(0.0, now - session.last_seen), 1)}

    def _rooms(self) -> Reply:
        core = self.core
        state = core.room_state
        if state is None:
            return failure(c.E_UNAVAILABLE, "this broker has no rooms", "rooms")
        backplane = core.backplane
        held = backplane.rooms()
        held[core.default_room] = backplane.count() - len(backplane.members(PARTED_DEFAULT))
        listed = sorted(held)[:MAX_LISTED]
        return {"ok": True, "count": len(held), "rooms": [
            {"room": key, "members": held[key], "topic": state.topic(key)} for key in listed]}

