// wire.js against the language-neutral vectors (docs/vectors) and a few cases of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as wire from "../js/wire.js";

const vectors = (name) => JSON.parse(readFileSync(new URL(`../../docs/vectors/${name}.json`, import.meta.url), "utf8"));

test("blank texts are exactly the White_Space ones (whitespace.json)", () => {
  const { texts, white_space: ws } = vectors("whitespace");
  assert.equal(ws.length, 25);
  for (const cp of ws) assert.ok(wire.isWhiteSpace(parseInt(cp.slice(2), 16)), cp);
  for (const { text, blank } of texts) assert.equal(wire.isBlank(text), blank, JSON.stringify(text));
  assert.equal(wire.isBlank("\u001c"), false);
  assert.equal(wire.isBlank("\ufeff"), false);
});

test("text checks: 1 to 2000 code points, not blank", () => {
  assert.equal(wire.textProblem("oi"), null);
  assert.equal(wire.textProblem(" \u3000"), "empty");
  assert.equal(wire.textProblem("x".repeat(2000)), null);
  assert.equal(wire.textProblem("😀".repeat(2000)), null); // code points, not UTF-16 units
  assert.equal(wire.textProblem("x".repeat(2001)), "too_long");
});

test("name rules agree with names.json on which names are valid", () => {
  const { names } = vectors("names");
  const wrong = names.filter(({ name, problem }) => (wire.nameProblem(name) === null) !== (problem === null));
  assert.deepEqual(wrong.map((n) => [n.name, n.problem, wire.nameProblem(n.name)]), []);
});

test("name problems name the rule, as the broker's BAD_NAME detail", () => {
  assert.equal(wire.nameProblem(""), "empty");
  assert.equal(wire.nameProblem("n".repeat(33)), "too long");
  assert.equal(wire.nameProblem("@ana"), "starts with @ or /");
  assert.equal(wire.nameProblem("＠ana"), "starts with @ or /");
  assert.equal(wire.nameProblem("a na"), "whitespace or control character");
  assert.equal(wire.nameProblem("ana\u200b"), "whitespace or control character");
  assert.equal(wire.nameProblem("❤\ufe0f"), "invisible character U+FE0F");
  assert.equal(wire.nameProblem("ana"), null);
});

test("comparison keys fold case and width", () => {
  assert.equal(wire.nameKey("Ana"), wire.nameKey("ａｎａ"));
  assert.equal(wire.nameKey("Straße"), wire.nameKey("STRASSE"));
  assert.equal(wire.roomKey("#Sala"), "#sala");
});

test("client frames are encoded byte for byte as the reference (frames.json encode)", () => {
  const enc = {
    JOIN: (f) => wire.join(f.name, f.token, f.resume, f.acks),
    SAY: (f) => wire.say(f.text, f.cid, f.retry, f.room),
    TELL: (f) => wire.tell(f.to, f.text, f.cid, f.retry),
    FETCH: (f) => wire.fetch(f.pub, f.priv, f.rooms, f.limit),
    WHO: (f) => wire.who(f.room),
    LEAVE: () => wire.leave(),
    PING: () => wire.ping(),
    ENTER: (f) => wire.enter(f.room),
    PART: (f) => wire.part(f.room),
    ROOMS: () => wire.listRooms(),
    TOPIC: (f) => wire.topic(f.room, f.text),
  };
  let checked = 0;
  for (const v of vectors("frames").encode) {
    if (v.direction !== "client" || !(v.message.command in enc)) continue;
    assert.equal(enc[v.message.command](v.message.fields), v.frame, v.id);
    checked++;
  }
  assert.ok(checked >= 15, `only ${checked} vectors`);
});

