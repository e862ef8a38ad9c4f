// lookback.js: where /history goes on from, /search's paging and /around's results.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lookback } from "../js/lookback.js";

const msg = (seq, room = "") => ({ type: "MSG", seq, room, from: "bob", text: "x", ts: 1 });
const priv = (seq) => ({ type: "PRIV", seq, from: "bob", to: "ana", text: "x", ts: 1 });

test("/history asks before the oldest event shown, page after page", () => {
  const l = new Lookback();
  assert.equal(l.before("#geral"), null); // nothing shown: the latest page
  for (const seq of [12, 9, 15]) l.note("#geral", seq);
  l.note("#geral", 0); // (an event without a number changes nothing)
  assert.equal(l.before("#geral"), 9);
  for (const seq of [4, 5, 6]) l.note("#geral", seq); // the page came
  assert.equal(l.before("#geral"), 4);
  assert.equal(l.before("@bob"), null);
  const back = Lookback.fromJSON(JSON.parse(JSON.stringify(l)));
  assert.equal(back.before("#geral"), 4);
});

test("the same /search again pages on; another starts over", () => {
  const l = new Lookback();
  const ask = { words: "deploy", sender: "", room: "", peer: "" };
  assert.equal(l.search(ask), null);
  assert.deepEqual(l.found([msg(30), msg(20, "#dev"), priv(10)]).map((r) => r.number), [1, 2, 3]);
  assert.equal(l.search({ ...ask }), 10); // before the oldest result
  assert.deepEqual(l.found([msg(5)]).map((r) => r.number), [4]); // numbered on
  assert.equal(l.search({ ...ask, sender: "bob" }), null);
  assert.equal(l.hits.length, 0);
  assert.deepEqual(l.found([]), []);
  assert.equal(l.search({ ...ask, sender: "bob" }), null); // (no results: nothing to page on)
});

test("/around N: a room's result, not a private one, not one that is not there", () => {
  const l = new Lookback();
  l.search({ words: "x", sender: "", room: "", peer: "" });
  l.found([msg(30, "#dev"), priv(20)]);
  assert.equal(l.hit(1).hit.seq, 30);
  assert.deepEqual(l.hit(2), { problem: "client.around_private" });
  assert.deepEqual(l.hit(3), { problem: "client.around_unknown" });
  assert.deepEqual(l.hit(0), { problem: "client.around_unknown" });
  l.expectAround("#dev");
  assert.equal(l.takeAround("#geral"), false);
  assert.equal(l.takeAround("#dev"), true);
  assert.equal(l.takeAround("#dev"), false); // once
});
