"""The embedded stack's Connections are rewritten at each start, never over an admin's edit."""

from __future__ import annotations

from devstack.connections import digest, flat, merge, unflat

OLD = {"conn_type": "openclassrooms", "login": "id", "password": "s1", "extra": {"base_url": "http://127.0.0.1:1"}}
NEW = {"conn_type": "openclassrooms", "login": "id", "password": "s2", "extra": {"base_url": "http://127.0.0.1:2"}}


def written(conn):
    return {k: digest(v) for k, v in flat(conn).items()}


def test_a_new_connection_is_created_with_the_stacks_values():
    values, record, kept = merge(flat(NEW), None, None)
    assert unflat(values) == NEW and record == written(NEW) and kept == []


def test_fields_the_stack_wrote_follow_the_new_start():
    values, record, kept = merge(flat(NEW), flat(OLD), written(OLD))
    assert unflat(values) == NEW and record == written(NEW) and kept == []


def test_an_edited_field_is_kept_and_the_others_follow():
    edited = {**OLD, "password": "the admin's", "extra": {**OLD["extra"], "timeout": 30}}
    values, record, kept = merge(flat(NEW), flat(edited), written(OLD))
    assert unflat(values) == {**NEW, "password": "the admin's", "extra": {**NEW["extra"], "timeout": 30}}
    assert kept == ["extra.timeout", "password"]
    # Still the stack's old digest: at the next start the admin's value still differs, and stays.
    assert record["password"] == digest("s1") and "extra.timeout" not in record
    again, _, kept_again = merge(flat(NEW), values, record)
    assert again == values and kept_again == kept


def test_a_field_the_admin_cleared_stays_cleared():
    cleared = {**OLD, "login": None}
    values, _, kept = merge(flat(NEW), flat(cleared), written(OLD))
    assert "login" not in values and kept == ["login"]


def test_a_connection_the_stack_never_wrote_is_left_alone():
    values, record, kept = merge(flat(NEW), flat(OLD), None)
    assert values is None and record == {} and kept


def test_flat_reads_the_extra_as_airflow_stores_it():
    assert flat({"conn_type": "x", "host": "", "extra": '{"a": 1, "b": ""}'}) == {"conn_type": "x", "extra.a": 1}
