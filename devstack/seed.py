"""Load the LMS side of a demo (users, the group, members) from the simulator's seed."""

from __future__ import annotations

from typing import Any

import psycopg


def seed_lms(conn: psycopg.Connection, seed: dict[str, Any]) -> dict[str, int]:
    """Upsert the seed; idempotent, so running the demo twice changes nothing."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO lms.groups (group_id, name) VALUES (%(group_id)s, %(name)s) "
            "ON CONFLICT (group_id) DO UPDATE SET name = EXCLUDED.name WHERE lms.groups.name <> EXCLUDED.name",
            seed["groups"],
        )
        cur.execute("CREATE TEMP TABLE seed_users (user_id text, email text, name text) ON COMMIT DROP")
        with cur.copy("COPY seed_users (user_id, email, name) FROM STDIN") as copy:
            for u in seed["users"]:
                copy.write_row((u["user_id"], u["email"], u.get("name")))
        cur.execute(
            """INSERT INTO lms.users (user_id, email, name) SELECT user_id, email, name FROM seed_users
               ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name
               WHERE (lms.users.email, lms.users.name) IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.name)"""
        )
        cur.execute("CREATE TEMP TABLE seed_members (group_id text, user_id text, role text) ON COMMIT DROP")
        with cur.copy("COPY seed_members (group_id, user_id, role) FROM STDIN") as copy:
            for m in seed["group_members"]:
                copy.write_row((m["group_id"], m["user_id"], m["role"]))
        cur.execute(
            """INSERT INTO lms.group_members (group_id, user_id, role) SELECT group_id, user_id, role FROM seed_members
               ON CONFLICT (group_id, user_id) DO UPDATE SET role = EXCLUDED.role
               WHERE lms.group_members.role <> EXCLUDED.role"""
        )
    return {"groups": len(seed["groups"]), "users": len(seed["users"]), "members": len(seed["group_members"])}
