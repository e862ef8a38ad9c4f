// Looking back: where /history goes on from, and the last /search's results for
// /around. Pure. A port of the state client/app.py keeps for them (_oldest, _searched,
// _hits, _around; docs/PROTOCOL.md, Rooms: HISTORY, Search).

/** Events a /history without a count asks for: about a screenful. */
export const SCROLL_PAGE = 20;
/** Lines /around shows: the result and about five on each side. */
export const AROUND_LINES = 11;

export class Lookback {
  constructor() {
    /** Per room key (or peer key), the oldest event shown: /history asks before it. */
    this.oldest = {};
    /** The last search (without its `before`) and its results so far, numbered from 1. */
    this.searched = null;
    this.hits = [];
    /** Rooms whose next page answers an /around. */
    this.around = new Set();
  }

  toJSON() {
    return { oldest: this.oldest };
  }

  static fromJSON(saved) {
    const l = new Lookback();
    if (saved && saved.oldest) l.oldest = { ...saved.oldest };
    return l;
  }

  /** An event of ``key`` was shown. */
  note(key, seq) {
    if (seq && seq < (this.oldest[key] ?? Infinity)) this.oldest[key] = seq;
  }

  /** What /history of ``key`` asks before (null: the latest page). */
  before(key) {
    return this.oldest[key] ?? null;
  }

  /** A /search: the same search again pages on to older results (its `before`); a new
   * one starts over (null). */
  search(ask) {
    const same = this.searched !== null && ["words", "sender", "room", "peer"]
      .every((field) => this.searched[field] === ask[field]);
    if (same && this.hits.length) return this.hits[this.hits.length - 1].seq;
    this.searched = { words: ask.words, sender: ask.sender, room: ask.room, peer: ask.peer };
    this.hits = [];
    return null;
  }

  /** SEARCH's answer: its hits (MSG and PRIV only), each with its number. */
  found(events) {
    return events.filter((e) => e.type === "MSG" || e.type === "PRIV").map((hit) => {
      this.hits.push(hit);
      return { hit, number: this.hits.length };
    });
  }

  /** /around N: {hit} to ask a page around, or {problem} (a text key). */
  hit(number) {
    if (!(number > 0 && number <= this.hits.length)) return { problem: "client.around_unknown" };
    const hit = this.hits[number - 1];
    if (hit.type === "PRIV") return { problem: "client.around_private" };
    return { hit };
  }

  /** A page of ``key`` was asked for around a hit: it is shown as context. */
  expectAround(key) {
    this.around.add(key);
  }

  /** Whether this page of ``key`` answers an /around (once). */
  takeAround(key) {
    return this.around.delete(key);
  }
}
