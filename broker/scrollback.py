"""HISTORY: a page of a room's stream, for a member scrolling back (issue 18).

A client asks for the latest events of a room it is in, or those before, after
or around an event's number; the answer is one EVENTS of kind ``page``, for
display only: a client moves no cursor for it (delivery stays FETCH's and the
live stream's). Each page is one index lookup in the store (`HistoryStore.page`),
at most MAX_HISTORY_PAGE events and MAX_PAGE_BYTES, so its cost is bounded
whatever the depth; it costs a message token and its bytes from the session's
reply bucket, as a WHO does (flood.py).

A part of BrokerCore (core.py), like rooms.py.
"""

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from zchat.protocol import History, encode_events, event_item, name_key, name_problem
from zchat.protocol import constants as c

from .reading import reader_of
from .store import PUBLIC, LinkDown, StoredEvent

if TYPE_CHECKING:
    from .actions import Action
    from .roster import Session
    from .store import HistoryStore, ReadState


#: A page reader: (limit, before=, after=) -> (events oldest first, more).
_Pager = Callable[..., tuple[list[StoredEvent], bool]]


class ScrollBack:
    """The HISTORY command, over the core's store and room rules."""

    if TYPE_CHECKING:  # what it uses of BrokerCore (core.py) and RoomRules (rooms.py)
        store: HistoryStore
        default_room: str
        read_state: ReadState | None

        def _room_of(self, session: Session, room: str, cid: int = 0,
                     member: bool = True) -> tuple[str, list[Action]]: ...
        def _paid(self, session: Session, frame: bytes, now: float) -> list[Action]: ...
        def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                    ref: str = "", cid: int = 0) -> list[Action]: ...

    def _history(self, session: "Session", ask: History, now: float) -> "list[Action]":
        if ask.peer:
            return self._talk_history(session, ask, now)
        key, refused = self._room_of(session, ask.room)
        if not key:
            return refused
        stream = PUBLIC if key == self.default_room else key
        events, more = self._page_of(partial(self.store.page, stream), ask)
        return self._page(session, stream, events, more, ask, key, now)

    def _talk_history(self, session: "Session", ask: History, now: float) -> "list[Action]":
        """A page of the private conversation with ``ask.peer``: the messages between the
        two, the reader's (reading.py): a CURVE key's from every session of it, a name
        without a key's from this session only."""
        if (problem := name_problem(ask.peer)) is not None:
            return self._refuse(session.identity, session, c.E_BAD_NAME, problem, ask.peer)
        state = self.read_state
        if state is None:
            return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                "this broker keeps no private history pages", "history")
        talk = partial(state.talk, reader_of(session), name_key(ask.peer))
        try:
            events, more = self._page_of(talk, ask)
        except LinkDown:  # (the cluster's read state is out of reach for now)
            return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                "the cluster link is down: try again", "history")
        return self._page(session, session.stream, events, more, ask,
                          c.PEER_PREFIX + ask.peer, now)

    def _page(self, session: "Session", stream: str, events: list[StoredEvent], more: bool,
              ask: History, key: str, now: float) -> "list[Action]":
        items = [event_item(event.for_reader(stream)) for event in events]
        # Within MAX_PAGE_BYTES: the events nearest the asked point stay, and the page
        # says there are more (a page holds at least one event, however big).
        backwards = ask.after is None and ask.around is None
        while len(items) > 1 and sum(map(len, items)) > c.MAX_PAGE_BYTES:
            items.pop(0 if backwards else -1)
            more = True
        return self._paid(session, encode_events(c.K_PAGE, items, more, room=key), now)

    @staticmethod
    def _page_of(page: _Pager, ask: History) -> tuple[list[StoredEvent], bool]:
        """The events asked for from ``page`` (a stream's pages: a room's or a
        conversation's), oldest first, and whether the stream goes on beyond them (for
        ``around``: on either side)."""
        if ask.around is None:
            return page(ask.limit, before=ask.before, after=ask.after)
        newer = ask.limit // 2
        older, more_before = page(ask.limit - newer, before=ask.around + 1)
        if not newer:
            return older, more_before
        later, more_after = page(newer, after=ask.around)
        return older + later, more_before or more_after
