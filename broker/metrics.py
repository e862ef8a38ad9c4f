"""The broker's Prometheus metrics (`zchat broker --metrics HOST:PORT`) and the HTTP
endpoint that serves them.

Its one job is to count and show; it changes nothing it reads. It is cheap on the
loop: the server tells it, in plain numbers, what a batch or a cycle did (messages
read, frames sent, sessions joined, a commit's time, what came from the cluster);
everything else (users, rooms, lagging sessions, the cluster link, refusals, strikes,
sessions ended, FETCH pages) is read from the core when Prometheus scrapes, on the
HTTP server's thread, by reads that need no lock: a len, an int, a dict copied in one
step. The server's loop is the only writer of what it reads.

No label carries a user's name or a message's text: commands, error codes and leave
reasons only, each from a set the protocol bounds. docs/METRICS.md lists every metric.
"""

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from operator import itemgetter
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from zchat.common import __version__
from zchat.common.addresses import loopback as loopback
from zchat.protocol import constants as c

from .core import BrokerCore

#: The commands a client sends (protocol/constants.py); a message with none of them
#: (malformed, unknown) is counted as OTHER.
CLIENT_COMMANDS = (c.JOIN, c.SAY, c.TELL, c.WHO, c.FETCH, c.HISTORY, c.SEARCH, c.MARK, c.DMS,
                   c.LEAVE, c.PING, c.ENTER, c.PART, c.ROOMS, c.TOPIC, c.MOD)
OTHER = "other"
#: A frame's header and command, as the codec splits them (up to the first space).
_COMMAND_OF = {c.HEADER + command.encode(): command for command in CLIENT_COMMANDS}
#: Where the command's space may be: past it, the frame holds no command of the table.
_HEAD = len(c.HEADER)
_HEAD_MOST = _HEAD + max(map(len, CLIENT_COMMANDS)) + 1
#: A frame's first bytes, which say its command (sliced in C, a batch at a time).
_head = itemgetter(slice(0, _HEAD_MOST))
#: Why sessions end (core.drop), each shown from zero; another that comes is added.
_REASONS = (c.R_QUIT, c.R_TIMEOUT, c.R_LOST, c.R_SLOW, c.R_FLOOD, c.R_KICKED, c.R_BANNED)
#: Every error code, each shown from zero (a series that appears late is missed by
#: rate() until its second sample).
_CODES = tuple(sorted(value for name, value in vars(c).items() if name.startswith("E_")))

#: Buckets in seconds: an SQLite commit takes tens of microseconds to milliseconds; a
#: cluster's commit, and a message's way across brokers, are Redis round trips.
COMMIT_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                  0.1, 0.25, 1.0)
CLUSTER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0)


def command_of(frame: bytes) -> str:
    """The client command ``frame`` carries, or OTHER."""
    space = frame.find(b" ", _HEAD, _HEAD_MOST)
    return _COMMAND_OF.get(frame[:space] if space > 0 else frame[:_HEAD_MOST], OTHER)


