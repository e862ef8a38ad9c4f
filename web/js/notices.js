// Lines about read state and moderation, in the user's words. Pure. A port of
// client/render.py's unread, dms and moderated (the page shows each as one notice).

import { visible } from "./wire.js";

const pad = (n) => String(n).padStart(2, "0");

/** HH:MM of a Unix time, local. */
export function hourMinute(ts) {
  const d = new Date(ts * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** YYYY-MM-DD HH:MM of a Unix time, local. */
export function dateTime(ts) {
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hourMinute(ts)}`;
}

const countOf = (item) => (item.more ? `${item.unread}+` : String(item.unread));

/** UNREAD as one line ("3 unread in #dev, 1 mention(s) of you in #dev, 2 unread from
 * bob"); ``nameOf``: a room key's name as shown. null: nothing unread. */
export function unreadLine(t, items, nameOf) {
  const parts = [];
  for (const item of items) {
    const count = countOf(item);
    if (item.key.startsWith("@")) {
      parts.push(t("client.unread_from", { count, name: visible(item.key.slice(1)) }));
      continue;
    }
    const room = visible(nameOf(item.key));
    parts.push(t("client.unread_in", { count, room }));
    if (item.mentions) parts.push(t("client.unread_mentions", { count: item.mentions, room }));
  }
  return parts.length ? parts.join(", ") : null;
}

/** The answer to DMS: a heading, then one line per conversation. */
export function dmsText(t, items, hhmm = hourMinute) {
  if (!items.length) return t("client.dms_none");
  return [t("client.dms", { count: items.length }), ...items.map((item) => t("client.dm_line", {
    name: visible(item.key.slice(1)), count: countOf(item), time: hhmm(item.ts) }))].join("\n");
}

/** What an operator did (MODERATED), in our words; an op we do not know, plainly. */
export function moderatedText(t, told, when = dateTime) {
  let until = "";
  if (told.until && (told.op === "ban" || told.op === "mute")) {
    until = t("client.mod_until", { time: when(told.until) });
  }
  const reason = told.reason ? t("client.mod_reason", { reason: visible(told.reason) }) : "";
  const key = told.op === "slow" && !told.until ? "client.mod_slow_off" : `client.mod_${told.op}`;
  if (!/^[a-z]+$/.test(told.op) || !t.has(key)) {
    return `${visible(told.by)}: ${visible(told.op)} ${visible(told.name)}`;
  }
  return t(key, { by: visible(told.by), name: visible(told.name), room: visible(told.room),
    until, reason, seconds: Math.trunc(told.until) });
}
