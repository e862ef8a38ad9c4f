"""client/commands.py: what one typed line means."""

import pytest

from zchat.client.commands import (
    EnterRoom,
    ListUsers,
    Nothing,
    PartRoom,
    Private,
    Public,
    Quit,
    RoomSay,
    ScrollBack,
    ShowHelp,
    ShowRooms,
    Topic,
    UnknownCommand,
    Usage,
    parse_line,
)

CASES = [
    # plain text
    ("hello", Public("hello")),
    ("hello world", Public("hello world")),
    ("  indented text  ", Public("  indented text  ")),
    ("olá @bob /who", Public("olá @bob /who")),
    ("e-mail me@example.com", Public("e-mail me@example.com")),
    ("sair agora", Public("sair agora")),
    ("sairr", Public("sairr")),
    # private
    ("@bob hi there", Private("bob", "hi there")),
    ("@bob   spaced  out  ", Private("bob", "spaced  out")),
    ("  @bob hi", Private("bob", "hi")),
    ("@Zoë olá", Private("Zoë", "olá")),
    ("@bob", Private("bob", "")),
    ("@bob   ", Private("bob", "")),
    ("@", Private("", "")),
    ("@ texto", Private("", "texto")),
    ("@@bob hi", Private("@bob", "hi")),
    # quit
    ("sair", Quit()),
    ("SAIR", Quit()),
    (" Sair ", Quit()),
    ("/quit", Quit()),
    ("/QUIT", Quit()),
    ("/sair", Quit()),
    ("/exit", Quit()),
    # commands
    ("/who", ListUsers()),
    ("/WHO", ListUsers()),
    ("/who extra words", ListUsers()),
    ("/help", ShowHelp()),
    ("/ajuda", ShowHelp()),
    ("/?", ShowHelp()),
    ("/unknown", UnknownCommand("/unknown")),
    ("/Dance now", UnknownCommand("/Dance")),
    ("/", UnknownCommand("/")),
    # escaped slash
    ("//slash text", Public("/slash text")),
    ("//who", Public("/who")),
    ("//", Public("/")),
    # nothing
    ("", Nothing()),
    ("   ", Nothing()),
    ("\t \t", Nothing()),
    ("\n", Nothing()),
    ("\r\n", Nothing()),
    # trailing newline
    ("hello\n", Public("hello")),
    ("hello\r\n", Public("hello")),
    ("@bob hi\n", Private("bob", "hi")),
    ("sair\n", Quit()),
    ("/who\r\n", ListUsers()),
    # rooms
    ("#sala oi", Public("#sala oi")),
    ("#sala", Public("#sala")),
    ("/join #sala", EnterRoom("#sala")),
    ("/JOIN #Sala", EnterRoom("#Sala")),
    ("/join sala", EnterRoom("#sala")),
    ("/entrar #sala", EnterRoom("#sala")),
    ("/join #sala extra", EnterRoom("#sala")),
    ("/join", Usage("join")),
    ("/join   ", Usage("join")),
    ("/part", PartRoom()),
    ("/part #sala", PartRoom("#sala")),
    ("/part sala", PartRoom("#sala")),
    ("/rooms", ShowRooms()),
    ("/salas", ShowRooms()),
    ("/topic novo tópico", Topic("novo tópico")),
    ("/topic   spaced  out  ", Topic("spaced  out")),
    ("/topic", Usage("topic")),
    ("/msg #sala oi gente", RoomSay("#sala", "oi gente")),
    ("/msg #sala", RoomSay("#sala", "")),
    ("/msg bob oi", Private("bob", "oi")),
    ("/msg bob", Private("bob", "")),
    ("/msg", Usage("msg")),
    ("/who #sala", ListUsers("#sala")),
    ("/who *", ListUsers("*")),
    ("/quem #sala", ListUsers("#sala")),
    ("//join #sala", Public("/join #sala")),
    ("/history", ScrollBack()),
    ("/history #sala", ScrollBack("#sala")),
    ("/history 50", ScrollBack("", 50)),
    ("/history #sala 50", ScrollBack("#sala", 50)),
    ("/history 7 #sala", ScrollBack("#sala", 7)),
    ("/histórico #Sala 100", ScrollBack("#Sala", 100)),
    ("/historico", ScrollBack()),
    ("/history 0", Usage("history")),
    ("/history 101", Usage("history")),
    ("/history ٣", Usage("history")),  # (a digit, but not one a count is typed with)
    ("/history sala", Usage("history")),
    ("/history #a #b", Usage("history")),
    ("/history 5 6", Usage("history")),
]


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_parse_line(line, expected):
    result = parse_line(line)
    assert result == expected
    assert type(result) is type(expected)
