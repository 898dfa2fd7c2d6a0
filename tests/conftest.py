"""Shared fixtures. Unit tests need nothing; tests marked `integration` use the real local stack,
which `./dev test` starts (`paodan stack up`) before pytest runs."""

from __future__ import annotations

import os

import pytest

from config.settings import load
from tests.live import Worker

# tests/faults/ need the broker's input topics to themselves (no other worker reading them): run on
# demand, alone — `PAODAN_FAULT_TESTS=1 ./dev test tests/faults` — not in the suite.
if not os.environ.get("PAODAN_FAULT_TESTS"):
    collect_ignore = ["faults"]


@pytest.fixture(scope="session")
def settings():
    return load()


@pytest.fixture(scope="session")
def stack(settings):
    """The endpoints of the running local stack; fails with the fix if it is not up."""
    from paodan.stack.manager import services

    down = [name for name, svc in services(settings).items() if not svc.answers()]
    if down:
        pytest.fail(f"local stack not running ({', '.join(down)} down): run `.venv/bin/paodan stack up` "
                    "or use `./dev test`", pytrace=False)
    return settings


@pytest.fixture(scope="session")
def worker(stack, tmp_path_factory):
    """One fresh `paodan worker` (own consumer group) shared by the session's integration tests."""
    w = Worker(tmp_path_factory.mktemp("worker")).start()
    yield w
    w.stop()
