"""The `zchat` command: `zchat broker`, `zchat join NAME`, `zchat keygen NAME` and
`zchat admin SOCKET COMMAND`.

A thin layer: it parses options, picks the language, configures logging and
turns expected failures into one clear line (exit 1, or 2 for bad usage). Every
option, and every combination of them, is checked before a command opens a log,
makes or locks a data directory, makes a key or binds a socket: a usage error
leaves nothing behind.
At module level it imports only common/ and protocol/: broker modules are
imported inside `zchat broker` and client modules inside `zchat join` and
`zchat keygen`, so each command loads its own side only (`zchat admin` loads the
admin socket's wire format, broker/admin_wire.py, and zchat/admin.py).
"""

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from zchat.common import __version__
from zchat.common.i18n import LANGS, pick_lang
from zchat.protocol import constants as c
from zchat.protocol import name_problem, room_problem

DEFAULT_ENDPOINT = "tcp://127.0.0.1:9999"


class _Seconds(click.FloatRange):
    """A float range that also refuses NaN (which slips past range comparisons)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        result: float = super().convert(value, param, ctx)
        if result != result:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return result


_heartbeat = _Seconds(c.MIN_HEARTBEAT, c.MAX_HEARTBEAT)
_file = click.Path(exists=True, dir_okay=False, path_type=Path)
_lang = click.Choice(LANGS)


#: A --bind endpoint: tcp://HOST:PORT, where HOST may be an address, a name, an
#: interface or *, and PORT a number or *; or ipc://PATH.
_BIND_TCP = re.compile(r"tcp://(\*|\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]*]+):(\*|\d{1,5})")


def _bind_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not one a broker can listen on, by its syntax, or None."""
    if endpoint.startswith("ipc://"):
        return None if len(endpoint) > len("ipc://") else "an ipc endpoint needs a path"
    match = _BIND_TCP.fullmatch(endpoint)
    if match is None:
        return "expected tcp://HOST:PORT (PORT may be *) or ipc://PATH"
    if match.group(2) != "*" and int(match.group(2)) > 65535:
        return "the port must be 0 to 65535, or *"
    return None


#: --metrics: [HOST:]PORT, HOST an address ([v6] in brackets) or a name.
_METRICS_AT = re.compile(r"(?:(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):)?(\d{1,5})")
#: Where metrics are served when --metrics names a port only.
METRICS_HOST = "127.0.0.1"


def _check_metrics(value: str | None) -> tuple[str, int] | None:
    """--metrics HOST:PORT (or PORT, on loopback): (host, port), or exit 2 saying what is
    wrong. (Whether it can be listened on, only listening tells: one line, exit 1.)"""
    if value is None:
        return None
    match = _METRICS_AT.fullmatch(value)
    if match is None:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT (or PORT, on {METRICS_HOST})")
    port = int(match.group(2))
    if port > 65535:
        raise click.BadParameter(f"{value!r}: the port must be 0 to 65535")
    return (match.group(1) or METRICS_HOST).strip("[]"), port


def _check_binds(ctx: click.Context, param: click.Parameter,
                 values: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse a malformed --bind endpoint as a usage error, before anything is opened.
    (Whether a well-formed one can be bound, only binding tells: one line, exit 1.)"""
    for endpoint in values:
        problem = _bind_problem(endpoint)
        if problem is not None:
            raise click.BadParameter(f"{endpoint!r}: {problem}")
    return values


def _check_admin(ctx: click.Context, param: click.Parameter,
                 value: str | None) -> str | None:
    """--admin: an ipc endpoint in a place only this user may write to (adminpath.py),
    checked before anything is opened; whether it can be bound, binding tells."""
    if value is not None:
        from zchat.broker.adminpath import endpoint_problem, path_of, place_problem

        problem = endpoint_problem(value) or place_problem(path_of(value))
        if problem is not None:
            raise click.BadParameter(f"{value!r}: {problem}")
    return value


def _check_curve_secret(ctx: click.Context, param: click.Parameter,
                        value: Path | None) -> Path | None:
    """The broker's secret key file must hold a key pair: read now, used later."""
    if value is not None:
        from zchat.broker.keys import KeyFileError, load_secret

        try:
            load_secret(value)
        except KeyFileError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _check_allow_keys(ctx: click.Context, param: click.Parameter,
                      value: Path | None) -> Path | None:
    """Every NAME.key in the allow-list folder must hold a public key."""
    if value is not None:
        from zchat.broker.keys import KeyFileError, load_public

        try:
            for path in sorted(value.glob("*.key")):
                load_public(path)
        except KeyFileError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _gateways(folder: Path | None, curve_secret: Path | None,
              operators: Path | None) -> frozenset[str]:
    """The gateways' keys (--gateway-keys), checked against the other options: a
    usage error (exit 2) if they cannot be used."""
    if folder is None:
        return frozenset()
    if curve_secret is None:
        raise click.BadParameter("needs --curve-secret (gateways are known by their keys)",
                                 param_hint="'--gateway-keys'")
    from zchat.broker.keys import KeyFileError, load_gateways, load_operators

    try:
        gateways = load_gateways(folder)
    except KeyFileError as exc:
        raise click.BadParameter(str(exc), param_hint="'--gateway-keys'") from None
    try:
        chiefs = load_operators(operators) if operators is not None else {}
    except KeyFileError:
        chiefs = {}  # (reported where the operators are read, as without gateways)
    both = sorted(gateways & set(chiefs.values()))
    if both:
        raise click.BadParameter(
            f"{both[0]} is also an operator's key (--operators {operators}): a gateway's key "
            "carries everyone's sessions through it, so it can never be an operator's",
            param_hint="'--gateway-keys'")
    return gateways


#: On the group and on each command: click caches a command's help option the first time
#: it is asked for, so a command whose context was made alone (as a test does) would
#: otherwise keep only --help.
_CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=_CONTEXT)
@click.version_option(__version__, prog_name="zchat")
def main() -> None:
    """zchat: a ZeroMQ chat broker and terminal client."""


