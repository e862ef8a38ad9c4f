"""Search (issue 18) with real processes: /search finds what the searcher may read and
nothing else, its filters, /around, and the index surviving a broker crash."""

import signal

import pytest

from .harness import Cluster


@pytest.mark.both_fanouts
def test_search_finds_what_one_may_read_only(chat: Cluster) -> None:
    broker = chat.broker()  # (search is on by default with the SQLite history)
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint, lang="pt")
    ana.expect("carol joined the chat")
    for user in (ana, bob):
        user.line("/join #dev")
        user.expect(r"\* You are in #dev\.")
    ana.line("o deploy de sexta vai às 18h")
    bob.expect(r"ana: o deploy de sexta")
    carol.line("alguém viu o Deploy no geral?")
    ana.expect(r"carol: alguém viu o Deploy")
    bob.line("@carol a senha do deploy é outra")
    carol.expect(r"bob.*a senha do deploy")
    bob.line("/msg #geral deploy adiado")
    carol.expect(r"bob: deploy adiado")
    # carol is not in #dev: she finds the default room's and her private message only.
    carol.line("/buscar deploy")
    carol.expect(r"Não há mais resultados\.")
    assert carol.count(r"\[\d\] .*\(encontrado\)") == 3, carol.tail(20)
    carol.assert_not_seen(r"deploy de sexta")
    carol.expect(r"\[1\] .*deploy adiado", anywhere=True)
    carol.expect(r"\[2\] .*a senha do deploy", anywhere=True)
    # Filters: a room, a sender, a private conversation; accents do not matter.
    bob.line("/search DEPLÔY in:#dev")
    bob.expect(r"\[1\] .*\(found\) .*ana: o deploy de sexta")
    bob.expect(r"No more results\.")
    ana.line("/search deploy from:carol")
    ana.expect(r"\[1\] .*carol: alguém viu o Deploy")
    ana.expect(r"No more results\.")
    ana.assert_not_seen(r"senha do deploy")
    bob.line("/search senha @carol")
    bob.expect(r"\[1\] .*a senha do deploy")
    carol.line("/search deploy in:#dev")
    carol.expect(r"você não está em #dev")
    bob.line("/search nadaassim")
    bob.expect(r"No messages found\.")
    # The lines around a result, in its room.
    bob.line("/search sexta")
    bob.expect(r"\[1\] .*deploy de sexta")
    bob.line("/around 1")
    bob.expect(r"\(context\) .*ana: o deploy de sexta")
    # The index is kept with the history: after a crash, the same search finds the same.
    broker.signal(signal.SIGKILL)
    broker.wait()
    chat.broker(bind=broker.endpoint, data_dir=broker.data_dir)
    ana.expect(r"Reconnected as ana", timeout=10)
    ana.line("/search adiado")
    ana.expect(r"\[1\] .*bob: deploy adiado")


def test_a_broker_without_search_says_so(chat: Cluster) -> None:
    broker = chat.broker("--no-search")
    ana = chat.client("ana", broker.endpoint)
    ana.line("/search qualquer coisa")
    ana.expect(r"This broker does not offer search\.")
    ana.line("still here")  # (the session goes on)
    ana.line("/who")
    ana.expect(r"ana")
