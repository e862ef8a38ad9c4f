// commands.js: every command, in English and Portuguese, and their usage errors
// (the cases of tests/unit/test_commands.py for the commands the page offers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseLine, durationSeconds, modDuration, MAX_MOD_SECONDS } from "../js/commands.js";

const cases = [
  ["oi pessoal", { type: "public", text: "oi pessoal" }],
  ["  espaços  ", { type: "public", text: "  espaços  " }],
  ["", { type: "nothing" }],
  ["   ", { type: "nothing" }],
  ["@bob tudo bem?", { type: "private", to: "bob", text: "tudo bem?" }],
  ["@bob", { type: "private", to: "bob", text: "" }],
  ["@bob    oi  ", { type: "private", to: "bob", text: "oi" }],
  ["/msg bob oi", { type: "private", to: "bob", text: "oi" }],
  ["/msg #sala oi sala", { type: "roomSay", room: "#sala", text: "oi sala" }],
  ["/msg", { type: "usage", command: "msg" }],
  ["/msg #sala", { type: "usage", command: "msg" }],
  ["/msg bob   ", { type: "usage", command: "msg" }],
  ["/join #sala", { type: "enter", room: "#sala" }],
  ["/join sala", { type: "enter", room: "#sala" }],
  ["/entrar #dev", { type: "enter", room: "#dev" }],
  ["/join", { type: "usage", command: "join" }],
  ["/entrar", { type: "usage", command: "join" }],
  ["/part", { type: "part", room: "" }],
  ["/part #sala", { type: "part", room: "#sala" }],
  ["/deixar sala", { type: "part", room: "#sala" }],
  ["/rooms", { type: "rooms" }],
  ["/salas", { type: "rooms" }],
  ["/who", { type: "who", room: "" }],
  ["/quem", { type: "who", room: "" }],
  ["/who *", { type: "who", room: "*" }],
  ["/who #sala", { type: "who", room: "#sala" }],
  ["/who bob", { type: "who", room: "" }],
  ["/topic planos para hoje", { type: "topic", text: "planos para hoje" }],
  ["/topico novo", { type: "topic", text: "novo" }],
  ["/tópico novo", { type: "topic", text: "novo" }],
  ["/topic", { type: "usage", command: "topic" }],
  ["/help", { type: "help" }],
  ["/ajuda", { type: "help" }],
  ["/?", { type: "help" }],
  ["sair", { type: "quit" }],
  ["SAIR", { type: "quit" }],
  ["  Sair ", { type: "quit" }],
  ["/quit", { type: "quit" }],
  ["/sair", { type: "quit" }],
  ["/exit", { type: "quit" }],
  ["sair daqui", { type: "public", text: "sair daqui" }],
  ["//slash no começo", { type: "public", text: "/slash no começo" }],
  ["/frobnicate x", { type: "unknown", command: "/frobnicate" }],
  ["/JOIN #Sala", { type: "enter", room: "#Sala" }],
  ["oi\r\n", { type: "public", text: "oi" }],
  // scrolling back
  ["/history", hist()],
  ["/history #sala", hist({ room: "#sala" })],
  ["/history 50", hist({ count: 50 })],
  ["/history #sala 50", hist({ room: "#sala", count: 50 })],
  ["/history 7 #sala", hist({ room: "#sala", count: 7 })],
  ["/histórico #Sala 100", hist({ room: "#Sala", count: 100 })],
  ["/historico", hist()],
  ["/history 0", usage("history")],
  ["/history 101", usage("history")],
  ["/history ٣", usage("history")],
  ["/history sala", usage("history")],
  ["/history #a #b", usage("history")],
  ["/history 5 6", usage("history")],
  ["/history @bob", hist({ peer: "bob" })],
  ["/history 30 @Bob", hist({ count: 30, peer: "Bob" })],
  ["/history @bob #sala", usage("history")],
  ["/history @", usage("history")],
  // conversations
  ["/dms", { type: "dms" }],
  ["/conversas", { type: "dms" }],
  // moderation
  ["/kick bob spam demais", mod("kick", { name: "bob", reason: "spam demais" })],
  ["/expulsar @bob", mod("kick", { name: "bob" })],
  ["/ban bob 2h flood", mod("ban", { name: "bob", seconds: 7200, reason: "flood" })],
  ["/ban bob chato mesmo", mod("ban", { name: "bob", reason: "chato mesmo" })],
  ["/ban bob 30 vezes", mod("ban", { name: "bob", reason: "30 vezes" })],
  ["/ban bob 1h30m", mod("ban", { name: "bob", seconds: 5400 })],
  ["/banir bob 7d", mod("ban", { name: "bob", seconds: 7 * 86400 })],
  ["/unban bob", mod("unban", { name: "bob" })],
  ["/desbanir bob", mod("unban", { name: "bob" })],
  ["/unban bob agora", usage("unban")],
  ["/unban", usage("unban")],
  ["/mute bob #dev 10m", mod("mute", { name: "bob", room: "#dev", seconds: 600 })],
  ["/silenciar bob #dev", mod("mute", { name: "bob", room: "#dev" })],
  ["/mute bob #dev sempre", usage("mute")],
  ["/mute bob #dev 30", usage("mute")],
  ["/mute bob", usage("mute")],
  ["/mute bob dev", usage("mute")],
  ["/unmute bob #dev", mod("unmute", { name: "bob", room: "#dev" })],
  ["/unmute bob #dev 5m", usage("unmute")],
  ["/slow #dev 5", mod("slow", { room: "#dev", seconds: 5 })],
  ["/lento #dev 0", mod("slow", { room: "#dev" })],
  ["/slow #dev", usage("slow")],
  ["/slow dev 5", usage("slow")],
  ["/slow #dev 5s", usage("slow")],
  ["/lock #dev", mod("lock", { room: "#dev" })],
  ["/travar #dev", mod("lock", { room: "#dev" })],
  ["/lock #dev #x", usage("lock")],
  ["/unlock #dev", mod("unlock", { room: "#dev" })],
  ["/destravar #dev", mod("unlock", { room: "#dev" })],
  ["/unlock", usage("unlock")],
  ["/kick", usage("kick")],
  ["/KICK Bob", mod("kick", { name: "Bob" })],
  // search
  ["/search reunião sexta", search("reunião sexta")],
  ["/search deploy from:bob in:#dev", search("deploy", { sender: "bob", room: "#dev" })],
  ["/buscar prazo de:Ana em:dev", search("prazo", { sender: "Ana", room: "#dev" })],
  ["/procurar prazo", search("prazo")],
  ["/search senha @carol", search("senha", { peer: "carol" })],
  ["/search from:bob", usage("search")],
  ["/search", usage("search")],
  ["/search a from:x from:y", usage("search")],
  ["/search a from:x de:y", usage("search")],
  ["/search @ in: from:", search("@ in: from:")],
  ["/around 3", { type: "around", number: 3 }],
  ["/contexto 12", { type: "around", number: 12 }],
  ["/around", usage("around")],
  ["/around x", usage("around")],
  ["/around 0", usage("around")],
  ["/around 1001", usage("around")],
  ["/around 3 4", usage("around")],
];

