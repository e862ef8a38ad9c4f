"""The gateway's pure parts: the Origin check, addresses, the limits, the page's
paths, the log throttle and which feed to dial (docs/WEB.md)."""

from pathlib import Path, PurePosixPath

import pytest

from zchat.gateway.address import address_key, client_address, loopback, parse_listen
from zchat.gateway.feed import feed_endpoint
from zchat.gateway.limits import IN_ALL, PER_ADDRESS, Admission
from zchat.gateway.origin import normal_origin, origin_option_problem, origin_problem
from zchat.gateway.static import content_type, relative_path, resolve
from zchat.gateway.throttle import Throttle

ALLOWED = frozenset({normal_origin("https://Chat.Example.org/")})


@pytest.mark.parametrize(("origin", "host", "ok"), [
    ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
    ("https://chat.example.org", "chat.example.org", True),  # behind a TLS proxy
    ("HTTP://Chat.Example.ORG", "chat.example.org", True),
    ("https://chat.example.org", "gateway.internal:8080", True),  # an --allow-origin
    ("http://127.0.0.1:8081", "127.0.0.1:8080", False),  # another port is another origin
    ("http://evil.example", "127.0.0.1:8080", False),
    ("http://127.0.0.1:8080.evil.example", "127.0.0.1:8080", False),
    ("null", "127.0.0.1:8080", False),
    ("", "127.0.0.1:8080", False),
    (None, "127.0.0.1:8080", False),
    ("ws://127.0.0.1:8080", "127.0.0.1:8080", False),
    ("http://127.0.0.1:8080", None, False),
])
def test_the_origin_check(origin, host, ok):
    assert (origin_problem(origin, host, ALLOWED) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("https://chat.example.org", True), ("http://localhost:8080", True),
    ("chat.example.org", False), ("ftp://x", False), ("https://", False),
    ("https://chat.example.org/page", False), ("https://a b", False),
])
def test_allow_origin_values(value, ok):
    assert (origin_option_problem(value) is None) is ok


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("localhost:0", ("localhost", 0)),
    ("[::1]:9000", ("::1", 9000)), ("0.0.0.0:80", ("0.0.0.0", 80)),
])
def test_listen_values(value, expected):
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["8080", "127.0.0.1", "127.0.0.1:65536", "[zz]:1",
                                   "::1:8080", "host:port", "a/b:1", ""])
def test_bad_listen_values(value):
    with pytest.raises(ValueError):
        parse_listen(value)


def test_loopback():
    assert loopback("127.0.0.1") and loopback("::1") and loopback("localhost")
    assert not loopback("0.0.0.0") and not loopback("192.168.1.2")
    assert not loopback("chat.example.org")  # a name may resolve anywhere


def test_address_keys():
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("unknown") == "unknown"


@pytest.mark.parametrize(("peer", "xff", "by", "expected"), [
    ("192.0.2.7", None, "", "192.0.2.7"),
    ("192.0.2.7", "198.51.100.1", "", "192.0.2.7"),  # no trusted proxy: the header is ignored
    ("10.0.0.1", "198.51.100.1", "10.0.0.1", "198.51.100.1"),
    ("10.0.0.1", "6.6.6.6, 198.51.100.1", "10.0.0.1", "198.51.100.1"),  # the proxy's entry
    ("10.0.0.2", "198.51.100.1", "10.0.0.1", "10.0.0.2"),  # not from the proxy
    ("10.0.0.1", "not an address", "10.0.0.1", "10.0.0.1"),
    ("10.0.0.1", "2001:db8::5", "10.0.0.1", "2001:db8::5"),
    ("::ffff:10.0.0.1", "198.51.100.1", "10.0.0.1", "198.51.100.1"),
    (None, "198.51.100.1", "10.0.0.1", "unknown"),
])
def test_client_address(peer, xff, by, expected):
    assert client_address(peer, xff, by) == expected


