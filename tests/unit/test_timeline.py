"""client/timeline.py: cursors, gap detection and catch-up, then a randomized property."""

import random
from collections import deque

import pytest

from zchat.client.timeline import HISTORY, MISSED, Shown, Step, Timeline
from zchat.protocol import Events, Fetch, Joined, Left, Msg, Priv, Welcome
from zchat.protocol import constants as c

EPOCH = "epoch-1"


def _welcome(pub: int, priv: int, epoch: str = EPOCH, name: str = "ana") -> Welcome:
    return Welcome(name, "token", 1.0, pub=pub, priv=priv, epoch=epoch)


def _m(seq: int, prev: int, sender: str = "bob") -> Msg:
    return Msg(sender, f"m{seq}", 1000.0 + seq, seq, prev)


def _p(seq: int, prev: int, sender: str = "bob", to: str = "ana") -> Priv:
    return Priv(sender, to, f"p{seq}", 1000.0 + seq, seq, prev)


def _replay(*events, more: bool = False, lost: int = 0) -> Events:
    return Events(c.K_REPLAY, tuple(events), more, lost)


def _timeline(pub: int = 5, priv: int = 2) -> Timeline:
    timeline = Timeline("Ana")
    assert timeline.welcome(_welcome(pub, priv)) == Step()
    return timeline


def _cursors(t: Timeline) -> tuple:
    return t.pub, t.priv


def _live(step: Step) -> list:
    assert all(s.tag == "" for s in step.shown), step
    return [s.event for s in step.shown]


def _missed(step: Step) -> list:
    """Events a replay showed (tagged MISSED or, if after our WELCOME, live: see below)."""
    assert all(s.tag in (MISSED, "") for s in step.shown), step
    return [s.event for s in step.shown]


# ---- welcome -------------------------------------------------------------------------

def test_first_welcome_adopts_the_heads():
    timeline = Timeline("Ana")
    assert timeline.joined_before is False
    assert timeline.welcome(_welcome(5, 2)) == Step()  # no reset: nothing was known
    assert timeline.joined_before is True
    assert (timeline.pub, timeline.priv, timeline.epoch) == (5, 2, EPOCH)
    assert timeline.catching_up is False


def test_welcome_never_renames():
    """A broker that welcomes us as someone else does not make that someone's
    messages ours (hidden as our own echo), nor ours theirs."""
    timeline = _timeline()
    timeline.welcome(_welcome(5, 2, name="ANA_2"))
    step = timeline.replay(_replay(_m(6, 5, sender="ana_2"), _m(7, 6, sender="ANA")))
    assert [s.event.sender for s in step.shown] == ["ana_2"]
    assert timeline.pub == 7


def test_rejoin_with_the_same_heads_changes_nothing():
    timeline = _timeline()
    assert timeline.welcome(_welcome(5, 2)) == Step()
    assert _cursors(timeline) == (5, 2)
    assert timeline.catching_up is False


@pytest.mark.parametrize(("pub", "priv", "epoch"), [
    (5, 2, "epoch-2"),   # a new history store
    (9, 9, "epoch-2"),
    (4, 2, EPOCH),       # the public head went back: the history we knew is gone
    (4, 9, EPOCH),
    (0, 0, EPOCH),
], ids=["new-epoch", "new-epoch-higher", "lower-pub", "lower-pub-higher-priv", "zero"])
def test_rejoin_after_history_was_lost_resets(pub, priv, epoch):
    timeline = _timeline()
    timeline.live(_m(7, 6))  # a gap: held, catching up
    assert timeline.catching_up
    step = timeline.welcome(_welcome(pub, priv, epoch))
    assert step == Step(reset=True)
    assert (timeline.pub, timeline.priv, timeline.epoch) == (pub, priv, epoch)
    assert timeline.catching_up is False
    # What was held belonged to the old history: it is dropped, and the new one goes on.
    assert _live(timeline.live(_m(pub + 1, pub))) == [_m(pub + 1, pub)]


@pytest.mark.parametrize(("pub", "priv"), [(8, 2), (5, 3), (9, 9)])
def test_rejoin_behind_the_heads_catches_up(pub, priv):
    timeline = _timeline()
    step = timeline.welcome(_welcome(pub, priv))
    assert step == Step(fetch=Fetch(5, 2))
    assert timeline.catching_up is True
    assert _cursors(timeline) == (5, 2)  # moved only by what is shown


