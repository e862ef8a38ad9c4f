"""zchat/cli.py: only the argument surface; nothing is ever served or joined."""

import pytest
from click.testing import CliRunner

from zchat.cli import main
from zchat.common import __version__


def _run(*args: str, env: dict[str, str] | None = None):
    base = {"ZCHAT_CONNECT": None, "ZCHAT_BIND": None, "ZCHAT_METRICS": None, "LANG": "C",
            "LC_ALL": None, "LC_MESSAGES": None}
    return CliRunner().invoke(main, list(args), env={**base, **(env or {})})


@pytest.mark.parametrize(("name", "problem"), [
    ("", "empty"),
    ("a b", "whitespace or control character"),
    ("@x", "starts with @ or /"),
    ("/x", "starts with @ or /"),
    ("x" * 33, "too long"),
    ("a\x1bb", "whitespace or control character"),
    ("a\tb", "whitespace or control character"),
    ("ana\ufe00", "invisible character U+FE00"),  # looks exactly like ana
    ("ana\u3164", "invisible character U+3164"),
], ids=repr)
def test_join_invalid_name_is_a_usage_error(name, problem):
    result = _run("join", name)
    assert result.exit_code == 2, result.output
    assert "Invalid value for 'NAME'" in result.output
    assert problem in result.output
    assert "1 to 32 characters" in result.output
    assert "\x1b" not in result.output  # the bad name is shown escaped (repr)
    assert isinstance(result.exception, SystemExit)


def test_join_name_is_required():
    result = _run("join")
    assert result.exit_code == 2
    assert "Missing argument 'NAME'" in result.output


@pytest.mark.parametrize("endpoint", ["not-an-endpoint", "tcp://", "foo://bar:1"])
def test_join_malformed_endpoint_is_a_usage_error(endpoint):
    result = _run("join", "ana", "--connect", endpoint)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--connect'" in result.output
    assert repr(endpoint) in result.output


def test_join_malformed_endpoint_from_environment():
    result = _run("join", "ana", env={"ZCHAT_CONNECT": "not-an-endpoint"})
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--connect'" in result.output


@pytest.mark.parametrize("command", ["broker", "join"])
@pytest.mark.parametrize("value", ["0", "-1", "0.01", "3601", "abc", "nan"])
def test_heartbeat_out_of_range_is_a_usage_error(command, value):
    args = [command, "--heartbeat", value] if command == "broker" else [
        command, "ana", "--heartbeat", value]
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--heartbeat'" in result.output


@pytest.mark.parametrize("args", [["broker", "--lang", "fr"], ["join", "ana", "--lang", "de"]])
def test_unknown_language_is_a_usage_error(args):
    result = _run(*args)
    assert result.exit_code == 2
    assert "Invalid value for '--lang'" in result.output


def test_unknown_option_and_command():
    assert _run("broker", "--nope").exit_code == 2
    assert _run("dance").exit_code == 2


@pytest.mark.parametrize(("args", "expected"), [
    (["--help"], ["broker", "join", "admin", "--version", "--help"]),
    (["-h"], ["broker", "join"]),
    (["broker", "--help"], ["--bind", "--log-file", "--heartbeat", "--lang", "--log-private",
                            "tcp://127.0.0.1:9999", "--metrics HOST:PORT"]),
    (["join", "--help"], ["NAME", "--connect", "--heartbeat", "--lang",
                          "tcp://127.0.0.1:9999"]),
    (["join", "-h"], ["--connect"]),
    (["broker", "--help"], ["--admin", "ipc://PATH"]),
    (["admin", "--help"], ["SOCKET", "status", "who", "rooms", "kick", "ban", "unban", "bans",
                           "mute", "unmute", "--timeout", "--json", "Exit codes"]),
    (["admin", "/run/zchat/admin", "ban", "--help"], ["NAME", "[REASON]...", "--for",
                                                      "--json"]),
])
def test_help_lists_the_options(args, expected):
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    for word in expected:
        assert word in result.output, word


def test_version():
    result = _run("--version")
    assert result.exit_code == 0
    assert result.output == f"zchat, version {__version__}\n"


