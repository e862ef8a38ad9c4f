"""client/app.py and client/rooms.py with rooms: what is sent for each command, what is
shown for each answer, and that a user who never types a room command sees the chat as
before rooms. No socket: frames the client would send are recorded."""

import io

import pytest

from zchat.client.app import ChatClient, State
from zchat.client.render import Renderer
from zchat.client.rooms import Rooms
from zchat.client.screen import PlainScreen
from zchat.client.texts import client_catalogue
from zchat.protocol import (
    Ack,
    Enter,
    Entered,
    Error,
    Events,
    Fetch,
    Joined,
    Left,
    ListRooms,
    Msg,
    Part,
    Parted,
    Ping,
    Say,
    SetTopic,
    TopicSet,
    Users,
    Welcome,
    Who,
)
from zchat.protocol import constants as c

TS = 1_700_000_000.0


class Recorded(ChatClient):
    sent: list

    def _send(self, msg) -> bool:  # type: ignore[override]
        self.sent.append(msg)
        return True


def _welcome(room: str = "#geral", rooms: tuple = (("#geral", 5),), **kw) -> Welcome:
    return Welcome("ana", "tok", 1.0, pub=5, priv=0, epoch="e", room=room, rooms=rooms, **kw)


@pytest.fixture
def chat():
    clients = []

    def make(welcome: Welcome | None = None, lang: str = "en"):
        out = io.StringIO()
        catalogue = client_catalogue(lang)
        client = Recorded("ana", ["tcp://127.0.0.1:1"], 1.0, catalogue, PlainScreen(out),
                          Renderer(catalogue), stdin_fd=0)
        client.sent = []
        client.state = State.JOINED
        client._on_message(welcome or _welcome())
        clients.append(client)
        out.seek(0)
        out.truncate()
        client.sent.clear()
        return client, out

    yield make
    for client in clients:
        client.ctx.term()


def _lines(out: io.StringIO) -> list[str]:
    """What was shown, without the time stamps."""
    lines = [line.split("] ", 1)[-1] for line in out.getvalue().splitlines()]
    out.seek(0)
    out.truncate()
    return lines


# ---- a user who never types a room command ---------------------------------------------

def test_the_default_room_looks_like_the_chat_before_rooms(chat):
    client, out = chat()
    assert client.rooms.prompt("ana") == "ana> "
    client._command("oi")
    client._command("/who")
    client._on_message(Msg("bob", "olá", TS, 6, 5))
    client._on_message(Joined("carol", TS, 7, 6))
    assert client.sent == [Say("oi", 1), Who()]
    assert _lines(out) == ["bob: olá", "* carol joined the chat"]


def test_a_broker_without_rooms_refuses_room_commands_locally(chat):
    client, out = chat(Welcome("ana", "tok", 1.0, pub=5, epoch="e"))
    for line in ("/join #sala", "/part", "/rooms", "/topic x", "/msg #sala oi", "/who #sala"):
        client._command(line)
    assert client.sent == []
    assert _lines(out) == ["! This broker has no rooms."] * 6
    client._command("oi")
    client._command("/who")
    assert client.sent == [Say("oi", 1), Who()]


# ---- entering, switching, parting ------------------------------------------------------

def test_join_sends_enter_and_entered_makes_the_room_current(chat):
    client, out = chat()
    client._command("/join #Sala")
    assert client.sent == [Enter("#Sala")]
    client._on_message(Entered("#sala", 9, "futebol", ("bob",), 1))
    assert _lines(out) == ["* You are in #sala.", "* Topic of #sala: futebol",
                           "* In #sala (2): bob, ana"]
    assert client.rooms.prompt("ana") == "ana #sala> "
    assert client.timeline.rooms == {"#sala": 9}
    client._command("oi")
    client._command("/who")
    client._command("/topic novo")
    assert client.sent[1:] == [Say("oi", 1, room="#sala"), Who("#sala"),
                               SetTopic("#sala", "novo")]