class Metrics(Collector):
    """The broker's metrics, in a registry of their own: what the server tells it, and
    what it reads from the core when scraped."""

    def __init__(self, core: BrokerCore, cluster: bool = False,
                 registry: CollectorRegistry | None = None) -> None:
        """``cluster``: the broker is in one (--cluster): its link and the time messages
        take to come from the other brokers are shown too."""
        self.registry = registry if registry is not None else CollectorRegistry()
        self._core = core
        #: What the server told (the loop adds, a scrape reads). The keys of
        #: ``_received`` are all there from the start: its size never changes.
        self._received = dict.fromkeys((*CLIENT_COMMANDS, OTHER), 0)
        self._delivered = self._missed = self._published = self._joins = 0
        r = self.registry
        Info("zchat_build", "The zchat version serving.", registry=r).info(
            {"version": __version__})
        roster = core.roster
        Gauge("zchat_users", "Users joined to this broker now.",
              registry=r).set_function(roster.__len__)
        Gauge("zchat_rooms", "Rooms with members on this broker now, besides the default room.",
              registry=r).set_function(roster.room_count)
        Gauge("zchat_sessions_lagging", "Sessions that missed a live event (their queue was "
              "full or backed up) since the last heartbeat: they catch up from history.",
              registry=r).set_function(core.lagging_count)
        link = core.link
        if cluster:
            Gauge("zchat_cluster_link_up", "1 while this broker reaches the cluster's Redis, "
                  "0 while it serves its own users only.",
                  registry=r).set_function(lambda: 0.0 if link.island else 1.0)
        self._commits = Histogram(
            "zchat_store_commit_seconds", "Time to make a cycle's events durable (a commit "
            "of the history store that stored events).", buckets=COMMIT_BUCKETS, registry=r)
        self._across = Histogram(
            "zchat_cluster_delivery_seconds", "Time from a message's stamp on the broker that "
            "took it (just before its append to the shared log) to its delivery here, for "
            "messages of other brokers' users.", buckets=CLUSTER_BUCKETS,
            registry=r) if cluster else None
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes...
        r.register(self)

    # ---- told by the server ------------------------------------------------------

    def received(self, frames: list[bytes]) -> None:
        """Messages read from clients (a batch: their heads are counted in C, and each
        distinct head is parsed once)."""
        counts = self._received
        for head, count in Counter(map(_head, frames)).items():
            counts[command_of(head)] += count

    def sent(self, delivered: int, missed: int, published: int) -> None:
        """What one batch of sends did: frames handed to the ROUTER for a client, frames
        a client missed (its queue full or backed up), frames published on the feed."""
        self._delivered += delivered
        self._missed += missed
        self._published += published

    def joined(self, count: int) -> None:
        """``count`` connections gained a session this cycle."""
        self._joins += count

    def committed(self, seconds: float) -> None:
        """A commit that stored events took ``seconds``."""
        self._commits.observe(seconds)

    def arrived(self, stamps: Sequence[float], now: float) -> None:
        """Messages of other brokers, stamped at ``stamps`` (wall clock), were delivered
        here at ``now``."""
        if self._across is not None:
            for stamp in stamps:
                self._across.observe(max(0.0, now - stamp))

    # ---- read when scraped ---------------------------------------------------------

    def collect(self) -> Iterator[CounterMetricFamily]:
        """The counters, read now (on the HTTP server's thread)."""
        core = self._core
        received = CounterMetricFamily(
            "zchat_messages_received", "Messages read from clients, by command (other: "
            "malformed or unknown).", labels=["command"])
        for command, count in self._received.copy().items():
            received.add_metric([command], count)
        yield received
        yield CounterMetricFamily(
            "zchat_deliveries", "Frames sent to clients on the ROUTER socket, one per "
            "recipient (a live batch of several events to one client is one).",
            value=self._delivered)
        yield CounterMetricFamily(
            "zchat_deliveries_missed", "Frames a client did not get: its queue was full or "
            "backed up (it catches up from history).", value=self._missed)
        yield CounterMetricFamily(
            "zchat_feed_publishes", "Frames published once on the --fanout pub feed (libzmq "
            "copies each to every subscriber).", value=self._published)
        yield CounterMetricFamily(
            "zchat_joins", "Connections that gained a session: a JOIN accepted, or a client "
            "back on a new connection resuming its session.", value=self._joins)
        yield _by("zchat_refusals", "ERROR replies sent, by error code.", "code",
                  _CODES, core.refused.copy())
        yield CounterMetricFamily(
            "zchat_rate_limit_strikes", "Messages refused for being over a client's rate "
            "limit (enough in a row disconnect it: reason flood).", value=core.struck)
        yield _by("zchat_sessions_ended", "Sessions ended, by reason (timeout: silent for "
                  "three heartbeat intervals).", "reason", _REASONS, core.ended.copy())
        yield CounterMetricFamily("zchat_fetch_pages", "FETCH pages answered.",
                                  value=core.pages.served)


def _by(name: str, documentation: str, label: str, known: Sequence[str],
        counts: dict[str, int]) -> CounterMetricFamily:
    """A counter with one series per value of ``label``: ``known`` ones from zero."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value in sorted({*known, *counts}):
        family.add_metric([value], counts.get(value, 0))
    return family


class Exporter:
    """The HTTP endpoint Prometheus scrapes, on a thread of its own (prometheus_client's
    server: one thread per request, every path answered with the metrics)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        """Listen on ``host``:``port`` (0: any free port); OSError if it cannot."""
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, host, registry)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
