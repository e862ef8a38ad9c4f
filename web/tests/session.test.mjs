// session.js driven without a browser: a fake WebSocket, view and storage. What the new
// commands send, and how UNREAD, pages and MARKs change what the page holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session } from "../js/session.js";
import { catalogue } from "../js/i18n.js";

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 1;
    this.sent = [];
    FakeSocket.last = this;
  }
  send(frame) { this.sent.push(frame); }
  close() { this.readyState = 3; }
}

const view = new Proxy({}, { get: () => () => {} });
const store = { save() {}, load: () => null, clear() {} };

function joined(t0 = 1_000_000) {
  let now = t0;
  const s = new Session({ url: "ws://x/ws", store, view, t: catalogue("en"), WebSocket: FakeSocket,
    now: () => now });
  s.start("ana");
  const ws = FakeSocket.last;
  ws.onopen();
  const welcome = { name: "ana", session: s.token, heartbeat: 1, users: ["bob"], pub: 10, priv: 0,
    epoch: "e", room: "#geral", rooms: { "#geral": 10, "#dev": 8 } };
  ws.onmessage({ data: `ZCHAT/1 WELCOME ${JSON.stringify(welcome)}` });
  ws.sent.length = 0;
  const frame = (command, body) => ws.onmessage({ data: `ZCHAT/1 ${command} ${JSON.stringify(body)}` });
  return { s, ws, frame, later: (ms) => { now += ms; } };
}

const msg = (seq, prev, text, room) => ({ from: "bob", text, ts: 1, seq, prev, ...(room ? { room } : {}) });
const texts = (s, kind) => s.transcript.view(s.current).filter((l) => l.kind === kind).map((l) => l.text);

test("UNREAD: one line, and the badge of a room not in view, not counted twice", (t) => {
  const { s, frame } = joined();
  t.after(() => s.halt());
  frame("UNREAD", { items: [{ key: "#dev", read: 5, unread: 3, mentions: 1 }] });
  assert.ok(texts(s, "notice").includes("3 unread in #dev, 1 mention(s) of you in #dev"));
  assert.equal(s.unread["#dev"], 3);
  // The replay of #dev brings those (at or below WELCOME's head) and one more.
  frame("EVENTS", { kind: "replay", events: [{ ...msg(9, 8, "nova", "#dev"), type: "MSG" }] });
  assert.equal(s.unread["#dev"], 4);
});

test("UNREAD after a reconnect: the replay of what it counted is not counted again", (t) => {
  const { s, frame } = joined();
  t.after(() => s.halt());
  FakeSocket.last.onclose(); // the connection drops: a new WebSocket, JOIN with resume
  const ws = FakeSocket.last;
  ws.onopen();
  assert.match(ws.sent[0], /"resume":true/);
  const welcome = { name: "ana", session: s.token, heartbeat: 1, users: [], pub: 10, priv: 0,
    epoch: "e", resumed: true, room: "#geral", rooms: { "#geral": 10, "#dev": 10 } };
  const send = (command, body) => ws.onmessage({ data: `ZCHAT/1 ${command} ${JSON.stringify(body)}` });
  send("WELCOME", welcome);
  send("UNREAD", { items: [{ key: "#dev", read: 8, unread: 2 }] });
  assert.equal(s.unread["#dev"], 2);
  send("EVENTS", { kind: "replay", events: [{ ...msg(9, 8, "a", "#dev"), type: "MSG" },
    { ...msg(10, 9, "b", "#dev"), type: "MSG" }] });
  assert.equal(s.unread["#dev"], 2); // (UNREAD counted these two)
  send("MSG", msg(11, 10, "c", "#dev"));
  assert.equal(s.unread["#dev"], 3);
  void frame;
});

test("UNREAD: the new line goes before the first unread event of the room, and of a chat", (t) => {
  const { s, frame } = joined();
  t.after(() => s.halt());
  frame("UNREAD", { items: [{ key: "#dev", read: 9, unread: 2, mentions: 0 },
    { key: "@bob", read: 3, unread: 1, mentions: 0, last: 4 }] });
  frame("EVENTS", { kind: "replay", events: [{ ...msg(9, 8, "lida", "#dev"), type: "MSG" },
    { ...msg(10, 9, "nova", "#dev"), type: "MSG" }, { ...msg(11, 10, "outra", "#dev"), type: "MSG" }] });
  const dev = s.transcript.view("#dev").filter((l) => l.bucket === "#dev");
  assert.deepEqual(dev.map((l) => l.text),
    ["lida", "----- new in #dev -----", "nova", "outra"]);
  frame("PRIV", { from: "bob", to: "ana", text: "<b>oi</b>", ts: 2, seq: 4, prev: 0 });
  const lines = s.transcript.view(s.current).filter((l) => l.kind === "divider" || l.kind === "priv");
  assert.deepEqual(lines.map((l) => l.text), ["----- new in @bob -----", "<b>oi</b>"]);
  frame("MSG", msg(12, 11, "mais", "#dev")); // once per room
  assert.equal(s.transcript.view("#dev").filter((l) => l.kind === "divider").length, 2);
});

