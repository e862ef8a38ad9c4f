"""Read state (issue 18) with real processes: unread counts and the "new" line after a
reconnect across a broker kill -9, a key-bound user's rooms and read state on another
terminal (of one broker, and of another broker of a cluster sharing a real
redis-server), and a private conversation paged back with /history @name."""

import re
import signal
import sqlite3
from pathlib import Path

import redis

from zchat.protocol import Events, History, Join, Welcome, encode
from zchat.protocol import constants as c

from .harness import Broker, Cluster, Proc, RawPeer, wait_until
from .test_security import keygen

#: The broker's session timeout is three of these (seconds): a stopped client is
#: dropped soon, so what is said meanwhile waits for it unread.
HEARTBEAT = 0.3


def _read_up_to_the_room_head(data_dir: Path, room: str, readers: int) -> bool:
    """Whether ``readers`` readers' marks in ``room`` are at its newest event (the
    broker's SQLite file, read beside it as any reader of a WAL file may)."""
    db = sqlite3.connect(f"file:{data_dir / 'history.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM reads WHERE key = ? AND seq >= "
                          "(SELECT MAX(seq) FROM events WHERE room = ?)",
                          (room, room)).fetchone()[0] >= readers
    except sqlite3.OperationalError:
        return False  # (a table not made yet)
    finally:
        db.close()


def _read_in_redis(url: str, room: str, readers: int) -> bool:
    """Whether ``readers`` readers' marks in ``room`` are at its head, in a cluster's
    Redis (cluster_script.py: ``mk:<reader>``, ``rh:<room>``)."""
    client = redis.Redis.from_url(url)
    try:
        head = int(client.get("zchat:rh:" + room) or 0)
        marks = [client.hget(key, room) for key in client.scan_iter("zchat:mk:*")]
        return head > 0 and sum(1 for m in marks if m and int(m) >= head) >= readers
    finally:
        client.close()


def _unread_in_redis(url: str, peer: str) -> int:
    """The most unread any reader has from ``peer`` in a cluster's Redis (``ci:<reader>``:
    "unread\\tts\\tname" per peer)."""
    client = redis.Redis.from_url(url)
    try:
        found = [client.hget(key, peer) for key in client.scan_iter("zchat:ci:*")]
        return max((int(v.split(b"\t")[0]) for v in found if v), default=0)
    finally:
        client.close()


def _talks_in_redis(url: str) -> set[tuple[str, int]]:
    """(peer, messages) of every reader's pages in a cluster's Redis (``tl:<reader>``)."""
    client = redis.Redis.from_url(url)
    try:
        found = set()
        for key in client.scan_iter("zchat:tl:*"):
            peers = [m.split(b"\t")[0].decode() for m in client.zrange(key, 0, -1)]
            found |= {(peer, peers.count(peer)) for peer in peers}
        return found
    finally:
        client.close()


def _stop(proc: Proc) -> None:
    proc.signal(signal.SIGSTOP)


def test_unread_after_a_reconnect_survives_a_broker_crash(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=HEARTBEAT)
    ana = chat.client("ana", broker.endpoint, heartbeat=HEARTBEAT)
    bob = chat.client("bob", broker.endpoint, heartbeat=HEARTBEAT, lang="pt")
    for who in (ana, bob):
        who.line("/join #dev")
        who.expect(r"You are in #dev\.|Você está em #dev\.")
    bob.line("antes")
    ana.expect(r"#dev bob: antes|bob: antes")
    wait_until(lambda: _read_up_to_the_room_head(broker.data_dir, "#dev", 2),
               "both marks stored")
    _stop(ana)  # ana's terminal freezes; the broker soon drops her
    bob.expect(r"ana saiu .*tempo", timeout=10)
    bob.line("um")
    bob.line("Ana, olha isto")
    bob.line("/who #dev")  # answered once both lines are stored
    bob.expect(r"Em #dev \(1\): bob")
    broker.signal(signal.SIGKILL)
    broker.wait()
    chat.broker(bind=broker.endpoint, data_dir=broker.data_dir, heartbeat=HEARTBEAT)
    ana.signal(signal.SIGCONT)
    ana.expect(r"\* 2 unread in #dev, 1 mention\(s\) of you in #dev", timeout=10)
    ana.expect(r"----- new in #dev -----")
    ana.expect(r"Ana, olha isto")
    after = ana.text[ana.text.index("----- new in #dev -----"):]
    assert "bob: um" in after and "bob: antes" not in after, ana.tail(20)
    assert re.search(r"\(mentions you\) (#dev )?bob: Ana, olha isto|"
                     r"\(missed\) (#dev )?bob: Ana, olha isto", after), ana.tail(20)


