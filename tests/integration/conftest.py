from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from simulator import launch
from tests.builders import SIM_ARGS


@pytest.fixture(scope="session")
def simulator_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launch.SimulatorProcess]:
    log = (tmp_path_factory.mktemp("sim") / "simulator.log").open("wb")
    with launch.running(SIM_ARGS, log) as sim:
        yield sim
    log.close()


@pytest.fixture
def sim(simulator_proc: launch.SimulatorProcess) -> Iterator[launch.SimulatorProcess]:
    """The shared simulator, back to its seeded state and with no faults, for each test."""
    requests.post(f"{simulator_proc.url}/_sim/reset", timeout=30).raise_for_status()
    yield simulator_proc
    requests.delete(f"{simulator_proc.url}/_sim/faults", timeout=10).raise_for_status()
