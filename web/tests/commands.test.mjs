// commands.js: every command, in English and Portuguese, and their usage errors
// (the cases of tests/unit/test_commands.py for the commands the page offers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseLine } from "../js/commands.js";

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
];

for (const [line, expected] of cases) {
  test(`parses ${JSON.stringify(line)}`, () => {
    assert.deepEqual(parseLine(line), expected);
  });
}
