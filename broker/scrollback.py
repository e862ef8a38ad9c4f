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

from typing import TYPE_CHECKING

from zchat.protocol import History, encode_events, event_item
from zchat.protocol import constants as c

from .store import PUBLIC, StoredEvent

if TYPE_CHECKING:
    from .actions import Action
    from .roster import Session
    from .store import HistoryStore


class ScrollBack:
    """The HISTORY command, over the core's store and room rules."""

    if TYPE_CHECKING:  # what it uses of BrokerCore (core.py) and RoomRules (rooms.py)
        store: HistoryStore
        default_room: str

        def _room_of(self, session: Session, room: str, cid: int = 0,
                     member: bool = True) -> tuple[str, list[Action]]: ...
        def _paid(self, session: Session, frame: bytes, now: float) -> list[Action]: ...

    def _history(self, session: "Session", ask: History, now: float) -> "list[Action]":
        key, refused = self._room_of(session, ask.room)
        if not key:
            return refused
        stream = PUBLIC if key == self.default_room else key
        events, more = self._page_of(stream, ask)
        items = [event_item(event.for_reader(stream)) for event in events]
        # Within MAX_PAGE_BYTES: the events nearest the asked point stay, and the page
        # says there are more (a page holds at least one event, however big).
        backwards = ask.after is None and ask.around is None
        while len(items) > 1 and sum(map(len, items)) > c.MAX_PAGE_BYTES:
            items.pop(0 if backwards else -1)
            more = True
        return self._paid(session, encode_events(c.K_PAGE, items, more, room=key), now)

    def _page_of(self, stream: str, ask: History) -> tuple[list[StoredEvent], bool]:
        """The events asked for, oldest first, and whether the stream goes on beyond
        them (for ``around``: on either side)."""
        if ask.around is None:
            return self.store.page(stream, ask.limit, before=ask.before, after=ask.after)
        newer = ask.limit // 2
        older, more_before = self.store.page(stream, ask.limit - newer, before=ask.around + 1)
        if not newer:
            return older, more_before
        later, more_after = self.store.page(stream, newer, after=ask.around)
        return older + later, more_before or more_after
