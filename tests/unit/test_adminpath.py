"""broker/adminpath.py: which admin socket paths are refused and why, and a socket bound
there for this user alone (a real ZeroMQ bind in a temporary directory)."""

import os
import socket
import stat
from pathlib import Path

import pytest
import zmq

from zchat.broker.adminpath import (
    AdminPathError,
    bind_owner_only,
    endpoint_problem,
    place_problem,
    remove_if_ours,
)


@pytest.mark.parametrize(("endpoint", "problem"), [
    ("tcp://127.0.0.1:5555", "expected ipc://PATH"),
    ("/run/zchat/admin", "expected ipc://PATH"),
    ("ipc://", "needs a path"),
    ("ipc://@zchat", "abstract socket"),
    ("ipc://*", "not *"),
    ("ipc:///tmp/*", "not *"),
    ("ipc:///" + "x" * 107, "longer than 107 bytes"),
    ("ipc:///run/zchat/admin", None),
    ("ipc://admin.sock", None),
])
def test_endpoint_problem(endpoint: str, problem: str | None) -> None:
    found = endpoint_problem(endpoint)
    assert (found is None) if problem is None else (problem in (found or "")), found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    tmp_path.chmod(0o700)
    return tmp_path


def test_a_directory_others_may_write_to_is_refused(home: Path) -> None:
    run = home / "run"
    run.mkdir()
    for mode, who in ((0o777, "anyone"), (0o770, "its group"), (0o1777, "anyone")):
        run.chmod(mode)
        problem = place_problem(str(run / "admin"))
        assert problem is not None and f"may be written by {who}" in problem
        assert "could replace the admin socket" in problem
    run.chmod(0o755)
    assert place_problem(str(run / "admin")) is None


def test_what_is_at_the_path_must_be_a_socket(home: Path) -> None:
    (home / "notes.txt").write_text("precious")
    problem = place_problem(str(home / "notes.txt"))
    assert problem is not None and "is not a socket (binding there would delete it)" in problem
    (home / "file").write_text("")
    assert "is not a directory" in (place_problem(str(home / "file" / "admin")) or "")


def test_a_missing_directory_needs_a_safe_parent(home: Path) -> None:
    assert place_problem(str(home / "run" / "admin")) is None  # made at bind
    assert "nor" in (place_problem(str(home / "a" / "b" / "admin")) or "")
    open_parent = home / "open"
    open_parent.mkdir()
    open_parent.chmod(0o777)
    assert "not sticky" in (place_problem(str(open_parent / "run" / "admin")) or "")
    open_parent.chmod(0o1777)  # as /tmp is
    assert place_problem(str(open_parent / "run" / "admin")) is None


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.term()


def test_the_socket_is_made_owner_only_in_a_directory_it_makes(home: Path, ctx) -> None:
    path = home / "run" / "admin"
    sock = ctx.socket(zmq.ROUTER)
    try:
        inode = bind_owner_only(sock.bind, f"ipc://{path}")
        assert stat.S_IMODE((home / "run").stat().st_mode) == 0o700
        st = path.lstat()
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_ino == inode
        # A second one there is refused: something listens.
        other = ctx.socket(zmq.ROUTER)
        with pytest.raises(AdminPathError) as refused:
            bind_owner_only(other.bind, f"ipc://{path}")
        other.close(0)
        assert refused.value.in_use
    finally:
        sock.close(0)
    remove_if_ours(str(path), inode)
    assert not path.exists()


def test_a_socket_left_by_a_killed_broker_is_bound_over(home: Path, ctx) -> None:
    path = home / "admin"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a socket file nobody listens on
    stale.close()
    sock = ctx.socket(zmq.ROUTER)
    try:
        inode = bind_owner_only(sock.bind, f"ipc://{path}")
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    finally:
        sock.close(0)
    remove_if_ours(str(path), inode + 1)  # not ours: left alone
    assert path.exists()
    os.unlink(path)


def test_an_unsafe_place_is_refused_at_bind_too(home: Path, ctx) -> None:
    (home / "notes.txt").write_text("precious")
    sock = ctx.socket(zmq.ROUTER)
    try:
        with pytest.raises(AdminPathError, match="not a socket"):
            bind_owner_only(sock.bind, f"ipc://{home / 'notes.txt'}")
    finally:
        sock.close(0)
    assert (home / "notes.txt").read_text() == "precious"
