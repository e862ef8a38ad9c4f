"""The broker's logic, sans I/O: frames in, frames to send out.

`BrokerCore.handle(identity, frames, now)` decodes one inbound message,
updates the roster and returns the actions the server must carry out; `tick`
does heartbeats and expiry; `drop` and `shutdown` end sessions. It never
touches a socket or a clock, so it is tested with fake identities and times.
Every public event is encoded once, however many recipients it has.
"""

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zchat import __version__
from zchat.i18n import Catalogue
from zchat.protocol import (
    Bye,
    Error,
    Join,
    Joined,
    Leave,
    Left,
    Msg,
    Ping,
    Priv,
    ProtocolError,
    Say,
    Tell,
    Users,
    Welcome,
    Who,
    decode_client_frames,
    encode,
    name_problem,
)
from zchat.protocol import constants as c
from zchat.safetext import sanitize

from .roster import Roster, Session

log = logging.getLogger(__name__)

_PING = encode(Ping())


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``frame`` to one identity."""

    identity: bytes
    frame: bytes


@dataclass(frozen=True, slots=True)
class Fanout:
    """Send the same ``frame`` to every joined identity except ``exclude``."""

    frame: bytes
    exclude: bytes | None = None


Action = Send | Fanout


class BrokerCore:
    """Chat rules over a Roster. Returns actions; the server performs them."""

    def __init__(self, heartbeat: float, catalogue: Catalogue | None = None,
                 log_private_bodies: bool = False,
                 wall_clock: Callable[[], float] = time.time) -> None:
        """``now`` arguments are monotonic (liveness); events are stamped by ``wall_clock``."""
        self.heartbeat = heartbeat
        self._wall = wall_clock
        self.expiry = heartbeat * c.HEARTBEAT_LIVENESS
        self.roster = Roster()
        self._t = (catalogue or Catalogue("en")).t
        self._log_private_bodies = log_private_bodies
        self._next_tick = 0.0
        self._closing = False

    # ---- inbound -----------------------------------------------------------

    def handle(self, identity: bytes, frames: Sequence[bytes], now: float,
               peer: str = "") -> list[Action]:
        session = self.roster.by_identity(identity)
        if session is not None:
            session.last_seen = now
        try:
            msg = decode_client_frames(frames)
        except ProtocolError as exc:
            return self._refuse(identity, session, exc.code, exc.detail, exc.ref)
        match msg:
            case Ping():
                if session is None:
                    return self._refuse(identity, None, c.E_NOT_JOINED, "PING before JOIN")
                return []
            case Say(text):
                if session is None:
                    return self._refuse(identity, None, c.E_NOT_JOINED, "SAY before JOIN")
                return self._say(session, text)
            case Tell(to, text):
                if session is None:
                    return self._refuse(identity, None, c.E_NOT_JOINED, "TELL before JOIN")
                return self._tell(session, to, text)
            case Join(name, token):
                return self._join(identity, session, name, token, now, peer)
            case Who():
                if session is None:
                    return self._refuse(identity, None, c.E_NOT_JOINED, "WHO before JOIN")
                return [Send(identity, encode(Users(tuple(self.roster.names()))))]
            case Leave():
                if session is None:
                    return [Send(identity, encode(Bye(c.R_QUIT)))]
                return [Send(identity, encode(Bye(c.R_QUIT))), *self.drop(session, c.R_QUIT)]
        raise AssertionError(f"unhandled message {msg!r}")  # decode returns only the above

    def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                ref: str = "") -> list[Action]:
        who = session.name if session else identity.hex()
        log.info(self._t("log.refused", code=code, who=sanitize(who), detail=sanitize(detail)))
        return [Send(identity, encode(Error(code, detail, ref)))]

    def _join(self, identity: bytes, session: Session | None, name: str, token: str,
              now: float, peer: str) -> list[Action]:
        if session is not None:
            return self._refuse(identity, session, c.E_ALREADY_JOINED,
                                f"already joined as {session.name}", session.name)
        problem = name_problem(name)
        if problem is not None:
            return self._refuse(identity, None, c.E_BAD_NAME, problem, name)
        holder = self.roster.by_name(name)
        if holder is not None:
            if token and secrets.compare_digest(token.encode(), holder.token.encode()):
                # The same client on a new socket: its old one is stale. Replace it
                # quietly; for everyone else this user never left.
                self.roster.rebind(holder, identity, now, peer)
                log.info(self._t("log.rejoin", name=sanitize(holder.name), peer=peer or "?"))
                return [Send(identity, self._welcome(holder, resumed=True))]
            return self._refuse(identity, None, c.E_NAME_TAKEN, "name is taken", name)
        others = self.roster.names()
        if len(token) < c.MIN_TOKEN_CHARS:
            token = ""  # guessable: the roster makes a random one instead
        session = self.roster.add(name, identity, now, peer, token)
        log.info(self._t("log.join", name=sanitize(name), peer=peer or "?"))
        return [
            Send(identity, self._welcome(session, resumed=False, users=others)),
            Fanout(encode(Joined(name, self._wall())), exclude=identity),
        ]

    def _welcome(self, session: Session, resumed: bool,
                 users: list[str] | None = None) -> bytes:
        if users is None:
            users = [n for n in self.roster.names() if n != session.name]
        return encode(Welcome(session.name, session.token, self.heartbeat, tuple(users),
                              f"zchat/{__version__}", resumed))

    def _say(self, session: Session, text: str) -> list[Action]:
        if not text.strip():
            return self._refuse(session.identity, session, c.E_EMPTY, "empty message")
        if log.isEnabledFor(logging.INFO):
            log.info(self._t("log.public", name=sanitize(session.name), text=sanitize(text)))
        return [Fanout(encode(Msg(session.name, text, self._wall())), exclude=session.identity)]

    def _tell(self, session: Session, to: str, text: str) -> list[Action]:
        if name_problem(to) is not None or not text.strip():
            return self._refuse(session.identity, session, c.E_BAD_PRIVATE,
                                "usage: @name message", to)
        target = self.roster.by_name(to)
        if target is None:
            return self._refuse(session.identity, session, c.E_NO_SUCH_USER,
                                "no such user online", to)
        if self._log_private_bodies:
            log.info(self._t("log.private_body", name=sanitize(session.name),
                             to=sanitize(target.name), text=sanitize(text)))
        else:
            log.info(self._t("log.private", name=sanitize(session.name),
                             to=sanitize(target.name)))
        frame = encode(Priv(session.name, target.name, text, self._wall()))
        actions: list[Action] = [Send(target.identity, frame)]
        if target is not session:
            actions.append(Send(session.identity, frame))  # the sender's confirmation
        return actions

    # ---- sessions ending ----------------------------------------------------

    def drop(self, session: Session, reason: str) -> list[Action]:
        """End ``session`` and tell everyone else; used for quit, expiry and errors."""
        if self.roster.by_identity(session.identity) is not session:
            return []  # already gone
        self.roster.remove(session)
        if self._closing:
            return []  # everyone has been told BYE; a failed BYE changes nothing
        log.info(self._t("log.leave", name=sanitize(session.name),
                         reason=self._t(f"reason.{reason}")))
        return [Fanout(encode(Left(session.name, reason, self._wall())))]

    def drop_identity(self, identity: bytes, reason: str) -> list[Action]:
        session = self.roster.by_identity(identity)
        return self.drop(session, reason) if session is not None else []

    def shutdown(self) -> list[Action]:
        """Tell every client the broker is going away; no more LEFT notices after this."""
        self._closing = True
        actions: list[Action] = [Fanout(encode(Bye(c.R_SHUTDOWN)))]
        for session in self.roster.sessions():
            log.info(self._t("log.leave", name=sanitize(session.name),
                             reason=self._t("reason.shutdown")))
        return actions

    # ---- timers -------------------------------------------------------------

    def tick(self, now: float) -> list[Action]:
        """Heartbeat everyone and expire the silent, once per interval."""
        if now < self._next_tick:
            return []
        self._next_tick = now + self.heartbeat
        actions: list[Action] = []
        for session in self.roster.silent_since(now - self.expiry):
            actions.extend(self.drop(session, c.R_TIMEOUT))
        if len(self.roster):
            actions.append(Fanout(_PING))
        return actions

    def next_deadline(self) -> float:
        return self._next_tick