# ---- every option is checked before anything is opened, made or locked -----------------

@pytest.fixture
def keys(tmp_path):
    """server.key(_secret), a garbage key, an allow list with one key and one with garbage."""
    import zmq.auth

    folder = tmp_path / "keys"
    folder.mkdir()
    zmq.auth.create_certificates(folder, "server")
    (folder / "garbage.key").write_text("not a key\n")
    allow = tmp_path / "allow"
    allow.mkdir()
    zmq.auth.create_certificates(allow, "ana")
    (allow / "ana.key_secret").unlink()
    bad_allow = tmp_path / "bad-allow"
    bad_allow.mkdir()
    (bad_allow / "eve.key").write_text("not a key\n")
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o777)  # (a place for an admin socket that others could take)
    return tmp_path


def _run_in(tmp_path, *args: str, env: dict[str, str] | None = None):
    """Run with every place zchat could write (data, log, keys) inside ``tmp_path``."""
    return _run(*args, env={"XDG_DATA_HOME": str(tmp_path / "xdg-data"),
                            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
                            "ZCHAT_DATA_DIR": None, "ZCHAT_CLUSTER": None,
                            "ZCHAT_CURVE_SECRET": None, "ZCHAT_SERVER_KEY": None,
                            "ZCHAT_KEY": None, **(env or {})})


def _everything_in(folder) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


BAD_BROKER = [
    (["--allow-keys", "{tmp}/allow"], "Invalid value for '--allow-keys': needs --curve-secret"),
    (["--bind", "nonsense"], "Invalid value for '--bind': 'nonsense': expected tcp://HOST:PORT"),
    (["--bind", "tcp://"], "Invalid value for '--bind'"),
    (["--bind", "tcp://127.0.0.1:notaport"], "Invalid value for '--bind'"),
    (["--bind", "udp://127.0.0.1:5"], "Invalid value for '--bind'"),
    (["--bind", "tcp://127.0.0.1:65536"], "the port must be 0 to 65535, or *"),
    (["--bind", "tcp://127.0.0.1:*", "--bind", "ipc://"], "an ipc endpoint needs a path"),
    (["--curve-secret", "{tmp}/keys/server.key"], "holds no secret key"),
    (["--curve-secret", "{tmp}/keys/garbage.key"], "Invalid value for '--curve-secret'"),
    (["--curve-secret", "{tmp}/keys/missing"], "Invalid value for '--curve-secret'"),
    (["--curve-secret", "{tmp}/keys/server.key_secret", "--allow-keys", "{tmp}/bad-allow"],
     "Invalid value for '--allow-keys': cannot read key file"),
    (["--curve-secret", "{tmp}/keys/server.key_secret", "--allow-keys", "{tmp}/no-such"],
     "Invalid value for '--allow-keys'"),
    (["--gateway-keys", "{tmp}/allow"],
     "Invalid value for '--gateway-keys': needs --curve-secret"),
    (["--curve-secret", "{tmp}/keys/server.key_secret", "--gateway-keys", "{tmp}/no-such"],
     "Invalid value for '--gateway-keys'"),
    (["--curve-secret", "{tmp}/keys/server.key_secret", "--gateway-keys", "{tmp}/bad-allow"],
     "Invalid value for '--gateway-keys': cannot read key file"),
    (["--curve-secret", "{tmp}/keys/server.key_secret", "--operators", "{tmp}/allow",
      "--gateway-keys", "{tmp}/allow"],
     "is also an operator's key (--operators"),
    (["--cluster", "http://example.org"], "Invalid value for '--cluster'"),
    (["--retain", "5"], "Invalid value for '--retain'"),
    (["--history", "-1"], "Invalid value for '--history'"),
    (["--rate", "0"], "Invalid value for '--rate'"),
    (["--max-clients", "0"], "Invalid value for '--max-clients'"),
    (["--store", "redis"], "Invalid value for '--store'"),
    (["--fanout", "radio"], "Invalid value for '--fanout'"),
    (["--default-room", "a b"], "Invalid value for '--default-room'"),
    (["--default-room", "#"], "Invalid value for '--default-room': '#': empty"),
    (["--default-room", "#@x"], "starts with @ or /"),
    (["--max-rooms", "0"], "Invalid value for '--max-rooms'"),
    (["--metrics", "nonsense"],
     "Invalid value for '--metrics': 'nonsense': expected HOST:PORT (or PORT, on 127.0.0.1)"),
    (["--metrics", "127.0.0.1:"], "Invalid value for '--metrics': '127.0.0.1:': expected"),
    (["--metrics", "127.0.0.1:99999"], "'127.0.0.1:99999': the port must be 0 to 65535"),
    (["--metrics", "http://127.0.0.1:9100"], "Invalid value for '--metrics'"),
    (["--metrics", "[::1:9100"], "Invalid value for '--metrics'"),
    (["--metrics", "host:port"], "Invalid value for '--metrics'"),
    (["--metrics", ""], "Invalid value for '--metrics'"),
    (["--admin", "tcp://127.0.0.1:5555"], "Invalid value for '--admin'"),
    (["--admin", "ipc://@zchat"], "an abstract socket (ipc://@NAME) has no file permissions"),
    (["--admin", "ipc://{tmp}/open/admin"], "/open may be written by anyone (mode 0777), who "
                                            "could replace the admin socket"),
    (["--admin", "ipc://{tmp}/keys/garbage.key"], "is not a socket (binding there would "
                                                  "delete it)"),
    (["--admin", "ipc://{tmp}/no/such/admin"], "Invalid value for '--admin'"),
    (["--bind", "ipc://{tmp}/chat", "--admin", "ipc://{tmp}/chat"],
     "Invalid value for '--admin': is also a --bind endpoint"),
    (["--bind", "ipc://{tmp}/chat", "--fanout", "pub", "--admin", "ipc://{tmp}/chat.feed"],
     "is also a --bind endpoint"),
]