def test_entering_shows_the_room_history_as_history(chat):
    client, out = chat()
    client._command("/join #sala")
    client._on_message(Entered("#sala", 9))
    _lines(out)
    client._on_message(Events(c.K_HISTORY, (Msg("bob", "antes", TS, 8, 4, "#sala"),),
                              room="#sala"))
    assert _lines(out) == ["(history) bob: antes"]


def test_join_of_a_room_one_is_in_switches_without_sending(chat):
    client, out = chat()
    client._on_message(Entered("#sala", 9))
    _lines(out)
    client._command("/join #geral")
    assert client.sent == []
    assert _lines(out) == ["* Now talking in #geral."]
    assert client.rooms.prompt("ana") == "ana #geral> "
    client._command("oi")
    client._command("/who")  # the user has moved: the room's members, not everyone
    assert client.sent == [Say("oi", 1), Who("#geral")]


def test_lines_of_other_rooms_carry_their_name(chat):
    client, out = chat()
    client._on_message(Entered("#sala", 9))
    _lines(out)
    client._on_message(Msg("bob", "lá", TS, 10, 5))          # the default room
    client._on_message(Msg("bob", "aqui", TS, 11, 9, "#sala"))  # the current one
    client._on_message(Joined("carol", TS, 12, 11, "#sala"))
    client._on_message(Left("carol", c.R_PART, TS, 13, 12, "#sala"))
    assert _lines(out) == ["#geral bob: lá", "bob: aqui", "* carol joined #sala",
                           "* carol left #sala"]


def test_portuguese_room_notices(chat):
    client, out = chat(lang="pt")
    client._on_message(Entered("#sala", 9))
    client._on_message(Joined("bia", TS, 10, 9, "#sala"))
    client._on_message(Parted("#sala"))
    assert _lines(out) == ["* Você está em #sala.", "* Ninguém mais está em #sala.",
                           "* bia entrou em #sala", "* Você saiu de #sala.",
                           "* Agora falando em #geral."]


def test_msg_to_another_room_does_not_switch(chat):
    client, _ = chat()
    client._on_message(Entered("#sala", 9))
    client._command("/msg #geral para todos")
    client._command("/msg bob psiu")
    assert client.sent[0] == Say("para todos", 1)
    assert client.sent[1].to == "bob"
    assert client.rooms.current == "#sala"


def test_leaving_the_chat_from_several_rooms_is_told_once(chat):
    client, out = chat()
    client._on_message(Entered("#sala", 9))
    _lines(out)
    client._on_message(Left("bob", c.R_QUIT, TS, 10, 5))
    client._on_message(Left("bob", c.R_QUIT, TS, 11, 9, "#sala"))
    assert _lines(out) == ["* bob left the chat (left)"]


def test_part_of_the_current_room_falls_back_to_the_default_then_to_none(chat):
    client, out = chat()
    client._on_message(Entered("#sala", 9))
    client._command("/part")
    assert client.sent == [Part("#sala")]
    client._on_message(Parted("#sala"))
    assert client.timeline.rooms == {}
    assert client.rooms.current == "#geral"
    client._command("/part")
    client._on_message(Parted("#geral"))
    assert client.rooms.current is None
    assert client.rooms.prompt("ana") == "ana> "
    _lines(out)
    client.sent.clear()
    client._command("oi")
    client._command("/topic x")
    client._command("/part")
    assert client.sent == []
    assert _lines(out) == ["! you are in no room: /join #room to join one"] * 3


def test_a_bad_room_name_is_refused_locally(chat):
    client, out = chat()
    client._command("/join #a b")  # (the name ends at the space: "#a" is fine)
    client._command("/msg #\u200b oi")
    assert client.sent == [Enter("#a")]
    assert _lines(out)[0].startswith("! invalid room name #\u200b: ")


def test_not_in_room_from_the_broker_is_shown_and_the_message_dropped(chat):
    client, out = chat()
    client._command("/msg #outra oi")
    client._on_message(Error(c.E_NOT_IN_ROOM, "", "#outra", cid=1))
    assert _lines(out) == ["! you are not in #outra: /join #outra first"]
    assert len(client.outbox) == 0


