"""`zchat broker --metrics`: a real broker serves Prometheus metrics over HTTP while real
clients chat; each test scrapes them as Prometheus would (an HTTP GET, the text format
parsed by prometheus_client's own parser) and waits, bounded, for the counters to move.
"""

import re
import signal
import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from zchat.protocol import Error, Join, Say, Welcome, encode

from .harness import Broker, Cluster, RawPeer, free_port, wait_until

STAMP = r"\[\d\d:\d\d:\d\d\]"


class Scrape:
    """One scrape of a broker's /metrics: its text, and its samples by name and labels."""

    def __init__(self, url: str) -> None:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            self.text = response.read().decode()
        self.families = list(text_string_to_metric_families(self.text))
        self.samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                        for family in self.families for sample in family.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels`` (fails if there is none)."""
        key = (name, tuple(sorted(labels.items())))
        assert key in self.samples, f"no {name}{labels or ''} in:\n{self.text}"
        return self.samples[key]


def _metrics_broker(chat: Cluster, *extra: str) -> tuple[Broker, str]:
    """A broker with --metrics on a loopback port picked now, and its metrics URL (from
    the log line that says where they are served)."""
    port = free_port()
    broker = chat.broker("--metrics", f"127.0.0.1:{port}", *extra)
    url = broker.expect(r"metrics at (http://\S+)", anywhere=True).group(1)
    assert url == f"http://127.0.0.1:{port}/metrics"
    return broker, url


def _until(url: str, what: str, holds) -> Scrape:  # type: ignore[no-untyped-def]
    """Scrape until ``holds(scrape)``, bounded; the last scrape."""
    last: list[Scrape] = []

    def check() -> bool:
        last[:] = [Scrape(url)]
        return bool(holds(last[0]))

    wait_until(check, what)
    return last[0]


def test_counters_move_as_people_chat(chat: Cluster) -> None:
    broker, url = _metrics_broker(chat)
    before = Scrape(url)
    assert before.value("zchat_users") == 0
    assert before.value("zchat_joins_total") == 0
    assert before.value("zchat_messages_received_total", command="SAY") == 0

    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect(r"\* bob joined the chat")
    joined = _until(url, "two users joined", lambda s: s.value("zchat_users") == 2
                    and s.value("zchat_joins_total") == 2
                    and s.value("zchat_messages_received_total", command="JOIN") == 2)
    delivered = joined.value("zchat_deliveries_total")
    assert delivered >= 3  # two WELCOMEs and ana's JOINED for bob, at least

    ana.line("olá a todos")
    bob.expect(rf"{STAMP} ana: olá a todos")
    bob.line("oi ana")
    ana.expect(rf"{STAMP} bob: oi ana")
    after = _until(url, "two messages in and delivered", lambda s:
                   s.value("zchat_messages_received_total", command="SAY") == 2
                   and s.value("zchat_deliveries_total") >= delivered + 4)  # 2 msgs, 2 ACKs
    assert after.value("zchat_store_commit_seconds_count") >= 2  # the SQLite history
    assert after.value("zchat_store_commit_seconds_sum") > 0
    assert after.value("zchat_refusals_total", code="NO_SUCH_USER") == 0

    # A refused message: counted by its error code.
    ana.line("@zed oi")
    ana.expect(r"! nobody named zed is online")
    _until(url, "the refusal counted", lambda s:
           s.value("zchat_refusals_total", code="NO_SUCH_USER") == 1
           and s.value("zchat_messages_received_total", command="TELL") == 1)

    # A session ended, by its reason; one silent for three heartbeats, as a timeout.
    carol = chat.client("carol", broker.endpoint)
    ana.expect(r"\* carol joined the chat")
    carol.signal(signal.SIGSTOP)  # connected, silent: its heartbeats stop
    bob.line("sair")
    assert bob.wait() == 0
    # (A scrape reads the loop's state from another thread, mid-drop maybe: the count
    # of ended sessions can be one ahead of the roster, so wait for both.)
    ended = _until(url, "a quit and a timeout", lambda s:
                   s.value("zchat_sessions_ended_total", reason="quit") == 1
                   and s.value("zchat_sessions_ended_total", reason="timeout") == 1
                   and s.value("zchat_users") == 1)
    assert ended.value("zchat_joins_total") == 3

    # Process metrics, Prometheus's names and units; nothing anyone typed or is called.
    assert ended.value("process_resident_memory_bytes") > 0
    assert ended.value("process_cpu_seconds_total") > 0
    for family in ended.families:
        assert re.fullmatch(r"(zchat|process)_[a-z_]+", family.name), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
    for private in ("ana", "bob", "carol", "zed", "olá", "todos", "sair"):
        assert private not in ended.text
    broker.assert_not_seen("WARNING")


def test_refused_frames_and_rate_limit_strikes_are_counted(chat: Cluster) -> None:
    broker, url = _metrics_broker(chat, "--rate", "1", "--burst", "2")
    peer = RawPeer(broker.endpoint)
    try:
        peer.send(b"not a zchat frame")
        assert peer.next(Error).code == "BAD_SIGNATURE"
        _until(url, "the garbage refused", lambda s:
               s.value("zchat_refusals_total", code="BAD_SIGNATURE") == 1
               and s.value("zchat_messages_received_total", command="other") == 1)

        peer.send(encode(Join("eve", "e" * 32)))
        peer.next(Welcome)
        for cid in range(1, 5):  # a burst of 2 allowed, then 2 refused (within a second)
            peer.send(encode(Say(f"flood {cid}", cid=cid)))
        assert peer.next(Error).code == "RATE_LIMITED"
        scrape = _until(url, "the four read", lambda s:
                        s.value("zchat_messages_received_total", command="SAY") == 4)
        strikes = scrape.value("zchat_rate_limit_strikes_total")
        assert 1 <= strikes <= 2  # (2, unless a token came back between two SAYs)
        assert scrape.value("zchat_refusals_total", code="RATE_LIMITED") == strikes
        assert scrape.value("zchat_sessions_ended_total", reason="flood") == 0
    finally:
        peer.close()


def test_metrics_beyond_loopback_warn_loudly(chat: Cluster) -> None:
    port = free_port()
    broker = chat.broker("--metrics", f"0.0.0.0:{port}")
    broker.expect(rf"WARNING: the metrics at http://0\.0\.0\.0:{port}/metrics are reachable "
                  r"beyond this machine", anywhere=True)
    # Served there too: scraped through loopback.
    assert Scrape(f"http://127.0.0.1:{port}/metrics").value("zchat_users") == 0


def test_metrics_port_in_use_is_one_line_and_exit_1(chat: Cluster) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = chat.broker("--metrics", f"127.0.0.1:{port}", wait=False)
        assert broker.wait() == 1
    broker.expect(rf"zchat: cannot serve metrics on 127\.0\.0\.1:{port}: "
                  r"Address already in use", anywhere=True)
    broker.assert_not_seen("Traceback")
    broker.assert_not_seen("listening on")


def test_cluster_link_and_the_time_across_brokers(chat: Cluster) -> None:
    redis = chat.redis()
    one = chat.broker("--cluster", redis.url)
    two, url = _metrics_broker(chat, "--cluster", redis.url)
    ana = chat.client("ana", one.endpoint)
    bia = chat.client("bia", two.endpoint, "--show-acks")
    ana.expect(r"\* bia joined the chat")
    before = Scrape(url)
    assert before.value("zchat_cluster_link_up") == 1
    assert before.value("zchat_cluster_delivery_seconds_count") == 0

    ana.line("olá de A")
    bia.expect(rf"{STAMP} ana: olá de A")
    ana.line("@bia segredo")
    bia.expect(rf"{STAMP} \(private\) ana: segredo")
    across = _until(url, "two messages timed across brokers",
                    lambda s: s.value("zchat_cluster_delivery_seconds_count") == 2)
    assert 0 < across.value("zchat_cluster_delivery_seconds_sum") < 10
    # bia's own message is not timed here: it is not another broker's. (Its ACK comes
    # when the shared log brings it back here.)
    bia.line("oi")
    bia.expect(r"delivered: oi")
    assert Scrape(url).value("zchat_cluster_delivery_seconds_count") == 2

    redis.stop()
    _until(url, "the link down", lambda s: s.value("zchat_cluster_link_up") == 0)
