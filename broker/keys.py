"""CURVE keys for the broker: its own key pair, and who may connect (ZAP, RFC 27).

`KeyGate` answers ZAP requests on the broker's own poller (no thread): it
admits any CURVE client, or only the keys found in an allow-list folder, and
logs every refusal. A key file named NAME.key in that folder also pins the
name NAME to that key. The client's public key then rides on every message as
the ZeroMQ "User-Id" property, which is how the core binds names to keys.
"""

import logging
import time
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

from zchat.protocol import name_key

from .throttle import Throttle

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"zchat"


class KeyFileError(Exception):
    """A key file or folder that cannot be used."""


def load_secret(path: Path) -> tuple[bytes, bytes]:
    """The (public, secret) key pair in a `zchat keygen` secret file."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    if not secret:
        raise KeyFileError(f"{path} holds no secret key (use the .key_secret file)")
    return public, secret


def load_public(path: Path) -> bytes:
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    if not public:
        raise KeyFileError(f"{path} holds no public key")
    return public


def load_keys(folder: Path, option: str) -> dict[str, bytes]:
    """The public keys in the *.key files of ``folder`` (an ``option``'s), by the stem of
    each file's name."""
    if not folder.is_dir():
        raise KeyFileError(f"{option} {folder}: not a folder")
    return {path.stem: load_public(path) for path in sorted(folder.glob("*.key"))}


def load_operators(folder: Path) -> dict[str, str]:
    """The operators (issue 19): NAME.key files in ``folder``, name key -> z85 public key
    (each also pins NAME to its key)."""
    return {name_key(stem): public.decode("ascii")
            for stem, public in load_keys(folder, "--operators").items()}


def load_gateways(folder: Path) -> frozenset[str]:
    """The gateways' keys (z85; docs/WEB.md, Names and keys): every *.key file in
    ``folder``, whatever its name. A gateway's key carries the sessions of many people,
    so it is no one's: its sessions join as sessions without a key (admission.py)."""
    return frozenset(public.decode("ascii")
                     for public in load_keys(folder, "--gateway-keys").values())


class KeyGate:
    """The ZAP handler: which CURVE keys may connect, and which names they pin."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], allow_dir: Path | None) -> None:
        self.allowed: set[bytes] | None = None  # None: any CURVE key
        self.pins: dict[str, str] = {}  # name key -> z85 public key
        if allow_dir is not None:
            self._load(allow_dir)
        self.socket = ctx.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        # Must be bound before the ROUTER binds: libzmq asks it about every handshake.
        self.socket.bind(ZAP_ENDPOINT)
        self._refusals = Throttle()

    def _load(self, folder: Path) -> None:
        self.allowed = set()
        for stem, public in load_keys(folder, "--allow-keys").items():
            self.allowed.add(public)
            self.pins[name_key(stem)] = public.decode("ascii")
        log.info("allow list %s: %d key(s)", folder, len(self.allowed))

    def handle(self) -> None:
        """Answer one ZAP request (call when the socket is readable)."""
        frames = self.socket.recv_multipart()
        if len(frames) < 6:
            # Not a ZAP request; a REP socket must still answer before it can read again.
            request_id = frames[1] if len(frames) > 1 else b""
            self.socket.send_multipart([b"1.0", request_id, b"500", b"malformed request",
                                        b"", b""])
            return
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        key = frames[6] if mechanism == b"CURVE" and len(frames) > 6 else b""
        user = z85.encode(key) if len(key) == 32 else b""
        if not user or (self.allowed is not None and user not in self.allowed):
            self._refused(address.decode("ascii", "replace"), user.decode("ascii"))
            self.socket.send_multipart([version, request_id, b"400", b"key not allowed", b"",
                                        b""])
            return
        self.socket.send_multipart([version, request_id, b"200", b"OK", user, b""])

    def _refused(self, address: str, user: str) -> None:
        if self._refusals.allow(time.monotonic()):
            log.warning("refused CURVE key %s from %s: not in the allow list%s", user or "?",
                        address, self._refusals.suffix())

    def close(self) -> None:
        self.socket.close(0)
