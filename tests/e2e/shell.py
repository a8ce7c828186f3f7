"""A user's shell for the end-to-end tests: its own stack directory, the production registry."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def user_env(local: Path, start: dt.date) -> dict[str, str]:
    """What a user's shell has (no test-only Airflow settings from conftest), with the stack under
    ``local`` and the production registry starting at ``start``: unpaused, the scheduler would
    otherwise catch up every day since the registry's start_date (minutes per day here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "LMS_CONNECTORS_REGISTRY"}
    registry = local / "connectors.yaml"
    registry.write_text(
        re.sub(r'start_date: "[0-9-]+"', f'start_date: "{start}"', (ROOT / "include" / "connectors.yaml").read_text())
    )
    return env | {
        "LMS_LOCAL_DIR": str(local),
        "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}",
        "LMS_CONNECTORS_REGISTRY": str(registry),
    }


def runner(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run("devstack.demo", timeout=600)``: a project module in that shell, output captured."""

    def run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *args], env=env, cwd=ROOT, timeout=timeout, capture_output=True, text=True
        )

    return run
