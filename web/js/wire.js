// ZCHAT/1 frames as the page speaks them (docs/PROTOCOL.md, Frame format, Commands,
// Unicode, Names). Pure: no DOM, no sockets. A frame is a string here: the gateway
// carries each one as one WebSocket text message (docs/WEB.md).

export const SIGNATURE = "ZCHAT/1";
export const LIVENESS = 3;
export const MAX_FRAME_BYTES = 16384;
export const MAX_TEXT_CHARS = 2000;
export const MAX_NAME_CHARS = 32;
export const MAX_TOPIC_CHARS = 200;
export const MAX_SEQ = 9007199254740991;
export const ROOM_PREFIX = "#";

/** Errors after which a client cannot go on joining with that name (Errors). */
export const FATAL_ERRORS = new Set(["VERSION", "BAD_NAME", "NAME_TAKEN", "NAME_OWNED",
  "FULL", "BANNED"]);

/** LEFT and BYE reasons (LEFT and BYE reasons); others must be accepted too. */
export const REASONS = Object.freeze({
  QUIT: "quit", TIMEOUT: "timeout", LOST: "lost", SLOW: "slow", SHUTDOWN: "shutdown",
  FLOOD: "flood", PART: "part", KICKED: "kicked", BANNED: "banned",
});

export const EVENT_TYPES = new Set(["MSG", "PRIV", "JOINED", "LEFT"]);

// ---- Unicode (Unicode 14 rules, as close as JavaScript's tables allow) ----

/** The 25 code points of the White_Space property: not JavaScript's \s. */
const WHITE_SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);

/** Length in code points (a character outside the BMP counts once). */
export function codePoints(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function isWhiteSpace(codePoint) {
  return WHITE_SPACE.has(codePoint);
}

/** Empty or nothing but White_Space: SAY refuses it with EMPTY. */
export function isBlank(text) {
  for (const ch of text) if (!WHITE_SPACE.has(ch.codePointAt(0))) return false;
  return true;
}

/** Why a message text would be refused ("empty", "too_long"), or null. */
export function textProblem(text) {
  if (typeof text !== "string" || isBlank(text)) return "empty";
  if (codePoints(text) > MAX_TEXT_CHARS) return "too_long";
  return null;
}

const REFUSED_CATEGORY = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zs}\p{Zl}\p{Zp}]/u;
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u2800\u{16FE4}\u{1D159}]/u;

/** Why a name or room name is refused: the ERROR detail of BAD_NAME and BAD_ROOM
 * (protocol/names.py, PROTOCOL.md Errors); P_INVISIBLE is followed by " U+XXXX". */
export const P_EMPTY = "empty";
export const P_TOO_LONG = "too long";
export const P_BAD_START = "starts with @ or /";
export const P_BAD_CHARACTER = "whitespace or control character";
export const P_INVISIBLE = "invisible character";
export const P_NO_PREFIX = "must start with #";

/** Why ``name`` is not a valid name (the broker's BAD_NAME detail), or null. */
export function nameProblem(name) {
  if (typeof name !== "string" || name.length === 0) return P_EMPTY;
  if (codePoints(name) > MAX_NAME_CHARS) return P_TOO_LONG;
  const first = name.normalize("NFKC")[0];
  if (first === "@" || first === "/") return P_BAD_START;
  for (const ch of name) {
    if (REFUSED_CATEGORY.test(ch) || WHITE_SPACE.has(ch.codePointAt(0))) {
      return P_BAD_CHARACTER;
    }
  }
  for (const ch of name) {
    if (INVISIBLE.test(ch)) {
      const hex = ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
      return `${P_INVISIBLE} U+${hex}`;
    }
  }
  return null;
}

/** The comparison key of a name: NFKC, then case folding. JavaScript has no full case
 * folding; upper- then lower-casing gets its common cases (ß → ss, ς → σ, ﬁ → fi). */
export function nameKey(name) {
  return name.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
}

/** A room's key: '#' and the key of the rest (Rooms, Names). */
export function roomKey(room) {
  const bare = room.startsWith(ROOM_PREFIX) ? room.slice(1) : room;
  return ROOM_PREFIX + nameKey(bare);
}

