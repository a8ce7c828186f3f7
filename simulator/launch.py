"""Start a simulator in a child process and learn its URL (tests, demo, bench)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import requests


@dataclasses.dataclass
class SimulatorProcess:
    process: subprocess.Popen[bytes]
    url: str
    client_id: str
    client_secret: str
    provider: str = "openclassrooms"
    # The Connection extras the provider's client needs besides the URL (OpenClassrooms: organization_id).
    extras: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def organization_id(self) -> str | None:
        return self.extras.get("organization_id")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(args: list[str], log: IO[bytes] | None = None, timeout: float = 60.0) -> SimulatorProcess:
    """Run ``python -m simulator ARGS --port 0`` and wait until it answers."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "simulator", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, env=env, start_new_session=True
    )
    assert proc.stdout is not None
    info: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while "ready_in" not in info:
        line = proc.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"simulator exited with {proc.wait()} before printing its URL")
        key, _, value = line.strip().partition("=")
        info[key] = value
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError("simulator did not start in time")
    proc.stdout.close()
    extras = {k.removeprefix("extra."): v for k, v in info.items() if k.startswith("extra.")}
    sim = SimulatorProcess(proc, info["url"], info["client_id"], info["client_secret"], info["provider"], extras)
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{sim.url}/_sim/health", timeout=2).ok:
                return sim
        time.sleep(0.05)
    sim.stop()
    raise TimeoutError("simulator did not answer in time")


@contextlib.contextmanager
def running(args: list[str], log: IO[bytes] | None = None) -> Iterator[SimulatorProcess]:
    sim = start(args, log)
    try:
        yield sim
    finally:
        sim.stop()
