"""Full-text search over the chat's history (issue 18): what a user may read, by words.

`SearchIndex` owns one SQLite FTS5 index of the chat's messages (MSG and PRIV
events; never a join or a leave), fed by the broker after delivery and pruned
with the history store, in a file of its own (``search.db`` beside the history,
by the caller's choice) or in memory. It does no network I/O and decides nothing
about sessions: the caller says which rooms and private streams a searcher may
read, and gets back stored events, newest first.

A search reads rows newest first (FTS5's rowid order, rowid = seq) and stops once
its page is full: FTS5 walks its lists lazily and never sorts the matches. Who may
read each row is in a small table beside the index (``readers``: ids of its room,
or of a PRIV's two private streams, and of its sender), looked up for each row
FTS5 finds, so a row the searcher may not read is never even fetched. The index
also holds a token per stream in each row (its ``scope`` column), and how many
rows each stream holds. A search is made one of two ways, whichever should read
less:

- its words alone, each match's readers looked up: cheap for a reader of most of
  the chat, whose matches are mostly readable (about a microsecond a row);
- its words AND one of the reader's streams, so that FTS5 passes over others'
  rows inside its lists: what a reader of a small part of the chat needs, as most
  matches are others'; but each step of that walk costs about SCOPE_STEP_ROWS row
  lookups per stream of the reader's, so it is only for readers whose streams
  hold few rows, or are few.

Either way the search stops at its time budget and says where it got to.
A file that is lost or deleted is made again by `rebuild` from the history.
"""

import logging
import os
import queue
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from zchat.protocol import constants as c
from zchat.protocol import name_key

from .sqlite_store import WAL_LIMIT, Checkpointer
from .store import IN_USE, PUBLIC, StoredEvent, StoreError

log = logging.getLogger(__name__)

#: A search's bounds: words (terms) in it, characters in a word, characters in all
#: (punctuation between words included), and hits on one page.
MAX_TERMS = 16
MAX_TERM_CHARS = 64
MAX_QUERY_CHARS = MAX_TERMS * (MAX_TERM_CHARS + 1)
MAX_HITS = 100
#: The default bound on one search's wall time (seconds), on the caller's thread.
BUDGET_S = 0.02
#: SQLite virtual-machine steps between two looks at the clock during a search. FTS5
#: runs a few for each page of its index it reads, so the clock is read while it walks
#: its lists too (about every 0.5 ms of that walk; a look costs well under 1 us).
PROGRESS_STEPS = 100
#: What one step of FTS5's walk costs per stream in the query, in rows' readers looked
#: up (about, at a million messages: benchmarks/search.py). A search asks FTS5 for the
#: reader's streams when (rows they hold) x (streams) x this < (rows in all).
SCOPE_STEP_ROWS = 5
#: FTS5's automerge: how many segments of a level it lets pile up before it merges
#: them, a little at each commit. Its default (4) made one commit in a hundred of a
#: broker's cycle take 20 ms or more on a million messages, some 100 ms; 8 keeps
#: the 99th under 2 ms for a few more segments to read (benchmarks/search.py).
AUTOMERGE = 8
#: Events indexed per commit by `rebuild`.
REBUILD_BATCH = 10_000
#: Seqs looked up per statement by `fill` (below SQLite's bound on parameters).
_LOOKUP_BATCH = 500

