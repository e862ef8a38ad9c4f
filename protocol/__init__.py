"""ZCHAT/1 wire protocol: constants, message types, codec and name rules.

Pure: no sockets, no I/O. docs/PROTOCOL.md is the specification this mirrors.
"""

from . import constants
from .codec import (
    decode_broker,
    decode_broker_frames,
    decode_client,
    decode_client_frames,
    encode,
    encode_ack,
    encode_msg,
)
from .errors import ProtocolError
from .messages import (
    Ack,
    BrokerMessage,
    Bye,
    ClientMessage,
    Error,
    Event,
    Events,
    Fetch,
    Join,
    Joined,
    Leave,
    Left,
    Message,
    Msg,
    Notice,
    Ping,
    Priv,
    Say,
    Tell,
    Users,
    Welcome,
    Who,
)
from .names import is_valid_name, name_key, name_problem

__all__ = [
    "Ack",
    "BrokerMessage",
    "Bye",
    "ClientMessage",
    "Error",
    "Event",
    "Events",
    "Fetch",
    "Join",
    "Joined",
    "Leave",
    "Left",
    "Message",
    "Msg",
    "Notice",
    "Ping",
    "Priv",
    "ProtocolError",
    "Say",
    "Tell",
    "Users",
    "Welcome",
    "Who",
    "constants",
    "decode_broker",
    "decode_broker_frames",
    "decode_client",
    "decode_client_frames",
    "encode",
    "encode_ack",
    "encode_msg",
    "is_valid_name",
    "name_key",
    "name_problem",
]