@main.command(context_settings=_CONTEXT)
@click.option("--bind", "binds", multiple=True, envvar="ZCHAT_BIND", metavar="ENDPOINT",
              callback=_check_binds,
              help=f"ZeroMQ endpoint to listen on; repeatable. Default {DEFAULT_ENDPOINT}. "
                   "A '*' port (tcp://127.0.0.1:*) picks a free one.")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Also append the log to this file.")
@click.option("--heartbeat", type=_heartbeat, default=c.DEFAULT_HEARTBEAT, show_default=True,
              help="Heartbeat interval in seconds; a client silent for 3 is dropped.")
@click.option("--lang", type=_lang, default=None, help="Language of messages (default: locale).")
@click.option("--log-private", is_flag=True, default=False,
              help="Also log the bodies of private messages (off: only sender and target).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="ZCHAT_DATA_DIR",
              help="Where history is kept (default: $XDG_DATA_HOME/zchat or "
                   "~/.local/share/zchat).")
@click.option("--store", "store_kind", type=click.Choice(["sqlite", "memory"]),
              default="sqlite", show_default=True,
              help="sqlite keeps history across restarts; memory forgets it on exit.")
@click.option("--history", type=click.IntRange(0, c.MAX_FETCH), default=c.DEFAULT_HISTORY,
              show_default=True, help="Recent public messages shown to a newcomer.")
@click.option("--retain", type=click.IntRange(1000), default=c.DEFAULT_RETAIN, show_default=True,
              help="Events kept in history (a count); older ones are pruned.")
@click.option("--curve-secret", type=_file, default=None, envvar="ZCHAT_CURVE_SECRET",
              callback=_check_curve_secret,
              help="The broker's secret key file (zchat keygen): turns CURVE encryption on.")
@click.option("--allow-keys", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, callback=_check_allow_keys,
              help="Folder of client public keys: only those may connect; NAME.key there "
                   "pins NAME to that key. Without it any CURVE client may connect.")
@click.option("--operators", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None,
              help="Folder of operators' public keys (NAME.key, which also pins NAME): they "
                   "may /kick, /ban, /mute, /slow and lock topics. Needs --curve-secret.")
@click.option("--gateway-keys", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, callback=_check_allow_keys,
              help="Folder of web gateways' public keys (any NAME.key; zchat web --key): "
                   "sessions joining with one have no key of their own, as in plaintext, "
                   "and cannot take a name bound to a key. Needs --curve-secret.")
@click.option("--audit", "audit_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None,
              help="Append every moderation action to this file (JSON lines). Default: "
                   "audit.log in the data directory (with --store memory or --cluster: the "
                   "log only).")
@click.option("--rate", type=click.FloatRange(0.1), default=c.DEFAULT_RATE, show_default=True,
              help="Messages per second a client may send (sustained).")
@click.option("--burst", type=click.IntRange(1), default=c.DEFAULT_BURST, show_default=True,
              help="Messages a client may send at once.")
@click.option("--byte-rate", type=click.FloatRange(c.MAX_TEXT_CHARS * 4),
              default=c.DEFAULT_BYTE_RATE, show_default=True,
              help="Bytes of text per second a client may send (sustained).")
@click.option("--byte-burst", type=click.IntRange(c.MAX_TEXT_CHARS * 4),
              default=c.DEFAULT_BYTE_BURST, show_default=True,
              help="Bytes of text a client may send at once.")
