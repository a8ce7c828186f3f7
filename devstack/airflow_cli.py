"""The ``airflow`` command of a shell after ``eval "$(make -s env)"``: Airflow's CLI, with one repair.

The embedded stack keeps Airflow's metadata in SQLite, which has one writer at a time.
``airflow backfill create`` commits the backfill first, then creates its runs; when the
scheduler's writes made that second step fail with ``database is locked``, the backfill stayed
open without a single run: running the command again, as the message invites, failed with
``AlreadyRunningBackfill`` for minutes, and the requested days never ran. Here, for
``backfill create`` only:

- an attempt that fails with ``database is locked`` is tried again, a few times, after closing
  the backfill that attempt left without runs;
- a backfill of the same DAG with no run and no skipped day, open for over a minute (a backfill
  gets its runs within seconds of its creation), is closed first: another such failed attempt
  left it. Airflow's scheduler closes it too, but only two minutes after its creation: until
  then every attempt was refused.

And a trigger (``dags trigger``, ``backfill create``) whose conf breaks a DAG param's schema is
answered in one line (``Invalid input for param initial_load_days: 999 is greater than the
maximum of 366``), not Airflow's traceback with the schema dumped after it.

Every other command is Airflow's own, unchanged (``exec``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ATTEMPTS = 4
RETRY_SECONDS = 5
LOCKED = "database is locked"
# A backfill gets its runs in the transaction right after its own: one older than this with none
# was left by an attempt that failed in between.
LEFT_AFTER = dt.timedelta(minutes=1)


def _dag_id(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("--dag-id", "-d") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--dag-id="):
            return arg.split("=", 1)[1]
    return None


def close_left_backfills(dag_id: str, ours_since: dt.datetime) -> list[int]:
    """Close the open backfills of ``dag_id`` that a failed ``backfill create`` left without any run:
    this command's own failed attempts (created since ``ours_since``), or anyone's, open for a while."""
    from airflow.models.backfill import Backfill, BackfillDagRun
    from airflow.utils.session import create_session
    from sqlalchemy import exists, or_, select

    now = dt.datetime.now(dt.UTC)
    with create_session() as session:
        left = session.scalars(
            select(Backfill).where(
                Backfill.dag_id == dag_id,
                Backfill.completed_at.is_(None),
                or_(Backfill.created_at >= ours_since, Backfill.created_at < now - LEFT_AFTER),
                ~exists().where(BackfillDagRun.backfill_id == Backfill.id),
            )
        ).all()
        for backfill in left:
            backfill.completed_at = now
        return [b.id for b in left]


PARAM_ERROR = re.compile(r"ParamValidationError: (Invalid input for param [^\n]*)")


def _run(argv: list[str]) -> tuple[int, bool]:
    """Airflow's CLI with ``argv``; its output passes through as it comes, but a traceback, held until
    the end, is shortened to its one line when it is a param's validation error. Returns (exit
    code, locked?)."""
    proc = subprocess.Popen([AIRFLOW, *argv], stderr=subprocess.PIPE, text=True)
    locked = False
    held: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        locked = locked or LOCKED in line
        if held or line.startswith("Traceback (most recent call last)"):
            held.append(line)
        else:
            sys.stderr.write(line)
    code = proc.wait()
    refused = PARAM_ERROR.search("".join(held))
    if refused:
        print(f"airflow {' '.join(argv[:2])}: {refused.group(1)}", file=sys.stderr)
    else:
        sys.stderr.writelines(held)
    return code, locked


def main(argv: list[str]) -> int:
    dag_id = _dag_id(argv)
    if argv[:2] == ["dags", "trigger"]:
        return _run(argv)[0]
    if argv[:2] != ["backfill", "create"] or "--dry-run" in argv or dag_id is None:
        os.execv(AIRFLOW, [AIRFLOW, *argv])  # noqa: S606 - the user's own command, as typed: no shell involved
    code = 1
    started = dt.datetime.now(dt.UTC)
    for attempt in range(1, ATTEMPTS + 1):
        closed = close_left_backfills(dag_id, started)
        if closed:
            print(
                f"airflow backfill create: closed backfill {', '.join(map(str, closed))} of {dag_id}, left without "
                "any run by an attempt that failed (SQLite: database is locked)",
                file=sys.stderr,
            )
        code, locked = _run(argv)
        if code == 0 or not locked or attempt == ATTEMPTS:
            return code
        print(
            f"airflow backfill create: the metadata database was locked (SQLite has one writer and the scheduler "
            f"was writing); trying again in {RETRY_SECONDS} s (attempt {attempt + 1} of {ATTEMPTS})",
            file=sys.stderr,
        )
        time.sleep(RETRY_SECONDS)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
