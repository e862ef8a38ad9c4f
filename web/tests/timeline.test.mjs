// timeline.js: the cases of tests/unit/test_timeline.py that matter most, ported.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Timeline, MISSED } from "../js/timeline.js";

const EPOCH = "epoch-1";
const welcome = (pub, priv, extra = {}) => ({ name: "ana", pub, priv, epoch: EPOCH, room: "", rooms: {}, ...extra });
const m = (seq, prev, from = "bob", room = "") => ({ type: "MSG", from, text: `m${seq}`, ts: 1000 + seq, seq, prev, room });
const p = (seq, prev, from = "bob", to = "ana") => ({ type: "PRIV", from, to, text: `p${seq}`, ts: 1000 + seq, seq, prev, room: "" });
const joined = (seq, prev, name = "carol", room = "") => ({ type: "JOINED", name, ts: 1, seq, prev, room });
const replay = (events, more = false, lost = 0) => ({ kind: "replay", events, more, lost });
const fetchOf = (pub, priv, rooms = {}) => ({ pub, priv, rooms });

function timeline(pub = 5, priv = 2) {
  const t = new Timeline("Ana");
  const step = t.welcome(welcome(pub, priv));
  assert.equal(step.fetch, null);
  assert.equal(step.reset, false);
  return t;
}
const shown = (step) => step.shown.map((s) => s.event);
const cursors = (t) => [t.pub, t.priv];

test("a first WELCOME adopts the heads", () => {
  const t = new Timeline("Ana");
  assert.equal(t.joinedBefore, false);
  t.welcome(welcome(5, 2));
  assert.deepEqual([t.pub, t.priv, t.epoch, t.catchingUp], [5, 2, EPOCH, false]);
});

test("a rejoin with the same heads changes nothing", () => {
  const t = timeline();
  const step = t.welcome(welcome(5, 2));
  assert.equal(step.fetch, null);
  assert.deepEqual(cursors(t), [5, 2]);
});

for (const [pub, priv, epoch, why] of [[5, 2, "epoch-2", "new epoch"], [4, 2, EPOCH, "lower pub"], [0, 0, EPOCH, "zero"]]) {
  test(`a rejoin after history was lost resets (${why})`, () => {
    const t = timeline();
    t.live(m(7, 6)); // a gap: held, catching up
    assert.ok(t.catchingUp);
    const step = t.welcome(welcome(pub, priv, { epoch }));
    assert.equal(step.reset, true);
    assert.deepEqual([t.pub, t.priv, t.epoch, t.catchingUp], [pub, priv, epoch, false]);
    assert.deepEqual(shown(t.live(m(pub + 1, pub))), [m(pub + 1, pub)]); // held ones are gone
  });
}

test("a rejoin behind the heads catches up from the cursors", () => {
  const t = timeline();
  const step = t.welcome(welcome(8, 3));
  assert.deepEqual(step.fetch, fetchOf(5, 2));
  assert.ok(t.catchingUp);
  assert.deepEqual(cursors(t), [5, 2]);
});

test("a pruned private stream: catch up, then restart the private cursor at the head", () => {
  const t = timeline(5, 2);
  assert.deepEqual(t.welcome(welcome(8, 0)).fetch, fetchOf(5, 2));
  const step = t.replay(replay([m(6, 5), m(7, 6), m(8, 7)], false, 4));
  assert.deepEqual(shown(step), [m(6, 5), m(7, 6), m(8, 7)]);
  assert.equal(step.lost, 4);
  assert.deepEqual(cursors(t), [8, 0]);
  assert.deepEqual(shown(t.live(p(9, 0))), [p(9, 0)]);
});

test("live events in order are shown and move their stream's cursor", () => {
  const t = timeline();
  const events = [m(6, 5), p(7, 2), joined(8, 6), p(9, 7, "ana", "bob"), m(10, 8)];
  const after = [[6, 2], [6, 7], [8, 7], [8, 9], [10, 9]];
  events.forEach((event, i) => {
    assert.deepEqual(shown(t.live(event)), [event]);
    assert.deepEqual(cursors(t), after[i]);
  });
});

