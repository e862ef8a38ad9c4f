"""History in SQLite: survives broker restarts and crashes (kill -9).

WAL journal with synchronous=NORMAL: a commit is durable once the broker
process has written it, whatever happens to the process afterwards (a power
cut may lose the last commits; a crash may not). Writes are grouped: the
broker commits once per poll cycle, not once per message. One broker per
data directory, enforced with a lock file. Beside the history, the file keeps
what the other interfaces store (store.Ownership, store.RoomState): names' owners,
token bindings, room memberships and topics. A file written before rooms existed
is brought up to date when opened (its events are the default room's).
"""

import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from heapq import merge
from itertools import islice
from operator import attrgetter
from pathlib import Path

from zchat.protocol import constants as c
from zchat.protocol.constants import DEFAULT_RETAIN

from .store import (
    IN_USE,
    PUBLIC,
    Binding,
    Conversation,
    LocalStore,
    Sanction,
    StoredEvent,
    StoreError,
    over_bound,
)

log = logging.getLogger(__name__)

_SEQ = attrgetter("seq")

DB_NAME = "history.sqlite3"
#: Sequence numbers are reserved in blocks this big, durably and ahead of use:
#: after a power cut loses the last commits, numbering resumes past the
#: reservation, so no number a client may already have seen is given again.
RESERVE = 10_000
#: A block renewed within RESERVE_SPAN seconds of the last is twice as big, up to
#: RESERVE_MAX: each renewal costs the disk an fsync (the Syncer's, on a thread of its
#: own), which numbering must not outrun, and at full speed a 10,000 block was one
#: renewal every 60 ms (docs/PERFORMANCE.md, Issue 17, session 13).
RESERVE_SPAN = 1.0
RESERVE_MAX = 640_000
#: The heads table is written every HEADS_EVERY events (and at each reservation,
#: prune and close), not at every commit: what it lacks is read back from the
#: events above its mark when the file is opened (see _replay_heads).
HEADS_EVERY = 10_000
#: The page size of a new history file (bytes): see _open.
PAGE_SIZE = 2048
#: Prune batches are kept for this many times --retain numbers back (`prune`): as far
#: back as the last 1,000 batches reached when each was a tenth of --retain.
PRUNES_SPAN = 100
#: The write-ahead log is made to start over once it is bigger than this (bytes).
WAL_LIMIT = 64 << 20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heads (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS owners (name_key TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prunes (upto INTEGER PRIMARY KEY, events INTEGER NOT NULL);
-- Session tokens' bindings (store.Binding), by stream key (never the token itself).
CREATE TABLE IF NOT EXISTS tokens (
    stream TEXT PRIMARY KEY,
    name_key TEXT NOT NULL,
    user TEXT NOT NULL,
    retired INTEGER NOT NULL,
    until INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_until ON tokens (until);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ts REAL NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    origin TEXT NOT NULL,
    cid INTEGER NOT NULL,
    prev INTEGER NOT NULL,
    to_key TEXT NOT NULL,
    prev_to INTEGER NOT NULL,
    room TEXT NOT NULL DEFAULT ''  -- (added by _open to files made before rooms)
);
CREATE INDEX IF NOT EXISTS events_origin ON events (origin, cid) WHERE cid > 0;
CREATE INDEX IF NOT EXISTS events_priv_from ON events (origin, seq) WHERE kind = 'PRIV';
CREATE INDEX IF NOT EXISTS events_priv_to ON events (to_key, seq) WHERE kind = 'PRIV';
-- Recent public messages are kept in memory (LocalStore._recent): an index for
-- them made every write pay for what only a newcomer's WELCOME reads (figures:
-- docs/PERFORMANCE.md, Store). Files made before that lose it here.
DROP INDEX IF EXISTS events_msg;
-- store.RoomState: which rooms each session (by stream key) is in, and rooms' topics.
CREATE TABLE IF NOT EXISTS memberships (
    stream TEXT NOT NULL,
    room TEXT NOT NULL,
    shown TEXT NOT NULL,
    PRIMARY KEY (stream, room)
);
CREATE TABLE IF NOT EXISTS topics (room TEXT PRIMARY KEY, text TEXT NOT NULL);
-- store.ReadState: each reader's read marks, and its private conversations.
CREATE TABLE IF NOT EXISTS reads (
    reader TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (reader, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations (
    reader TEXT NOT NULL,
    peer TEXT NOT NULL,
    name TEXT NOT NULL,
    last INTEGER NOT NULL,
    ts REAL NOT NULL,
    unread INTEGER NOT NULL,
    PRIMARY KEY (reader, peer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_last ON conversations (reader, last);
CREATE INDEX IF NOT EXISTS conversations_pruned ON conversations (last);
-- Each reader's private messages by conversation (`talk`): a page is one range of it.
CREATE TABLE IF NOT EXISTS talks (
    reader TEXT NOT NULL,
    peer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (reader, peer, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS talks_seq ON talks (seq);
-- store.ModerationState: bans (room '') and mutes, and rooms' rules.
CREATE TABLE IF NOT EXISTS sanctions (
    target TEXT NOT NULL,
    room TEXT NOT NULL,
    until REAL NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (target, room)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_rules (
    room TEXT PRIMARY KEY,
    slow INTEGER NOT NULL,
    locked INTEGER NOT NULL
);
"""
#: Indexes on the rooms' events (after _open has given an older file its room
#: column). Partial: the default room's events, and private ones, pay nothing for them.
_ROOM_INDEXES = """
CREATE INDEX IF NOT EXISTS events_room ON events (room, seq) WHERE room != '';
CREATE INDEX IF NOT EXISTS events_room_msg ON events (room, seq)
    WHERE room != '' AND kind = 'MSG';
"""
_COLUMNS = ("seq, kind, ts, name, text, target, reason, origin, cid, prev, to_key, prev_to, "
            "room")
#: A cycle's rows go in as a few multi-row INSERTs, the largest of these sizes first
#: (at most one of each smaller size: about 9 cached statements serve every count).
#: One statement of 64 rows costs a quarter less a row than `executemany` of them
#: (docs/PERFORMANCE.md, Issue 17, session 14); 512 rows of 13 values bind 6,656,
#: under SQLite's default limit of 32,766 (sizes over the build's limit are skipped).
_INSERT_SIZES = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)
#: A row's values as `append` lays them out in the cycle's flat list, and the VALUES
#: of one row: every column for most events; for a MSG only the 8 columns a message
#: fills, the other 5 written as constants (2.10 against 2.68 us a row, 64 a commit).
_ROW = "(" + ", ".join(["?"] * 13) + ")"
_MSG_ROW = f"(?, '{c.MSG}', ?, ?, ?, '', '', ?, ?, ?, '', 0, ?)"


@cache
def _insert(row: str, rows: int) -> str:
    """The INSERT of ``rows`` history rows, each ``row`` (_ROW or _MSG_ROW)."""
    return f"INSERT INTO events ({_COLUMNS}) VALUES " + ", ".join([row] * rows)


# Reads that must stay index searches (tests/unit/test_store_queries.py checks their
# plans): clients ask for them, so a scan of the history would be theirs to repeat.
#: A resent message's stored event. ``likely()`` keeps ``cid > 0`` (which the partial
#: index needs to be usable) from being taken as the search's range: plain, SQLite
#: searched (origin, cid > 0) and filtered every stored message of that sender, for
#: each resend: a cost that grows with the history (docs/PERFORMANCE.md, Store).
_FIND = (f"SELECT {_COLUMNS} FROM events "
         "WHERE origin = ? AND cid = ? AND likely(cid > 0)")
#: A reader's missed events, in seq order: public ones from its public cursor (the
#: table, from that seq on) merged with its private ones from its private cursor (the
#: two private indexes), so neither cursor makes the other's stream be walked, as one
#: filtered range scan from the lower cursor did (docs/PERFORMANCE.md, Store). Rooms'
#: events are read from their room index (_since_rooms); the public range passes over
#: them, as over private ones (an index of the public events alone would cost every
#: write, as events_msg did).
_STREAMS = (f"SELECT {_COLUMNS} FROM events WHERE seq > :pub AND kind != 'PRIV' AND room = '' "
            f"UNION ALL SELECT {_COLUMNS} FROM events "
            "WHERE origin = :key AND seq > :priv AND kind = 'PRIV' "
            f"UNION ALL SELECT {_COLUMNS} FROM events "
            "WHERE to_key = :key AND seq > :priv AND kind = 'PRIV' AND origin != :key")
_ORDER = " ORDER BY seq LIMIT :limit"
_SINCE = _STREAMS + _ORDER
#: Rooms asked for in one query (more go in further ones: SQLite bounds the terms of
#: a compound query).
ROOMS_PER_QUERY = 100
#: A newcomer's history of one room: its last messages, walking back from ``upto``
#: over that room's messages alone. (``room != ''`` lets the partial indexes serve.)
_RECENT_ROOM = (f"SELECT {_COLUMNS} FROM events WHERE room = :room AND room != '' "
                "AND kind = 'MSG' AND seq <= :upto ORDER BY seq DESC LIMIT :count")

#: A history page's branches (`_page_query`): the default room's events are the public
#: rows of a range of the table (its INTEGER PRIMARY KEY), passing over private and
#: rooms' rows in it, as `_SINCE` does (an index of the public rows alone would cost
#: every write, as events_msg did); another room's are a range of its index.
_PAGE_PUBLIC = "room = '' AND kind IN ('MSG', 'JOINED', 'LEFT')"
_PAGE_ROOM = "room = :room AND room != ''"


@cache
def _page_query(room: bool, forwards: bool) -> str:
    """A history page of a room's stream (``room``) or the default room's: its events
    numbered between ``:after`` and ``:before`` (exclusive), the oldest ``:count`` when
    reading ``forwards``, else the newest (newest first). The caller asks for one more
    than the page: whether it came is whether there is more."""
    return (f"SELECT {_COLUMNS} FROM events WHERE {_PAGE_ROOM if room else _PAGE_PUBLIC} "
            f"AND seq > :after AND seq < :before "
            f"ORDER BY seq {'ASC' if forwards else 'DESC'} LIMIT :count")


@cache
def _since_rooms(rooms: int, streams: bool) -> str:
    """`_SINCE` (``streams``, or no branch of it) with a branch per room: room ``i``
    from its cursor (``:r<i>``, ``:c<i>``) on, from the room index."""
    branches = [_STREAMS] if streams else []
    branches += [f"SELECT {_COLUMNS} FROM events "
                 f"WHERE room = :r{i} AND room != '' AND seq > :c{i}" for i in range(rooms)]
    return " UNION ALL ".join(branches) + _ORDER


#: A page of one reader's conversation with one peer: a range of `talks`, each event
#: then found by its number.
def _talk_query(forwards: bool) -> str:
    return (f"SELECT {', '.join('e.' + col for col in _COLUMNS.split(', '))} FROM talks t "
            "JOIN events e ON e.seq = t.seq WHERE t.reader = :reader AND t.peer = :peer "
            "AND t.seq > :after AND t.seq < :before "
            f"ORDER BY t.seq {'ASC' if forwards else 'DESC'} LIMIT :count")


#: The newest event a prune removes, given how many older ones go with it.
_CUTOFF = "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?"
_MESSAGES_AFTER = (f"SELECT {_COLUMNS} FROM events WHERE seq > ? AND kind IN ('MSG', 'PRIV') "
                   "ORDER BY seq LIMIT ?")


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/zchat, else ~/.local/share/zchat."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "zchat"


class SqliteStore(LocalStore):
    """The HistoryStore, Ownership and RoomState on one SQLite file in ``data_dir``."""

    def __init__(self, data_dir: Path, retain: int = DEFAULT_RETAIN,
                 wal_limit: int = 0) -> None:
        """``wal_limit``: the WAL's size in bytes past which it is made to restart
        (default WAL_LIMIT; tests use a small one)."""
        self._retain = retain
        self._wal_limit = wal_limit or WAL_LIMIT
        self._lock_fd = -1
        # History holds private messages: the folder and every file in it are the
        # broker user's alone (0700 / 0600), whatever the process umask.
        old_umask = os.umask(0o077)
        try:
            self._open(data_dir)
        finally:
            os.umask(old_umask)

    def _open(self, data_dir: Path) -> None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot use data directory {data_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StoreError(f"data directory {data_dir} is in use by another broker") from None
        path = data_dir / DB_NAME
        db = None
        try:
            db = self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
            # A new file only (an existing one keeps its size): smaller pages than
            # SQLite's 4 KiB, because every commit writes each page it touched (the
            # table's last leaf, the cid index's, the heads row's) to the WAL whole,
            # so a small commit writes about half as much, and its tail shrinks with
            # it; big commits cost the same per row. 1 KiB pages were dropped: they
            # cost more per row in big commits (docs/PERFORMANCE.md, Store).
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # No temporary files: opening one needs a free descriptor (a connection storm
            # may have taken them all for a moment), and a failed query stops the broker.
            self._db.execute("PRAGMA temp_store=MEMORY")
            # Checkpoints run in a thread of their own (Checkpointer), not in commits.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            # A WAL that restarts is cut back to this size (else it keeps its peak).
            self._db.execute(f"PRAGMA journal_size_limit={self._wal_limit}")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            if "room" not in columns:  # a file made before rooms: its events are public
                self._db.execute("ALTER TABLE events ADD COLUMN room TEXT NOT NULL DEFAULT ''")
            self._db.executescript(_ROOM_INDEXES)
            self.epoch = self._meta("epoch") or self._new_epoch()
            self._pruned = int(self._meta("pruned_upto") or 0)
            self._last = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            self._heads = dict(self._db.execute("SELECT key, seq FROM heads"))
            replayed = self._replay_heads()
            # No session outlives the broker run that had it: each ended by the last event
            # committed then (a head or the pruned mark may be above the newest event left).
            ended = max([self._last, self._pruned, *self._heads.values()])
            self._db.execute("UPDATE tokens SET until = ? WHERE until = ?", (ended, IN_USE))
            self._reserved = int(self._meta("reserved") or 0)
            self._last = max(ended, self._reserved)
            self._block, self._renewed = RESERVE, float("-inf")
            self._count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            # (Once, at start: the newest messages, scanning back from the end.)
            recent = self._db.execute(f"SELECT {_COLUMNS} FROM events WHERE kind = 'MSG' "
                                      "AND room = '' ORDER BY seq DESC LIMIT ?",
                                      (c.MAX_FETCH,)).fetchall()
            self._recent = deque((_event(row) for row in reversed(recent)), maxlen=c.MAX_FETCH)
            # Before any number past what an earlier run may have used.
            self._reserve(now_on_disk=True)
            self._db.execute("BEGIN")
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            self._release()
            raise StoreError(f"history store {path} is unusable: {exc}") from None
        self._dirty: set[str] = replayed
        self._in_use: set[str] = set()
        self._pending = 0
        #: The cycle's history rows, one after another: messages (8 values each, as
        #: _MSG_ROW takes them) and other events (13 values, _ROW).
        self._msgs: list[object] = []
        self._rows: list[object] = []
        self._checkpointer = Checkpointer(path, self._wal_limit)
        self._syncer = Syncer(path.with_name(DB_NAME + "-wal"))
        # Files made before this rule (or by hand) are tightened too, where we may.
        for owned in (data_dir, path, path.with_name(DB_NAME + "-wal"),
                      path.with_name(DB_NAME + "-shm")):
            try:
                os.chmod(owned, 0o700 if owned == data_dir else 0o600)
            except OSError:
                pass

    def _replay_heads(self) -> set[str]:
        """Bring the heads read from the file up to its events (commits between two
        writes of the heads table stored events whose heads it does not hold yet), and
        return the keys that moved, still to be written. (A file without the mark wrote
        its heads with every commit.)"""
        mark = self._meta("heads_upto")
        if mark is None:  # (a new file, or one from before the mark: complete as it is)
            self._heads_mark = self._last
            self._db.execute("INSERT INTO meta (key, value) VALUES ('heads_upto', ?)",
                             (str(self._last),))
            return set()
        self._heads_mark = int(mark)
        rows = self._db.execute("SELECT seq, kind, origin, to_key, room FROM events "
                                "WHERE seq > ? ORDER BY seq", (self._heads_mark,))
        heads, moved = self._heads, set()
        for seq, kind, origin, to_key, room in rows:
            keys = (origin, to_key) if kind == c.PRIV else (room or PUBLIC,)
            for key in keys:
                heads[key] = seq
                moved.add(key)
        return moved

    def _reserve(self, now_on_disk: bool = False) -> None:
        """Reserve the next block of sequence numbers, in a commit of its own that even
        a power cut cannot undo once it is on disk. ``now_on_disk`` (at open): made with
        synchronous=FULL, waiting for the disk here. Else the Syncer's thread puts it
        there while the loop goes on numbering within the last block (half of it is
        left: see `append`); a number past that waits for the disk (`_reach_disk`)."""
        now = time.monotonic()
        quick = now - self._renewed < RESERVE_SPAN
        self._block = min(self._block * 2, RESERVE_MAX) if quick else RESERVE
        self._renewed = now
        self._reserved = self._last + self._block
        in_transaction = self._db.in_transaction
        if in_transaction:
            # This commit makes the cycle's events durable: their rows and heads too.
            self._write_rows()
            self._write_heads()
            self._db.execute("COMMIT")
        if now_on_disk:
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("INSERT INTO meta (key, value) VALUES ('reserved', ?) ON "
                         "CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (str(self._reserved),))
        if now_on_disk:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._on_disk = self._reserved
        else:
            self._syncer.ask(self._reserved)
        if in_transaction:
            self._db.execute("BEGIN")

    def _reach_disk(self) -> None:
        """Wait until the last reservation is on disk (the Syncer's fsync); if its
        thread cannot make it so, fsync here."""
        if not self._syncer.wait(self._reserved):
            try:
                self._syncer.sync()
            except OSError as exc:
                raise StoreError(f"cannot make the history durable: {exc}") from None
        self._on_disk = self._reserved

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _new_epoch(self) -> str:
        epoch = secrets.token_hex(8)
        self._db.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?)", (epoch,))
        return epoch

    # ---- HistoryStore (and LocalStore's append) -----------------------------------

    def append(self, event: StoredEvent) -> None:
        """Queue the row; it is written before any read and at commit."""
        if event.seq > self._on_disk:  # (past the reservation on disk: see _reserve)
            self._reach_disk()
        if event.kind == c.MSG and not (event.to or event.reason or event.to_key
                                        or event.prev_to):  # (what _MSG_ROW writes)
            self._msgs += (event.seq, event.ts, event.name, event.text, event.origin,
                           event.cid, event.prev, event.room)
        else:
            self._rows += (event.seq, event.kind, event.ts, event.name, event.text, event.to,
                           event.reason, event.origin, event.cid, event.prev, event.to_key,
                           event.prev_to, event.room)
        self._last = event.seq
        self._count += 1
        if event.kind == c.MSG and not event.room:
            self._recent.append(event)
        for key in event.keys():
            self._heads[key] = event.seq
            self._dirty.add(key)
        self._pending += 1
        if self._last >= self._reserved - self._block // 2:
            self._reserve()  # renew while half the block is still unused

    def _write_rows(self) -> None:
        """Write the queued rows (in any order: each row's place is its seq)."""
        if self._msgs:
            values, self._msgs = self._msgs, []
            self._insert_rows(_MSG_ROW, 8, values)
        if self._rows:
            values, self._rows = self._rows, []
            self._insert_rows(_ROW, 13, values)

    def _insert_rows(self, row: str, width: int, values: list[object]) -> None:
        left, at = len(values) // width, 0
        try:
            # (A SQLite built with a lower bound on a statement's values, 999 before
            # 3.32, takes smaller statements.)
            most = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
            for size in _INSERT_SIZES:
                if size > most:
                    continue
                while left >= size:
                    end = at + size * width
                    self._db.execute(_insert(row, size),
                                     values if end - at == len(values) else values[at:end])
                    at, left = end, left - size
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write history: {exc}") from None

    def commit(self) -> None:
        self._commit(self._last - self._heads_mark >= HEADS_EVERY)

    def _commit(self, heads: bool) -> None:
        """Commit the cycle's writes, with the heads table when ``heads`` (else it is
        one page less in every small commit: see HEADS_EVERY)."""
        if not self._pending and not (heads and self._dirty):
            return
        if over_bound(self._count, self._retain):
            self.prune(self._retain)  # (it writes the heads itself)
        try:
            self._write_rows()
            if heads:
                self._write_heads()
            self._db.execute("COMMIT")
            if self._checkpointer.wal_is_big.is_set():
                self._restart_wal()
            self._db.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot commit history: {exc}") from None
        self._pending = 0

    def _restart_wal(self) -> None:
        """Let the WAL start over from its beginning (and shrink to WAL_LIMIT).

        SQLite restarts the WAL only when a write begins with every frame of it
        copied into the database. Under steady writes that never happens: the
        Checkpointer copies a second's worth while new commits keep coming, and the
        WAL grew with every commit, without bound. So
        once it is big, this connection copies the few frames committed since the
        Checkpointer's turn itself, between transactions; the next write restarts it."""
        self._checkpointer.wal_is_big.clear()
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # (busy: the Checkpointer's turn asks again)
            log.warning("history checkpoint failed: %s", exc)

    def _write_heads(self) -> None:
        """The heads moved since the last write, and the mark that says the table is
        complete up to the last event (written in the same transaction as its rows)."""
        self._db.executemany(
            "INSERT INTO heads (key, seq) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET seq = excluded.seq",
            [(key, self._heads[key]) for key in self._dirty])
        self._dirty.clear()
        self._db.execute("INSERT INTO meta (key, value) VALUES ('heads_upto', ?) ON "
                         "CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (str(self._last),))
        self._heads_mark = self._last

    def find(self, origin: str, cid: int) -> StoredEvent | None:
        self._write_rows()
        row = self._db.execute(_FIND, (origin, cid)).fetchone()
        return None if row is None else _event(row)

    def since(self, pub: int, priv: int, reader_key: str, limit: int, *,
              rooms: Mapping[str, int] | None = None) -> list[StoredEvent]:
        self._write_rows()  # reads see every appended event
        streams = {"pub": pub, "priv": priv, "key": reader_key, "limit": limit}
        if not rooms:
            return [_event(row) for row in self._db.execute(_SINCE, streams)]
        asked = list(rooms.items())
        pages: list[list[StoredEvent]] = []
        for start in range(0, len(asked), ROOMS_PER_QUERY):
            chunk = asked[start:start + ROOMS_PER_QUERY]
            params: dict[str, object] = dict(streams) if start == 0 else {"limit": limit}
            for i, (room, cursor) in enumerate(chunk):
                params[f"r{i}"], params[f"c{i}"] = room, cursor
            rows = self._db.execute(_since_rooms(len(chunk), start == 0), params)
            pages.append([_event(row) for row in rows])
        if len(pages) == 1:
            return pages[0]
        return list(islice(merge(*pages, key=_SEQ), limit))

    def recent_room(self, room: str, count: int, upto: int | None = None
                    ) -> list[StoredEvent]:
        if count <= 0:
            return []
        self._write_rows()
        rows = self._db.execute(_RECENT_ROOM, {"room": room, "count": count,
                                               "upto": IN_USE if upto is None else upto})
        return [_event(row) for row in rows][::-1]

    def page(self, stream: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        if limit <= 0:
            return [], False
        self._write_rows()
        forwards = after is not None
        params = {"room": stream, "count": limit + 1,
                  "after": 0 if after is None else _bound(after),
                  "before": IN_USE if before is None else _bound(before)}
        rows = self._db.execute(_page_query(stream != PUBLIC, forwards), params).fetchall()
        events = [_event(row) for row in rows[:limit]]
        return (events if forwards else events[::-1]), len(rows) > limit

    def messages_after(self, seq: int, page: int = 10_000) -> Iterator[StoredEvent]:
        """Every stored MSG and PRIV numbered above ``seq``, in order: what a search index
        (search.py) is fed and made again from. Read ``page`` rows at a time by the
        primary key, so a long history is never held in memory at once."""
        self._write_rows()
        while True:
            rows = self._db.execute(_MESSAGES_AFTER, (_bound(seq), page)).fetchall()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            seq = int(rows[-1][0])

    def pruned_events(self, low: int, high: int) -> int:
        """Events pruned with a sequence number in (low, high], as an upper bound:
        every prune batch that overlaps the range counts whole."""
        rows = self._db.execute("SELECT upto, events FROM prunes WHERE upto > ? ORDER BY upto",
                                (low,))
        return _overlapping(rows, high)

    def prune(self, retain: int) -> None:
        """Keep the newest ``retain`` events (a count: gaps in numbering cost nothing)."""
        if self._count <= retain:
            return
        self._write_rows()
        try:
            # The oldest (count - retain) go: found from the old end, which walks
            # the few rows that go rather than the many that stay.
            row = self._db.execute(_CUTOFF, (self._count - retain - 1,)).fetchone()
            if row is None:  # (the count is exact; were it not, keep everything)
                return
            cutoff = int(row[0])
            deleted = self._db.execute("DELETE FROM events WHERE seq <= ?", (cutoff,)).rowcount
            self._count -= deleted
            self._db.execute("INSERT INTO prunes (upto, events) VALUES (?, ?)", (cutoff, deleted))
            # The batches of the last PRUNES_SPAN * --retain numbers are kept: what
            # `pruned_events` can tell a reader that long away.
            self._db.execute("DELETE FROM prunes WHERE upto < ?",
                             (cutoff - PRUNES_SPAN * self._retain,))
            self._db.execute("INSERT INTO meta (key, value) VALUES ('pruned_upto', ?) ON "
                             "CONFLICT (key) DO UPDATE SET value = excluded.value", (str(cutoff),))
            # Per-stream state whose stream has nothing left (see Ownership).
            stale = self._stale_heads(cutoff)
            self._db.executemany("DELETE FROM heads WHERE key = ?", [(key,) for key in stale])
            self._db.execute("DELETE FROM memberships WHERE stream IN "
                             "(SELECT stream FROM tokens WHERE until <= ?)", (cutoff,))
            for table in ("reads", "conversations", "talks"):
                self._db.execute(f"DELETE FROM {table} WHERE reader IN "
                                 "(SELECT stream FROM tokens WHERE until <= ?)", (cutoff,))
            self._db.execute("DELETE FROM conversations WHERE last <= ?", (cutoff,))
            self._db.execute("DELETE FROM talks WHERE seq <= ?", (cutoff,))
            self._db.execute("DELETE FROM reads WHERE key LIKE '@%' AND NOT EXISTS (SELECT 1 "
                             "FROM conversations c WHERE c.reader = reads.reader AND "
                             "c.peer = substr(reads.key, 2))")
            self._db.execute("DELETE FROM tokens WHERE until <= ?", (cutoff,))
            for key in stale:
                del self._heads[key]
                self._dirty.discard(key)
            # With the events gone, replaying can no longer find the heads they moved.
            self._write_heads()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prune history: {exc}") from None
        self._pruned = cutoff
        self._pending += 1

    def owner(self, name_key: str) -> str | None:
        row = self._db.execute("SELECT key FROM owners WHERE name_key = ?",
                               (name_key,)).fetchone()
        return None if row is None else str(row[0])

    def claim(self, name_key: str, key: str) -> None:
        try:
            self._db.execute("INSERT INTO owners (name_key, key) VALUES (?, ?) ON CONFLICT "
                             "(name_key) DO NOTHING", (name_key, key))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write history: {exc}") from None
        self._pending += 1

    def bind(self, stream: str, name_key: str, user: str) -> bool:
        row = self._db.execute("SELECT name_key, user, retired FROM tokens WHERE stream = ?",
                               (stream,)).fetchone()
        if row is not None and not Binding(row[0], row[1], bool(row[2])).admits(name_key, user):
            return False
        try:
            self._db.execute("INSERT INTO tokens (stream, name_key, user, retired, until) "
                             "VALUES (?, ?, ?, 0, ?) ON CONFLICT (stream) DO UPDATE SET "
                             "until = excluded.until", (stream, name_key, user, IN_USE))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write history: {exc}") from None
        self._in_use.add(stream)
        self._pending += 1
        return True

    def unbind(self, stream: str, retire: bool) -> None:
        self._in_use.discard(stream)
        try:
            if retire:  # (a session that never bound leaves a retired record all the same)
                self._db.execute("INSERT INTO tokens (stream, name_key, user, retired, until) "
                                 "VALUES (?, '', '', 1, ?) ON CONFLICT (stream) DO UPDATE SET "
                                 "retired = 1, until = excluded.until", (stream, self._last))
                self._db.execute("DELETE FROM memberships WHERE stream = ?", (stream,))
                self._db.execute("DELETE FROM reads WHERE reader = ?", (stream,))
                self._db.execute("DELETE FROM conversations WHERE reader = ?", (stream,))
                self._db.execute("DELETE FROM talks WHERE reader = ?", (stream,))
            else:
                self._db.execute("UPDATE tokens SET until = ? WHERE stream = ?",
                                 (self._last, stream))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write history: {exc}") from None
        self._pending += 1

    # ---- RoomState ----------------------------------------------------------------------

    def rooms_of(self, stream: str) -> dict[str, str]:
        try:
            rows = self._db.execute("SELECT room, shown FROM memberships WHERE stream = ?",
                                    (stream,)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read rooms: {exc}") from None
        return {str(room): str(shown) for room, shown in rows}

    def enter(self, stream: str, room: str, shown: str) -> None:
        self._write_state("INSERT INTO memberships (stream, room, shown) VALUES (?, ?, ?) "
                          "ON CONFLICT (stream, room) DO NOTHING", (stream, room, shown))

    def part(self, stream: str, room: str) -> None:
        self._write_state("DELETE FROM memberships WHERE stream = ? AND room = ?",
                          (stream, room))

    def part_all(self, stream: str) -> None:
        self._write_state("DELETE FROM memberships WHERE stream = ?", (stream,))

    def topic(self, room: str) -> str:
        try:
            row = self._db.execute("SELECT text FROM topics WHERE room = ?", (room,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read rooms: {exc}") from None
        return "" if row is None else str(row[0])

    def set_topic(self, room: str, text: str) -> None:
        if text:
            self._write_state("INSERT INTO topics (room, text) VALUES (?, ?) "
                              "ON CONFLICT (room) DO UPDATE SET text = excluded.text",
                              (room, text))
        else:
            self._write_state("DELETE FROM topics WHERE room = ?", (room,))

    # ---- ReadState ----------------------------------------------------------------------

    def marks(self, reader: str) -> dict[str, int]:
        try:
            rows = self._db.execute("SELECT key, seq FROM reads WHERE reader = ?",
                                    (reader,)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read read marks: {exc}") from None
        return {str(key): int(seq) for key, seq in rows}

    def mark(self, reader: str, marks: Mapping[str, int]) -> None:
        try:
            self._db.executemany(
                "INSERT INTO reads (reader, key, seq) VALUES (?, ?, ?) ON CONFLICT "
                "(reader, key) DO UPDATE SET seq = max(seq, excluded.seq)",
                [(reader, key, _bound(seq)) for key, seq in marks.items()])
            self._db.executemany(
                "UPDATE conversations SET unread = 0 WHERE reader = ? AND peer = ? "
                "AND last <= ?", [(reader, key[1:], _bound(seq)) for key, seq in marks.items()
                                  if key.startswith(c.PEER_PREFIX)])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write read marks: {exc}") from None
        self._pending += 1

    def converse(self, reader: str, peer: str, name: str, seq: int, ts: float,
                 incoming: bool) -> None:
        try:
            self._db.execute(
                "INSERT INTO conversations (reader, peer, name, last, ts, unread) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reader, peer) DO UPDATE SET "
                "name = excluded.name, last = excluded.last, ts = excluded.ts, "
                "unread = unread + excluded.unread",
                (reader, peer, name, seq, ts, int(incoming)))
            self._db.execute("INSERT INTO talks (reader, peer, seq) VALUES (?, ?, ?) "
                             "ON CONFLICT DO NOTHING", (reader, peer, seq))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write conversations: {exc}") from None
        self._pending += 1

    def conversations(self, reader: str, limit: int) -> list[Conversation]:
        try:
            rows = self._db.execute(
                "SELECT peer, name, last, ts, unread FROM conversations WHERE reader = ? "
                "ORDER BY last DESC LIMIT ?", (reader, limit)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read conversations: {exc}") from None
        return [Conversation(*row) for row in rows]

    def forget(self, reader: str) -> None:
        for table in ("reads", "conversations", "talks"):
            self._write_state(f"DELETE FROM {table} WHERE reader = ?", (reader,))

    def talk(self, reader: str, peer: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        """See ReadState.talk: one range of the talks index, each event by its number."""
        if limit <= 0:
            return [], False
        self._write_rows()
        forwards = after is not None
        params = {"reader": reader, "peer": peer, "count": limit + 1,
                  "after": 0 if after is None else _bound(after),
                  "before": IN_USE if before is None else _bound(before)}
        try:
            rows = self._db.execute(_talk_query(forwards), params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read history: {exc}") from None
        events = [_event(row) for row in rows[:limit]]
        return (events if forwards else events[::-1]), len(rows) > limit

    # ---- ModerationState ------------------------------------------------------------

    def sanction(self, sanction: Sanction) -> None:
        self._write_state("INSERT OR REPLACE INTO sanctions (target, room, until, by, reason, "
                          "name) VALUES (?, ?, ?, ?, ?, ?)",
                          (sanction.target, sanction.room, sanction.until, sanction.by,
                           sanction.reason, sanction.name))

    def lift(self, target: str, room: str) -> bool:
        try:
            gone = self._db.execute("DELETE FROM sanctions WHERE target = ? AND room = ?",
                                    (target, room)).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write sanctions: {exc}") from None
        self._pending += 1
        return gone > 0

    def sanction_of(self, targets: Iterable[str], room: str, now: float) -> Sanction | None:
        for target in targets:
            row = self._read("SELECT target, room, until, by, reason, name FROM sanctions "
                             "WHERE target = ? AND room = ?", (target, room))
            if row:
                held = Sanction(*row[0])
                if held.live(now):
                    return held
        return None

    def sanctions(self, now: float, limit: int) -> list[Sanction]:
        rows = self._read("SELECT target, room, until, by, reason, name FROM sanctions "
                          "WHERE until = 0 OR until > ? ORDER BY until = 0, until LIMIT ?",
                          (now, limit))
        return [Sanction(*row) for row in rows]

    def expire(self, now: float) -> None:
        self._write_state("DELETE FROM sanctions WHERE until != 0 AND until <= ?", (now,))

    def rules(self) -> dict[str, tuple[int, bool]]:
        rows = self._read("SELECT room, slow, locked FROM room_rules", ())
        return {str(room): (int(slow), bool(locked)) for room, slow, locked in rows}

    def set_rules(self, room: str, slow: int, locked: bool) -> None:
        if slow or locked:
            self._write_state("INSERT OR REPLACE INTO room_rules (room, slow, locked) "
                              "VALUES (?, ?, ?)", (room, slow, int(locked)))
        else:
            self._write_state("DELETE FROM room_rules WHERE room = ?", (room,))

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple]:  # type: ignore[type-arg]
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read moderation state: {exc}") from None

    def _write_state(self, sql: str, params: tuple[object, ...]) -> None:
        """One change of room state, made durable by the next commit."""
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write rooms: {exc}") from None
        self._pending += 1

    def close(self) -> None:
        try:
            self._commit(heads=True)
            self._syncer.stop()
            self._checkpointer.stop()
            self._db.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class Checkpointer:
    """Copies the WAL into the database once a second, on its own connection and
    thread, so the broker's commits never run a checkpoint themselves.

    Checkpoints inside commits (SQLite's default) made some of the broker's
    commits wait for a copy, which showed in its p99 latency (docs/PERFORMANCE.md,
    Latency): the copy's I/O still competes with the broker's writes, but its
    commits no longer wait for it. PASSIVE checkpoints never block the writer (what
    they cannot copy yet is copied next time), and this connection never waits for
    a lock.
    """

    INTERVAL = 1.0

    def __init__(self, path: Path, wal_limit: int) -> None:
        self._path = path
        self._wal = path.with_name(path.name + "-wal")
        self._wal_limit = wal_limit
        #: Set when the WAL has grown past the limit: the writer then restarts it.
        self.wal_is_big = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zchat-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=0, isolation_level=None)
        except sqlite3.Error:
            log.exception("history checkpointer cannot open %s", self._path)
            return
        try:
            # At once, not a second later: the first checkpoint opens this connection's
            # WAL files, and later ones then need no new descriptor (a connection storm
            # may have taken every free one for a moment).
            while True:
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or failing: the next turn tries again
                    log.warning("history checkpoint failed: %s", exc)
                try:
                    if self._wal.stat().st_size > self._wal_limit:
                        self.wal_is_big.set()  # see SqliteStore._restart_wal
                except OSError:
                    pass
                if self._stop.wait(self.INTERVAL):
                    break
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Syncer:
    """Makes the write-ahead log durable (fsync) on a thread of its own when asked, so
    that a renewed reservation reaches the disk while the broker goes on numbering
    within the last one. Made with synchronous=FULL, each renewal stopped the loop for
    the disk: 2.6-6 ms in a broker at N=10, a median of 46-55 ms (113 at most) with a
    full history (docs/PERFORMANCE.md, Issue 17, session 15).

    An fsync of any descriptor of the file flushes all of it: the commit that asked,
    and any before. A checkpoint in between syncs the log first (synchronous=NORMAL
    does), so what it copied is on disk too."""

    #: (A test makes the disk slow, or failing, here.)
    fsync = staticmethod(os.fsync)

    def __init__(self, wal: Path) -> None:
        self._wal = wal
        self._cond = threading.Condition()
        self._asked = self._done = 0
        self._failed = self._stopped = False
        self._thread = threading.Thread(target=self._run, name="zchat-sync", daemon=True)
        self._thread.start()

    def ask(self, reserved: int) -> None:
        """Put the log on disk, with the reservation ``reserved`` just committed to it."""
        with self._cond:
            self._asked = max(self._asked, reserved)
            self._cond.notify_all()

    def wait(self, reserved: int) -> bool:
        """Wait until the reservation ``reserved`` is on disk: False if this thread
        cannot do it (it failed, or stopped), and the caller must."""
        with self._cond:
            self._cond.wait_for(lambda: self._done >= reserved or self._failed
                                or self._stopped)
            return self._done >= reserved

    def sync(self) -> None:
        """The fsync itself (OSError if the disk refuses)."""
        fd = os.open(self._wal, os.O_RDONLY)
        try:
            self.fsync(fd)
        finally:
            os.close(fd)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._asked > self._done or self._stopped)
                if self._asked <= self._done:
                    return  # stopped, with nothing asked
                reserved = self._asked
            try:
                self.sync()
            except OSError as exc:
                log.warning("history sync failed (the broker's loop syncs instead): %s",
                            exc)
                with self._cond:
                    self._failed = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._done = reserved
                self._cond.notify_all()

    def stop(self) -> None:
        """Stop the thread, once what was asked is on disk."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(10)


def _overlapping(batches: Iterable[tuple[int, int]], high: int) -> int:
    """Sum the events of prune batches (upto, events), in order, up to the one holding high."""
    total = 0
    for upto, events in batches:
        total += events
        if upto >= high:
            break
    return total


def _bound(seq: int) -> int:
    """A page's bound as SQLite holds it (a client's number may be out of its range)."""
    return max(0, min(seq, IN_USE))


def _event(row: tuple) -> StoredEvent:  # type: ignore[type-arg]
    seq, kind, ts, name, text, target, reason, origin, cid, prev, to_key, prev_to, room = row
    if kind not in (c.MSG, c.PRIV, c.JOINED, c.LEFT):
        raise StoreError(f"history holds an unknown event kind {kind!r} at seq {seq}")
    return StoredEvent(seq, kind, ts, name, text, target, reason, origin, cid, prev, to_key,
                       prev_to, room)
