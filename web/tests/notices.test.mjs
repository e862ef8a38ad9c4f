// notices.js: UNREAD, DMS and MODERATED in the user's words (client/render.py's).
import { test } from "node:test";
import assert from "node:assert/strict";
import { catalogue } from "../js/i18n.js";
import { unreadLine, dmsText, moderatedText } from "../js/notices.js";

const en = catalogue("en");
const pt = catalogue("pt");
const item = (fields) => ({ read: 0, unread: 0, mentions: 0, more: false, last: 0, ts: 0, ...fields });

test("UNREAD is one line", () => {
  const items = [item({ key: "#dev", unread: 3, mentions: 1 }), item({ key: "@bob", unread: 100, more: true })];
  const name = (key) => (key === "#dev" ? "#Dev" : key);
  assert.equal(unreadLine(en, items, name),
    "3 unread in #Dev, 1 mention(s) of you in #Dev, 100+ unread from bob");
  assert.equal(unreadLine(pt, items, name),
    "3 não lidas em #Dev, 1 menção(ões) a você em #Dev, 100+ não lidas de bob");
  assert.equal(unreadLine(en, [], name), null);
});

test("DMS: a heading and a line per conversation", () => {
  const hhmm = () => "14:05";
  assert.equal(dmsText(en, [], hhmm), "No private conversations yet.");
  assert.equal(dmsText(pt, [item({ key: "@bob", unread: 2, ts: 1 })], hhmm),
    "Conversas privadas (1), a mais recente primeiro:\nbob: 2 não lidas, última às 14:05");
  assert.equal(dmsText(en, [item({ key: "@bob" }), item({ key: "@\u202ecarol" })], hhmm),
    "Private conversations (2), most recent first:\nbob: 0 unread, last at 14:05\n\\u202ecarol: 0 unread, last at 14:05");
});

test("MODERATED in our words", () => {
  const when = () => "2026-12-04 11:00";
  const told = (fields) => ({ by: "ana", name: "", room: "", reason: "", until: 0, ...fields });
  assert.equal(moderatedText(en, told({ op: "kick", name: "bob", reason: "spam" }), when),
    "ana removed bob from the chat (spam)");
  assert.equal(moderatedText(pt, told({ op: "ban", name: "bob", until: 5, reason: "flood" }), when),
    "ana baniu bob até 2026-12-04 11:00 (flood)");
  assert.equal(moderatedText(en, told({ op: "mute", name: "bob", room: "#geral" }), when),
    "ana muted bob in #geral");
  assert.equal(moderatedText(en, told({ op: "slow", room: "#dev", until: 5 }), when),
    "ana set slow mode in #dev: one message every 5 s");
  assert.equal(moderatedText(pt, told({ op: "slow", room: "#dev" }), when),
    "ana desativou o modo lento em #dev");
  assert.equal(moderatedText(en, told({ op: "lock", room: "#dev" }), when), "ana locked the topic of #dev");
  assert.equal(moderatedText(en, told({ op: "unban", name: "bob" }), when), "ana lifted the ban on bob");
  assert.equal(moderatedText(en, told({ op: "frobnicate", name: "bob" }), when), "ana: frobnicate bob");
  assert.equal(moderatedText(en, told({ op: "constructor", name: "bob" }), when), "ana: constructor bob");
});
