"""Names bound to CURVE keys: ownership and pins in broker/core.py, and broker/keys.py.

The core is driven as the server drives it, with the client's key (z85, the
ZeroMQ User-Id) passed as ``user``. KeyGate is driven over a real inproc ZAP
socket pair (RFC 27), with certificates made in tmp_path.
"""

import logging
from pathlib import Path

import pytest
import zmq
import zmq.auth
from corehelp import handled
from corehelp import make_core as _core
from zmq.utils import z85

from zchat.broker import keys
from zchat.broker.core import BrokerCore, Limits
from zchat.broker.keys import (
    ZAP_DOMAIN,
    ZAP_ENDPOINT,
    KeyFileError,
    KeyGate,
    load_public,
    load_secret,
)
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import MemoryStore
from zchat.broker.throttle import Throttle
from zchat.protocol import (
    Error,
    Join,
    Leave,
    Say,
    Welcome,
    name_key,
)
from zchat.protocol import constants as c

A, B, C, D = b"\x00id-a", b"\x00id-b", b"\x00id-c", b"\x00id-d"
TOKEN = "key-token-0123456789abcdef"
# Client public keys as the server sees them: 40 z85 characters.
KEY1 = z85.encode(bytes(range(32))).decode()
KEY2 = z85.encode(bytes(range(100, 132))).decode()
OWNED = Error(c.E_NAME_OWNED, "this name belongs to another key")


def _as(core: BrokerCore, identity: bytes, msg, user: str = "", now: float = 0.0):
    return handled(core, identity, msg, now, user=user)


def _welcomed(result) -> Welcome:
    assert result and result[0][0] == "send" and type(result[0][2]) is Welcome, result
    return result[0][2]


def _owned(result, identity: bytes, name: str) -> None:
    assert result == [("send", identity, Error(OWNED.code, OWNED.detail, name))]


# ---- owners: the first key to take a name ---------------------------------------------------

def test_the_first_key_to_take_a_name_owns_it():
    core = _core()
    assert core.store.owner(name_key("Ana")) is None
    _welcomed(_as(core, A, Join("Ana"), KEY1))
    assert core.store.owner(name_key("Ana")) == KEY1
    assert core.store.owner(name_key("bob")) is None
    assert core.roster.by_name("ana").user == KEY1


@pytest.mark.parametrize("name", ["Ana", "ana", "ANA", "aNa"])
def test_another_key_is_refused_name_owned_case_insensitively(name):
    core = _core()
    _welcomed(_as(core, A, Join("Ana"), KEY1))
    _as(core, A, Leave(), KEY1)  # the name is free, but still owned
    seq = core.store.last_seq()
    _owned(_as(core, B, Join(name), KEY2), B, name)
    assert core.roster.by_identity(B) is None
    assert core.store.last_seq() == seq  # no JOINED
    assert core.store.owner(name_key("ana")) == KEY1
    assert c.E_NAME_OWNED in c.FATAL_ERRORS


def test_another_key_is_refused_name_owned_while_the_owner_is_online():
    core = _core()
    _welcomed(_as(core, A, Join("ana"), KEY1))
    _owned(_as(core, B, Join("ana"), KEY2), B, "ana")
    assert core.roster.by_name("ana").identity == A


def test_the_owner_rejoins_after_leaving():
    core = _core()
    _welcomed(_as(core, A, Join("ana"), KEY1))
    _as(core, A, Leave(), KEY1)
    welcome = _welcomed(_as(core, B, Join("ANA"), KEY1))
    assert welcome.name == "ANA"
    assert core.store.owner(name_key("ana")) == KEY1


def test_the_owner_keeps_the_name_across_a_restart_on_the_same_memory_store():
    store = MemoryStore()
    first = _core(store=store)
    _welcomed(_as(first, A, Join("ana"), KEY1))
    second = _core(store=store)  # a new broker: empty roster, same store
    _owned(_as(second, B, Join("ana"), KEY2), B, "ana")
    _welcomed(_as(second, C, Join("ana"), KEY1))