test("UNREAD's capped count stays capped on the badge until the room is read", (t) => {
  const { s, frame } = joined();
  t.after(() => s.halt());
  frame("UNREAD", { items: [{ key: "#dev", read: 1, unread: 100, mentions: 0, more: true }] });
  assert.ok(texts(s, "notice").includes("100+ unread in #dev"));
  assert.equal(s.unread["#dev"], 100);
  assert.equal(s.unreadMore["#dev"], true);
  s.switchRoom("#dev");
  assert.equal(s.unread["#dev"], 0);
  assert.equal(s.unreadMore["#dev"], undefined);
});

test("the page says it takes ACKS, and an ACKS settles each of its messages in order", (t) => {
  const { s, frame } = joined();
  t.after(() => s.halt());
  FakeSocket.last.onclose(); // a new WebSocket: its JOIN says so
  FakeSocket.last.onopen();
  assert.match(FakeSocket.last.sent[0], /^ZCHAT\/1 JOIN \{.*"acks":true\}$/);
  const welcome = { name: "ana", session: s.token, heartbeat: 1, users: [], pub: 10, priv: 0,
    epoch: "e", resumed: true, room: "#geral", rooms: { "#geral": 10, "#dev": 8 } };
  FakeSocket.last.onmessage({ data: `ZCHAT/1 WELCOME ${JSON.stringify(welcome)}` });
  s.input("um");
  s.input("dois");
  assert.equal(s.outbox.size, 2);
  const ack = (command, body) => FakeSocket.last.onmessage({ data: `ZCHAT/1 ${command} ${JSON.stringify(body)}` });
  ack("ACKS", { acks: [{ cid: 1, seq: 11, prev: 10 }, { cid: 2, seq: 12, prev: 11 }] });
  assert.equal(s.outbox.size, 0);
  const own = s.transcript.view(s.current).filter((l) => l.own);
  assert.deepEqual(own.map((l) => [l.text, l.pending, l.seq]), [["um", false, 11], ["dois", false, 12]]);
  void frame;
});

test("a /history page is history: no badge, and the next page goes further back", (t) => {
  const { s, ws, frame } = joined();
  t.after(() => s.halt());
  s.input("/history");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 HISTORY {"room":"#geral","limit":20}');
  frame("EVENTS", { kind: "page", room: "#geral", more: true,
    events: [{ ...msg(4, 3, "velha"), type: "MSG" }, { ...msg(6, 4, "menos velha"), type: "MSG" }] });
  const lines = s.transcript.view(s.current).filter((l) => l.kind === "msg");
  assert.deepEqual(lines.map((l) => [l.text, l.tag]), [["velha", "history"], ["menos velha", "history"]]);
  assert.ok(texts(s, "notice").includes("Older messages of #geral: /history again."));
  s.input("/history 5");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 HISTORY {"room":"#geral","before":4,"limit":5}');
  s.input("/history #dev");
  assert.equal(s.current, "#dev"); // (its lines are shown where they belong)
  assert.equal(ws.sent.pop(), 'ZCHAT/1 HISTORY {"room":"#dev","limit":20}');
  frame("EVENTS", { kind: "page", room: "#dev", events: [{ ...msg(7, 2, "dev velha", "#dev"), type: "MSG" }] });
  assert.equal(s.unread["#dev"] ?? 0, 0);
  s.input("/history @Bob");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 HISTORY {"with":"Bob","limit":20}');
  s.input("/history 0");
  assert.ok(texts(s, "error").includes("Usage: /history [#room|@name] [N] (N from 1 to 100)"));
});

test("/search numbers its results, pages on, and /around asks around one", (t) => {
  const { s, ws, frame } = joined();
  t.after(() => s.halt());
  s.input("/search deploy in:dev");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 SEARCH {"words":"deploy","room":"#dev","limit":20}');
  frame("EVENTS", { kind: "found", more: true, events: [
    { ...msg(30, 0, "deploy hoje", "#dev"), type: "MSG" },
    { from: "bob", to: "ana", text: "deploy?", ts: 1, seq: 20, prev: 0, type: "PRIV" }] });
  const found = s.transcript.view(s.current).filter((l) => l.kind === "found");
  assert.deepEqual(found.map((l) => [l.number, l.text, l.where]), [[1, "deploy hoje", "#dev"], [2, "deploy?", ""]]);
  s.input("/search deploy in:dev");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 SEARCH {"words":"deploy","room":"#dev","before":20,"limit":20}');
  s.input("/around 2");
  assert.ok(texts(s, "error").includes("Result 2 is a private message: /around shows a room's lines only."));
  s.input("/around 1");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 HISTORY {"room":"#dev","around":30,"limit":11}');
  frame("EVENTS", { kind: "page", room: "#dev", events: [{ ...msg(30, 0, "deploy hoje", "#dev"), type: "MSG" }] });
  assert.deepEqual(s.transcript.buckets["#dev"].map((l) => l.tag), ["context"]);
  s.input("/search nada");
  frame("EVENTS", { kind: "found", events: [] });
  assert.ok(texts(s, "notice").includes("No messages found."));
});

