"""zchat: a ZeroMQ chat broker and terminal client.

This package's own modules are the top: the `zchat` command (cli.py,
__main__.py) and its logging setup (logsetup.py). Under it sit broker/,
client/, common/ (what both use) and protocol/. Python loads this file before
any of them, so it imports nothing but the version from the kernel, and
nothing below the CLI imports it (the import-linter contracts in
pyproject.toml hold both).
"""

from zchat.common import __version__ as __version__
