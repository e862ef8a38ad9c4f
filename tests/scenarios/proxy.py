"""A loopback TCP proxy for tests: forwards to a target port and records every byte.

`TcpProxy(target_port)` listens on 127.0.0.1 on a free port; each connection
accepted there is joined to a new connection to the target, and everything
either side sends is forwarded and appended to `upstream` (client to target)
or `downstream` (target to client). One thread runs a selectors loop; `stop`
wakes it through a socket pair, closes every socket it opened and joins it.
`reset` has that thread reset every connection it holds (a network blip: both
ends see RST) and go on accepting new ones.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading


class TcpProxy:
    """Client <-> proxy <-> target, all on 127.0.0.1, recording both directions."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel = selectors.DefaultSelector()
        self._peer: dict[socket.socket, socket.socket] = {}
        self._up: set[socket.socket] = set()  # sockets whose bytes go client -> target
        self._lock = threading.Lock()
        self._up_bytes = bytearray()
        self._down_bytes = bytearray()
        self.connections = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._reset_done = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def upstream(self) -> bytes:
        """Every byte the clients sent towards the target so far."""
        with self._lock:
            return bytes(self._up_bytes)

    @property
    def downstream(self) -> bytes:
        """Every byte the target sent back towards the clients so far."""
        with self._lock:
            return bytes(self._down_bytes)

    def start(self) -> TcpProxy:
        self._sel.register(self._listener, selectors.EVENT_READ)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def reset(self, timeout: float = 5.0) -> None:
        """Reset every connection open now, both sides; return once that is done."""
        self._reset_done.clear()
        self._wake_w.send(b"r")
        if not self._reset_done.wait(timeout):
            raise AssertionError(f"the proxy did not reset its connections within {timeout}s")

    def stop(self) -> None:
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(5)
        for sock in list(self._peer):
            self._forget(sock)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._sel.close()

    # ---- the loop -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._sel.select(1.0):
                sock = key.fileobj
                if sock is self._wake_r:
                    if self._stopping:
                        return
                    self._wake_r.recv(64)
                    for one in list(self._peer):
                        if one in self._peer:  # (not closed with its pair already)
                            self._forget(one, abort=True)
                    self._reset_done.set()
                    continue
                if sock is self._listener:
                    self._accept()
                else:
                    self._forward(sock)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            target = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()  # target down: the client sees the connection drop
            return
        for sock in (client, target):
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target.settimeout(None)
        self._peer[client] = target
        self._peer[target] = client
        self._up.add(client)
        self.connections += 1
        self._sel.register(client, selectors.EVENT_READ)
        self._sel.register(target, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        other = self._peer.get(sock)
        if not data or other is None:
            self._forget(sock)
            return
        with self._lock:
            (self._up_bytes if sock in self._up else self._down_bytes).extend(data)
        try:
            other.sendall(data)
        except OSError:
            self._forget(sock)

    def _forget(self, sock: socket.socket, abort: bool = False) -> None:
        """Close a connection pair: both of its sockets (with ``abort``, by RST)."""
        other = self._peer.pop(sock, None)
        for one in (sock, other):
            if one is None:
                continue
            self._peer.pop(one, None)
            self._up.discard(one)
            try:
                self._sel.unregister(one)
            except (KeyError, ValueError):
                pass
            if abort:  # linger on, for 0 s: close sends RST instead of FIN
                one.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            one.close()
