"""Nothing lost: stalls, crashes and restarts, checked message by message.

Delivery runs in both fan-out modes; a data directory the broker cannot use runs once.
"""

import re
import signal
import threading
import time

import pytest

from .harness import Cluster, Proc

LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?:\((?:missed|history)\) )?(\w+): (\w+)-(\d+)\s*$", re.M)


def shown_by(proc: Proc) -> dict[str, list[int]]:
    """For each sender, the numbers of its 'sender-N' messages this client showed, in order."""
    seen: dict[str, list[int]] = {}
    for sender, tag, number in LINE.findall(proc.text.replace("\r", "\n")):
        if sender == tag:
            seen.setdefault(sender, []).append(int(number))
    return seen


@pytest.mark.both_fanouts
def test_stopped_client_sees_every_missed_message_once_in_order(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=0.2)
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)
    ana.expect("carol joined")
    bob.line("bob-1")
    ana.expect("bob: bob-1")
    ana.signal(signal.SIGSTOP)
    for n in range(2, 12):
        bob.line(f"bob-{n}")
        carol.expect(rf"bob: bob-{n}\b")  # the others are served while ana is stalled
    bob.expect(r"ana left the chat \(timed out\)")  # the broker gave up on ana meanwhile
    for n in range(12, 21):
        bob.line(f"bob-{n}")
        carol.expect(rf"bob: bob-{n}\b")
    ana.signal(signal.SIGCONT)
    ana.expect(r"Reconnected as ana")
    # (With --fanout pub the feed may deliver them before the rejoin: anywhere.)
    ana.expect(r"bob: bob-20\b", anywhere=True)
    bob.line("bob-21")
    ana.expect(r"bob: bob-21\b")
    assert shown_by(ana)["bob"] == list(range(1, 22))
    if chat.fanout == "router":  # what came while ana was dropped came from history
        assert ana.count(r"\(missed\) bob: bob-") >= 9


@pytest.mark.both_fanouts
def test_broker_crash_loses_nothing_acknowledged_and_shows_nothing_twice(chat: Cluster) -> None:
    # Scripted senders type faster than people: lift the per-client rate limit.
    fast = ("--rate", "1000", "--burst", "1000")
    broker = chat.broker(*fast, heartbeat=0.2)
    endpoint, data_dir = broker.endpoint, broker.data_dir
    names = ("ana", "bob", "cris")
    total = 120
    clients = {n: chat.client(n, endpoint, "--show-acks", use_pty=False) for n in names}
    clients["ana"].expect("cris joined")

    def feed(name: str) -> None:
        proc = clients[name]
        for n in range(1, total + 1):
            proc.line(f"{name}-{n}")
            time.sleep(0.01)  # a steady typist, not a synchronisation

    feeders = [threading.Thread(target=feed, args=(n,), daemon=True) for n in names]
    for thread in feeders:
        thread.start()
    clients["bob"].expect(r"ana: ana-30\b")
    broker.signal(signal.SIGKILL)  # in the middle of the stream
    broker.wait()
    clients["ana"].expect("Connection to the broker lost")
    chat.broker(*fast, bind=endpoint, heartbeat=0.2, data_dir=data_dir)
    for thread in feeders:
        thread.join(30)
    for name, proc in clients.items():
        proc.expect(rf"delivered: {name}-{total}\b", timeout=30, anywhere=True)
        for other in names:
            if other != name:
                proc.expect(rf"{other}: {other}-{total}\b", timeout=30, anywhere=True)
    for name, proc in clients.items():
        acked = [int(n) for n in re.findall(rf"delivered: {name}-(\d+)", proc.text)]
        assert sorted(acked) == list(range(1, total + 1)), f"{name}'s acknowledgements"
        seen = shown_by(proc)
        for other in names:
            if other != name:
                assert seen.get(other) == list(range(1, total + 1)), f"{name} saw {other}"
        assert name not in seen, f"{name} was shown its own messages"


@pytest.mark.both_fanouts
def test_newcomer_sees_recent_public_history_but_no_private(chat: Cluster) -> None:
    broker = chat.broker("--history", "5")
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    for n in range(1, 9):
        ana.line(f"ana-{n}")
    ana.line("@bob segredo")
    bob.expect("segredo")
    carol = chat.client("carol", broker.endpoint)
    carol.expect(r"\(history\) ana: ana-8")
    assert shown_by(carol)["ana"] == [4, 5, 6, 7, 8]
    carol.line("@ana oi")
    ana.expect(r"\(private\) carol: oi")
    carol.assert_not_seen("segredo")


@pytest.mark.both_fanouts
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_history_survives_restart_and_crash(chat: Cluster, stop: int) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint, "--show-acks")
    ana.line("ana-1")
    ana.line("ana-2")
    ana.expect("delivered: ana-2")
    broker.signal(stop)
    broker.wait()
    again = chat.broker(bind=broker.endpoint, data_dir=broker.data_dir)
    dave = chat.client("dave", again.endpoint)
    dave.expect(r"\(history\) ana: ana-2")
    assert shown_by(dave)["ana"] == [1, 2]


@pytest.mark.both_fanouts
def test_messages_typed_while_disconnected_are_sent_on_return(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    broker.signal(signal.SIGKILL)
    broker.wait()
    ana.expect("Connection to the broker lost")
    ana.line("ana-1")
    ana.expect("your messages are kept and sent when the broker is back")
    ana.line("ana-2")
    chat.broker(bind=broker.endpoint, data_dir=broker.data_dir)
    bob.expect(r"ana: ana-2")
    assert shown_by(bob)["ana"] == [1, 2]


def test_corrupt_data_dir_is_a_clear_error(chat: Cluster) -> None:
    data = chat.tmp / "corrupt"
    data.mkdir()
    (data / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    broker = chat.broker(data_dir=data, wait=False)
    assert broker.wait() == 1
    broker.expect(r"zchat: history store .*history.sqlite3 is unusable: file is not a database")
    assert "Traceback" not in broker.text


def test_unusable_data_dir_is_a_clear_error(chat: Cluster) -> None:
    a_file = chat.tmp / "file"
    a_file.write_text("x")
    broker = chat.broker(data_dir=a_file, wait=False)
    assert broker.wait() == 2  # a usage error: the option names a file
    broker.expect(r"Invalid value for '--data-dir'.*is a file")
    broker = chat.broker(data_dir=a_file / "sub", wait=False)
    assert broker.wait() == 1
    broker.expect(r"zchat: cannot use data directory .*file/sub: Not a directory")
    first = chat.broker()
    second = chat.broker(data_dir=first.data_dir, wait=False)
    assert second.wait() == 1
    second.expect(r"data directory .* is in use by another broker")
