// What this page has shown, as one cursor per stream, and how it closes gaps. Pure.
// A port of client/timeline.py (docs/PROTOCOL.md, Resume, gaps and history).
//
// Every event carries its seq and `prev`, the previous event of the reader's stream:
// the public stream (the default room), this session's private stream, or one of the
// other rooms it is in. An event whose prev is the cursor of its stream is shown;
// otherwise something was missed, so live events are held, a FETCH goes out from the
// cursors and the replay is shown (marked as missed) before them. Duplicates (seq at or
// below the cursor) are dropped: every event is shown exactly once, in order.
//
// A stream is named by its room's key: PUBLIC ("") for the default room, whose events
// carry no room, and PRIV ("@") for the private stream.

import { nameKey, roomKey } from "./wire.js";

export const MISSED = "missed";
export const HISTORY = "history";
export const PRIV = "@";
export const PUBLIC = "";

/** The stream an event belongs to. */
export function streamOf(event) {
  if (event.type === "PRIV") return PRIV;
  return event.room ? roomKey(event.room) : PUBLIC;
}

/** WELCOME's default room as a room name (a broker may give it without its '#'). */
export function defaultRoom(name) {
  return !name || name.startsWith("#") ? name : "#" + name;
}

const bySeq = (a, b) => a.seq - b.seq;

/** What one input led to: lines to show ({event, tag}), a FETCH to send, a loss, a reset. */
function step() {
  return { shown: [], fetch: null, lost: 0, reset: false };
}

export class Timeline {
  constructor(name) {
    this.me = nameKey(name);
    this.pub = null;
    this.priv = null;
    /** Cursors of the rooms other than the default one, by key. */
    this.rooms = {};
    /** In the default room: after a PART of it, its events are not ours to follow. */
    this.publicOn = true;
    this.defaultKey = "";
    this.epoch = "";
    this.catchingUp = false;
    this.held = [];
    this.awayUntil = {};
    /** [private cursor, WELCOME's private head] when the broker lost our private stream. */
    this.restart = null;
  }

  get joinedBefore() {
    return this.pub !== null;
  }

  /** What survives a reload: the cursors (held events and a catch-up start again). */
  toJSON() {
    return { me: this.me, pub: this.pub, priv: this.priv, rooms: this.rooms,
      publicOn: this.publicOn, defaultKey: this.defaultKey, epoch: this.epoch };
  }

  static fromJSON(saved) {
    const t = new Timeline("");
    Object.assign(t, { me: saved.me, pub: saved.pub, priv: saved.priv, rooms: { ...saved.rooms },
      publicOn: saved.publicOn, defaultKey: saved.defaultKey, epoch: saved.epoch });
    return t;
  }

  cursor(stream) {
    if (stream === PRIV) return this.priv;
    if (stream === PUBLIC) return this.publicOn ? this.pub : null;
    return stream in this.rooms ? this.rooms[stream] : null;
  }

  set(stream, seq) {
    if (stream === PRIV) this.priv = seq;
    else if (stream === PUBLIC) this.pub = seq;
    else this.rooms[stream] = seq;
  }

  /** FETCH's fields from the cursors: {pub, priv, rooms}. */
  cursors() {
    const rooms = {};
    for (const key of Object.keys(this.rooms).sort()) rooms[key] = this.rooms[key];
    return { pub: this.pub ?? 0, priv: this.priv ?? 0, rooms };
  }

  startFetch() {
    this.catchingUp = true;
    return this.cursors();
  }

  /** WELCOME's rooms but the default one (whose head is pub), by key. */
  roomHeads(w) {
    const defaultKey = w.room ? roomKey(defaultRoom(w.room)) : null;
    const heads = {};
    for (const [room, head] of Object.entries(w.rooms || {})) {
      const key = roomKey(room);
      if (key !== defaultKey) heads[key] = head;
    }
    return heads;
  }

  /** Adopt the broker's heads, or catch up to them. Not its name: we are who we asked
   * to be (a resume may change only the spelling). */
  welcome(w) {
    const heads = this.roomHeads(w);
    if (w.room) {
      this.defaultKey = roomKey(defaultRoom(w.room));
      this.publicOn = Object.keys(w.rooms || {}).some((r) => roomKey(r) === this.defaultKey);
    }
    // Events up to these heads happened while we were away: a replay shows them as
    // missed; later ones are live events that came late.
    this.awayUntil = { [PUBLIC]: w.pub, [PRIV]: w.priv, ...heads };
    if (this.pub === null || this.priv === null || w.epoch !== this.epoch || w.pub < this.pub) {
      const out = step();
      out.reset = this.pub !== null; // the history we knew is gone: say so
      this.pub = w.pub;
      this.priv = w.priv;
      this.epoch = w.epoch;
      this.rooms = { ...heads };
      this.catchingUp = false;
      this.restart = null;
      const held = this.held.sort(bySeq);
      this.held = [];
      if (!out.reset) for (const event of held) this.take(event, out); // a first WELCOME
      return out;
    }
    // The rooms we are still in; one entered meanwhile, or whose head went back,
    // starts at its head.
    let behind = false;
    const rooms = {};
    for (const [key, head] of Object.entries(heads)) {
      const cursor = key in this.rooms ? this.rooms[key] : null;
      if (cursor === null || head < cursor) {
        rooms[key] = head;
      } else {
        rooms[key] = cursor;
        behind = behind || head > cursor;
      }
    }
    this.rooms = rooms;
    this.held = this.held.filter((e) => this.cursor(streamOf(e)) !== null);
    const out = step();
    if (w.priv < this.priv) {
      // Same history, but our private stream's head is gone (pruned, or a fresh
      // session): catch up from the cursors, then restart the private cursor there.
      this.restart = [this.priv, w.priv];
      out.fetch = this.startFetch();
    } else if (w.pub > this.pub || w.priv > this.priv || behind) {
      out.fetch = this.startFetch();
    }
    return out;
  }

