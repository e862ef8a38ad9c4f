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
        #: The client message id of a refused SAY or TELL, when it could be read,
        #: so the sender knows which message will never be stored.
        self.cid = 0
