"""The web client in a real browser (issue 20): Debian's Chromium driven by Playwright,
through a real `zchat web` gateway, beside a real terminal client on a real broker.

Two pages and one terminal chat publicly and privately both ways, in rooms; a page
reloaded in mid-conversation shows every message exactly once and nobody sees it
leave; a gateway restarted while a user types, and a broker killed with -9 and
restarted, lose nothing and duplicate nothing; markup in a message is shown as text.
A page pages back with /history, searches and lists its conversations; an operator's
mute refuses its messages and a kick stops it.
"""

from __future__ import annotations

import shutil
import signal

import pytest

from .browser import WebUser, browser, gateway  # noqa: F401  (browser: a fixture)
from .harness import Cluster, free_port, wait_until
from .test_security import keygen

pytestmark = pytest.mark.timeout(120)


def _chat(chat: Cluster, *broker_extra: str) -> tuple[str, str]:
    """A broker and a gateway in front of it: (the broker's endpoint, the page's URL)."""
    broker = chat.broker(*broker_extra)
    _, url = gateway(chat, broker.endpoint)
    return broker.endpoint, url


@pytest.mark.both_fanouts
def test_two_pages_and_a_terminal_chat_publicly_and_privately(chat: Cluster,
                                                               browser) -> None:  # noqa: F811
    endpoint, url = _chat(chat)
    ana = WebUser(browser, url).join("ana")
    bea = WebUser(browser, url).join("bea")
    carlos = chat.client("carlos", endpoint)

    ana.type("olá a todos")
    bea.expect_text("^olá a todos$", "msg")
    carlos.expect(r"ana: olá a todos")

    carlos.line("oi do terminal")
    ana.expect_text("^oi do terminal$", "msg")
    bea.expect_text("^oi do terminal$", "msg")

    bea.type("e da outra aba")
    ana.expect_text("^e da outra aba$", "msg")
    carlos.expect(r"bea: e da outra aba")

    # Private, each way: only its two ends see it.
    ana.type("@bea segredo de ana")
    bea.expect_text("segredo de ana", "priv")
    ana.expect_text("segredo de ana", "priv")  # (the sender's own copy)
    bea.type("@carlos segredo de bea")
    carlos.expect(r"bea.*segredo de bea")
    carlos.line("@ana segredo de carlos")
    ana.expect_text("segredo de carlos", "priv")

    # A public line after them: once everyone has it, nobody else got the secrets.
    carlos.line("fim")
    ana.expect_text("^fim$", "msg")
    bea.expect_text("^fim$", "msg")
    assert not [x for x in ana.lines() if "segredo de bea" in x.text]
    assert not [x for x in bea.lines() if "segredo de carlos" in x.text]
    carlos.assert_not_seen("segredo de ana")
    for user in (ana, bea):
        assert all(user.count(f"^{text}$") == 1
                   for text in ("olá a todos", "oi do terminal", "e da outra aba", "fim"))
        assert not user.errors, user.errors


@pytest.mark.both_fanouts
def test_rooms_keep_to_their_members(chat: Cluster, browser) -> None:  # noqa: F811
    endpoint, url = _chat(chat)
    ana = WebUser(browser, url).join("ana")
    bea = WebUser(browser, url).join("bea")
    carlos = chat.client("carlos", endpoint)

    ana.type("/join #dev")
    ana.page.wait_for_function(
        "() => document.querySelector('#current-room')?.textContent.includes('#dev')")
    carlos.line("/join #dev")
    ana.expect_text("carlos", "joined")
    carlos.line("só no dev")
    ana.expect_text("^só no dev$", "msg")
    ana.type("respondo no dev")
    carlos.expect(r"ana: respondo no dev")

    # ana looks at #geral: what is said in #dev meanwhile counts as unread there.
    ana.page.click('#rooms .room[data-room="#geral"]')
    ana.page.wait_for_function(
        "() => document.querySelector('#current-room')?.textContent.includes('#geral')")
    carlos.line("mais um no dev")
    ana.page.wait_for_function(
        """() => document.querySelector('#rooms .room[data-room="#dev"] .unread')
                   ?.textContent.trim() === '1'""")

    # bea, who is not in #dev, saw none of it (a later #geral line proves she is caught up).
    carlos.line("/msg #geral para todos")
    bea.expect_text("^para todos$", "msg")
    assert not [x for x in bea.lines() if "dev" in x.text], bea.lines()
    assert "#dev" not in bea.room_list()
    assert not ana.errors and not bea.errors, (ana.errors, bea.errors)


