// The tab's storage: sessionStorage, so each tab is its own user and a reload keeps
// it. One key for the session (token, name, cursors, outbox, rooms), one for the lines
// shown. Both are written in the same task as the change they record, so no reload
// can find one without the other.

const SESSION = "zchat.session";
const LINES = "zchat.lines";

export class TabStore {
  constructor(storage) {
    this.storage = storage; // null when the browser refuses storage: nothing is kept
  }

  load() {
    if (!this.storage) return null;
    try {
      const session = JSON.parse(this.storage.getItem(SESSION) || "null");
      const lines = JSON.parse(this.storage.getItem(LINES) || "null");
      return session && lines ? { session, lines } : null;
    } catch {
      return null; // unreadable: start afresh
    }
  }

  save(session, lines) {
    if (!this.storage) return;
    try {
      this.storage.setItem(SESSION, JSON.stringify(session));
      this.storage.setItem(LINES, JSON.stringify(lines));
    } catch {
      // Over quota: the chat goes on; a reload may then show less.
    }
  }

  clear() {
    if (!this.storage) return;
    this.storage.removeItem(SESSION);
    this.storage.removeItem(LINES);
  }
}
