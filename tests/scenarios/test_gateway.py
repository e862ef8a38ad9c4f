"""zchat web, the WebSocket gateway (docs/WEB.md): a real broker, a real gateway and
real terminal clients; the test speaks to the gateway as a browser page would, with
aiohttp's WebSocket client, in ZCHAT/1 frames.

Every blocking wait on a process (Proc.expect) runs in a thread, so the page's own
PINGs keep going meanwhile, as a browser's would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from zchat.protocol import (
    BrokerMessage,
    Entered,
    Msg,
    Parted,
    Priv,
    Welcome,
    decode_broker,
)

from .frames import live_events
from .harness import Cluster, Proc, zchat_command

#: The broker's heartbeat here: long enough that a page's PINGs (every PAGE_PING) never
#: miss three intervals, short enough that a lost session shows within a second or two.
H = 0.5
PAGE_PING = 0.15
WAIT = 8.0


# ---- the gateway and the page ------------------------------------------------------

def gateway(chat: Cluster, endpoint: str, *extra: str) -> tuple[Proc, str]:
    """A `zchat web` for ``endpoint`` on a free port; (its process, its base URL)."""
    proc = chat.spawn(["web", "--connect", endpoint, "--listen", "127.0.0.1:0",
                       "--lang", "en", *extra], use_pty=False, label="web")
    url = proc.expect(r"serving (http://127\.0\.0\.1:\d+)/ \(broker ").group(1)
    return proc, url


def frame(command: str, **body: Any) -> str:
    return f"ZCHAT/1 {command} {json.dumps(body)}" if body else f"ZCHAT/1 {command}"


class Page:
    """One WebSocket, as the browser page uses it: it PINGs every PAGE_PING once
    joined, and reads what comes, text (the DEALER) and binary (the feed) apart."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.token = secrets.token_hex(16)
        self._pinger: asyncio.Task[None] | None = None

    async def send(self, command: str, **body: Any) -> None:
        await self.ws.send_str(frame(command, **body))

    async def join(self, name: str, resume: bool = False, token: str | None = None) -> Welcome:
        if token is not None:
            self.token = token
        await self.send("JOIN", name=name, token=self.token, **({"resume": True} if resume
                                                                  else {}))
        welcome = await self.next(lambda m: isinstance(m, Welcome), "WELCOME")
        assert isinstance(welcome, Welcome)
        self._pinger = asyncio.get_running_loop().create_task(self._ping())
        return welcome

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not self.ws.closed:
                await self.ws.send_str("ZCHAT/1 PING")
                await asyncio.sleep(PAGE_PING)  # (the page's heartbeat, not a sync)

    async def next(self, wanted: Callable[[BrokerMessage], bool], what: str,
                   binary: bool | None = False, timeout: float = WAIT) -> BrokerMessage:
        """The next event (alone or in a live batch) that is ``wanted``, from the DEALER
        (text), the feed (binary: ``binary=True``) or either (None)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                break
            if msg.type is aiohttp.WSMsgType.TEXT:
                data, is_binary = str(msg.data).encode(), False
            elif msg.type is aiohttp.WSMsgType.BINARY:
                data, is_binary = bytes(msg.data), True
            else:
                raise AssertionError(f"waiting for {what}: the WebSocket closed "
                                     f"({self.ws.close_code})")
            if binary is not None and is_binary != binary:
                continue
            for event in live_events(decode_broker(data)):
                if wanted(event):
                    return event
        raise AssertionError(f"no {what} within {timeout}s")

    async def close_code(self, timeout: float = WAIT) -> int | None:
        """Read until the gateway closes the WebSocket; its close code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            msg = await self.ws.receive(timeout=left)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return self.ws.close_code
        raise AssertionError(f"the gateway did not close the WebSocket within {timeout}s")

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        await self.ws.close()


