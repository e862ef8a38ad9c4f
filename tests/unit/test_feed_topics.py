"""protocol/feed.py: the feed's topics, one per room, none a prefix of another's."""

import pytest

from zchat.protocol import DEFAULT_TOPIC, encode, room_topic, topic_room
from zchat.protocol.messages import Joined, Msg


def test_a_rooms_topic_is_its_key_and_a_space_and_reads_back() -> None:
    assert room_topic("#sala") == b"#sala "
    assert room_topic("#café") == "#café ".encode()
    assert topic_room(room_topic("#sala")) == "#sala"
    assert topic_room(room_topic("#café")) == "#café"


def test_no_rooms_topic_is_a_prefix_of_anothers() -> None:
    assert not room_topic("#salad").startswith(room_topic("#sala"))


def test_every_default_room_message_starts_with_its_topic_and_no_rooms_does() -> None:
    for msg in (Msg("ana", "oi", 1.0, 2, 1), Joined("ana", 1.0, 1, 0)):
        assert encode(msg).startswith(DEFAULT_TOPIC)
    assert not room_topic("#sala").startswith(DEFAULT_TOPIC)


@pytest.mark.parametrize("topic", [
    b"#Sala ",          # not the key's form: never published
    b"#sala",           # no end
    b"#sala  ",         # two spaces
    b"sala ",           # no #
    b"# ",              # no name
    b"#s a ",
    b"#" + b"x" * 33 + b" ",
    b"#\xff ",          # not UTF-8
    b"#\xe2\x80\x8bx ",  # an invisible character
    DEFAULT_TOPIC,
])
def test_anything_else_is_no_rooms_topic(topic: bytes) -> None:
    assert topic_room(topic) is None
