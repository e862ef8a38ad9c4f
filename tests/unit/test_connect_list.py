"""Several --connect endpoints (or ZCHAT_CONNECT): parsing, and the client's turn order."""

import io

import click
import pytest
from click.testing import CliRunner

from zchat.cli import DEFAULT_ENDPOINT, join, main
from zchat.client.app import (
    RESUME_GRACE,
    RESUME_REDIAL_MS,
    ChatClient,
    State,
    resume_grace,
)
from zchat.client.render import Renderer
from zchat.client.screen import PlainScreen
from zchat.client.texts import client_catalogue
from zchat.protocol import Say

A = "tcp://127.0.0.1:7001"
B = "tcp://localhost:7002"
C = "ipc:///tmp/zchat-c.sock"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("ZCHAT_CONNECT", raising=False)


def _endpoints(*args: str) -> tuple[str, ...]:
    """The endpoints `zchat join` would dial, parsed and checked but never joined."""
    with join.make_context("join", ["ana", *args]) as ctx:
        return ctx.params["endpoints"]


def test_default_is_the_single_default_endpoint():
    assert _endpoints() == (DEFAULT_ENDPOINT,)


def test_one_connect():
    assert _endpoints("--connect", A) == (A,)


def test_repeated_connect_keeps_the_order():
    assert _endpoints("--connect", A, "--connect", B, "--connect", C) == (A, B, C)


@pytest.mark.parametrize("value", [f"{A} {B} {C}", f"{A},{B},{C}", f" {A}, {B}  ,{C} ",
                                   f"{A}\t{B}\n{C}"])
def test_environment_list_by_spaces_or_commas(monkeypatch, value):
    monkeypatch.setenv("ZCHAT_CONNECT", value)
    assert _endpoints() == (A, B, C)


def test_command_line_wins_over_environment(monkeypatch):
    monkeypatch.setenv("ZCHAT_CONNECT", f"{A} {B}")
    assert _endpoints("--connect", C) == (C,)


def test_a_connect_value_is_taken_whole():
    # Only ZCHAT_CONNECT is split: an ipc path may hold a comma.
    assert _endpoints("--connect", "ipc:///tmp/a,b") == ("ipc:///tmp/a,b",)


def test_environment_of_separators_only_is_refused(monkeypatch):
    monkeypatch.setenv("ZCHAT_CONNECT", " , ,")
    with pytest.raises(click.BadParameter, match="no endpoint given"):
        _endpoints()


def _run(*args: str, env: dict[str, str] | None = None):
    base = {"ZCHAT_CONNECT": None, "LANG": "C", "LC_ALL": None, "LC_MESSAGES": None}
    return CliRunner().invoke(main, list(args), env={**base, **(env or {})})


