"""What the web gateway (`zchat web`, issue 20) adds: latency, and memory per page.

    python benchmarks/gateway.py                 # ~30 s: 3,000 messages a path, 500 pages
    python benchmarks/gateway.py --quick         # ~5 s: the smoke run's sizes

It starts a broker (over ipc://, as docs/WEB.md advises: the gateway's DEALERs are not
counted per address there) and a gateway of its own, then:

* **latency**: one sender and one receiver, both joined, the sender paced at
  ``--rate`` messages a second; the time from the sender's send to the receiver's
  read, in one process on one clock, for each path:
  ``direct`` (DEALER to DEALER, what a terminal sees), ``gateway`` (WebSocket to
  WebSocket, both through the gateway: what two pages see) and ``mixed`` (a DEALER
  to a WebSocket: a terminal to a page). Their difference is what the gateway's
  two hops (a WebSocket and a DEALER each way) cost.
* **memory**: the gateway's and the broker's resident memory before and after
  ``--pages`` WebSockets that joined and stay open, per page.

Every message must arrive (a loss fails the run). Only loopback; every process it
starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import zmq
import zmq.asyncio

ZCHAT = [str(Path(sys.executable).with_name("zchat"))]
#: The sender is paced; the broker's flood control is not what is measured (systems.py).
NO_FLOOD_LIMITS = ["--rate", "1e9", "--burst", "1000000000", "--byte-rate", "1e12",
                   "--byte-burst", "1000000000000"]


def start(args: list[str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    """Start a zchat process and read its output until the line ``pattern`` finds."""
    proc = subprocess.Popen(ZCHAT + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(pattern, line)
        if found:
            # Drain the rest (the broker logs every message): a full pipe would stall it.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, found.group(1)
    raise SystemExit(f"zchat {args[0]} did not start: exit {proc.wait()}")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def frame(command: str, body: dict[str, object] | None = None) -> str:
    return f"ZCHAT/1 {command}" + (" " + json.dumps(body, ensure_ascii=False) if body else "")


def join_frame(name: str) -> str:
    return frame("JOIN", {"name": name, "token": secrets.token_hex(16)})


class Peer:
    """A joined chat user over one path: a DEALER or a WebSocket."""

    send: Callable[[str], Awaitable[None]]
    recv: Callable[[], Awaitable[str]]
    close: Callable[[], Awaitable[None]]

    @classmethod
    async def dealer(cls, ctx: zmq.asyncio.Context, endpoint: str, name: str) -> Peer:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        peer = cls()

        async def send(text: str) -> None:
            await sock.send(text.encode())

        async def recv() -> str:
            return (await sock.recv()).decode()

        async def close() -> None:
            sock.close(0)

        peer.send, peer.recv, peer.close = send, recv, close
        await peer.joined(name)
        return peer

    @classmethod
    async def page(cls, http: aiohttp.ClientSession, url: str, name: str) -> Peer:
        ws = await http.ws_connect(url + "ws", origin=url.rstrip("/"))
        peer = cls()

        async def send(text: str) -> None:
            await ws.send_str(text)

        async def recv() -> str:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise SystemExit(f"the gateway closed a page: {message.type} {message.data}")
            return str(message.data)

        async def close() -> None:
            await ws.close()

        peer.send, peer.recv, peer.close = send, recv, close
        await peer.joined(name)
        return peer

    async def joined(self, name: str) -> None:
        """JOIN, again with the same token after 3 s without WELCOME: the broker drops
        unanswered what unjoined connections send beyond its shared budget for them
        (PROTOCOL.md, Flood control), and 500 pages joining at once meet it."""
        join = join_frame(name)
        while True:
            await self.send(join)
            try:
                await asyncio.wait_for(self._welcome(), timeout=3)
                return
            except TimeoutError:
                continue

    async def _welcome(self) -> None:
        while not (await self.recv()).startswith("ZCHAT/1 WELCOME "):
            pass


def messages(text: str) -> list[dict[str, object]]:
    """The MSG events of one frame: a MSG, or those of a live batch (PROTOCOL.md, Live
    batches: a busy cycle's messages go out as one EVENTS)."""
    if text.startswith("ZCHAT/1 MSG "):
        return [json.loads(text[len("ZCHAT/1 MSG "):])]
    if text.startswith("ZCHAT/1 EVENTS "):
        body = json.loads(text[len("ZCHAT/1 EVENTS "):])
        if body.get("kind") == "live":
            return [e for e in body["events"] if e.get("type") == "MSG"]
    return []


async def latency(sender: Peer, receiver: Peer, count: int, rate: float) -> list[float]:
    """Milliseconds from send to read for ``count`` messages paced at ``rate``."""
    sent: dict[int, float] = {}
    took: list[float] = []

    async def read() -> None:
        while len(took) < count:
            text = await receiver.recv()
            now = time.perf_counter()
            for event in messages(text):
                took.append((now - sent[int(event["text"].split()[1])]) * 1000)

    reader = asyncio.create_task(read())
    start_at = time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, start_at + n / rate - time.perf_counter()))  # pacing
        sent[n] = time.perf_counter()
        await sender.send(frame("SAY", {"text": f"m {n}", "cid": n + 1}))
    await asyncio.wait_for(reader, timeout=30)
    return took


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return (f"p50 {statistics.median(ordered):6.2f}  p99 {pick(0.99):6.2f}  "
            f"max {ordered[-1]:6.2f} ms")


