"""Typed ZCHAT/1 messages: one frozen dataclass per command and direction."""

from dataclasses import dataclass
from typing import ClassVar

from . import constants as c


@dataclass(frozen=True, slots=True)
class Join:
    """Client asks to join as ``name``; ``token`` resumes a previous session."""

    command: ClassVar[str] = c.JOIN
    name: str
    token: str = ""


@dataclass(frozen=True, slots=True)
class Say:
    """Client sends a public message."""

    command: ClassVar[str] = c.SAY
    text: str


@dataclass(frozen=True, slots=True)
class Tell:
    """Client sends a private message to one user."""

    command: ClassVar[str] = c.TELL
    to: str
    text: str


@dataclass(frozen=True, slots=True)
class Who:
    command: ClassVar[str] = c.WHO


@dataclass(frozen=True, slots=True)
class Leave:
    command: ClassVar[str] = c.LEAVE


@dataclass(frozen=True, slots=True)
class Ping:
    """Heartbeat, sent by either side after one idle interval."""

    command: ClassVar[str] = c.PING


@dataclass(frozen=True, slots=True)
class Welcome:
    """Broker accepted a JOIN. ``session`` is the token for a later rejoin."""

    command: ClassVar[str] = c.WELCOME
    name: str
    session: str
    heartbeat: float
    users: tuple[str, ...] = ()
    server: str = ""
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class Msg:
    """A public message, delivered to everyone but its sender."""

    command: ClassVar[str] = c.MSG
    sender: str
    text: str
    ts: float


@dataclass(frozen=True, slots=True)
class Priv:
    """A private message, delivered to its target and echoed to its sender."""

    command: ClassVar[str] = c.PRIV
    sender: str
    to: str
    text: str
    ts: float


@dataclass(frozen=True, slots=True)
class Joined:
    command: ClassVar[str] = c.JOINED
    name: str
    ts: float


@dataclass(frozen=True, slots=True)
class Left:
    command: ClassVar[str] = c.LEFT
    name: str
    reason: str
    ts: float


@dataclass(frozen=True, slots=True)
class Users:
    command: ClassVar[str] = c.USERS
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Error:
    """A refusal. ``ref`` names what it is about (a user, a limit)."""

    command: ClassVar[str] = c.ERROR
    code: str
    detail: str = ""
    ref: str = ""


@dataclass(frozen=True, slots=True)
class Bye:
    """Broker ends the session: the client left, or the broker is stopping."""

    command: ClassVar[str] = c.BYE
    reason: str


ClientMessage = Join | Say | Tell | Who | Leave | Ping
BrokerMessage = Welcome | Msg | Priv | Joined | Left | Users | Error | Bye | Ping
Message = ClientMessage | BrokerMessage
