"""The xAPI endpoint as a process of its own (``python -m lms_connectors.xapi serve``), for the embedded
stack, the tests and the benchmark: started on a free port with its login and key, waited for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import IO

import requests

from lms_connectors.rules.paths import PROJECT_ROOT


def start(
    dsn: str, key: str, log: IO[bytes] | int = subprocess.DEVNULL, timeout: float = 60
) -> tuple[subprocess.Popen, str]:
    """The endpoint started as ``dsn``'s login with the pseudonymisation ``key``; the process and the
    base URL (``.../xapi``) once it answers. It connects to the warehouse when a request comes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        # This checkout's package, whatever the virtualenv's editable install points at.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")])),
        "LMS_XAPI_DSN": dsn,
        "LMS_PSEUDONYMISATION_KEY": key,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lms_connectors.xapi", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/xapi"
    deadline = time.monotonic() + timeout
    while not answers(f"{url}/about"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the xAPI endpoint did not start (exit status {proc.wait()})")
        time.sleep(0.1)
    return proc, url


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False
