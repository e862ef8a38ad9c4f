// i18n.js: every text in both languages, with the same fields; the language choice.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { EN, PT, catalogue, pickLanguage } from "../js/i18n.js";

const fields = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("every key is in both languages, with the same fields", () => {
  assert.deepEqual(Object.keys(PT).sort(), Object.keys(EN).sort());
  for (const key of Object.keys(EN)) assert.deepEqual(fields(PT[key]), fields(EN[key]), key);
});

test("every key the page uses exists", () => {
  const dir = new URL("../js/", import.meta.url);
  const html = readFileSync(new URL("../index.html", import.meta.url), "utf8");
  const used = new Set([...html.matchAll(/data-i18n(?:-\w+)?="([\w.]+)"/g)].map((m) => m[1]));
  for (const file of readdirSync(dir)) {
    const js = readFileSync(new URL(file, dir), "utf8");
    for (const m of js.matchAll(/\bt\("([\w.]+)"/g)) used.add(m[1]);
  }
  assert.ok(used.size > 40);
  for (const key of used) assert.ok(key in EN, key);
  // keys built from codes and states
  for (const state of ["connecting", "online", "reconnecting", "stopped"]) assert.ok(`ui.state_${state}` in EN);
  for (const tag of ["missed", "history", "found", "context"]) assert.ok(`client.tag_${tag}` in EN);
  const ops = ["kick", "ban", "unban", "mute", "unmute", "slow", "lock", "unlock"];
  for (const usage of ["join", "msg", "topic", "history", "search", "around", ...ops]) {
    assert.ok(`client.usage_${usage}` in EN, usage);
  }
  for (const op of [...ops, "slow_off"]) assert.ok(`client.mod_${op}` in EN, op);
  for (const code of ["NOT_OPERATOR", "MUTED", "SLOW_MODE", "TOPIC_LOCKED", "BAD_SEARCH"]) assert.ok(`error.${code}` in EN);
  for (const reason of ["quit", "timeout", "lost", "slow", "flood", "part", "kicked", "banned", "shutdown"]) {
    assert.ok(`reason.${reason}` in EN, reason);
  }
  for (const code of ["VERSION", "BAD_NAME", "NAME_TAKEN", "NAME_OWNED", "FULL", "BANNED"]) assert.ok(`error.${code}` in EN);
  assert.ok("client.kicked" in EN && "client.banned" in EN);
});

test("Portuguese for pt*, English otherwise", () => {
  assert.equal(pickLanguage("pt-BR"), "pt");
  assert.equal(pickLanguage("pt"), "pt");
  assert.equal(pickLanguage("PT-pt"), "pt");
  assert.equal(pickLanguage("en-US"), "en");
  assert.equal(pickLanguage("es"), "en");
  assert.equal(pickLanguage(undefined), "en");
});

test("texts fill their fields, literally", () => {
  const pt = catalogue("pt");
  assert.equal(pt("client.joined_room", { name: "bob", room: "#sala" }), "bob entrou em #sala");
  assert.equal(catalogue("en")("client.joined_room", { name: "bob", room: "#sala" }), "bob joined #sala");
  assert.equal(pt("client.private"), "privado");
  assert.equal(pt("error.NO_SUCH_USER", { ref: "$& $1" }), "ninguém chamado $& $1 está online");
  assert.equal(pt.has("error.NOPE"), false);
  assert.throws(() => pt("error.NOPE"));
});
