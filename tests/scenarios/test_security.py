"""Security scenarios: encryption, refusals, impersonation, floods, exposure, keys.

Real `zchat` processes on free ports; keys are made by `zchat keygen`. Every
wait is a bounded expect; sleeps are never used to synchronise. See
docs/SECURITY.md for the threat model these tests check.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zmq
import zmq.auth

from zchat.protocol import Ack, Bye, Error, Join, Say, Welcome, decode_broker, encode
from zchat.protocol import constants as c

from .harness import Cluster, Proc, RawPeer, zchat_command
from .proxy import TcpProxy

STAMP = r"\[\d\d:\d\d:\d\d\]"
HANDSHAKE_FAILED = ("could not open an encrypted session with the broker: wrong --server-key, "
                    "or the broker does or does not use encryption")
KEY_REFUSED = r"the broker refused our key \(it is not in the broker's allow list\)"
LOG_KEY_REFUSED = r"refused CURVE key \S+ from 127\.0\.0\.1: not in the allow list"
LOG_HANDSHAKE = r"encryption handshake failed"


# ---- keys ----------------------------------------------------------------------


def keygen(chat: Cluster, name: str, folder: Path) -> tuple[Path, Path]:
    """Run `zchat keygen NAME --dir FOLDER`; return (public, secret) paths."""
    proc = chat.spawn(["keygen", name, "--dir", str(folder)], use_pty=False)
    assert proc.wait() == 0, proc.text
    return folder / f"{name}.key", folder / f"{name}.key_secret"


@dataclass
class Keys:
    """Key pairs made once for the module by `zchat keygen` (public, secret)."""

    root: Path
    pairs: dict[str, tuple[Path, Path]] = field(default_factory=dict)

    def public(self, name: str) -> Path:
        return self.pairs[name][0]

    def secret(self, name: str) -> Path:
        return self.pairs[name][1]

    def client(self, name: str | None = None, server: str = "server") -> list[str]:
        """`join` options: the broker's public key, and ``name``'s secret key if any."""
        args = ["--server-key", str(self.public(server))]
        return [*args, "--key", str(self.secret(name))] if name else args


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    root = tmp_path_factory.mktemp("keys")
    names = ("server", "other-server", "ana", "bob", "eve", "carol", "mallory")
    procs = {n: Proc([*zchat_command(), "keygen", n, "--dir", str(root / n)], use_pty=False,
                     label=f"keygen {n}") for n in names}
    try:
        result = Keys(root)
        for name, proc in procs.items():
            assert proc.wait() == 0, proc.text
            result.pairs[name] = (root / name / f"{name}.key", root / name / f"{name}.key_secret")
        # The broker's allow list: ana's and bob's public keys, which also pin their names.
        allow = root / "allow"
        allow.mkdir()
        for name in ("ana", "bob"):
            shutil.copy(result.public(name), allow)
        yield result
    finally:
        for proc in procs.values():
            proc.stop()


def curve_broker(chat: Cluster, keys: Keys, *extra: str, allow: bool = True, **kw: object):
    args = ["--curve-secret", str(keys.secret("server"))]
    if allow:
        args += ["--allow-keys", str(keys.root / "allow")]
    return chat.broker(*args, *extra, **kw)  # type: ignore[arg-type]


def own_config(chat: Cluster) -> dict[str, str]:
    """Keep keys that `join --server-key` makes for itself out of the real home."""
    return {"XDG_CONFIG_HOME": str(chat.tmp / "config")}


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


# ---- 1. encrypted chat end to end ----------------------------------------------


def test_encrypted_chat_with_keygen_keys_public_and_private(chat: Cluster) -> None:
    server_pub, server_secret = keygen(chat, "broker", chat.tmp / "server")
    allow = chat.tmp / "allow"
    users = {}
    for name in ("ana", "bob"):
        users[name] = keygen(chat, name, chat.tmp / name)
        allow.mkdir(exist_ok=True)
        shutil.copy(users[name][0], allow)  # only the public key is handed over
    broker = chat.broker("--curve-secret", str(server_secret), "--allow-keys", str(allow))
    broker.expect(r"allow list \S+: 2 key\(s\)", anywhere=True)
    ana = chat.client("ana", broker.endpoint, "--server-key", str(server_pub),
                      "--key", str(users["ana"][1]))
    bob = chat.client("bob", broker.endpoint, "--server-key", str(server_pub),
                      "--key", str(users["bob"][1]))
    ana.expect("bob joined")
    ana.line("bom dia cifrado")
    bob.expect(rf"{STAMP} ana: bom dia cifrado")
    bob.line("@ana segredo cifrado")
    ana.expect(rf"{STAMP} \(private\) bob: segredo cifrado")
    bob.expect(rf"{STAMP} \(private to ana\): segredo cifrado")
    ana.line("/who")
    ana.expect(r"Online \(2\): ana, bob")
    ana.line("/quit")
    assert ana.wait() == 0
    bob.expect(r"ana left the chat \(left\)")
    broker.expect(r"join ana from 127\.0\.0\.1", anywhere=True)
    broker.expect(r"private bob -> ana", anywhere=True)
    broker.assert_not_seen("WARNING")
    broker.assert_not_seen("segredo cifrado")  # private bodies stay out of the log


def test_honest_encrypted_clients_leave_no_refusal_in_the_log(chat: Cluster, keys: Keys) -> None:
    broker = curve_broker(chat, keys)
    ana = chat.client("ana", broker.endpoint, *keys.client("ana"))
    ana.line("/quit")
    assert ana.wait() == 0
    broker.expect(r"leave ana \(left\)")  # a few poll cycles after ana's handshakes
    # The client checks --connect by its syntax, never by connecting, so an honest
    # start leaves no refusal in an encrypted broker's log.
    broker.assert_not_seen(LOG_HANDSHAKE)
    broker.assert_not_seen(r"refused CURVE key")


# ---- 2. what an eavesdropper on the wire sees ----------------------------------


@pytest.mark.parametrize("encrypted", [True, False], ids=["curve", "plaintext"])
def test_captured_traffic_holds_no_message_text_when_encrypted(
        chat: Cluster, keys: Keys, encrypted: bool) -> None:
    if encrypted:
        broker = curve_broker(chat, keys)
        ana_args, bob_args = keys.client("ana"), keys.client("bob")
    else:
        broker = chat.broker()
        ana_args = bob_args = []
    proxy = TcpProxy(_port(broker.endpoint)).start()
    try:
        # ana talks to the broker only through the proxy; bob directly.
        ana = chat.client("ana", proxy.endpoint, *ana_args)
        bob = chat.client("bob", broker.endpoint, *bob_args)
        ana.expect("bob joined")
        canary = f"canary-{secrets.token_hex(8)}"
        ana.line(f"public {canary}")
        bob.expect(rf"ana: public {canary}")
        ana.line(f"@bob private {canary}")
        bob.expect(rf"\(private\) ana: private {canary}")
        bob.line(f"reply {canary}")
        ana.expect(rf"bob: reply {canary}")
        up, down = proxy.upstream, proxy.downstream
    finally:
        proxy.stop()
    print(f"\ncapture ({'curve' if encrypted else 'plaintext'}): {len(up)} bytes up, "
          f"{len(down)} bytes down, {proxy.connections} connection(s)")
    assert proxy.connections >= 1 and len(up) > 200 and len(down) > 200
    wire = up + down
    needles = [canary.encode(), b"ZCHAT/1", b"token"]
    if encrypted:
        found = [n for n in needles if n in wire]
        assert not found, f"plaintext on an encrypted wire: {found}"
        assert b"CURVE" in up  # the ZMTP greeting names the mechanism, in clear
    else:
        assert f"public {canary}".encode() in up
        assert f"private {canary}".encode() in up
        assert f"reply {canary}".encode() in down
        assert b"ZCHAT/1 JOIN" in up


# ---- 3. refused connections ------------------------------------------------------


def test_wrong_or_missing_keys_are_refused_while_others_chat(chat: Cluster, keys: Keys) -> None:
    broker = curve_broker(chat, keys)
    ana = chat.client("ana", broker.endpoint, *keys.client("ana"))
    bob = chat.client("bob", broker.endpoint, *keys.client("bob"))
    ana.expect("bob joined")
    refused = {
        "plain": ([], HANDSHAKE_FAILED),  # no encryption at all
        "wrongsrv": (keys.client("ana", server="other-server"), HANDSHAKE_FAILED),
        "eve": (keys.client("eve"), KEY_REFUSED),  # a good key, not in the allow list
        "nokey": (keys.client(), KEY_REFUSED),  # --server-key only: a key made for it
    }
    started = time.monotonic()
    intruders = {name: chat.client(name, broker.endpoint, *args, use_pty=False, wait=False,
                                   env=own_config(chat))
                 for name, (args, _) in refused.items()}
    ana.line("still here 1")  # the honest pair chats while the refusals happen
    bob.expect("ana: still here 1")
    for name, (_, line) in refused.items():
        proc = intruders[name]
        proc.expect(re.escape(line) if line == HANDSHAKE_FAILED else line, timeout=15)
        assert proc.wait() == 1, proc.text
        proc.assert_not_seen("Welcome")
    print(f"\nrefusals: {len(refused)} clients refused within "
          f"{time.monotonic() - started:.2f}s")
    bob.line("still here 2")
    ana.expect("bob: still here 2")
    broker.expect(LOG_KEY_REFUSED, anywhere=True)
    broker.expect(r"refused a connection on tcp://127\.0\.0\.1:\d+: encryption handshake "
                  r"failed \(plaintext client, or wrong server key\)", anywhere=True)
    for name in refused:
        broker.assert_not_seen(rf"join {name}\b")
        ana.assert_not_seen(rf"{name} joined")
    assert "Traceback" not in broker.text


class CurvePeer(RawPeer):
    """A bare DEALER speaking CURVE with a given key (no `zchat join` around it)."""

    def __init__(self, endpoint: str, server_key: Path, secret: Path) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.curve_serverkey = zmq.auth.load_certificate(server_key)[0]
        public, secret_key = zmq.auth.load_certificate(secret)
        self.sock.curve_publickey = public
        self.sock.curve_secretkey = secret_key
        self.sock.connect(endpoint)


def test_a_refused_key_is_logged_as_such_not_as_a_failed_handshake(
        chat: Cluster, keys: Keys) -> None:
    broker = curve_broker(chat, keys)
    eve = CurvePeer(broker.endpoint, keys.public("server"), keys.secret("eve"))
    try:
        eve.send(encode(Join("eve", secrets.token_hex(16))))
        broker.expect(LOG_KEY_REFUSED)
    finally:
        eve.close()
    ana = CurvePeer(broker.endpoint, keys.public("server"), keys.secret("ana"))
    try:
        ana.send(encode(Join("ana", secrets.token_hex(16))))
        ana.next(Welcome)
        broker.expect(r"join ana from")  # later than anything eve's refusal logs
    finally:
        ana.close()
    # A key refused by the allow list is logged once, as such (by the ZAP gate), not
    # also as a failed handshake.
    broker.assert_not_seen(LOG_HANDSHAKE)


def test_encrypted_client_to_plaintext_broker_is_refused(chat: Cluster, keys: Keys) -> None:
    broker = chat.broker()
    lost = chat.client("ana", broker.endpoint, *keys.client("ana"), use_pty=False, wait=False)
    lost.expect(re.escape(HANDSHAKE_FAILED), timeout=15)
    assert lost.wait() == 1
    lost.assert_not_seen("Welcome")
    broker.assert_not_seen(r"join ana")


# ---- 4. impersonation -----------------------------------------------------------


def test_allow_list_pins_names_to_keys(chat: Cluster, keys: Keys) -> None:
    broker = curve_broker(chat, keys)
    bob = chat.client("bob", broker.endpoint, *keys.client("bob"))
    for name in ("ana", "ANA"):  # bob's key (admitted) tries to pass as ana
        fake = chat.client(name, broker.endpoint, *keys.client("bob"), use_pty=False,
                           wait=False)
        fake.expect(rf"the name {name} belongs to another key")
        assert fake.wait() == 1
        fake.assert_not_seen("Welcome")
    broker.expect(r"refused NAME_OWNED from \S+: this name belongs to another key",
                  anywhere=True)
    ana = chat.client("ana", broker.endpoint, *keys.client("ana"))  # the real ana
    bob.expect("ana joined")
    ana.line("sou eu mesma")
    bob.expect(r"ana: sou eu mesma")
    assert bob.count(r"ana joined") == 1
    assert bob.count(r"ANA joined") == 0


def test_first_key_to_claim_a_name_owns_it(chat: Cluster, keys: Keys) -> None:
    broker = curve_broker(chat, keys, allow=False)  # any key may connect
    endpoint, data_dir = broker.endpoint, broker.data_dir
    bob = chat.client("bob", endpoint, *keys.client("bob"))
    carol = chat.client("carol", endpoint, *keys.client("carol"))
    bob.expect("carol joined")
    carol.line("/quit")
    assert carol.wait() == 0
    bob.expect(r"carol left the chat")

    def refused(who: str | None, name: str = "carol") -> None:
        fake = chat.client(name, endpoint, *keys.client(who), use_pty=False, wait=False,
                           env=own_config(chat))
        fake.expect(rf"the name {name} belongs to another key")
        assert fake.wait() == 1
        fake.assert_not_seen("Welcome")

    refused("mallory")  # another made key
    refused(None, "Carol")  # no --key: a key of its own is made; another spelling
    back = chat.client("carol", endpoint, *keys.client("carol"))
    back.line("ainda sou a carol")
    bob.expect(r"carol: ainda sou a carol")
    back.line("/quit")
    assert back.wait() == 0
    # The claim is in the history store: it outlives a broker restart.
    broker.stop()
    curve_broker(chat, keys, allow=False, bind=endpoint, data_dir=data_dir)
    refused("mallory")
    assert bob.count(r"carol joined") == 2


#: Names that draw exactly like "ana": a variation selector, a Hangul filler, a
#: combining grapheme joiner, a supplementary variation selector, a braille blank.
INVISIBLE_ANAS = ("ana\ufe00", "ana\u3164", "an\u034fa", "ana\U000e0100", "ana\u2800")


def test_invisible_look_alikes_of_a_name_are_refused(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    for name in INVISIBLE_ANAS:  # by the broker, to a raw JOIN
        peer = RawPeer(broker.endpoint)
        try:
            peer.send(encode(Join(name, secrets.token_hex(16))))
            reply = decode_broker(peer.recv()[0])
        finally:
            peer.close()
        assert isinstance(reply, Error), f"{name!r} got {reply}"
        assert (reply.code, reply.ref) == (c.E_BAD_NAME, name)
        assert reply.detail.startswith("invisible character U+")
    # By the CLI, before any traffic: a usage error.
    fake = chat.spawn(["join", "ana\u3164", "--connect", broker.endpoint], use_pty=False)
    fake.expect(r"invisible character U\+3164")
    assert fake.wait() == 2
    ana.line("/who")
    ana.expect(r"Online \(1\): ana")
    ana.assert_not_seen("joined")
    broker.expect(r"refused BAD_NAME from \S+: invisible character U\+FE00", anywhere=True)


# ---- 5. a flooder ------------------------------------------------------------------


@dataclass
class Flood:
    """What a raw flooder saw, filled in by its thread."""

    sent: int = 0
    sent_before_bye: int = 0
    accepted: set[int] = field(default_factory=set)
    refused: int = 0
    after_bye: int = 0
    started: float = 0.0
    bye_at: float = 0.0
    bye_reason: str = ""
    error: str = ""
    joined: threading.Event = field(default_factory=threading.Event)
    flooding: threading.Event = field(default_factory=threading.Event)
    bye: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def _flooder(endpoint: str, flood: Flood, limit: float) -> None:
    """Join, then send SAY as fast as possible; keep flooding after BYE until told to stop."""
    peer = RawPeer(endpoint)
    sock = peer.sock
    try:
        peer.send(encode(Join("flooder", secrets.token_hex(16))))
        peer.next(Welcome)
        flood.joined.set()
        flood.started = time.monotonic()
        deadline = flood.started + limit
        n = 0
        while not flood.stop.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                sock.send(encode(Say(f"flood-{n}", n)), zmq.NOBLOCK)
                flood.sent += 1
            except zmq.Again:
                pass
            flood.flooding.set()
            while sock.poll(0, zmq.POLLIN):
                msg = decode_broker(sock.recv_multipart()[0])
                if isinstance(msg, Ack):
                    flood.accepted.add(msg.cid)
                elif isinstance(msg, Error) and msg.code == "RATE_LIMITED":
                    flood.refused += 1
                elif isinstance(msg, Error) and flood.bye_at:
                    flood.after_bye += 1  # NOT_JOINED: no longer in the chat
                elif isinstance(msg, Bye):
                    flood.bye_at = time.monotonic()
                    flood.bye_reason = msg.reason
                    flood.sent_before_bye = flood.sent
                    flood.bye.set()
    except Exception as exc:  # shown by the test, which would otherwise just time out
        flood.error = repr(exc)
        flood.bye.set()
    finally:
        peer.close()


def test_flooder_is_refused_then_disconnected_while_others_chat(chat: Cluster) -> None:
    rate, burst = 5.0, 10
    broker = chat.broker("--rate", str(rate), "--burst", str(burst))
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    flood = Flood()
    thread = threading.Thread(target=_flooder, args=(broker.endpoint, flood, 20.0), daemon=True)
    thread.start()
    try:
        assert flood.joined.wait(10), "the flooder never joined"
        bob.expect("flooder joined")
        assert flood.flooding.wait(10)
        ana.line("calm during")
        bob.expect(r"ana: calm during")
        assert flood.bye.wait(15) and not flood.error, flood.error or "no BYE"
        assert flood.bye_reason == "flood"
        bob.expect(r"flooder left the chat \(disconnected for flooding\)", anywhere=True)
        broker.expect(r"flood flooder: 100 messages over the rate limit in a row; "
                      r"disconnected", anywhere=True)
        # The flooder goes on hammering (now unjoined) while the others chat.
        ana.line("calm after")
        bob.expect(r"ana: calm after")
        bob.line("still fine")
        ana.expect(r"bob: still fine")
    finally:
        flood.stop.set()
        thread.join(10)
    assert not flood.error, flood.error
    elapsed = flood.bye_at - flood.started
    bound = burst + rate * elapsed
    accepted = sorted(flood.accepted)
    assert accepted, "not even the burst was accepted"
    bob.expect(rf"flooder: flood-{accepted[-1]}\b", anywhere=True)
    shown = [int(n) for n in re.findall(r"flooder: flood-(\d+)\b", bob.text)]
    print(f"\nflood: {flood.sent} frames sent ({flood.sent_before_bye} before BYE), "
          f"{len(accepted)} accepted, {flood.refused} refused RATE_LIMITED, BYE after "
          f"{elapsed:.3f}s, {flood.after_bye} NOT_JOINED after BYE; bob saw {len(shown)} "
          f"(bound {bound:.1f})")
    assert sorted(shown) == accepted and len(set(shown)) == len(shown)
    assert len(shown) <= bound
    assert flood.refused >= 99  # FLOOD_STRIKES refusals, the last answered by BYE
    for proc in (ana, bob):
        proc.assert_not_seen("sending too fast")
    assert "Traceback" not in broker.text


#: A stranger that never joins and sends pre-JOIN frames as fast as it can, in a
#: process of its own (no GIL shared with the test); it says "spent" once the broker
#: has answered a whole burst and ignored many more, and counts on SIGTERM.
STORM = """
import signal, sys, time, zmq
ctx = zmq.Context(); sock = ctx.socket(zmq.DEALER); sock.setsockopt(zmq.LINGER, 0)
sock.connect(sys.argv[1])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
sent = answered = 0; told = False; started = time.monotonic()
while not stop:
    try:
        sock.send(b"ZCHAT/1 PING", zmq.NOBLOCK); sent += 1
    except zmq.Again:
        pass
    while sock.poll(0, zmq.POLLIN):
        sock.recv_multipart(); answered += 1
    if not told and sent >= 20000:
        print("spent", flush=True); told = True
