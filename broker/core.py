"""The chat rules: frames in, actions out.

`BrokerCore.handle(identity, frames, now)` decodes one inbound message,
updates the roster and the history store and returns the actions the server
must carry out (actions.py; the batcher decides when they go); `tick` does
heartbeats and expiry; `drop` and `shutdown` end sessions. It asks, beside it:
admission.py who may hold which name and what a token opens, flood.py what a
peer may spend, pages.py for FETCH answers and history; delivery.py makes the
actions that show an event, and clustered.py (with link.py's state) does a
cluster's numbering, delivery from the shared log and outages.

What it does and does not do: it never touches a socket, and reads no clock
of its own (the time comes in as ``now``; events are stamped by an injected
wall clock; pages are timed by an injected work clock) and makes its tokens
with an injected source, so it is tested with fake identities, clocks and
tokens. It does call its store, its owners and its backplane (store.py,
backplane.py: three narrow interfaces, one object for all three in a cluster),
which block (SQLite; in a cluster, Redis round trips) and can fail (StoreError,
LinkDown, as each interface declares), and it logs
what the operator's log must say (joins, leaves, messages, refusals) in the
broker's language.

Every chat event (public, private, join, leave) gets the next sequence number
and is appended to the store; the server commits the store before it performs
any action, so nothing is delivered or acknowledged that a crash could lose.
Each delivery names the previous event of its reader's stream (`prev`): the
public stream for everyone, or one user's private stream, so a client sees
any gap and fetches what it missed. Public events are encoded once, however
many recipients they have.
"""

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from zchat.common import __version__
from zchat.common.i18n import Catalogue
from zchat.common.safetext import sanitize
from zchat.protocol import (
    Bye,
    Enter,
    Error,
    Events,
    Fetch,
    History,
    Join,
    Leave,
    ListDms,
    ListRooms,
    Mark,
    Moderate,
    Part,
    Ping,
    ProtocolError,
    Say,
    Search,
    SetTopic,
    Tell,
    Users,
    Welcome,
    Who,
    decode_client_frames,
    encode,
    encode_ack,
    is_blank,
    name_key,
    name_problem,
    room_key,
    room_problem,
)
from zchat.protocol import constants as c
from zchat.protocol.rate import TokenBucket

from .actions import (
    Ack,
    Action,
    Broadcast,
    Opening,
    Send,
)
from .admission import Admission
from .backplane import RESUMED, TAKEN, Backplane, LocalBackplane
from .cluster_index import shared_index
from .clustered import ClusterSide
from .delivery import Delivery
from .finding import INDEX_BURST, INDEX_SHARE, SEARCH_SHARE, SEARCH_SLICE, SearchRules, _Queued
from .flood import Budgets, Limits, replies_left
from .link import ClusterLink
from .moderation import ModerationRules, moderation_state_of
from .pages import Pages
from .reading import ReadRules, read_state_of
from .rooms import RoomRules, room_state_of
from .roster import Roster, Session
from .scrollback import ScrollBack
from .store import (
    PUBLIC,
    HistoryStore,
    LinkDown,
    MemoryStore,
    Ownership,
    Sanction,
    StoredEvent,
    stream_key,
)
from .texts import broker_catalogue, positional
from .throttle import Throttle

if TYPE_CHECKING:
    from .search import SearchIndex

log = logging.getLogger(__name__)

# Commands that cost tokens from a client's buckets.
# (Room commands cost one message each, like a WHO.)
_RATED = frozenset({Say, Tell, Who, Fetch, Enter, Part, ListRooms, SetTopic, History, Search,
                    Mark, ListDms, Moderate})
#: What most frames are with everyone idle (a PING with fields goes the long way).
_BARE_PING = [encode(Ping())]
__all__ = ["Action", "BrokerCore", "Limits"]  # (Limits: flood.py; the CLI builds it here)