def test_a_reload_shows_every_message_once_and_nobody_sees_a_leave(
        chat: Cluster, browser) -> None:  # noqa: F811
    endpoint, url = _chat(chat)
    ana = WebUser(browser, url).join("ana")
    carlos = chat.client("carlos", endpoint)
    for n in (1, 2, 3):
        carlos.line(f"antes {n}")
    ana.expect_text("^antes 3$", "msg")

    # She types and reloads at once: the line is in her tab's outbox, sent once.
    ana.type("digitei e recarreguei")
    ana.reload()
    carlos.line("durante o reload")
    ana.wait_state("online")
    ana.expect_text("^durante o reload$", "msg")
    carlos.expect(r"ana: digitei e recarreguei")
    ana.type("voltei")
    carlos.expect(r"ana: voltei")

    shown = ana.texts("msg")
    for text in ("antes 1", "antes 2", "antes 3", "digitei e recarreguei", "durante o reload",
                 "voltei"):
        assert shown.count(text) == 1, (text, shown)
    assert shown.index("antes 3") < shown.index("durante o reload")
    assert carlos.count(r"ana: digitei e recarreguei") == 1
    carlos.assert_not_seen(r"ana (left|saiu)")
    assert not ana.errors, ana.errors


def test_the_gateway_restarted_while_a_user_types(chat: Cluster, browser) -> None:  # noqa: F811
    broker = chat.broker()
    port = free_port()
    web, url = gateway(chat, broker.endpoint, port=port)
    ana = WebUser(browser, url).join("ana")
    carlos = chat.client("carlos", broker.endpoint)
    carlos.line("um")
    ana.expect_text("^um$", "msg")

    web.signal(signal.SIGKILL)
    web.wait()
    ana.page.wait_for_function(
        "() => document.querySelector('#status')?.dataset.state !== 'online'")
    ana.type("escrito sem gateway")
    bea = chat.client("bea", broker.endpoint)
    carlos.line("dito sem gateway")
    bea.expect(r"carlos: dito sem gateway")  # (stored before ana comes back)

    gateway(chat, broker.endpoint, port=port)
    ana.wait_state("online", timeout_ms=20_000)
    carlos.expect(r"ana: escrito sem gateway")
    ana.expect_text("^dito sem gateway$", "msg")
    carlos.line("depois")
    ana.expect_text("^depois$", "msg")
    assert ana.count("^dito sem gateway$") == 1 and ana.count("^um$") == 1
    assert carlos.count(r"ana: escrito sem gateway") == 1
    assert ana.count("^escrito sem gateway$") == 1
    # What came while she was away is under a "new" line (UNREAD, then the replay).
    shown = [(line.kind, line.text) for line in ana.lines() if line.kind in ("msg", "divider")]
    new = shown.index(("divider", "----- new in #geral -----"))
    assert shown.index(("msg", "um")) < new < shown.index(("msg", "dito sem gateway")), shown
    assert [kind for kind, _ in shown].count("divider") == 1, shown