def test_the_owner_keeps_the_name_across_a_restart_on_a_reopened_sqlite_store(tmp_path):
    store = SqliteStore(tmp_path)
    first = _core(store=store)
    _welcomed(_as(first, A, Join("ana"), KEY1))
    first.commit()
    store.close()
    store = SqliteStore(tmp_path)
    try:
        assert store.owner(name_key("ana")) == KEY1
        second = _core(store=store)
        _owned(_as(second, B, Join("Ana"), KEY2), B, "Ana")
        _welcomed(_as(second, C, Join("ana"), KEY1))
        second.commit()
    finally:
        store.close()


def test_a_key_may_own_several_names():
    core = _core()
    _welcomed(_as(core, A, Join("ana"), KEY1))
    _welcomed(_as(core, B, Join("alt"), KEY1))
    assert core.store.owner("ana") == core.store.owner("alt") == KEY1
    _owned(_as(core, C, Join("alt"), KEY2), C, "alt")


def test_a_refused_join_claims_nothing():
    core = _core()
    _welcomed(_as(core, A, Join("ana")))  # keyless: holds the name, owns nothing
    result = _as(core, B, Join("ana"), KEY2)
    assert result[0][2].code == c.E_NAME_TAKEN
    assert core.store.owner("ana") is None
    bad = _as(core, B, Join("a b"), KEY2)
    assert bad[0][2].code == c.E_BAD_NAME
    assert core.store.owner(name_key("a b")) is None


# ---- without keys -----------------------------------------------------------------------

def test_without_keys_owners_are_ignored():
    core = _core()
    core.store.claim(name_key("ana"), KEY1)
    welcome = _welcomed(_as(core, A, Join("Ana")))  # user="": a plain-text broker
    assert welcome.name == "Ana"
    assert core.store.owner(name_key("ana")) == KEY1  # untouched


def test_keyless_joins_claim_nothing():
    core = _core()
    _welcomed(_as(core, A, Join("ana")))
    _as(core, A, Leave())
    assert core.store.owner("ana") is None
    _welcomed(_as(core, B, Join("ana"), KEY2))  # so the first keyed client takes it
    assert core.store.owner("ana") == KEY2


# ---- pins from the allow list --------------------------------------------------------------

def _pinned() -> BrokerCore:
    core = _core()
    core.admission.pins = {name_key("Ana"): KEY1}
    return core


def test_a_pin_refuses_any_other_key_even_with_no_owner_yet():
    core = _pinned()
    assert core.store.owner("ana") is None
    _owned(_as(core, A, Join("ana"), KEY2), A, "ana")
    _owned(_as(core, A, Join("ANA"), KEY2), A, "ANA")
    assert core.roster.by_name("ana") is None


def test_a_pin_refuses_a_keyless_join():
    core = _pinned()
    _owned(_as(core, A, Join("ana")), A, "ana")


def test_a_pin_admits_its_key():
    core = _pinned()
    _welcomed(_as(core, A, Join("aNA"), KEY1))
    _as(core, A, Leave(), KEY1)
    _welcomed(_as(core, B, Join("ana"), KEY1))


def test_a_pin_wins_over_a_stored_owner():
    core = _pinned()
    core.store.claim("ana", KEY2)  # taken before the allow list pinned it
    _owned(_as(core, A, Join("ana"), KEY2), A, "ana")
    _welcomed(_as(core, B, Join("ana"), KEY1))


def test_pins_leave_other_names_to_first_come():
    core = _pinned()
    _welcomed(_as(core, A, Join("bob"), KEY2))
    assert core.store.owner("bob") == KEY2
    _welcomed(_as(core, B, Join("carol")))


# ---- rebinding a session with its token -----------------------------------------------------

def test_a_token_rebind_from_the_same_key_is_a_rejoin():
    core = _core()
    _welcomed(_as(core, A, Join("ana", TOKEN), KEY1))
    welcome = _welcomed(_as(core, B, Join("ana", TOKEN), KEY1))
    assert welcome.resumed is True
    assert core.roster.by_name("ana").identity == B


