"""The shared kernel: what both the broker and the client use, and nothing else.

`__version__`, the catalogue machinery (`i18n.py`: language choice and
lookup; the texts themselves live with their side, in `broker/texts.py` and
`client/texts.py`), safe text for terminals and logs (`safetext.py`) and the
signal wakeup of a poll loop (`wakeup.py`). It sits below `broker/` and
`client/` and above `protocol/`: it must not import either side, the CLI or
the root package `zchat` (the import-linter contracts in pyproject.toml hold
this).
"""

__version__ = "0.1.0"