@click.option("--max-clients", type=click.IntRange(1), default=c.DEFAULT_MAX_CLIENTS,
              show_default=True, help="Users joined at once; more are refused.")
@click.option("--max-per-address", type=click.IntRange(1), default=c.DEFAULT_MAX_PER_ADDRESS,
              show_default=True,
              help="Connections at once from one address (IPv6: one /64); also the JOINs it "
                   "may make at once, and again each minute.")
@click.option("--fanout", type=click.Choice([c.FANOUT_ROUTER, c.FANOUT_PUB]),
              default=c.FANOUT_ROUTER, show_default=True,
              help="pub: public messages go out once on a feed (XPUB) that libzmq copies to "
                   "every client, instead of one send per client.")
@click.option("--default-room", default=c.DEFAULT_ROOM, show_default=True, metavar="NAME",
              callback=lambda ctx, param, value: _check_room(value),
              help="The room every user is in on joining (# optional).")
@click.option("--max-rooms", type=click.IntRange(1), default=c.DEFAULT_MAX_ROOMS,
              show_default=True, help="Rooms held at once (a room is held while it has "
                                      "members); a new one beyond is refused.")
@click.option("--search/--no-search", "search", default=None,
              help="Keep a full-text index of the history for /search. Default: on with "
                   "the SQLite history (search.db beside it, fed from it when the broker "
                   "is quiet); off with --store memory, and with --cluster (in memory, built "
                   "from what Redis holds at start: docs/CLUSTER.md; its cost on the fan-out "
                   "is not shown within 5%: docs/PERFORMANCE.md, Search).")
@click.option("--cluster", "cluster_url", default=None, envvar="ZCHAT_CLUSTER", metavar="URL",
              callback=lambda ctx, param, value: _check_cluster(value),
              help="Join the brokers sharing this Redis (redis://HOST:PORT[/DB]) as one chat; "
                   "history then lives in Redis and --store/--data-dir are not used.")
@click.option("--admin", "admin_endpoint", default=None, envvar="ZCHAT_ADMIN",
              metavar="ipc://PATH", callback=_check_admin,
              help="Answer `zchat admin` on this local socket, which only this user may use "
                   "(its directory must be writable by this user alone; a missing one is "
                   "made, mode 0700).")
@click.option("--metrics", "metrics_at", default=None, envvar="ZCHAT_METRICS",
              metavar="HOST:PORT", callback=lambda ctx, param, value: _check_metrics(value),
              help="Serve Prometheus metrics over HTTP on HOST:PORT (PORT alone: on "
                   f"{METRICS_HOST}); off by default. docs/METRICS.md lists them.")
