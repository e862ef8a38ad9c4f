"""Where lines go: a plain line-mode stream, or a terminal with its own input line.

`TtyScreen` puts the terminal in cbreak mode and keeps the line being typed at
the bottom: each incoming line is printed above it, then the prompt and the
typed text are redrawn, so arriving messages never break what the user types.
"""

import shutil
import termios
import tty
from typing import TextIO

from .lineedit import LineEditor

_CLEAR_LINE = "\r\x1b[K"


class PlainScreen:
    """Line mode, for pipes and scripts: one line out per event, no prompt."""

    interactive = False

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def show(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def set_prompt(self, prompt: str) -> None:
        pass

    def redraw(self) -> None:
        pass

    def close(self) -> None:
        self.out.flush()


class TtyScreen:
    """A terminal in cbreak mode with a prompt and an input line kept at the bottom."""

    interactive = True

    def __init__(self, out: TextIO, stdin_fd: int, editor: LineEditor) -> None:
        self.out = out
        self.fd = stdin_fd
        self.editor = editor
        self.prompt = ""
        self._saved = termios.tcgetattr(stdin_fd)
        # cbreak: keys arrive one at a time, no echo; Ctrl-C still raises SIGINT.
        tty.setcbreak(stdin_fd, termios.TCSANOW)

    def _input_line(self) -> str:
        width = shutil.get_terminal_size((80, 24)).columns
        room = max(10, width - len(self.prompt) - 1)
        text = self.editor.buffer
        if len(text) > room:  # scroll horizontally, keep the cursor end visible
            text = "<" + text[-(room - 1):]
        return self.prompt + text

    def show(self, line: str) -> None:
        self.out.write(_CLEAR_LINE + line + "\n" + self._input_line())
        self.out.flush()

    def set_prompt(self, prompt: str) -> None:
        self.prompt = prompt
        self.redraw()

    def redraw(self) -> None:
        self.out.write(_CLEAR_LINE + self._input_line())
        self.out.flush()

    def close(self) -> None:
        self.out.write(_CLEAR_LINE)
        self.out.flush()
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
