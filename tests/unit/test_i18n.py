"""common/i18n.py and the two catalogues (broker/texts.py, client/texts.py): language
choice, lookup, and each catalogue complete in every language and kept to its side."""

import re
import string
from pathlib import Path

import pytest

from zchat import broker, cli, client
from zchat.broker import texts as broker_texts
from zchat.broker.texts import broker_catalogue
from zchat.client import texts as client_texts
from zchat.client.texts import client_catalogue
from zchat.client.timeline import HISTORY, MISSED
from zchat.common.i18n import LANGS, Catalogue, pick_lang
from zchat.protocol import constants as c

#: Each side's texts, and the key prefixes that belong to it (reasons are named by both:
#: the broker logs why someone left, the client shows it).
SIDES = {
    "broker": (broker_texts.TEXTS, {"broker", "log", "reason"}),
    "client": (client_texts.TEXTS, {"client", "error", "notice", "reason"}),
}
#: Texts that read the same in both languages (names, formats).
SAME_IN_BOTH = {
    "broker": {"log.room_message"},
    "client": {"client.online", "client.who", "client.fatal", "client.mod_reason"},
}


def _entries():
    return [(side, key) for side, (texts, _) in SIDES.items() for key in sorted(texts["en"])]


@pytest.mark.parametrize(("option", "env", "expected"), [
    # --lang wins over everything
    ("pt", {"LC_ALL": "en_US.UTF-8", "LC_MESSAGES": "en_US", "LANG": "en_US"}, "pt"),
    ("en", {"LC_ALL": "pt_BR.UTF-8", "LC_MESSAGES": "pt_BR", "LANG": "pt_BR"}, "en"),
    # then LC_ALL
    (None, {"LC_ALL": "pt_BR.UTF-8", "LC_MESSAGES": "en_US", "LANG": "en_US"}, "pt"),
    (None, {"LC_ALL": "C", "LC_MESSAGES": "pt_BR", "LANG": "pt_BR"}, "en"),
    # then LC_MESSAGES
    (None, {"LC_MESSAGES": "pt_PT.UTF-8", "LANG": "en_US.UTF-8"}, "pt"),
    (None, {"LC_MESSAGES": "en_GB", "LANG": "pt_BR"}, "en"),
    (None, {"LC_ALL": "", "LC_MESSAGES": "pt_BR", "LANG": "en_US"}, "pt"),
    # then LANG
    (None, {"LANG": "pt_BR.UTF-8"}, "pt"),
    (None, {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "pt_BR.UTF-8"}, "pt"),
    (None, {"LANG": "pt"}, "pt"),
    (None, {"LANG": "PT_br"}, "pt"),
    (None, {"LANG": "en_US.UTF-8"}, "en"),
    (None, {"LANG": "C"}, "en"),
    (None, {"LANG": "C.UTF-8"}, "en"),
    (None, {"LANG": "POSIX"}, "en"),
    (None, {"LANG": "fr_FR.UTF-8"}, "en"),
    # nothing set
    (None, {}, "en"),
    (None, {"LC_ALL": "", "LANG": ""}, "en"),
    # an unknown --lang is ignored
    ("fr", {"LANG": "pt_BR"}, "pt"),
    ("", {}, "en"),
])
def test_pick_lang(option, env, expected):
    assert pick_lang(option, env) == expected


def test_pick_lang_reads_os_environ(monkeypatch):
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "pt_BR.UTF-8")
    assert pick_lang() == "pt"
    monkeypatch.setenv("LC_ALL", "C")
    assert pick_lang() == "en"
    assert pick_lang("pt") == "pt"


@pytest.mark.parametrize("side", sorted(SIDES))
def test_each_catalogue_has_every_language_and_the_same_keys_in_each(side):
    texts, _ = SIDES[side]
    assert set(texts) == set(LANGS) == {"en", "pt"}
    en, pt = set(texts["en"]), set(texts["pt"])
    assert en - pt == set(), "missing in Portuguese"
    assert pt - en == set(), "missing in English"


