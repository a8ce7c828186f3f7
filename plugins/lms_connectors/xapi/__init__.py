"""The xAPI statement endpoint: an ASGI service providers push statements to, per connector.

May import: lms_connectors.rules, lms_connectors.providers, lms_connectors.warehouse, lms_connectors.privacy, lms_connectors.xapi
Never imports: airflow, requests

``python -m lms_connectors.xapi serve`` runs it; ``python -m lms_connectors.xapi credentials`` gives
a connector its push credentials. See docs/XAPI.md.
"""