# A private head below our cursor in the same history: the broker pruned our private
# stream (its head with every event of it) while we were away. Not a reset.

def test_rejoin_with_a_pruned_private_stream_catches_up_from_the_cursors():
    timeline = _timeline(5, 2)
    step = timeline.welcome(_welcome(8, 0))
    assert step == Step(fetch=Fetch(5, 2))  # the old private cursor: the broker counts the loss
    assert timeline.catching_up
    step = timeline.replay(_replay(_m(6, 5), _m(7, 6), _m(8, 7), lost=4))
    assert (_missed(step), step.lost, step.reset) == ([_m(6, 5), _m(7, 6), _m(8, 7)], 4, False)
    assert _cursors(timeline) == (8, 0)  # the private cursor starts again where the stream does
    assert timeline.catching_up is False
    assert _live(timeline.live(_p(9, 0))) == [_p(9, 0)]  # the stream's new first event
    assert timeline.live(_p(9, 0)).shown == []


def test_rejoin_with_a_pruned_private_stream_and_new_private_events():
    timeline = _timeline(5, 2)
    assert timeline.welcome(_welcome(5, 0)) == Step(fetch=Fetch(5, 2))
    held = timeline.live(_p(10, 9))  # live while catching up: held
    assert held.shown == [] and held.fetch is None
    # The replay brings the new chain's first event (seq above the old cursor, prev 0).
    step = timeline.replay(_replay(_p(9, 0), lost=3))
    assert (_missed(step), step.lost) == ([_p(9, 0), _p(10, 9)], 3)
    assert _cursors(timeline) == (5, 10)
    assert timeline.live(_p(10, 9)).shown == []  # shown once


def test_rejoin_with_a_pruned_private_stream_pages_from_the_old_cursor():
    timeline = _timeline(5, 2)
    timeline.welcome(_welcome(9, 0))
    step = timeline.replay(_replay(_m(6, 5), _m(7, 6), more=True, lost=2))
    assert step.fetch == Fetch(7, 2)  # still from the old private cursor
    step = timeline.replay(_replay(_m(8, 7), _m(9, 8)))
    assert (step.fetch, _cursors(timeline)) == (None, (9, 0))
    held = timeline.live(_p(11, 0))
    assert _live(held) == [_p(11, 0)]


def test_rejoin_with_a_pruned_private_stream_then_a_new_history_resets():
    timeline = _timeline(5, 2)
    timeline.welcome(_welcome(5, 0))
    assert timeline.welcome(_welcome(3, 0, "epoch-2")) == Step(reset=True)
    timeline.replay(_replay())  # a late page of the old history changes nothing more
    assert _cursors(timeline) == (3, 0)


# ---- live events ---------------------------------------------------------------------

def test_in_order_live_events_are_shown_and_move_the_cursors():
    timeline = _timeline()
    events = [_m(6, 5), _p(7, 2), Joined("carol", 1.0, 8, 6), _p(9, 7, "ana", "bob"),
              Left("carol", c.R_QUIT, 2.0, 10, 8), _m(11, 10)]
    cursors = [(6, 2), (6, 7), (8, 7), (8, 9), (10, 9), (11, 9)]
    for event, after in zip(events, cursors, strict=True):
        step = timeline.live(event)
        assert step == Step(shown=[Shown(event)])
        assert _cursors(timeline) == after


def test_events_before_the_first_welcome_wait_for_it_then_take_their_place():
    # With --fanout pub the feed can deliver before WELCOME has set the cursors.
    timeline = Timeline("ana")
    assert _live(timeline.live(_m(6, 5))) == []
    assert _live(timeline.live(_m(5, 4))) == []
    step = timeline.welcome(_welcome(4, 2))
    assert _live(step) == [_m(5, 4), _m(6, 5)]
    assert (timeline.pub, timeline.priv) == (6, 2)


def test_our_own_public_message_from_a_feed_moves_the_cursor_unseen():
    timeline = _timeline()
    own = Msg("ana", "mine", 1.0, 6, 5)
    assert _live(timeline.live(own)) == []
    assert timeline.pub == 6
    assert _live(timeline.live(_m(7, 6))) == [_m(7, 6)]


