"""Gateways' keys (``--gateway-keys``; docs/WEB.md, Names and keys): a JOIN from a
gateway's key is a session without a key, whose name binds to nothing, whose reader is
its own session and whose bans name it by name; yet a name pinned or owned by a key is
refused to it. Driven through the core as the server drives it (the gateway's z85 key
as ``user``), and in a cluster over FakeCluster; the loader over files in tmp_path.
"""

from pathlib import Path

import pytest
import zmq.auth
from corehelp import decoded, handled, make_core
from fakecluster import FakeCluster

from zchat.broker.core import BrokerCore
from zchat.broker.keys import KeyFileError, load_gateways, load_public
from zchat.broker.reading import reader_of
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import PUBLIC, MemoryStore
from zchat.protocol import (
    DmList,
    Enter,
    Error,
    Events,
    History,
    Join,
    Leave,
    ListDms,
    Mark,
    Moderate,
    Tell,
    Welcome,
    encode,
    name_key,
)
from zchat.protocol import constants as c

A, B, C, D, E = b"\x00a", b"\x00b", b"\x00c", b"\x00d", b"\x00e"
GATEWAY = "G" * 40  # the gateway's CURVE key (z85), as the server passes it
ANA_KEY, OP_KEY, PIN_KEY = "A" * 40, "O" * 40, "P" * 40
TOKENS = {name: name[0] * 32 for name in ("bob", "carol", "dave", "eve", "ana")}


@pytest.fixture(params=["memory", "sqlite"])
def core(request: pytest.FixtureRequest, tmp_path: Path) -> BrokerCore:
    store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path)
    core = make_core(store=store, operators={OP_KEY})
    core.admission.gateways = frozenset({GATEWAY})
    core.admission.pins.update({name_key("pinned"): PIN_KEY, name_key("op"): OP_KEY})
    yield core
    core.store.close()


def _join(core: BrokerCore, identity: bytes, name: str, user: str = GATEWAY,
          token: str = "") -> list[tuple]:
    return handled(core, identity, Join(name, token or TOKENS.get(name, "")), user=user)


def _welcomed(result: list[tuple]) -> Welcome:
    assert result and type(result[0][2]) is Welcome, result
    return result[0][2]


def _refused(result: list[tuple]) -> str:
    [(_, _, error)] = result
    assert type(error) is Error, result
    return error.code


def _sent(result: list[tuple], identity: bytes, cls: type) -> list:
    return [m for kind, to, m in result if kind == "send" and to == identity and type(m) is cls]


# ---- names ------------------------------------------------------------------------------

def test_a_pinned_name_is_refused_through_the_gateway(core: BrokerCore) -> None:
    assert _refused(_join(core, A, "Pinned")) == c.E_NAME_OWNED
    assert _refused(_join(core, A, "op")) == c.E_NAME_OWNED  # an operator's pin too
    assert core.roster.by_identity(A) is None
    _welcomed(_join(core, A, "pinned", PIN_KEY))  # its key still may


def test_an_owned_name_is_refused_through_the_gateway_on_or_off(core: BrokerCore) -> None:
    _welcomed(_join(core, A, "ana", ANA_KEY))
    # On: NAME_OWNED (not NAME_TAKEN: the name is the key's, not just busy).
    assert _refused(_join(core, B, "ANA")) == c.E_NAME_OWNED
    handled(core, A, Leave(), user=ANA_KEY)
    assert _refused(_join(core, B, "ana")) == c.E_NAME_OWNED  # off: still hers
    assert core.store.owner(name_key("ana")) == ANA_KEY


def test_a_session_without_a_key_still_ignores_owners(core: BrokerCore) -> None:
    """Plaintext, as before: owners are not asked (only a gateway's key makes them)."""
    _welcomed(_join(core, A, "ana", ANA_KEY))
    handled(core, A, Leave(), user=ANA_KEY)
    _welcomed(_join(core, B, "ana", ""))


def test_a_free_name_through_the_gateway_binds_to_no_key(core: BrokerCore) -> None:
    welcome = _welcomed(_join(core, A, "bob"))
    assert welcome.name == "bob"
    session = core.roster.by_name("bob")
    assert session.user == "" and reader_of(session) == session.stream
    assert core.store.owner(name_key("bob")) is None  # no owner recorded
    # While the gateway session holds it, a key cannot take it from it...
    assert _refused(_join(core, B, "bob", ANA_KEY)) == c.E_NAME_TAKEN
    # ... nor another gateway session (not the same client: another token).
    assert _refused(_join(core, B, "bob", token="z" * 32)) == c.E_NAME_TAKEN
    handled(core, A, Leave(), user=GATEWAY)
    _welcomed(_join(core, C, "bob", ANA_KEY))  # once it left, a key may, and owns it
    assert core.store.owner(name_key("bob")) == ANA_KEY
    handled(core, C, Leave(), user=ANA_KEY)
    assert _refused(_join(core, D, "bob")) == c.E_NAME_OWNED


def test_a_gateway_session_comes_back_with_its_token(core: BrokerCore) -> None:
    """A reload (the gateway's parking, docs/WEB.md): the same token under the same name
    rebinds the session, as for any session without a key; a key cannot use it."""
    first = _welcomed(_join(core, A, "bob"))
    again = _welcomed(_join(core, B, "bob"))
    assert again.resumed and again.session == first.session == TOKENS["bob"]
    assert core.roster.by_name("bob").identity == B
    handled(core, B, Leave(), user=GATEWAY)
    stolen = _welcomed(_join(core, C, "bob", ANA_KEY, TOKENS["bob"]))
    assert stolen.session != TOKENS["bob"]  # a token bound to no key opens nothing for one