@pytest.mark.parametrize("args", [
    ["--connect", "nonsense", "--connect", B],
    ["--connect", A, "--connect", "tcp://"],
    ["--connect", A, "--connect", B, "--connect", "tcp://h:99999"],
])
def test_any_bad_endpoint_is_a_usage_error(args):
    result = _run("join", "ana", *args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--connect'" in result.output
    bad = next(a for a in args if a not in (A, B, "--connect"))
    assert repr(bad) in result.output


@pytest.mark.parametrize("value", [f"{A} nonsense", f"{A},udp://h:1"])
def test_bad_endpoint_in_environment_list_is_a_usage_error(value):
    result = _run("join", "ana", env={"ZCHAT_CONNECT": value})
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--connect'" in result.output


# ---- the client's turn order (no socket is opened) -----------------------------------

def _client(endpoints: list[str]) -> tuple[ChatClient, io.StringIO]:
    out = io.StringIO()
    catalogue = client_catalogue("en")
    client = ChatClient("ana", endpoints, 1.0, catalogue, PlainScreen(out),
                        Renderer(catalogue), stdin_fd=0)
    client._open = lambda: None  # type: ignore[method-assign]
    return client, out


def test_starting_over_moves_round_robin_and_says_where():
    client, out = _client([A, B, C])
    try:
        assert client.endpoint == A
        dialled = []
        for _ in range(4):
            client._start_over()
            dialled.append(client.endpoint)
        assert dialled == [B, C, A, B]
        lines = out.getvalue().splitlines()
        assert [line.split(" * ", 1)[1] for line in lines] == [
            f"connecting to {e} as ana..." for e in dialled]
    finally:
        client.ctx.term()


def test_a_single_endpoint_starts_over_silently_on_the_same_one():
    client, out = _client([A])
    try:
        client._start_over()
        client._start_over()
        assert client.endpoint == A
        assert out.getvalue() == ""
    finally:
        client.ctx.term()


# ---- a dropped connection: the same endpoint first, for a grace ----------------------

T0 = 1000.0  # a fake monotonic clock's "now"


def _joined(endpoints: list[str]) -> tuple[ChatClient, io.StringIO, list[tuple[str, int | None]]]:
    """A client that believes it is joined at its first endpoint; what it would dial
    is recorded instead (endpoint, redial interval)."""
    client, out = _client(endpoints)
    dials: list[tuple[str, int | None]] = []

    def fake_open(redial_ms: int | None = None) -> None:  # the state _open leaves
        dials.append((client.endpoint, redial_ms))
        client._resume_until = None
        client.state = State.CONNECTING
        client._join_sent = client._last_recv = T0

    client._open = fake_open  # type: ignore[method-assign]
    client._read_broker = lambda: None  # type: ignore[method-assign]
    client.state = State.JOINED
    client._last_recv = client._last_send = T0
    return client, out, dials


def test_a_drop_redials_the_same_endpoint_at_once_saying_nothing():
    client, out, dials = _joined([A, B])
    try:
        client._dropped(T0)
        assert dials == [(A, RESUME_REDIAL_MS)]
        assert client._next_deadline() == T0 + RESUME_GRACE
        client._timers(T0 + RESUME_GRACE - 0.01)
        client._queue(Say("oi"))  # kept for after the WELCOME, without a word
        assert dials == [(A, RESUME_REDIAL_MS)]
        assert out.getvalue() == ""
    finally:
        client.ctx.term()


def test_a_broker_not_back_within_the_grace_is_lost_and_the_next_one_dialled():
    client, out, dials = _joined([A, B])
    try:
        client._dropped(T0)
        client._timers(T0 + RESUME_GRACE)
        assert dials == [(A, RESUME_REDIAL_MS), (B, None)]
        assert [line.split(" * ", 1)[1] for line in out.getvalue().splitlines()] == [
            "Connection to the broker lost; reconnecting...", f"connecting to {B} as ana..."]
    finally:
        client.ctx.term()


def test_a_lone_broker_not_back_within_the_grace_is_said_lost():
    client, out, dials = _joined([A])
    try:
        client._dropped(T0)
        client._timers(T0 + RESUME_GRACE)
        assert dials == [(A, RESUME_REDIAL_MS), (A, None)]
        assert out.getvalue().splitlines()[0].endswith(
            "Connection to the broker lost; reconnecting...")
    finally:
        client.ctx.term()


def test_a_drop_before_the_welcome_is_left_to_the_join_retry():
    client, _, dials = _joined([A, B])
    try:
        client.state = State.CONNECTING  # (a broker that closes us before WELCOME)
        client._join_sent = T0
        client._dropped(T0)
        assert dials == [] and client._resume_until is None
        assert client._next_deadline() == T0 + client._retry
    finally:
        client.ctx.term()


def test_the_grace_is_never_longer_than_liveness():
    assert resume_grace(1.0) == RESUME_GRACE
    assert resume_grace(0.05) == pytest.approx(0.15)


def test_a_client_needs_an_endpoint():
    with pytest.raises(ValueError):
        _client([])
