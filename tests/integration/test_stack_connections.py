"""The stack writes its Connections into Airflow's metadata database, encrypted, and keeps an admin's edit."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from devstack import connections

ID = "lms_test_stack_conn"


@pytest.fixture
def metadata(airflow_db, monkeypatch, tmp_path):
    """The session's metadata database with a Fernet key, the stack's record in ``tmp_path``."""
    from airflow.models import Connection
    from airflow.models.crypto import get_fernet
    from airflow.utils.session import create_session

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    get_fernet.cache_clear()

    def row(conn_id: str = ID) -> dict | None:
        with create_session() as session:
            found = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
            if found is None:
                return None
            return {
                "conn_type": found.conn_type,
                "login": found.login,
                "password": found.password,
                "extra": found.extra_dejson,
                "stored_password": found._password,
                "stored_extra": found._extra,
                "encrypted": (found.is_encrypted, found.is_extra_encrypted),
            }

    def edit(**fields) -> None:
        with create_session() as session:
            found = session.query(Connection).filter(Connection.conn_id == ID).one()
            for key, value in fields.items():
                setattr(found, key, value)

    def delete(conn_id: str = ID) -> None:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()

    yield row, edit, delete
    delete()
    delete(ID + "_admin")
    monkeypatch.undo()
    get_fernet.cache_clear()


def provider_conn(port: int, secret: str) -> dict:
    return {
        "conn_type": "openclassrooms",
        "login": "cid",
        "password": secret,
        "extra": {"base_url": f"http://127.0.0.1:{port}", "organization_id": "org"},
    }


def test_written_encrypted_and_an_admins_edit_survives_the_next_start(metadata, tmp_path):
    row, edit, delete = metadata
    assert connections.store({ID: provider_conn(1, "first-secret")}) == [f"Connection {ID} created"]
    stored = row()
    assert stored["password"] == "first-secret" and stored["encrypted"] == (True, True)
    assert "first-secret" not in stored["stored_password"] and "127.0.0.1" not in stored["stored_extra"]
    record = (tmp_path / connections.RECORD_FILE).read_text()
    assert "first-secret" not in record and (tmp_path / connections.RECORD_FILE).stat().st_mode & 0o077 == 0

    # An admin changes the secret in Admin > Connections; the stack starts again on a new port.
    edit(password="the-admins-secret")
    lines = connections.store({ID: provider_conn(2, "second-secret")})
    assert lines and "kept as edited: password" in lines[0] and "the-admins-secret" not in lines[0]
    stored = row()
    assert stored["password"] == "the-admins-secret"
    assert stored["extra"]["base_url"] == "http://127.0.0.1:2"
    # ... and the start after it.
    connections.store({ID: provider_conn(3, "third-secret")})
    assert row()["password"] == "the-admins-secret" and row()["extra"]["base_url"] == "http://127.0.0.1:3"

    # Deleted, it comes back with the stack's values.
    delete()
    assert connections.store({ID: provider_conn(4, "fourth-secret")}) == [f"Connection {ID} created"]
    assert row()["password"] == "fourth-secret"


def test_a_connection_an_admin_created_is_not_touched(metadata):
    from airflow.models import Connection
    from airflow.utils.session import create_session

    row, _, _ = metadata
    with create_session() as session:
        session.add(Connection(conn_id=ID + "_admin", conn_type="http", password="theirs", extra=json.dumps({"a": 1})))
    lines = connections.store({ID + "_admin": provider_conn(1, "ours")})
    assert "the stack did not create this Connection" in lines[0]
    stored = row(ID + "_admin")
    assert (stored["conn_type"], stored["password"], stored["extra"]) == ("http", "theirs", {"a": 1})


@pytest.mark.parametrize("provider_name", ["openclassrooms", "linkedin_learning", "skillsoft_percipio"])
def test_every_extra_the_stack_writes_is_a_labelled_field_of_the_providers_form(simulators, provider_name):
    """The Percipio Connection showed a raw `poll_seconds` field with no label: an extra the stack
    wrote that the form did not declare. Each extra of a provider's Connection is one of its fields."""
    from lms_connectors import providers
    from lms_connectors.orchestration.provider_info import connection_type

    sim, provider = simulators[provider_name], providers.get(provider_name)
    written = provider.connection(sim.url, sim.client_id, sim.client_secret, **sim.extras)["extra"]
    fields = connection_type(provider)["conn-fields"]
    assert set(written) <= set(fields), set(written) - set(fields)
    assert all(fields[name]["label"] for name in written)