  /** ENTERED: we are in ``room``, whose head counts our own JOINED. */
  entered(room, head) {
    const key = roomKey(room);
    const out = step();
    if (key === this.defaultKey) {
      if (!this.publicOn) {
        this.publicOn = true;
        this.pub = head;
      }
      return out;
    }
    if (!(key in this.rooms)) {
      this.rooms[key] = head;
    } else if (head > this.rooms[key] && !this.catchingUp) {
      out.fetch = this.startFetch();
    }
    return out;
  }

  /** PARTED: events of ``room`` still on their way are not shown. */
  parted(room) {
    const key = roomKey(room);
    if (key === this.defaultKey) {
      this.publicOn = false;
      this.held = this.held.filter((e) => streamOf(e) !== PUBLIC);
      return;
    }
    delete this.rooms[key];
    delete this.awayUntil[key];
    this.held = this.held.filter((e) => streamOf(e) !== key);
  }

  /** An event as it happens (router or feed). */
  live(event) {
    const out = step();
    this.take(event, out);
    return out;
  }

  take(event, out) {
    const stream = streamOf(event);
    const cursor = this.cursor(stream);
    if (event.seq === 0) { // unnumbered (a cluster outage): shown, never held or counted
      if (!this.own(event)) out.shown.push({ event, tag: "" });
      return;
    }
    if (this.pub === null || this.catchingUp) {
      this.held.push(event); // placed after WELCOME, or after the catch-up
      return;
    }
    if (cursor === null) return; // a room we are not in
    if (event.seq <= cursor) return; // already shown
    if (event.prev === cursor) {
      // On a feed (pub mode) our own public events come back: step over them.
      if (!this.own(event)) out.shown.push({ event, tag: "" });
      this.set(stream, event.seq);
      return;
    }
    this.held.push(event);
    out.fetch = this.startFetch();
  }

  /** A page of missed events ({events, more, lost}) answering our FETCH. */
  replay(batch) {
    const out = step();
    out.lost = batch.lost || 0;
    for (const event of [...batch.events].sort(bySeq)) {
      const stream = streamOf(event);
      const cursor = this.cursor(stream);
      if (cursor === null && stream !== PRIV && (stream !== PUBLIC || !this.publicOn)) continue;
      if (cursor !== null && event.seq <= cursor) continue;
      if (!this.own(event)) { // our own messages and joins are not shown back to us
        const away = this.awayUntil[stream] ?? 0;
        out.shown.push({ event, tag: event.seq <= away ? MISSED : "" });
      }
      this.set(stream, event.seq);
    }
    if (batch.more && batch.events.length) {
      out.fetch = this.cursors();
      return out;
    }
    this.catchingUp = false;
    if (this.restart !== null) {
      const [cursor, head] = this.restart;
      this.restart = null;
      if (this.priv === cursor) this.priv = head;
    }
    const held = this.held.sort(bySeq);
    this.held = [];
    for (const event of held) this.take(event, out);
    return out;
  }

  own(event) {
    if (event.type === "MSG") return nameKey(event.from) === this.me;
    if (event.type === "JOINED" || event.type === "LEFT") return nameKey(event.name) === this.me;
    return false;
  }

  /** Ask again from the cursors, when a FETCH went unanswered. */
  refetch() {
    return this.cursors();
  }

  /** Our SAY to ``room`` ("": the default room) was stored as ``seq``: we are not sent
   * it, so step over it. */
  ownPublic(seq, prev, room = "") {
    const stream = room ? roomKey(room) : PUBLIC;
    if (!this.catchingUp && this.cursor(stream) === prev && seq > 0) this.set(stream, seq);
  }

  /** The broker's heads from a PING: behind them means we lost something. */
  heads(pub, priv, rooms = {}) {
    const out = step();
    if (this.catchingUp || this.pub === null || this.priv === null) return out;
    const behind = Object.entries(rooms).some(([room, head]) => {
      const cursor = this.rooms[roomKey(room)];
      return cursor !== undefined && head > cursor;
    });
    if (behind || (pub !== null && pub !== undefined && this.publicOn && pub > this.pub)
        || (priv !== null && priv !== undefined && priv > this.priv)) {
      out.fetch = this.startFetch();
    }
    return out;
  }
}