_INDEXED = (c.MSG, c.PRIV)
#: ``messages``, the FTS5 index: ``body`` holds the words; ``scope`` a token per
#: stream the row belongs to and ``sender`` one for its sender (``k`` and the key's id
#: in ``streams``); the rest is what a hit needs to become a StoredEvent again, kept by
#: FTS5, not indexed. rowid = seq. columnsize=0: no per-row sizes (they serve ranking
#: by relevance; hits come by seq).
#: ``readers``: who may read each row, as ids of ``streams``: its room's (twice), or
#: a PRIV's two private streams'; and its sender's. A small table, cheap to look up
#: for each row FTS5 finds, where FTS5's own row (its text) costs several times more.
#: ``streams``: the keys of rooms (``r`` and the room's key), private streams (``p``
#: and the stream key) and senders (``n`` and the name key), and how many rows each
#: is in (a search's plan); a key goes when its last row does.
_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS messages USING fts5(
    body, scope, sender,
    kind UNINDEXED, ts UNINDEXED, name UNINDEXED, target UNINDEXED, room UNINDEXED,
    origin UNINDEXED, to_key UNINDEXED, prev UNINDEXED, prev_to UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
);
CREATE TABLE IF NOT EXISTS readers (
    seq INTEGER PRIMARY KEY,
    stream INTEGER NOT NULL,
    stream_to INTEGER NOT NULL,
    sender INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    rows INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_INSERT = ("INSERT INTO messages (rowid, body, scope, sender, kind, ts, name, target, room, "
           "origin, to_key, prev, prev_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_READERS = "INSERT INTO readers (seq, stream, stream_to, sender) VALUES (?, ?, ?, ?)"
_SET_META = ("INSERT INTO meta (key, value) VALUES (?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
_SET_STREAM = ("INSERT INTO streams (id, key, rows) VALUES (?, ?, ?) "
               "ON CONFLICT (id) DO UPDATE SET rows = excluded.rows")
_HIT = ("SELECT rowid, kind, ts, name, body, target, room, origin, to_key, prev, prev_to "
        "FROM messages WHERE rowid = ?")
#: A row as written to ``messages``: seq (the rowid), body, scope, sender, kind, ts,
#: name, target, room, origin, to_key, prev, prev_to.
_Row = tuple[int, str, str, str, str, float, str, str, str, str, str, int, int]


@lru_cache(maxsize=512)
def _search_sql(streams: int, sender: bool) -> str:
    """A search's rows: those FTS5 matches (parameter 1), between ``before`` and ``after``
    (2, 3), that one of ``streams`` ids (4 on, twice) may read, and of the sender's id
    (the last, with ``sender``). Newest first in FTS5's own rowid order, which it walks
    lazily (the caller stops at its page's end: FTS5 never sorts every match); each
    row's readers looked up by seq (CROSS JOIN: that order, whatever the statistics)."""
    marks = ", ".join("?" * streams)
    return ("SELECT m.rowid FROM messages AS m CROSS JOIN readers AS r ON r.seq = m.rowid "
            "WHERE m.messages MATCH ? AND m.rowid < ? AND m.rowid > ? "
            f"AND (r.stream IN ({marks}) OR r.stream_to IN ({marks})) "
            f"{'AND r.sender = ? ' if sender else ''}ORDER BY m.rowid DESC")


class SearchError(StoreError):
    """The index cannot be opened, read or written. A StoreError, so that a caller
    that does not tell them apart stops as for the history; one that does may delete
    the file and `rebuild` it instead."""


@dataclass(frozen=True)
class SearchResult:
    """One page of a search."""

    hits: tuple[StoredEvent, ...]  # newest first
    #: More hits may exist beyond the page (older than its last hit). True when the
    #: search stopped early.
    more: bool
    #: False when the time budget ran out before the page was complete.
    complete: bool
    #: With ``more``: where the next page starts (search again with ``before`` = this):
    #: the page's last hit, or, when time ran out, the oldest message looked at (so
    #: even a page without hits moves on; None if it looked at none: ask again).
    next_before: int | None = None


_NOTHING = SearchResult((), False, True)


class SearchIndex:
    """Full-text index of the chat's messages (SQLite FTS5), fed after delivery.

    Writes are grouped as the history store's are: `add` any number of events, then
    `commit` once per cycle. Events come in seq order; one at or below `last_seq` is
    taken as indexed already (so adding again changes nothing); `fill` adds what
    the index lacks in any order (a cluster's index, built from the shared history
    while the live log feeds it). A search sees every event added, committed or not.

    Hits are StoredEvents with what `StoredEvent.for_reader` needs (a PRIV's stream
    keys, every event's ``prev`` links), not a message's ``cid``, nor a MSG's
    ``origin``: the duplicate check's, which a search has no use for.

    Raises:
        SearchError: from any method, when the index cannot be opened, read or
            written; from the constructor when this Python's SQLite has no FTS5.
        ValueError: from `search` only, for a query over its bounds (MAX_TERMS,
            MAX_TERM_CHARS, MAX_QUERY_CHARS), with a sentence that names the bound.
    """

    def __init__(self, path: Path | None = None, *, budget_s: float = BUDGET_S,
                 wal_limit: int = 0) -> None:
        """``path``: the index file (None: in memory). ``budget_s``: the most wall time
        one `search` takes (0: it stops at the first look at the clock).
        ``wal_limit``: as SqliteStore's (default WAL_LIMIT)."""
        why = self.available()
        if why is not None:
            raise SearchError(why)
        #: The most wall time one `search` takes (seconds; may be changed at any time).
        self.budget_s = budget_s
        self._rows: list[_Row] = []
        self._readers: list[tuple[int, int, int, int]] = []
        #: Added since the last commit (rows, or only events passed over).
        self._pending = False
        #: ``streams`` in memory: key -> id, id -> key, id -> rows; the ids whose rows
        #: changed since the last commit; the rows in all.
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        self._held: dict[int, int] = {}
        self._changed: set[int] = set()
        self._total = 0
        self._next_id = 1
        #: Rows above `_last`, added by `fill` (`add` passes over them).
        self._ahead: set[int] = set()
        self._checkpointer: Checkpointer | None = None
        # Private messages again: the file is the broker user's alone, as the history's.
        old_umask = os.umask(0o077)
        try:
            self._db = self._open(path, wal_limit or WAL_LIMIT)
        finally:
            os.umask(old_umask)
        try:
            self._last = self._meta("last_seq")
            self._pruned = self._meta("pruned_upto")
            self._total = self._meta("rows")
            for id_, key, rows in self._db.execute("SELECT id, key, rows FROM streams"):
                self._ids[key], self._keys[id_], self._held[id_] = id_, key, rows
            self._next_id = max(self._keys, default=0) + 1
        except sqlite3.Error as exc:
            self._db.close()
            raise SearchError(f"cannot read the search index: {exc}") from None
        #: A file index's writes run on a thread of their own (_Writer); in memory, here.
        self._writer: _Writer | None = None
        if path is not None:
            self._checkpointer = Checkpointer(path, wal_limit or WAL_LIMIT)
            for owned in (path, path.with_name(path.name + "-wal"),
                          path.with_name(path.name + "-shm")):
                try:
                    os.chmod(owned, 0o600)
                except OSError:
                    pass
            self._writer = _Writer(path)

    @staticmethod
    def _open(path: Path | None, wal_limit: int) -> sqlite3.Connection:
        db = None
        try:
            db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None)
            if path is not None:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                # Checkpoints run in the Checkpointer's thread, not in the caller's commits.
                db.execute("PRAGMA wal_autocheckpoint=0")
                db.execute(f"PRAGMA journal_size_limit={wal_limit}")
            db.execute("PRAGMA temp_store=MEMORY")  # (as the store: no descriptor needed)
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO messages (messages, rank) VALUES ('automerge', ?)",
                       (AUTOMERGE,))
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise SearchError(f"search index {path} is unusable: {exc}") from None
        return db

    @staticmethod
    def available() -> str | None:
        """None if this Python's SQLite can hold the index, else a sentence saying why
        not (the caller then runs without search, and says so)."""
        try:
            db = sqlite3.connect(":memory:")
        except sqlite3.Error as exc:
            return f"search is unavailable: SQLite cannot open a database: {exc}"
        try:
            db.execute("CREATE VIRTUAL TABLE probe USING fts5(body, "
                       "tokenize = 'unicode61 remove_diacritics 2')")
        except sqlite3.Error as exc:
            return (f"search is unavailable: this Python's SQLite {sqlite3.sqlite_version} "
                    f"has no FTS5 full-text index with remove_diacritics 2 "
                    f"(needs SQLite 3.27 or later built with FTS5): {exc}")
        finally:
            db.close()
        return None

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    def pruned_upto(self) -> int:
        """The newest number pruned from the index (0: none)."""
        return self._pruned

    def newest(self) -> int:
        """The highest seq the index holds or passed over: `last_seq`, or a message
        `fill` added above it."""
        return max(self._last, max(self._ahead)) if self._ahead else self._last

    def last_seq(self) -> int:
        """The highest seq added (indexed, or passed over as no message) or pruned: a
        catch-up from the history starts after it."""
        return self._last

    def add(self, events: Iterable[StoredEvent]) -> None:
        """Queue the messages among ``events`` (one row each); `commit` writes them."""
        for event in events:
            if event.seq <= self._last:
                continue
            self._last = event.seq
            self._pending = True
            if event.kind in _INDEXED and event.seq not in self._ahead:
                self._row(event)
        if self._ahead:
            self._ahead = {seq for seq in self._ahead if seq > self._last}

    def reach(self, seq: int) -> None:
        """Take every event up to ``seq`` as added: what comes after it is fed with `add`,
        and what the index lacks below it is filled in with `fill` (a clustered
        broker's index, built from the shared history while the shared log feeds it:
        cluster_index.py)."""
        if seq > self._last:
            self._last = seq
            self._pending = True

    def fill(self, events: Iterable[StoredEvent]) -> int:
        """Queue the messages among ``events`` that the index does not hold, in any order
        (those pruned or held already are passed over); how many were new. Each is
        looked up, after what is pending is written. Below `last_seq`: what a catch-up
        read back from the history; above it: messages read back before they came to
        `add` (a private stream's, cluster_index.py), which `add` then passes over."""
        wanted = {event.seq: event for event in events
                  if event.kind in _INDEXED and event.seq > self._pruned}
        if not wanted:
            return 0
        self._written()
        seqs = sorted(wanted)
        held: set[int] = set()
        try:
            for start in range(0, len(seqs), _LOOKUP_BATCH):
                part = seqs[start:start + _LOOKUP_BATCH]
                marks = ", ".join("?" * len(part))
                held.update(seq for (seq,) in self._db.execute(
                    f"SELECT seq FROM readers WHERE seq IN ({marks})", part))
        except sqlite3.Error as exc:
            raise SearchError(f"cannot read the search index: {exc}") from None
        new = [seq for seq in seqs if seq not in held]
        for seq in new:
            self._row(wanted[seq])
            if seq > self._last:
                self._ahead.add(seq)
        if new:
            self._pending = True
        return len(new)

    def _row(self, event: StoredEvent) -> None:
        """Queue one message's row (MSG or PRIV) and count it in its streams."""
        if event.kind == c.PRIV:
            stream, stream_to = self._id("p" + event.origin), self._id("p" + event.to_key)
            origin, to_key = event.origin, event.to_key
        else:
            stream = stream_to = self._id("r" + event.room)
            origin = to_key = ""
        sender = self._id("n" + name_key(event.name))
        self._count({stream, stream_to, sender}, 1)
        self._total += 1
        self._readers.append((event.seq, stream, stream_to, sender))
        self._rows.append((event.seq, event.text, " ".join({f"k{stream}", f"k{stream_to}"}),
                           f"k{sender}", event.kind, event.ts, event.name, event.to,
                           event.room, origin, to_key, event.prev, event.prev_to))

    def _id(self, key: str) -> int:
        """The id of a stream's or a sender's key (a new one for a key not held)."""
        id_ = self._ids.get(key)
        if id_ is None:
            id_ = self._ids[key] = self._next_id
            self._next_id += 1
            self._keys[id_] = key
            self._held[id_] = 0
        return id_

    def _count(self, ids: Iterable[int], rows: int) -> None:
        for id_ in ids:
            self._held[id_] += rows
            self._changed.add(id_)

    def commit(self) -> None:
        """Write what was added since the last commit, in one transaction."""
        if not self._pending:
            return
        rows, readers = self._rows, self._readers
        self._rows, self._readers, self._pending = [], [], False

        def write(db: sqlite3.Connection) -> None:
            db.executemany(_INSERT, rows)
            db.executemany(_INSERT_READERS, readers)

        self._write("cannot write the search index", write)

    def _write(self, failure: str, change: Callable[[sqlite3.Connection], object]) -> None:
        """One transaction: ``change``, then the counts and marks it moved."""
        changed = [(id_, self._keys[id_], self._held[id_]) for id_ in self._changed]
        self._changed.clear()
        for id_, key, rows in changed:
            if rows <= 0:  # (its last row is gone: so is the key)
                del self._ids[key], self._keys[id_], self._held[id_]
        meta = [("last_seq", self._last), ("rows", self._total), ("pruned_upto", self._pruned)]
        checkpointer = self._checkpointer

        def transaction(db: sqlite3.Connection) -> None:
            try:
                db.execute("BEGIN")
                change(db)
                db.executemany(_SET_STREAM, [row for row in changed if row[2] > 0])
                db.executemany("DELETE FROM streams WHERE id = ?",
                               [(id_,) for id_, _, rows in changed if rows <= 0])
                db.executemany(_SET_META, meta)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise SearchError(f"{failure}: {exc}") from None
            _restart_wal(db, checkpointer)

        if self._writer is None:
            transaction(self._db)
        else:
            self._writer.submit(transaction)

    def write_seconds(self) -> float:
        """Seconds the writer thread has spent so far (0 without one: writes are then
        the caller's own time)."""
        return 0.0 if self._writer is None else self._writer.seconds

    def writing(self) -> bool:
        """Whether the writer thread has commits still to write (a search now would not
        see them; one that waits for them would wait on the caller's thread)."""
        self.commit()
        return self._writer is not None and self._writer.busy()

    def _written(self) -> None:
        """Wait until every commit so far is in the file (a read must see them)."""
        self.commit()
        if self._writer is not None:
            self._writer.wait()

    def prune(self, upto: int) -> None:
        """Drop every event numbered ``upto`` or below, as the history store did."""
        if upto <= self._pruned:
            return
        self._written()
        upto = min(upto, IN_USE)
        try:
            gone = self._db.execute("SELECT stream, stream_to, sender, COUNT(*) FROM readers "
                                    "WHERE seq <= ? GROUP BY stream, stream_to, sender",
                                    (upto,)).fetchall()
        except sqlite3.Error as exc:
            raise SearchError(f"cannot prune the search index: {exc}") from None
        for stream, stream_to, sender, rows in gone:
            self._count({stream, stream_to, sender}, -rows)
            self._total -= rows
        self._pruned = upto
        self._last = max(self._last, upto)

        def delete(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM messages WHERE rowid <= ?", (upto,))
            db.execute("DELETE FROM readers WHERE seq <= ?", (upto,))

        self._write("cannot prune the search index", delete)

    def search(self, query: str, *, rooms: Collection[str], private: Collection[str],
               sender: str = "", room: str | None = None, before: int | None = None,
               limit: int = 20, wait: bool = True, after: int = 0) -> SearchResult:
        """The newest ``limit`` (at most MAX_HITS) messages the searcher may read that
        hold every word of ``query``, numbered below ``before`` when given.

        May read: a MSG of a room in ``rooms`` (room keys as in StoredEvent.room: ""
        or PUBLIC for the default room, "#sala"), a PRIV from or to a stream in
        ``private`` (the searcher's private stream keys). ``sender``: only messages
        of that name (compared as names are: name_key). ``room``: only that room's
        messages (when in ``rooms``; no PRIV then).

        Words are what the user typed, never FTS5 syntax: each run of letters, digits
        and marks is one term, compared without case or accents ("acao" finds
        "ação"); a query without one finds nothing. Raises ValueError past the
        bounds (MAX_TERMS words, MAX_TERM_CHARS characters each, MAX_QUERY_CHARS
        in all). ``wait``: for the writer thread's commits first (False: search what is
        written, which may not be the latest: see `writing`). ``after``: only messages
        numbered above it (a caller that walks the index a range at a time)."""
        words = _words(query)
        readable = {PUBLIC if key in ("", PUBLIC) else key for key in rooms}
        if room is not None:
            wanted = PUBLIC if room in ("", PUBLIC) else room
            readable = {wanted} & readable
            private = ()
        keys = ({"r" + ("" if key == PUBLIC else key) for key in readable}
                | {"p" + key for key in private})
        streams = sorted(self._ids[key] for key in keys if key in self._ids)
        sender_key = name_key(sender) if sender else ""
        sender_id = self._ids.get("n" + sender_key) if sender else None
        if not words or not streams or limit <= 0 or (sender and sender_id is None):
            return _NOTHING
        if wait:
            self._written()
        match = f"body : ({' AND '.join(map(_quoted, words))})"
        if sender_id is not None:
            match += f" AND sender : k{sender_id}"
        if self._streams_in_query(streams):
            match += f" AND scope : ({' OR '.join(f'k{id_}' for id_ in streams)})"
        walk = _Walk(min(limit, MAX_HITS),
                     before=None if before is None else max(0, min(before, IN_USE)),
                     deadline=time.monotonic() + self.budget_s)
        params = [match, IN_USE if walk.before is None else walk.before,
                  max(self._pruned, after),
                  *streams, *streams, *([] if sender_id is None else [sender_id])]
        # The clock is read every PROGRESS_STEPS steps of SQLite's own work, and once
        # a row: past the deadline, SQLite stops the statement ("interrupted").
        self._db.set_progress_handler(walk.over_budget, PROGRESS_STEPS)
        try:
            walk.walk(self._db.execute(_search_sql(len(streams), sender_id is not None),
                                       params))
        except sqlite3.OperationalError as exc:
            if not walk.out_of_time:
                raise SearchError(f"cannot search the index: {exc}") from None
        except sqlite3.Error as exc:
            raise SearchError(f"cannot search the index: {exc}") from None
        finally:
            self._db.set_progress_handler(None, 0)
        reader = _Reader(readable, frozenset(private), sender_key)
        return walk.result(self._hits(walk.seqs[:walk.page], reader))

    def _hits(self, seqs: list[int], reader: "_Reader") -> list[StoredEvent]:
        """The events of a search's rows, each checked once more by its real keys (the
        ids of ``readers`` said they may be read; a wrong one would be a bug here)."""
        hits = []
        try:
            for seq in seqs:
                row = self._db.execute(_HIT, (seq,)).fetchone()
                if row is not None and reader(row):
                    hits.append(_event(row))
                else:
                    log.error("search index: row %d is not the searcher's to read", seq)
        except sqlite3.Error as exc:
            raise SearchError(f"cannot search the index: {exc}") from None
        return hits

    def _streams_in_query(self, streams: Collection[int]) -> bool:
        """Whether a search of a reader of these streams (ids) asks FTS5 for them too
        (the module's docstring says when)."""
        rows = sum(self._held.get(id_, 0) for id_ in streams)
        return rows * len(streams) * SCOPE_STEP_ROWS < self._total

    def close(self) -> None:
        """Write what is pending and close the file."""
        try:
            self._written()
        finally:
            if self._writer is not None:
                self._writer.stop()
            if self._checkpointer is not None:
                self._checkpointer.stop()
            self._db.close()


def _restart_wal(db: sqlite3.Connection, checkpointer: Checkpointer | None) -> None:
    """As SqliteStore._restart_wal: under steady writes the WAL only restarts if the
    writing connection copies the last frames itself, between transactions."""
    if checkpointer is None or not checkpointer.wal_is_big.is_set():
        return
    checkpointer.wal_is_big.clear()
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as exc:  # (busy: the Checkpointer's turn asks again)
        log.warning("search index checkpoint failed: %s", exc)


class _Writer:
    """A file index's transactions, on a thread and a connection of their own: FTS5's
    work at a commit (tokenizing, merging segments) runs beside the broker's loop,
    since sqlite3 lets go of the GIL while SQLite works, instead of stalling it.
    Reads stay on the caller's connection (WAL: they see every committed write) and
    wait for the writes before them (`wait`). A failed write is raised at the next
    `submit` or `wait`, and nothing more is written."""

    def __init__(self, path: Path) -> None:
        self._jobs: queue.Queue[Callable[[sqlite3.Connection], None] | None] = queue.Queue()
        self._error: SearchError | None = None
        #: Seconds spent writing so far (the caller charges them to its share of time).
        self.seconds = 0.0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True,
                                        name="zchat-search-writer")
        self._thread.start()
        self._ready.wait()
        self._raise()

    def _run(self, path: Path) -> None:
        try:
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            self._error = SearchError(f"cannot open the search index for writing: {exc}")
            self._ready.set()
            return
        self._ready.set()
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    db.close()
                    return
                if self._error is None:
                    started = time.perf_counter()
                    job(db)
                    self.seconds += time.perf_counter() - started
            except SearchError as exc:
                self._error = exc
            except Exception as exc:  # (a bug: stop writing, say so at the next call)
                self._error = SearchError(f"cannot write the search index: {exc!r}")
            finally:
                self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, job: Callable[[sqlite3.Connection], None]) -> None:
        self._raise()
        self._jobs.put(job)

    def wait(self) -> None:
        self._jobs.join()
        self._raise()

    def busy(self) -> bool:
        return self._jobs.unfinished_tasks > 0

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()


