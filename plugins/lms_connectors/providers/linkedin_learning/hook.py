"""The LinkedIn Learning Connection type's hook (``linkedin-learning``): Client ID, Client secret,
the API base URL and, when LinkedIn's token endpoint is elsewhere, ``token_url``."""

from __future__ import annotations

from lms_connectors.providers.hook import ConnectorHook
from lms_connectors.providers.linkedin_learning import PROVIDER


class LinkedInLearningHook(ConnectorHook):
    provider = PROVIDER
    conn_type = PROVIDER.conn_type
    default_conn_name = "linkedin_learning_default"
    hook_name = "LinkedIn Learning"
