"""Kyso platform: settings, database, audit trail, errors, callers, app factory and CLI."""

__version__ = "0.1.0"