@pytest.mark.both_fanouts
def test_a_broker_killed_and_restarted_loses_and_repeats_nothing(
        chat: Cluster, browser) -> None:  # noqa: F811
    port = free_port()
    broker = chat.broker(bind=f"tcp://127.0.0.1:{port}")
    _, url = gateway(chat, broker.endpoint)
    ana = WebUser(browser, url).join("ana")
    carlos = chat.client("carlos", broker.endpoint)
    for n in (1, 2):
        carlos.line(f"antes {n}")
    ana.expect_text("^antes 2$", "msg")

    broker.signal(signal.SIGKILL)
    broker.wait()
    ana.type("no escuro")
    chat.broker(bind=f"tcp://127.0.0.1:{port}", data_dir=broker.data_dir)
    carlos.expect(r"ana: no escuro", timeout=20)
    carlos.line("depois da queda")
    ana.expect_text("^depois da queda$", "msg", timeout_ms=20_000)
    shown = ana.texts("msg")
    for text in ("antes 1", "antes 2", "no escuro", "depois da queda"):
        assert shown.count(text) == 1, (text, shown)
    assert carlos.count(r"ana: no escuro") == 1


def test_markup_in_a_message_is_shown_as_text(chat: Cluster, browser) -> None:  # noqa: F811
    endpoint, url = _chat(chat)
    ana = WebUser(browser, url).join("ana")
    carlos = chat.client("carlos", endpoint)
    script = "<script>window.pwned = 1</script>"
    image = '<img src=x onerror="window.pwned = 2">'
    carlos.line(script)
    carlos.line(image)
    carlos.line("@ana " + image)
    ana.expect_text("onerror", "priv")
    assert ana.texts("msg")[-2:] == [script, image]
    assert ana.page.evaluate("() => window.pwned") is None
    assert ana.page.eval_on_selector_all("#messages img, #messages script", "e => e.length") == 0
    # A page that shows another's name injects nothing either.
    bad = WebUser(browser, ana.url).join("<b>x</b>")
    bad.type("oi")
    ana.expect_text("^oi$", "msg")
    assert ana.page.eval_on_selector_all("#messages b", "e => e.length") == 0
    assert not ana.errors, ana.errors


def test_portuguese_on_a_phone_sized_screen(chat: Cluster, browser) -> None:  # noqa: F811
    endpoint, url = _chat(chat)
    ana = WebUser(browser, url, lang="pt-BR", viewport=(375, 667))
    assert ana.page.evaluate("() => document.documentElement.lang").startswith("pt")
    ana.join("ana")
    carlos = chat.client("carlos", endpoint, lang="pt")
    carlos.line("bom dia")
    ana.expect_text("^bom dia$", "msg")
    ana.type("@ninguem oi")
    ana.expect_text(r"ningu[eé]m", "error")
    box = ana.page.locator("#input").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 667 and box["width"] > 200
    wait_until(lambda: not ana.errors, "no page errors", timeout=1)


def test_with_curve_a_page_cannot_take_a_name_bound_to_a_key(chat: Cluster,
                                                             browser) -> None:  # noqa: F811
    """The gateway connects with its own key, which the broker knows as a gateway's:
    a page gets no name a person's key holds, and chats under a free one."""
    keys = {name: keygen(chat, name, chat.tmp / name) for name in ("server", "ana", "web")}
    (chat.tmp / "gateways").mkdir()
    shutil.copy(keys["web"][0], chat.tmp / "gateways")
    broker = chat.broker("--curve-secret", str(keys["server"][1]),
                         "--gateway-keys", str(chat.tmp / "gateways"))
    _, url = gateway(chat, broker.endpoint, "--server-key", str(keys["server"][0]),
                     "--key", str(keys["web"][1]))
    ana = chat.client("ana", broker.endpoint, "--server-key", str(keys["server"][0]),
                      "--key", str(keys["ana"][1]))

    impostor = WebUser(browser, url)
    impostor.page.fill("#join-name", "ANA")
    impostor.page.click("#join-button")
    impostor.page.wait_for_function(
        "() => { const e = document.querySelector('#join-error');"
        " return e && !e.hidden && e.textContent.trim() !== ''; }")
    assert impostor.state() != "online"
    ana.assert_not_seen(r"ANA joined")

    bia = WebUser(browser, url).join("bia")
    ana.expect(r"bia joined")
    ana.line("oi, bia")
    bia.expect_text("^oi, bia$", "msg")
    bia.type("@ana oi, ana")
    ana.expect(r"bia.*oi, ana")
    assert not bia.errors, bia.errors