def test_a_key_bound_user_gets_rooms_and_read_state_on_another_terminal(
        chat: Cluster) -> None:
    server_pub, server_secret = keygen(chat, "server", chat.tmp / "server")
    keys = {name: keygen(chat, name, chat.tmp / name)[1] for name in ("ana", "bob")}
    broker = chat.broker("--curve-secret", str(server_secret), heartbeat=HEARTBEAT)

    def terminal(name: str) -> Proc:
        return chat.client(name, broker.endpoint, "--server-key", str(server_pub),
                           "--key", str(keys[name]), heartbeat=HEARTBEAT)

    ana, bob = terminal("ana"), terminal("bob")
    for who in (ana, bob):
        who.line("/join #dev")
        who.expect(r"You are in #dev\.")
    bob.line("antes")
    ana.expect(r"bob: antes")
    wait_until(lambda: _read_up_to_the_room_head(broker.data_dir, "#dev", 2),
               "both marks stored")
    _stop(ana)  # her first terminal freezes: what comes now reaches it, unseen
    bob.line("um")
    bob.line("@ana segredo 1")
    bob.line("ana: olha isto")
    bob.line("@ana segredo 2")
    bob.expect(r"\(private to ana\): segredo 2")  # stored (and all before it): sent to her
    ana.signal(signal.SIGKILL)  # ... and is closed without a word
    bob.expect(r"ana left the chat \((connection lost|timed out)\)", timeout=10)
    ana2 = terminal("ana")  # another terminal, the same key: a new session
    ana2.expect(r"\* 2 unread in #dev, 1 mention\(s\) of you in #dev, 2 unread from bob")
    ana2.expect(r"----- new in #dev -----")
    ana2.expect(r"\(history\) (#dev )?bob: ana: olha isto")
    before = ana2.text[:ana2.text.index("----- new in #dev -----")]
    assert "bob: antes" in before and "bob: um" not in before, ana2.tail(20)
    bob.expect(r"ana joined #dev")  # her rooms followed her key
    ana2.line("oi de novo")  # to #dev, her current room again
    bob.expect(r"ana: oi de novo")
    ana2.line("/dms")
    ana2.expect(r"Private conversations \(1\), most recent first:")
    ana2.expect(r"  bob: 2 unread, last at \d\d:\d\d")
    # The conversation is her key's: the new terminal pages back through what the
    # frozen one was sent, and once it has shown it, nothing is unread.
    ana2.line("/history @bob")
    ana2.expect(r"\(history\) \(private\) bob: segredo 1")
    ana2.expect(r"\(history\) \(private\) bob: segredo 2")
    ana2.expect(r"Beginning of @bob's history\.")
    ana2.line("/dms")
    ana2.expect(r"  bob: 0 unread, last at \d\d:\d\d")