@contextlib.asynccontextmanager
async def page(session: aiohttp.ClientSession, url: str,
               origin: str | None = "") -> AsyncIterator[Page]:
    """A WebSocket to the gateway at ``url``, from the page's own origin unless told."""
    headers = {} if origin is None else {"Origin": origin or url}
    ws = await session.ws_connect(url + "/ws", headers=headers, autoping=True)
    opened = Page(ws)
    try:
        yield opened
    finally:
        await opened.close()


async def in_thread(call: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """A blocking wait on a process, without stopping the page's loop."""
    return await asyncio.to_thread(call, *args, **kw)


def is_msg(text: str, room: str = "") -> Callable[[BrokerMessage], bool]:
    return lambda m: isinstance(m, Msg) and m.text == text and m.room == room


# ---- chatting ----------------------------------------------------------------------

def test_a_page_and_a_terminal_chat_both_ways(chat):
    broker = chat.broker(heartbeat=H)
    _, url = gateway(chat, broker.endpoint)
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, page(session, url) as web:
            welcome = await web.join("webby")
            assert welcome.session == web.token and set(welcome.users) == {"ana", "bob"}
            await in_thread(ana.expect, r"webby joined")
            ana.line("oi web")
            await web.next(is_msg("oi web"), "ana's MSG")
            await web.send("SAY", text="oi ana", cid=1)
            await in_thread(ana.expect, r"webby: oi ana")
            ana.line("@webby segredo")
            priv = await web.next(lambda m: isinstance(m, Priv) and m.text == "segredo",
                                  "ana's PRIV")
            assert isinstance(priv, Priv) and priv.sender == "ana" and priv.to == "webby"
            await web.send("TELL", to="ana", text="psiu", cid=2)
            await in_thread(ana.expect, r"\(private\) webby: psiu")
            await web.send("SAY", text="fim", cid=3)
            await in_thread(bob.expect, r"webby: fim")
            bob.assert_not_seen("psiu")
            bob.assert_not_seen("segredo")

    asyncio.run(scenario())


# ---- what the gateway refuses --------------------------------------------------------

def test_too_big_binary_origin_and_limits(chat):
    broker = chat.broker(heartbeat=H)
    web_proc, url = gateway(chat, broker.endpoint, "--max-per-address", "2",
                            "--allow-origin", "https://chat.example.org")

    async def refused(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(url + "/ws", headers=headers)
        return caught.value.status

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            # the broker's frame bound: 16384 octets pass (and are answered), one more closes
            async with page(session, url) as web:
                await web.ws.send_str("x" * 16384)
                await web.next(lambda m: getattr(m, "code", "") == "BAD_SIGNATURE",
                               "the broker's ERROR")
                await web.ws.send_str("é" * 8192 + "x")  # 16385 octets, 8193 characters
                assert await web.close_code() == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            async with page(session, url) as web:
                await web.ws.send_bytes(b"ZCHAT/1 PING")
                assert await web.close_code() == aiohttp.WSCloseCode.UNSUPPORTED_DATA
            assert await refused(session, {"Origin": "http://evil.example"}) == 403
            assert await refused(session, {}) == 403
            assert await refused(session, {"Origin": "null"}) == 403
            async with page(session, url, origin="https://chat.example.org") as one, \
                    page(session, url) as two:
                assert await refused(session, {"Origin": url}) == 429
                await one.join("um")
                await two.join("dois")
            # both closed: the address may open again
            async with page(session, url) as three:
                await three.join("tres")

    asyncio.run(scenario())
    web_proc.expect(r"refused: Origin is not this page's", anywhere=True)
    web_proc.expect(r"refused: too many WebSockets from this address", anywhere=True)


def test_an_idle_page_is_closed_with_1008(chat):
    broker = chat.broker(heartbeat=H)
    _, url = gateway(chat, broker.endpoint, "--idle-timeout", "1")

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, page(session, url) as web:
            assert await web.close_code(timeout=4) == aiohttp.WSCloseCode.POLICY_VIOLATION

    asyncio.run(scenario())


def test_security_headers_and_no_way_out_of_the_page(chat, tmp_path):
    broker = chat.broker(heartbeat=H)
    _, url = gateway(chat, broker.endpoint)
    port = int(url.rsplit(":", 1)[1])

    async def raw_get(path: str) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), WAIT)
        writer.close()
        return int(answer.split(b" ", 2)[1]), answer

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/") as response:
                headers = response.headers
            assert headers["Content-Security-Policy"].startswith("default-src 'none'; ")
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["X-Frame-Options"] == "DENY"
            async with session.post(url + "/") as response:
                assert response.status == 405
            async with session.get(url + "/ws") as response:  # not an upgrade
                assert response.status in (400, 403)
        for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                     "/..%2f..%2f..%2fetc%2fpasswd", "/js/..%5c..%5cetc/passwd",
                     "/%252e%252e/etc/passwd", "/.%2e/.%2e/etc/passwd"):
            status, answer = await raw_get(path)
            assert status in (400, 403, 404), (path, status)
            assert b"root:" not in answer, path

    asyncio.run(scenario())


