"""Verification's web adapters: the public page (/verify) always; on the full service, the
API (/api/v1/verify) and the trust anchors' admin endpoints."""

from __future__ import annotations

from flask import Flask

from verification.api import DOCUMENT_LIMIT, REPORT_PDF, DocumentLimit, ReportPdf


def register(app: Flask, *, public_only: bool, report_pdf: ReportPdf, document_limit: DocumentLimit) -> None:
    """``report_pdf``: the sealed PDF of a report (``?format=pdf``), made by signing;
    ``document_limit``: the largest document the API takes (with multipart framing), signing's."""
    from verification.page import page_bp

    app.extensions[REPORT_PDF] = report_pdf
    app.extensions[DOCUMENT_LIMIT] = document_limit
    app.register_blueprint(page_bp)
    if not public_only:
        from verification.api import anchors_bp, verify_bp

        app.register_blueprint(verify_bp)
        app.register_blueprint(anchors_bp)
