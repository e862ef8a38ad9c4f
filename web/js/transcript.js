// The lines this tab has shown, by where they belong, bounded. Pure.
//
// A room's lines (its messages, joins and leaves) are kept under its key; lines that
// belong to no room (private messages, notices, errors) under GLOBAL and shown in every
// room's view. Each line gets an increasing number, so a view merges its room's lines
// with the global ones in the order they were shown. The whole is saved with the
// session (sessionStorage), so a reload shows again exactly what was shown.

export const GLOBAL = "*";
/** Lines kept per room (and for the global lines). */
export const LINES_KEPT = 300;

export class Transcript {
  constructor(limit = LINES_KEPT) {
    this.limit = limit;
    this.next = 1;
    /** bucket key -> lines, oldest first. */
    this.buckets = {};
  }

  toJSON() {
    return { next: this.next, buckets: this.buckets };
  }

  static fromJSON(saved, limit = LINES_KEPT) {
    const t = new Transcript(limit);
    t.next = saved.next;
    t.buckets = saved.buckets;
    return t;
  }

  /** Keep ``line`` under ``bucket`` (GLOBAL or a room's key); returns it numbered. */
  add(bucket, line) {
    // A line without the broker's time (a TOPIC, our own notices) gets the page's, kept
    // with it so a reload shows the same time.
    const ts = Number.isFinite(line.ts) ? line.ts : Date.now() / 1000;
    const kept = { ...line, ts, n: this.next, bucket };
    this.next += 1;
    const lines = (this.buckets[bucket] ??= []);
    lines.push(kept);
    if (lines.length > this.limit) lines.splice(0, lines.length - this.limit);
    return kept;
  }

  /** The line of our own message ``cid``, if still kept. */
  findOwn(cid) {
    for (const lines of Object.values(this.buckets)) {
      for (let i = lines.length - 1; i >= 0; i--) if (lines[i].own && lines[i].cid === cid) return lines[i];
    }
    return null;
  }

  /** Forget a room's lines (we left it: entering again brings its history anew). */
  drop(bucket) {
    delete this.buckets[bucket];
  }

  /** What the view of room ``key`` shows: its lines and the global ones, in order. */
  view(key) {
    const mine = key !== null && key !== GLOBAL ? this.buckets[key] ?? [] : [];
    return [...mine, ...(this.buckets[GLOBAL] ?? [])].sort((a, b) => a.n - b.n);
  }
}
