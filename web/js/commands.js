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
//   /help            the commands; /quit, /sair or `sair` (any case) leaves
//   //text           a message that starts with '/'
//
// Portuguese names too: /entrar, /deixar, /salas, /quem, /topico, /ajuda.
// A room may be typed without its '#' where only a room can be meant (/join sala).
// Each command is a plain object {type, ...}.

import { ROOM_PREFIX } from "./wire.js";

/** /who's argument for everyone online, whatever room one is in. */
export const EVERYONE = "*";

const QUIT_WORDS = new Set(["sair", "/quit", "/sair", "/exit"]);

const room = (word) => (word.startsWith(ROOM_PREFIX) ? word : ROOM_PREFIX + word);

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
    case "/msg":
      if (!arg) return { type: "usage", command: "msg" };
      if (arg.startsWith(ROOM_PREFIX)) return { type: "roomSay", room: arg, text };
      return { type: "private", to: arg, text };
    default:
      return { type: "unknown", command: firstWord(stripped)[0] };
  }
}