test("events before the first WELCOME wait for it, then take their place", () => {
  const t = new Timeline("ana");
  assert.deepEqual(shown(t.live(m(6, 5))), []);
  assert.deepEqual(shown(t.live(m(5, 4))), []);
  assert.deepEqual(shown(t.welcome(welcome(4, 2))), [m(5, 4), m(6, 5)]);
  assert.deepEqual(cursors(t), [6, 2]);
});

test("our own MSG from the feed moves the cursor unseen", () => {
  const t = timeline();
  assert.deepEqual(shown(t.live(m(6, 5, "ANA"))), []);
  assert.equal(t.pub, 6);
  assert.deepEqual(shown(t.live(m(7, 6))), [m(7, 6)]);
  // ...and the ACK that follows changes nothing
  t.ownPublic(6, 5);
  assert.equal(t.pub, 7);
});

test("an ACK of our SAY steps the cursor over our message", () => {
  const t = timeline();
  t.ownPublic(6, 5);
  assert.equal(t.pub, 6);
  t.ownPublic(9, 8); // not next: a gap the next event or PING shows
  assert.equal(t.pub, 6);
  t.ownPublic(0, 0);
  assert.equal(t.pub, 6);
});

test("unsequenced events are shown without moving the cursors", () => {
  const t = timeline();
  const e = { ...m(0, 0), text: "outage" };
  assert.deepEqual(shown(t.live(e)), [e]);
  assert.deepEqual(cursors(t), [5, 2]);
});

for (const e of [m(5, 4), m(3, 2), m(5, 0), p(2, 1), p(1, 0)]) {
  test(`duplicates are dropped (${e.type} ${e.seq})`, () => {
    const t = timeline();
    const step = t.live(e);
    assert.deepEqual([step.shown, step.fetch], [[], null]);
    assert.deepEqual(cursors(t), [5, 2]);
  });
}

test("a gap holds the event, fetches, and shows the replay before it", () => {
  const t = timeline();
  const step = t.live(m(8, 7));
  assert.deepEqual(shown(step), []);
  assert.deepEqual(step.fetch, fetchOf(5, 2));
  assert.deepEqual(shown(t.live(m(9, 8))), []); // held while catching up
  const done = t.replay(replay([m(7, 6), m(6, 5), m(8, 7)]));
  assert.deepEqual(shown(done), [m(6, 5), m(7, 6), m(8, 7), m(9, 8)]);
  assert.deepEqual(cursors(t), [9, 2]);
  assert.equal(t.catchingUp, false);
});

test("a replay with more asks again from the new cursors, then releases the held", () => {
  const t = timeline();
  t.live(m(9, 8));
  const first = t.replay(replay([m(6, 5), p(7, 2)], true));
  assert.deepEqual(first.fetch, fetchOf(6, 7));
  assert.ok(t.catchingUp);
  const second = t.replay(replay([m(8, 6), m(9, 8)]));
  assert.deepEqual(shown(second), [m(8, 6), m(9, 8)]); // the held m9 was a duplicate
  assert.equal(second.fetch, null);
  assert.deepEqual(cursors(t), [9, 7]);
});

test("replayed events up to WELCOME's heads are missed, later ones live; own ones hidden", () => {
  const t = timeline();
  t.welcome(welcome(7, 2));
  const step = t.replay(replay([m(6, 5), m(7, 6, "ana"), m(8, 7)]));
  assert.deepEqual(step.shown.map((s) => [s.event.seq, s.tag]), [[6, MISSED], [8, ""]]);
  assert.equal(t.pub, 8);
});

test("a broker PING ahead of the cursors starts a catch-up, once", () => {
  const t = timeline();
  assert.equal(t.heads(5, null).fetch, null);
  assert.deepEqual(t.heads(6, null).fetch, fetchOf(5, 2));
  assert.equal(t.heads(9, 9).fetch, null); // already catching up
  const t2 = timeline();
  assert.deepEqual(t2.heads(5, 3).fetch, fetchOf(5, 2));
});

