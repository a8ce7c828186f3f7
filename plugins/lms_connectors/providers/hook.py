"""The Airflow Hook every provider's Connection type has: its client, and the form's Test button.

A provider's ``hook.py`` subclasses :class:`ConnectorHook` with its ``PROVIDER``; the distribution's
provider info (``lms_connectors.orchestration.provider_info``) names that class for the provider's
Connection type, so Airflow's UI shows the provider's own fields and a Test button. A Connection of
type ``http`` with the same fields works as well: the client reads the fields, not the type.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook

from lms_connectors.providers import Provider
from lms_connectors.providers.http import RetryPolicy

# The Test button asks for a token and one small page, and gives up quickly.
TEST_RETRY = RetryPolicy(max_attempts=2, initial_wait=0.5, max_wait=1.0, max_total_seconds=20)
TEST_PAGE_SIZE = 1


class ConnectorHook(BaseHook):
    provider: ClassVar[Provider]
    conn_name_attr = "conn_id"

    def __init__(self, conn_id: str | None = None, **client_overrides: Any) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self._overrides = client_overrides

    def get_conn(self) -> Any:
        """The provider's client, built from the Connection (base URL, credentials, timeouts, retries)."""
        return self.provider.client_from_connection(self.get_connection(self.conn_id), **self._overrides)

    def test_connection(self) -> tuple[bool, str]:
        """A token and one small page of the catalogue; else what the provider or the Connection said."""
        overrides = {"page_size": TEST_PAGE_SIZE, "retry": TEST_RETRY, **self._overrides}
        try:
            client = self.provider.client_from_connection(self.get_connection(self.conn_id), **overrides)
            page = next(iter(client.iter_course_pages()), [])
        except Exception as exc:  # the form shows the message; nothing runs on a failed test
            return False, self._for_the_form(str(exc))
        return True, f"{self.provider.label}: credentials accepted, the catalogue answered ({len(page)} course read)"

    def _for_the_form(self, message: str) -> str:
        """The error as the form shows it: the provider named once, without the Connection's id (the
        API server tests a copy under a random id that would mean nothing to the admin)."""
        message = message.replace(f"Connection {self.conn_id!r}: ", "").replace(f" (Connection {self.conn_id!r})", "")
        label = self.provider.label
        return message if message.startswith(label) else f"{label}: {message}"
