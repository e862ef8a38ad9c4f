// The protocol driver: one chat session over the gateway's WebSocket (docs/WEB.md),
// speaking ZCHAT/1 (docs/PROTOCOL.md) as a client that keeps the exactly-once
// guarantee. It owns the session's state (token, cursors, outbox, rooms, the lines
// shown), saves it to the tab's storage after every change, and tells the view what
// to draw. Each new WebSocket is a new DEALER at the gateway, so "a new socket" of the
// page is a new WebSocket.

import * as wire from "./wire.js";
import { parseLine, EVERYONE } from "./commands.js";
import { Timeline, HISTORY, defaultRoom } from "./timeline.js";
import { Outbox, isFinal, makePacer, paceWait, paceTake, paceBackOff } from "./outbox.js";
import { Transcript, GLOBAL } from "./transcript.js";
import { ReadTracker, peerKey } from "./reading.js";
import { Lookback, SCROLL_PAGE, AROUND_LINES } from "./lookback.js";
import { unreadLine, dmsText, moderatedText } from "./notices.js";

/** The reasons a name is refused (wire.nameProblem, PROTOCOL.md Errors) and their texts. */
const PROBLEMS = {
  [wire.P_EMPTY]: "client.problem_empty",
  [wire.P_TOO_LONG]: "client.problem_too_long",
  [wire.P_BAD_START]: "client.problem_bad_start",
  [wire.P_BAD_CHARACTER]: "client.problem_bad_character",
  [wire.P_NO_PREFIX]: "client.problem_no_prefix",
};

const JOIN_WAIT_MS = 3000; // no WELCOME within this: JOIN again on a new WebSocket
const JOIN_WAIT_MAX_MS = 5000;
const JOIN_BACKOFF = 1.5;
const LEAVE_WAIT_MS = 1000; // how long a LEAVE waits for its BYE
const RATE_PAUSE_S = 1; // a RATE_LIMITED message is sent again after this, unpaced
const LEAVES_REMEMBERED = 1000;

/** 32 lower-case hex digits from a secure source. */
/** One leave of the chat, the same in each of its rooms' LEFT. */
function leaveId(event) {
  return `${wire.nameKey(event.name)}\u0000${event.ts}\u0000${event.reason}`;
}

