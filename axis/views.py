"""The axis connector's blueprint, registered by the composition root: none is public, so a
public-only app (behind a CDN) serves none of it."""

from __future__ import annotations

from flask import Flask


def register(app: Flask, *, public_only: bool) -> None:
    if not public_only:
        from axis.api import edxml_bp

        app.register_blueprint(edxml_bp)
