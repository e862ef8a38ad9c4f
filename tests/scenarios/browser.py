"""Drive the web client in a real browser: Debian's Chromium, through Playwright.

Nothing here downloads a browser: Playwright is pointed at the installed one
(/usr/bin/chromium, or ZCHAT_CHROMIUM). Without one the browser scenarios skip
with a reason, except where ZCHAT_REQUIRE_BROWSER=1 (CI), where they fail.

A `WebUser` is one tab: it types into the page's input line as a person would
and reads back the lines the page shows, through the hooks web/ keeps for this
(docs/WEB.md, The page's hooks). Every wait is a bounded condition on the page.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .harness import Cluster, Proc

#: How long a page may take to show what a test waits for.
PAGE_TIMEOUT_MS = 10_000

#: Chromium as root in a sandbox without a screen, and without reaching out: no
#: background networking, updates or sync (their connections are refused here).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str:
    """The installed Chromium, or skip (fail with ZCHAT_REQUIRE_BROWSER=1)."""
    found = os.environ.get("ZCHAT_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    problem = None
    if not found:
        problem = "Chromium is not installed (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[test]')"
    if problem:
        if os.environ.get("ZCHAT_REQUIRE_BROWSER") == "1":
            pytest.fail(problem + " (ZCHAT_REQUIRE_BROWSER=1)")
        pytest.skip(problem)
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (each user gets a context of its own)."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def gateway(chat: Cluster, connect: str, *extra: str, port: int = 0,
            wait: bool = True) -> tuple[Proc, str]:
    """Start `zchat web` for ``connect``; returns it and the page's URL."""
    proc = chat.spawn(["web", "--connect", connect, "--listen", f"127.0.0.1:{port}", *extra],
                      use_pty=False, label="web")
    if not wait:
        return proc, ""
    match = proc.expect(r"serving (http://\S+?/)")
    return proc, match.group(1)


@dataclass
class Line:
    """One line the page shows."""

    kind: str
    sender: str
    text: str
    room: str
    tag: str
    seq: int


class WebUser:
    """One browser tab on the chat page, used as a person would."""

    def __init__(self, browser: Any, url: str, lang: str = "en-US",
                 viewport: tuple[int, int] = (1024, 720)) -> None:
        self.context = browser.new_context(
            locale=lang, viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)
        self.url = url
        self.page.goto(url)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    # ---- acting ------------------------------------------------------------

    def join(self, name: str) -> WebUser:
        """Type a name on the join form and wait until the chat is online."""
        self.page.fill("#join-name", name)
        self.page.click("#join-button")
        self.wait_state("online")
        return self

    def type(self, text: str) -> None:
        """Type one line into the input and press Enter."""
        self.page.fill("#input", text)
        self.page.press("#input", "Enter")

    def reload(self) -> None:
        self.page.reload()

    def close(self) -> None:
        self.context.close()

    # ---- reading -----------------------------------------------------------

    def state(self) -> str:
        return self.page.get_attribute("#status", "data-state") or ""

    def wait_state(self, state: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
        self.page.wait_for_function(
            "s => document.querySelector('#status')?.dataset.state === s", arg=state,
            timeout=timeout_ms)

    def lines(self) -> list[Line]:
        """Every line shown in the messages pane, in order."""
        raw = self.page.eval_on_selector_all("#messages .line", """els => els.map(e => ({
            kind: e.dataset.kind || '', sender: e.dataset.from || '',
            text: (e.querySelector('.text') || e).textContent,
            room: e.dataset.room || '', tag: e.dataset.tag || '',
            seq: Number(e.dataset.seq || 0)}))""")
        return [Line(r["kind"], r["sender"], r["text"], r["room"], r["tag"], r["seq"])
                for r in raw]

    def texts(self, kind: str = "msg") -> list[str]:
        return [line.text for line in self.lines() if line.kind == kind]

    def expect_text(self, pattern: str, kind: str | None = None,
                    timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
        """Wait until a shown line's text (of ``kind``, if given) matches ``pattern``."""
        self.page.wait_for_function(
            """([pattern, kind]) => {
                const re = new RegExp(pattern);
                return [...document.querySelectorAll('#messages .line')].some(e =>
                    (!kind || e.dataset.kind === kind) &&
                    re.test((e.querySelector('.text') || e).textContent));
            }""", arg=[pattern, kind], timeout=timeout_ms)

    def count(self, pattern: str, kind: str = "msg") -> int:
        regex = re.compile(pattern)
        return sum(1 for line in self.lines() if line.kind == kind and regex.search(line.text))

    def room_list(self) -> dict[str, str]:
        """The rooms in the sidebar: name -> its unread badge's text."""
        raw = self.page.eval_on_selector_all("#rooms .room", """els => els.map(e => [
            e.dataset.room, (e.querySelector('.unread')?.textContent || '').trim()])""")
        return {name: unread for name, unread in raw}