# ---- parking: a reload without a leave ----------------------------------------------

def test_a_reload_within_the_grace_resumes_without_a_leave(chat):
    broker = chat.broker(heartbeat=H)
    web_proc, url = gateway(chat, broker.endpoint, "--resume-grace", "10")
    ana = chat.client("ana", broker.endpoint)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with page(session, url) as first:
                await first.join("webby")
                token = first.token
            await in_thread(web_proc.expect, r"session of 127\.0\.0\.1 parked")
            # longer than the broker needs to see a closed connection (a PING, H):
            with pytest.raises(AssertionError):
                await in_thread(ana.expect, r"webby left", timeout=3 * H)
            async with page(session, url) as second:
                welcome = await second.join("webby", resume=True, token=token)
                assert welcome.resumed
                await second.send("SAY", text="voltei", cid=1)
                await in_thread(ana.expect, r"webby: voltei")
                ana.line("bem-vindo de volta")
                await second.next(is_msg("bem-vindo de volta"), "ana's MSG")
                ana.assert_not_seen(r"webby left")
                assert ana.count(r"webby joined") == 1

    asyncio.run(scenario())


def test_after_the_grace_the_others_see_the_leave(chat):
    broker = chat.broker(heartbeat=H)
    web_proc, url = gateway(chat, broker.endpoint, "--resume-grace", "1")
    ana = chat.client("ana", broker.endpoint)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with page(session, url) as web:
                await web.join("webby")
                await in_thread(ana.expect, r"webby joined")
            await in_thread(ana.expect, r"webby left", timeout=WAIT)
        web_proc.expect(r"parked session of 127\.0\.0\.1 closed", anywhere=True)

    asyncio.run(scenario())


def test_a_page_that_leaves_is_not_parked(chat):
    broker = chat.broker(heartbeat=H)
    web_proc, url = gateway(chat, broker.endpoint, "--resume-grace", "10")
    ana = chat.client("ana", broker.endpoint)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, page(session, url) as web:
            await web.join("webby")
            await web.send("LEAVE")
            await web.next(lambda m: type(m).__name__ == "Bye", "BYE")
        await in_thread(ana.expect, r"webby left the chat \(left\)")

    asyncio.run(scenario())
    web_proc.assert_not_seen("parked")


# ---- pub mode ------------------------------------------------------------------------

