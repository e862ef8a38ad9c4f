// What one typed line means. Pure. A port of the part of client/commands.py the page
// offers:
//
//   text             a message to the current room
//   @name text       a private message (malformed forms go to the broker, which answers
//                    with the error, so every client gets the same rules)
//   /msg #room text  a message to another room, without switching to it
//   /msg name text   the same as @name text
//   /join #room      enter a room (or switch to it); /part [#room] leaves one
//   /rooms           list the rooms; /topic text sets the current room's topic
//   /who [#room|*]   the current room's members, another room's, or everyone online
//   /history [#room|@name] [N]  N older messages of a room (default: the current one)
//                    or of the private conversation with name
//   /dms             the private conversations, most recent first, with unread counts
//   /kick name [reason], /ban name [duration] [reason], /unban name,
//   /mute name #room [duration], /unmute name #room, /slow #room seconds,
//   /lock #room, /unlock #room   an operator's moderation (duration: 30s, 10m, 2h, 7d)
//   /search words [from:name] [in:#room] [@name]  search what one may read
//   /around N        the lines around result N of the last /search
//   /help            the commands; /quit, /sair or `sair` (any case) leaves
//   //text           a message that starts with '/'
//
// Portuguese names too: /entrar, /deixar, /salas, /quem, /topico, /ajuda, /historico,
// /conversas, /expulsar, /banir, /desbanir, /silenciar, /lento, /travar, /destravar,
// /buscar, /procurar (de:, em:), /contexto.
// A room may be typed without its '#' where only a room can be meant (/join sala).
// Each command is a plain object {type, ...}.

import { ROOM_PREFIX } from "./wire.js";

/** /who's argument for everyone online, whatever room one is in. */
export const EVERYONE = "*";

const QUIT_WORDS = new Set(["sair", "/quit", "/sair", "/exit"]);

const room = (word) => (word.startsWith(ROOM_PREFIX) ? word : ROOM_PREFIX + word);

/** A /history page's most events (MAX_HISTORY_PAGE), and a ban's or mute's longest. */
export const MAX_HISTORY_PAGE = 100;
export const MAX_MOD_SECONDS = 10 * 365 * 86400;
/** /around's highest result number. */
const MAX_AROUND = 1000;

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };
const DURATION = /^(?:(?:[0-9]{1,9}[smhdw])+|[0-9]{1,9})$/;
const DIGITS = /^[0-9]+$/;

/** A port of common/durations.py: ``text`` in seconds (30s, 10m, 2h, 7d, 1w, 1h30m);
 * null if it is not a duration or is none at all (0). ``bare``: digits alone are
 * seconds (false: a unit is needed). */
export function durationSeconds(text, bare = true) {
  text = text.trim().toLowerCase();
  if (!DURATION.test(text) || (DIGITS.test(text) && !bare)) return null;
  const seconds = DIGITS.test(text) ? Number(text)
    : [...text.matchAll(/([0-9]{1,9})([smhdw])/g)].reduce((sum, m) => sum + Number(m[1]) * UNITS[m[2]], 0);
  return seconds || null;
}

/** A ban's or mute's length as typed (a unit is needed: a number alone is a reason's
 * first word), within what MOD allows; null otherwise. */
export function modDuration(word) {
  const seconds = durationSeconds(word, false);
  return seconds !== null && seconds <= MAX_MOD_SECONDS ? seconds : null;
}

/** Python's str.split(): the whitespace-separated words. */
const words = (s) => s.split(/\s+/).filter(Boolean);

/** Python's str.strip(): JavaScript's trim() is close enough for typed lines. */
const strip = (s) => s.trim();

/** Split off the first whitespace-separated word: [word, rest] (rest stripped on the left). */
function firstWord(s) {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(s);
  return m ? [m[1], m[2]] : ["", ""];
}

/** The first word after the command, and the text after it (stripped). */
function argAndText(stripped) {
  const rest = firstWord(stripped)[1];
  const space = rest.indexOf(" ");
  if (space < 0) return [rest, ""];
  return [rest.slice(0, space), strip(rest.slice(space + 1))];
}

/** Turn one typed line (without its newline) into a command. */
export function parseLine(line) {
  line = line.replace(/[\r\n]+$/, "");
  const stripped = strip(line);
  if (!stripped) return { type: "nothing" };
  const lowered = stripped.toLowerCase();
  if (QUIT_WORDS.has(lowered)) return { type: "quit" };
  if (stripped.startsWith("//")) return { type: "public", text: stripped.slice(1) };
  if (stripped.startsWith("/")) return slash(stripped, firstWord(lowered)[0]);
  if (stripped.startsWith("@")) {
    const body = stripped.slice(1);
    const space = body.indexOf(" ");
    const to = space < 0 ? body : body.slice(0, space);
    const text = space < 0 ? "" : strip(body.slice(space + 1));
    return { type: "private", to, text };
  }
  return { type: "public", text: line };
}

