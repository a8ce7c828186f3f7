"""The ``airflow`` command of a shell after ``eval "$(make -s env)"``: Airflow's CLI, with one repair.

The embedded stack keeps Airflow's metadata in SQLite, which has one writer at a time.
``airflow backfill create`` commits the backfill first, then creates its runs; when the
scheduler's writes made that second step fail with ``database is locked``, the backfill stayed
open without a single run: running the command again, as the message invites, failed with
``AlreadyRunningBackfill`` for minutes, and the requested days never ran. Here, for
``backfill create`` only:

- an attempt that fails with ``database is locked`` is tried again, a few times, after closing
  the backfill that attempt opened. With SQLite, the runs that attempt had created before the lock
  are committed already (pysqlite commits at the release of its first savepoint), so the backfill
  may hold some of the requested days: closing it leaves those runs to the scheduler (a closed
  backfill's runs still start), and the next attempt skips them as in flight, or, once they
  finished, runs them again with ``--reprocess-behavior completed``;
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


def open_backfills(dag_id: str) -> set[int]:
    """The ids of the backfills of ``dag_id`` that are still open."""
    from airflow.models.backfill import Backfill
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return set(
            session.scalars(select(Backfill.id).where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None)))
        )


def close_backfills(dag_id: str, *, open_before: set[int] | None = None) -> list[int]:
    """Close backfills of ``dag_id`` that a failed ``backfill create`` left open.

    With ``open_before`` (the ids open before a failed attempt started): those that attempt opened, with or
    without runs. Without it: those anyone's failed attempt left without a single run or skipped
    day, open for over ``LEFT_AFTER``."""
    from airflow.models.backfill import Backfill, BackfillDagRun
    from airflow.utils.session import create_session
    from sqlalchemy import exists, select

    now = dt.datetime.now(dt.UTC)
    query = select(Backfill).where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None))
    if open_before is None:
        query = query.where(
            Backfill.created_at < now - LEFT_AFTER, ~exists().where(BackfillDagRun.backfill_id == Backfill.id)
        )
    elif open_before:
        query = query.where(Backfill.id.not_in(open_before))
    with create_session() as session:
        left = session.scalars(query).all()
        for backfill in left:
            backfill.completed_at = now
        return [b.id for b in left]


def _ids(backfills: list[int]) -> str:
    return ", ".join(map(str, backfills))


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
    for attempt in range(1, ATTEMPTS + 1):
        closed = close_backfills(dag_id)
        if closed:
            print(
                f"airflow backfill create: closed backfill {_ids(closed)} of {dag_id}, left without "
                "any run by an attempt that failed (SQLite: database is locked)",
                file=sys.stderr,
            )
        before = open_backfills(dag_id)
        code, locked = _run(argv)
        if code == 0 or not locked or attempt == ATTEMPTS:
            return code
        ours = close_backfills(dag_id, open_before=before)
        closed_ours = (
            f"; closed backfill {_ids(ours)} this attempt opened (the runs it had created go on)" if ours else ""
        )
        print(
            "airflow backfill create: the metadata database was locked (SQLite has one writer and the scheduler "
            f"was writing){closed_ours}; trying again in {RETRY_SECONDS} s (attempt {attempt + 1} of {ATTEMPTS})",
            file=sys.stderr,
        )
        time.sleep(RETRY_SECONDS)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