@pytest.mark.parametrize(("args", "message"), BAD_BROKER,
                         ids=[" ".join(args) for args, _ in BAD_BROKER])
def test_a_bad_broker_option_leaves_no_data_dir_log_or_lock(keys, args, message):
    tmp = keys
    before = _everything_in(tmp)
    result = _run_in(tmp, "broker", "--data-dir", str(tmp / "data"),
                     "--log-file", str(tmp / "zchat.log"),
                     *(arg.format(tmp=tmp) for arg in args))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a usage error, not a traceback
    assert message in result.output.replace("\n", " "), result.output
    assert _everything_in(tmp) == before  # no data dir, lock, log file or key made


def test_a_bad_bind_from_the_environment_is_a_usage_error(tmp_path):
    result = _run_in(tmp_path, "broker", "--data-dir", str(tmp_path / "data"),
                     env={"ZCHAT_BIND": "tcp://127.0.0.1:* nonsense"})
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--bind': 'nonsense'" in result.output
    assert not (tmp_path / "data").exists()


def test_a_bad_metrics_address_from_the_environment_is_a_usage_error(tmp_path):
    result = _run_in(tmp_path, "broker", "--data-dir", str(tmp_path / "data"),
                     env={"ZCHAT_METRICS": "localhost"})
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--metrics': 'localhost': expected HOST:PORT" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("value", "address"), [
    ("9100", ("127.0.0.1", 9100)), ("127.0.0.1:9100", ("127.0.0.1", 9100)),
    ("0.0.0.0:9100", ("0.0.0.0", 9100)), ("[::1]:9100", ("::1", 9100)),
    ("[::]:0", ("::", 0)), ("localhost:65535", ("localhost", 65535)),
    ("metrics.example.org:9100", ("metrics.example.org", 9100)),
])
def test_a_metrics_address_is_host_and_port_loopback_by_default(value, address):
    from zchat.cli import _check_metrics

    assert _check_metrics(value) == address


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:*", "tcp://*:9999", "tcp://[::1]:5555",
                                      "tcp://eth0:5555", "tcp://localhost:0", "ipc:///tmp/z",
                                      "ipc://@abstract"])
