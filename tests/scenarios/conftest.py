from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Cluster

FANOUTS = ("router", "pub")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_fanouts: run this scenario with --fanout router and --fanout pub")


@pytest.fixture
def fanout() -> str:
    """How brokers deliver public events: router, unless the test opts in to both modes."""
    return "router"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A scenario runs in both fan-out modes when it is marked
    ``@pytest.mark.both_fanouts``: one whose outcome depends on how public events
    (messages, joins, leaves) reach clients. The rest (errors to one client, the
    command line, rendering, the log) run once, in router mode."""
    if metafunc.definition.get_closest_marker("both_fanouts") and "chat" in metafunc.fixturenames:
        metafunc.parametrize("fanout", FANOUTS)


@pytest.fixture
def chat(tmp_path: Path, fanout: str) -> Iterator[Cluster]:
    """Processes started by one test; all of them are stopped, by PID, afterwards."""
    cluster = Cluster(tmp_path, fanout)
    try:
        yield cluster
    finally:
        cluster.stop_all()