/** Why ``room`` is not a valid room name, or null. */
export function roomProblem(room) {
  if (!room.startsWith(ROOM_PREFIX)) return P_NO_PREFIX;
  return nameProblem(room.slice(1));
}

export function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/** Text from a peer as one shows it: controls, bidi controls and line separators as
 * visible escapes (Security). textContent keeps markup inert; this keeps a name from
 * reordering or faking a line. */
export function visible(text) {
  let out = "";
  for (const ch of String(text)) {
    const c = ch.codePointAt(0);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      out += c === 0x0a ? "\n" : "\\x" + c.toString(16).padStart(2, "0");
    } else if (c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e)
        || (c >= 0x2066 && c <= 0x2069) || c === 0x2028 || c === 0x2029) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else {
      out += ch;
    }
  }
  return out;
}

// ---- encoding (compact JSON, defaults left out, as the reference writes) ----

export function encode(command, body) {
  return body === undefined ? `${SIGNATURE} ${command}` : `${SIGNATURE} ${command} ${JSON.stringify(body)}`;
}

/** ``acks``: the page takes ACKS (several ACKs in one frame). */
export function join(name, token, resume, acks = false) {
  const body = { name };
  if (token) body.token = token;
  if (resume) body.resume = true;
  if (acks) body.acks = true;
  return encode("JOIN", body);
}

export function say(text, cid, retry = false, room = "") {
  const body = { text, cid };
  if (retry) body.retry = true;
  if (room) body.room = room;
  return encode("SAY", body);
}

export function tell(to, text, cid, retry = false) {
  const body = { to, text, cid };
  if (retry) body.retry = true;
  return encode("TELL", body);
}

/** FETCH from the cursors; ``rooms``: room key -> cursor. */
export function fetch(pub, priv, rooms = {}, limit = 200) {
  const body = { pub, priv, limit };
  if (Object.keys(rooms).length) body.rooms = rooms;
  return encode("FETCH", body);
}

export const who = (room = "") => (room ? encode("WHO", { room }) : encode("WHO"));
export const leave = () => encode("LEAVE");
export const ping = () => encode("PING");
export const enter = (room) => encode("ENTER", { room });
export const part = (room) => encode("PART", { room });
export const listRooms = () => encode("ROOMS");
export const topic = (room, text) => encode("TOPIC", { room, text });
export const listDms = () => encode("DMS");

/** HISTORY: a page of ``room`` (or, with ``peer``, of the private conversation with
 * that user), before, after or around an event number (at most one of them). */
export function history({ room = "", peer = "", before = null, after = null, around = null,
  limit = 100 }) {
  const body = peer ? { with: peer } : { room };
  if (before !== null) body.before = before;
  else if (after !== null) body.after = after;
  else if (around !== null) body.around = around;
  body.limit = limit;
  return encode("HISTORY", body);
}

/** SEARCH: messages with all of ``words``, narrowed by sender, room or peer; older
 * than ``before`` to page on. */
export function search({ words, sender = "", room = "", peer = "", before = null, limit = 20 }) {
  const body = { words };
  if (sender) body.from = sender;
  if (room) body.room = room;
  if (peer) body.with = peer;
  if (before !== null) body.before = before;
  body.limit = limit;
  return encode("SEARCH", body);
}

/** MARK: ``read`` is key -> the last event of it the user was shown. */
export const mark = (read) => encode("MARK", { read });

/** MOD: an operator's action (absent fields are left out). */
export function mod({ op, name = "", room = "", seconds = 0, reason = "" }) {
  const body = { op };
  if (name) body.name = name;
  if (room) body.room = room;
  if (seconds) body.seconds = seconds;
  if (reason) body.reason = reason;
  return encode("MOD", body);
}

// ---- decoding ----

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function hasLoneSurrogate(value) {
  if (typeof value === "string") return LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(hasLoneSurrogate);
  if (value && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => LONE_SURROGATE.test(k) || hasLoneSurrogate(v));
  }
  return false;
}

/** Split a frame into its command and body object; null for anything that is not a
 * well-formed ZCHAT/1 frame (a client ignores what it cannot decode). */