export function makeToken(crypto = globalThis.crypto) {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The gateway's WebSocket on the page's own origin. */
export function socketUrl(location) {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
}

export class Session {
  /**
   * @param {object} deps  url, store (TabStore), view, t (texts), WebSocket, now (ms)
   */
  constructor({ url, store, view, t, WebSocket, now = () => Date.now() }) {
    Object.assign(this, { url, store, view, t, WebSocketClass: WebSocket, now });
    this.phase = "idle"; // idle | joining | joined | leaving | stopped
    this.ws = null;
    this.timers = {};
    this.reset();
  }

  /** Forget the session (a new name, after leaving). */
  reset() {
    this.token = null;
    this.name = "";
    this.me = "";
    this.everJoined = false;
    this.timeline = null;
    this.outbox = new Outbox();
    this.transcript = new Transcript();
    this.rooms = {}; // key -> name as the broker gives it
    this.defaultKey = "";
    this.current = null;
    this.topics = {};
    this.unread = {};
    this.unreadMore = {}; // keys whose UNREAD count was capped (MAX_UNREAD_COUNTED): "100+"
    this.leaves = new Map();
    this.reading = new ReadTracker();
    this.lookback = new Lookback();
    this.heads = {}; // WELCOME's rooms: key -> head
    this.countedUpTo = {}; // key -> the head up to which UNREAD counted a room's badge
    this.toldQueued = false;
    this.toldLost = false;
  }

  // ---- storage ----

  snapshot() {
    return {
      token: this.token, name: this.name, me: this.me, everJoined: this.everJoined,
      timeline: this.timeline && this.timeline.toJSON(), outbox: this.outbox.toJSON(),
      rooms: this.rooms, defaultKey: this.defaultKey, current: this.current,
      topics: this.topics, unread: this.unread, unreadMore: this.unreadMore,
      reading: this.reading.toJSON(),
      lookback: this.lookback.toJSON(),
    };
  }

  /** Written at the end of every handled frame and input, in the same task as the
   * lines it shows and the cursors it moves: a reload finds both or neither. */
  save() {
    if (this.token && this.phase !== "stopped") {
      this.store.save(this.snapshot(), this.transcript.toJSON());
    }
  }

  /** A session this tab already had: take it up again and rejoin at once. */
  restore() {
    const saved = this.store.load();
    if (!saved || !saved.session.token || !saved.session.name) return false;
    const s = saved.session;
    Object.assign(this, { token: s.token, name: s.name, me: s.me || s.name,
      everJoined: s.everJoined, rooms: s.rooms || {}, defaultKey: s.defaultKey || "",
      current: s.current ?? null, topics: s.topics || {}, unread: s.unread || {},
      unreadMore: s.unreadMore || {} });
    this.timeline = s.timeline ? Timeline.fromJSON(s.timeline) : null;
    this.outbox = Outbox.fromJSON(s.outbox);
    this.reading = ReadTracker.fromJSON(s.reading);
    this.lookback = Lookback.fromJSON(s.lookback);
    this.transcript = Transcript.fromJSON(saved.lines);
    this.view.showChat(this);
    this.view.setState("connecting");
    this.connect();
    return true;
  }

  /** The join form: a new session under ``name``. Returns a problem text or null. */
  start(name) {
    name = name.trim();
    const problem = wire.nameProblem(name);
    if (problem) return this.t("error.BAD_NAME", { ref: name, detail: this.problemText(problem) });
    this.reset();
    this.token = makeToken();
    this.name = name;
    this.me = name;
    this.retryMs = JOIN_WAIT_MS;
    this.save();
    this.view.showChat(this);
    this.view.setState("connecting");
    this.connect();
    return null;
  }

  // ---- the WebSocket ----

  connect() {
    this.closeSocket();
    this.phase = "joining";
    this.retryMs ??= JOIN_WAIT_MS;
    const ws = new this.WebSocketClass(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      // resume:true once we hold cursors: no history frame, we FETCH what we missed.
      this.send(wire.join(this.name, this.token, this.timeline !== null && this.timeline.joinedBefore,
        true)); // (the page takes ACKS: several ACKs in one frame)
    };
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      this.received(e.data);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.dropped();
    };
    this.later("join", this.retryMs, () => this.joinTimedOut());
    this.startTicking();
  }

  closeSocket() {
    const ws = this.ws;
    this.ws = null;
    this.cancel("join");
    this.cancel("pump");
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(frame);
    this.lastSent = this.now();
    return true;
  }

  /** No WELCOME in time: JOIN again on a new WebSocket, waiting longer each time. */
  joinTimedOut() {
    this.retryMs = Math.min(this.retryMs * JOIN_BACKOFF, JOIN_WAIT_MAX_MS);
    this.connect();
  }

  /** The WebSocket closed or failed. */
  dropped() {
    if (this.phase === "leaving") {
      this.finishLeaving();
      return;
    }
    if (this.phase === "stopped" || this.phase === "idle") return;
    if (this.phase === "joined") {
      this.lost(); // at once: the gateway may be parking our DEALER right now
      return;
    }
    // Before WELCOME (the gateway is down, or refused us): try again after a pause.
    this.cancel("join");
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * JOIN_BACKOFF, JOIN_WAIT_MAX_MS);
    this.later("join", wait, () => this.connect());
  }

  /** The broker is gone or no longer knows us: join again from a new WebSocket. */
  lost() {
    if (!this.toldLost) {
      this.toldLost = true;
      this.notice(this.t("client.lost"));
      this.save();
    }
    this.view.setState("reconnecting");
    this.retryMs = JOIN_WAIT_MS;
    this.connect();
  }

  // ---- timers ----

  later(name, ms, fn) {
    this.cancel(name);
    this.timers[name] = setTimeout(() => {
      delete this.timers[name];
      fn();
    }, ms);
  }

  cancel(name) {
    if (this.timers[name] !== undefined) clearTimeout(this.timers[name]);
    delete this.timers[name];
  }

  startTicking() {
    if (this.timers.tick !== undefined) return;
    this.timers.tick = setInterval(() => this.tick(), 250);
  }

  /** Heartbeat, liveness and an unanswered catch-up (Heartbeating and reconnection). */
  tick() {
    if (this.phase !== "joined") return;
    const now = this.now();
    const h = this.heartbeatMs;
    if (now - this.lastRecv >= wire.LIVENESS * h) {
      this.lost(); // only text messages count: the feed is not the broker's heartbeat
      return;
    }
    if (this.timeline.catchingUp && now - this.fetchSentAt >= wire.LIVENESS * h) {
      this.sendFetch(this.timeline.refetch());
    }
    const read = this.reading.due(now);
    if (read !== null) this.send(wire.mark(read)); // (what was read, now and then)
    if (now - this.lastSent >= h) this.send(wire.ping());
  }

  // ---- frames from the gateway ----

  received(data) {
    let frame = data;
    const fromFeed = typeof data !== "string";
    if (fromFeed) {
      try {
        frame = new TextDecoder("utf-8", { fatal: true }).decode(data);
      } catch {
        return;
      }
    } else {
      this.lastRecv = this.now(); // any text message is the broker's heartbeat
    }
    const msg = wire.decode(frame);
    if (msg === null) return;
    if (fromFeed) this.fromFeed(msg);
    else this.handle(msg);
    this.save();
  }

  /** The public stream in pub mode: MSG, JOINED, LEFT, EVENTS live, and a room's PING. */
  fromFeed(msg) {
    if (this.phase !== "joined" && this.phase !== "joining") return;
    switch (msg.command) {
      case "MSG": case "JOINED": case "LEFT":
        this.live([msg.event]);
        break;
      case "EVENTS":
        if (msg.kind === "live") this.live(msg.events);
        break;
      case "PING":
        if (this.timeline) this.apply(this.timeline.heads(null, null, msg.rooms));
        break;
      default:
        break;
    }
  }

  live(events) {
    if (!this.timeline) this.timeline = new Timeline(this.name);
    for (const event of events) this.apply(this.timeline.live(event));
  }

  handle(msg) {
    if (this.phase === "stopped" || this.phase === "idle") return;
    switch (msg.command) {
      case "WELCOME": return this.welcomed(msg);
      case "MSG": case "PRIV": case "JOINED": case "LEFT": return this.live([msg.event]);
      case "EVENTS": return this.events(msg);
      case "ACK": return this.acked(msg);
      case "ACKS": for (const ack of msg.acks) this.acked(ack); return undefined;
      case "PING":
        if (this.timeline) this.apply(this.timeline.heads(msg.pub, msg.priv, msg.rooms));
        return undefined;
      case "USERS": return this.users(msg);
      case "ENTERED": return this.entered(msg);
      case "PARTED": return this.parted(msg.room);
      case "TOPIC": return this.topicSet(msg);
      case "ROOMS": return this.roomList(msg.rooms);
      case "ERROR": return this.refused(msg);
      case "BYE": return this.bye(msg.reason);
      case "NOTICE": return this.serviceNotice(msg);
      case "UNREAD": return this.unreadList(msg.items);
      case "DMS": this.notice(dmsText(this.t, msg.items)); return undefined;
      case "MODERATED": this.notice(moderatedText(this.t, msg)); return undefined;
      default: return undefined; // not one the page reads
    }
  }

  welcomed(w) {
    if (this.phase !== "joining") return;
    this.cancel("join");
    // The broker's spelling of our name, if it is our name (Conformance 9).
    if (wire.nameKey(w.name) === wire.nameKey(this.name)) this.me = w.name;
    if (w.session && w.session !== this.token) this.token = w.session;
    this.heartbeatMs = w.heartbeat * 1000;
    this.phase = "joined";
    this.retryMs = JOIN_WAIT_MS;
    this.lastRecv = this.now();
    this.lastSent = this.now();
    this.takeRooms(w);
    this.heads = {};
    for (const [room, head] of Object.entries(w.rooms)) this.heads[wire.roomKey(room)] = head;
    this.countedUpTo = {};
    if (this.everJoined) {
      this.notice(this.t("client.rejoined", { name: wire.visible(this.me) }));
    } else {
      this.notice(this.t("client.welcome", { name: wire.visible(this.me) }));
      this.notice(w.users.length ? this.t("client.online", { names: this.names(w.users, w.online) })
        : this.t("client.online_none"));
    }
    this.everJoined = true;
    this.toldLost = false;
    this.toldQueued = false;
    this.view.setMe(this.me);
    this.view.setState("online");
    if (!this.timeline) this.timeline = new Timeline(this.name);
    this.apply(this.timeline.welcome(w));
    this.pacer = makePacer(w, this.now() / 1000);
    this.outbox.requeue(); // the broker acknowledges, without storing again, what it has
    this.pump();
    this.view.render(this);
  }

  /** WELCOME's rooms: every room we are in, the default one too. */
  takeRooms(w) {
    if (!w.room) { // a broker without rooms: one unnamed room
      this.rooms = {};
      this.defaultKey = "";
      this.current = "";
      return;
    }
    const name = defaultRoom(w.room);
    this.defaultKey = wire.roomKey(name);
    this.rooms = {};
    for (const room of Object.keys(w.rooms)) this.rooms[wire.roomKey(room)] = room;
    if (!(this.current in this.rooms)) this.current = this.fallback();
    this.adoptEarlyLines();
  }

  /** Messages typed before the first WELCOME were shown under no room: they belong to
   * the default room, which we know now. */
  adoptEarlyLines() {
    const early = this.transcript.buckets[""];
    if (!early || !this.defaultKey) return;
    delete this.transcript.buckets[""];
    for (const line of early) {
      line.bucket = this.defaultKey;
      line.room = this.defaultKey;
      this.transcript.buckets[this.defaultKey] = [...(this.transcript.buckets[this.defaultKey] ?? []), line];
    }
  }

  fallback() {
    if (this.defaultKey in this.rooms) return this.defaultKey;
    return Object.keys(this.rooms)[0] ?? null;
  }

  get roomsEnabled() {
    return this.defaultKey !== "";
  }

  events(msg) {
    if (msg.kind === "history") {
      // The room's last messages, for a newcomer: shown, no cursor moves.
      for (const event of msg.events) this.show({ event, tag: HISTORY }, msg.room);
    } else if (msg.kind === "live") {
      this.live(msg.events);
    } else if (msg.kind === "replay" && this.timeline) {
      this.apply(this.timeline.replay(msg));
    } else if (msg.kind === "page") {
      this.page(msg);
    } else if (msg.kind === "found") {
      this.found(msg);
    }
  }

  /** A /history page: older events, shown as history (no cursor moves: they were read
   * before, or are older than what this session follows); or the lines around a
   * search result (/around). */
  page(msg) {
    const peer = msg.room.startsWith("@");
    const key = peer ? "" : this.keyOf(msg.room);
    if (!peer && this.lookback.takeAround(key)) {
      for (const event of msg.events) this.show({ event, tag: "context" }, msg.room);
      return;
    }
    for (const event of msg.events) this.show({ event, tag: HISTORY }, msg.room);
    const room = wire.visible(peer ? msg.room : this.roomName(key));
    this.notice(this.t(msg.more ? "client.history_more" : "client.history_start", { room }));
  }

  /** SEARCH's results, newest first, numbered on from the last page's. */
  found(msg) {
    const results = this.lookback.found(msg.events);
    if (!this.lookback.hits.length) {
      this.notice(this.t("client.search_none"));
      return;
    }
    for (const { hit, number } of results) {
      const priv = hit.type === "PRIV";
      const key = priv ? undefined : this.keyOf(hit.room);
      this.addLine(GLOBAL, { kind: "found", tag: "found", number, ts: hit.ts, seq: hit.seq,
        from: hit.from, to: hit.to, text: hit.text, priv, mine: priv && this.isMine(hit), room: key,
        where: priv || !this.roomsEnabled ? "" : this.roomName(key) });
    }
    this.notice(this.t(msg.more ? "client.search_more" : "client.search_end"));
  }

  /** UNREAD: one line, and the badges of the rooms not in view. */
  unreadList(items) {
    const still = this.reading.unread(items, this.heads);
    const line = unreadLine(this.t, still, (key) => this.roomName(wire.roomKey(key)));
    if (line) this.notice(line);
    for (const item of still) {
      if (item.key.startsWith("@")) continue;
      const key = wire.roomKey(item.key);
      if (!(key in this.rooms) || key === this.current) continue;
      this.unread[key] = item.unread;
      if (item.more) this.unreadMore[key] = true;
      else delete this.unreadMore[key];
      // What UNREAD counted (up to WELCOME's head) is not counted again as it comes.
      this.countedUpTo[key] = this.heads[key] ?? 0;
    }
    this.view.renderRooms(this);
  }

  /** Show what the timeline released, and ask for what it is missing. */
  apply(step) {
    if (!step) return;
    if (step.reset) this.problem(this.t("client.history_reset"));
    if (step.lost) this.problem(this.t("client.lost_events", { count: step.lost }));
    for (const shown of step.shown) this.show(shown);
    if (step.fetch) this.sendFetch(step.fetch);
  }

  sendFetch(cursors) {
    if (this.phase !== "joined") return;
    this.send(wire.fetch(cursors.pub, cursors.priv, cursors.rooms));
    this.fetchSentAt = this.now();
  }

  acked(ack) {
    const msg = this.outbox.settle(ack.cid);
    if (!msg) return;
    if (msg.kind === "SAY") {
      this.timeline.ownPublic(ack.seq, ack.prev, msg.room);
      const key = this.keyOf(msg.room);
      if (key && ack.seq) this.reading.seen(key, ack.seq);
      const line = this.transcript.findOwn(ack.cid);
      if (line) {
        line.pending = false;
        if (ack.seq) line.seq = ack.seq;
        this.view.updateLine(line);
      }
    }
  }

  users(msg) {
    if (msg.room) {
      this.notice(this.t("client.room_members", { room: wire.visible(msg.room),
        count: msg.names.length, names: this.names(msg.names) }));
    } else {
      this.notice(this.t("client.who", { count: msg.names.length, names: this.names(msg.names) }));
    }
  }

  entered(msg) {
    const key = wire.roomKey(msg.room);
    this.rooms[key] = msg.room;
    this.topics[key] = msg.topic;
    this.current = key;
    this.unread[key] = 0;
    delete this.unreadMore[key];
    if (this.timeline) this.apply(this.timeline.entered(msg.room, msg.head));
    const room = wire.visible(msg.room);
    this.notice(this.t("client.entered", { room }));
    if (msg.topic) this.notice(this.t("client.room_topic", { room, topic: wire.visible(msg.topic) }));
    const alone = !msg.users.length && msg.online === 0;
    this.notice(alone ? this.t("client.room_alone", { room })
      : this.t("client.room_members", { room, count: msg.online + 1,
        names: this.names([...msg.users, this.me], msg.online + 1) }));
    this.view.render(this);
  }

  parted(room) {
    const key = wire.roomKey(room);
    delete this.rooms[key];
    delete this.unread[key];
    delete this.unreadMore[key];
    delete this.topics[key];
    if (key !== this.defaultKey) this.transcript.drop(key); // entering again shows its history
    if (this.timeline) this.timeline.parted(room);
    this.notice(this.t("client.parted", { room: wire.visible(room) }));
    if (this.current === key) {
      this.current = this.fallback();
      if (this.current !== null) {
        this.notice(this.t("client.switched", { room: wire.visible(this.roomName(this.current)) }));
      }
    }
    this.view.render(this);
  }

  topicSet(msg) {
    const key = wire.roomKey(msg.room);
    this.topics[key] = msg.text;
    const fields = { name: wire.visible(msg.by), room: wire.visible(msg.room),
      topic: wire.visible(msg.text) };
    const text = msg.text ? this.t("client.topic_set", fields) : this.t("client.topic_cleared", fields);
    this.addLine(key in this.rooms ? key : GLOBAL, { kind: "notice", room: key, text });
    this.view.renderRooms(this);
  }

  roomList(rooms) {
    if (!rooms.length) {
      this.notice(this.t("client.rooms_none"));
      return;
    }
    const lines = rooms.map((r) => this.t("client.room_line", { room: wire.visible(r.name),
      count: r.online, topic: r.topic ? ` - ${wire.visible(r.topic)}` : "" }));
    this.notice([this.t("client.rooms", { count: rooms.length }), ...lines].join("\n"));
  }

  refused(err) {
    if (err.code === "NOT_JOINED" && this.phase === "joined") {
      this.lost(); // the broker no longer knows this connection; a refused SAY stays kept
      return;
    }
    if (this.phase === "joining") {
      if (wire.FATAL_ERRORS.has(err.code)) {
        this.stop(this.errorText(err), true);
        return;
      }
      if (err.code === "RATE_LIMITED" || err.code === "UNAVAILABLE") return; // the JOIN retry
    }
    if (err.ref === "dms" && err.code === "UNAVAILABLE") {
      this.problem(this.t("client.no_dms"));
      return;
    }
    if (err.ref === "search" && (err.code === "UNAVAILABLE" || err.code === "RATE_LIMITED")) {
      this.problem(this.t(err.code === "UNAVAILABLE" ? "client.no_search" : "client.search_busy"));
      return;
    }
    if (err.code === "RATE_LIMITED" && err.cid) {
      // Over the broker's limits anyway: keep it, send it again after a pause.
      this.outbox.again(err.cid);
      paceBackOff(this.pacer ?? null);
      this.schedulePump(this.pacer ? 0 : RATE_PAUSE_S);
      return;
    }
    if (err.cid && this.outbox.settle(err.cid)) {
      const line = this.transcript.findOwn(err.cid);
      if (line && isFinal(err.code)) {
        line.pending = false;
        line.failed = true;
        this.view.updateLine(line);
      }
    }
    this.problem(this.errorText(err));
  }

  errorText(err) {
    let detail = wire.visible(err.detail);
    if (err.code === "BAD_NAME" || err.code === "BAD_ROOM") detail = this.problemText(detail);
    const fields = { ref: wire.visible(err.ref), detail, code: wire.visible(err.code) };
    const key = `error.${err.code}`;
    return this.t.has(key) ? this.t(key, fields) : this.t("error.unknown", fields);
  }

  bye(reason) {
    if (this.phase === "leaving") {
      this.finishLeaving();
    } else if (reason === "kicked" || reason === "banned") {
      this.stop(this.t(`client.${reason}`), false); // an operator's word: no reconnecting
    } else if (reason === "shutdown") {
      this.notice(this.t("client.broker_gone"));
      this.toldLost = true;
      this.view.setState("reconnecting");
      this.retryMs = JOIN_WAIT_MS;
      this.connect();
    } else if (reason === "flood") {
      this.problem(this.t("client.flooded"));
      this.lost();
    }
  }

  serviceNotice(msg) {
    const key = `notice.${msg.code}`;
    if (this.t.has(key)) {
      if (msg.code === "CLUSTER_DOWN") this.problem(this.t(key));
      else this.notice(this.t(key));
    } else if (msg.detail) {
      this.notice(wire.visible(msg.detail));
    }
  }

  // ---- what the user sees ----

  roomName(key) {
    return this.rooms[key] ?? key;
  }

  /** Where an event's room shows: its key ("": the default room). */
  keyOf(room) {
    return room ? wire.roomKey(room) : this.defaultKey;
  }

  names(list, total = 0) {
    let text = list.map(wire.visible).join(", ");
    if (total > list.length) text += this.t("client.and_more", { count: total - list.length });
    return text;
  }

  /** Whether a private message is one we sent to someone else. */
  isMine(event) {
    return wire.nameKey(event.from) === wire.nameKey(this.me)
      && wire.nameKey(event.to) !== wire.nameKey(this.me);
  }

  /** One event as a line. ``pageRoom``: the room of the history frame it came in.
   * What is shown in view counts as read; /history goes on from the oldest shown (the
   * lines around a search result, tagged context, touch neither). */
  show({ event, tag }, pageRoom = "") {
    const priv = event.type === "PRIV";
    const other = priv ? (this.isMine(event) ? event.to : event.from) : "";
    const read = priv ? peerKey(other) : this.keyOf(event.room || pageRoom);
    // The first event past what was read before this visit: "new" above it, as the
    // terminal shows (reading.js, newLine).
    if (read && event.seq && tag !== "context" && !this.repeatLeave(event)
        && this.reading.newLine(read, event.seq)) {
      const where = priv ? "@" + wire.visible(other) : wire.visible(this.roomName(read));
      this.addLine(priv ? GLOBAL : read, { kind: "divider", ts: event.ts,
        text: this.t("client.new_line", { room: where }) });
    }
    const line = this.eventLine({ event, tag }, pageRoom);
    if (!line || !event.seq || tag === "context") return;
    if (!read) return; // (a broker without rooms: nothing to name the stream by)
    this.lookback.note(read, event.seq);
    if (line.bucket === GLOBAL || line.bucket === this.current) this.reading.seen(read, event.seq);
  }

  /** The line of one event (null: none, a leave of the chat already shown). */
  eventLine({ event, tag }, pageRoom) {
    const base = { ts: event.ts, tag: tag || "" };
    if (event.seq) base.seq = event.seq;
    if (event.type === "PRIV") {
      return this.addLine(GLOBAL, { ...base, kind: "priv", from: event.from, to: event.to,
        text: event.text, mine: this.isMine(event) });
    }
    const key = this.keyOf(event.room || pageRoom);
    const room = wire.visible(this.roomName(key));
    if (event.type === "MSG") {
      return this.addLine(key, { ...base, kind: "msg", room: key, from: event.from, text: event.text });
    } else if (event.type === "JOINED") {
      const text = key === this.defaultKey ? this.t("client.joined", { name: wire.visible(event.name) })
        : this.t("client.joined_room", { name: wire.visible(event.name), room });
      return this.addLine(key, { ...base, kind: "joined", room: key, name: event.name, text });
    } else if (event.reason === "part") {
      return this.addLine(key, { ...base, kind: "left", room: key, name: event.name,
        text: this.t("client.left_room", { name: wire.visible(event.name), room }) });
    } else if (this.firstLeave(event)) {
      // Leaving the chat: one LEFT in each of its rooms, one line for the person.
      const reason = this.t.has(`reason.${event.reason}`) ? this.t(`reason.${event.reason}`)
        : wire.visible(event.reason);
      return this.addLine(GLOBAL, { ...base, kind: "left", room: key, name: event.name,
        text: this.t("client.left", { name: wire.visible(event.name), reason }) });
    }
    return null;
  }

  /** A leave of the chat already shown (from another of its rooms): no line. */
  repeatLeave(event) {
    return event.type === "LEFT" && event.reason !== "part" && this.leaves.has(leaveId(event));
  }

  firstLeave(event) {
    const seen = leaveId(event);
    if (this.leaves.has(seen)) return false;
    this.leaves.set(seen, true);
    if (this.leaves.size > LEAVES_REMEMBERED) this.leaves.delete(this.leaves.keys().next().value);
    return true;
  }

  addLine(bucket, line) {
    const kept = this.transcript.add(bucket, line);
    // A message in a room that is not in view counts as unread there (not a page of its
    // history, nor one UNREAD counted already).
    if (kept.kind === "msg" && !kept.own && bucket !== GLOBAL && bucket !== this.current
        && kept.tag !== HISTORY && kept.tag !== "context"
        && !(kept.seq && kept.seq <= (this.countedUpTo[bucket] ?? 0))) {
      this.unread[bucket] = (this.unread[bucket] || 0) + 1;
      this.view.renderRooms(this);
    }
    this.view.addLine(kept, this);
    return kept;
  }

  notice(text) {
    return this.addLine(GLOBAL, { kind: "notice", ts: this.now() / 1000, text });
  }

  problem(text) {
    return this.addLine(GLOBAL, { kind: "error", ts: this.now() / 1000, text });
  }

  /** The sidebar: show another room. */
  switchRoom(key) {
    if (!(key in this.rooms)) return;
    this.current = key;
    this.unread[key] = 0;
    delete this.unreadMore[key];
    for (const line of this.transcript.buckets[key] ?? []) { // now in view: read
      if (line.seq && line.kind !== "found" && line.tag !== "context") this.reading.seen(key, line.seq);
    }
    this.save();
    this.view.render(this);
  }

  // ---- from the user ----

  input(line) {
    const command = parseLine(line);
    this.command(command);
    this.save();
  }

  command(c) {
    switch (c.type) {
      case "nothing": return;
      case "quit": this.leave(); return;
      case "help": this.notice(this.t("client.help")); return;
      case "unknown":
        this.problem(this.t("client.unknown_command", { command: wire.visible(c.command) }));
        return;
      case "usage": this.problem(this.t(`client.usage_${c.command}`)); return;
      case "who": this.who(c.room); return;
      case "public": this.sayHere(c.text); return;
      case "roomSay":
        if (this.roomOk(c.room)) this.say(c.text, wire.roomKey(c.room));
        return;
      case "private": this.tellTo(c.to, c.text); return;
      case "enter": this.enter(c.room); return;
      case "part": this.part(c.room); return;
      case "rooms":
        if (this.roomsOn()) this.request(wire.listRooms());
        return;
      case "topic": this.setTopic(c.text); return;
      case "history": this.scrollBack(c); return;
      case "dms":
        if (this.phase === "joined") this.markRead(); // (counts that hold what was shown)
        this.request(wire.listDms());
        return;
      case "search": this.find(c); return;
      case "around": this.aroundHit(c.number); return;
      case "mod": this.request(wire.mod(c)); return;
      default: return;
    }
  }

  /** Send the MARK of what moved now (before DMS and LEAVE). */
  markRead() {
    const read = this.reading.flush();
    if (read !== null) this.send(wire.mark(read));
  }

  /** Show a room (one we are in) whose lines are asked for. */
  inView(key) {
    if (key in this.rooms && key !== this.current) this.switchRoom(key);
  }

  /** /history: the page of a room's events (or the conversation's with ``peer``)
   * before the oldest one shown. */
  scrollBack({ room, count, peer }) {
    const limit = count || SCROLL_PAGE;
    if (peer) {
      this.request(wire.history({ peer, before: this.lookback.before(peerKey(peer)), limit }));
      return;
    }
    if (room && !this.roomOk(room)) return;
    if (!room && !this.roomsOn()) return;
    if (!room && this.current === null) {
      this.problem(this.t("error.NO_ROOM"));
      return;
    }
    const key = room ? wire.roomKey(room) : this.current;
    this.inView(key);
    this.request(wire.history({ room: this.roomName(key), before: this.lookback.before(key), limit }));
  }

  /** /search: the same search again pages on, to older results. */
  find(c) {
    if (c.room && !this.roomOk(c.room)) return;
    const before = this.lookback.search(c);
    this.request(wire.search({ words: c.words, sender: c.sender, room: c.room, peer: c.peer, before }));
  }

  /** /around N: the lines of result N's room around it. */
  aroundHit(number) {
    const { hit, problem } = this.lookback.hit(number);
    if (problem) {
      this.problem(this.t(problem, { number }));
      return;
    }
    const key = this.keyOf(hit.room);
    this.lookback.expectAround(key);
    this.inView(key);
    this.request(wire.history({ room: this.roomName(key), around: hit.seq, limit: AROUND_LINES }));
  }

  roomsOn() {
    if (!this.roomsEnabled && this.everJoined) this.problem(this.t("client.no_rooms"));
    return this.roomsEnabled || !this.everJoined;
  }

  /** Why a name or room was refused, in the user's words when it is one of the
   * reasons the protocol names (PROTOCOL.md, Errors); the broker's words otherwise. */
  problemText(detail) {
    if (detail.startsWith(`${wire.P_INVISIBLE} U+`)) {
      return this.t("client.problem_invisible", { char: detail.slice(wire.P_INVISIBLE.length + 1) });
    }
    const key = PROBLEMS[detail];
    return key ? this.t(key, { max: wire.MAX_NAME_CHARS }) : detail;
  }

  roomOk(room) {
    if (!this.roomsOn()) return false;
    const problem = wire.roomProblem(room);
    if (problem) {
      this.problem(this.t("error.BAD_ROOM", { ref: wire.visible(room),
        detail: this.problemText(problem) }));
      return false;
    }
    return true;
  }

  who(room) {
    if (room && room !== EVERYONE) {
      if (this.roomOk(room)) this.request(wire.who(room));
    } else if (room === EVERYONE || !this.roomsEnabled || this.current === this.defaultKey
        || this.current === null) {
      this.request(wire.who());
    } else {
      this.request(wire.who(this.roomName(this.current)));
    }
  }

  sayHere(text) {
    if (this.roomsEnabled && this.current === null) {
      this.problem(this.t("error.NO_ROOM"));
      return;
    }
    this.say(text, this.current ?? this.defaultKey);
  }

  /** Text for the room ``key``; shown at once as ours, marked until its ACK. */
  say(text, key) {
    if (this.roomsEnabled && !(key in this.rooms)) {
      this.problem(this.t("error.NOT_IN_ROOM", { ref: wire.visible(key) }));
      return;
    }
    const room = key && key !== this.defaultKey ? this.roomName(key) : "";
    const kept = this.queue({ kind: "SAY", text, room });
    if (!kept) return;
    this.addLine(key, { kind: "msg", room: key, from: this.me, text, ts: this.now() / 1000,
      own: true, cid: kept.cid, pending: true });
  }

  tellTo(to, text) {
    if (wire.nameProblem(to) || wire.isBlank(text)) {
      this.problem(this.t("error.BAD_PRIVATE"));
      return;
    }
    this.queue({ kind: "TELL", to, text }); // our copy comes back as a PRIV
  }

  frameOf(msg) {
    return msg.kind === "SAY" ? wire.say(msg.text, msg.cid, msg.retry, msg.room)
      : wire.tell(msg.to, msg.text, msg.cid, msg.retry);
  }

  /** Check a message, keep it in the outbox and send it when the pacing allows. */
  queue(msg) {
    if (wire.isBlank(msg.text)) {
      this.problem(this.t("error.EMPTY"));
      return null;
    }
    const length = wire.codePoints(msg.text);
    if (length > wire.MAX_TEXT_CHARS) {
      this.problem(this.t("client.too_long", { length, limit: wire.MAX_TEXT_CHARS }));
      return null;
    }
    const size = wire.utf8Length(this.frameOf({ ...msg, cid: wire.MAX_SEQ, retry: true }));
    if (size > wire.MAX_FRAME_BYTES) {
      this.problem(this.t("client.too_long", { length: size, limit: wire.MAX_FRAME_BYTES }));
      return null;
    }
    const kept = this.outbox.add(msg);
    if (!kept) {
      this.problem(this.t("client.outbox_full"));
      return null;
    }
    if (this.phase === "joined") {
      this.pump();
    } else if (!this.toldQueued) {
      this.toldQueued = true;
      this.notice(this.t("client.queued"));
    }
    return kept;
  }

  /** Send waiting messages as fast as the broker's announced limits allow. */
  pump() {
    this.cancel("pump");
    let msg;
    while (this.phase === "joined" && (msg = this.outbox.peek()) !== null) {
      const now = this.now() / 1000;
      const size = wire.utf8Length(msg.text);
      const wait = paceWait(this.pacer ?? null, now, size);
      if (wait > 0) {
        this.schedulePump(wait);
        return;
      }
      if (!this.send(this.frameOf(msg))) return;
      paceTake(this.pacer ?? null, now, size);
      this.outbox.sent();
    }
  }

  schedulePump(seconds) {
    const wait = Math.max(seconds, paceWait(this.pacer ?? null, this.now() / 1000, 1));
    this.later("pump", Math.ceil(wait * 1000) + 1, () => {
      this.pump();
      this.save();
    });
  }

  /** A request that is not kept for later (ENTER, PART, WHO, ROOMS, TOPIC). */
  request(frame) {
    if (this.phase === "joined") this.send(frame);
    else this.problem(this.t("client.not_connected"));
  }

  enter(room) {
    if (!this.roomOk(room)) return;
    const key = wire.roomKey(room);
    if (key in this.rooms) { // already in it: switch, nothing to send
      this.switchRoom(key);
      this.notice(this.t("client.switched", { room: wire.visible(this.roomName(key)) }));
      return;
    }
    this.request(wire.enter(room));
  }

  part(room) {
    if (!room) {
      if (this.roomsEnabled && this.current === null) {
        this.problem(this.t("error.NO_ROOM"));
        return;
      }
      room = this.roomName(this.current);
    }
    if (this.roomOk(room)) this.request(wire.part(room));
  }

  setTopic(text) {
    if (!this.roomsOn()) return;
    if (this.current === null) {
      this.problem(this.t("error.NO_ROOM"));
      return;
    }
    if (wire.codePoints(text) > wire.MAX_TOPIC_CHARS) {
      this.problem(this.t("error.TOO_LONG", { ref: String(wire.MAX_TOPIC_CHARS) }));
      return;
    }
    this.request(wire.topic(this.roomName(this.current), text));
  }

  // ---- leaving and stopping ----

  /** sair, /quit: LEAVE, wait a moment for BYE, then forget the session. */
  leave() {
    if (this.phase === "joined") this.markRead(); // (what was read last)
    if (this.phase === "joined" && this.send(wire.leave())) {
      this.phase = "leaving";
      this.later("leave", LEAVE_WAIT_MS, () => this.finishLeaving());
      return;
    }
    // Not joined (yet): a JOIN on its way may still make a session; LEAVE ends it too,
    // so the gateway parks nothing for it.
    this.send(wire.leave());
    this.finishLeaving();
  }

  finishLeaving() {
    this.cancel("leave");
    this.halt();
    this.store.clear();
    this.reset();
    this.phase = "idle";
    this.view.showJoin("");
  }

  /** Stop for good: ``why`` is shown; ``toJoinForm``: the name cannot be used (a fatal
   * error while joining), so the join form comes back with it. */
  stop(why, toJoinForm) {
    this.halt();
    this.phase = "stopped";
    this.store.clear();
    if (toJoinForm) {
      this.reset();
      this.view.showJoin(why);
    } else {
      this.problem(this.t("ui.stopped", { why }));
    }
    this.view.setState("stopped");
  }

  halt() {
    this.closeSocket();
    for (const name of Object.keys(this.timers)) {
      clearTimeout(this.timers[name]);
      clearInterval(this.timers[name]);
    }
    this.timers = {};
  }
}