def test_unsequenced_events_are_shown_without_moving_cursors():
    timeline = _timeline()
    assert _live(timeline.live(Msg("bob", "old broker", 1.0))) == [Msg("bob", "old broker", 1.0)]
    assert _cursors(timeline) == (5, 2)


@pytest.mark.parametrize("event", [_m(5, 4), _m(3, 2), _m(5, 0), _p(2, 1), _p(1, 0)],
                         ids=repr)
def test_duplicates_are_dropped(event):
    timeline = _timeline()
    assert timeline.live(event) == Step()
    assert _cursors(timeline) == (5, 2)
    assert timeline.catching_up is False


def test_the_same_event_twice_is_shown_once():
    timeline = _timeline()
    assert _live(timeline.live(_p(6, 2))) == [_p(6, 2)]
    assert timeline.live(_p(6, 2)) == Step()


@pytest.mark.parametrize(("event", "fetch"), [
    (_m(7, 6), Fetch(5, 2)),
    (_p(7, 4), Fetch(5, 2)),
    (Joined("x", 1.0, 9, 8), Fetch(5, 2)),
], ids=["public", "private", "joined"])
def test_a_gap_holds_the_event_and_fetches_from_the_cursors(event, fetch):
    timeline = _timeline()
    step = timeline.live(event)
    assert step == Step(fetch=fetch)
    assert timeline.catching_up is True
    assert _cursors(timeline) == (5, 2)


def test_while_catching_up_live_events_are_held_without_another_fetch():
    timeline = _timeline()
    timeline.live(_m(8, 7))
    assert timeline.live(_m(9, 8)) == Step()
    assert timeline.live(_p(10, 2)) == Step()  # even one that would fit
    assert timeline.live(_m(5, 4)) == Step()   # duplicates are still dropped


# ---- replay --------------------------------------------------------------------------

def test_replay_shows_missed_events_then_releases_held_ones_once_in_order():
    timeline = _timeline()
    timeline.live(_m(8, 7))             # gap: 6 and 7 missed
    timeline.live(_p(10, 9))            # held
    timeline.live(_m(9, 8))             # held, out of seq order with 10 on purpose
    step = timeline.replay(_replay(_m(6, 5), _p(7, 2), _m(8, 6), _m(9, 8), _p(10, 7)))
    # The replay ends at the broker's head when it answered: 8, 9 and 10 came with it.
    assert [(s.event.seq, s.tag) for s in step.shown] == [
        (6, ""), (7, ""), (8, ""), (9, ""), (10, "")]
    assert step.fetch is None and step.lost == 0
    assert timeline.catching_up is False
    assert _cursors(timeline) == (9, 10)
    assert timeline.live(_m(9, 8)) == Step()   # held copies are gone


def test_held_events_newer_than_the_replay_are_shown_live_after_it():
    timeline = _timeline()
    timeline.live(_m(8, 7))
    timeline.live(_p(11, 9))
    timeline.live(_m(10, 8))
    step = timeline.replay(_replay(_m(6, 5), _m(7, 6), _m(8, 7), _p(9, 2)))
    assert [(s.event.seq, s.tag) for s in step.shown] == [
        (6, ""), (7, ""), (8, ""), (9, ""), (10, ""), (11, "")]
    assert _cursors(timeline) == (10, 11)
    assert step.fetch is None


def test_a_held_event_still_behind_a_gap_fetches_again():
    timeline = _timeline()
    timeline.live(_m(7, 6))
    timeline.live(_m(10, 9))  # 8 and 9 will not be in the replay
    step = timeline.replay(_replay(_m(6, 5), _m(7, 6)))
    assert _missed(step) == [_m(6, 5), _m(7, 6)]
    assert step.fetch == Fetch(7, 2)
    assert timeline.catching_up is True
    step = timeline.replay(_replay(_m(8, 7), _m(9, 8), _m(10, 9)))
    assert _missed(step) == [_m(8, 7), _m(9, 8), _m(10, 9)]
    assert timeline.catching_up is False