class BrokerCore(RoomRules, ScrollBack, SearchRules, ReadRules, ModerationRules):
    """Chat rules over a Roster, a HistoryStore, an Ownership and a Backplane.
    Returns actions; the server performs them. Rooms other than the default one:
    rooms.py."""

    def __init__(self, heartbeat: float, catalogue: Catalogue | None = None,
                 log_private_bodies: bool = False,
                 wall_clock: Callable[[], float] = time.time,
                 store: HistoryStore | None = None,
                 history: int = c.DEFAULT_HISTORY,
                 limits: Limits | None = None,
                 journal: Callable[[str], None] | None = None,
                 backplane: Backplane | None = None,
                 work_clock: Callable[[], float] = time.perf_counter,
                 tokens: Callable[[], str] = lambda: secrets.token_hex(16),
                 owners: Ownership | None = None,
                 default_room: str = c.DEFAULT_ROOM,
                 max_rooms: int = c.DEFAULT_MAX_ROOMS,
                 index: "SearchIndex | None" = None,
                 operators: set[str] | None = None,
                 audit: Callable[[dict[str, object]], None] | None = None) -> None:
        """``now`` arguments are monotonic (liveness); events are stamped by ``wall_clock``;
        ``journal`` logs the per-message lines (default: the logging module);
        ``backplane`` joins a cluster (default: this broker alone); ``work_clock``
        measures the time pages take (PAGES_SHARE); ``tokens`` makes session tokens
        for clients that bring none (128 random bits); ``owners`` keeps who owns names
        and tokens (default: the store, as every store does); ``index``: the full-text
        index SEARCH reads (finding.py; None: no search); ``operators``: the CURVE keys
        (z85) of the operators, ``audit``: where each moderation action is written
        (moderation.py)."""
        self._note = journal or log.info
        self.heartbeat = heartbeat
        self.limits = limits or Limits()
        #: How public events reach clients, announced in WELCOME (set by the server).
        self.fanout = c.FANOUT_ROUTER
        self.feeds: tuple[str, ...] = ()
        self.budgets = Budgets(self.limits)
        #: Refusals of connections that have not joined: one log line a second at most.
        self._stranger_log = Throttle(1.0)
        self._now = 0.0
        self.expiry = heartbeat * c.HEARTBEAT_LIVENESS
        self.roster = Roster()
        self.backplane: Backplane = backplane or LocalBackplane(self.roster)
        #: The cluster: what is queued for numbering, outages (link.py; idle alone).
        self.link = ClusterLink(heartbeat)
        self.store: HistoryStore = store if store is not None else MemoryStore()
        #: Who owns names and what tokens open (admission.py).
        self.admission = Admission(owners if owners is not None else _owners_of(self.store),
                                   tokens)
        self.history = history
        self._wall = wall_clock
        catalogue = catalogue or broker_catalogue("en")
        #: The broker's lines in its language (the server's log lines take theirs here).
        self.catalogue = catalogue
        self._t = catalogue.t
        #: FETCH pages (pages.py: they wait their turn after each cycle's messages).
        self.pages = Pages(self.store, self.roster, self.budgets, catalogue, work_clock)
        #: Rooms (rooms.py): the default room's key, the bound on rooms held, and where
        #: memberships and topics are kept (None: this store keeps none, so no rooms).
        self.default_room = room_key(c.ROOM_PREFIX + default_room.removeprefix(c.ROOM_PREFIX))
        self.max_rooms = max_rooms
        self.room_state = room_state_of(self.store)
        #: Read marks and conversations (reading.py; None: this store keeps none).
        self.read_state = read_state_of(self.store)
        #: Moderation (moderation.py): the store's bans, mutes and rooms' rules, the
        #: operators, the audit log; mutes and rules in memory for the message path, and
        #: when each session last said something in a slow room.
        self.moderation = moderation_state_of(self.store)
        self.operators: set[str] = operators or set()
        self._audit: Callable[[dict[str, object]], None] = audit or (lambda _entry: None)
        self._mutes: dict[str, dict[str, Sanction]] = {}
        self._bans: dict[str, Sanction] = {}
        self._room_rules: dict[str, tuple[int, bool]] = {}
        self._said_at: dict[tuple[str, str], float] = {}
        self.load_moderation()
        self._talks_due: list[tuple[StoredEvent, Session]] = []
        self.delivery = Delivery(self.roster)
        self.cluster = ClusterSide(self.roster, self.backplane, self.store, self.link,
                                   self.delivery, catalogue, wall_clock)
        #: The per-message line's template (%-style: texts.positional).
        self._public_line = positional(self._t("log.public"), "name", "text")
        self._room_line = positional(self._t("log.room_message"), "room", "name", "text")
        self._log_private_bodies = log_private_bodies
        self._next_tick = 0.0
        self._closing = False
        self._lagging: set[bytes] = set()
        #: Counts for the metrics (metrics.py reads them when scraped): refusals by error
        #: code, rate-limit strikes, sessions ended by reason.
        self.refused: dict[str, int] = {}
        self.struck = 0
        self.ended: dict[str, int] = {}
        #: Search (finding.py): the index, what this cycle gave it, how far it is pruned,
        #: and the share of the loop's time searches may take.
        self.index = index
        self._unindexed: list[StoredEvent] = []
        self._index_pruned = 0
        self._search_time = TokenBucket(SEARCH_SHARE, SEARCH_SHARE)
        #: Searches waiting for their next slice (finding.py: one per turn of the loop).
        self._searches: deque[_Queued] = deque()
        if index is not None:
            index.budget_s = SEARCH_SLICE
        self._index_time = TokenBucket(INDEX_SHARE, INDEX_BURST)
        self._index_committed = 0.0
        self._index_written = 0.0
        #: A store that lists its messages (SqliteStore) feeds the index from its history,
        #: up to this number so far; others' events wait in ``_unindexed``.
        self._from_store = getattr(self.store, "messages_after", None) \
            if index is not None else None
        self._indexed_upto = index.last_seq() if index is not None else 0
        self._committed = self.store.last_seq()
        #: A cluster's index is also built from the shared history (cluster_index.py).
        self._shared = shared_index(self.store, index)
        #: On a feed: each room's head at the last tick (rooms.py, `_room_pings`).
        self._room_heads: dict[str, int] = {}

    # ---- inbound -----------------------------------------------------------

    def handle(self, identity: bytes, frames: Sequence[bytes], now: float,
               peer: str = "", user: str = "") -> list[Action]:
        """One message from ``identity``; ``user`` is its CURVE key (z85) when encrypted."""
        session = self.roster.by_identity(identity)
        if session is not None:
            session.last_seen = now
            if frames == _BARE_PING:  # a joined client's heartbeat: all it asks is this
                return []
        else:
            self._now = now  # (for the refusals' log, see _refuse)
            if not self.budgets.stranger(identity, peer, now):
                return []  # a storm of strangers: answer none of them rather than all
        try:
            msg = decode_client_frames(frames)
        except ProtocolError as exc:
            if session is not None and not self.budgets.message(session, Who(), now):
                return self._throttle(session, exc.cid)  # garbage costs a message too
            return self._refuse(identity, session, exc.code, exc.detail, exc.ref, exc.cid)
        if session is None:
            match msg:
                case Join(name, token, resume, acks):
                    actions = self._join(identity, name, token, resume, now, peer, user)
                    joined = self.roster.by_identity(identity)
                    if joined is not None:
                        self.roster.acks(joined, acks)
                    return actions
                case Leave():
                    return [Send(identity, encode(Bye(c.R_QUIT)))]
                case _:
                    cid = getattr(msg, "cid", 0)
                    return self._refuse(identity, None, c.E_NOT_JOINED,
                                        f"{msg.command} before JOIN", cid=cid)
        # A SAY, nearly every message, is taken before the match: its class pattern
        # costs 0.3 us more (docs/PERFORMANCE.md).
        if type(msg) is Say:
            if not self.budgets.said(session, msg.text, now):
                return self._throttle(session, msg.cid)
            room = msg.room
            if self._mutes or self._room_rules:  # (nothing to check otherwise)
                refused = self.say_refused(session, room_key(room) if room
                                           else self.default_room, now)
                if refused is not None:
                    return self._refuse(session.identity, session, *refused, cid=msg.cid)
            return self._say(session, msg.text, msg.cid, msg.retry, room)
        if type(msg) in _RATED and not self.budgets.message(session, msg, now):
            return self._throttle(session, getattr(msg, "cid", 0))
        match msg:
            case Tell(to, text, cid, retry):
                return self._tell(session, to, text, cid, retry)
            case Ping():
                return []
            case Fetch():
                return list(self.pages.ask(identity, msg, now))
            case Who(room):
                return self._who_room(session, room, now) if room else self._who(session, now)
            case Enter(room):
                return self._enter(session, room)
            case Part(room):
                return self._part(session, room)
            case ListRooms():
                return self._list_rooms(session, now)
            case SetTopic(room, text):
                if self._room_rules and not room_problem(room) \
                        and self.topic_locked(session, room_key(room)):
                    return self._refuse(session.identity, session, c.E_TOPIC_LOCKED,
                                        "only operators may change this topic", room_key(room))
                return self._set_topic(session, room, text)
            case Moderate():
                return self._moderate(session, msg)
            case History():
                return self._history(session, msg, now)
            case Search():
                return self._search(session, msg, now)
            case Mark():
                return self._mark(session, msg)
            case ListDms():
                return self._dms(session, msg, now)
            case Join():
                if not self.budgets.message(session, Who(), now):
                    return self._throttle(session, 0)
                return self._refuse(identity, session, c.E_ALREADY_JOINED,
                                    f"already joined as {session.name}", session.name)
            case Leave():
                return [Send(identity, encode(Bye(c.R_QUIT))), *self.drop(session, c.R_QUIT)]
        raise AssertionError(f"unhandled message {msg!r}")  # decode returns only the above

    def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                ref: str = "", cid: int = 0) -> list[Action]:
        self.refused[code] = self.refused.get(code, 0) + 1
        if session is not None:
            log.info(self._t("log.refused", code=code, who=sanitize(session.name),
                             detail=sanitize(detail)))
        elif self._stranger_log.allow(self._now):
            log.info(self._t("log.refused", code=code, who=identity.hex(),
                             detail=sanitize(detail)) + self._stranger_log.suffix())
        return [Send(identity, encode(Error(code, detail, ref, cid)))]

    def _throttle(self, session: Session, cid: int) -> list[Action]:
        """Refuse one message over the limit; disconnect a client that keeps on."""
        session.strikes += 1
        self.struck += 1
        if session.strikes >= c.FLOOD_STRIKES:
            log.warning(self._t("log.flood", name=sanitize(session.name),
                                strikes=session.strikes))
            return [Send(session.identity, encode(Bye(c.R_FLOOD))),
                    *self.drop(session, c.R_FLOOD)]
        if session.strikes == 1:
            log.info(self._t("log.refused", code=c.E_RATE_LIMITED, who=sanitize(session.name),
                             detail="over the rate limit"))
        self.refused[c.E_RATE_LIMITED] = self.refused.get(c.E_RATE_LIMITED, 0) + 1
        return [Send(session.identity, encode(Error(c.E_RATE_LIMITED, "slow down", "", cid)))]

    # ---- events: numbered, stored, delivered -----------------------------------

    def _publish(self, event: StoredEvent, exclude: bytes | None = None,
                 ack_to: bytes | None = None) -> list[Action]:
        """Number and store ``event``, deliver it, and acknowledge it to ``ack_to``:
        at once on a single broker; in a cluster at the cycle's commit (clustered.py)."""
        if self.backplane.shared:
            return self.cluster.publish(event, exclude, ack_to)
        self.store.add(event)
        self._fresh(event)
        return self.delivery.show(event, exclude, ack_to)

    # ---- the cluster (clustered.py) -----------------------------------------------

    def arrived(self, event: StoredEvent, reader: str = "") -> list[Action]:
        """An event the cluster brought: the shared log's, or one for ``reader``; or a
        room's new topic (not an event: shown to the room's members here)."""
        if event.kind == c.TOPIC:
            return self._topic_shown(event.room, event.text, event.name)
        if event.kind == c.MOD:  # (what an operator did, on any broker: moderation.py)
            return self.moderation_arrived(event.text)
        self._fresh(event)
        if reader:
            self._reached(event, reader)  # (a PRIV for its target here: read state)
        return self.cluster.arrived(event, reader)

    def link_down(self) -> list[Action]:
        """The server's log reader lost Redis."""
        return self.cluster.link_down()

    def rejoin_cluster(self, now: float, force: bool = False) -> list[Action]:
        """The others took this broker for dead: hand them its users again."""
        return self.cluster.rejoin(now, force)

    # ---- joining -------------------------------------------------------------

    def _join(self, identity: bytes, name: str, token: str, resume: bool, now: float,
              peer: str, user: str) -> list[Action]:
        if not self.budgets.join(peer, now):
            return self._refuse(identity, None, c.E_RATE_LIMITED,
                                "too many joins from your address: try again later", "join")
        problem = name_problem(name)
        if problem is not None:
            return self._refuse(identity, None, c.E_BAD_NAME, problem, name)
        key = name_key(name)
        holder = self.roster.by_name(name)
        gateway = user in self.admission.gateways
        if gateway:  # a transport key, no one's: a session without a key (admission.py)
            user = ""
        try:
            owner = self.admission.owner(key, user, holder, gateway)
        except LinkDown:
            return self._unreachable_join(identity, name)
        if owner is not None and owner != user:
            return self._refuse(identity, None, c.E_NAME_OWNED,
                                "this name belongs to another key", name)
        ban = self.banned(name, user, owner)
        if ban is not None:
            return self._refuse(identity, None, c.E_BANNED, "banned" + (
                f": {ban.reason}" if ban.reason else ""), str(int(ban.until)))
        if holder is not None:
            if not self.admission.same_client(holder, token, user):
                return self._refuse(identity, None, c.E_NAME_TAKEN, "name is taken", name)
            # Its old socket is stale: replace it quietly; for everyone else this
            # user never left.
            self.roster.rebind(holder, identity, now, peer)
            log.info(self._t("log.rejoin", name=sanitize(holder.name), peer=peer or "?"))
            try:  # in a cluster it may have been on another broker meanwhile: take it back
                self.backplane.hold(holder.name, holder.stream, user)
            except LinkDown:
                pass
            return self._opening(holder, True)
        if len(self.roster) >= self.limits.max_clients:
            return self._refuse(identity, None, c.E_FULL, "the broker is full",
                                str(self.limits.max_clients))
        try:  # (while the link is down, the backplane refuses at once)
            token, refused = self.admission.session_token(token, key, user)
            if refused:
                log.info(self._t("log.stale_token", name=sanitize(name), peer=peer or "?"))
            status = self.backplane.hold(name, stream_key(token), user)
        except LinkDown:
            return self._unreachable_join(identity, name)
        if status == TAKEN:
            self.admission.ended(stream_key(token), retire=False)
            return self._refuse(identity, None, c.E_NAME_TAKEN, "name is taken", name)
        self.admission.joined(key, user, owner)
        session = self.roster.add(name, identity, now, peer, token, user)
        if status == RESUMED:
            # The same session, moving in from another broker of the cluster: for
            # everyone else this user never left, its rooms either.
            log.info(self._t("log.rejoin", name=sanitize(name), peer=peer or "?"))
            self._back_in_rooms(session)
            return self._opening(session, True)
        log.info(self._t("log.join", name=sanitize(name), peer=peer or "?"))
        # Its rooms first (it may have parted the default room; a key-bound name's new
        # session starts in its key's rooms), all before WELCOME: its heads count every
        # JOINED.
        try:
            self._followed_rooms(session)
        except LinkDown:
            pass
        rooms = self._rejoined_rooms(session)
        joined = self._publish(StoredEvent(0, c.JOINED, self._wall(), name), identity) \
            if session.in_default else []
        joined += rooms
        return self._opening(session, False, resume) + joined

    def _opening(self, session: Session, resumed: bool, resume: bool = True) -> list[Action]:
        """WELCOME, what the user has not read (UNREAD) and, unless the client will FETCH
        (``resume``), each room's recent history.

        The client takes WELCOME's heads as its cursors and shows the history as it
        comes: a message above a head would be shown again when it arrives. In a
        cluster another broker may log one between two reads, so each head is read
        once, here, for WELCOME, UNREAD and the history alike."""
        heads = {PUBLIC: self.store.head(PUBLIC)} if session.in_default else {}
        heads.update((key, self.store.head(key)) for key in sorted(session.rooms))
        identity = session.identity
        actions: list[Action] = [Opening(identity, self._welcome(session, resumed, heads))]
        unread = self._unread(session, heads)  # (marking new rooms read up to their heads)
        if unread is not None:
            actions.append(Opening(identity, unread))
        if resume or self.history <= 0:
            return actions
        for key, head in heads.items():
            if key == PUBLIC:
                recent = self.store.recent_public(self.history, head)
                if recent:
                    actions.append(Opening(identity, Pages.history(recent, session.stream)))
            else:
                recent = self.store.recent_room(key, self.history, head)
                if recent:
                    events = tuple(event.for_reader(key) for event in recent)
                    actions.append(Opening(identity, encode(Events(c.K_HISTORY, events,
                                                                   room=key))))
        return actions

    def _unreachable_join(self, identity: bytes, name: str) -> list[Action]:
        """Names cannot be checked across the cluster now: the client tries again."""
        return self.cluster.link_down() + self._refuse(
            identity, None, c.E_UNAVAILABLE, "the cluster link is down: try again", name)

    def _welcome(self, session: Session, resumed: bool, heads: dict[str, int]) -> bytes:
        """WELCOME for ``session``; ``heads``: its rooms' heads (PUBLIC: the default
        room's, there when it is in it), read once (`_opening`)."""
        try:
            users = self.backplane.some_names(c.WELCOME_USERS, but=session.name)
            online = self.backplane.count()
        except LinkDown:
            users = self.roster.some_names(c.WELCOME_USERS, but=session.name)
            online = len(self.roster)
        limits = self.limits
        pub = heads[PUBLIC] if PUBLIC in heads else self.store.head(PUBLIC)
        room, most = "", 0
        rooms: tuple[tuple[str, int], ...] = ()
        if self.rooms_on():  # the default room, and every room with its head
            room, most = self.default_room, c.MAX_ROOMS_PER_USER
            rooms = tuple((self.default_room if key == PUBLIC else key, head)
                          for key, head in heads.items())
        return encode(Welcome(session.name, session.token, self.heartbeat, tuple(users),
                              f"zchat/{__version__}", resumed, pub,
                              self.store.head(session.stream), self.store.epoch,
                              limits.rate, limits.burst, limits.byte_rate, limits.byte_burst,
                              max(0, online - 1), self.fanout, self.feeds, room, rooms, most))

    # ---- messages -------------------------------------------------------------

    def _duplicate(self, session: Session, cid: int, retry: bool) -> list[Action] | None:
        """A resent message that is already stored is acknowledged, not stored again."""
        if cid and (retry or cid <= session.max_cid):
            stored = self.store.find(session.stream, cid)
            if stored is not None:
                prev = stored.prev if stored.kind == c.MSG else 0
                return [Ack(session.identity, encode_ack(cid, stored.seq, prev))]
        session.max_cid = max(session.max_cid, cid)
        return None

    def _say(self, session: Session, text: str, cid: int, retry: bool,
             room: str = "") -> list[Action]:
        key = ""
        if room:
            key, refused = self._room_of(session, room, cid)
            if not key:
                return refused
            if key == self.default_room:
                key = ""
        elif not session.in_default:
            return self._refuse(session.identity, session, c.E_NO_ROOM,
                                "in no room: /join #room", cid=cid)
        if is_blank(text):
            return self._refuse(session.identity, session, c.E_EMPTY, "empty message", cid=cid)
        duplicate = self._duplicate(session, cid, retry)
        if duplicate is not None:
            return duplicate
        if key:
            self._note(self._room_line % (key, sanitize(session.name), sanitize(text)))
        else:
            self._note(self._public_line % (sanitize(session.name), sanitize(text)))
        event = StoredEvent(0, c.MSG, self._wall(), session.name, text, origin=session.stream,
                            cid=cid, room=key)
        return self._publish(event, session.identity, session.identity)

    def _tell(self, session: Session, to: str, text: str, cid: int,
              retry: bool) -> list[Action]:
        if name_problem(to) is not None or is_blank(text):
            return self._refuse(session.identity, session, c.E_BAD_PRIVATE,
                                "usage: @name message", to, cid)
        # Before the target check: a stored message is acknowledged even if its
        # target has left since.
        duplicate = self._duplicate(session, cid, retry)
        if duplicate is not None:
            return duplicate
        local = self.roster.by_name(to)
        if local is not None:
            target: tuple[str, str] | None = (local.name, local.stream)
        else:
            try:
                target = self.backplane.locate(to)
            except LinkDown:
                return self.cluster.link_down() + self._refuse(
                    session.identity, session, c.E_UNREACHABLE, "the cluster link is down",
                    to, cid)
        if target is None:
            return self._refuse(session.identity, session, c.E_NO_SUCH_USER,
                                "no such user online", to, cid)
        to_name, to_key = target
        if self._log_private_bodies:
            self._note(self._t("log.private_body", name=sanitize(session.name),
                             to=sanitize(to_name), text=sanitize(text)))
        else:
            self._note(self._t("log.private", name=sanitize(session.name), to=sanitize(to_name)))
        event = StoredEvent(0, c.PRIV, self._wall(), session.name, text, to_name,
                            origin=session.stream, cid=cid, to_key=to_key)
        actions = self._publish(event, ack_to=session.identity)
        self._told(event, session, local)  # (numbered by now alone; in a cluster at commit)
        return actions

    def serve_fetches(self, now: float) -> list[Action]:
        """The FETCH pages that can go now (pages.py); the server calls it each turn."""
        return list(self.pages.serve(now))

    @property
    def ready(self) -> Callable[[bytes], bool]:
        """Whether a connection can be sent a page now (set by the server)."""
        return self.pages.ready

    @ready.setter
    def ready(self, ready: Callable[[bytes], bool]) -> None:
        self.pages.ready = ready

    def _who(self, session: Session, now: float) -> list[Action]:
        """USERS, paid for in reply bytes: a list of 20,000 names is 300 KB."""
        replies = self.budgets.of(session)[3]
        if not replies_left(replies, now):
            return self._throttle(session, 0)
        try:
            names = self.backplane.names()
        except LinkDown:
            names = self.roster.names()  # all that can be known now
        frame = encode(Users(tuple(names)))
        replies.tokens -= len(frame)
        return [Send(session.identity, frame)]

    # ---- sessions ending ----------------------------------------------------

    def drop(self, session: Session, reason: str) -> list[Action]:
        """End ``session`` and tell everyone else; used for quit, expiry and errors."""
        if self.roster.by_identity(session.identity) is not session:
            return []  # already gone
        rooms = set(session.rooms)
        self.roster.remove(session)
        self.ended[reason] = self.ended.get(reason, 0) + 1
        if self._closing:
            return []  # everyone has been told BYE; a failed BYE changes nothing
        log.info(self._t("log.leave", name=sanitize(session.name),
                         reason=self._t(f"reason.{reason}")))
        try:
            # In a cluster the session may have moved to another broker: then it did not leave.
            if not self.backplane.release(session.name, session.stream):
                return []
        except LinkDown:
            self.link.left_meanwhile[session.key] = (session.name, session.stream, reason)
        # A LEAVE ends what its token grants; after a timeout or a lost connection the
        # same name and key may resume. (Cut off from the cluster: retired when healed.)
        if not self.admission.ended(session.stream, retire=reason == c.R_QUIT):
            self.link.left_meanwhile[session.key] = (session.name, session.stream, reason)
        if session.key in self.link.left_meanwhile:  # (announced where it was, when healed)
            self.link.rooms_meanwhile[session.key] = (session.in_default, sorted(rooms))
        ts = self._wall()
        left = self._publish(StoredEvent(0, c.LEFT, ts, session.name, reason=reason)) \
            if session.in_default else []
        return left + self._left_rooms(session, rooms, reason, ts)

    def drop_identity(self, identity: bytes, reason: str) -> list[Action]:
        session = self.roster.by_identity(identity)
        return self.drop(session, reason) if session is not None else []

    def use_feed(self, feeds: tuple[str, ...]) -> None:
        """``--fanout pub``: the default room's events and the other rooms' go on the
        server's feed, whose endpoints are ``feeds``."""
        self.fanout = c.FANOUT_PUB
        self.feeds = feeds
        self.delivery.feed = True

    def recheck(self, identity: bytes) -> None:
        """``identity`` may have missed events where no send could tell (its feed
        subscription came after them): its next PING carries its heads."""
        self._lagging.add(identity)

    def lagging(self, identity: bytes) -> None:
        """A send to ``identity`` found its queue full: it missed an event.

        The client will see the gap at its next delivery; until a PING with its
        heads has reached it, `tick` keeps sending one, so it notices even if
        no other event comes.
        """
        if identity not in self._lagging:
            session = self.roster.by_identity(identity)
            if session is not None:
                log.info(self._t("log.lagging", name=sanitize(session.name)))
        self._lagging.add(identity)

    def lagging_count(self) -> int:
        """How many sessions missed a live event since the last heartbeat (metrics.py)."""
        return len(self._lagging)

    @property
    def committed(self) -> int:
        """The last number made durable, as of the last `commit`."""
        return self._committed

    def commit(self) -> list[Action]:
        """Make every event durable; the server calls this before sending anything.
        In a cluster this numbers the cycle's events and returns their ACKs."""
        self.store.commit()
        if not self.backplane.shared:
            self._committed = self.store.last_seq()  # (the search index is fed up to here)
            return []
        # (Not the cluster history's last_seq: that asks Redis, a round trip, and the
        # server commits several times a cycle; what this broker numbered is enough.)
        acks = self.cluster.commit()
        self._committed = max(self._committed, self.cluster.numbered)
        if self._talks_due:
            self._sent()  # (read state: the senders' side of what it numbered)
        return acks

    def shutdown(self) -> list[Action]:
        """Tell every client the broker is going away; no more LEFT notices after this."""
        self._closing = True
        for session in self.roster.sessions():
            log.info(self._t("log.leave", name=sanitize(session.name),
                             reason=self._t("reason.shutdown")))
        return [Broadcast(encode(Bye(c.R_SHUTDOWN)))]

    # ---- timers -------------------------------------------------------------

    def tick(self, now: float) -> list[Action]:
        """Heartbeat everyone and expire the silent, once per interval."""
        if now < self._next_tick:
            return []
        self._next_tick = now + self.heartbeat
        actions: list[Action] = []
        if self.link.island:
            actions = self.cluster.rejoin(now)
        elif not self.backplane.up:  # a read failed: serve our own users from now on
            actions = self.cluster.link_down()
        self.prune_index()
        self.expire_moderation(now)
        for session in self.roster.silent_since(now - self.expiry):
            actions.extend(self.drop(session, c.R_TIMEOUT))
        if len(self.roster):
            # In a cluster: what was delivered here, not what Redis holds, or clients
            # would fetch what is on its way to them.
            head = self.link.delivered if self.backplane.shared else self.store.head(PUBLIC)
            actions.append(Broadcast(encode(Ping(head))))
            lagging, self._lagging = self._lagging, set()  # refilled if these fail too
            for identity in lagging:
                behind = self.roster.by_identity(identity)
                if behind is not None:
                    rooms = tuple((key, self.store.head(key)) for key in sorted(behind.rooms))
                    ping = Ping(self.store.head(PUBLIC), self.store.head(behind.stream), rooms)
                    actions.append(Send(identity, encode(ping)))
            if self.fanout == c.FANOUT_PUB:
                actions += self._room_pings()
        return actions

    def next_deadline(self) -> float:
        retry = self.pages.retry_at()  # pages wait for a budget to refill: look again soon
        return self._next_tick if retry is None else min(self._next_tick, retry)


def _owners_of(store: HistoryStore) -> Ownership:
    """The store as the core's Ownership: every store keeps both (store.py)."""
    if not isinstance(store, Ownership):
        raise TypeError(f"{type(store).__name__} keeps no ownership: pass owners=")
    return store
