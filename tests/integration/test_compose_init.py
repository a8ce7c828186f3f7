"""The compose init step against a real Airflow metadata database."""

from __future__ import annotations

import json

from lms_connectors.orchestration import compose_init
from lms_connectors.providers.registry import load_registry


def _env() -> dict[str, str]:
    return {
        "LMS_SYNC_PASSWORD": "sync-password-0123456789",
        "LMS_HEALTH_PASSWORD": "health-password-0123456789",
        "LMS_XAPI_PASSWORD": "xapi-password-0123456789",
        "LMS_PSEUDONYMISATION_KEY": "k" * 40,
        "OPENCLASSROOMS_BASE_URL": "http://simulator:8081",
        "OPENCLASSROOMS_CLIENT_ID": "client-1",
        "OPENCLASSROOMS_CLIENT_SECRET": "secret-1",
        "OPENCLASSROOMS_ORGANIZATION_ID": "org-1",
        "LMS_CONNECTOR_OPENCLASSROOMS_SETTINGS": json.dumps(
            {"target_group_id": "g1", "author_email": "admin@example.com", "languages": ["fr"]}
        ),
        "LINKEDIN_LEARNING_BASE_URL": "https://api.linkedin.example",
        "LINKEDIN_LEARNING_TOKEN_URL": "https://www.linkedin.example/oauth/v2/accessToken",
        "LINKEDIN_LEARNING_CLIENT_ID": "client-2",
        "LINKEDIN_LEARNING_CLIENT_SECRET": "secret-2",
        "LMS_CONNECTOR_LINKEDIN_LEARNING_SETTINGS": json.dumps(
            {"target_group_id": "g2", "author_email": "admin@example.com"}
        ),
        # A service-account token, no client id; the region names the host.
        "SKILLSOFT_PERCIPIO_BASE_URL": "https://dew1-api.percipio.com",
        "SKILLSOFT_PERCIPIO_REGION": "EU",
        "SKILLSOFT_PERCIPIO_TOKEN": "token-3",
        "SKILLSOFT_PERCIPIO_ORGANIZATION_ID": "org-3",
        "LMS_CONNECTOR_SKILLSOFT_PERCIPIO_SETTINGS": json.dumps(
            {"target_group_id": "g3", "author_email": "admin@example.com"}
        ),
    }


def test_creates_connections_and_variable_then_keeps_the_admins_changes(airflow_db, capsys, monkeypatch):
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session

    spec, linkedin, percipio = load_registry()
    with create_session() as session:
        session.query(Connection).filter(
            Connection.conn_id.in_(
                [
                    spec.provider_conn_id,
                    linkedin.provider_conn_id,
                    percipio.provider_conn_id,
                    spec.warehouse_conn_id,
                    spec.readonly_conn_id,
                    spec.pseudonymisation_conn_id,
                ]
            )
        ).delete()
    Variable.delete(spec.variable)
    Variable.delete(linkedin.variable)
    Variable.delete(percipio.variable)

    first = compose_init.apply(env=_env())
    assert f"Connection {spec.provider_conn_id}: created" in first
    with create_session() as session:
        provider = session.query(Connection).filter(Connection.conn_id == spec.provider_conn_id).one()
        warehouse = session.query(Connection).filter(Connection.conn_id == spec.warehouse_conn_id).one()
        readonly = session.query(Connection).filter(Connection.conn_id == spec.readonly_conn_id).one()
        key = session.query(Connection).filter(Connection.conn_id == spec.pseudonymisation_conn_id).one()
        assert (provider.login, provider.password) == ("client-1", "secret-1")
        assert provider.extra_dejson == {"organization_id": "org-1", "base_url": "http://simulator:8081"}
        # Tasks get the runtime login, the page the read-only one: the owner is never a Connection.
        assert (warehouse.host, warehouse.schema, warehouse.login) == ("postgres", "lms_warehouse", "lms_connector")
        assert (readonly.login, readonly.password) == ("lms_health", "health-password-0123456789")
        assert key.password == "k" * 40
        other = session.query(Connection).filter(Connection.conn_id == linkedin.provider_conn_id).one()
        assert (other.login, other.password) == ("client-2", "secret-2")
        assert other.extra_dejson == {
            "base_url": "https://api.linkedin.example",
            "token_url": "https://www.linkedin.example/oauth/v2/accessToken",
        }
        token = session.query(Connection).filter(Connection.conn_id == percipio.provider_conn_id).one()
        assert (token.login or "", token.password) == ("", "token-3")
        assert token.extra_dejson == {
            "base_url": "https://dew1-api.percipio.com",
            "organization_id": "org-3",
            "region": "EU",
        }
    assert json.loads(Variable.get(spec.variable))["languages"] == ["fr"]
    assert json.loads(Variable.get(linkedin.variable))["target_group_id"] == "g2"

    # An admin changes the settings; a restart of the stack must not undo it.
    Variable.set(spec.variable, json.dumps({"target_group_id": "g1", "author_email": "a@b.co", "languages": ["en"]}))
    again = compose_init.apply(env={**_env(), "OPENCLASSROOMS_CLIENT_SECRET": "rotated"})
    assert f"Connection {spec.provider_conn_id}: kept" in again
    assert json.loads(Variable.get(spec.variable))["languages"] == ["en"]

    # As compose's init container runs it: the command prints what it did, never a secret.
    for name, value in {**_env(), "OPENCLASSROOMS_CLIENT_SECRET": "rotated-secret-3"}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert compose_init.main(["--update-connections"]) == 0
    out = capsys.readouterr().out
    assert f"Connection {spec.provider_conn_id}: updated" in out and f"Variable {spec.variable}: kept" in out
    with create_session() as session:
        provider = session.query(Connection).filter(Connection.conn_id == spec.provider_conn_id).one()
        assert provider.password == "rotated-secret-3"
    secrets = ("rotated-secret-3", "secret-2", "token-3", "sync-password", "health-password", "k" * 40)
    assert not [secret for secret in secrets if secret in out], out


def test_gives_retention_the_metadata_database_through_a_connection():
    """Airflow 3 blocks a task's own access to its metadata database: retention reaches it through
    the Connection compose init writes from the services' own setting."""
    url = "postgresql+psycopg://airflow:pw@postgres/airflow"
    connections, _ = compose_init.desired(load_registry(), {**_env(), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url})
    assert connections["lms_airflow_metadata"] == {"conn_type": "generic", "password": url}