def test_a_page_looks_back_searches_and_lists_its_conversations(
        chat: Cluster, browser) -> None:  # noqa: F811
    """/history pages back past the join history (tagged history), /search finds a
    message said before the page joined, /dms lists a conversation, read by then."""
    endpoint, url = _chat(chat, "--history", "3")
    carlos = chat.client("carlos", endpoint)
    carlos.line("a palavra abacaxi")
    for n in range(1, 7):
        carlos.line(f"velha {n}")
    carlos.expect(r"carlos: velha 6")
    ana = WebUser(browser, url).join("ana")
    ana.expect_text("^velha 6$", "msg")
    joined = [x.text for x in ana.lines() if x.kind == "msg"]
    assert joined == ["velha 4", "velha 5", "velha 6"], joined  # the join history: 3

    ana.type("/history")
    ana.expect_text(r"Beginning of #geral's history\.", "notice")
    texts = [x.text for x in ana.lines() if x.kind == "msg"]
    paged = [x.text for x in ana.lines() if x.kind == "msg" and x.tag == "history"]
    # Older than the join history, oldest first, each once and marked as history; the
    # page went on from the oldest line shown (velha 4 is not shown again).
    assert texts[3:] == ["a palavra abacaxi", "velha 1", "velha 2", "velha 3"], texts
    assert paged == texts, paged

    ana.type("/search abacaxi")
    ana.expect_text(r"No more results\.", "notice")
    found = [x for x in ana.lines() if x.kind == "found"]
    assert [(x.text, x.sender) for x in found] == [("a palavra abacaxi", "carlos")], found
    assert found[0].tag == "found"
    assert ana.page.eval_on_selector(".line[data-kind=found] .number", "e => e.textContent") \
        == "[1]"

    carlos.line("@ana uma conversa")
    ana.expect_text("^uma conversa$", "priv")
    ana.type("/dms")
    ana.expect_text(r"Private conversations \(1\)[\s\S]*carlos: 0 unread", "notice")
    assert not ana.errors, ana.errors


def test_an_operator_mutes_then_kicks_a_page(chat: Cluster, browser) -> None:  # noqa: F811
    """With CURVE and operators: the terminal operator mutes the page's user, whose
    message is refused (MUTED), then kicks it: the page stops, saying why."""
    keys = {name: keygen(chat, name, chat.tmp / name) for name in ("server", "ana", "web")}
    for folder, name in (("operators", "ana"), ("gateways", "web")):
        (chat.tmp / folder).mkdir()
        shutil.copy(keys[name][0], chat.tmp / folder)
    broker = chat.broker("--curve-secret", str(keys["server"][1]),
                         "--operators", str(chat.tmp / "operators"),
                         "--gateway-keys", str(chat.tmp / "gateways"))
    _, url = gateway(chat, broker.endpoint, "--server-key", str(keys["server"][0]),
                     "--key", str(keys["web"][1]))
    ana = chat.client("ana", broker.endpoint, "--server-key", str(keys["server"][0]),
                      "--key", str(keys["ana"][1]))
    bia = WebUser(browser, url).join("bia")
    ana.expect(r"bia joined")

    bia.type("/kick ana")  # bia is no operator
    bia.expect_text(r"^only operators can do that$", "error")
    ana.line("/mute bia #geral 10m")
    bia.expect_text(r"^ana muted bia in #geral until \d{4}-\d\d-\d\d \d\d:\d\d$", "notice")
    bia.type("posso falar?")
    bia.expect_text(r"^you are muted in #geral$", "error")
    bia.page.wait_for_selector(".line.own.failed")
    ana.assert_not_seen(r"posso falar")

    ana.line("/kick bia chega")
    bia.expect_text(r"^ana removed bia from the chat \(chega\)$", "notice")
    bia.expect_text(r"an operator removed you from the chat", "error")
    bia.wait_state("stopped")
    assert bia.page.is_disabled("#input")
    ana.expect(r"bia left the chat \(kicked by an operator\)")
    assert not bia.errors, bia.errors
