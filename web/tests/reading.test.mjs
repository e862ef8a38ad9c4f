// reading.js: when MARKs go and what they hold; which UNREAD items are still unread
// (the cases of tests/unit/test_reading.py the page shares).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReadTracker, MARK_EVERY_MS, MAX_MARKS, peerKey } from "../js/reading.js";

test("a MARK holds what moved, at most every MARK_EVERY_MS", () => {
  const r = new ReadTracker();
  assert.equal(r.due(0), null); // nothing shown yet
  r.seen("#geral", 5);
  r.seen("#geral", 3); // (a mark only moves forward)
  r.seen(peerKey("Bob"), 6);
  assert.deepEqual(r.due(1000), { "#geral": 5, "@bob": 6 });
  r.seen("#geral", 7);
  assert.equal(r.due(1000 + MARK_EVERY_MS - 1), null); // too soon
  assert.deepEqual(r.due(1000 + MARK_EVERY_MS), { "#geral": 7 }); // only what moved
  assert.equal(r.due(10_000), null);
});

test("flush (before DMS and LEAVE) sends at once, and due then has nothing", () => {
  const r = new ReadTracker();
  r.seen("#dev", 9);
  assert.equal(r.due(0) !== null, true);
  r.seen("#dev", 10);
  assert.deepEqual(r.flush(), { "#dev": 10 });
  assert.equal(r.flush(), null);
  assert.equal(r.due(MARK_EVERY_MS * 10), null);
});

test("a MARK holds at most MAX_MARKS entries; the rest go in the next", () => {
  const r = new ReadTracker();
  for (let i = 0; i < MAX_MARKS + 5; i++) r.seen(`#s${i}`, i + 1);
  assert.equal(Object.keys(r.flush()).length, MAX_MARKS);
  assert.equal(Object.keys(r.flush()).length, 5);
});

test("the marks survive a reload (toJSON)", () => {
  const r = new ReadTracker();
  r.seen("#geral", 4);
  r.flush();
  r.seen("#geral", 8);
  const back = ReadTracker.fromJSON(JSON.parse(JSON.stringify(r)));
  assert.deepEqual(back.flush(), { "#geral": 8 });
  assert.deepEqual(ReadTracker.fromJSON(undefined).flush(), null);
});

test("UNREAD: items already shown here are read; others kept", () => {
  const r = new ReadTracker();
  const items = [
    { key: "#dev", read: 5, unread: 2, mentions: 1, more: false, last: 0, ts: 0 },
    { key: "#Geral", read: 1, unread: 3, mentions: 0, more: false, last: 0, ts: 0 },
    { key: "@Bob", read: 0, unread: 1, mentions: 0, more: false, last: 6, ts: 1 },
    { key: "#x", read: 9, unread: 0, mentions: 0, more: false, last: 0, ts: 0 },
  ];
  const heads = { "#dev": 9, "#geral": 12 };
  assert.deepEqual(r.unread(items, heads).map((i) => i.key), ["#dev", "#Geral", "@Bob"]);
  r.seen("#geral", 12); // shown up to its head before the marks went
  r.seen("@bob", 6);
  assert.deepEqual(r.unread(items, heads).map((i) => i.key), ["#dev"]);
});

test("the new line goes once, before the first event past what was read", () => {
  const r = new ReadTracker();
  const still = r.unread([{ key: "#dev", read: 10, unread: 3, mentions: 0 },
    { key: "#geral", read: 5, unread: 0, mentions: 0 }], { "#dev": 13, "#geral": 5 });
  assert.deepEqual(still.map((i) => i.key), ["#dev"]);
  assert.equal(r.newLine("#dev", 9), false); // read already (history above the line)
  assert.equal(r.newLine("#dev", 11), true);
  assert.equal(r.newLine("#dev", 12), false); // once
  assert.equal(r.newLine("#geral", 5), false); // nothing unread there
});

test("the new line goes past what this page showed before its marks reached the broker", () => {
  const r = new ReadTracker();
  r.seen("#dev", 12); // shown, not yet marked: UNREAD still counts from 10
  r.seen(peerKey("Bob"), 7);
  const still = r.unread([{ key: "#dev", read: 10, unread: 4, mentions: 0 },
    { key: "@Bob", read: 5, unread: 2, mentions: 0, last: 7 }], { "#dev": 14 });
  assert.deepEqual(still.map((i) => i.key), ["#dev"]); // Bob's two were all shown
  assert.equal(r.newLine("#dev", 12), false);
  assert.equal(r.newLine("#dev", 13), true);
  assert.equal(r.newLine(peerKey("Bob"), 8), false);
});
