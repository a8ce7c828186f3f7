"""Warehouse I/O: migrations, staging, merges. Functions take a psycopg connection."""
