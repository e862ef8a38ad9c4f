"""A small line editor for cbreak mode: the client owns its input line.

Pure: it is fed decoded text and returns what happened, so it is tested
without a terminal. Keys: printable text, Backspace, Ctrl-U (clear),
Ctrl-W (delete word), Enter (submit), Ctrl-D on an empty line (EOF).
Escape sequences (arrows, function keys) are swallowed, never inserted.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Submit:
    line: str


@dataclass(frozen=True, slots=True)
class Eof:
    pass


EditEvent = Submit | Eof

_BACKSPACE = ("\x7f", "\x08")
_CTRL_U = "\x15"
_CTRL_W = "\x17"
_CTRL_D = "\x04"
_ESC = "\x1b"


class LineEditor:
    """Holds the line being typed; `feed` returns submitted lines and EOF."""

    def __init__(self, max_chars: int = 8192) -> None:
        self.buffer = ""
        self._max = max_chars
        self._esc = ""  # the escape sequence still arriving, if any

    def feed(self, text: str) -> list[EditEvent]:
        events: list[EditEvent] = []
        for ch in text:
            if self._esc:
                self._swallow(ch)
                continue
            if ch == _ESC:
                self._esc = ch
            elif ch in ("\r", "\n"):
                events.append(Submit(self.buffer))
                self.buffer = ""
            elif ch in _BACKSPACE:
                self.buffer = self.buffer[:-1]
            elif ch == _CTRL_U:
                self.buffer = ""
            elif ch == _CTRL_W:
                self.buffer = self.buffer.rstrip()
                cut = self.buffer.rfind(" ")
                self.buffer = self.buffer[: cut + 1] if cut >= 0 else ""
            elif ch == _CTRL_D:
                if not self.buffer:
                    events.append(Eof())
            elif ch == "\t":
                self._insert(" ")
            elif ch.isprintable():
                self._insert(ch)
        return events

    def _swallow(self, ch: str) -> None:
        """Consume one character of an escape sequence: ESC x, ESC O x, ESC [ ... final."""
        self._esc += ch
        kind = self._esc[1]
        if kind == "[":
            if (len(self._esc) > 2 and "\x40" <= ch <= "\x7e") or len(self._esc) > 32:
                self._esc = ""
        elif kind != "O" or len(self._esc) == 3:
            self._esc = ""

    def _insert(self, ch: str) -> None:
        if len(self.buffer) < self._max:
            self.buffer += ch
