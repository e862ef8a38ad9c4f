"""zchat/i18n.py: language choice and the two catalogues agreeing."""

import string

import pytest

from zchat import i18n
from zchat.i18n import LANGS, Catalogue, pick_lang


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


def test_catalogues_have_the_same_keys():
    en, pt = set(i18n._EN), set(i18n._PT)
    assert en - pt == set(), "missing in Portuguese"
    assert pt - en == set(), "missing in English"
    assert set(LANGS) == {"en", "pt"}


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@pytest.mark.parametrize("key", sorted(i18n._EN))
def test_format_fields_match(key):
    assert _fields(i18n._EN[key]) == _fields(i18n._PT[key])


@pytest.mark.parametrize("key", sorted(i18n._EN))
@pytest.mark.parametrize("lang", ["en", "pt"])
def test_every_entry_formats(lang, key):
    text = i18n._EN[key] if lang == "en" else i18n._PT[key]
    fields = {name: f"<{name}>" for name in _fields(text)}
    out = Catalogue(lang).t(key, **fields)
    assert out.strip()
    for name in fields:
        assert f"<{name}>" in out


def test_catalogue():
    assert Catalogue("pt").t("client.joined", name="ana") == "ana entrou no chat"
    assert Catalogue("en").t("client.joined", name="ana") == "ana joined the chat"
    assert Catalogue("en").t("client.bye") == "Bye!"
    assert Catalogue("pt").t("client.bye") == "Até logo!"
    assert Catalogue("xx").lang == "en"
    assert Catalogue("pt").has("error.EMPTY")
    assert not Catalogue("pt").has("no.such.key")
    with pytest.raises(KeyError):
        Catalogue("en").t("no.such.key")


def test_error_codes_all_have_messages():
    from zchat.protocol import constants as c

    codes = {getattr(c, n) for n in dir(c) if n.startswith("E_")}
    for code in codes:
        assert f"error.{code}" in i18n._EN
    reasons = {getattr(c, n) for n in dir(c) if n.startswith("R_")}
    for reason in reasons:
        assert f"reason.{reason}" in i18n._EN


# Texts that read the same in both languages (names, formats).
_SAME_IN_BOTH = {"client.online", "client.who", "client.fatal"}


def test_every_sentence_is_translated():
    from zchat.i18n import _EN, _PT

    untranslated = [key for key, text in _EN.items()
                    if key not in _SAME_IN_BOTH and _PT[key] == text]
    assert untranslated == []
