"""Verification's web adapters: the public page (/verify) always; on the full service, the
API (/api/v1/verify) and the trust anchors' admin endpoints."""

from __future__ import annotations

from flask import Flask

from verification.api import REPORT_PDF, ReportPdf


def register(app: Flask, *, public_only: bool, report_pdf: ReportPdf) -> None:
    """``report_pdf``: the sealed PDF of a report (``?format=pdf``), made by signing."""
    from verification.page import page_bp

    app.extensions[REPORT_PDF] = report_pdf
    app.register_blueprint(page_bp)
    if not public_only:
        from verification.api import anchors_bp, verify_bp

        app.register_blueprint(verify_bp)
        app.register_blueprint(anchors_bp)
