"""What `zchat web` was told on its command line, as one value the modules share."""

from dataclasses import dataclass, field

from zchat.common.curve import Curve


@dataclass(frozen=True, slots=True)
class Settings:
    """The gateway's options (zchat/cli.py checks them before anything is opened)."""

    #: The broker's endpoint every DEALER (and, in pub mode, SUB) dials.
    connect: str
    #: Origins allowed besides the page's own (scheme://host[:port]).
    allow_origins: frozenset[str] = field(default_factory=frozenset)
    max_per_address: int = 8
    max_connections: int = 1000
    #: Seconds without a message from the browser before its WebSocket is closed (1008).
    idle_timeout: float = 60.0
    #: Seconds a joined DEALER is kept after its WebSocket closed (parking.py).
    resume_grace: float = 20.0
    #: The reverse proxy whose X-Forwarded-For names the client ("" : none trusted).
    forwarded_by: str = ""
    curve: Curve | None = None
