"""The Skillsoft Percipio Connection type's hook (``skillsoft-percipio``): the service account's
token (password), ``organization_id``, and the API region (US or EU) or base URL."""

from __future__ import annotations

from lms_connectors.providers.hook import ConnectorHook
from lms_connectors.providers.skillsoft_percipio import PROVIDER


class SkillsoftPercipioHook(ConnectorHook):
    provider = PROVIDER
    conn_type = PROVIDER.conn_type
    default_conn_name = "skillsoft_percipio_default"
    hook_name = "Skillsoft Percipio"
