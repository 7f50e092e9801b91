"""Helpers shared by the test suites: live servers, PostgreSQL databases, request builders.

Importable as ``support`` (``pythonpath = ["tests"]`` in pyproject.toml).
"""
