"""The load generator's SAY template is the protocol's own SAY, byte for byte: it
only saves the sender the encoder's cost (benchmarks/loadgen.py, ZchatWire.maker)."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import loadgen

from zchat.protocol import Say
from zchat.protocol.codec import decode_client_frames

WIRE = loadgen.ZchatWire()
TEMPLATE = WIRE.maker()
ENCODED = WIRE.encoded_maker()


def test_the_template_is_used() -> None:
    assert TEMPLATE.__name__ == "template"


@given(st.integers(min_value=0, max_value=10**8 - 1),
       st.integers(min_value=0, max_value=10**19 - 1))
def test_the_template_makes_the_encoders_bytes_and_a_valid_say(seq: int, now: int) -> None:
    frame = TEMPLATE(seq, now)
    assert frame == ENCODED(seq, now)
    say = decode_client_frames([frame])
    assert isinstance(say, Say) and say.cid == seq + 1