def broker(binds: tuple[str, ...], log_file: str | None, heartbeat: float, lang: str | None,
           log_private: bool, data_dir: Path | None, store_kind: str, history: int,
           retain: int, curve_secret: Path | None, allow_keys: Path | None, rate: float,
           burst: int, byte_rate: float, byte_burst: int, max_clients: int,
           max_per_address: int, fanout: str, default_room: str, max_rooms: int,
           search: bool | None, cluster_url: str | None, operators: Path | None,
           gateway_keys: Path | None, audit_file: Path | None, admin_endpoint: str | None,
           metrics_at: tuple[str, int] | None) -> None:
    """Run the chat broker until SIGINT or SIGTERM."""
    # Every option is checked (here and in the callbacks) before the log is opened, the
    # data directory made and locked, or a socket bound: a usage error leaves nothing behind.
    if allow_keys is not None and curve_secret is None:
        raise click.BadParameter("needs --curve-secret (keys only mean something encrypted)",
                                 param_hint="'--allow-keys'")
    if operators is not None and curve_secret is None:
        raise click.BadParameter("needs --curve-secret (operators are known by their keys)",
                                 param_hint="'--operators'")
    gateways = _gateways(gateway_keys, curve_secret, operators)
    if admin_endpoint is not None and _same_file(admin_endpoint, binds):
        raise click.BadParameter("is also a --bind endpoint (binding it twice would take the "
                                 "chat's socket away)", param_hint="'--admin'")

    import zmq

    from zchat.broker.audit import AuditLog
    from zchat.broker.core import BrokerCore, Limits
    from zchat.broker.keys import KeyFileError, load_operators
    from zchat.broker.server import BindError, BrokerServer
    from zchat.broker.sqlite_store import SqliteStore, default_data_dir
    from zchat.broker.store import HistoryStore, MemoryStore, StoreError
    from zchat.broker.texts import broker_catalogue
    from zchat.logsetup import configure_broker_logging

    catalogue = broker_catalogue(pick_lang(lang))
    t = catalogue.t
    try:
        journal = configure_broker_logging(log_file)
    except OSError as exc:
        _fail(t("broker.log_file_failed", path=log_file, reason=exc.strerror), 1)
    log = logging.getLogger("zchat.broker")
    store: HistoryStore
    cluster = None
    try:
        if cluster_url is not None:
            from zchat.broker.cluster import RedisCluster

            store = cluster = RedisCluster(cluster_url, heartbeat, retain)
        elif store_kind == "memory":
            store = MemoryStore(retain)
        else:
            store = SqliteStore(data_dir or default_data_dir(), retain)
    except StoreError as exc:
        _fail(str(exc), 1)
    limits = Limits(rate, burst, byte_rate, byte_burst, max_clients, max_per_address)
    from zchat.broker.finding import open_index

    if search is None:
        search = store_kind != "memory" and cluster_url is None

    try:
        index_file = None if store_kind == "memory" or cluster_url is not None else \
            (data_dir or default_data_dir()) / "search.db"
        index, no_index = open_index(store, index_file) if search else (None, "--no-search")
    except StoreError as exc:
        store.close()
        _fail(str(exc), 1)
    if index is None:
        (log.warning if search else log.info)(t("log.no_search", reason=no_index))
    try:
        chiefs = load_operators(operators) if operators is not None else {}
        if audit_file is None and store_kind != "memory" and cluster_url is None:
            audit_file = (data_dir or default_data_dir()) / "audit.log"
        audit = AuditLog(audit_file) if audit_file is not None else None
    except (KeyFileError, OSError) as exc:
        store.close()
        _fail(str(exc) if isinstance(exc, KeyFileError)
              else f"cannot open the audit log {audit_file}: {exc.strerror}", 1)
    core = BrokerCore(heartbeat, catalogue, log_private_bodies=log_private, store=store,
                      history=history, limits=limits, journal=journal.line, backplane=cluster,
                      default_room=default_room, max_rooms=max_rooms, index=index,
                      operators=set(chiefs.values()), audit=audit)
    core.admission.pins.update(chiefs)
    core.admission.gateways = gateways
    where = "memory" if store_kind == "memory" else str(data_dir or default_data_dir())
    if cluster_url is not None:
        from zchat.broker.cluster import shown_url

        where = shown_url(cluster_url)
    log.info(t("log.history", where=where, seq=store.last_seq(), retain=retain))
    try:
        server = BrokerServer(core, list(binds) or [DEFAULT_ENDPOINT], curve_secret, allow_keys,
                              journal, fanout, cluster)
    except BindError as exc:
        store.close()
        key = "broker.bind_in_use" if exc.in_use else "broker.bind_failed"
        _fail(t(key, endpoint=exc.endpoint, reason=exc.reason), 1)
    except KeyFileError as exc:
        store.close()
        _fail(str(exc), 1)
    except zmq.ZMQError as exc:
        store.close()
        _fail(t("broker.curve_failed", reason=exc.strerror), 1)
    if admin_endpoint is not None:
        from zchat.broker.admin import Admin

        try:
            server.serve_admin(admin_endpoint, Admin(core, "cluster" if cluster_url else
                                                     store_kind, where))
        except BindError as exc:
            server.close(linger=0)
            store.close()
            key = "broker.bind_in_use" if exc.in_use else "broker.bind_failed"
            _fail(t(key, endpoint=exc.endpoint, reason=exc.reason), 1)
        log.info("admin socket on %s (this user's only)", admin_endpoint)
    if server.gate is not None and server.gate.allowed is not None:  # operators may connect
        server.gate.allowed.update(key.encode("ascii") for key in chiefs.values())
        server.gate.allowed.update(key.encode("ascii") for key in gateways)  # gateways too
    if chiefs:
        log.info("operators: %s", ", ".join(sorted(chiefs)))
    if gateway_keys is not None:
        log.info("gateway keys %s: %d key(s)", gateway_keys, len(gateways))
        pinned = sorted(name for name, key in core.admission.pins.items() if key in gateways)
        if pinned:  # (harmless, but no one can ever join as these)
            log.warning("--allow-keys pins %s to a gateway's key: nobody can join as %s "
                        "(gateways' keys are admitted without being in the allow list)",
                        ", ".join(pinned), "them" if len(pinned) > 1 else "it")
    for endpoint in server.exposed_without_encryption():
        log.warning(t("broker.exposed", endpoint=endpoint))
    exporter = None
    if metrics_at is not None:
        from zchat.broker.metrics import Exporter, Metrics, loopback

        host, port = metrics_at
        metrics = Metrics(core, cluster=cluster is not None)
        try:
            exporter = Exporter(metrics.registry, host, port)
        except OSError as exc:
            server.close(linger=0)
            if index is not None:
                index.close()
            store.close()
            if audit is not None:
                audit.close()
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            _fail(t("broker.metrics_failed", address=shown, reason=exc.strerror or exc), 1)
        server.metrics = metrics
        if not loopback(host):
            log.warning(t("broker.metrics_exposed", url=exporter.url))
        log.info(t("log.metrics", url=exporter.url))
    endpoints = " ".join(server.endpoints)
    log.info(t("broker.started", pid=os.getpid(), heartbeat=heartbeat, endpoints=endpoints))
    # The ready line, on stdout, for people and for scripts that wait for it.
    click.echo(t("broker.listening", version=__version__, endpoints=endpoints))
    try:
        told = server.run()
    except StoreError as exc:
        log.critical("%s", exc)
        server.close(linger=0)
        _fail(str(exc), 1)
    except Exception:
        log.exception(t("broker.crashed"))
        server.close(linger=0)
        sys.exit(1)
    log.info(t("broker.stopping", count=told))
    if exporter is not None:
        exporter.stop()
    server.close()
    if index is not None:
        index.close()
    store.close()
    if audit is not None:
        audit.close()
    log.info(t("broker.stopped"))


