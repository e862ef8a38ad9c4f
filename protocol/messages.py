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
    #: True when the client has seen this chat before and will FETCH what it
    #: missed; False asks for the recent public history instead.
    resume: bool = False
    #: True when the client takes ACKS: consecutive ACKs to it in one frame.
    acks: bool = False


@dataclass(frozen=True, slots=True)
class Say:
    """Client sends a public message."""

    command: ClassVar[str] = c.SAY
    text: str
    #: Client message id, increasing per session token; the ACK names it.
    cid: int = 0
    #: Set when resending after a reconnect, so the broker checks for a duplicate.
    retry: bool = False
    #: The room to say it in ("": the default room).
    room: str = ""


@dataclass(frozen=True, slots=True)
class Tell:
    """Client sends a private message to one user."""

    command: ClassVar[str] = c.TELL
    to: str
    text: str
    cid: int = 0
    retry: bool = False


@dataclass(frozen=True, slots=True)
class Who:
    """Client asks who is online, or (``room``) who is in a room."""

    command: ClassVar[str] = c.WHO
    room: str = ""


@dataclass(frozen=True, slots=True)
class Fetch:
    """Client asks for the events after its cursors (public, private)."""

    command: ClassVar[str] = c.FETCH
    pub: int
    priv: int
    limit: int = c.MAX_FETCH
    #: Rooms other than the default one: (room, cursor) pairs.
    rooms: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Leave:
    command: ClassVar[str] = c.LEAVE


@dataclass(frozen=True, slots=True)
class Ping:
    """Heartbeat. From the broker it carries the public head (and, to one
    client, its private head) so a client that lost events notices."""

    command: ClassVar[str] = c.PING
    pub: int | None = None
    priv: int | None = None
    #: To one lagging client: the heads of its rooms other than the default one.
    rooms: tuple[tuple[str, int], ...] = ()


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
    #: The last public event and the last private event of this user.
    pub: int = 0
    priv: int = 0
    #: Identifies the history store; a new epoch means the old cursors are void.
    epoch: str = ""
    #: The flood limits the broker applies to this client (0: none announced).
    rate: float = 0.0
    burst: int = 0
    byte_rate: float = 0.0
    byte_burst: int = 0
    #: How many others are online; ``users`` lists at most WELCOME_USERS of them.
    online: int = 0
    #: "pub": public events come on a feed (SUB to one of ``feeds``), not this socket.
    fanout: str = c.FANOUT_ROUTER
    #: Feed endpoints; "tcp://*:PORT" means that port on the host the client dialled.
    feeds: tuple[str, ...] = ()
    #: Rooms (docs/ROOMS.md): the default room's name ("": a broker without rooms), the
    #: rooms this session is in with their heads, and how many it may be in.
    room: str = ""
    rooms: tuple[tuple[str, int], ...] = ()
    max_rooms: int = 0


@dataclass(frozen=True, slots=True)
class Msg:
    """A public message, delivered to everyone but its sender."""

    command: ClassVar[str] = c.MSG
    sender: str
    text: str
    ts: float
    seq: int = 0
    #: The previous event of the same stream (its room), for gap detection.
    prev: int = 0
    #: The room ("": the default room, the public stream).
    room: str = ""


@dataclass(frozen=True, slots=True)
class Priv:
    """A private message, delivered to its target and echoed to its sender."""

    command: ClassVar[str] = c.PRIV
    sender: str
    to: str
    text: str
    ts: float
    seq: int = 0
    #: The previous private event of the recipient this copy is for.
    prev: int = 0


@dataclass(frozen=True, slots=True)
class Joined:
    command: ClassVar[str] = c.JOINED
    name: str
    ts: float
    seq: int = 0
    prev: int = 0
    room: str = ""


@dataclass(frozen=True, slots=True)
class Left:
    command: ClassVar[str] = c.LEFT
    name: str
    reason: str
    ts: float
    seq: int = 0
    prev: int = 0
    room: str = ""


@dataclass(frozen=True, slots=True)
class Users:
    command: ClassVar[str] = c.USERS
    names: tuple[str, ...]
    #: The room these are the members of ("": everyone online).
    room: str = ""


@dataclass(frozen=True, slots=True)
class Error:
    """A refusal. ``ref`` names what it is about (a user, a limit)."""

    command: ClassVar[str] = c.ERROR
    code: str
    detail: str = ""
    ref: str = ""
    #: The client message id of a refused SAY or TELL (0 otherwise).
    cid: int = 0


@dataclass(frozen=True, slots=True)
class Ack:
    """The message ``cid`` is stored as event ``seq``: it will not be lost."""

    command: ClassVar[str] = c.ACK
    cid: int
    seq: int
    #: For SAY: the previous event of its room, so the sender can move its cursor
    #: past its own message (which it is not sent).
    prev: int = 0
    #: The SAY's room ("": the default room, or a TELL).
    room: str = ""


@dataclass(frozen=True, slots=True)
class Acks:
    """Consecutive ACKs for one client (which asked for them in JOIN), in order: the
    same as that many ACK frames."""

    command: ClassVar[str] = c.ACKS
    acks: tuple[Ack, ...]


Event = Msg | Priv | Joined | Left


@dataclass(frozen=True, slots=True)
class Events:
    """A batch of stored events: ``history`` for a newcomer, ``replay`` for FETCH.

    ``more`` says a FETCH should continue from the last event; ``lost`` is how
    many sequence numbers before the first event are no longer in history.
    """

    command: ClassVar[str] = c.EVENTS
    kind: str
    events: tuple[Event, ...]
    more: bool = False
    lost: int = 0
    #: A ``history`` page's room ("": the default room).
    room: str = ""