def test_a_token_rebind_from_a_different_key_is_refused():
    core = _core()
    _welcomed(_as(core, A, Join("ana", TOKEN), KEY1))
    _owned(_as(core, B, Join("ana", TOKEN), KEY2), B, "ana")
    session = core.roster.by_name("ana")
    assert (session.identity, session.user) == (A, KEY1)
    # Nor without a key, with the stolen token.
    assert _as(core, C, Join("ana", TOKEN)) == [
        ("send", C, Error(c.E_NAME_TAKEN, "name is taken", "ana"))]
    assert core.roster.by_name("ana").identity == A


def test_a_token_rebind_of_a_keyless_session_from_a_key_is_refused():
    core = _core()
    _welcomed(_as(core, A, Join("ana", TOKEN)))  # keyless: no owner to ask
    result = _as(core, B, Join("ana", TOKEN), KEY2)
    assert result == [("send", B, Error(c.E_NAME_TAKEN, "name is taken", "ana"))]
    assert core.roster.by_name("ana").identity == A
    assert core.store.owner("ana") is None


def test_a_token_rebind_of_a_keyed_session_whose_owner_changed_is_refused():
    # Even if the store came to say KEY2 owns the name, a rebind must come from the key
    # the session joined with.
    core = _core()
    _welcomed(_as(core, A, Join("ana", TOKEN), KEY1))
    core.admission.owners = MemoryStore()  # (a claim never replaces an owner: another record)
    core.admission.owners.claim("ana", KEY2)
    result = _as(core, B, Join("ana", TOKEN), KEY2)
    assert result[0][2].code == c.E_NAME_TAKEN
    assert core.roster.by_name("ana").identity == A


def test_full_and_owned_with_keys():
    core = _core(limits=Limits(max_clients=1))
    _welcomed(_as(core, A, Join("ana"), KEY1))
    assert _as(core, B, Join("bob"), KEY2)[0][2].code == c.E_FULL
    assert core.store.owner("bob") is None
    _owned(_as(core, B, Join("ana"), KEY2), B, "ana")  # ownership is checked first
    assert _as(core, B, Say("hi", 1), KEY2)[0][2].code == c.E_NOT_JOINED


# ---- KeyGate: the ZAP handler -----------------------------------------------------------------

def _request(key: bytes, mechanism: bytes = b"CURVE", request_id: bytes = b"1") -> list[bytes]:
    frames = [b"1.0", request_id, ZAP_DOMAIN, b"127.0.0.1", b"", mechanism]
    return [*frames, key] if mechanism == b"CURVE" else frames