async def run(args: argparse.Namespace, endpoint: str, url: str, gateway_pid: int,
              broker_pid: int) -> None:
    ctx = zmq.asyncio.Context()
    # (limit=0: aiohttp would hold a client to 100 connections, pages included)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        paths = {
            "direct": (lambda n: Peer.dealer(ctx, endpoint, n),
                       lambda n: Peer.dealer(ctx, endpoint, n)),
            "gateway": (lambda n: Peer.page(http, url, n), lambda n: Peer.page(http, url, n)),
            "mixed": (lambda n: Peer.dealer(ctx, endpoint, n), lambda n: Peer.page(http, url, n)),
        }
        print(f"latency, {args.messages} messages at {args.rate:g}/s, one sender, one receiver")
        for rep in range(args.reps):
            for path, (make_sender, make_receiver) in paths.items():
                receiver = await make_receiver(f"r{rep}{path}")
                sender = await make_sender(f"s{rep}{path}")
                took = await latency(sender, receiver, args.messages, args.rate)
                print(f"  {path:8} {summary(took)}")
                for peer in (sender, receiver):
                    await peer.send(frame("LEAVE"))
                    await peer.close()

        before = rss_kib(gateway_pid), rss_kib(broker_pid)
        pages = [await Peer.page(http, url, f"p{n}") for n in range(args.pages)]
        after = rss_kib(gateway_pid), rss_kib(broker_pid)
        per = [(b - a) / max(1, args.pages) for a, b in zip(before, after, strict=True)]
        print(f"memory, {args.pages} pages joined and open: gateway {before[0] / 1024:.1f} -> "
              f"{after[0] / 1024:.1f} MiB ({per[0]:.0f} KiB a page), broker "
              f"{before[1] / 1024:.1f} -> {after[1] / 1024:.1f} MiB ({per[1]:.0f} KiB a session)")
        for page in pages:
            await page.close()
    ctx.term()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages a second")
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke run)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # (each figure as it comes)
    if args.quick:
        args.messages, args.pages, args.reps = 200, 20, 1
    folder = Path(tempfile.mkdtemp(prefix="zchat-gateway-bench-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        # A long heartbeat: these peers send no PING. No rate limit: the sender is paced.
        broker, endpoint = start(["broker", "--bind", f"ipc://{folder}/chat", "--data-dir",
                                  str(folder), "--heartbeat", "60", *NO_FLOOD_LIMITS,
                                  "--max-per-address", "100000"], r"listening on (\S+)")
        procs.append(broker)
        web, url = start(["web", "--connect", endpoint, "--listen", "127.0.0.1:0",
                          "--max-per-address", str(args.pages + 10),
                          "--max-connections", str(args.pages + 100),
                          "--idle-timeout", "600"], r"serving (http://\S+?/)")
        procs.append(web)
        asyncio.run(run(args, endpoint, url, web.pid, broker.pid))
        print("zchat web and zchat broker alive:", all(p.poll() is None for p in procs))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