@dataclass(frozen=True, slots=True)
class Bye:
    """Broker ends the session: the client left, or the broker is stopping."""

    command: ClassVar[str] = c.BYE
    reason: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Broker tells its users about its service (``code``: N_CLUSTER_DOWN, N_CLUSTER_UP).

    Clients show known codes in their own words and MUST ignore unknown ones.
    """

    command: ClassVar[str] = c.NOTICE
    code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Enter:
    """Client enters a room, creating it if it does not exist."""

    command: ClassVar[str] = c.ENTER
    room: str


@dataclass(frozen=True, slots=True)
class Part:
    """Client leaves a room."""

    command: ClassVar[str] = c.PART
    room: str


@dataclass(frozen=True, slots=True)
class ListRooms:
    """Client asks for the list of rooms."""

    command: ClassVar[str] = c.ROOMS


@dataclass(frozen=True, slots=True)
class SetTopic:
    """Client sets a room's topic ("" clears it)."""

    command: ClassVar[str] = c.TOPIC
    room: str
    text: str


@dataclass(frozen=True, slots=True)
class History:
    """Client asks for a page of a room's stream (issue 18), or (``peer``, with
    ``room`` "") of its private conversation with one user: the latest ``limit``
    events, or those before, after or around a ``seq``; at most one of the three."""

    command: ClassVar[str] = c.HISTORY
    room: str
    before: int | None = None
    after: int | None = None
    around: int | None = None
    limit: int = c.MAX_HISTORY_PAGE
    peer: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """Client: the user has read up to these events (issue 18). ``read``: (key, seq)
    pairs, a key being a room ("#sala", the default room by its name) or a private
    conversation ("@bob"). No answer."""

    command: ClassVar[str] = c.MARK
    read: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Moderate:
    """An operator acts (issue 19): ``op`` one of MOD_OPS on the user ``name`` (kick,
    ban, unban; mute and unmute in ``room``) or on ``room`` (slow, lock, unlock);
    ``seconds``: a ban's or mute's length (0: until lifted), a slow mode's interval."""

    command: ClassVar[str] = c.MOD
    op: str
    name: str = ""
    room: str = ""
    seconds: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Moderated:
    """Broker: what an operator (``by``) did, to those it concerns; ``until``: when a
    ban or mute ends (a wall-clock time, 0: when lifted), or a slow mode's interval."""

    command: ClassVar[str] = c.MODERATED
    op: str
    by: str
    name: str = ""
    room: str = ""
    reason: str = ""
    until: float = 0.0


@dataclass(frozen=True, slots=True)
class ListDms:
    """Client asks for its private conversations, most recent first."""

    command: ClassVar[str] = c.DMS


@dataclass(frozen=True, slots=True)
class Unread:
    """One line of an UNREAD or DMS answer (not a message of its own): a room or a
    conversation (``key``: "#sala" or "@bob"), the last event the user read in it,
    how many messages came after it (at most MAX_UNREAD_COUNTED; ``more``: and more),
    how many of those name the user; and in a DMS answer, its last event and when."""

    key: str
    read: int = 0
    unread: int = 0
    mentions: int = 0
    more: bool = False
    last: int = 0
    ts: float = 0.0


@dataclass(frozen=True, slots=True)
class UnreadList:
    """Broker: after WELCOME, what the user has not read: the rooms and conversations
    with unread messages."""

    command: ClassVar[str] = c.UNREAD
    items: tuple[Unread, ...]


@dataclass(frozen=True, slots=True)
class DmList:
    """Broker: the answer to DMS, the user's conversations, most recent first."""

    command: ClassVar[str] = c.DMS
    items: tuple[Unread, ...]


@dataclass(frozen=True, slots=True)
class Search:
    """Client searches what it may read (issue 18): messages with all of ``words``,
    optionally ``sender``'s only, in one ``room`` only, or only the private ones with
    the user ``peer``; older than ``before`` to page on."""

    command: ClassVar[str] = c.SEARCH
    words: str
    sender: str = ""
    room: str = ""
    peer: str = ""
    before: int | None = None
    limit: int = c.DEFAULT_SEARCH_HITS


@dataclass(frozen=True, slots=True)
class Entered:
    """Broker: the client is in ``room``, whose head (counting its JOINED) is ``head``."""

    command: ClassVar[str] = c.ENTERED
    room: str
    head: int
    topic: str = ""
    #: Other members, at most WELCOME_USERS of them; ``online``: how many in all.
    users: tuple[str, ...] = ()
    online: int = 0


@dataclass(frozen=True, slots=True)
class Parted:
    """Broker: the client is no longer in ``room``."""

    command: ClassVar[str] = c.PARTED
    room: str


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """One line of a ROOMS answer (not a message of its own)."""

    name: str
    online: int
    topic: str = ""


@dataclass(frozen=True, slots=True)
class RoomList:
    """Broker: the rooms, sorted by name."""

    command: ClassVar[str] = c.ROOMS
    rooms: tuple[RoomInfo, ...]


@dataclass(frozen=True, slots=True)
class TopicSet:
    """Broker: ``by`` set ``room``'s topic to ``text``."""

    command: ClassVar[str] = c.TOPIC
    room: str
    text: str
    by: str


ClientMessage = (Join | Say | Tell | Who | Fetch | Leave | Ping | Enter | Part | ListRooms
                 | SetTopic | History | Search | Mark | ListDms | Moderate)
BrokerMessage = (Welcome | Msg | Priv | Joined | Left | Users | Error | Ack | Acks | Events | Bye
                 | Ping | Notice | Entered | Parted | RoomList | TopicSet | UnreadList
                 | DmList | Moderated)
Message = ClientMessage | BrokerMessage
