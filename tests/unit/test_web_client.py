"""The browser client's own tests (web/tests/*.test.mjs), run by Node's test runner.

They cover the page's pure modules: frames against docs/vectors, the catch-up timeline
(a port of client/timeline.py), the outbox, typed commands, read marks, /history and
/search state, the texts, and the session driven with a fake WebSocket. Without
`node` they are skipped, unless ZCHAT_REQUIRE_BROWSER=1 asks that they run.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_web_client_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("ZCHAT_REQUIRE_BROWSER") == "1":
            pytest.fail("node is not installed, and ZCHAT_REQUIRE_BROWSER=1")
        pytest.skip("node is not installed (the web client's tests need Node 20)")
    result = subprocess.run([node, "--test", "web/tests/"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
