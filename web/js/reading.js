// What the user has read: MARKs for the broker. Pure: no sockets, no clock of its own.
// A port of client/reading.py (docs/PROTOCOL.md, Read state).
//
// The page notes each event it showed in view (`seen`: a line of the room in view, a
// private message, our own message once acknowledged, a room's lines when the user
// switches to it) and sends the marks now and then (`due`, at most every MARK_EVERY_MS,
// and `flush` before DMS and LEAVE), one MARK for every room and conversation that
// moved. After WELCOME the broker's UNREAD says what is unread; `unread` keeps the
// items this page has not shown already, and `newLine` says where the "new" line goes.

import { nameKey, roomKey } from "./wire.js";

/** Between two MARKs (each costs a message of the flood budget). */
export const MARK_EVERY_MS = 2000;
/** Entries in one MARK (MAX_MARKS). */
export const MAX_MARKS = 200;
const MAX_SEQ = 9007199254740991;

/** The key of the private conversation with ``name`` (in MARK: "@" and the name). */
export function peerKey(name) {
  return "@" + nameKey(name);
}

export class ReadTracker {
  constructor() {
    /** key -> the last event shown; key -> the last one marked. */
    this.seenUpTo = {};
    this.sentUpTo = {};
    this.lastSent = -Infinity;
    /** key -> the last event read before this visit (UNREAD's, or what this page showed):
     * the "new" line goes before the first event past it (`newLine`), once. */
    this.boundary = {};
  }

  toJSON() {
    return { seen: this.seenUpTo, sent: this.sentUpTo };
  }

  static fromJSON(saved) {
    const r = new ReadTracker();
    if (saved) {
      r.seenUpTo = { ...saved.seen };
      r.sentUpTo = { ...saved.sent };
    }
    return r;
  }

  /** An event of ``key`` (a room's key, or a peerKey) was shown, or sent by the user. */
  seen(key, seq) {
    if (seq > (this.seenUpTo[key] ?? 0)) this.seenUpTo[key] = seq;
  }

  /** The marks to send now ({key: seq}), if something moved and the last MARK is old
   * enough; else null. */
  due(nowMs) {
    if (nowMs - this.lastSent < MARK_EVERY_MS) return null;
    const read = this.flush();
    if (read !== null) this.lastSent = nowMs;
    return read;
  }

  /** The marks of everything that moved since the last MARK (null: nothing did). */
  flush() {
    const moved = Object.entries(this.seenUpTo)
      .filter(([key, seq]) => seq > (this.sentUpTo[key] ?? 0)).slice(0, MAX_MARKS);
    if (!moved.length) return null;
    for (const [key, seq] of moved) this.sentUpTo[key] = seq;
    return Object.fromEntries(moved);
  }

  /** UNREAD's items still unread here: those with unread messages this page has not
   * shown all of. ``heads``: WELCOME's rooms (room key -> head). A page that showed
   * them before its marks reached the broker (a reload within MARK_EVERY_MS) has read
   * them all the same. */
  unread(items, heads) {
    this.boundary = {};
    return items.filter((item) => {
      if (!item.unread) return false;
      const peer = item.key.startsWith("@");
      const key = peer ? peerKey(item.key.slice(1)) : roomKey(item.key);
      const seen = this.seenUpTo[key] ?? 0;
      if (seen >= (peer ? item.last : heads[key] ?? MAX_SEQ)) return false;
      this.boundary[key] = Math.max(item.read ?? 0, seen);
      return true;
    });
  }

  /** Whether the "new" line goes before this event of ``key`` (once per key). */
  newLine(key, seq) {
    const read = this.boundary[key];
    if (read === undefined || seq <= read) return false;
    delete this.boundary[key];
    return true;
  }
}
