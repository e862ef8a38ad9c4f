// The DOM, and nothing else: what the session holds, drawn. Every name and text from
// the network goes in with textContent (never as markup), after wire.visible has made
// controls and bidi overrides visible.

import { visible, nameKey } from "./wire.js";
import { GLOBAL } from "./transcript.js";

const NAME_COLOURS = 12;
/** Lines near the bottom count as "at the bottom": new lines then keep it in view. */
const STICK_PX = 48;

/** A stable colour class for a name: FNV-1a of its lower-cased form. */
export function colourClass(name) {
  let hash = 0x811c9dc5;
  for (const ch of name.toLowerCase()) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `nick-${hash % NAME_COLOURS}`;
}

/** HH:MM:SS of a Unix time, local. */
export function clock(ts) {
  const d = new Date(ts * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class View {
  constructor(doc, t) {
    this.doc = doc;
    this.t = t;
    const $ = (id) => doc.getElementById(id);
    Object.assign(this, {
      joinScreen: $("join-screen"), joinForm: $("join-form"), joinName: $("join-name"),
      joinError: $("join-error"), chat: $("chat-screen"), status: $("status"),
      currentRoom: $("current-room"), topic: $("topic"), rooms: $("rooms"),
      messages: $("messages"), input: $("input"), sidebar: $("sidebar"), roomsUnread: $("rooms-unread"),
    });
    this.onSwitch = () => {};
  }

  /** Put the page's own labels in the user's language (elements with data-i18n). */
  localize() {
    this.doc.documentElement.lang = this.t.lang === "pt" ? "pt-BR" : "en";
    for (const node of this.doc.querySelectorAll("[data-i18n]")) {
      node.textContent = this.t(node.dataset.i18n);
    }
    for (const node of this.doc.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = this.t(node.dataset.i18nPlaceholder);
    }
    for (const node of this.doc.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", this.t(node.dataset.i18nLabel));
    }
  }

  showJoin(error) {
    this.chat.hidden = true;
    this.joinScreen.hidden = false;
    this.joinError.textContent = error || "";
    this.joinError.hidden = !error;
    delete this.doc.body.dataset.me;
    this.messages.replaceChildren();
    this.rooms.replaceChildren();
    this.joinName.focus();
  }

  showChat(session) {
    this.joinScreen.hidden = true;
    this.chat.hidden = false;
    this.render(session);
    this.input.focus();
  }

  setState(state) {
    this.status.dataset.state = state;
    this.status.textContent = this.t(`ui.state_${state}`);
    this.input.disabled = state === "stopped";
  }

  setMe(name) {
    this.doc.body.dataset.me = name;
  }

  /** Everything: the sidebar, the current room's header and its lines. */
  render(session) {
    this.renderRooms(session);
    const lines = session.transcript.view(session.current);
    this.messages.replaceChildren(...lines.map((line) => this.line(line, session)));
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  renderRooms(session) {
    const key = session.current;
    const name = key === null ? "" : session.roomName(key);
    this.currentRoom.textContent = visible(name || "zchat");
    const topic = key === null ? "" : session.topics[key] || "";
    this.topic.textContent = visible(topic);
    this.topic.hidden = !topic;
    const items = Object.keys(session.rooms).sort().map((room) => this.roomItem(session, room));
    this.rooms.replaceChildren(...items);
    // On a phone the sidebar is folded away: its button says that other rooms have news.
    const counted = Object.entries(session.unread).filter(([room, n]) => room in session.rooms && n);
    const total = counted.reduce((sum, [, n]) => sum + n, 0);
    const more = counted.some(([room]) => session.unreadMore?.[room]) ? "+" : "";
    this.roomsUnread.textContent = total ? `${total}${more}` : "";
    this.roomsUnread.hidden = !total;
  }

  roomItem(session, key) {
    const item = el("li", "room");
    item.dataset.room = key;
    if (key === session.current) {
      item.classList.add("current");
      item.setAttribute("aria-current", "true");
    }
    const button = el("button", "room-button");
    button.type = "button";
    button.append(el("span", "room-name", visible(session.roomName(key))));
    const count = session.unread[key] || 0;
    const more = count && session.unreadMore?.[key] ? "+" : ""; // (UNREAD counted 100 and more)
    const unread = el("span", "unread", count ? `${count}${more}` : "");
    unread.hidden = !count;
    if (count) unread.title = this.t("ui.unread", { count });
    button.append(unread);
    button.addEventListener("click", () => {
      this.doc.body.classList.remove("rooms-open");
      this.onSwitch(key);
    });
    item.append(button);
    return item;
  }

  /** A line just shown: drawn if it belongs to the current view. */
  addLine(line, session) {
    if (line.bucket !== GLOBAL && line.bucket !== session.current) return;
    const atBottom = this.messages.scrollHeight - this.messages.scrollTop
      - this.messages.clientHeight < STICK_PX;
    this.messages.append(this.line(line, session));
    if (atBottom || line.own) this.messages.scrollTop = this.messages.scrollHeight;
  }

  /** A line changed (our message acknowledged or refused): redraw it in place. */
  updateLine(line) {
    const old = this.messages.querySelector(`.line[data-n="${line.n}"]`);
    if (old) old.replaceWith(this.line(line, null));
  }

  line(line, session) {
    const node = el("div", `line ${line.kind}`);
    node.dataset.n = String(line.n);
    node.dataset.kind = line.kind;
    if (line.room !== undefined && line.kind !== "priv") node.dataset.room = line.room;
    if (line.seq) node.dataset.seq = String(line.seq);
    if (line.tag) node.dataset.tag = line.tag;
    if (line.own) node.classList.add("own");
    if (line.pending) {
      node.classList.add("pending");
      node.title = this.t("ui.pending");
    }
    if (line.failed) {
      node.classList.add("failed");
      node.title = this.t("ui.failed");
    }
    if (line.kind === "found") { // a search result: its number, for /around N
      node.dataset.number = String(line.number);
      node.append(el("span", "number", `[${line.number}]`));
    }
    node.append(el("span", "time", clock(line.ts)));
    if (line.tag) node.append(el("span", "tag", this.t(`client.tag_${line.tag}`)));
    if (line.where) node.append(el("span", "where", visible(line.where)));
    if (line.kind === "priv" || (line.kind === "found" && line.priv)) {
      if (line.kind === "found") node.classList.add("priv-hit");
      node.dataset.from = line.from;
      node.dataset.to = line.to;
      node.append(el("span", "marker", this.t("client.private")));
      const shown = line.mine ? this.t("client.private_to", { name: visible(line.to) }) : visible(line.from);
      node.append(el("span", `from ${colourClass(line.mine ? line.to : line.from)}`, shown));
    } else if (line.kind === "msg" || line.kind === "found") {
      node.dataset.from = line.from;
      node.append(el("span", `from ${colourClass(line.from)}`, visible(line.from)));
    }
    // (notices are our own text, with peers' names already made visible)
    const fromPeer = line.kind === "msg" || line.kind === "priv" || line.kind === "found";
    const text = fromPeer ? visible(line.text) : line.text;
    node.append(el("span", "text", text));
    if (session && session.me && line.kind === "msg" && !line.own
        && nameKey(line.from) === nameKey(session.me)) node.classList.add("own");
    return node;
  }
}