def rebuild(index: SearchIndex, events: Iterable[StoredEvent],
            batch: int = REBUILD_BATCH) -> int:
    """Index ``events`` (the history's, in seq order) past ``index.last_seq()``,
    committing every ``batch``: a new or deleted index file gets the whole retained
    history, one that fell behind gets what it missed. How many were passed in."""
    count = 0
    chunk: list[StoredEvent] = []
    for event in events:
        chunk.append(event)
        count += 1
        if len(chunk) >= batch:
            index.add(chunk)
            index.commit()
            chunk.clear()
    index.add(chunk)
    index.commit()
    return count


@dataclass(frozen=True, slots=True)
class _Reader:
    """What one searcher may read, checked on each row read with its real keys."""

    rooms: Collection[str]  # PUBLIC for the default room
    private: frozenset[str]
    sender: str

    def __call__(self, row: tuple) -> bool:  # type: ignore[type-arg]
        _, kind, _, name, _, _, room, origin, to_key, _, _ = row
        if self.sender and name_key(name) != self.sender:
            return False
        if kind == c.MSG:
            return (room or PUBLIC) in self.rooms
        return kind == c.PRIV and (origin in self.private or to_key in self.private)


class _Walk:
    """One search under way: the rows of its page so far, where it got to, its deadline."""

    def __init__(self, page: int, *, before: int | None, deadline: float) -> None:
        self.page = page
        #: Every row from the search's start down to this seq (excluded) has been read
        #: (None: the search started from the newest and has read no row yet).
        self.before = before
        self.deadline = deadline
        self.seqs: list[int] = []
        self.full = False
        self.out_of_time = False

    def over_budget(self) -> bool:
        self.out_of_time = time.monotonic() >= self.deadline
        return self.out_of_time

    def walk(self, rows: Iterable[tuple[int]]) -> None:
        """Take the rows until one past the page, the last one, or the deadline."""
        for (seq,) in rows:
            self.before = seq
            self.seqs.append(seq)
            if len(self.seqs) > self.page:
                self.full = True
                return
            if self.over_budget():
                return

    def result(self, hits: list[StoredEvent]) -> SearchResult:
        """The page of ``hits`` (the events of `seqs`, but the one past the page)."""
        if self.full:
            return SearchResult(tuple(hits), True, True, self.seqs[self.page - 1])
        if self.out_of_time:
            return SearchResult(tuple(hits), True, False, self.before)
        return SearchResult(tuple(hits), False, True)