class Zap:
    """A KeyGate and a REQ socket standing in for libzmq, on a fresh context."""

    def __init__(self, allow_dir: Path | None) -> None:
        self.ctx = zmq.Context()
        self.gate: KeyGate | None = None
        self.req: zmq.Socket | None = None
        try:
            self.gate = KeyGate(self.ctx, allow_dir)
            self.req = self.connect()
        except BaseException:
            self.close()
            raise

    def connect(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(ZAP_ENDPOINT)
        return sock

    def ask(self, frames: list[bytes], sock: zmq.Socket | None = None) -> list[bytes] | None:
        """Send a request, let the gate handle it, and return the reply (None: no reply)."""
        sock = sock or self.req
        sock.send_multipart(frames)
        assert self.gate.socket.poll(2000, zmq.POLLIN), "the gate got nothing"
        self.gate.handle()
        if not sock.poll(200, zmq.POLLIN):
            return None
        return sock.recv_multipart()

    def close(self) -> None:
        if self.req is not None:
            self.req.close(0)
        if self.gate is not None:
            self.gate.close()
        self.ctx.term()


@pytest.fixture
def allow_dir(tmp_path) -> Path:
    folder = tmp_path / "allow"
    folder.mkdir()
    zmq.auth.create_certificates(folder, "Ana")
    zmq.auth.create_certificates(folder, "bob")
    for secret in folder.glob("*.key_secret"):
        secret.rename(tmp_path / secret.name)  # an allow list holds public keys only
    return folder


@pytest.fixture
def zap_factory():
    opened: list[Zap] = []

    def make(allow: Path | None) -> Zap:
        zap = Zap(allow)
        opened.append(zap)
        return zap

    yield make
    for zap in opened:
        zap.close()


def _public(path: Path) -> bytes:
    public, _ = zmq.auth.load_certificate(path)
    return public


def test_an_allowed_key_is_admitted_with_its_z85_key_as_user_id(allow_dir, zap_factory):
    zap = zap_factory(allow_dir)
    public = _public(allow_dir / "Ana.key")
    reply = zap.ask(_request(z85.decode(public), request_id=b"42"))
    assert reply == [b"1.0", b"42", b"200", b"OK", public, b""]
    assert len(public) == 40


def test_an_unknown_key_is_refused(allow_dir, zap_factory, tmp_path):
    zap = zap_factory(allow_dir)
    stranger_dir = tmp_path / "stranger"
    stranger_dir.mkdir()
    zmq.auth.create_certificates(stranger_dir, "mallory")
    stranger = _public(stranger_dir / "mallory.key")
    reply = zap.ask(_request(z85.decode(stranger)))
    assert reply[:3] == [b"1.0", b"1", b"400"]
    assert reply[4] == b""  # no user id for a refused key
    # The gate goes on answering after a refusal.
    bob = _public(allow_dir / "bob.key")
    assert zap.ask(_request(z85.decode(bob), request_id=b"2"))[2:5] == [b"200", b"OK", bob]


def test_without_an_allow_dir_any_curve_key_is_admitted(zap_factory):
    zap = zap_factory(None)
    assert zap.gate.allowed is None
    assert zap.gate.pins == {}
    for i, key in enumerate([bytes(32), bytes(range(32)), b"\xff" * 32]):
        rid = str(i).encode()
        assert zap.ask(_request(key, request_id=rid)) == [
            b"1.0", rid, b"200", b"OK", z85.encode(key), b""]


@pytest.mark.parametrize("allow", [True, False], ids=["allow-list", "any-key"])
def test_the_null_mechanism_is_refused(allow_dir, zap_factory, allow):
    zap = zap_factory(allow_dir if allow else None)
    reply = zap.ask(_request(b"", mechanism=b"NULL"))
    assert reply[:3] == [b"1.0", b"1", b"400"]
    assert reply[4] == b""


@pytest.mark.parametrize("mechanism", [b"PLAIN", b"GSSAPI"])
def test_other_mechanisms_are_refused(zap_factory, mechanism):
    zap = zap_factory(None)
    frames = [b"1.0", b"1", ZAP_DOMAIN, b"127.0.0.1", b"", mechanism, bytes(32)]
    assert zap.ask(frames)[2] == b"400"


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33), bytes(40)],
                         ids=["empty", "31", "33", "z85-text"])
def test_a_curve_key_of_the_wrong_length_is_refused(zap_factory, key):
    zap = zap_factory(None)
    assert zap.ask(_request(key))[2] == b"400"


def test_a_curve_request_without_a_key_frame_is_refused(zap_factory):
    zap = zap_factory(None)
    assert zap.ask(_request(bytes(32))[:6])[2] == b"400"  # six frames: no key at all


_MALFORMED = [[b""], [b"1.0"], [b"1.0", b"1", b"zchat", b"127.0.0.1", b""]]


@pytest.mark.parametrize("frames", _MALFORMED, ids=["empty", "one", "five"])
def test_a_malformed_short_request_does_not_crash_the_gate(zap_factory, frames):
    zap = zap_factory(None)
    sock = zap.connect()
    try:
        reply = zap.ask(frames, sock)  # answered, so the REP socket can read again
        assert reply is not None and reply[2] == b"500"
    finally:
        sock.close(0)


# A request of fewer than six frames is answered with 500: a REP socket left waiting to
# send would never read again, and every later CURVE handshake would hang.
def test_the_gate_answers_well_formed_requests_after_a_malformed_one(zap_factory):
    zap = zap_factory(None)
    bad = zap.connect()
    try:
        assert zap.ask([b"1.0"], bad)[2] == b"500"
    finally:
        bad.close(0)
    zap.req.send_multipart(_request(bytes(32)))
    assert zap.gate.socket.poll(500, zmq.POLLIN), "the gate no longer reads requests"
    zap.gate.handle()
    assert zap.req.poll(500, zmq.POLLIN)
    assert zap.req.recv_multipart()[2] == b"200"


