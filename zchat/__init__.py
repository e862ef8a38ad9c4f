"""zchat: a ZeroMQ chat broker and terminal client."""

__version__ = "0.1.0"
