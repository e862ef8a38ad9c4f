"""Where the admin socket may be, and making it the broker's user's only.

The admin socket (`zchat broker --admin ipc://PATH`) kicks, bans and lists who is on:
only the user the broker runs as may connect. Whoever may write to a UNIX socket's file
may connect to it, and whoever may write to its directory may replace it, so:

* PATH is a file-system path: an abstract socket (ipc://@name) has no permissions;
* its directory belongs to the broker's user (or root) and no one else may write to it.
  A directory that does not exist is made, mode 0700, when the broker binds (its parent
  must exist, and be sticky if others may write to it, as /tmp is);
* nothing but a socket may be at PATH (libzmq removes whatever is there before it binds:
  a typo must not delete a file), and no process may be listening on it;
* the socket is made under umask 077 (never open to others, not for a moment), then set
  to 0600 and checked. libzmq leaves the file behind when it closes: the broker removes
  it at exit if it is still the one it made.

`endpoint_problem` and `place_problem` are what the CLI checks before anything is opened;
`bind_owner_only` checks again, and binds.
"""

import os
import socket
import stat
from collections.abc import Callable

PREFIX = "ipc://"
#: A UNIX socket's path: sun_path holds 108 bytes with the final NUL.
MAX_PATH_BYTES = 107


class AdminPathError(Exception):
    """The admin socket cannot be made at this path, and why."""

    def __init__(self, reason: str, in_use: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.in_use = in_use


def path_of(endpoint: str) -> str:
    return endpoint.removeprefix(PREFIX)


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be an admin socket by its form alone, or None."""
    if not endpoint.startswith(PREFIX):
        return "expected ipc://PATH (the admin socket is local only)"
    path = path_of(endpoint)
    if not path:
        return "an ipc endpoint needs a path"
    if path.startswith("@"):
        return "an abstract socket (ipc://@NAME) has no file permissions: give a file path"
    if path == "*" or path.endswith("/*"):
        return "give the socket's path, not *"
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        return f"the path is longer than {MAX_PATH_BYTES} bytes (a UNIX socket's limit)"
    return None


def place_problem(path: str) -> str | None:
    """Why ``path`` is not a safe place for the admin socket now, or None."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return _parent_problem(folder)  # (made, 0700, when the broker binds)
    except OSError as exc:
        return f"cannot look at {folder}: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{folder} is not a directory"
    if st.st_uid not in (os.geteuid(), 0):
        return (f"{folder} belongs to another user (uid {st.st_uid}), who could replace the "
                "admin socket")
    if st.st_mode & 0o022:
        who = "anyone" if st.st_mode & 0o002 else "its group"
        return (f"{folder} may be written by {who} (mode {stat.S_IMODE(st.st_mode):04o}), "
                "who could replace the admin socket: use a directory only this user may "
                "write to (chmod go-w, $XDG_RUNTIME_DIR, or systemd's RuntimeDirectory=)")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot look at {path}: {exc.strerror}"
    if not stat.S_ISSOCK(st.st_mode):
        return f"{path} exists and is not a socket (binding there would delete it)"
    return None


def _parent_problem(folder: str) -> str | None:
    """A missing ``folder`` is made by the broker: can it be, safely?"""
    parent = os.path.dirname(folder)
    try:
        st = os.stat(parent)
    except OSError:
        return f"neither {folder} nor {parent} exists"
    if not stat.S_ISDIR(st.st_mode):
        return f"{parent} is not a directory"
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        return (f"{parent} may be written by anyone and is not sticky: they could replace "
                f"{folder} once it is made")
    return None


def listening(path: str) -> bool:
    """Whether a process accepts connections on the UNIX socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False  # ECONNREFUSED: a socket left by a broker that was killed
        return True


def bind_owner_only(bind: Callable[[str], object], endpoint: str) -> int:
    """Make the directory if need be, check the place, and ``bind`` the socket so that
    only this user may connect; return the socket file's inode (see `remove_if_ours`).

    Raises:
        AdminPathError: the place is not safe, or another process listens there.
        zmq.ZMQError: from ``bind``.
    """
    path = path_of(endpoint)
    folder = os.path.dirname(os.path.abspath(path))
    problem = place_problem(path)
    if problem is None and not os.path.isdir(folder):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # (made meanwhile: checked below, like any other)
        except OSError as exc:
            raise AdminPathError(f"cannot make {folder}: {exc.strerror}") from None
        problem = place_problem(path)
    if problem is not None:
        raise AdminPathError(problem)
    if os.path.lexists(path) and listening(path):
        raise AdminPathError("a process is listening there (another broker?)", in_use=True)
    # The socket file's mode is 0777 less the umask: none for others from the start.
    # (The umask is the process's: a file another thread makes meanwhile is owner-only too.)
    before = os.umask(0o077)
    try:
        bind(endpoint)
    finally:
        os.umask(before)
    os.chmod(path, 0o600)
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode) or st.st_mode & 0o077:
        raise AdminPathError(f"{path} is not an owner-only socket after binding")
    return st.st_ino


def remove_if_ours(path: str, inode: int) -> None:
    """Remove the socket file at ``path`` if it is still the one bound (``inode``)."""
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode) and st.st_ino == inode:
            os.unlink(path)
    except OSError:
        pass  # gone already, or not ours to remove: the next bind checks the place again