function hist(fields = {}) {
  return { type: "history", room: "", count: 0, peer: "", ...fields };
}

function usage(command) {
  return { type: "usage", command };
}

function mod(op, fields = {}) {
  return { type: "mod", op, name: "", room: "", seconds: 0, reason: "", ...fields };
}

function search(words, fields = {}) {
  return { type: "search", words, sender: "", room: "", peer: "", ...fields };
}

for (const [line, expected] of cases) {
  test(`parses ${JSON.stringify(line)}`, () => {
    assert.deepEqual(parseLine(line), expected);
  });
}

test("durations as common/durations.py reads them", () => {
  assert.equal(durationSeconds("30s"), 30);
  assert.equal(durationSeconds("10m"), 600);
  assert.equal(durationSeconds(" 2H "), 7200);
  assert.equal(durationSeconds("7d"), 7 * 86400);
  assert.equal(durationSeconds("1w"), 7 * 86400);
  assert.equal(durationSeconds("1h30m"), 5400);
  assert.equal(durationSeconds("90"), 90);
  assert.equal(durationSeconds("90", false), null);
  assert.equal(durationSeconds("0m"), null);
  assert.equal(durationSeconds("0"), null);
  for (const bad of ["", "m", "1x", "1h 30m", "-1h", "1.5h", "1234567890s", "h1"]) {
    assert.equal(durationSeconds(bad), null, bad);
  }
  assert.equal(modDuration("3650d"), MAX_MOD_SECONDS);
  assert.equal(modDuration("3651d"), null);
  assert.equal(modDuration("5"), null);
});
