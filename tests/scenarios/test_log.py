"""The broker's log: joins, leaves and messages, each stamped with date and time."""

import re
import signal

from .harness import Cluster

STAMPED = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "


def _chat_and_stop(chat: Cluster, *broker_args: str) -> str:
    log_file = chat.tmp / "zchat.log"
    broker = chat.broker("--log-file", str(log_file), *broker_args)
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    ana.line("mensagem pública")
    bob.expect("ana: mensagem pública")
    ana.line("@bob só para você")
    bob.expect("só para você")
    bob.line("sair")
    ana.expect("bob left")
    broker.signal(signal.SIGTERM)
    assert broker.wait() == 0
    return log_file.read_text(encoding="utf-8")


def test_log_file_records_everything_with_timestamps(chat: Cluster) -> None:
    log = _chat_and_stop(chat)
    for pattern in (r"started pid \d+", r"join ana from 127\.0\.0\.1", r"join bob from",
                    r"public ana: mensagem pública", r"private ana -> bob$",
                    r"leave bob \(left\)", r"leave ana \(broker shutting down\)",
                    r"broker stopped"):
        assert re.search(STAMPED + ".*" + pattern, log, re.M), pattern
    assert "só para você" not in log  # private bodies stay private by default
    assert all(re.match(STAMPED, line) for line in log.splitlines())


def test_a_room_message_is_logged_with_its_room(chat: Cluster) -> None:
    log_file = chat.tmp / "zchat.log"
    broker = chat.broker("--log-file", str(log_file))
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.expect("bob joined")
    ana.line("/join #Sala")
    ana.expect(r"\* You are in #sala\.")
    bob.line("/join #sala")
    ana.expect(r"\* bob joined #sala")
    bob.line("oi sala")
    ana.expect(r"\] bob: oi sala")
    bob.line("/part")
    ana.expect(r"\* bob left #sala")
    bob.line("oi geral")
    ana.expect(r"\] #geral bob: oi geral")
    broker.signal(signal.SIGTERM)
    assert broker.wait() == 0
    log = log_file.read_text(encoding="utf-8")
    for pattern in (r"enter bob #sala$", r"#sala bob: oi sala$", r"public bob: oi geral$"):
        assert re.search(STAMPED + pattern, log, re.M), (pattern, log)
    assert "public bob: oi sala" not in log


def test_private_bodies_are_logged_only_when_asked(chat: Cluster) -> None:
    log = _chat_and_stop(chat, "--log-private")
    assert re.search(STAMPED + r"private ana -> bob: só para você$", log, re.M)


def test_a_portuguese_broker_logs_its_start_in_portuguese(chat: Cluster) -> None:
    broker = chat.broker("--lang", "pt", wait=False)
    broker.expect(r"zchat broker \S+ escutando em tcp://")
    broker.expect("(?m)" + STAMPED + r"limite de descritores \d+.*: no máximo \d+ conexões, "
                  r"\d+ por endereço$")
    broker.expect(r"iniciado pid \d+")
    broker.signal(signal.SIGTERM)
    assert broker.wait() == 0
    assert "descriptor limit" not in broker.text


def test_log_file_that_cannot_be_opened(chat: Cluster) -> None:
    broker = chat.broker("--log-file", str(chat.tmp / "no" / "such" / "dir.log"), wait=False)
    assert broker.wait() == 1
    broker.expect(r"zchat: cannot open log file .*: No such file or directory")
    assert "Traceback" not in broker.text
