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


PATH_STEPS = 3


def seed_path(conn: psycopg.Connection, connector_id: str, group_id: str, label: str) -> dict[str, int]:
    """An LMS path in the connector's group: its three most followed active courses, in that order.

    Paths belong to the LMS (role lms_app writes them; the sync only reads them): without one,
    stats.v_path_progress has no row. Run after the connector's first sync (steps are LMS
    courses); idempotent: the steps are rewritten only when the most followed courses change.
    """
    path_id = f"demo-path-{connector_id}"
    with conn.transaction():
        courses = [
            row[0]
            for row in conn.execute(
                """SELECT c.lms_course_id FROM lms.courses c JOIN stats.course_progress p USING (lms_course_id)
                   WHERE c.connector_id = %s AND c.is_active
                   GROUP BY c.lms_course_id ORDER BY count(*) DESC, c.lms_course_id LIMIT %s""",
                (connector_id, PATH_STEPS),
            ).fetchall()
        ]
        conn.execute(
            "INSERT INTO lms.paths (path_id, group_id, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (path_id) DO UPDATE SET group_id = EXCLUDED.group_id, name = EXCLUDED.name "
            "WHERE (lms.paths.group_id, lms.paths.name) IS DISTINCT FROM (EXCLUDED.group_id, EXCLUDED.name)",
            (path_id, group_id, f"{label} starter path"),
        )
        current = [
            row[0]
            for row in conn.execute(
                "SELECT lms_course_id FROM lms.path_steps WHERE path_id = %s ORDER BY step_no", (path_id,)
            ).fetchall()
        ]
        if current != courses:
            conn.execute("DELETE FROM lms.path_steps WHERE path_id = %s", (path_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO lms.path_steps (path_id, step_no, lms_course_id) VALUES (%s, %s, %s)",
                    [(path_id, n, course) for n, course in enumerate(courses, start=1)],
                )
    return {"steps": len(courses)}
