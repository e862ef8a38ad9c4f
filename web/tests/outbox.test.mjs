// outbox.js: kept until ACK or a final ERROR, resent oldest first as retries, paced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Outbox, TokenBucket, isFinal, makePacer, paceWait, paceTake, paceBackOff } from "../js/outbox.js";

const say = (text) => ({ kind: "SAY", text, room: "" });

function drain(box) {
  const out = [];
  let msg;
  while ((msg = box.peek()) !== null) {
    out.push([msg.cid, msg.text, msg.retry]);
    box.sent();
  }
  return out;
}

test("cids count up from 1 and messages go out in order", () => {
  const box = new Outbox();
  assert.equal(box.add(say("a")).cid, 1);
  assert.equal(box.add({ kind: "TELL", to: "bob", text: "b" }).cid, 2);
  assert.deepEqual(drain(box), [[1, "a", false], [2, "b", false]]);
  assert.equal(box.size, 2); // sent is not acknowledged
});

test("after WELCOME the unacknowledged go out again, oldest first, as retries", () => {
  const box = new Outbox();
  ["a", "b", "c"].forEach((t) => box.add(say(t)));
  drain(box);
  assert.equal(box.settle(2).text, "b");
  box.requeue();
  assert.deepEqual(drain(box), [[1, "a", true], [3, "c", true]]);
});

test("a RATE_LIMITED message is kept and goes out next", () => {
  const box = new Outbox();
  ["a", "b", "c"].forEach((t) => box.add(say(t)));
  drain(box);
  assert.equal(isFinal("RATE_LIMITED"), false);
  box.again(2);
  box.again(2); // (once)
  assert.deepEqual(drain(box), [[2, "b", false]]);
  assert.equal(box.size, 3);
});

test("final errors drop the message; NOT_JOINED keeps it", () => {
  for (const code of ["EMPTY", "BAD_PRIVATE", "NO_SUCH_USER", "UNREACHABLE", "TOO_LONG", "SOMETHING_NEW"]) {
    assert.equal(isFinal(code), true, code);
  }
  assert.equal(isFinal("NOT_JOINED"), false);
  const box = new Outbox();
  box.add(say("a"));
  assert.equal(box.settle(1).text, "a");
  assert.equal(box.settle(1), null);
  box.requeue();
  assert.deepEqual(drain(box), []);
});

test("a message settled before it was sent is skipped", () => {
  const box = new Outbox();
  box.add(say("a"));
  box.add(say("b"));
  box.settle(1);
  assert.deepEqual(drain(box), [[2, "b", false]]);
});

test("the cid counter and the waiting messages survive a reload", () => {
  const box = new Outbox();
  ["a", "b"].forEach((t) => box.add(say(t)));
  drain(box);
  box.settle(1);
  const back = Outbox.fromJSON(JSON.parse(JSON.stringify(box)));
  assert.equal(back.peek(), null); // nothing goes before the next WELCOME
  back.requeue();
  assert.deepEqual(drain(back), [[2, "b", true]]);
  assert.equal(back.add(say("c")).cid, 3);
});

test("a full outbox refuses new messages", () => {
  const box = new Outbox(2);
  box.add(say("a"));
  box.add(say("b"));
  assert.equal(box.add(say("c")), null);
});

test("token buckets match the vectors (token_bucket.json)", () => {
  const v = JSON.parse(readFileSync(new URL("../../docs/vectors/token_bucket.json", import.meta.url), "utf8"));
  const cases = v.buckets ?? v.cases ?? [];
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const bucket = new TokenBucket(c.rate, c.burst, c.start ?? 0);
    for (const s of c.ops) {
      const got = s.op === "take" ? bucket.take(s.t, s.n ?? 1) : bucket.wait(s.t, s.n ?? 1);
      if (typeof s.result === "boolean") assert.equal(got, s.result, `${c.id} ${JSON.stringify(s)}`);
      else assert.ok(Math.abs(got - s.result) < 1e-9, `${c.id} ${JSON.stringify(s)} got ${got}`);
      if (s.tokens !== undefined) assert.ok(Math.abs(bucket.tokens - s.tokens) < 1e-9, `${c.id} tokens`);
    }
  }
});

test("pacing: under 90% of WELCOME's rate, a burst one smaller; none without limits", () => {
  assert.equal(makePacer({ rate: 0, byte_rate: 0 }, 0), null);
  assert.equal(paceWait(null, 0, 10), 0);
  const pacer = makePacer({ rate: 10, burst: 3, byte_rate: 32768, byte_burst: 131072 }, 0);
  for (let i = 0; i < 2; i++) {
    assert.equal(paceWait(pacer, 0, 5), 0);
    paceTake(pacer, 0, 5);
  }
  const wait = paceWait(pacer, 0, 5);
  assert.ok(Math.abs(wait - 1 / 9) < 1e-9, String(wait));
  assert.equal(paceWait(pacer, wait, 5), 0);
  paceBackOff(pacer);
  assert.ok(paceWait(pacer, wait, 5) > 0);
});