@pytest.mark.parametrize("side", sorted(SIDES))
def test_each_catalogue_holds_only_its_sides_texts(side):
    texts, prefixes = SIDES[side]
    assert {key.split(".", 1)[0] for key in texts["en"]} == prefixes


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@pytest.mark.parametrize(("side", "key"), _entries())
def test_format_fields_match(side, key):
    texts, _ = SIDES[side]
    assert _fields(texts["en"][key]) == _fields(texts["pt"][key])


@pytest.mark.parametrize(("side", "key"), _entries())
@pytest.mark.parametrize("lang", LANGS)
def test_every_entry_formats(lang, side, key):
    texts, _ = SIDES[side]
    fields = {name: f"<{name}>" for name in _fields(texts[lang][key])}
    out = Catalogue(texts, lang).t(key, **fields)
    assert out.strip()
    for name in fields:
        assert f"<{name}>" in out


@pytest.mark.parametrize("side", sorted(SIDES))
def test_every_sentence_is_translated(side):
    texts, _ = SIDES[side]
    untranslated = [key for key, text in texts["en"].items()
                    if key not in SAME_IN_BOTH[side] and texts["pt"][key] == text]
    assert untranslated == []


def test_catalogue():
    assert client_catalogue("pt").t("client.joined", name="ana") == "ana entrou no chat"
    assert client_catalogue("en").t("client.joined", name="ana") == "ana joined the chat"
    assert client_catalogue("en").t("client.bye") == "Bye!"
    assert client_catalogue("pt").t("client.bye") == "Até logo!"
    assert broker_catalogue("pt").t("log.leave", name="ana", reason="saiu") == "saída ana (saiu)"
    assert client_catalogue("xx").lang == broker_catalogue("xx").lang == "en"
    assert client_catalogue("pt").has("error.EMPTY")
    assert not client_catalogue("pt").has("no.such.key")
    with pytest.raises(KeyError):
        client_catalogue("en").t("no.such.key")
    # Each side's catalogue knows its own texts only.
    assert not broker_catalogue("en").has("client.joined")
    assert not client_catalogue("en").has("log.join")


def test_english_fills_a_gap_in_another_language():
    texts = {"en": {"a.b": "hello {name}", "a.c": "bye"}, "pt": {"a.b": "olá {name}"}}
    assert Catalogue(texts, "pt").t("a.b", name="ana") == "olá ana"
    assert Catalogue(texts, "pt").t("a.c") == "bye"
    assert not Catalogue(texts, "pt").has("a.c")


def test_error_codes_notices_and_reasons_all_have_messages():
    codes = {getattr(c, n) for n in dir(c) if n.startswith("E_")}
    notices = {getattr(c, n) for n in dir(c) if n.startswith("N_")}
    reasons = {getattr(c, n) for n in dir(c) if n.startswith("R_")}
    for code in codes:
        assert f"error.{code}" in client_texts.EN
    for notice in notices:
        assert f"notice.{notice}" in client_texts.EN
    for tag in (HISTORY, MISSED):
        assert f"client.tag_{tag}" in client_texts.EN
    for reason in reasons:
        # The client shows why someone left; the broker logs it.
        assert f"reason.{reason}" in client_texts.EN
        assert f"reason.{reason}" in broker_texts.EN


_KEY = re.compile(r"\"((?:broker|log|reason|client|error|notice)\.[A-Za-z_]+)\"")


def _keys_named_in(*files: Path) -> set[str]:
    return {key for f in files for key in _KEY.findall(f.read_text(encoding="utf-8"))}


def _code_of(package) -> list[Path]:
    return [f for folder in package.__path__ for f in sorted(Path(folder).glob("*.py"))
            if f.name != "texts.py"]


def test_every_key_the_code_names_is_in_its_sides_catalogue():
    broker_keys = _keys_named_in(*_code_of(broker))
    client_keys = _keys_named_in(*_code_of(client))
    assert broker_keys and client_keys
    assert broker_keys - set(broker_texts.EN) == set()
    assert client_keys - set(client_texts.EN) == set()
    # The CLI: `zchat broker` speaks with the broker's catalogue, `zchat join` the client's.
    for key in _keys_named_in(Path(cli.__file__)):
        side = "client" if key.startswith("client.") else "broker"
        assert key in SIDES[side][0]["en"], (key, side)