test("rooms: a cursor per room, FETCH with rooms, PING rooms, PART drops it", () => {
  const t = new Timeline("ana");
  t.welcome(welcome(5, 2, { room: "#geral", rooms: { "#geral": 5, "#sala": 9 } }));
  assert.deepEqual(t.rooms, { "#sala": 9 });
  assert.deepEqual(shown(t.live(m(10, 9, "bob", "#sala"))), [m(10, 9, "bob", "#sala")]);
  assert.equal(t.rooms["#sala"], 10);
  const gap = t.live(m(12, 11, "bob", "#sala"));
  assert.deepEqual(gap.fetch, fetchOf(5, 2, { "#sala": 10 }));
  const done = t.replay(replay([m(11, 10, "bob", "#sala")]));
  assert.deepEqual(shown(done).map((e) => e.seq), [11, 12]);
  assert.deepEqual(t.heads(5, null, { "#sala": 13 }).fetch, fetchOf(5, 2, { "#sala": 12 }));
  t.replay(replay([]));
  t.parted("#Sala");
  assert.deepEqual(t.rooms, {});
  assert.deepEqual(shown(t.live(m(14, 12, "bob", "#sala"))), []); // a room we are not in
});

test("ENTERED starts a room at its head; our own JOINED there is stepped over", () => {
  const t = new Timeline("ana");
  t.welcome(welcome(5, 2, { room: "#geral", rooms: { "#geral": 5 } }));
  assert.equal(t.entered("#sala", 7).fetch, null);
  assert.equal(t.rooms["#sala"], 7);
  assert.deepEqual(shown(t.live(joined(7, 3, "ana", "#sala"))), []);
  assert.deepEqual(shown(t.live(joined(8, 7, "bob", "#sala"))), [joined(8, 7, "bob", "#sala")]);
});

test("parting the default room stops following the public stream", () => {
  const t = new Timeline("ana");
  t.welcome(welcome(5, 2, { room: "#geral", rooms: { "#geral": 5 } }));
  t.parted("#geral");
  assert.deepEqual(shown(t.live(m(6, 5))), []);
  assert.equal(t.heads(9, null).fetch, null); // its PING pub is not ours to follow
  t.entered("#geral", 10);
  assert.deepEqual(shown(t.live(m(11, 10))), [m(11, 10)]);
});

test("cursors survive a reload (toJSON, fromJSON) and resume from there", () => {
  const t = timeline();
  t.live(m(6, 5));
  const back = Timeline.fromJSON(JSON.parse(JSON.stringify(t)));
  assert.deepEqual(cursors(back), [6, 2]);
  assert.equal(back.joinedBefore, true);
  assert.deepEqual(back.welcome(welcome(8, 2)).fetch, fetchOf(6, 2));
  assert.deepEqual(shown(back.replay(replay([m(6, 5), m(7, 6), m(8, 7)]))).map((e) => e.seq), [7, 8]);
  assert.deepEqual(shown(back.live(m(6, 5, "ANA"))), []); // still knows who it is
});

test("a randomized chat: every event shown once and in order per stream, whatever is lost", () => {
  for (let run = 0; run < 50; run++) {
    let seed = run + 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const t = timeline(0, 0);
    const stored = [];
    let pub = 0;
    let priv = 0;
    const seen = [];
    const deliver = (step) => {
      seen.push(...shown(step).map((e) => e.seq));
      while (step.fetch) {
        const f = step.fetch;
        const page = stored.filter((e) => (e.type === "PRIV" ? e.seq > f.priv : e.seq > f.pub)).slice(0, 3);
        const more = stored.some((e) => !page.includes(e) && (e.type === "PRIV" ? e.seq > f.priv : e.seq > f.pub)
          && e.seq > (page.at(-1)?.seq ?? 0));
        step = t.replay(replay(page, more));
        seen.push(...shown(step).map((e) => e.seq));
      }
    };
    for (let seq = 1; seq <= 60; seq++) {
      const e = rand() < 0.3 ? p(seq, priv) : m(seq, pub);
      if (e.type === "PRIV") priv = seq; else pub = seq;
      stored.push(e);
      if (rand() < 0.7) deliver(t.live(e)); // the rest are lost on the way
      if (rand() < 0.1) deliver(t.heads(pub, priv));
    }
    deliver(t.heads(pub, priv));
    // Each stream in seq order, every event exactly once (no order between streams).
    const of = (type) => stored.filter((e) => (e.type === "PRIV") === (type === "PRIV")).map((e) => e.seq);
    const isPriv = new Set(of("PRIV"));
    assert.deepEqual(seen.filter((s) => isPriv.has(s)), of("PRIV"), `run ${run}`);
    assert.deepEqual(seen.filter((s) => !isPriv.has(s)), of("MSG"), `run ${run}`);
  }
});
