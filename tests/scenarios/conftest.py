from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Cluster

FANOUTS = ("router", "pub")


@pytest.fixture
def fanout() -> str:
    """How brokers deliver public events; modules with BOTH_FANOUTS run in both modes."""
    return "router"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if getattr(metafunc.module, "BOTH_FANOUTS", False) and "chat" in metafunc.fixturenames:
        metafunc.parametrize("fanout", FANOUTS)


@pytest.fixture
def chat(tmp_path: Path, fanout: str) -> Iterator[Cluster]:
    """Processes started by one test; all of them are stopped, by PID, afterwards."""
    cluster = Cluster(tmp_path, fanout)
    try:
        yield cluster
    finally:
        cluster.stop_all()
