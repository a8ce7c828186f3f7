"""The embedded warehouse: Postgres 16 from the pgserver wheel, in a project-local folder.

Started once and left running (its PID is in ``<dir>/postmaster.pid``);
stopped by that PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def start(data_dir: Path) -> str:
    """Start (or reuse) the server in ``data_dir``; return its socket directory."""
    import logging
    import warnings

    # platformdirs (under pgserver) warns when XDG_RUNTIME_DIR is unset, as on CI.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    # pgserver logs from an atexit hook, after test runners closed their streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # When run as root, pgserver runs postgres as its own user, which must reach the folder.
    with contextlib.suppress(PermissionError):
        data_dir.parent.chmod(0o755)
    pgserver.get_server(data_dir, cleanup_mode=None)
    return str(data_dir)


def pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        value = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        os.kill(value, 0)
    except ProcessLookupError:
        return None
    return value


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Fast shutdown (SIGINT to the postmaster); True if a server was running."""
    value = pid(data_dir)
    if value is None:
        return False
    os.kill(value, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(value, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(value, signal.SIGKILL)
    return True


def uri(socket_dir: str, dbname: str = "postgres", user: str = "postgres") -> str:
    return f"postgresql://{user}:@/{dbname}?host={socket_dir}"
