"""protocol/names.py beyond the basic table in test_protocol.py: the name a
client keeps after WELCOME."""

import pytest

from zchat.protocol import adopted_name


@pytest.mark.parametrize(("asked", "welcomed", "kept"), [
    ("ana", "ana", "ana"),
    ("ana", "Ana", "Ana"),  # the spelling the broker holds for our session
    ("ana", "\uff21\uff2e\uff21", "\uff21\uff2e\uff21"),  # full-width ANA: the same key
    ("ana", "bob", "ana"),  # another name: the broker has no say in who we are
    ("ana", "ana\x1b]0;pwned\x07", "ana"),  # not a valid name
    ("ana", "ana\x1b[2J", "ana"),
    ("ana", "ana\x9b", "ana"),
    ("ana", "", "ana"),
    ("ana", "ANA ", "ana"),
])
def test_adopted_name(asked, welcomed, kept):
    assert adopted_name(asked, welcomed) == kept