def test_a_key_bound_user_gets_unread_and_dms_on_another_broker_of_a_cluster(
        chat: Cluster) -> None:
    """Two brokers sharing a real redis-server: ana's terminal on A freezes while bob,
    on B, writes in their room and to her; her new terminal, on B, is told what she has
    not read, is put back in her rooms, lists and pages back her conversation, and
    what it shows is read."""
    server_pub, server_secret = keygen(chat, "server", chat.tmp / "server")
    keys = {name: keygen(chat, name, chat.tmp / name)[1] for name in ("ana", "bob")}
    url = chat.redis().url
    a, b = (chat.broker("--cluster", url, "--curve-secret", str(server_secret),
                        heartbeat=HEARTBEAT) for _ in range(2))

    def terminal(name: str, broker: Broker) -> Proc:
        return chat.client(name, broker.endpoint, "--server-key", str(server_pub),
                           "--key", str(keys[name]), heartbeat=HEARTBEAT)

    ana, bob = terminal("ana", a), terminal("bob", b)
    for who in (ana, bob):
        who.line("/join #dev")
        who.expect(r"You are in #dev\.")
    bob.line("antes")
    ana.expect(r"bob: antes")
    wait_until(lambda: _read_in_redis(url, "#dev", 2), "both marks stored in Redis")
    _stop(ana)  # her terminal on A freezes: what comes now reaches it, unseen
    bob.line("um")
    bob.line("@ana segredo 1")  # (to her session on A, from B: recorded on A)
    bob.line("ana: olha isto")
    bob.line("@ana segredo 2")
    bob.expect(r"private to ana\): segredo 2")
    # A has recorded them in her conversation (it holds her session) before it loses her.
    wait_until(lambda: _unread_in_redis(url, "bob") == 2, "her broker recorded both")
    ana.signal(signal.SIGKILL)  # ... and is closed without a word
    bob.expect(r"ana left the chat \((connection lost|timed out)\)", timeout=10)
    ana2 = terminal("ana", b)  # another terminal, the same key, the other broker
    ana2.expect(r"\* 2 unread in #dev, 1 mention\(s\) of you in #dev, 2 unread from bob")
    ana2.expect(r"----- new in #dev -----")
    ana2.expect(r"\(history\) (#dev )?bob: ana: olha isto")
    before = ana2.text[:ana2.text.index("----- new in #dev -----")]
    assert "bob: antes" in before and "bob: um" not in before, ana2.tail(20)
    bob.expect(r"ana joined #dev")  # her rooms followed her key
    ana2.line("/dms")
    ana2.expect(r"Private conversations \(1\), most recent first:")
    ana2.expect(r"  bob: 2 unread, last at \d\d:\d\d")
    ana2.line("/history @bob")
    ana2.expect(r"\(history\) \(private\) bob: segredo 1")
    ana2.expect(r"\(history\) \(private\) bob: segredo 2")
    ana2.expect(r"Beginning of @bob's history\.")
    ana2.line("/dms")  # (what she was shown is marked read first)
    ana2.expect(r"  bob: 0 unread, last at \d\d:\d\d")
    # bob's side of it was recorded on his broker, once: nothing of his own is unread.
    bob.line("/dms")
    bob.expect(r"Private conversations \(1\), most recent first:")
    bob.expect(r"  ana: 0 unread, last at \d\d:\d\d")
    ana2.line("@bob recebi")
    bob.expect(r"\(private\) ana: recebi")
    # Each message is in each side's pages once: her key's (written on A, then on B)
    # and his, made on B.
    wait_until(lambda: _talks_in_redis(url) == {("ana", 3), ("bob", 3)},
               "both sides of the three messages recorded once")


def test_history_pages_back_through_a_private_conversation(chat: Cluster) -> None:
    """A client written from the protocol page pages back through one conversation
    with no gap, no repeat and nothing of another; the terminal client lists its
    conversations (/dms) and pages back from the oldest line it showed."""
    broker = chat.broker()
    bob = chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)
    dave = RawPeer(broker.endpoint)
    try:
        dave.send(encode(Join("dave")))
        dave.next(Welcome)
        for i in range(7):
            bob.line(f"@dave de bob {i}")
            bob.expect(f"private to dave\\): de bob {i}")
            carol.line(f"@dave de carol {i}")
            carol.expect(f"private to dave\\): de carol {i}")
        pages, before = [], None
        while True:
            dave.send(encode(History("", before=before, limit=3, peer="BOB")))
            page = dave.next(Events)
            while page.kind == c.K_LIVE:  # (others' joins and leaves: not this answer)
                page = dave.next(Events)
            assert (page.kind, page.room) == (c.K_PAGE, "@BOB"), page
            pages.append([e.text for e in page.events])
            if not page.more:
                break
            before = page.events[0].seq
        texts = [text for page in reversed(pages) for text in page]
        assert texts == [f"de bob {i}" for i in range(7)], pages
    finally:
        dave.close()
    ana = chat.client("ana", broker.endpoint, lang="pt")
    bob.line("@ana oi")
    ana.expect(r"bob: oi")
    carol.line("@ana olá")
    ana.expect(r"carol: olá")
    ana.line("/dms")  # (what she was shown is marked read first)
    ana.expect(r"Conversas privadas \(2\), a mais recente primeiro:")
    ana.expect(r"  bob: 0 não lidas, última às")
    listed = re.findall(r"  (\w+): (\d+) não lidas", ana.text)
    assert listed == [("carol", "0"), ("bob", "0")], ana.tail(10)
    ana.line("/history @bob")  # nothing older than the line she was shown
    ana.expect(r"Início do histórico de @bob\.")
