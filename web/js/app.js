// Wiring: the texts in the browser's language, the view, the session, and the forms.

import { catalogue, pickLanguage } from "./i18n.js";
import { View } from "./view.js";
import { Session, socketUrl } from "./session.js";
import { TabStore } from "./store.js";

function tabStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage refused (privacy settings): the chat works, a reload forgets
  }
}

function main() {
  const t = catalogue(pickLanguage(navigator.language));
  const view = new View(document, t);
  view.localize();
  if (typeof WebSocket !== "function") {
    view.showJoin(t("ui.no_websocket"));
    return;
  }
  const session = new Session({
    url: socketUrl(window.location), store: new TabStore(tabStorage()), view, t, WebSocket,
  });
  view.onSwitch = (key) => session.switchRoom(key);

  document.getElementById("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = session.start(document.getElementById("join-name").value);
    if (problem) view.showJoin(problem);
  });
  document.getElementById("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("input");
    const line = input.value;
    input.value = "";
    session.input(line);
  });
  document.getElementById("rooms-toggle").addEventListener("click", () => {
    document.body.classList.toggle("rooms-open");
  });
  document.getElementById("leave-button").addEventListener("click", () => session.input("/quit"));
  // A tab in the background may have its timers slowed: look at the clock when it is back.
  document.addEventListener("visibilitychange", () => session.tick());

  if (!session.restore()) view.showJoin("");
}

main();
