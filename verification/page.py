"""The public verification page at /verify: upload a signed document, read the report in
Vietnamese (English with ?lang=en). No login; nothing is stored; the size limit is shown.
The report page is self-contained HTML a clerk can print or save with the document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, render_template_string, request

from kyso.errors import BadRequest, ErrorKind, KysoError, PayloadTooLarge
from kyso.problems import http_status
from kyso.web import body_limit, count_address, public, services
from verification.messages import CHOOSE_FILE, FILE_EMPTY, FILE_TOO_LARGE, TOO_MANY_UPLOADS
from verification.readable import TEXT
from verification.settings import VerifySettings

page_bp = Blueprint("verify_page", __name__)

PAGE = (Path(__file__).parent / "templates" / "verify.html").read_text(encoding="utf-8")


def _limit(settings: Any) -> int:
    return int(settings.section(VerifySettings).public_max_bytes) + 1024 * 1024


def _lang() -> str:
    return "en" if request.args.get("lang") == "en" else "vi"


def render_report(report: dict[str, Any], lang: str) -> Response:
    return _render(report=report, lang=lang)


def _render(status: int = 200, lang: str | None = None, **values: Any) -> Response:
    lang = lang or _lang()
    if values.get("report") is not None:
        from verification.readable import report_view

        values["view"] = report_view(values["report"], lang)
    limit = services().settings.section(VerifySettings).public_max_bytes
    html = render_template_string(PAGE, lang=lang, t=TEXT[lang], limit_mb=round(limit / 2**20), **values)
    return Response(html, status=status, mimetype="text/html",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                        "form-action 'self'"})


@page_bp.get("/verify")
@public
def verify_form() -> Response:
    return _render()


@page_bp.post("/verify")
@public
@body_limit(_limit)
def verify_upload() -> Response:
    from verification.api import uploaded_document
    from verification.service import verify

    svc = services()
    lang = _lang()
    try:
        _count_upload(svc)
        upload = request.files.get("file")
        if upload is None or not upload.filename and not request.content_length:
            raise BadRequest(CHOOSE_FILE)
        data, size = uploaded_document(upload, BadRequest(FILE_EMPTY))
        detached = request.files["data"].read() if "data" in request.files else None
        limits = svc.settings.section(VerifySettings)
        if size + len(detached or b"") > limits.public_max_bytes:
            raise PayloadTooLarge(FILE_TOO_LARGE)
        report = verify(svc.sessions, svc.settings, data, detached or None, offline=True, bounded=True,
                        seconds=limits.public_max_seconds)
    except KysoError as exc:
        status = http_status(exc)
        resp = _render(status=status, error=exc.message_vi if lang == "vi" else exc.message_en)
        if status in (429, 503):
            resp.headers["Retry-After"] = str(exc.extra.get("retry_after", 5))
        return resp
    return _render(report=report.to_json())


class PublicVerifyLimited(KysoError):
    code = "verify-rate-limited"
    kind = ErrorKind.RATE_LIMITED
    title_en = "Too many uploads"


def _count_upload(svc: Any) -> None:
    """Uploads per client address per minute on this anonymous page (verify.public_per_minute,
    per worker): one address cannot keep the verification slots busy."""
    per_minute = svc.settings.section(VerifySettings).public_per_minute
    if not per_minute:
        return
    _address, _count, retry_after = count_address("kyso.public_verify_limiter", per_minute)
    if retry_after:
        raise PublicVerifyLimited(TOO_MANY_UPLOADS.format(retry_after=retry_after),
                                  extra={"retry_after": retry_after})