def test_a_room_command_refused_by_a_cut_off_broker_says_why(chat):
    for lang, words in (("en", "link to the other brokers is down"),
                        ("pt", "ligação com os outros brokers estiver caída")):
        client, out = chat(lang=lang)
        client._command("/join #sala")
        client._on_message(Error(c.E_UNAVAILABLE, "the cluster link is down", "#sala"))
        shown, = _lines(out)
        assert shown.startswith("! ") and words in shown
        assert client.state is State.JOINED  # (not a refused JOIN: nothing to start over)


def test_rooms_who_and_topic_answers(chat):
    client, out = chat()
    client._command("/rooms")
    client._command("/who *")
    client._command("/who #sala")
    assert client.sent == [ListRooms(), Who(), Who("#sala")]
    client._on_message(Users(("ana", "bob"), "#sala"))
    client._on_message(Users(("ana", "bob")))
    client._on_message(TopicSet("#sala", "novo", "bob"))
    assert _lines(out) == ["* In #sala (2): ana, bob", "* Online (2): ana, bob",
                           "* bob set the topic of #sala: novo"]


# ---- exactly once per room -------------------------------------------------------------

def test_ack_of_a_room_message_moves_its_cursor(chat):
    client, _ = chat()
    client._on_message(Entered("#sala", 9))
    client._command("/msg #sala oi")
    client._on_message(Ack(1, 10, 9, "#sala"))
    assert client.timeline.rooms["#sala"] == 10
    assert client.timeline.pub == 5


def test_a_ping_with_room_heads_fetches_the_room(chat):
    client, _ = chat()
    client._on_message(Entered("#sala", 9))
    client._on_message(Ping(5, 0, (("#sala", 12),)))
    assert client.sent == [Fetch(5, 0, rooms=(("#sala", 9),))]


def test_a_reconnect_resends_to_the_same_room_and_keeps_the_rooms(chat):
    client, _ = chat()
    client._on_message(Entered("#sala", 9))
    client.state = State.CONNECTING
    client._command("oi")  # kept for later
    client.sent.clear()
    client.state = State.JOINED
    client._on_message(_welcome(rooms=(("#geral", 5), ("#sala", 9))))
    assert client.sent == [Say("oi", 1, retry=True, room="#sala")]
    assert client.rooms.current == "#sala"
    assert client.rooms.prompt("ana") == "ana #sala> "


def test_a_reconnect_out_of_the_current_room_falls_back(chat):
    client, _ = chat()
    client._on_message(Entered("#sala", 9))
    client._on_message(_welcome())
    assert client.rooms.current == "#geral"
    assert client.timeline.rooms == {}


# ---- client/rooms.py -------------------------------------------------------------------

def test_rooms_state_by_key_and_name():
    rooms = Rooms()
    rooms.welcome("geral", (("#geral", 1), ("#Sala", 2)))  # a default without its '#'
    assert (rooms.default, rooms.default_name, rooms.current) == ("#geral", "#geral", "#geral")
    assert rooms.prompt("ana") == "ana #geral> "  # in another room: the prompt says where
    assert rooms.where("") == "" and rooms.where("#SALA") == "#Sala"
    assert rooms.wire("#geral") == "" and rooms.wire("#sala") == "#Sala"
    assert rooms.notice_room("") == "" and rooms.notice_room("", parted=True) == "#geral"


def test_a_welcome_that_lists_no_room_is_in_none():
    """A broker with rooms lists every room the session is in, the default one too:
    none listed means the session parted them all."""
    rooms = Rooms()
    rooms.welcome("#geral", ())
    assert rooms.current is None and rooms.prompt("ana") == "ana> "
    rooms.welcome("#geral", (("#geral", 3),))
    assert rooms.current == "#geral" and rooms.prompt("ana") == "ana> "