def test_replay_skips_our_own_public_messages_but_steps_over_them():
    timeline = _timeline()
    timeline.live(_m(8, 7))
    step = timeline.replay(_replay(_m(6, 5, sender="ANA"), _p(7, 2, "ana", "bob"), _m(8, 6)))
    assert _missed(step) == [_p(7, 2, "ana", "bob"), _m(8, 6)]  # our private copy is shown
    assert _cursors(timeline) == (8, 7)


def test_replay_skips_our_own_joins_and_leaves_but_steps_over_them():
    timeline = _timeline()
    timeline.live(_m(9, 8))
    step = timeline.replay(_replay(Left("ANA", c.R_TIMEOUT, 1.0, 6, 5),
                                   Joined("ana", 2.0, 7, 6), Joined("bob", 3.0, 8, 7),
                                   _m(9, 8)))
    assert [(s.event.seq, s.tag) for s in step.shown] == [(8, ""), (9, "")]
    assert _cursors(timeline) == (9, 2)


def test_replay_skips_what_was_already_shown():
    timeline = _timeline()
    timeline.live(_m(7, 6))
    step = timeline.replay(_replay(_m(4, 3), _p(2, 1), _m(6, 5), _m(7, 6)))
    assert _missed(step) == [_m(6, 5), _m(7, 6)]


def test_replay_continues_with_a_fetch_while_more():
    timeline = _timeline()
    timeline.live(_m(12, 11))
    timeline.live(_m(13, 12))
    step = timeline.replay(_replay(_m(6, 5), _p(7, 2), more=True))
    assert _missed(step) == [_m(6, 5), _p(7, 2)]
    assert step.fetch == Fetch(6, 7)
    assert timeline.catching_up is True
    step = timeline.replay(_replay(_m(8, 6), _m(9, 8), more=True))
    assert step.fetch == Fetch(9, 7)
    step = timeline.replay(_replay(_p(10, 7), _m(11, 9), _m(12, 11)))
    assert [(s.event.seq, s.tag) for s in step.shown] == [
        (10, ""), (11, ""), (12, ""), (13, "")]
    assert step.fetch is None
    assert timeline.catching_up is False
    assert _cursors(timeline) == (13, 10)


def test_an_empty_page_ends_the_catch_up_even_with_more():
    timeline = _timeline()
    timeline.live(_m(7, 6))
    step = timeline.replay(_replay(more=True))
    assert step.fetch == Fetch(5, 2)  # the held event is still behind a gap: ask again
    assert timeline.catching_up is True
    timeline = _timeline()
    timeline.heads(6, None)
    assert timeline.replay(_replay(more=True)) == Step()
    assert timeline.catching_up is False


def test_lost_is_reported_from_every_page():
    # The broker reports a stream's loss on the page holding that stream's first event
    # (or on the last page): any page may carry it, and each page's count is shown.
    timeline = _timeline()
    timeline.live(_m(12, 11))
    step = timeline.replay(_replay(_p(7, 2), more=True))  # private first: public loss unknown
    assert (step.lost, step.fetch) == (0, Fetch(5, 7))
    step = timeline.replay(_replay(_m(8, 7), more=True, lost=2))  # public stream: 6, 7 lost
    assert (step.lost, step.fetch) == (2, Fetch(8, 7))
    step = timeline.replay(_replay(_m(11, 8), _m(12, 11), lost=1))
    assert step.lost == 1
    assert [(s.event.seq, s.tag) for s in step.shown] == [(11, ""), (12, "")]
    assert timeline.catching_up is False


def test_lost_on_a_first_page_with_more_is_reported():
    timeline = _timeline()
    timeline.live(_m(9, 8))
    step = timeline.replay(_replay(_m(8, 7), more=True, lost=3))
    assert step.lost == 3
    step = timeline.replay(_replay(_m(9, 8)))
    assert step.lost == 0  # a page that reports nothing shows nothing


def test_lost_is_reported_from_pages_without_new_events():
    timeline = _timeline()
    timeline.live(_m(9, 8))
    # An empty last page: the broker counts a wholly pruned stream from its head.
    step = timeline.replay(_replay(lost=4))
    assert step.lost == 4
    assert step.fetch == Fetch(5, 2)  # 9 is still behind a gap
    # A page of events already shown still reports its loss.
    step = timeline.replay(_replay(_m(4, 3), _m(9, 8), lost=1))
    assert step.lost == 1
    # A new catch-up reports its own loss too.
    timeline.live(_m(12, 11))
    assert timeline.replay(_replay(_m(12, 11), lost=2)).lost == 2