took = time.monotonic() - started
sock.close(0); ctx.term()
print(f"storm: {sent} frames in {took:.1f}s ({sent / took:.0f}/s), {answered} answered",
      flush=True)
"""


def test_a_stranger_flooding_before_join_does_not_lock_out_newcomers(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)
    ana.expect("carol joined")
    storm = Proc([sys.executable, "-c", STORM, broker.endpoint], use_pty=False, label="storm")
    chat.procs.append(storm)  # stopped with the others, by PID
    try:
        storm.expect("spent", timeout=15)
        ana.line("durante a tempestade")  # the joined keep chatting: they are not limited
        carol.expect(r"ana: durante a tempestade", timeout=15)
        newcomer = RawPeer(broker.endpoint)
        try:
            # Strangers each have a small budget before the shared one (broker/core.py,
            # _stranger_allowed), so one stranger flooding before JOIN spends only its own.
            # One JOIN, answered at once by a healthy broker (after a dropped one a
            # zchat client retries, backing off, each retry as likely to be dropped).
            newcomer.send(encode(Join("bob", secrets.token_hex(16))))
            asked = time.monotonic()
            welcome = newcomer.next(Welcome, timeout=3)
            waited = time.monotonic() - asked
        finally:
            newcomer.close()
        assert welcome.name == "bob"
        ana.expect("bob joined")
        print(f"\nstorm: the newcomer's JOIN was answered in {waited:.2f}s")
    finally:
        storm.signal(signal.SIGTERM)
        storm.wait()
        print("\n" + storm.tail(1))


# ---- 6. a paste is paced, not refused ---------------------------------------------


def test_pasting_many_lines_is_paced_not_refused(chat: Cluster) -> None:
    broker = chat.broker("--rate", "20", "--burst", "10")
    ana = chat.client("ana", broker.endpoint, use_pty=False)
    bob = chat.client("bob", broker.endpoint)
    bob.expect("Nobody else|Online: ana")
    ana.expect("bob joined")
    count = 40
    started = time.monotonic()
    ana.type("".join(f"paste-{n}\n" for n in range(1, count + 1)))  # one write: a paste
    bob.expect(rf"ana: paste-{count}\b", timeout=20)
    took = time.monotonic() - started
    shown = [int(n) for n in re.findall(r"ana: paste-(\d+)\b", bob.text)]
    refusals = broker.count(r"refused RATE_LIMITED from ana")
    print(f"\npaste: {count} lines at --rate 20 --burst 10 arrived in {took:.2f}s; "
          f"broker logged {refusals} run(s) of RATE_LIMITED refusals")
    assert shown == list(range(1, count + 1))
    ana.assert_not_seen(r"sending too fast|RATE_LIMITED")
    assert took >= (count - 10) / 20 * 0.8  # paced: 30 lines past the burst at 20/s
    # The client paces a little under the broker's limits, so a paste is never refused.
    assert refusals == 0, f"the broker refused the paste {refusals} time(s)"


# ---- 7. the loud warning -------------------------------------------------------------


def test_exposed_plaintext_bind_warns_loopback_or_encrypted_does_not(
        chat: Cluster, keys: Keys) -> None:
    exposed = chat.broker(bind="tcp://0.0.0.0:*")
    exposed.expect(r"WARNING: tcp://0\.0\.0\.0:\d+ is reachable beyond this machine WITHOUT "
                   r"encryption: anyone on the network can read every message", anywhere=True)
    for broker in (chat.broker(), curve_broker(chat, keys, bind="tcp://0.0.0.0:*")):
        # The warning is logged before "started", so once that is out its absence is final.
        broker.expect(r"started pid \d+", anywhere=True)
        broker.assert_not_seen("WARNING")
        broker.assert_not_seen("WITHOUT encryption")


def test_history_at_rest_is_not_readable_by_other_users(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    ana.line("@bob only for bob")
    bob.expect(r"\(private\) ana: only for bob")
    broker.expect(r"private ana -> bob", anywhere=True)  # stored and committed by now
    files = [p for p in broker.data_dir.iterdir() if p.is_file()]
    assert any(p.name.endswith(".sqlite3") for p in files), files
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in [broker.data_dir, *files]}
    print(f"\nat rest: {modes}")
    # History holds private texts in plaintext at rest, so its folder and files are
    # the broker user's alone.
    exposed = {name: mode for name, mode in modes.items() if int(mode, 8) & 0o077}
    assert not exposed, f"readable or writable by others: {exposed}"


# ---- 8. keygen ----------------------------------------------------------------------


def test_keygen_makes_a_private_secret_and_never_overwrites(chat: Cluster) -> None:
    folder = chat.tmp / "new" / "keys"  # made by keygen
    public, secret = keygen(chat, "dora", folder)
    assert public.is_file() and secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0  # a new key folder is private
    assert "secret-key" in secret.read_text() and "secret-key" not in public.read_text()
    before = (public.read_bytes(), secret.read_bytes())
    again = chat.spawn(["keygen", "dora", "--dir", str(folder)], use_pty=False)
    again.expect(r"zchat: \S+dora\.key exists: not overwriting a key")
    assert again.wait() == 1
    assert (public.read_bytes(), secret.read_bytes()) == before
    # The secret alone left behind (public deleted) is not overwritten either.
    public.unlink()
    third = chat.spawn(["keygen", "dora", "--dir", str(folder)], use_pty=False)
    third.expect(r"dora\.key_secret exists: not overwriting a key")
    assert third.wait() == 1
    assert secret.read_bytes() == before[1]


# ---- 9. the feed (--fanout pub) is encrypted and gated like the ROUTER ----------------


def test_fanout_pub_feed_is_encrypted_and_gated(chat: Cluster, keys: Keys) -> None:
    broker = curve_broker(chat, keys, "--fanout", "pub")
    ana = chat.client("ana", broker.endpoint, *keys.client("ana"), env=own_config(chat))
    bob = chat.client("bob", broker.endpoint, *keys.client("bob"), env=own_config(chat))
    ana.expect("bob joined")
    ana.line("pelo feed cifrado")
    bob.expect(r"ana: pelo feed cifrado")
    # Strangers on the feed: a plaintext SUB, and one with a key not on the allow list.
    feed_port = re.search(r'"feeds":\["tcp://127\.0\.0\.1:(\d+)"', _welcome_frame(broker, keys))
    assert feed_port is not None
    ctx = zmq.Context()
    subs = []
    try:
        plain = ctx.socket(zmq.SUB)
        intruder = ctx.socket(zmq.SUB)
        server_public, _ = zmq.auth.load_certificate(keys.public("server"))
        eve_public, eve_secret = zmq.auth.load_certificate(keys.secret("eve"))
        intruder.curve_serverkey = server_public
        intruder.curve_publickey = eve_public
        intruder.curve_secretkey = eve_secret
        for sub in (plain, intruder):
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(f"tcp://127.0.0.1:{feed_port.group(1)}")
            subs.append(sub)
        broker.expect(r"refused CURVE key \S+ .*not in the allow list", timeout=10)
        bob.line("segundo")  # after both tried to connect
        ana.expect(r"bob: segundo")
        for sub in subs:
            assert not sub.poll(500, zmq.POLLIN), "a stranger read the feed"
    finally:
        for sub in subs:
            sub.close(0)
        ctx.term()


def _welcome_frame(broker: Proc, keys: Keys) -> str:
    """The raw WELCOME an allowed key gets, to read the feed's port from it."""
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        server_public, _ = zmq.auth.load_certificate(keys.public("server"))
        public, secret = zmq.auth.load_certificate(keys.secret("ana"))  # an allowed key
        sock.curve_serverkey = server_public
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.connect(broker.endpoint)
        sock.send(encode(Join("ana-feed-probe", secrets.token_hex(16))))
        assert sock.poll(10_000, zmq.POLLIN), "no WELCOME"
        frame = sock.recv().decode()
        sock.close(0)
        return frame
    finally:
        ctx.term()