test("broker frames: the good decode, the bad are ignored (frames.json decode)", () => {
  const reads = new Set(["WELCOME", "MSG", "PRIV", "JOINED", "LEFT", "ACK", "ACKS", "EVENTS", "PING",
    "USERS", "ERROR", "BYE", "NOTICE", "ENTERED", "PARTED", "TOPIC", "ROOMS"]);
  const wrong = [];
  for (const v of vectors("frames").decode) {
    if (v.direction !== "broker" || v.frame === undefined) continue;
    const got = wire.decode(v.frame);
    if (v.error) {
      if (got !== null) wrong.push(`${v.id}: decoded, should be ignored`);
    } else if (reads.has(v.decoded.command) && got === null) {
      wrong.push(`${v.id}: ignored, should decode`);
    } else if (got !== null && got.command !== v.decoded.command) {
      wrong.push(`${v.id}: ${got.command}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("decoded events carry their type and defaults", () => {
  const msg = wire.decode('ZCHAT/1 MSG {"from":"ana","text":"oi","ts":1.5,"seq":7,"prev":5,"room":"#sala"}');
  assert.deepEqual(msg, { command: "MSG", event: { type: "MSG", ts: 1.5, seq: 7, prev: 5, room: "#sala", from: "ana", text: "oi" } });
  const ev = wire.decode('ZCHAT/1 EVENTS {"kind":"replay","events":[{"type":"PRIV","from":"a","to":"b","text":"x","ts":1,"seq":3,"prev":0}],"more":true,"lost":2}');
  assert.equal(ev.events[0].type, "PRIV");
  assert.equal(ev.more, true);
  assert.equal(ev.lost, 2);
  const ping = wire.decode("ZCHAT/1 PING");
  assert.deepEqual(ping, { command: "PING", pub: null, priv: null, rooms: {} });
});

test("frames that are not ZCHAT/1 are ignored", () => {
  for (const bad of ["", "ZCHAT/2 PING", "ZCHAT/1", "ZCHAT/1 ping", "ZCHAT/1 MSG [1]", "ZCHAT/1 MSG {", "HELLO",
    'ZCHAT/1 MSG {"from":"\\ud800","text":"x","ts":1,"seq":1,"prev":0}']) {
    assert.equal(wire.decode(bad), null, bad);
  }
});

test("visible() escapes controls and bidi overrides but keeps newlines and markup as text", () => {
  assert.equal(wire.visible("a\u001bb"), "a\\x1bb");
  assert.equal(wire.visible("\u202eevil"), "\\u202eevil");
  assert.equal(wire.visible("l1\nl2"), "l1\nl2");
  assert.equal(wire.visible("<script>x</script>"), "<script>x</script>");
});

test("fatal errors are the page's", () => {
  assert.deepEqual([...wire.FATAL_ERRORS].sort(), ["BANNED", "BAD_NAME", "FULL", "NAME_OWNED", "NAME_TAKEN", "VERSION"].sort());
});

test("history, search, read state and moderation frames, as the reference encodes them", () => {
  assert.equal(wire.history({ peer: "bob", limit: 20 }), 'ZCHAT/1 HISTORY {"with":"bob","limit":20}');
  assert.equal(wire.history({ room: "#dev", before: 12, limit: 20 }),
    'ZCHAT/1 HISTORY {"room":"#dev","before":12,"limit":20}');
  assert.equal(wire.history({ room: "#geral", around: 7, limit: 11 }),
    'ZCHAT/1 HISTORY {"room":"#geral","around":7,"limit":11}');
  assert.equal(wire.search({ words: "deploy às 15h", sender: "bob", room: "#dev" }),
    'ZCHAT/1 SEARCH {"words":"deploy às 15h","from":"bob","room":"#dev","limit":20}');
  assert.equal(wire.search({ words: "senha", peer: "carol", before: 40 }),
    'ZCHAT/1 SEARCH {"words":"senha","with":"carol","before":40,"limit":20}');
  assert.equal(wire.mark({ "#dev": 9, "@bob": 6 }), 'ZCHAT/1 MARK {"read":{"#dev":9,"@bob":6}}');
  assert.equal(wire.listDms(), "ZCHAT/1 DMS");
  assert.equal(wire.mod({ op: "kick", name: "bob", reason: "spam" }),
    'ZCHAT/1 MOD {"op":"kick","name":"bob","reason":"spam"}');
  assert.equal(wire.mod({ op: "mute", name: "bob", room: "#geral", seconds: 600 }),
    'ZCHAT/1 MOD {"op":"mute","name":"bob","room":"#geral","seconds":600}');
  assert.equal(wire.mod({ op: "lock", room: "#dev" }), 'ZCHAT/1 MOD {"op":"lock","room":"#dev"}');
});

test("UNREAD, DMS and MODERATED are read with their defaults", () => {
  const unread = wire.decode('ZCHAT/1 UNREAD {"items":[{"key":"#dev","read":5,"unread":1,"mentions":1},'
    + '{"key":"@bob","read":0,"unread":1,"last":6,"ts":1735689601.5}]}');
  assert.deepEqual(unread, { command: "UNREAD", items: [
    { key: "#dev", read: 5, unread: 1, mentions: 1, more: false, last: 0, ts: 0 },
    { key: "@bob", read: 0, unread: 1, mentions: 0, more: false, last: 6, ts: 1735689601.5 }] });
  const dms = wire.decode('ZCHAT/1 DMS {"items":[{"key":"@bob","read":6,"last":6,"ts":1735689601.5}]}');
  assert.equal(dms.command, "DMS");
  assert.deepEqual(dms.items[0], { key: "@bob", read: 6, unread: 0, mentions: 0, more: false, last: 6, ts: 1735689601.5 });
  assert.equal(wire.decode('ZCHAT/1 DMS {"items":[{"read":6}]}'), null);
  assert.equal(wire.decode('ZCHAT/1 UNREAD {"items":{}}'), null);
  assert.deepEqual(wire.decode('ZCHAT/1 MODERATED {"op":"mute","by":"ana","name":"bob","room":"#geral","until":1735689601}'),
    { command: "MODERATED", op: "mute", by: "ana", name: "bob", room: "#geral", reason: "", until: 1735689601 });
  assert.equal(wire.decode('ZCHAT/1 MODERATED {"op":"kick"}'), null);
});
