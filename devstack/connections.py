"""The embedded stack's Connections, kept in Airflow's metadata database, where an admin edits them.

Airflow reads Connections from the environment before its database: a stack that gave them as
``AIRFLOW_CONN_*`` variables made every edit in Admin > Connections silently useless. The stack
now writes them into the metadata database (passwords and extras encrypted with the stack's Fernet
key) when it prepares Airflow (``make demo``, ``make airflow``, ``make cluster``).

The stack's values change between starts (each simulator listens on a new port with new
credentials), so they are written again at each start, field by field, but never over an admin's
edit: the stack records a digest of each value it wrote (``lms-connections.json`` in
``AIRFLOW_HOME``, no value in clear), and a field whose stored value no longer matches that digest
was changed by someone else and is kept. A Connection the stack never wrote (an admin created it)
is left as it is. Deleting a Connection gives the stack's values back at the next start.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RECORD_FILE = "lms-connections.json"
FIELDS = ("conn_type", "host", "schema", "login", "password", "port")
EXTRA = "extra."


def flat(conn: Mapping[str, Any]) -> dict[str, Any]:
    """A Connection (JSON form) as field -> value, each extra as ``extra.<key>``; empty values absent
    (Airflow stores an empty form field as nothing)."""
    out = {f: conn[f] for f in FIELDS if conn.get(f) not in (None, "")}
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    out |= {EXTRA + k: v for k, v in extra.items() if v not in (None, "")}
    return out


def unflat(values: Mapping[str, Any]) -> dict[str, Any]:
    conn: dict[str, Any] = {f: values[f] for f in FIELDS if f in values}
    conn["extra"] = {k.removeprefix(EXTRA): v for k, v in values.items() if k.startswith(EXTRA)}
    return conn


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def merge(
    wanted: Mapping[str, Any], stored: Mapping[str, Any] | None, written: Mapping[str, str] | None
) -> tuple[dict[str, Any] | None, dict[str, str], list[str]]:
    """What to store for one Connection, the digests to record, and the fields kept as edited.

    ``wanted``, ``stored``: flat values (:func:`flat`) of the stack's Connection and of the one in the
    database (None: there is none); ``written``: the digests the stack recorded when it last wrote
    it (None: it never did). Returns None as the values when the Connection is left untouched.
    """
    if stored is None:
        return dict(wanted), {k: digest(v) for k, v in wanted.items()}, []
    if written is None:
        return None, {}, ["every field (the stack did not create this Connection)"]
    values: dict[str, Any] = {}
    record: dict[str, str] = {}
    kept = []
    for key in sorted({*wanted, *stored, *written}):
        ours = (digest(stored[key]) if key in stored else None) == written.get(key)
        if ours:
            if key in wanted:
                values[key] = wanted[key]
                record[key] = digest(wanted[key])
            continue
        kept.append(key)
        if key in stored:
            values[key] = stored[key]
        if key in written:
            record[key] = written[key]
    return values, record, kept


def record_path() -> Path:
    return Path(os.environ["AIRFLOW_HOME"]) / RECORD_FILE


def store(conns: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Write the stack's Connections into the metadata database (see the module's docstring); return a
    line for each Connection created or whose edited fields were kept."""
    from airflow.models.connection import Connection  # the ORM model: this writes the metadata database
    from airflow.utils.session import create_session
    from sqlalchemy import select

    path = record_path()
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        record = {}
    lines = []
    with create_session() as session:
        for conn_id, conn in conns.items():
            row = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            stored = flat(_json_form(row)) if row is not None else None
            values, record[conn_id], kept = merge(flat(conn), stored, record.get(conn_id))
            if stored is None:
                row = Connection(conn_id=conn_id, conn_type=conn["conn_type"])
                session.add(row)
                lines.append(f"Connection {conn_id} created")
            if kept:
                lines.append(
                    f"Connection {conn_id}: kept as edited: {', '.join(kept)} (delete it in Admin > Connections"
                    " to get the stack's values back at the next start)"
                )
            if values is not None and row is not None:
                _apply(row, unflat(values))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    return lines


def _json_form(row: Any) -> dict[str, Any]:
    return {f: getattr(row, f) for f in FIELDS} | {"extra": row.extra_dejson}


def _apply(row: Any, conn: Mapping[str, Any]) -> None:
    for field in FIELDS:
        setattr(row, field, conn.get(field))
    # The model's setters encrypt the password and the extra with the Fernet key.
    row.extra = json.dumps(conn["extra"]) if conn["extra"] else None
