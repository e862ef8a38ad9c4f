// transcript.js: what a tab has shown, by room, bounded, and the same after a reload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Transcript, GLOBAL } from "../js/transcript.js";

test("a room's view merges its lines with the global ones in the order shown", () => {
  const t = new Transcript();
  t.add("#dev", { kind: "msg", text: "a", ts: 10 });
  t.add(GLOBAL, { kind: "priv", text: "b", ts: 11 });
  t.add("#geral", { kind: "msg", text: "c", ts: 12 });
  t.add("#dev", { kind: "msg", text: "d", ts: 13 });
  assert.deepEqual(t.view("#dev").map((l) => l.text), ["a", "b", "d"]);
  assert.deepEqual(t.view("#geral").map((l) => l.text), ["b", "c"]);
});

test("a line without the broker's time gets the page's, kept across a reload", () => {
  const t = new Transcript();
  const before = Date.now() / 1000;
  const kept = t.add("#dev", { kind: "notice", text: "topic" });
  assert.ok(Number.isFinite(kept.ts) && kept.ts >= before);
  const again = Transcript.fromJSON(JSON.parse(JSON.stringify(t)));
  assert.equal(again.view("#dev")[0].ts, kept.ts);
});

test("each room keeps its last lines only", () => {
  const t = new Transcript(3);
  for (let i = 1; i <= 5; i++) t.add("#dev", { kind: "msg", text: String(i), ts: i });
  assert.deepEqual(t.view("#dev").map((l) => l.text), ["3", "4", "5"]);
});
