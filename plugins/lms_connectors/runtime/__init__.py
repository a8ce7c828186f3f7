"""Aliases of the development stack's commands under their first names (a checkout only)."""
