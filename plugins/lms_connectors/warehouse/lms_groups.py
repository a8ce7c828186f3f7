"""What the connectors check of the LMS's groups: that a connector's settings name a group that
exists, and an author who may edit it."""

from __future__ import annotations

import psycopg

from lms_connectors.rules.settings import ConnectorSettings, SettingsError


def check_against_lms(conn: psycopg.Connection, settings: ConnectorSettings, variable: str) -> None:
    """The group must exist and the author must edit or administer it."""
    row = conn.execute("SELECT 1 FROM lms.groups WHERE group_id = %s", (settings.target_group_id,)).fetchone()
    if row is None:
        raise SettingsError(
            f"Variable {variable!r}: field 'target_group_id': group {settings.target_group_id!r} does not exist in lms.groups"
        )
    role = conn.execute(
        """SELECT m.role FROM lms.group_members m JOIN lms.users u USING (user_id)
           WHERE m.group_id = %s AND lower(u.email) = lower(%s)""",
        (settings.target_group_id, settings.author_email),
    ).fetchone()
    if role is None or role[0] not in ("editor", "administrator"):
        found = f"role {role[0]!r}" if role else "no membership"
        raise SettingsError(
            f"Variable {variable!r}: field 'author_email': {settings.author_email!r} must be an editor or "
            f"administrator of group {settings.target_group_id!r} ({found})"
        )
