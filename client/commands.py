"""What one line of user input means. Pure: no I/O, no sockets.

    text           public message
    @name text     private message (malformed forms go to the broker, which
                   answers with the error, so every client gets the same rules)
    /who /help     commands; /quit or `sair` (any case) leaves
    //text         a public message that starts with '/'
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Public:
    text: str


@dataclass(frozen=True, slots=True)
class Private:
    to: str
    text: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class ListUsers:
    pass


@dataclass(frozen=True, slots=True)
class ShowHelp:
    pass


@dataclass(frozen=True, slots=True)
class Nothing:
    pass


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    command: str


Command = Public | Private | Quit | ListUsers | ShowHelp | Nothing | UnknownCommand

_QUIT_WORDS = frozenset({"sair", "/quit", "/sair", "/exit"})


def parse_line(line: str) -> Command:
    """Turn one typed line (without its newline) into a command."""
    line = line.rstrip("\r\n")
    stripped = line.strip()
    if not stripped:
        return Nothing()
    lowered = stripped.casefold()
    if lowered in _QUIT_WORDS:
        return Quit()
    if stripped.startswith("//"):
        return Public(stripped[1:])
    if stripped.startswith("/"):
        word = lowered.split()[0]
        if word == "/who":
            return ListUsers()
        if word in ("/help", "/ajuda", "/?"):
            return ShowHelp()
        return UnknownCommand(stripped.split()[0])
    if stripped.startswith("@"):
        target, _, text = stripped[1:].partition(" ")
        return Private(target, text.strip())
    return Public(line)
