"""Signing and verification (later issues)."""
