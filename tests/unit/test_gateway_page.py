"""The gateway's page, served from a folder of the test's own (the app factory takes
the folder): types, the security headers, HTML not cached, only GET and HEAD, no
listing and nothing outside the folder. No WebSocket is opened here (the scenarios
do that against a real broker)."""

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from zchat.gateway.app import CSP, Gateway
from zchat.gateway.settings import Settings


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "page"
    (root / "js").mkdir(parents=True)
    (root / "css").mkdir()
    (root / "index.html").write_text("<!doctype html><title>zchat</title>", encoding="utf-8")
    (root / "js" / "app.js").write_text("'use strict';", encoding="utf-8")
    (root / "css" / "chat.css").write_text("body{}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("root:x:0:0", encoding="utf-8")
    return root


def test_the_page_is_served_with_its_headers(tmp_path):
    gateway = Gateway(Settings("tcp://127.0.0.1:9"), _folder(tmp_path))

    async def scenario() -> None:
        async with TestClient(TestServer(gateway.app())) as client:
            index = await client.get("/")
            assert index.status == 200
            assert await index.text() == "<!doctype html><title>zchat</title>"
            assert index.headers["Content-Type"] == "text/html; charset=utf-8"
            assert index.headers["Cache-Control"] == "no-cache"
            assert index.headers["Content-Security-Policy"] == CSP
            assert index.headers["X-Content-Type-Options"] == "nosniff"
            assert index.headers["Referrer-Policy"] == "no-referrer"
            assert index.headers["X-Frame-Options"] == "DENY"
            script = await client.get("/js/app.js")
            assert script.status == 200
            assert script.headers["Content-Type"].startswith("text/javascript")
            assert "Cache-Control" not in script.headers
            assert script.headers["Content-Security-Policy"] == CSP
            head = await client.head("/css/chat.css")
            assert head.status == 200 and head.headers["Content-Type"].startswith("text/css")
            for method in ("POST", "PUT", "DELETE", "OPTIONS"):
                assert (await client.request(method, "/")).status == 405
            for path in ("/js/", "/js", "/missing.html", "/.hidden"):
                missing = await client.get(path)
                assert missing.status == 404, path
                assert missing.headers["Content-Security-Policy"] == CSP

    try:
        asyncio.run(scenario())
    finally:
        gateway.close()