# ---- read state: each gateway session its own reader ---------------------------------------

def test_gateway_sessions_have_separate_readers(core: BrokerCore) -> None:
    _welcomed(_join(core, B, "bob"))
    _welcomed(_join(core, C, "carol"))
    _welcomed(_join(core, D, "dave"))
    readers = {reader_of(core.roster.by_name(n)) for n in ("bob", "carol", "dave")}
    assert len(readers) == 3 and not any(r.startswith("k:") for r in readers)
    told = handled(core, B, Tell("carol", "só para ti", 1), user=GATEWAY)
    seq = next(m for _, to, m in told if to == C).seq
    handled(core, C, Tell("bob", "recebido", 1), user=GATEWAY)
    [dms] = _sent(handled(core, C, ListDms(), user=GATEWAY), C, DmList)
    assert [i.key for i in dms.items] == ["@bob"]
    [dms] = _sent(handled(core, B, ListDms(), user=GATEWAY), B, DmList)
    assert [i.key for i in dms.items] == ["@carol"]
    # dave, through the same gateway key, sees none of it.
    [dms] = _sent(handled(core, D, ListDms(), user=GATEWAY), D, DmList)
    assert dms.items == ()
    for peer in ("carol", "bob"):
        [page] = _sent(handled(core, D, History("", peer=peer), user=GATEWAY), D, Events)
        assert page.events == ()
    [page] = _sent(handled(core, C, History("", peer="bob"), user=GATEWAY), C, Events)
    assert [e.text for e in page.events] == ["só para ti", "recebido"]
    # carol's MARK is carol's: bob's and dave's marks do not move.
    handled(core, C, Mark((("@bob", seq),)), user=GATEWAY)
    marks = core.read_state.marks
    assert marks(reader_of(core.roster.by_name("carol"))).get("@bob") == seq
    for name in ("bob", "dave"):
        assert "@bob" not in marks(reader_of(core.roster.by_name(name)))
        assert PUBLIC in marks(reader_of(core.roster.by_name(name)))


def test_rooms_do_not_follow_the_gateway_key(core: BrokerCore) -> None:
    _welcomed(_join(core, B, "bob"))
    handled(core, B, Enter("#dev"), user=GATEWAY)
    handled(core, B, Leave(), user=GATEWAY)
    welcome = _welcomed(_join(core, C, "carol"))
    assert "#dev" not in dict(welcome.rooms)
    assert core.roster.by_name("carol").rooms == set()


# ---- moderation: by name ------------------------------------------------------------------

def test_a_ban_of_a_gateway_user_names_them_not_the_gateway(core: BrokerCore) -> None:
    _welcomed(_join(core, A, "op", OP_KEY))
    _welcomed(_join(core, B, "bob"))
    result = handled(core, A, Moderate(c.M_BAN, "bob", reason="spam"), user=OP_KEY)
    assert core.roster.by_name("bob") is None
    assert [s.target for s in core.sanctions_held()] == ["n:bob"]
    assert not any(type(m) is Error for _, _, m in result)
    assert _refused(_join(core, C, "bob", token="y" * 32)) == c.E_BANNED
    _welcomed(_join(core, D, "carol"))  # another browser user, the same gateway key
    _welcomed(_join(core, E, "dave"))


def test_a_gateway_session_is_never_an_operator(core: BrokerCore) -> None:
    core.operators.add(GATEWAY)  # (refused at start: here, to show the core holds anyway)
    _welcomed(_join(core, B, "bob"))
    result = handled(core, B, Moderate(c.M_KICK, "op"), user=GATEWAY)
    assert _refused(result) == c.E_NOT_OPERATOR


# ---- in a cluster ---------------------------------------------------------------------------

def _on(core: BrokerCore, identity: bytes, msg: object, user: str = GATEWAY) -> list[tuple]:
    return decoded(core.handle(identity, [encode(msg)], 0.0, user=user) + core.commit())


def test_in_a_cluster_the_gateway_key_reaches_nothing_shared() -> None:
    one = FakeCluster(me="broker-1")
    two = FakeCluster(one.redis, "broker-2")
    cores = [make_core(store=cluster, backplane=cluster) for cluster in (one, two)]
    for core in cores:
        core.admission.gateways = frozenset({GATEWAY})
    first, second = cores
    _welcomed(_on(second, A, Join("ana", TOKENS["ana"]), ANA_KEY))
    _on(second, A, Leave(), ANA_KEY)
    # Owned on the other broker: refused through the gateway here.
    assert _refused(_on(first, B, Join("ana", "q" * 32))) == c.E_NAME_OWNED
    _welcomed(_on(first, B, Join("bob", TOKENS["bob"])))
    assert one.owner(name_key("bob")) is None
    assert one.redis.names[name_key("bob")][2] == ""  # held with no key
    assert GATEWAY not in repr(one.redis.names)
    # Held on broker one: a key on broker two cannot take it, nor own it.
    assert _refused(_on(second, C, Join("bob", "k" * 32), ANA_KEY)) == c.E_NAME_TAKEN
    assert one.owner(name_key("bob")) is None


# ---- the loader -------------------------------------------------------------------------------

def test_every_key_file_is_a_gateways_whatever_its_name(tmp_path: Path) -> None:
    made = [zmq.auth.create_certificates(tmp_path, stem)[0] for stem in ("web", "Ana", "x y")]
    (tmp_path / "notes.txt").write_text("not a key")
    expected = {load_public(Path(path)).decode("ascii") for path in made}
    assert load_gateways(tmp_path) == expected


def test_a_missing_gateway_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"--gateway-keys .*not a folder"):
        load_gateways(tmp_path / "none")
