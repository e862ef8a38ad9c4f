from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Cluster


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Cluster]:
    """Processes started by one test; all of them are stopped, by PID, afterwards."""
    cluster = Cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop_all()