def test_a_bind_endpoint_libzmq_can_listen_on_passes_the_check(endpoint):
    from zchat.cli import _bind_problem

    assert _bind_problem(endpoint) is None


BAD_JOIN = [
    (["--key", "{tmp}/keys/server.key_secret"], "Invalid value for '--key': needs --server-key"),
    (["--server-key", "{tmp}/keys/garbage.key"], "Invalid value for '--server-key'"),
    (["--server-key", "{tmp}/keys/missing.key"], "Invalid value for '--server-key'"),
    (["--server-key", "{tmp}/keys/server.key", "--key", "{tmp}/keys/server.key"],
     "holds no secret key"),
    (["--connect", "nonsense"], "Invalid value for '--connect'"),
    (["--heartbeat", "nan"], "Invalid value for '--heartbeat'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_JOIN,
                         ids=[" ".join(args) for args, _ in BAD_JOIN])
def test_a_bad_join_option_makes_no_key_and_opens_nothing(keys, args, message):
    tmp = keys
    before = _everything_in(tmp)
    result = _run_in(tmp, "join", "ana", *(arg.format(tmp=tmp) for arg in args))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert message in result.output.replace("\n", " "), result.output
    assert _everything_in(tmp) == before  # in particular, no key of ana's was made


# ---- zchat admin: its argument surface (no socket is ever reached) -----------------------

ADMIN_USAGE = [
    (["admin"], "Usage: main admin [OPTIONS] SOCKET COMMAND [ARGS]..."),
    (["admin", "/run/zchat/admin"], "Missing command"),
    (["admin", "/run/zchat/admin", "dance"], "No such command 'dance'"),
    (["admin", "tcp://127.0.0.1:5555", "status"], "expected the admin socket's path"),
    (["admin", "ipc://@zchat", "status"], "expected the admin socket's path"),
    (["admin", "--timeout", "0", "/s", "status"], "Invalid value for '--timeout'"),
    (["admin", "/s", "status", "extra"], "Got unexpected extra argument"),
    (["admin", "/s", "kick"], "Missing argument 'NAME'"),
    (["admin", "/s", "kick", "a b"], "Invalid value for 'NAME'"),
    (["admin", "/s", "kick", "bob", "x" * 201], "at most 200 characters"),
    (["admin", "/s", "ban", "@bob"], "starts with @ or /"),
    (["admin", "/s", "ban", "bob", "--for", "2x"], "Invalid value for '--for': '2x'"),
    (["admin", "/s", "ban", "bob", "--for", "0"], "more than 0"),
    (["admin", "/s", "ban", "bob", "--for", "-5m"], "Invalid value for '--for'"),
    (["admin", "/s", "ban", "bob", "--for", "4000d"], "at most 10 years"),
    (["admin", "/s", "unban", "bob", "extra"], "Got unexpected extra argument"),
    (["admin", "/s", "mute", "bob"], "Missing argument 'ROOM'"),
    (["admin", "/s", "mute", "bob", "a b"], "Invalid value for 'ROOM'"),
    (["admin", "/s", "mute", "bob", "#"], "empty"),
    (["admin", "/s", "unmute", "bob"], "Missing argument 'ROOM'"),
    (["admin", "/s", "who", "#a b"], "Invalid value for '[ROOM]'"),
]


@pytest.mark.parametrize(("args", "message"), ADMIN_USAGE,
                         ids=[" ".join(args)[:60] for args, _ in ADMIN_USAGE])
def test_a_bad_admin_command_is_a_usage_error(tmp_path, args, message):
    result = _run_in(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a usage error, not a traceback
    assert "Traceback" not in result.output
    assert message in result.output.replace("\n", " "), result.output


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("10m", 600), ("2h", 7200), ("7d", 604_800), ("1w", 604_800),
    ("1h30m", 5400), ("2H", 7200), (" 5m ", 300),
    ("0", None), ("0m", None), ("", None), ("2x", None), ("h", None), ("1.5h", None),
    ("-1", None), ("1h 30m", None), ("m5", None), ("٣m", None),
])
def test_durations(text, seconds):
    from zchat.common.durations import duration

    assert duration(text) == seconds