def test_pins_map_the_name_key_of_each_file_stem_to_its_z85_key(allow_dir, zap_factory):
    zap = zap_factory(allow_dir)
    ana, bob = _public(allow_dir / "Ana.key"), _public(allow_dir / "bob.key")
    assert zap.gate.pins == {name_key("Ana"): ana.decode(), name_key("bob"): bob.decode()}
    assert name_key("Ana") == "ana"
    assert zap.gate.allowed == {ana, bob}


def test_pins_from_the_gate_drive_the_core(allow_dir, zap_factory):
    zap = zap_factory(allow_dir)
    ana = _public(allow_dir / "Ana.key")
    core = _core()
    core.admission.pins = zap.gate.pins
    # The user id the gate hands out is exactly what the core compares with the pin.
    user = zap.ask(_request(z85.decode(ana)))[4].decode()
    _welcomed(_as(core, A, Join("ANA"), user))
    bob = _public(allow_dir / "bob.key").decode()
    _as(core, A, Leave(), user)
    _owned(_as(core, B, Join("ana"), bob), B, "ana")


def test_an_empty_allow_dir_admits_no_key(tmp_path, zap_factory):
    empty = tmp_path / "empty"
    empty.mkdir()
    zap = zap_factory(empty)
    assert zap.gate.allowed == set()
    assert zap.ask(_request(bytes(32)))[2] == b"400"


def test_an_allow_dir_that_is_not_a_folder_is_a_key_file_error(tmp_path):
    ctx = zmq.Context()
    try:
        with pytest.raises(KeyFileError, match="not a folder"):
            KeyGate(ctx, tmp_path / "missing")
        (tmp_path / "file").write_text("x")
        with pytest.raises(KeyFileError, match="not a folder"):
            KeyGate(ctx, tmp_path / "file")
    finally:
        ctx.term()


def test_an_unreadable_key_in_the_allow_dir_is_a_key_file_error(tmp_path):
    folder = tmp_path / "allow"
    folder.mkdir()
    (folder / "eve.key").write_text("not a certificate\n")
    ctx = zmq.Context()
    try:
        with pytest.raises(KeyFileError, match=r"eve\.key"):
            KeyGate(ctx, folder)
    finally:
        ctx.term()


def test_refusals_are_logged_at_most_once_a_second(zap_factory, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="zchat.broker.keys")
    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    empty = tmp_path / "empty"
    empty.mkdir()
    zap = zap_factory(empty)
    key = bytes(32)
    for _ in range(3):
        zap.ask(_request(key))
    clock[0] += 1.0
    zap.ask(_request(key))
    lines = [r.getMessage() for r in caplog.records if r.name == "zchat.broker.keys"]
    user = z85.encode(key).decode()
    assert lines == [
        f"refused CURVE key {user} from 127.0.0.1: not in the allow list",
        f"refused CURVE key {user} from 127.0.0.1: not in the allow list (and 2 more)",
    ]


# ---- the refusals' log throttle and key files --------------------------------------------------

def test_throttle_allows_one_line_a_second_and_counts_the_rest():
    log = Throttle()
    assert log.allow(500.0) is True
    assert log.suffix() == ""
    assert log.allow(500.5) is False
    assert log.allow(500.99) is False
    assert log.allow(501.0) is True
    assert log.suffix() == " (and 2 more)"
    assert log.suffix() == ""  # counted once


def test_load_secret_and_load_public(tmp_path):
    public_file, secret_file = (Path(p) for p in zmq.auth.create_certificates(tmp_path, "k"))
    public, secret = load_secret(secret_file)
    assert public == load_public(public_file) == load_public(secret_file)
    assert len(public) == len(secret) == 40
    with pytest.raises(KeyFileError, match="no secret key"):
        load_secret(public_file)
    with pytest.raises(KeyFileError, match="cannot read key file"):
        load_public(tmp_path / "missing.key")
    with pytest.raises(KeyFileError, match="cannot read key file"):
        load_secret(tmp_path / "missing.key_secret")
