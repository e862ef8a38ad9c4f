// Messages sent but not yet acknowledged, kept to resend after a reconnect, and the
// pacing that keeps them under the broker's limits. Pure: time is passed in.
// A port of client/outbox.py and protocol/rate.py (docs/PROTOCOL.md, Acknowledgement
// and duplicates, Flood control).
//
// Each message gets a cid, increasing for the life of the session token (kept across
// reloads with it): the broker stores (token, cid) with the message, so a resend of
// something it already stored is acknowledged, not shown twice.

/** Unacknowledged messages kept at most; past it, new messages are refused. */
export const OUTBOX_LIMIT = 1000;

/** Errors that keep a message for a later send (the rest drop it for good). */
const KEPT = new Set(["RATE_LIMITED", "NOT_JOINED"]);

/** Whether an ERROR with this code, for a message of the outbox, drops it. */
export function isFinal(code) {
  return !KEPT.has(code);
}

export class Outbox {
  constructor(limit = OUTBOX_LIMIT) {
    this.limit = limit;
    this.next = 1;
    /** cid -> message ({kind: "SAY"|"TELL", text, room?, to?, cid, retry}), in order. */
    this.waiting = new Map();
    /** cids to send on this connection, oldest first. */
    this.unsent = [];
  }

  get size() {
    return this.waiting.size;
  }

  toJSON() {
    return { next: this.next, waiting: [...this.waiting.values()] };
  }

  static fromJSON(saved, limit = OUTBOX_LIMIT) {
    const box = new Outbox(limit);
    box.next = saved.next;
    for (const msg of saved.waiting) box.waiting.set(msg.cid, msg);
    box.unsent = []; // sent again, as retries, after the next WELCOME
    return box;
  }

  /** Give ``msg`` the next cid and keep it; null when the outbox is full. */
  add(msg) {
    if (this.waiting.size >= this.limit) return null;
    const kept = { ...msg, cid: this.next, retry: false };
    this.next += 1;
    this.waiting.set(kept.cid, kept);
    this.unsent.push(kept.cid);
    return kept;
  }

  /** The next message to send, if any is waiting to go out. */
  peek() {
    while (this.unsent.length) {
      const msg = this.waiting.get(this.unsent[0]);
      if (msg) return msg;
      this.unsent.shift(); // settled before it was even sent
    }
    return null;
  }

  /** The message peek returned has gone out. */
  sent() {
    this.unsent.shift();
  }

  /** The broker refused ``cid`` for now (rate limit): send it again next. */
  again(cid) {
    if (this.waiting.has(cid) && !this.unsent.includes(cid)) this.unsent.unshift(cid);
  }

  /** A new connection (after WELCOME): every unacknowledged message goes out again,
   * oldest first, as a retry. */
  requeue() {
    for (const [cid, msg] of this.waiting) this.waiting.set(cid, { ...msg, retry: true });
    this.unsent = [...this.waiting.keys()];
  }

  /** The broker stored (or refused for good) ``cid``: forget it and return it. */
  settle(cid) {
    const msg = this.waiting.get(cid) ?? null;
    this.waiting.delete(cid);
    return msg;
  }
}

/** A token bucket (Flood control): ``rate`` a second, at most ``burst`` saved up. */
export class TokenBucket {
  constructor(rate, burst, now = 0) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.stamp = now;
  }

  refill(now) {
    if (now > this.stamp) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.stamp) * this.rate);
      this.stamp = now;
    }
  }

  take(now, amount = 1) {
    this.refill(now);
    if (this.tokens >= amount) {
      this.tokens -= amount;
      return true;
    }
    return false;
  }

  wait(now, amount = 1) {
    this.refill(now);
    const missing = Math.min(amount, this.burst) - this.tokens;
    return missing <= 0 ? 0 : missing / this.rate;
  }
}

/** The reference client's margin: 90% of the announced rates, a burst a little
 * smaller, so timing jitter never crosses the broker's line. */
export const PACE_MARGIN = 0.9;

/** Buckets for WELCOME's limits, or null when it announces none. Times in seconds. */
export function makePacer(welcome, now) {
  if (!(welcome.rate > 0) || !(welcome.byte_rate > 0)) return null;
  return {
    messages: new TokenBucket(welcome.rate * PACE_MARGIN, Math.max(1, welcome.burst - 1), now),
    octets: new TokenBucket(welcome.byte_rate * PACE_MARGIN,
      Math.max(1, welcome.byte_burst - 2000 * 4), now),
  };
}

/** Seconds until a message of ``size`` text octets may go (0: now). */
export function paceWait(pacer, now, size) {
  if (pacer === null) return 0;
  const octets = Math.min(size, pacer.octets.burst);
  return Math.max(pacer.messages.wait(now), pacer.octets.wait(now, octets));
}

/** Spend a message's cost, as it is sent. */
export function paceTake(pacer, now, size) {
  if (pacer === null) return;
  pacer.messages.take(now);
  pacer.octets.take(now, Math.min(size, pacer.octets.burst));
}

/** A RATE_LIMITED came anyway: empty the message bucket so the next send waits. */
export function paceBackOff(pacer) {
  if (pacer !== null) pacer.messages.tokens = 0;
}
