"""Local simulator of the OpenClassrooms organization API (see openapi.yaml)."""
