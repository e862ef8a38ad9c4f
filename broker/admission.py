"""Who may hold which name, and what a session token opens: the ownership rules.

A name (by comparison key) may belong to a CURVE key: pinned by the allow list
(`NAME.key`, keys.py) or owned by the first key that joins as it, kept by the
Ownership store (store.py), so across restarts and cluster-wide. A live
session's name is taken over only by that same client: the same key and,
compared in constant time, the same session token. A token opens its old
private stream only under the name and key it was first bound to, and not after
its session LEFT; otherwise the session gets a fresh token. The core asks in the
order PROTOCOL.md's Join handshake gives, and acts on the answers.

A gateway's key (``--gateway-keys``; docs/WEB.md, Names and keys) is a transport
key that carries many people's sessions, so it is no one's: a JOIN from it is one
without a key (``user`` ""), as in plaintext, and it binds and claims nothing. But
unlike plaintext, where no key could hold a name, the owners are still asked: a
name pinned or owned by a key is refused to it (`owner`).
"""

import secrets
from collections.abc import Callable

from zchat.protocol import constants as c

from .roster import Session
from .store import LinkDown, Ownership, stream_key


class Admission:
    """The name and token ownership rules over one Ownership store."""

    def __init__(self, owners: Ownership, tokens: Callable[[], str]) -> None:
        self.owners = owners
        #: Names pinned to CURVE keys by the allow list (name key -> z85 key; server.py).
        self.pins: dict[str, str] = {}
        #: The gateways' CURVE keys (z85; --gateway-keys, set by the CLI): no one's.
        self.gateways: frozenset[str] = frozenset()
        self._tokens = tokens

    def owner(self, key: str, user: str, holder: Session | None,
              gateway: bool = False) -> str | None:
        """The key that owns the name ``key`` (None: nobody does, or in plaintext no
        one asks; ``gateway``: a JOIN through a gateway, keyless but asking). Raises
        LinkDown when the cluster cannot be asked and no session here holds the name
        (when one does, its own key is the answer)."""
        try:
            return self.pins.get(key) or \
                (self.owners.owner(key) if user or gateway else None)
        except LinkDown:
            if holder is None:
                raise
            return holder.user

    @staticmethod
    def same_client(holder: Session, token: str, user: str) -> bool:
        """Whether a JOIN with ``token`` from ``user`` is ``holder``'s own client, back on
        a new socket (its old one is stale)."""
        return bool(token) and holder.user == user and \
            secrets.compare_digest(token.encode(), holder.token.encode())

    def session_token(self, token: str, key: str, user: str) -> tuple[str, bool]:
        """The token of the session a JOIN starts, and whether the client's own was
        refused: its own if it may open that stream (bound to this name key and key,
        its session not LEFT), else a fresh one, bound to this name and key in turn.
        So one token is one session, and a sniffed one reads no one's private messages.
        Raises LinkDown."""
        if len(token) >= c.MIN_TOKEN_CHARS:
            if self.owners.bind(stream_key(token), key, user):
                return token, False
            refused = True
        else:
            refused = False  # guessable: ignored
        token = self._tokens()
        self.owners.bind(stream_key(token), key, user)
        return token, refused

    def joined(self, key: str, user: str, owner: str | None) -> None:
        """A session was made: the first key to take a name owns it from now on."""
        if user and owner is None:
            self.owners.claim(key, user)

    def ended(self, stream: str, retire: bool) -> bool:
        """The session on ``stream`` is over (``retire``: it LEFT, and its token opens
        nothing from now on); False if the cluster could not be told."""
        try:
            self.owners.unbind(stream, retire)
        except LinkDown:
            return False
        return True