def test_pub_mode_the_feed_arrives_as_binary_and_follows_rooms(chat):
    chat.fanout = "pub"
    broker = chat.broker(heartbeat=H)
    _, url = gateway(chat, broker.endpoint)
    ana = chat.client("ana", broker.endpoint)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, page(session, url) as web, \
                page(session, url) as talker:
            welcome = await web.join("webby")
            assert welcome.fanout == "pub"
            await talker.join("talker")
            # the feed's subscription may lag its WELCOME: ana says it again until it is in
            for attempt in range(20):
                ana.line(f"pelo feed {attempt}")
                with contextlib.suppress(AssertionError):
                    got = await web.next(lambda m: isinstance(m, Msg) and m.sender == "ana",
                                         "ana's MSG on the feed", binary=True, timeout=0.5)
                    break
            else:
                raise AssertionError("ana's MSG never came on the feed")
            assert isinstance(got, Msg) and got.text.startswith("pelo feed")

            await web.send("ENTER", room="#sala")
            await web.next(lambda m: isinstance(m, Entered) and m.room == "#sala", "ENTERED")
            await talker.send("ENTER", room="#Sala")
            await talker.next(lambda m: isinstance(m, Entered), "ENTERED")
            for cid in range(1, 21):
                await talker.send("SAY", text=f"na sala {cid}", room="#sala", cid=cid)
                with contextlib.suppress(AssertionError):
                    await web.next(lambda m: isinstance(m, Msg) and m.room == "#sala",
                                   "a MSG of #sala on the feed", binary=True, timeout=0.5)
                    break
            else:
                raise AssertionError("#sala's MSG never came on the feed")

            await web.send("PART", room="#sala")
            await web.next(lambda m: isinstance(m, Parted), "PARTED")
            await talker.send("SAY", text="depois do part", room="#sala", cid=30)
            await talker.send("SAY", text="no geral", cid=31)
            seen: list[BrokerMessage] = []

            def collect(m: BrokerMessage) -> bool:
                seen.append(m)
                return isinstance(m, Msg) and m.text == "no geral"

            await web.next(collect, "talker's MSG in the default room", binary=True)
            assert not [m for m in seen if isinstance(m, Msg) and m.room == "#sala"], seen

    asyncio.run(scenario())


# ---- stopping, and the command line ----------------------------------------------------

def test_sigterm_closes_every_websocket_with_1001_and_exits_0(chat):
    broker = chat.broker(heartbeat=H)
    web_proc, url = gateway(chat, broker.endpoint)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, page(session, url) as web, \
                page(session, url) as other:
            await web.join("webby")
            web_proc.signal(signal.SIGTERM)
            assert await web.close_code() == aiohttp.WSCloseCode.GOING_AWAY
            assert await other.close_code() == aiohttp.WSCloseCode.GOING_AWAY

    asyncio.run(scenario())
    assert web_proc.wait() == 0


@pytest.mark.parametrize(("args", "said"), [
    (["--listen", "nonsense"], "expected HOST:PORT"),
    (["--listen", "127.0.0.1:70000"], "0 to 65535"),
    (["--connect", "udp://127.0.0.1:1"], "expected tcp://HOST:PORT or ipc://PATH"),
    (["--allow-origin", "chat.example.org"], "expected http://HOST"),
    (["--max-per-address", "0"], "--max-per-address"),
    (["--idle-timeout", "nan"], "--idle-timeout"),
    (["--forwarded-by", "proxy.local"], "expected an IP address"),
    (["--key", __file__], "--server-key and --key go together"),
])
def test_bad_arguments_are_a_usage_error(args, said):
    result = subprocess.run([*zchat_command(), "web", *args], capture_output=True,
                            text=True, timeout=WAIT, check=False)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def test_an_encrypted_broker_through_the_gateways_key(chat):
    folder = chat.tmp / "keys"
    for name in ("server", "gateway"):
        assert chat.spawn(["keygen", name, "--dir", str(folder)], use_pty=False).wait() == 0
    broker = chat.broker("--curve-secret", str(folder / "server.key_secret"), heartbeat=H)
    web_proc, url = gateway(chat, broker.endpoint, "--server-key", str(folder / "server.key"),
                            "--key", str(folder / "gateway.key_secret"))
    web_proc.expect(r"must list this gateway's public key .*gateway\.key\) with "
                    r"--gateway-keys", anywhere=True)
    _, plain_url = gateway(chat, broker.endpoint)  # without keys: no handshake, no WELCOME

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with page(session, url) as web:
                welcome = await web.join("webby")
                assert welcome.name == "webby"
            async with page(session, plain_url) as plain:
                await plain.send("JOIN", name="plain", token=plain.token)
                with pytest.raises(AssertionError):
                    await plain.next(lambda m: isinstance(m, Welcome), "WELCOME", timeout=1.5)

    asyncio.run(scenario())
