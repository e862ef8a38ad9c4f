"""The broker's log: the journal's stamped lines, and the per-message line's template."""

import io
import re
import time

import pytest

from zchat.broker import journal as journal_module
from zchat.broker.journal import Journal
from zchat.broker.texts import TEXTS, positional

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) (.*)$")


def test_each_line_is_stamped_to_the_millisecond_and_written_at_flush(monkeypatch):
    clock = iter([1_764_000_000.0004, 1_764_000_000.0009, 1_764_000_000.9999,
                  1_764_000_001.25, 1_764_000_061.5])
    monkeypatch.setattr(journal_module.time, "time", lambda: next(clock))
    out = io.StringIO()
    journal = Journal([out])
    for text in ("a", "b", "c", "d", "e"):
        journal.line(text)
    assert out.getvalue() == ""  # nothing before the cycle's flush
    journal.flush()
    lines = out.getvalue().splitlines()
    stamps = [STAMP.match(line) for line in lines]
    assert all(stamps), lines
    assert [m.group(3) for m in stamps] == ["a", "b", "c", "d", "e"]
    assert [m.group(2) for m in stamps] == ["000", "000", "999", "250", "500"]
    seconds = [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
               for t in (1_764_000_000, 1_764_000_000, 1_764_000_000, 1_764_000_001,
                         1_764_000_061)]
    assert [m.group(1) for m in stamps] == seconds


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_the_public_line_reads_as_its_catalogue_says(lang):
    template = TEXTS[lang]["log.public"]
    fast = positional(template, "name", "text")
    for name, text in (("ana", "olá 100% {x}"), ("b%s", "%d %%")):
        assert fast % (name, text) == template.format(name=name, text=text)


@pytest.mark.parametrize("template", ["{text} {name}", "{name} {name} {text}", "{name}",
                                      "{name} {text} {other}"])
def test_a_template_it_cannot_take_positionally_is_refused(template):
    with pytest.raises(ValueError):
        positional(template, "name", "text")