def test_replay_keeps_no_first_page_state():
    timeline = _timeline()
    assert not hasattr(timeline, "_first_page")
    timeline.live(_m(9, 8))
    assert timeline.replay(_replay(_m(8, 7), more=True, lost=3)).lost == 3
    assert timeline.replay(_replay(_m(9, 8), lost=3)).lost == 3  # the page says so: shown


def test_replay_events_are_taken_in_seq_order():
    timeline = _timeline()
    timeline.live(_m(8, 7))
    step = timeline.replay(_replay(_m(8, 7), _p(7, 2), _m(6, 5)))
    assert [s.event.seq for s in step.shown] == [6, 7, 8]


# ---- heads from a PING ---------------------------------------------------------------

@pytest.mark.parametrize(("pub", "priv"), [(6, None), (5, 3), (9, 9), (None, 3)])
def test_heads_ahead_start_a_catch_up(pub, priv):
    timeline = _timeline()
    assert timeline.heads(pub, priv) == Step(fetch=Fetch(5, 2))
    assert timeline.catching_up is True


@pytest.mark.parametrize(("pub", "priv"), [(5, None), (5, 2), (4, 1), (None, None), (0, 0)])
def test_heads_not_ahead_do_nothing(pub, priv):
    timeline = _timeline()
    assert timeline.heads(pub, priv) == Step()
    assert timeline.catching_up is False


def test_heads_while_catching_up_do_nothing():
    timeline = _timeline()
    timeline.live(_m(8, 7))
    assert timeline.heads(20, 20) == Step()


def test_heads_before_the_first_welcome_do_nothing():
    assert Timeline("ana").heads(5, 5) == Step()


# ---- our own public messages ---------------------------------------------------------

def test_own_public_steps_over_our_message_when_prev_matches():
    timeline = _timeline()
    timeline.own_public(6, 5)
    assert timeline.pub == 6
    assert _live(timeline.live(_m(7, 6))) == [_m(7, 6)]


def test_own_public_with_another_prev_leaves_the_cursor():
    timeline = _timeline()
    timeline.own_public(7, 6)  # we missed 6
    assert timeline.pub == 5
    assert timeline.live(_m(8, 7)).fetch == Fetch(5, 2)


def test_own_public_while_catching_up_leaves_the_cursor():
    timeline = _timeline()
    timeline.live(_m(7, 6))
    timeline.own_public(6, 5)
    assert timeline.pub == 5
    # The replay brings it back, not shown, and the held event follows.
    step = timeline.replay(_replay(_m(6, 5, sender="ana")))
    assert step.shown == [Shown(_m(7, 6))]


def test_history_tag_is_distinct():
    assert len({"", MISSED, HISTORY}) == 3


# ---- a randomized property: everything shown exactly once, per stream in order --------

ME = "ana"