def _words(query: str) -> list[str]:
    """The user's words: runs of letters, digits and marks (Unicode categories L, N,
    M and Co: what SQLite's unicode61 tokenizer keeps), everything else a separator
    (lone surrogates too). Raises ValueError past the bounds."""
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"a search is at most {MAX_QUERY_CHARS} characters long")
    words = "".join(map(_word_char, query)).split()
    if len(words) > MAX_TERMS:
        raise ValueError(f"a search is at most {MAX_TERMS} words")
    if any(len(word) > MAX_TERM_CHARS for word in words):
        raise ValueError(f"a search word is at most {MAX_TERM_CHARS} characters long")
    return list(dict.fromkeys(words))


@lru_cache(maxsize=4096)
def _word_char(char: str) -> str:
    category = unicodedata.category(char)
    return char if category[0] in "LNM" or category == "Co" else " "


def _quoted(word: str) -> str:
    """A word as an FTS5 string: whatever it holds, a term (or, should the tokenizer
    split it, a phrase), never an operator."""
    return '"' + word.replace('"', '""') + '"'


def _event(row: tuple) -> StoredEvent:  # type: ignore[type-arg]
    seq, kind, ts, name, text, target, room, origin, to_key, prev, prev_to = row
    return StoredEvent(seq, kind, ts, name, text, target, origin=origin, prev=prev,
                       to_key=to_key, prev_to=prev_to, room=room)
