"""The catalogue machinery: which language to speak, and looking a text up in it.

No text lives here. Each side keeps its own catalogue, keyed by message id, in
every language of `LANGS`: the broker's console and log lines in
broker/texts.py, what the client shows its user in client/texts.py.
`Catalogue.t(key, **fields)` formats one entry. The language comes from
--lang, else the locale (LANG=pt_* gives Portuguese), else English.
"""

import os
from collections.abc import Mapping

LANGS = ("en", "pt")

#: One language's texts, by message id.
Texts = Mapping[str, str]


def pick_lang(option: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """--lang wins; then LC_ALL, LC_MESSAGES, LANG; Portuguese for pt*, else English."""
    if option is not None and option in LANGS:
        return option
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "pt" if value.lower().startswith("pt") else "en"
    return "en"


class Catalogue:
    """The messages of one language, from one side's texts (by language); English fills gaps."""

    def __init__(self, texts: Mapping[str, Texts], lang: str) -> None:
        self.lang = lang if lang in texts else "en"
        self._texts = texts[self.lang]
        self._english = texts["en"]

    def t(self, key: str, **fields: object) -> str:
        text = self._texts.get(key) or self._english[key]
        return text.format(**fields) if fields else text

    def has(self, key: str) -> bool:
        return key in self._texts