class _Model:
    """The broker as far as one reader sees it: its two streams, and the wire to it."""

    def __init__(self, rng: random.Random, drop: float, dup: float) -> None:
        self.rng, self.drop, self.dup = rng, drop, dup
        self.pub = rng.randint(0, 5)
        self.priv = rng.randint(0, 5)
        self.seq = max(self.pub, self.priv)
        self.stream: list = []        # every event of ana's two streams, in seq order
        self.own: set[int] = set()    # ana's own public messages (never sent back to her)
        self.wire: list = []          # FIFO from the broker to ana
        self.requests: deque = deque()  # FETCHes from ana, not yet answered
        self.received = {Msg: 0, Priv: 0}  # the highest seq delivered live, per stream

    def _send(self, item, droppable: bool = True) -> None:
        if droppable and self.rng.random() < self.drop:
            return  # the queue was full: lost
        self.wire.append(item)
        if droppable and self.rng.random() < self.dup:
            self.wire.insert(self.rng.randint(len(self.wire), len(self.wire) + 3), item)

    def event(self) -> None:
        rng = self.rng
        self.seq += 1
        seq, roll = self.seq, rng.random()
        other = rng.choice(["bob", "Carol"])
        if roll < 0.3:
            event = _m(seq, self.pub, other)
        elif roll < 0.4:
            event = rng.choice([Joined(other, 1.0, seq, self.pub),
                                Left(other, c.R_TIMEOUT, 1.0, seq, self.pub)])
        elif roll < 0.55:  # ana's own SAY: acknowledged, not sent back
            event = _m(seq, self.pub, "ANA")
            self.own.add(seq)
            self.stream.append(event)
            self._send(("ack", seq, self.pub))
            self.pub = seq
            return
        elif roll < 0.75:
            event = _p(seq, self.priv, other, "ana")
        elif roll < 0.85:
            event = _p(seq, self.priv, "Ana", other)  # ana's copy of her TELL
        else:
            return  # a private message between others: a number ana never sees
        if isinstance(event, Priv):
            self.priv = seq
        else:
            self.pub = seq
        self.stream.append(event)
        self._send(("live", event))

    def answer(self) -> None:
        fetch = self.requests.popleft()
        limit = min(fetch.limit, self.rng.randint(1, 4))  # small pages, to page a lot
        wanted = [e for e in self.stream
                  if e.seq > (fetch.priv if isinstance(e, Priv) else fetch.pub)]
        self._send(("events", _replay(*wanted[:limit], more=len(wanted) > limit)),
                   droppable=False)

    def ping(self, droppable: bool = True) -> None:
        self._send(("ping", self.pub, self.priv if self.rng.random() < 0.5 else None),
                   droppable)

    def reconnect(self) -> None:
        self.wire.clear()  # whatever was on the way to the old socket is gone
        self.requests.clear()
        self.wire.append(("welcome", _welcome(self.pub, self.priv)))


def _deliver(timeline: Timeline, model: _Model, shown: list) -> None:
    kind, *rest = model.wire.pop(0)
    if kind == "live":
        event = rest[0]
        step = timeline.live(event)
        stream = Priv if isinstance(event, Priv) else Msg
        model.received[stream] = max(model.received[stream], event.seq)
    elif kind == "events":
        step = timeline.replay(rest[0])
        if rest[0].more and rest[0].events:
            assert step.fetch is not None, "a page with more must lead to the next FETCH"
    elif kind == "ping":
        step = timeline.heads(*rest)
    elif kind == "welcome":
        step = timeline.welcome(rest[0])
    else:
        timeline.own_public(*rest)
        return
    assert step.lost == 0 and not step.reset, step
    shown.extend(step.shown)
    if step.fetch is not None:
        model.requests.append(step.fetch)
    if not timeline.catching_up:
        # Nothing received is left behind: every live event was shown, dropped as a
        # duplicate, or is held while a catch-up is under way.
        assert timeline.pub >= model.received[Msg], (kind, timeline.pub, model.received)
        assert timeline.priv >= model.received[Priv], (kind, timeline.priv, model.received)


def _run(seed: int, steps: int) -> tuple[_Model, Timeline, list]:
    rng = random.Random(seed)
    model = _Model(rng, drop=rng.choice([0.0, 0.05, 0.2, 0.5]), dup=rng.choice([0.0, 0.1, 0.3]))
    timeline = Timeline(ME)
    assert timeline.welcome(_welcome(model.pub, model.priv)) == Step()
    shown: list[Shown] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.4:
            model.event()
        elif roll < 0.5 and model.requests:
            model.answer()
        elif roll < 0.55:
            model.ping()
        elif roll < 0.57:
            model.reconnect()
        elif model.wire:
            _deliver(timeline, model, shown)
    # Quiet: no new events; heartbeats go on until ana has caught up.
    for _ in range(1000):
        if model.wire:
            _deliver(timeline, model, shown)
        elif model.requests:
            model.answer()
        elif timeline.catching_up or (timeline.pub, timeline.priv) != (model.pub, model.priv):
            model.ping(droppable=False)
        else:
            break
    else:
        pytest.fail(f"seed {seed}: never caught up", pytrace=False)
    return model, timeline, shown