function slash(stripped, word) {
  const [arg, text] = argAndText(stripped);
  switch (word) {
    case "/who": case "/quem":
      if (arg === EVERYONE || arg.startsWith(ROOM_PREFIX)) return { type: "who", room: arg };
      return { type: "who", room: "" }; // (other words after /who are ignored)
    case "/help": case "/ajuda": case "/?":
      return { type: "help" };
    case "/join": case "/entrar":
      return arg ? { type: "enter", room: room(arg) } : { type: "usage", command: "join" };
    case "/part": case "/deixar":
      return { type: "part", room: arg ? room(arg) : "" };
    case "/rooms": case "/salas":
      return { type: "rooms" };
    case "/topic": case "/topico": case "/tópico": {
      const rest = strip(firstWord(stripped)[1]);
      return rest ? { type: "topic", text: rest } : { type: "usage", command: "topic" };
    }
    case "/history": case "/historico": case "/histórico":
      return scrollBack(words(stripped).slice(1));
    case "/dms": case "/conversas":
      return { type: "dms" };
    case "/search": case "/buscar": case "/procurar":
      return find(words(stripped).slice(1));
    case "/around": case "/contexto":
      if (DIGITS.test(arg) && !text && Number(arg) > 0 && Number(arg) <= MAX_AROUND) {
        return { type: "around", number: Number(arg) };
      }
      return { type: "usage", command: "around" };
    case "/msg":
      if (!arg || !text) return { type: "usage", command: "msg" };
      if (arg.startsWith(ROOM_PREFIX)) return { type: "roomSay", room: arg, text };
      return { type: "private", to: arg, text };
    default:
      if (word in MOD_WORDS) return moderation(MOD_WORDS[word], strip(firstWord(stripped)[1]));
      return { type: "unknown", command: firstWord(stripped)[0] };
  }
}

/** /history [#room|@name] [N], in either order; anything else: its usage. */
function scrollBack(list) {
  let room = "";
  let count = 0;
  let peer = "";
  for (const word of list) {
    if (word.startsWith(ROOM_PREFIX) && !room && !peer) {
      room = word;
    } else if (word.startsWith("@") && word.length > 1 && !room && !peer) {
      peer = word.slice(1);
    } else if (DIGITS.test(word) && !count && Number(word) > 0 && Number(word) <= MAX_HISTORY_PAGE) {
      count = Number(word);
    } else {
      return { type: "usage", command: "history" };
    }
  }
  return { type: "history", room, count, peer };
}

const FILTERS = [["from:", "sender"], ["de:", "sender"], ["in:", "room"], ["em:", "room"],
  ["@", "peer"]];

/** /search's words and filters: from:name, in:#room (or in:room) and @name, each at
 * most once; the other words are searched for. */
function find(list) {
  const found = { sender: "", room: "", peer: "" };
  const seen = new Set();
  const rest = [];
  for (const word of list) {
    const lowered = word.toLowerCase();
    const filter = FILTERS.find(([prefix]) => lowered.startsWith(prefix) && word.length > prefix.length);
    if (!filter) {
      rest.push(word);
      continue;
    }
    const [prefix, field] = filter;
    if (seen.has(field)) return { type: "usage", command: "search" };
    seen.add(field);
    const value = word.slice(prefix.length);
    found[field] = field === "room" ? room(value) : value;
  }
  if (!rest.length) return { type: "usage", command: "search" };
  return { type: "search", words: rest.join(" "), ...found };
}

const MOD_WORDS = {
  "/kick": "kick", "/expulsar": "kick", "/ban": "ban", "/banir": "ban",
  "/unban": "unban", "/desbanir": "unban", "/mute": "mute", "/silenciar": "mute",
  "/unmute": "unmute", "/slow": "slow", "/lento": "slow", "/lock": "lock",
  "/travar": "lock", "/unlock": "unlock", "/destravar": "unlock",
};

const mod = (op, fields = {}) => ({ type: "mod", op, name: "", room: "", seconds: 0, reason: "", ...fields });

/** An operator's command (a port of client/commands.py's _moderation): its name, room,
 * duration and reason, as ``op`` takes them. ``text``: what follows the command. */
function moderation(op, text) {
  const list = words(text);
  const usage = { type: "usage", command: op };
  if (op === "slow" || op === "lock" || op === "unlock") {
    if (!list.length || !list[0].startsWith(ROOM_PREFIX)) return usage;
    if (op !== "slow") return list.length === 1 ? mod(op, { room: list[0] }) : usage;
    const ok = list.length === 2 && DIGITS.test(list[1]);
    return ok ? mod(op, { room: list[0], seconds: Number(list[1]) }) : usage;
  }
  if (!list.length) return usage;
  const name = list[0].startsWith("@") ? list[0].slice(1) : list[0];
  const after = strip(firstWord(text)[1]); // (what follows the name)
  if (op === "kick" || op === "unban") {
    if (op === "unban" && after) return usage;
    return mod(op, { name, reason: after });
  }
  if (op === "ban") {
    const [first, more] = after ? firstWord(after) : ["", ""];
    const seconds = first ? modDuration(first) : null;
    const reason = seconds !== null ? more : after;
    return mod(op, { name, seconds: seconds || 0, reason: strip(reason) });
  }
  // mute, unmute: name #room [duration]
  if (list.length < 2 || !list[1].startsWith(ROOM_PREFIX)) return usage;
  if (op === "unmute") return list.length === 2 ? mod(op, { name, room: list[1] }) : usage;
  const seconds = list.length === 3 ? modDuration(list[2]) : list.length === 2 ? 0 : null;
  return seconds !== null ? mod(op, { name, room: list[1], seconds }) : usage;
}
