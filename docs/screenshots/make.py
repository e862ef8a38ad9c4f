"""Make the README's pictures of the web client from a real chat, by hand:

    python docs/screenshots/make.py

It starts a broker and a gateway of its own on free loopback ports, two people in
Debian's Chromium (Playwright, pointed at /usr/bin/chromium) and one more over raw
ZCHAT/1, has them talk in two rooms and in private, and saves what ana's page
looks like on a desk (web-client.png) and bia's on a phone (web-client-phone.png).
Every process it started is stopped at the end, by PID.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
ZCHAT = [str(Path(sys.executable).with_name("zchat"))]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def start(args: list[str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    """Start a zchat process and wait for the line that says where it listens."""
    proc = subprocess.Popen(ZCHAT + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 15
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(pattern, line)
        if found:
            return proc, found.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"{args[0]} did not start")


def frame(command: str, body: str = "") -> bytes:
    return f"ZCHAT/1 {command}{' ' + body if body else ''}".encode()


def typed(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def shown(page: Page, text: str) -> None:
    page.wait_for_function(
        "t => [...document.querySelectorAll('#messages .line .text')]"
        ".some(e => e.textContent === t)", arg=text, timeout=10_000)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="zchat-shots-"))
    # (A long heartbeat: carlos, a raw DEALER, sends no PING.)
    broker, endpoint = start(["broker", "--bind", "tcp://127.0.0.1:*", "--data-dir",
                              str(folder), "--heartbeat", "60"], r"listening on (\S+)")
    web, url = start(["web", "--connect", endpoint, "--listen", "127.0.0.1:0"],
                     r"serving (http://\S+?/)")
    ctx = zmq.Context()
    carlos = ctx.socket(zmq.DEALER)
    carlos.connect(endpoint)
    token = secrets.token_hex(16)
    carlos.send(frame("JOIN", f'{{"name":"carlos","token":"{token}"}}'))
    try:
        with sync_playwright() as play:
            chromium = play.chromium.launch(executable_path=os.environ.get(
                "ZCHAT_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            desk = chromium.new_context(locale="pt-BR", viewport={"width": 1100, "height": 640})
            phone = chromium.new_context(locale="en-GB", viewport={"width": 375, "height": 667},
                                         device_scale_factor=2)
            ana, bia = desk.new_page(), phone.new_page()
            for page, name in ((ana, "ana"), (bia, "bia")):
                page.goto(url)
                page.fill("#join-name", name)
                page.click("#join-button")
                page.wait_for_function("() => document.querySelector('#status')"
                                       "?.dataset.state === 'online'")
            typed(ana, "bom dia! alguém viu o deploy de ontem?")
            shown(bia, "bom dia! alguém viu o deploy de ontem?")
            carlos.send(frame("SAY", '{"text":"vi sim, saiu às 18h","cid":1}'))
            shown(ana, "vi sim, saiu às 18h")
            typed(bia, "/join #dev")
            typed(ana, "/join #dev")
            bia.wait_for_selector('#messages .line[data-kind="joined"] >> text=ana')
            typed(bia, "the build is green again")
            shown(ana, "the build is green again")
            typed(ana, "/topic releases e CI")
            typed(ana, "ótimo, obrigada!")
            carlos.send(frame("ENTER", '{"room":"#dev"}'))
            carlos.send(frame("SAY", '{"text":"<script>alert(1)</script> is just text here",'
                                     '"room":"#dev","cid":2}'))
            shown(ana, "<script>alert(1)</script> is just text here")
            typed(bia, "@ana can you review my PR later?")
            shown(ana, "can you review my PR later?")
            ana.click('#rooms .room[data-room="#dev"]')
            ana.screenshot(path=str(HERE / "web-client.png"))
            bia.screenshot(path=str(HERE / "web-client-phone.png"))
            chromium.close()
    finally:
        carlos.close(0)
        ctx.term()
        for proc in (web, broker):
            proc.terminate()
            proc.wait(10)
    print("saved", HERE / "web-client.png", "and", HERE / "web-client-phone.png")


if __name__ == "__main__":
    main()
