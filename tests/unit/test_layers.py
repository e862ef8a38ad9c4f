"""The package layers: the import-linter contracts hold, and each one fails when someone
adds the import it forbids; and each command loads only its own side."""

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lint_imports", _ROOT / ".ci" / "lint_imports.py")
assert _spec is not None and _spec.loader is not None
lint_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint_imports)

_CONTRACTS = {contract["id"]: contract["name"] for contract in tomllib.loads(
    (_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]}


def _lint(tree: Path) -> tuple[int, str]:
    result = lint_imports.lint_imports(tree, "--no-logo")
    # Plain text on one line per contract, whatever the terminal and the version.
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    return result.returncode, re.sub(r"[ \t]*\n(?!\n)[ \t]*", " ", text)


def test_the_contracts_hold(tmp_path):
    lint_imports.lay_out(tmp_path)
    code, out = _lint(tmp_path)
    assert code == 0, out
    for name in _CONTRACTS.values():
        assert f"{name} KEPT" in out
    assert f"Contracts: {len(_CONTRACTS)} kept, 0 broken." in out


@pytest.mark.parametrize(("path", "line", "contract"), [
    # the old cycle, zchat -> broker -> zchat, from either end
    ("common/i18n.py", "import zchat.cli", "layers"),
    ("broker/store.py", "from zchat import __version__", "root-not-imported"),
    ("zchat/__init__.py", "import zchat.cli", "root-imports-common-only"),
    ("zchat/__init__.py", "import zchat.broker.store", "root-imports-common-only"),
    # broker and client know nothing of each other
    ("broker/roster.py", "from zchat.client.render import name_colour", "layers"),
    ("client/outbox.py", "import zchat.broker.store", "layers"),
    # the kernel is below both sides, the protocol below everything
    ("common/safetext.py", "from zchat.broker import texts", "layers"),
    ("protocol/names.py", "from zchat.common.safetext import sanitize", "layers"),
    ("protocol/codec.py", "from zchat import __version__", "root-not-imported"),
    ("protocol/codec.py", "import zmq", "protocol-pure"),
    # a new module of zchat must be given a layer
    ("zchat/extra.py", "", "layers"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, path, line, contract):
    lint_imports.lay_out(tmp_path)
    # (a repository path; installed, broker/ and the others are inside zchat/)
    module = tmp_path / (path if path.startswith("zchat/") else f"zchat/{path}")
    with module.open("a", encoding="utf-8") as f:
        f.write(f"\n{line}\n")
    code, out = _lint(tmp_path)
    assert code != 0, out
    assert f"{_CONTRACTS[contract]} BROKEN" in out, out


# ---- what each command loads -------------------------------------------------------

_LOADED = "import sys; print('LOADED', *sorted(m for m in sys.modules if m.startswith('zchat.')))"


def _loaded(script: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=30, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("LOADED")]
    assert lines, result.stdout + result.stderr
    return set(lines[-1].split()[1:])


def test_the_command_line_alone_loads_neither_side():
    loaded = _loaded(f"import zchat.cli\n{_LOADED}")
    assert "zchat.cli" in loaded
    assert not {m for m in loaded if m.startswith(("zchat.broker", "zchat.client",
                                                   "zchat.gateway"))}


def test_zchat_join_loads_no_broker_module():
    # The real command, up to where the client would start its loop.
    loaded = _loaded(f"""
from zchat.client.app import ChatClient
ChatClient.run = lambda self: exec({_LOADED!r}) or 0
from zchat.cli import main
main(["join", "ana", "--connect", "tcp://127.0.0.1:1"], prog_name="zchat")
""")
    assert "zchat.client.app" in loaded
    assert not {m for m in loaded if m.startswith("zchat.broker")}


def test_zchat_broker_loads_no_client_module():
    # The real command, up to where the server would start its loop.
    loaded = _loaded(f"""
from zchat.broker.server import BrokerServer
BrokerServer.run = lambda self: exec({_LOADED!r}) or 0
from zchat.cli import main
main(["broker", "--store", "memory", "--bind", "tcp://127.0.0.1:*"], prog_name="zchat")
""")
    assert "zchat.broker.server" in loaded
    assert not {m for m in loaded if m.startswith("zchat.client")}


def test_a_broker_without_a_cluster_loads_no_redis(tmp_path):
    # redis-py brings asyncio, ssl and email with it: about 11 MB of a broker's heap
    # (docs/PERFORMANCE.md, Idle clients), for a cluster this broker is not in.
    outside = "import sys; print('LOADED', *sorted(m for m in sys.modules if " \
              "m.split('.')[0] in ('redis', 'asyncio', 'ssl', 'email')))"
    loaded = _loaded(f"""
from zchat.broker.server import BrokerServer
BrokerServer.run = lambda self: exec({outside!r}) or 0
from zchat.cli import main
main(["broker", "--data-dir", {str(tmp_path)!r}, "--bind", "tcp://127.0.0.1:*"],
     prog_name="zchat")
""")
    assert loaded == set()


def test_zchat_admin_loads_no_client_module_and_of_the_broker_its_wire_format_only():
    # The real command, to its end: no socket there, so it exits 3 before any traffic.
    loaded = _loaded(f"""
from zchat.cli import main
try:
    main(["admin", "/nonexistent/zchat-admin", "status"], prog_name="zchat")
except SystemExit as exc:
    assert exc.code == 3, exc.code
exec({_LOADED!r})
""")
    assert "zchat.admin" in loaded
    assert {m for m in loaded if m.startswith(("zchat.broker", "zchat.client"))} == {
        "zchat.broker", "zchat.broker.admin_wire"}


def test_zchat_web_loads_neither_the_broker_nor_the_client():
    # The real command, up to where the gateway would start serving.
    loaded = _loaded(f"""
import zchat.gateway.app as app
async def serve(*args, **kw):
    exec({_LOADED!r})
app.serve = serve
from zchat.cli import main
try:
    main(["web", "--connect", "tcp://127.0.0.1:1"], prog_name="zchat")
except SystemExit as exc:
    assert not exc.code, exc.code
""")
    assert "zchat.gateway.app" in loaded and "zchat.gateway.bridge" in loaded
    assert not {m for m in loaded if m.startswith(("zchat.broker", "zchat.client"))}
