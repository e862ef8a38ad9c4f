"""The chat rules: frames in, actions out.

`BrokerCore.handle(identity, frames, now)` decodes one inbound message,
updates the roster and the history store and returns the actions the server
must carry out (actions.py; the batcher decides when they go); `tick` does
heartbeats and expiry; `drop` and `shutdown` end sessions. Beside it:
flood.py (the budgets), pages.py (FETCH answers), link.py (a cluster's
outages and numbering).

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
from collections.abc import Callable, Sequence

from zchat.common import __version__
from zchat.common.i18n import Catalogue
from zchat.common.safetext import sanitize
from zchat.protocol import (
    Bye,
    Error,
    Fetch,
    Join,
    Leave,
    Notice,
    Ping,
    ProtocolError,
    Say,
    Tell,
    Users,
    Welcome,
    Who,
    decode_client_frames,
    encode,
    encode_ack,
    encode_msg,
    is_blank,
    name_key,
    name_problem,
)
from zchat.protocol import constants as c

from .actions import (
    Ack,
    Action,
    Broadcast,
    Opening,
    PresenceEvent,
    PrivateCopy,
    PublicEvent,
    Send,
)
from .backplane import RESUMED, TAKEN, Backplane, LocalBackplane
from .flood import Budgets, Limits, replies_left
from .link import ClusterLink
from .pages import Pages
from .roster import Roster, Session
from .store import (
    PUBLIC,
    HistoryStore,
    LinkDown,
    MemoryStore,
    Ownership,
    StoredEvent,
    stream_key,
)
from .texts import broker_catalogue
from .throttle import Throttle

log = logging.getLogger(__name__)

# Commands that cost tokens from a client's buckets.
_RATED = frozenset({Say, Tell, Who, Fetch})
#: What most frames are with everyone idle (a PING with fields goes the long way).
_BARE_PING = [encode(Ping())]
#: Above every sequence number.
MAX_SEQ_PLUS = c.MAX_SEQ + 1

__all__ = ["Action", "BrokerCore", "Limits"]  # (Limits: flood.py; the CLI builds it here)


class BrokerCore:
    """Chat rules over a Roster, a HistoryStore, an Ownership and a Backplane.
    Returns actions; the server performs them."""

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
                 owners: Ownership | None = None) -> None:
        """``now`` arguments are monotonic (liveness); events are stamped by ``wall_clock``;
        ``journal`` logs the per-message lines (default: the logging module);
        ``backplane`` joins a cluster (default: this broker alone); ``work_clock``
        measures the time pages take (PAGES_SHARE); ``tokens`` makes session tokens
        for clients that bring none (128 random bits); ``owners`` keeps who owns names
        and tokens (default: the store, as every store does)."""
        self._note = journal or log.info
        self._tokens = tokens
        self.heartbeat = heartbeat
        self.limits = limits or Limits()
        #: Names pinned to CURVE keys by the allow list (name key -> z85 key).
        self.pins: dict[str, str] = {}
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
        self.owners: Ownership = owners if owners is not None else _owners_of(self.store)
        self.history = history
        self._wall = wall_clock
        catalogue = catalogue or broker_catalogue("en")
        self._t = catalogue.t
        #: FETCH pages (pages.py: they wait their turn after each cycle's messages).
        self.pages = Pages(self.store, self.roster, self.budgets, catalogue, work_clock)
        self._public_line = self._t("log.public")  # (the per-message line's template)
        self._log_private_bodies = log_private_bodies
        self._next_tick = 0.0
        self._closing = False
        self._lagging: set[bytes] = set()

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
                case Join(name, token, resume):
                    return self._join(identity, name, token, resume, now, peer, user)
                case Leave():
                    return [Send(identity, encode(Bye(c.R_QUIT)))]
                case _:
                    cid = getattr(msg, "cid", 0)
                    return self._refuse(identity, None, c.E_NOT_JOINED,
                                        f"{msg.command} before JOIN", cid=cid)
        if type(msg) in _RATED and not self.budgets.message(session, msg, now):  # type: ignore[arg-type]
            return self._throttle(session, getattr(msg, "cid", 0))
        match msg:
            case Say(text, cid, retry):
                return self._say(session, text, cid, retry)
            case Tell(to, text, cid, retry):
                return self._tell(session, to, text, cid, retry)
            case Ping():
                return []
            case Fetch():
                return list(self.pages.ask(identity, msg, now))
            case Who():
                return self._who(session, now)
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
        if session.strikes >= c.FLOOD_STRIKES:
            log.warning(self._t("log.flood", name=sanitize(session.name),
                                strikes=session.strikes))
            return [Send(session.identity, encode(Bye(c.R_FLOOD))),
                    *self.drop(session, c.R_FLOOD)]
        if session.strikes == 1:
            log.info(self._t("log.refused", code=c.E_RATE_LIMITED, who=sanitize(session.name),
                             detail="over the rate limit"))
        return [Send(session.identity, encode(Error(c.E_RATE_LIMITED, "slow down", "", cid)))]

    # ---- events: numbered, stored, delivered -----------------------------------

    def _publish(self, event: StoredEvent, exclude: bytes | None = None,
                 ack_to: bytes | None = None) -> list[Action]:
        """Number and store ``event``, deliver it, and acknowledge it to ``ack_to``.

        On a single broker all at once. In a cluster the event is queued: `commit`
        numbers the cycle's events in one call to Redis and acknowledges them, and
        each broker delivers them when the shared log brings them back, in its
        order. With the cluster link down an event reaches this broker's users
        only, unnumbered (seq 0)."""
        if self.backplane.shared and not self.link.island:
            self.link.queue(event, exclude, ack_to)
            return []
        try:
            self.store.add(event)
        except LinkDown:
            return self._unnumbered(event) + self._show_here(event, exclude, ack_to)
        return self._show_here(event, exclude, ack_to)

    def _show_here(self, event: StoredEvent, exclude: bytes | None,
                   ack_to: bytes | None) -> list[Action]:
        """Deliver a numbered (or unnumbered) event here and acknowledge it. A message
        carries its sender's ACK: it takes that message's place in the sender's stream."""
        if event.kind == c.MSG and ack_to is not None and ack_to == exclude:
            ack = self._ack(ack_to, event).frame
            return [PublicEvent(encode_msg(event.name, event.text, event.ts, event.seq,
                                           event.prev), exclude, ack)]
        actions = self._deliver(event, exclude)
        if ack_to is not None:
            actions.append(self._ack(ack_to, event))
        return actions

    def _unnumbered(self, event: StoredEvent) -> list[Action]:
        """The cluster is out of reach: ``event`` is shown here only, with seq 0."""
        event.seq = event.prev = event.prev_to = 0
        if event.kind == c.LEFT:
            self.link.told_left(event.name)
        return self.link_down()

    @staticmethod
    def _ack(identity: bytes, event: StoredEvent) -> Ack:
        prev = event.prev if event.kind == c.MSG else 0  # a MSG's place in the public stream
        return Ack(identity, encode_ack(event.cid, event.seq, prev))

    def _deliver(self, event: StoredEvent, exclude: bytes | None) -> list[Action]:
        """Actions that show ``event`` to this broker's users (encoded once)."""
        if event.kind == c.MSG:
            return [PublicEvent(encode_msg(event.name, event.text, event.ts, event.seq,
                                           event.prev), exclude)]
        if event.kind != c.PRIV:
            return [PresenceEvent(encode(event.for_reader(PUBLIC)), exclude)]
        actions = self._deliver_private(event, event.to_key)
        if event.origin != event.to_key:  # the sender's copy, on its own private stream
            actions += self._deliver_private(event, event.origin)
        return actions

    def _deliver_private(self, event: StoredEvent, reader: str) -> list[Action]:
        session = self.roster.by_stream(reader)
        if session is None:
            return []  # gone, or moved to another broker: it fetches this from history
        return [PrivateCopy(session.identity, encode(event.for_reader(reader)))]

    def arrived(self, event: StoredEvent, reader: str = "") -> list[Action]:
        """An event from the cluster: the shared log (public), or this broker's
        inbox, addressed to the private stream ``reader``."""
        if reader:
            return self._deliver_private(event, reader)
        late = self._late_acks(event.seq)
        held = event.kind == c.LEFT and self.roster.by_name(event.name) is not None
        if not self.link.seen(event, held):
            return late  # shown here already, or never gone for our users (link.py)
        own = None  # the sender or joiner is not sent its own event
        if event.kind == c.MSG:
            own = self.roster.by_stream(event.origin)
            ack = self.link.ack_for(event.seq)
            if ack is not None and own is not None:  # (the sender's ACK, in its place)
                if len(self.roster) == 1:
                    return [*late, Ack(own.identity, ack)]
                frame = encode_msg(event.name, event.text, event.ts, event.seq, event.prev)
                return [*late, PublicEvent(frame, own.identity, ack)]
        elif event.kind == c.JOINED:
            own = self.roster.by_name(event.name)
        if len(self.roster) == (own is not None):
            return late  # no one else here to show it to: not even worth encoding
        return late + self._deliver(event, own.identity if own is not None else None)

    # ---- the cluster link ------------------------------------------------------

    def link_down(self) -> list[Action]:
        """The cluster cannot be reached (a call failed, or the server's log reader
        lost Redis): tell this broker's users, once, that only they can be reached now."""
        if not self.link.went_down():
            return []
        late = self._late_acks(MAX_SEQ_PLUS)  # the log will not bring them back now
        log.warning(self._t("log.cluster_down"))
        notice = Notice(c.N_CLUSTER_DOWN, "the link to the other brokers is down")
        return [*late, Broadcast(encode(notice))]

    def rejoin_cluster(self, now: float, force: bool = False) -> list[Action]:
        """Hand the cluster this broker's users again: after an outage, or after the
        others took this broker for dead. Names taken meanwhile are given up."""
        if not self.link.may_heal(now, force):
            return []
        try:
            claimed, taken, released = self.backplane.heal(self.roster.sessions(),
                                                           dict(self.link.left_meanwhile))
        except LinkDown:
            self.link.heal_failed(now)
            return []
        actions: list[Action] = []
        if self.link.healed({session.key for session in claimed}):
            log.warning(self._t("log.cluster_up"))
            actions.append(Broadcast(encode(Notice(c.N_CLUSTER_UP, "the link is back"))))
        ts = self._wall()
        for session in taken:  # another broker's user holds the name now: start over
            self.roster.remove(session)
            actions.append(Send(session.identity, encode(Bye(c.R_SHUTDOWN))))
        for session in claimed:
            actions += self._publish(StoredEvent(0, c.JOINED, ts, session.name), session.identity)
        for name, reason in released:
            actions += self._publish(StoredEvent(0, c.LEFT, ts, name, reason=reason))
        return actions

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
        try:
            owner = self.pins.get(key) or (self.owners.owner(key) if user else None)
        except LinkDown:
            if holder is None:
                return self._unreachable_join(identity, name)
            owner = holder.user  # known here: the session's own key
        if owner is not None and owner != user:
            return self._refuse(identity, None, c.E_NAME_OWNED,
                                "this name belongs to another key", name)
        if holder is not None:
            if token and holder.user == user and \
                    secrets.compare_digest(token.encode(), holder.token.encode()):
                # The same client on a new socket: its old one is stale. Replace it
                # quietly; for everyone else this user never left.
                self.roster.rebind(holder, identity, now, peer)
                log.info(self._t("log.rejoin", name=sanitize(holder.name), peer=peer or "?"))
                try:  # in a cluster it may have been on another broker meanwhile: take it back
                    self.backplane.hold(holder.name, holder.stream, user)
                except LinkDown:
                    pass
                return [Opening(identity, self._welcome(holder, resumed=True))]
            return self._refuse(identity, None, c.E_NAME_TAKEN, "name is taken", name)
        if len(self.roster) >= self.limits.max_clients:
            return self._refuse(identity, None, c.E_FULL, "the broker is full",
                                str(self.limits.max_clients))
        try:  # (while the link is down, the backplane refuses at once)
            token = self._session_token(token, key, user, name, peer)
            status = self.backplane.hold(name, stream_key(token), user)
        except LinkDown:
            return self._unreachable_join(identity, name)
        if status == TAKEN:
            self._unbind(stream_key(token), retire=False)
            return self._refuse(identity, None, c.E_NAME_TAKEN, "name is taken", name)
        if user and owner is None:
            self.owners.claim(key, user)  # the first key to take a name owns it from now on
        session = self.roster.add(name, identity, now, peer, token, user)
        if status == RESUMED:
            # The same session, moving in from another broker of the cluster: for
            # everyone else this user never left.
            log.info(self._t("log.rejoin", name=sanitize(name), peer=peer or "?"))
            return [Opening(identity, self._welcome(session, resumed=True))]
        log.info(self._t("log.join", name=sanitize(name), peer=peer or "?"))
        joined = self._publish(StoredEvent(0, c.JOINED, self._wall(), name), identity)
        # The client takes WELCOME's head as its cursor and shows the history as it
        # comes: a message above that head would be shown again when it arrives. In
        # a cluster another broker may log one between the two reads, hence the bound.
        pub = self.store.head(PUBLIC)
        actions: list[Action] = [Opening(identity, self._welcome(session, False, pub))]
        if not resume and self.history > 0:
            recent = self.store.recent_public(self.history, pub)
            if recent:
                actions.append(Opening(identity, Pages.history(recent, session.stream)))
        return actions + joined

    def _session_token(self, token: str, key: str, user: str, name: str, peer: str) -> str:
        """The token of the session this JOIN starts: the client's own if it may open that
        stream (the store binds a token to the name key and CURVE key that first used it,
        until its session LEAVEs), else a fresh one, bound to this name and key in turn.
        A token under another name or key, or after LEAVE, opens nothing of its old stream:
        one token is one session, and a sniffed one reads no one's private messages."""
        if len(token) >= c.MIN_TOKEN_CHARS:
            if self.owners.bind(stream_key(token), key, user):
                return token
            log.info(self._t("log.stale_token", name=sanitize(name), peer=peer or "?"))
        token = self._tokens()  # guessable, or not theirs: a session of their own
        self.owners.bind(stream_key(token), key, user)
        return token

    def _unbind(self, stream: str, retire: bool) -> bool:
        """A session on ``stream`` is over (``retire``: it LEFT); False if the cluster
        could not be told."""
        try:
            self.owners.unbind(stream, retire)
        except LinkDown:
            return False
        return True

    def _unreachable_join(self, identity: bytes, name: str) -> list[Action]:
        """Names cannot be checked across the cluster now: the client tries again."""
        return self.link_down() + self._refuse(
            identity, None, c.E_UNAVAILABLE, "the cluster link is down: try again", name)

    def _welcome(self, session: Session, resumed: bool, pub: int | None = None) -> bytes:
        """WELCOME for ``session``; ``pub``: the public head already read (else read now)."""
        try:
            users = self.backplane.some_names(c.WELCOME_USERS, but=session.name)
            online = self.backplane.count()
        except LinkDown:
            users = self.roster.some_names(c.WELCOME_USERS, but=session.name)
            online = len(self.roster)
        limits = self.limits
        return encode(Welcome(session.name, session.token, self.heartbeat, tuple(users),
                              f"zchat/{__version__}", resumed,
                              self.store.head(PUBLIC) if pub is None else pub,
                              self.store.head(session.stream), self.store.epoch,
                              limits.rate, limits.burst, limits.byte_rate, limits.byte_burst,
                              max(0, online - 1), self.fanout, self.feeds))

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

    def _say(self, session: Session, text: str, cid: int, retry: bool) -> list[Action]:
        if is_blank(text):
            return self._refuse(session.identity, session, c.E_EMPTY, "empty message", cid=cid)
        duplicate = self._duplicate(session, cid, retry)
        if duplicate is not None:
            return duplicate
        self._note(self._public_line.format(name=sanitize(session.name), text=sanitize(text)))
        event = StoredEvent(0, c.MSG, self._wall(), session.name, text, origin=session.stream,
                            cid=cid)
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
                return self.link_down() + self._refuse(
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
        return self._publish(event, ack_to=session.identity)

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
        self.roster.remove(session)
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
        if not self._unbind(session.stream, retire=reason == c.R_QUIT):
            self.link.left_meanwhile[session.key] = (session.name, session.stream, reason)
        return self._publish(StoredEvent(0, c.LEFT, self._wall(), session.name, reason=reason))

    def drop_identity(self, identity: bytes, reason: str) -> list[Action]:
        session = self.roster.by_identity(identity)
        return self.drop(session, reason) if session is not None else []

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

    def commit(self) -> list[Action]:
        """Make every event durable; the server calls this before sending anything.

        In a cluster this numbers the queued events in one call to Redis and
        returns their ACKs (after that call: an ACK means the event is in the log).
        If Redis cannot be reached, they go to this broker's users only."""
        self.store.commit()
        queued = self.link.take_queued()
        if not queued:
            return []
        try:
            self.store.add_many([event for event, _, _ in queued])
        except LinkDown:
            shown: list[Action] = []
            for event, exclude, ack_to in queued:
                shown += self._unnumbered(event) + self._show_here(event, exclude, ack_to)
            return shown
        actions: list[Action] = []
        for event, _, ack_to in queued:
            if ack_to is None:
                continue
            if event.kind == c.MSG:  # its ACK takes its place when the log brings it here
                self.link.ack_on_arrival(event.seq, event.origin, self._ack(ack_to, event).frame)
            else:
                actions.append(self._ack(ack_to, event))
        return actions

    def _late_acks(self, seq: int) -> list[Action]:
        """ACKs of messages numbered before ``seq`` that the log will not bring back
        here (link.py): sent now, to whoever holds the sender's session."""
        actions: list[Action] = []
        for stream, frame in self.link.acks_before(seq):
            session = self.roster.by_stream(stream)
            if session is not None:
                actions.append(Ack(session.identity, frame))
        return actions

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
            actions = self.rejoin_cluster(now)
        elif not self.backplane.up:  # a read failed: serve our own users from now on
            actions = self.link_down()
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
                    ping = Ping(self.store.head(PUBLIC), self.store.head(behind.stream))
                    actions.append(Send(identity, encode(ping)))
        return actions

    def next_deadline(self) -> float:
        retry = self.pages.retry_at()  # pages wait for a budget to refill: look again soon
        return self._next_tick if retry is None else min(self._next_tick, retry)


def _owners_of(store: HistoryStore) -> Ownership:
    """The store as the core's Ownership: every store keeps both (store.py)."""
    if not isinstance(store, Ownership):
        raise TypeError(f"{type(store).__name__} keeps no ownership: pass owners=")
    return store