@pytest.mark.parametrize("seed", range(300))
def test_random_drops_and_duplicates_show_every_event_once_in_order(seed):
    model, timeline, shown = _run(seed, steps=50 + seed % 7 * 60)
    expected = [e for e in model.stream if e.seq not in model.own]
    got = [s.event for s in shown]
    assert all(s.tag in ("", MISSED) for s in shown)
    # Exactly once...
    assert sorted(got, key=lambda e: e.seq) == expected, f"seed {seed}"
    # ...and in order on each stream (the two streams are independent: a private event
    # fetched late may follow a public one that was shown live).
    for stream in (Priv, (Msg, Joined, Left)):
        assert [e for e in got if isinstance(e, stream)] == [
            e for e in expected if isinstance(e, stream)], f"seed {seed}"
    assert (timeline.pub, timeline.priv) == (model.pub, model.priv)
    assert timeline.catching_up is False


def test_without_loss_everything_is_shown_live_in_global_order():
    rng = random.Random(7)
    model = _Model(rng, drop=0.0, dup=0.0)
    timeline = Timeline(ME)
    timeline.welcome(_welcome(model.pub, model.priv))
    shown: list[Shown] = []
    for _ in range(300):
        model.event()
        while model.wire:
            _deliver(timeline, model, shown)
    assert model.requests == deque()
    assert shown == [Shown(e) for e in model.stream if e.seq not in model.own]


def test_replay_tags_as_missed_only_what_happened_while_we_were_away():
    timeline = _timeline(5, 2)          # cursors 5/2
    timeline.welcome(_welcome(8, 2))    # a rejoin: 6..8 happened while we were away
    step = timeline.replay(Events("replay", (_m(6, 5), _m(7, 6), _m(8, 7), _m(9, 8))))
    assert [(s.event.seq, s.tag) for s in step.shown] == [
        (6, MISSED), (7, MISSED), (8, MISSED), (9, "")]  # 9 came after: late, not missed


def test_unnumbered_events_are_shown_at_once_never_held_and_never_move_cursors() -> None:
    """seq 0: delivered during a cluster outage, kept nowhere, so never a gap."""
    t = _timeline()
    assert t.live(_m(0, 0)).shown == [Shown(_m(0, 0))]
    assert t.live(Msg("Ana", "mine", 1.0, 0, 0)).shown == []  # a feed echoes our own
    assert t.live(_p(0, 0)).shown == [Shown(_p(0, 0))]
    assert _cursors(t) == (5, 2)


# ---- rooms: one cursor per room the session is in (docs/ROOMS.md) ---------------------

def _rm(seq: int, prev: int, room: str = "#sala", sender: str = "bob") -> Msg:
    return Msg(sender, f"r{seq}", 1000.0 + seq, seq, prev, room)


def _room_welcome(pub: int, priv: int, rooms: dict[str, int], epoch: str = EPOCH) -> Welcome:
    return Welcome("ana", "token", 1.0, pub=pub, priv=priv, epoch=epoch, room="#geral",
                   rooms=(("#geral", pub), *rooms.items()))


def _room_timeline(rooms: dict[str, int] | None = None) -> Timeline:
    timeline = Timeline("ana")
    assert timeline.welcome(_room_welcome(5, 2, {"#sala": 3} if rooms is None else rooms)) \
        == Step()
    return timeline


def test_welcome_adopts_room_heads_but_not_the_default_room():
    timeline = _room_timeline({"#sala": 3, "#Outra": 4})
    assert timeline.rooms == {"#sala": 3, "#outra": 4}
    assert (timeline.pub, timeline.priv) == (5, 2)


def test_room_events_follow_their_own_chain():
    timeline = _room_timeline()
    assert _live(timeline.live(_rm(6, 3))) == [_rm(6, 3)]
    assert _live(timeline.live(_m(7, 5))) == [_m(7, 5)]  # the public chain, untouched
    assert _live(timeline.live(_rm(8, 6))) == [_rm(8, 6)]
    assert (timeline.pub, timeline.rooms["#sala"]) == (7, 8)


