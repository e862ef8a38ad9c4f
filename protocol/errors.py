"""The one exception every decoding or validation failure becomes."""

from .constants import E_BAD_FRAME


class ProtocolError(Exception):
    """A frame or field that breaks ZCHAT/1.

    ``code`` is one of the ``E_*`` codes in ``constants`` so the broker can
    answer with an ERROR the peer understands; ``detail`` is for humans.
    """

    def __init__(self, detail: str, code: str = E_BAD_FRAME, ref: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref
