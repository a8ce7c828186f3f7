"""Learner privacy: pseudonym keys, erasure with suppression, retention, and their commands.

May import: lms_connectors.rules, lms_connectors.providers, lms_connectors.warehouse, lms_connectors.privacy
Never imports: requests
"""
