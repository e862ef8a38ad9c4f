"""CURVE client keys read from ZeroMQ certificate files (ZPL, as `zchat keygen` writes).

Shared by the terminal client and the WebSocket gateway, which both connect to an
encrypted broker as CURVE clients. Reads files and sets socket options; it opens,
connects and sends nothing.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth


@dataclass(frozen=True, slots=True)
class Curve:
    """CURVE keys: the broker's public key, and our key pair."""

    server: bytes
    public: bytes
    secret: bytes

    @classmethod
    def from_files(cls, server_key: Path, key_file: Path) -> "Curve":
        """The broker's public key file and our secret key file; ValueError saying
        which file is wrong."""
        try:
            server, _ = zmq.auth.load_certificate(server_key)
            public, secret = zmq.auth.load_certificate(key_file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read key file: {exc}") from None
        if not secret:
            raise ValueError(f"{key_file} holds no secret key (use NAME.key_secret)")
        return cls(server, public, secret)

    def apply(self, sock: "zmq.Socket[Any]") -> None:
        """Make ``sock`` a CURVE client: all three keys before connect, or it speaks
        plaintext."""
        sock.curve_serverkey = self.server
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
