"""Scrolling back (issue 18): /history pages through a room's stored history, with
real processes, in both fan-out modes; across a broker crash, since the store keeps it."""

import re
import signal

import pytest

from .harness import Cluster

STAMP = r"\[\d\d:\d\d:\d\d\]"


@pytest.mark.both_fanouts
def test_history_pages_back_to_the_start_of_a_room(chat: Cluster) -> None:
    broker = chat.broker("--history", "5")
    ana = chat.client("ana", broker.endpoint)
    ana.line("/join #sala")
    ana.expect(r"\* You are in #sala\.")
    for i in range(24):
        ana.line(f"linha {i}")
    ana.line("/who #sala")  # answered once her lines are stored (they are shown as typed)
    ana.expect(r"In #sala \(1\): ana")
    bob = chat.client("bob", broker.endpoint, lang="pt")
    bob.line("/join #sala")
    bob.expect(r"\(histórico\) ana: linha 23")  # a newcomer's last 5
    assert bob.count(r"\(histórico\) ana: linha") == 5, bob.tail(20)
    bob.line("/history 10")
    bob.expect(r"Mensagens mais antigas de #sala: /history de novo\.")
    shown = [int(n) for n in re.findall(r"\(histórico\) ana: linha (\d+)", bob.text)]
    assert shown == [*range(19, 24), *range(9, 19)], shown
    bob.line("/history")  # the rest: 0 to 8, ana's entering, and nothing more
    bob.expect(r"Início do histórico de #sala\.")
    shown = [int(n) for n in re.findall(r"\(histórico\) ana: linha (\d+)", bob.text)]
    assert shown[15:] == list(range(9)), shown
    assert bob.count(r"ana entrou em #sala") == 1, bob.tail(30)
    # The default room too, by its name; a room one is not in is refused.
    ana.line("/history #geral 5")
    ana.expect(r"Beginning of #geral's history\.")
    ana.line("/history #outra")
    ana.expect(r"you are not in #outra: /join #outra first")
    ana.line("/history 0")
    ana.expect(r"Usage: /history \[#room\|@name\] \[N\]")
    # History is the store's: after a crash it pages back the same way.
    broker.signal(signal.SIGKILL)
    broker.wait()
    chat.broker("--history", "5", bind=broker.endpoint, data_dir=broker.data_dir)
    ana.expect(r"Reconnected as ana", timeout=10)
    ana.line("/history #sala 3")  # before bob's entering, the oldest she was shown
    ana.expect(r"\(history\) .*linha 23")
    ana.expect(r"Older messages of #sala: /history again\.")


def test_history_pages_back_across_a_cluster(chat: Cluster) -> None:
    """A room's history is the cluster's: a member on the other broker pages back
    through what was said on the first."""
    redis = chat.redis()
    a, b = (chat.broker("--cluster", redis.url, "--history", "3") for _ in range(2))
    ana = chat.client("ana", a.endpoint)
    ana.line("/join #sala")
    ana.expect(r"\* You are in #sala\.")
    for i in range(12):
        ana.line(f"linha {i}")
    ana.line("/who #sala")  # answered once her lines are stored
    ana.expect(r"In #sala \(1\): ana")
    bob = chat.client("bob", b.endpoint)
    bob.line("/join #sala")
    bob.expect(r"\(history\) ana: linha 11")
    bob.line("/history 5")
    bob.expect(r"Older messages of #sala: /history again\.")
    bob.line("/history")
    bob.expect(r"Beginning of #sala's history\.")
    shown = [int(n) for n in re.findall(r"\(history\) ana: linha (\d+)", bob.text)]
    assert shown == [9, 10, 11, 4, 5, 6, 7, 8, 0, 1, 2, 3], shown
