"""zchat/cli.py: only the argument surface; nothing is ever served or joined."""

import pytest
from click.testing import CliRunner

from zchat.cli import main
from zchat.common import __version__


def _run(*args: str, env: dict[str, str] | None = None):
    base = {"ZCHAT_CONNECT": None, "ZCHAT_BIND": None, "LANG": "C", "LC_ALL": None,
            "LC_MESSAGES": None}
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
    (["--help"], ["broker", "join", "--version", "--help"]),
    (["-h"], ["broker", "join"]),
    (["broker", "--help"], ["--bind", "--log-file", "--heartbeat", "--lang", "--log-private",
                            "tcp://127.0.0.1:9999"]),
    (["join", "--help"], ["NAME", "--connect", "--heartbeat", "--lang",
                          "tcp://127.0.0.1:9999"]),
    (["join", "-h"], ["--connect"]),
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