test("MARK: what was shown in view, every 2 s, and at once before DMS and LEAVE", (t) => {
  const { s, ws, frame, later } = joined();
  t.after(() => s.halt());
  frame("MSG", msg(11, 10, "oi"));
  frame("MSG", msg(9, 8, "em dev", "#dev")); // not in view: not read
  frame("PRIV", { from: "bob", to: "ana", text: "psiu", ts: 1, seq: 12, prev: 0 });
  later(2500);
  s.tick();
  assert.deepEqual(ws.sent.filter((f) => f.startsWith("ZCHAT/1 MARK")),
    ['ZCHAT/1 MARK {"read":{"#geral":11,"@bob":12}}']);
  ws.sent.length = 0;
  later(100);
  s.switchRoom("#dev"); // now in view
  s.tick();
  assert.deepEqual(ws.sent, []); // (too soon after the last)
  s.input("/dms");
  assert.deepEqual(ws.sent, ['ZCHAT/1 MARK {"read":{"#dev":9}}', "ZCHAT/1 DMS"]);
  frame("DMS", { items: [{ key: "@bob", read: 12, last: 12, ts: 1 }] });
  assert.match(texts(s, "notice").at(-1), /^Private conversations \(1\), most recent first:\nbob: 0 unread, last at \d\d:\d\d$/);
  ws.sent.length = 0;
  frame("MSG", msg(10, 9, "mais", "#dev"));
  s.input("/quit");
  assert.deepEqual(ws.sent, ['ZCHAT/1 MARK {"read":{"#dev":10}}', "ZCHAT/1 LEAVE"]);
});

test("moderation: MOD sent, MODERATED and the refusals shown, a kick stops the page", (t) => {
  const { s, ws, frame } = joined();
  t.after(() => s.halt());
  s.input("/mute bob #geral 10m");
  assert.equal(ws.sent.pop(), 'ZCHAT/1 MOD {"op":"mute","name":"bob","room":"#geral","seconds":600}');
  s.input("/silenciar bob");
  assert.ok(texts(s, "error").includes("Usage: /mute name #room [duration: 30m, 2h, 7d]"));
  frame("ERROR", { code: "NOT_OPERATOR", ref: "mute" });
  assert.ok(texts(s, "error").includes("only operators can do that"));
  frame("MODERATED", { op: "mute", by: "carol", name: "ana", room: "#geral" });
  assert.ok(texts(s, "notice").includes("carol muted ana in #geral"));
  s.input("posso?");
  const cid = JSON.parse(ws.sent.pop().slice("ZCHAT/1 SAY ".length)).cid;
  frame("ERROR", { code: "MUTED", ref: "#geral", cid });
  assert.ok(texts(s, "error").includes("you are muted in #geral"));
  assert.equal(s.transcript.findOwn(cid).failed, true);
  frame("ERROR", { code: "SLOW_MODE", ref: "4" });
  assert.ok(texts(s, "error").includes("slow mode: wait 4 s before your next message here"));
  frame("ERROR", { code: "UNAVAILABLE", ref: "search" });
  assert.ok(texts(s, "error").includes("This broker does not offer search."));
  frame("BYE", { reason: "kicked" });
  assert.equal(s.phase, "stopped");
});

test("why a name or room was refused, in the page's language", (t) => {
  const pt = new Session({ url: "ws://x/ws", store, view, t: catalogue("pt"), WebSocket: FakeSocket,
    now: () => 0 });
  assert.equal(pt.start(""), "nome inválido : está vazio");
  assert.equal(pt.start("@ana"), "nome inválido @ana: começa com @ ou /");
  assert.equal(pt.start("n".repeat(33)), `nome inválido ${"n".repeat(33)}: tem mais de 32 caracteres`);
  assert.equal(pt.errorText({ code: "BAD_ROOM", ref: "#", detail: "empty" }),
    "nome de sala inválido #: está vazio");
  assert.equal(pt.errorText({ code: "BAD_NAME", ref: "x", detail: "invisible character U+FE0F" }),
    "nome inválido x: tem um caractere invisível (U+FE0F)");
  assert.equal(pt.errorText({ code: "BAD_ROOM", ref: "#x", detail: "its own reason" }),
    "nome de sala inválido #x: its own reason");
  const { s, ws } = joined();
  t.after(() => s.halt());
  s.input("/join #a\u0000b");
  s.input("/msg #geral");
  assert.deepEqual(texts(s, "error").slice(-2),
    ["invalid room name #a\\x00b: it has a space or a control character",
      "Usage: /msg #room text, or /msg name text"]);
  assert.deepEqual(ws.sent, []);
});