def test_limits_per_address_and_in_all():
    limits = Admission(max_per_address=2, max_connections=3)
    assert limits.open_problem("a") is None
    limits.opened("a")
    limits.opened("a")
    assert limits.open_problem("a") == PER_ADDRESS
    assert limits.open_problem("b") is None
    limits.opened("b")
    assert limits.open_problem("c") == IN_ALL
    limits.closed("a")
    assert limits.open_problem("a") is None
    # a parked DEALER counts in all, not against its address's open WebSockets
    limits.closed("b")
    limits.parked("b")
    assert limits.held == 2
    assert limits.open_problem("b") is None
    limits.opened("b")
    assert limits.open_problem("c") == IN_ALL
    limits.unparked("b")
    assert limits.open_problem("c") is None and limits.held == 2


def test_parked_ones_are_bounded_per_address():
    limits = Admission(max_per_address=2, max_connections=100)
    assert limits.may_park("a")
    limits.parked("a")
    limits.parked("a")
    assert not limits.may_park("a") and limits.may_park("b")
    limits.unparked("a")
    assert limits.may_park("a")


@pytest.mark.parametrize(("raw", "expected"), [
    ("/", "index.html"), ("/index.html", "index.html"), ("/js/app.js", "js/app.js"),
    ("/css/chat.css?v=3", "css/chat.css"), ("/caf%C3%A9.png", "café.png"),
    ("/../etc/passwd", None), ("/%2e%2e/etc/passwd", None), ("/..%2fetc/passwd", None),
    ("/js/..%5c..%5cetc", None), ("/js/../../x", None), ("/./index.html", None),
    ("/.git/config", None), ("/js/", None), ("//etc/passwd", None), ("/a%00b", None),
    ("/%ff", None), ("relative", None),
])
def test_page_paths(raw, expected):
    got = relative_path(raw)
    assert got == (None if expected is None else PurePosixPath(expected))


def test_resolve_stays_in_the_folder(tmp_path: Path):
    root = tmp_path / "page"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secret.txt").write_text("root:x")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    assert resolve(root, PurePosixPath("index.html")) == (root / "index.html").resolve()
    assert resolve(root, PurePosixPath("js")) is None  # a folder: no listing
    assert resolve(root, PurePosixPath("missing.js")) is None
    assert resolve(root, PurePosixPath("escape.txt")) is None


def test_content_types():
    assert content_type(Path("a.html")) == "text/html; charset=utf-8"
    assert content_type(Path("a.js")).startswith("text/javascript")
    assert content_type(Path("manifest.webmanifest")) == "application/manifest+json"
    assert content_type(Path("a.unknownext")) == "application/octet-stream"


def test_the_throttle_says_once_a_second_and_counts_the_rest():
    throttle = Throttle()
    assert throttle.allow("origin", 10.0) == 0
    assert throttle.allow("origin", 10.2) is None
    assert throttle.allow("origin", 10.5) is None
    assert throttle.allow("limit", 10.5) == 0  # kinds apart
    assert throttle.allow("origin", 11.1) == 2


@pytest.mark.parametrize(("dialled", "feeds", "expected"), [
    ("tcp://127.0.0.1:9999", ("tcp://127.0.0.1:4000",), "tcp://127.0.0.1:4000"),
    ("tcp://chat.lan:9999", ("tcp://*:4000",), "tcp://chat.lan:4000"),
    ("tcp://10.0.0.5:9999", ("ipc:///tmp/z.feed", "tcp://*:4000"), "tcp://10.0.0.5:4000"),
    ("tcp://10.0.0.5:9999", ("tcp://127.0.0.1:4000", "tcp://10.0.0.5:4001"),
     "tcp://10.0.0.5:4001"),
    ("ipc:///run/zchat/chat", ("tcp://*:4000", "ipc:///run/zchat/chat.feed"),
     "ipc:///run/zchat/chat.feed"),
    ("ipc:///run/zchat/chat", ("tcp://*:4000",), None),
    ("tcp://127.0.0.1:9999", (), None),
])
def test_which_feed(dialled, feeds, expected):
    assert feed_endpoint(dialled, feeds) == expected