def test_a_gap_in_a_room_fetches_with_the_room_cursors_and_holds():
    timeline = _room_timeline({"#sala": 3, "#b": 1})
    step = timeline.live(_rm(9, 7))
    assert step.shown == []
    assert step.fetch == Fetch(5, 2, rooms=(("#b", 1), ("#sala", 3)))
    assert timeline.catching_up
    assert _live(timeline.live(_m(10, 5))) == []  # held behind the catch-up
    step = timeline.replay(_replay(_rm(7, 3)))
    assert [s.event for s in step.shown] == [_rm(7, 3), _rm(9, 7), _m(10, 5)]
    assert (timeline.pub, timeline.rooms["#sala"]) == (10, 9)


def test_a_room_replay_pages_on_with_every_cursor():
    timeline = _room_timeline()
    timeline.live(_rm(9, 7))
    step = timeline.replay(_replay(_rm(6, 3), _m(7, 5), more=True))
    assert step.fetch == Fetch(7, 2, rooms=(("#sala", 6),))


def test_entered_starts_a_cursor_at_the_head():
    timeline = _room_timeline({})
    assert timeline.entered("#Nova", 12) == Step()
    assert timeline.rooms == {"#nova": 12}
    assert _live(timeline.live(_rm(13, 12, "#nova"))) == [_rm(13, 12, "#nova")]


def test_entered_again_behind_the_head_catches_up():
    timeline = _room_timeline()
    assert timeline.entered("#sala", 3) == Step()  # nothing new: nothing asked
    assert timeline.entered("#sala", 6).fetch == Fetch(5, 2, rooms=(("#sala", 3),))


def test_events_of_a_parted_room_are_dropped():
    timeline = _room_timeline()
    timeline.parted("#SALA")
    assert timeline.rooms == {}
    assert timeline.live(_rm(6, 3)) == Step()  # no fetch either
    assert timeline.refetch() == Fetch(5, 2)


def test_parting_drops_held_events_of_the_room():
    timeline = _room_timeline()
    timeline.live(_rm(9, 7))  # held, catching up
    timeline.parted("#sala")
    step = timeline.replay(_replay(_rm(7, 3), _m(8, 5)))
    assert [s.event for s in step.shown] == [_m(8, 5)]


def test_ack_of_a_room_message_moves_that_room_cursor():
    timeline = _room_timeline()
    timeline.own_public(6, 3, "#sala")
    assert (timeline.pub, timeline.rooms["#sala"]) == (5, 6)
    timeline.own_public(7, 5)
    assert (timeline.pub, timeline.rooms["#sala"]) == (7, 6)
    timeline.own_public(9, 4, "#sala")  # not linked to our cursor: the gap is fetched later
    assert timeline.rooms["#sala"] == 6


def test_ping_room_heads_start_a_catch_up():
    timeline = _room_timeline()
    assert timeline.heads(5, 2, (("#sala", 3),)) == Step()
    assert timeline.heads(5, 2, (("#other", 9),)) == Step()  # not ours: ignored
    step = timeline.heads(5, 2, (("#Sala", 4),))
    assert step.fetch == Fetch(5, 2, rooms=(("#sala", 3),))
    assert timeline.catching_up


def test_rejoin_behind_a_room_head_fetches_and_drops_rooms_no_longer_ours():
    timeline = _room_timeline({"#sala": 3, "#gone": 4})
    step = timeline.welcome(_room_welcome(5, 2, {"#sala": 8, "#new": 20}))
    assert step.fetch == Fetch(5, 2, rooms=(("#new", 20), ("#sala", 3)))
    step = timeline.replay(_replay(_rm(8, 3)))
    assert [(s.event, s.tag) for s in step.shown] == [(_rm(8, 3), MISSED)]
    assert timeline.rooms == {"#sala": 8, "#new": 20}


def test_rejoin_at_the_same_room_heads_changes_nothing():
    timeline = _room_timeline()
    assert timeline.welcome(_room_welcome(5, 2, {"#sala": 3})) == Step()


def test_a_reset_adopts_the_new_room_heads():
    timeline = _room_timeline()
    step = timeline.welcome(_room_welcome(1, 0, {"#x": 1}, epoch="epoch-2"))
    assert step == Step(reset=True)
    assert timeline.rooms == {"#x": 1}


def test_a_broker_without_rooms_has_no_room_cursors():
    timeline = _timeline()
    assert timeline.rooms == {}
    assert timeline.refetch() == Fetch(5, 2)