export function parse(frame) {
  if (typeof frame !== "string" || !frame.startsWith(SIGNATURE + " ")) return null;
  const rest = frame.slice(SIGNATURE.length + 1);
  const space = rest.indexOf(" ");
  const command = space < 0 ? rest : rest.slice(0, space);
  if (!/^[A-Z]{1,16}$/.test(command)) return null;
  if (space < 0) return { command, body: {} };
  let body;
  try {
    body = JSON.parse(rest.slice(space + 1));
  } catch {
    return null;
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return null;
  return { command, body };
}

const isStr = (v, most = Infinity) => typeof v === "string" && codePoints(v) <= most;
const isInt = (v) => Number.isInteger(v) && v >= 0 && v <= MAX_SEQ;
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isRate = (v) => isNum(v) && v >= 0;
const isText = (v) => isStr(v, MAX_TEXT_CHARS);
const isTopic = (v) => isStr(v, MAX_TOPIC_CHARS);
const isBool = (v) => v === true || v === false;
const isList = (v) => Array.isArray(v) && v.every((x) => typeof x === "string");
const isCursors = (v) => v && typeof v === "object" && !Array.isArray(v)
  && Object.values(v).every(isInt);

/** Read an optional field: its default when absent, undefined when mistyped. */
function opt(body, key, check, fallback) {
  if (!(key in body)) return fallback;
  return check(body[key]) ? body[key] : undefined;
}

/** One event (a MSG, PRIV, JOINED or LEFT body) with its type, or null if malformed.
 * An absent seq or prev reads as 0 (Commands). */
export function readEvent(type, e) {
  if (!EVENT_TYPES.has(type) || !e || typeof e !== "object" || Array.isArray(e)) return null;
  const seq = opt(e, "seq", isInt, 0);
  const prev = opt(e, "prev", isInt, 0);
  const room = opt(e, "room", (v) => isStr(v, 129), "");
  if (seq === undefined || prev === undefined || room === undefined || !isNum(e.ts)) return null;
  const base = { type, ts: e.ts, seq, prev, room };
  switch (type) {
    case "MSG":
      return isStr(e.from) && isText(e.text) ? { ...base, from: e.from, text: e.text } : null;
    case "PRIV":
      return isStr(e.from) && isStr(e.to) && isText(e.text)
        ? { ...base, from: e.from, to: e.to, text: e.text, room: "" } : null;
    case "JOINED":
      return isStr(e.name) ? { ...base, name: e.name } : null;
    default: // LEFT
      return isStr(e.name) && isStr(e.reason, 64) ? { ...base, name: e.name, reason: e.reason } : null;
  }
}

/** UNREAD's and DMS's items (Read state), or null. */
function readItems(b) {
  if (!Array.isArray(b.items) || b.items.length > 200) return null;
  const items = b.items.map((i) => {
    if (!i || typeof i !== "object" || Array.isArray(i) || !isStr(i.key, 129)) return null;
    const m = { key: i.key, read: opt(i, "read", isInt, 0), unread: opt(i, "unread", isInt, 0),
      mentions: opt(i, "mentions", isInt, 0), more: opt(i, "more", isBool, false),
      last: opt(i, "last", isInt, 0), ts: opt(i, "ts", isNum, 0) };
    return Object.values(m).includes(undefined) ? null : m;
  });
  return items.includes(null) ? null : { items };
}

/** Field checks of the broker frames the page reads: each returns the message with
 * its defaults filled in, or null. */
const READERS = {
  WELCOME(b) {
    const m = {
      name: b.name, session: b.session, heartbeat: b.heartbeat,
      users: opt(b, "users", isList, []), pub: opt(b, "pub", isInt, 0),
      priv: opt(b, "priv", isInt, 0), epoch: opt(b, "epoch", (v) => isStr(v, 64), ""),
      resumed: opt(b, "resumed", isBool, false), online: opt(b, "online", isInt, 0),
      rate: opt(b, "rate", isRate, 0), burst: opt(b, "burst", isInt, 0),
      byte_rate: opt(b, "byte_rate", isRate, 0), byte_burst: opt(b, "byte_burst", isInt, 0),
      fanout: opt(b, "fanout", (v) => isStr(v, 16), "router"),
      room: opt(b, "room", isStr, ""), rooms: opt(b, "rooms", isCursors, {}),
    };
    if (!isStr(m.name) || !isStr(m.session, 64) || !isNum(m.heartbeat)
        || m.heartbeat < 0.05 || m.heartbeat > 3600) return null;
    return Object.values(m).includes(undefined) ? null : m;
  },
  ACK(b) {
    const m = { cid: isInt(b.cid) ? b.cid : undefined, seq: opt(b, "seq", isInt, 0),
      prev: opt(b, "prev", isInt, 0), room: opt(b, "room", isStr, "") };
    return Object.values(m).includes(undefined) ? null : m;
  },
  ACKS(b) { // several ACKs, as that many ACK frames in order (MAX_ACKS)
    if (!Array.isArray(b.acks) || b.acks.length < 1 || b.acks.length > 200) return null;
    const acks = b.acks.map((a) => (a !== null && typeof a === "object" && !Array.isArray(a)
      ? READERS.ACK(a) : null));
    return acks.includes(null) ? null : { acks };
  },
  EVENTS(b) {
    if (!isStr(b.kind, 64) || !Array.isArray(b.events)) return null;
    const events = b.events.map((e) => readEvent(e && e.type, e));
    if (events.includes(null)) return null; // one bad event spoils the frame (as the reference)
    const m = { kind: b.kind, events, more: opt(b, "more", isBool, false),
      lost: opt(b, "lost", isInt, 0), room: opt(b, "room", isStr, "") };
    return Object.values(m).includes(undefined) ? null : m;
  },
  PING(b) {
    const m = { pub: opt(b, "pub", isInt, null), priv: opt(b, "priv", isInt, null),
      rooms: opt(b, "rooms", isCursors, {}) };
    return Object.values(m).includes(undefined) ? null : m;
  },
  USERS(b) {
    const m = { names: b.names, room: opt(b, "room", isStr, "") };
    return isList(m.names) && m.room !== undefined ? m : null;
  },
  ERROR(b) {
    const m = { code: b.code, detail: opt(b, "detail", isStr, ""), ref: opt(b, "ref", isStr, ""),
      cid: opt(b, "cid", isInt, 0) };
    return isStr(m.code, 64) && !Object.values(m).includes(undefined) ? m : null;
  },
  BYE: (b) => (isStr(b.reason, 64) ? { reason: b.reason } : null),
  NOTICE(b) {
    const m = { code: b.code, detail: opt(b, "detail", isStr, "") };
    return isStr(m.code, 64) && m.detail !== undefined ? m : null;
  },
  ENTERED(b) {
    const m = { room: b.room, head: isInt(b.head) ? b.head : undefined, topic: opt(b, "topic", isTopic, ""),
      users: opt(b, "users", isList, []), online: opt(b, "online", isInt, 0) };
    return isStr(m.room) && !Object.values(m).includes(undefined) ? m : null;
  },
  UNREAD: readItems,
  DMS: readItems,
  MODERATED(b) {
    const m = { op: b.op, by: b.by, name: opt(b, "name", isStr, ""), room: opt(b, "room", isStr, ""),
      reason: opt(b, "reason", (v) => isStr(v, 200), ""), until: opt(b, "until", isNum, 0) };
    return isStr(m.op, 16) && isStr(m.by) && !Object.values(m).includes(undefined) ? m : null;
  },
  PARTED: (b) => (isStr(b.room) ? { room: b.room } : null),
  TOPIC(b) {
    const m = { room: b.room, text: b.text, by: b.by };
    return isStr(m.room) && isTopic(m.text) && isStr(m.by) ? m : null;
  },
  ROOMS(b) {
    if (!Array.isArray(b.rooms)) return null;
    const rooms = b.rooms.map((r) => (r && isStr(r.name)
      ? { name: r.name, online: isInt(r.online) ? r.online : 0, topic: isStr(r.topic) ? r.topic : "" }
      : null));
    return rooms.includes(null) ? null : { rooms };
  },
};

/** A broker frame as { command, ...fields }, or null when it cannot be decoded or is
 * not one the page reads (it still counts as a heartbeat). */
export function decode(frame) {
  const parsed = parse(frame);
  if (parsed === null || hasLoneSurrogate(parsed.body)) return null;
  const { command, body } = parsed;
  if (EVENT_TYPES.has(command)) {
    const event = readEvent(command, body);
    return event && { command, event };
  }
  const reader = READERS[command];
  const fields = reader ? reader(body) : null;
  return fields && { command, ...fields };
}
