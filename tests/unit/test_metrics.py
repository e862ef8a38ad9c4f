"""broker/metrics.py: what each metric reads or is told, over a real core with fake
identities and clocks, scraped through prometheus_client's own text format and parser."""

import json
import re
import socket
import urllib.request
from pathlib import Path

import pytest
from corehelp import handled, make_core
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from zchat.broker.core import BrokerCore, Limits
from zchat.broker.metrics import CLIENT_COMMANDS, OTHER, Exporter, Metrics, command_of, loopback
from zchat.common import __version__
from zchat.protocol import (
    Enter,
    Fetch,
    History,
    Join,
    Leave,
    ListDms,
    ListRooms,
    Mark,
    Moderate,
    Part,
    Ping,
    Say,
    Search,
    SetTopic,
    Tell,
    Who,
    codec,
    encode,
)
from zchat.protocol import constants as c

A, B, E = b"\x00id-a", b"\x00id-b", b"\x00id-e"


def scrape(metrics: Metrics) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The text Prometheus would get, and its samples by (name, labels)."""
    text = generate_latest(metrics.registry).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return text, samples


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return scrape(metrics)[1][(name, tuple(sorted(labels.items())))]


@pytest.fixture
def core() -> BrokerCore:
    return make_core(limits=Limits(rate=1.0, burst=2))


# ---- messages by command --------------------------------------------------------------

@pytest.mark.parametrize(("msg", "command"), [
    (Join("ana", "t" * 32), "JOIN"), (Say("oi", 1), "SAY"), (Say("oi", 2, room="#sala"), "SAY"),
    (Tell("bob", "psiu", 3), "TELL"), (Who(), "WHO"), (Who("#sala"), "WHO"),
    (Fetch(0, 0, 10), "FETCH"), (History("#sala"), "HISTORY"), (Search("deploy"), "SEARCH"),
    (Mark((("#geral", 3),)), "MARK"), (ListDms(), "DMS"), (Leave(), "LEAVE"), (Ping(), "PING"),
    (Ping(7), "PING"), (Enter("#sala"), "ENTER"), (Part("#sala"), "PART"),
    (ListRooms(), "ROOMS"), (SetTopic("#sala", "sexta"), "TOPIC"),
    (Moderate(c.M_KICK, "eve", reason="spam"), "MOD"),
], ids=repr)
def test_every_client_message_is_counted_by_its_command(msg, command):
    assert command_of(encode(msg)) == command


@pytest.mark.parametrize("frame", [
    b"", b"hello", b"ZCHAT/1 ", b"ZCHAT/1 PINGX", b"ZCHAT/1 SAYS {}", b"ZCHAT/2 SAY {}",
    b"zchat/1 SAY {}", b"ZCHAT/1 MSG {}", b"ZCHAT/1 HISTORYX {}", b"ZCHAT/1 WELCOME {}",
    b"\x00" * 100,
], ids=repr)
def test_anything_else_is_other(frame):
    assert command_of(frame) == OTHER


def test_the_commands_are_the_codecs():
    """A command the codec learns must be counted by name, not as other."""
    assert {command.encode() for command in CLIENT_COMMANDS} == set(codec._FROM_CLIENT)


def test_received_counts_each_batch_by_command_and_garbage_stays_bounded(core):
    metrics = Metrics(core)
    metrics.received([encode(Say("a", 1)), encode(Say("b", 2)), encode(Ping()), b"junk",
                      encode(Say("c" * 500, 3)), b"ZCHAT/1 PING", b"ZCHAT/1 PINGS"])
    metrics.received([encode(Tell("bob", "oi", 4)), *(bytes([n]) * 20 for n in range(200))])
    _, samples = scrape(metrics)
    counted = {dict(labels)["command"]: v for (name, labels), v in samples.items()
               if name == "zchat_messages_received_total"}
    assert counted == {**dict.fromkeys(CLIENT_COMMANDS, 0.0), "SAY": 3.0, "PING": 2.0,
                       "TELL": 1.0, OTHER: 202.0}


# ---- read from the core when scraped ------------------------------------------------------

def test_users_rooms_and_joins_are_read_from_the_roster(core):
    metrics = Metrics(core)
    assert value(metrics, "zchat_users") == 0
    handled(core, A, Join("ana"))
    handled(core, B, Join("bob"))
    handled(core, A, Enter("#sala"))
    handled(core, B, Enter("#outra"))
    assert value(metrics, "zchat_users") == 2
    assert value(metrics, "zchat_rooms") == 2
    handled(core, B, Leave())
    assert value(metrics, "zchat_users") == 1
    assert value(metrics, "zchat_rooms") == 1


def test_refusals_by_code_each_known_code_from_zero(core):
    metrics = Metrics(core)
    _, samples = scrape(metrics)
    codes = {dict(labels)["code"] for (name, labels) in samples
             if name == "zchat_refusals_total"}
    assert {c.E_NO_SUCH_USER, c.E_RATE_LIMITED, c.E_NOT_JOINED, c.E_BAD_SIGNATURE} <= codes
    handled(core, A, Say("before joining", 1))
    core.handle(B, [b"garbage"], 0.0)
    handled(core, A, Join("ana"))
    handled(core, A, Tell("zed", "oi", 1))
    assert value(metrics, "zchat_refusals_total", code=c.E_NOT_JOINED) == 1
    assert value(metrics, "zchat_refusals_total", code=c.E_BAD_SIGNATURE) == 1
    assert value(metrics, "zchat_refusals_total", code=c.E_NO_SUCH_USER) == 1
    assert value(metrics, "zchat_refusals_total", code=c.E_EMPTY) == 0


def test_rate_limit_strikes_are_refusals_too(core):
    metrics = Metrics(core)
    handled(core, A, Join("ana"))
    for cid in range(1, 6):  # burst 2 at rate 1, all at one instant: 3 over
        handled(core, A, Say(f"m{cid}", cid))
    assert value(metrics, "zchat_rate_limit_strikes_total") == 3
    assert value(metrics, "zchat_refusals_total", code=c.E_RATE_LIMITED) == 3


def test_a_flood_ends_the_session_as_flood(core):
    metrics = Metrics(core)
    handled(core, A, Join("ana"))
    for cid in range(1, c.FLOOD_STRIKES + 3):
        handled(core, A, Say(f"m{cid}", cid))
    assert value(metrics, "zchat_rate_limit_strikes_total") == c.FLOOD_STRIKES
    # The last strike is a BYE, not an ERROR.
    assert value(metrics, "zchat_refusals_total", code=c.E_RATE_LIMITED) == c.FLOOD_STRIKES - 1
    assert value(metrics, "zchat_sessions_ended_total", reason=c.R_FLOOD) == 1


def test_sessions_ended_by_reason_heartbeat_expiry_as_timeout(core):
    metrics = Metrics(core)
    for reason in (c.R_QUIT, c.R_TIMEOUT, c.R_LOST, c.R_SLOW, c.R_FLOOD, c.R_KICKED, c.R_BANNED):
        assert value(metrics, "zchat_sessions_ended_total", reason=reason) == 0
    handled(core, A, Join("ana"), now=0.0)
    handled(core, B, Join("bob"), now=0.0)
    handled(core, E, Join("eve"), now=0.0)
    handled(core, A, Leave(), now=0.5)
    core.drop_identity(E, c.R_LOST)
    core.drop_identity(E, c.R_LOST)  # gone already: not twice
    handled(core, B, Ping(), now=0.5)
    core.tick(0.5 + core.expiry + 0.1)  # bob silent for three heartbeats
    assert value(metrics, "zchat_sessions_ended_total", reason=c.R_QUIT) == 1
    assert value(metrics, "zchat_sessions_ended_total", reason=c.R_LOST) == 1
    assert value(metrics, "zchat_sessions_ended_total", reason=c.R_TIMEOUT) == 1
    assert value(metrics, "zchat_users") == 0


def test_lagging_sessions_until_the_heartbeat(core):
    metrics = Metrics(core)
    handled(core, A, Join("ana"))
    handled(core, B, Join("bob"))
    core.lagging(A)
    core.lagging(A)
    assert value(metrics, "zchat_sessions_lagging") == 1
    core.lagging(B)
    assert value(metrics, "zchat_sessions_lagging") == 2
    core.tick(0.5)  # their catch-up PINGs are made: refilled only if those fail too
    assert value(metrics, "zchat_sessions_lagging") == 0


def test_fetch_pages(core):
    metrics = Metrics(core)
    handled(core, A, Join("ana"))
    handled(core, A, Say("oi", 1))
    handled(core, A, Fetch(0, 0, 10))
    assert value(metrics, "zchat_fetch_pages_total") == 1


# ---- told by the server -----------------------------------------------------------------

def test_what_the_server_tells_is_summed(core):
    metrics = Metrics(core)
    metrics.sent(10, 0, 0)
    metrics.sent(5, 2, 1)
    metrics.joined(3)
    metrics.committed(0.0003)
    metrics.committed(0.002)
    assert value(metrics, "zchat_deliveries_total") == 15
    assert value(metrics, "zchat_deliveries_missed_total") == 2
    assert value(metrics, "zchat_feed_publishes_total") == 1
    assert value(metrics, "zchat_joins_total") == 3
    assert value(metrics, "zchat_store_commit_seconds_count") == 2
    assert value(metrics, "zchat_store_commit_seconds_bucket", le="0.0005") == 1
    assert value(metrics, "zchat_store_commit_seconds_sum") == pytest.approx(0.0023)


def test_cluster_metrics_only_in_a_cluster(core):
    text, _ = scrape(Metrics(core))
    assert "zchat_cluster" not in text
    metrics = Metrics(core, cluster=True)
    assert value(metrics, "zchat_cluster_link_up") == 1
    core.link.went_down()
    assert value(metrics, "zchat_cluster_link_up") == 0
    metrics.arrived([100.0, 100.5, 101.0], now=101.002)
    metrics.arrived([200.0], now=199.0)  # another host's clock ahead: counted as 0
    assert value(metrics, "zchat_cluster_delivery_seconds_count") == 4
    assert value(metrics, "zchat_cluster_delivery_seconds_bucket", le="0.0025") == 2
    assert value(metrics, "zchat_cluster_delivery_seconds_sum") == pytest.approx(1.506)


def test_names_units_and_no_user_in_any_label(core):
    metrics = Metrics(core)
    handled(core, A, Join("ana"))
    handled(core, B, Join("bob"))
    handled(core, A, Say("segredo", 1))
    handled(core, A, Tell("zed", "psiu", 2))
    handled(core, B, Leave())
    text, samples = scrape(metrics)
    families = list(text_string_to_metric_families(text))
    for family in families:
        assert family.name.startswith(("zchat_", "process_")), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
    assert {f.name for f in families} >= {"process_cpu_seconds", "process_resident_memory_bytes"}
    for private in ("ana", "bob", "zed", "segredo", "psiu"):
        assert private not in text
    assert samples[("zchat_build_info", (("version", __version__),))] == 1


# ---- the endpoint ------------------------------------------------------------------------

def test_the_exporter_serves_the_registry_and_stops(core):
    metrics = Metrics(core)
    exporter = Exporter(metrics.registry, "127.0.0.1", 0)
    try:
        assert exporter.url.startswith("http://127.0.0.1:")
        assert exporter.url.endswith("/metrics")
        with urllib.request.urlopen(exporter.url, timeout=5) as response:
            assert b"zchat_users 0.0" in response.read()
    finally:
        exporter.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(exporter.url, timeout=2)


def test_the_exporter_says_when_its_port_is_taken(core):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            Exporter(Metrics(core).registry, "127.0.0.1", taken.getsockname()[1])


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.org", False),
])
def test_loopback(host, expected):
    assert loopback(host) is expected


# ---- the dashboard and the doc name what the broker serves -----------------------------

_DOCS = Path(__file__).resolve().parents[2] / "docs"


def _served(core: BrokerCore) -> tuple[set[str], set[str]]:
    """Every sample name a broker in a cluster serves, and every metric's name as the doc
    gives it (a counter's with _total; not the histograms' _created gauges)."""
    text, samples = scrape(Metrics(core, cluster=True))
    names = {family.name + ("_total" if family.type == "counter" else "")
             for family in text_string_to_metric_families(text)
             if not family.name.endswith("_created")}
    return {name for name, _ in samples}, names


def test_every_query_of_the_dashboard_names_a_served_metric(core):
    samples, names = _served(core)
    dashboard = json.loads((_DOCS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    named = {name for query in queries
             for name in re.findall(r"\b(?:zchat|process)_[a-z_]+\b", query)}
    assert named - samples == set()
    # and every metric of zchat's own has a panel (the version is a variable's source)
    shown = {name for name in names if name.startswith("zchat_")
             and any(used.startswith(name) for used in named)}
    assert names - shown == {"zchat_build_info", *(n for n in names if n.startswith("process_"))}


def test_the_doc_lists_every_metric(core):
    _, names = _served(core)
    doc = (_DOCS / "METRICS.md").read_text(encoding="utf-8")
    assert {name for name in names if f"`{name}`" not in doc} == set()