def _same_file(admin: str, binds: tuple[str, ...]) -> bool:
    """Whether the admin socket's path is a --bind ipc endpoint's (or its feed's)."""
    path = os.path.abspath(admin.removeprefix("ipc://"))
    chat = {os.path.abspath(e.removeprefix("ipc://")) for e in binds if e.startswith("ipc://")}
    return path in chat or path in {p + ".feed" for p in chat}


def _check_room(value: str) -> str:
    """--default-room: a room name, with or without its #."""
    room = c.ROOM_PREFIX + value.removeprefix(c.ROOM_PREFIX)
    problem = room_problem(room)
    if problem is not None:
        raise click.BadParameter(f"{value!r}: {problem}")
    return room


def _check_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise click.BadParameter(f"{value!r}: {problem} (1 to {c.MAX_NAME_CHARS} characters, "
                                 "no spaces, control or invisible characters, "
                                 "not starting with @ or /)")
    return value


def _check_endpoints(ctx: click.Context, param: click.Parameter,
                     values: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse a malformed endpoint before any traffic, as a usage error.

    ZCHAT_CONNECT may also separate endpoints by commas (click splits it on
    whitespace only); a --connect value is taken whole.
    """
    from zchat.client.endpoint import endpoint_problem

    if ctx.get_parameter_source(param.name or "") is ParameterSource.ENVIRONMENT:
        values = tuple(part.strip() for value in values for part in value.split(",")
                       if part.strip())
    if not values:
        raise click.BadParameter("no endpoint given", param_hint="'--connect'")
    for endpoint in values:
        problem = endpoint_problem(endpoint)
        if problem is not None:
            raise click.BadParameter(f"{endpoint!r}: {problem}", param_hint="'--connect'")
    return values


def _check_server_key(ctx: click.Context, param: click.Parameter,
                      value: Path | None) -> Path | None:
    """The broker's public key file must hold a key: checked before one of ours is made."""
    if value is not None:
        import zmq.auth

        try:
            zmq.auth.load_certificate(value)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read key file: {exc}") from None
    return value


@main.command(context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@click.option("--connect", "endpoints", multiple=True, envvar="ZCHAT_CONNECT",
              default=(DEFAULT_ENDPOINT,), show_default=True, metavar="ENDPOINT",
              callback=_check_endpoints,
              help="A broker's ZeroMQ endpoint; repeat it for brokers to fail over to, in "
                   "turn (ZCHAT_CONNECT: several, separated by spaces or commas).")
@click.option("--heartbeat", type=_heartbeat, default=c.DEFAULT_HEARTBEAT, show_default=True,
              help="Heartbeat interval until the broker announces its own.")
@click.option("--lang", type=_lang, default=None, help="Language of messages (default: locale).")
@click.option("--show-acks", is_flag=True, default=False,
              help="Print a line when the broker has stored each of your messages.")
@click.option("--server-key", type=_file, default=None, envvar="ZCHAT_SERVER_KEY",
              callback=_check_server_key,
              help="The broker's public key file: turns CURVE encryption on.")
@click.option("--key", "key_file", type=_file, default=None, envvar="ZCHAT_KEY",
              help="Your secret key file (zchat keygen). Default: one kept for NAME under "
                   "~/.config/zchat/keys, created the first time.")
def join(name: str, endpoints: tuple[str, ...], heartbeat: float, lang: str | None,
         show_acks: bool, server_key: Path | None, key_file: Path | None) -> None:
    """Join the chat as NAME. Type /help once in."""
    # Every option is checked (here and in the callbacks) before a key is made or a
    # socket opened.
    if key_file is not None and server_key is None:
        raise click.BadParameter("needs --server-key", param_hint="'--key'")

    import zmq

    from zchat.client.app import ChatClient, make_screen
    from zchat.client.render import Renderer
    from zchat.client.texts import client_catalogue
    from zchat.common.curve import Curve

    catalogue = client_catalogue(pick_lang(lang))
    curve = None
    if server_key is not None:
        if key_file is None:
            from zchat.client.keyring import default_secret

            try:
                key_file, created = default_secret(name)
            except OSError as exc:
                _fail(f"cannot create your key: {exc}", 1)
            if created:
                click.echo(catalogue.t("client.key_created", path=key_file))
        try:
            curve = Curve.from_files(server_key, key_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(errors="backslashreplace")
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    stdin_fd = sys.stdin.fileno()
    screen, editor = make_screen(stdin_fd, out)
    client = ChatClient(name, endpoints, heartbeat, catalogue, screen,
                        Renderer(catalogue, colour=colour), stdin_fd, editor, show_acks, curve)
    try:
        code = client.run()
    except zmq.ZMQError as exc:
        _fail(f"{client.endpoint}: {exc.strerror}", 1)
    sys.exit(code)


@main.command(context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Where to write the two files.")
def keygen(name: str, folder: Path) -> None:
    """Make a CURVE key pair: NAME.key (public, to share) and NAME.key_secret (mode 0600)."""
    from zchat.client.keyring import create_pair

    try:
        public, secret = create_pair(folder, name)
    except FileExistsError as exc:
        _fail(str(exc), 1)
    except OSError as exc:
        _fail(f"cannot write keys in {folder}: {exc.strerror}", 1)
    click.echo(f"public key: {public}\nsecret key: {secret} (keep it private)")


# ---- zchat web --------------------------------------------------------------------------

def _check_connect(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--connect: one broker endpoint, tcp://HOST:PORT or ipc://PATH."""
    problem = _connect_problem(value)
    if problem is not None:
        raise click.BadParameter(f"{value!r}: {problem}")
    return value


#: A --connect endpoint of zchat web: tcp://HOST:PORT (HOST an address or name) or ipc://PATH.
_CONNECT_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


def _connect_problem(endpoint: str) -> str | None:
    if endpoint.startswith("ipc://"):
        return None if len(endpoint) > len("ipc://") else "an ipc endpoint needs a path"
    match = _CONNECT_TCP.fullmatch(endpoint)
    if match is None:
        return "expected tcp://HOST:PORT or ipc://PATH"
    if not 1 <= int(match.group(2)) <= 65535:
        return "the port must be 1 to 65535"
    return None


def _check_listen(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    from zchat.gateway.address import parse_listen

    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None


def _check_origins(ctx: click.Context, param: click.Parameter,
                   values: tuple[str, ...]) -> tuple[str, ...]:
    from zchat.gateway.origin import origin_option_problem

    for value in values:
        problem = origin_option_problem(value)
        if problem is not None:
            raise click.BadParameter(f"{value!r}: {problem}")
    return values


def _check_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """--forwarded-by: the proxy's IP address."""
    if value is None:
        return ""
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected an IP address (the proxy's)") from None


@main.command(context_settings=_CONTEXT)
@click.option("--connect", default=DEFAULT_ENDPOINT, show_default=True, metavar="ENDPOINT",
              callback=_check_connect,
              help="The broker's ZeroMQ endpoint (tcp://HOST:PORT or ipc://PATH). Every "
                   "WebSocket gets a DEALER of its own there: ipc:// beside the broker, or "
                   "raise the broker's --max-per-address.")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              callback=_check_listen,
              help="Where to serve the page and its WebSocket (/ws); port 0 picks a free one.")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
              callback=_check_origins,
              help="Another page origin (https://chat.example.org) allowed to open the "
                   "WebSocket; repeatable. The page's own origin always is.")
@click.option("--max-per-address", type=click.IntRange(1), default=8, show_default=True,
              help="WebSockets open at once from one address (IPv6: one /64).")
@click.option("--max-connections", type=click.IntRange(1), default=1000, show_default=True,
              help="WebSockets open and sessions parked, in all.")
@click.option("--idle-timeout", type=_Seconds(1, 86400), default=60.0, show_default=True,
              metavar="SECONDS",
              help="Close a WebSocket (1008) that sends nothing for this long.")
@click.option("--resume-grace", type=_Seconds(0, 3600), default=20.0, show_default=True,
              metavar="SECONDS",
              help="Keep a joined session this long after its WebSocket closed, so a reload "
                   "resumes it without a leave (0: off).")
@click.option("--forwarded-by", default=None, metavar="ADDRESS", callback=_check_address,
              help="The reverse proxy's address: from it only, the last X-Forwarded-For "
                   "entry is the client's address.")
@click.option("--server-key", type=_file, default=None, envvar="ZCHAT_SERVER_KEY",
              callback=_check_server_key,
              help="The broker's public key file: every DEALER and SUB connects with CURVE.")
@click.option("--key", "key_file", type=_file, default=None, envvar="ZCHAT_KEY",
              help="The gateway's own secret key file (zchat keygen); with --server-key.")
@click.option("--lang", type=_lang, default=None, help="Language of messages (default: locale).")
def web(connect: str, listen: tuple[str, int], allow_origins: tuple[str, ...],
        max_per_address: int, max_connections: int, idle_timeout: float, resume_grace: float,
        forwarded_by: str, server_key: Path | None, key_file: Path | None,
        lang: str | None) -> None:
    """Serve the chat to browsers: the page, and a WebSocket bridged to the broker
    (docs/WEB.md). Runs until SIGINT or SIGTERM."""
    if (server_key is None) != (key_file is None):
        raise click.BadParameter("--server-key and --key go together (the broker's public "
                                 "key, and the gateway's own secret key)",
                                 param_hint="'--key'" if server_key is None
                                 else "'--server-key'")
    import asyncio

    from zchat.common.curve import Curve
    from zchat.gateway.address import loopback
    from zchat.gateway.app import serve
    from zchat.gateway.settings import Settings
    from zchat.gateway.texts import web_catalogue

    t = web_catalogue(pick_lang(lang)).t
    curve = None
    if server_key is not None and key_file is not None:
        try:
            curve = Curve.from_files(server_key, key_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--key'") from None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    settings = Settings(connect, frozenset(allow_origins), max_per_address, max_connections,
                        idle_timeout, resume_grace, forwarded_by, curve)
    host, port = listen
    shown_host = f"[{host}]" if ":" in host else host

    def ready(bound: int) -> None:
        url = f"http://{shown_host}:{bound}/"
        if not loopback(host):
            click.echo(t("web.exposed", url=url), err=True)
        if key_file is not None:
            public = key_file.with_name(key_file.name.removesuffix("_secret"))
            click.echo(t("web.gateway_key", path=public))
        click.echo(t("web.serving", url=url, connect=connect))
        sys.stdout.flush()

    try:
        asyncio.run(serve(settings, host, port, None, ready))
    except OSError as exc:
        _fail(t("web.listen_failed", address=f"{shown_host}:{port}",
                reason=exc.strerror or exc), 1)
    logging.getLogger("zchat.gateway").info(t("web.stopped"))


# ---- zchat admin ------------------------------------------------------------------------

def _check_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int:
    """--for: 90s, 10m, 2h, 7d, 1w, 1h30m (a bare number: seconds); absent: 0 (until lifted)."""
    if value is None:
        return 0
    from zchat.common.durations import duration

    seconds = duration(value)
    if seconds is None or seconds > c.MAX_MOD_SECONDS:
        raise click.BadParameter(f"{value!r}: expected a duration such as 90s, 10m, 2h, 7d "
                                 "or 1h30m (more than 0, at most 10 years)")
    return seconds


def _check_socket(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """SOCKET: the admin socket's file, as ipc://PATH or PATH."""
    path = value.removeprefix("ipc://")
    if not path or "://" in path or path.startswith("@"):
        raise click.BadParameter(f"{value!r}: expected the admin socket's path, or ipc://PATH")
    return path


def _check_reason(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str:
    reason = " ".join(value)
    if len(reason) > c.MAX_REASON_CHARS:
        raise click.BadParameter(f"at most {c.MAX_REASON_CHARS} characters")
    return reason


def _check_room_argument(ctx: click.Context, param: click.Parameter,
                         value: str | None) -> str | None:
    """A room, # optional (in a shell, a word that starts with # is a comment)."""
    return None if value is None else _check_room(value)


_json = click.option("--json", "as_json", is_flag=True,
                     help="Print the broker's reply as one line of JSON, for scripts.")
_reason = click.argument("reason", nargs=-1, callback=_check_reason)


@main.group(context_settings=_CONTEXT)
@click.argument("socket", callback=_check_socket)
@click.option("--timeout", type=_Seconds(0.1, 3600), default=5.0, show_default=True,
              help="Seconds to wait for the broker's answer.")
@_json
@click.pass_context
def admin(ctx: click.Context, socket: str, timeout: float, as_json: bool) -> None:
    """Ask the broker listening on SOCKET (zchat broker --admin ipc://PATH).

    Exit codes: 0 done (status: the broker is healthy); 1 the broker refused or failed
    the request (status: it is not healthy); 2 a usage error; 3 no broker to ask on
    SOCKET (no socket, nothing listening, no permission, no answer within --timeout).
    Rooms may be given without their #: in a shell, a word starting with # is a comment.
    """
    ctx.obj = (socket, timeout, as_json)


def _ask(ctx: click.Context, as_json: bool, op: str, **fields: Any) -> NoReturn:
    """Send one request, show the reply, exit with its code (zchat/admin.py)."""
    from zchat.admin import UNREACHABLE, Unreachable, ask, exit_code, refusal, shown
    from zchat.admin import as_json as dumped
    from zchat.broker.admin_wire import AdminRequest

    path, timeout, group_json = ctx.obj
    request = AdminRequest(op, **fields)
    try:
        reply = ask(path, request, timeout)
    except Unreachable as exc:
        _fail(str(exc), UNREACHABLE)
    if as_json or group_json:
        click.echo(dumped(reply))
    elif not reply["ok"]:
        click.echo(f"zchat: {refusal(reply)}", err=True)
    else:
        try:
            click.echo(shown(request, reply))
        except (KeyError, TypeError, ValueError):  # (a broker of another version)
            click.echo(dumped(reply))
    sys.exit(exit_code(reply))


@admin.command("status", context_settings=_CONTEXT)
@_json
@click.pass_context
def admin_status(ctx: click.Context, as_json: bool) -> None:
    """Uptime, version, users, rooms, event rates, store and cluster. Exit 0 only when
    the broker is healthy (a health check)."""
    _ask(ctx, as_json, "status")


@admin.command("who", context_settings=_CONTEXT)
@click.argument("room", required=False, callback=_check_room_argument)
@_json
@click.pass_context
def admin_who(ctx: click.Context, room: str | None, as_json: bool) -> None:
    """Who is online, or in ROOM: address, key, idle time and rooms of each."""
    _ask(ctx, as_json, "who", room=room or "")


@admin.command("rooms", context_settings=_CONTEXT)
@_json
@click.pass_context
def admin_rooms(ctx: click.Context, as_json: bool) -> None:
    """The rooms, with their member counts and topics."""
    _ask(ctx, as_json, "rooms")


@admin.command("bans", context_settings=_CONTEXT)
@_json
@click.pass_context
def admin_bans(ctx: click.Context, as_json: bool) -> None:
    """The bans and mutes in force, the soonest to end first."""
    _ask(ctx, as_json, "bans")


@admin.command("kick", context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@_reason
@_json
@click.pass_context
def admin_kick(ctx: click.Context, name: str, reason: str, as_json: bool) -> None:
    """End NAME's session (they may join again); REASON is shown to everyone concerned."""
    _ask(ctx, as_json, c.M_KICK, name=name, reason=reason)


@admin.command("ban", context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@_reason
@click.option("--for", "seconds", default=None, metavar="DURATION", callback=_check_duration,
              help="How long: 90s, 10m, 2h, 7d, 1h30m. Default: until unban.")
@_json
@click.pass_context
def admin_ban(ctx: click.Context, name: str, reason: str, seconds: int,
              as_json: bool) -> None:
    """Ban NAME (by its key when it is bound to one): end its session and refuse its JOINs."""
    _ask(ctx, as_json, c.M_BAN, name=name, seconds=seconds, reason=reason)


@admin.command("unban", context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@_json
@click.pass_context
def admin_unban(ctx: click.Context, name: str, as_json: bool) -> None:
    """Lift NAME's ban."""
    _ask(ctx, as_json, c.M_UNBAN, name=name)


@admin.command("mute", context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@click.argument("room", callback=_check_room_argument)
@_reason
@click.option("--for", "seconds", default=None, metavar="DURATION", callback=_check_duration,
              help="How long: 90s, 10m, 2h, 7d, 1h30m. Default: until unmute.")
@_json
@click.pass_context
def admin_mute(ctx: click.Context, name: str, room: str, reason: str, seconds: int,
               as_json: bool) -> None:
    """Refuse what NAME says in ROOM."""
    _ask(ctx, as_json, c.M_MUTE, name=name, room=room, seconds=seconds, reason=reason)


@admin.command("unmute", context_settings=_CONTEXT)
@click.argument("name", callback=_check_name)
@click.argument("room", callback=_check_room_argument)
@_json
@click.pass_context
def admin_unmute(ctx: click.Context, name: str, room: str, as_json: bool) -> None:
    """Let NAME speak in ROOM again."""
    _ask(ctx, as_json, c.M_UNMUTE, name=name, room=room)


def _check_cluster(url: str | None) -> str | None:
    """A Redis URL (redis://, rediss://, unix://), or exit 2 saying what is wrong."""
    if url is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            ok = bool(parts.path)
        else:
            ok = parts.scheme in ("redis", "rediss") and bool(parts.hostname) and \
                (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok:
        raise click.BadParameter(f"{url!r}: expected redis://HOST:PORT[/DB]",
                                 param_hint="'--cluster'")
    return url


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"zchat: {message}", err=True)
    sys.exit(code)
