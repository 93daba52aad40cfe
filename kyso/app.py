"""The platform's part of the WSGI application: request class, limits, logging, error
rendering, and the platform's own blueprints (health, admin). The domains' blueprints are
added by the composition root's factory, ``app.web.create_app``.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
import uuid
from typing import IO, Any

from flask import Flask, Response, g, request
from flask import Request as FlaskRequest
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser

from kyso import logs
from kyso.db import translate_operational_error
from kyso.errors import BadRequest, InternalError, KysoError, Message, PayloadTooLarge
from kyso.limits import IdConverter
from kyso.messages import HTTP_ERROR_VI, HTTP_ERROR_VI_OTHER, REQUEST_BODY_EXCEEDS_LIMIT_BYTES
from kyso.problems import http_status
from kyso.services import Services
from kyso.settings import Settings
from kyso.web import (
    assign_request_id,
    authenticate_request,
    body_limit_of,
    caller_request_id,
    problem_response,
)

log = logging.getLogger("kyso.app")
access_log = logging.getLogger("kyso.access")


# werkzeug's multipart parser reads the body 64 KiB at a time: a 10 MB upload then costs
# 160 turns of its decoder (a search for the boundary, two slices and a write each) and as many
# reads through gunicorn's body reader, each copying what it read ahead (issue 14: multipart
# verification was 1.58x pyHanko, a raw body 1.39x). 256 KiB pieces cut that to 40 turns.
MULTIPART_READ_BYTES = 256 * 1024


class KysoFormDataParser(FormDataParser):
    """werkzeug's form parser, reading multipart bodies in larger pieces. Every limit is
    werkzeug's own and unchanged (form memory, part count, content length).

    werkzeug's decoder answers 413 when what it still holds plus the new piece exceeds the
    form memory limit. Between pieces of a file part it holds at most a partial boundary, but
    an unfinished header block stays held: a piece is at most half the limit, so part headers
    may still be half the limit long (real ones are under 1 KiB)."""

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        read = MULTIPART_READ_BYTES
        if self.max_form_memory_size is not None:
            read = max(64 * 1024, min(read, self.max_form_memory_size // 2))
        parser = MultiPartParser(stream_factory=self.stream_factory, max_form_memory_size=self.max_form_memory_size,
                                 max_form_parts=self.max_form_parts, cls=self.cls, buffer_size=read)
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class KysoRequest(FlaskRequest):
    """Multipart parts beyond 500 KiB go to a named temporary file (removed when the request
    closes it), as a raw body is spooled: a view can hand a verification helper the file's
    path instead of reading the document into the worker's memory and down a pipe. Smaller
    parts stay in memory, as werkzeug keeps them. The body limits apply unchanged."""

    form_data_parser_class = KysoFormDataParser

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        if total_content_length is None or total_content_length > 500 * 1024:
            return tempfile.NamedTemporaryFile(prefix="kyso-part-")
        return io.BytesIO()


def platform_app(settings: Settings, services: Services, *, public_only: bool,
                 configure_logging: bool = True) -> Flask:
    """A Flask app with the platform's blueprints and hooks, serving ``services``."""
    if configure_logging:
        logs.configure(settings.logging.level, settings.logging.json)
    app = Flask("kyso")
    app.request_class = KysoRequest
    app.url_map.converters["int"] = IdConverter  # <int:id> beyond the id columns: 404, not a 500
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["kyso"] = services

    from kyso.views import admin_bp, health_bp

    app.register_blueprint(health_bp)
    if not public_only:
        app.register_blueprint(admin_bp)
    _install_hooks(app)
    return app


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        rid = assign_request_id()
        logs.request_id_var.set(rid)
        logs.caller_request_id_var.set(caller_request_id())
        limit = body_limit_of(app)
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()  # refused before any work, authentication included
        authenticate_request()

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        if caller_request_id():
            resp.headers["X-Client-Request-Id"] = caller_request_id()
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Cache-Control", "no-store")
        caller = g.get("caller")
        access_log.info(
            "%s %s %s", request.method, request.path, resp.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": resp.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                "caller": caller.name if caller else None,
            },
        )
        return resp

    @app.errorhandler(KysoError)
    def _kyso_error(error: KysoError) -> Response:
        level = logging.WARNING if http_status(error) < 500 else logging.ERROR
        log.log(level, "%s: %s%s", error.code, error.message_en,
                f" ({error.log_detail})" if error.log_detail else "")
        return problem_response(error)

    @app.errorhandler(OperationalError)
    def _db_error(error: OperationalError) -> Response:
        translated = translate_operational_error(error)
        assert isinstance(translated, KysoError)
        log.error("database error: %s", type(error.orig).__name__)
        return problem_response(translated)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_error: Any) -> Response:
        limit = request.max_content_length or app.config["MAX_CONTENT_LENGTH"]
        return problem_response(PayloadTooLarge(
            REQUEST_BODY_EXCEEDS_LIMIT_BYTES.format(limit=limit),
            extra={"limit_bytes": limit},
        ))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        err = BadRequest(Message(error.name or "HTTP error", HTTP_ERROR_VI.get(status, HTTP_ERROR_VI_OTHER)))
        err.code = f"http-{status}"  # type: ignore[misc]
        err.title_en = error.name or "HTTP error"  # type: ignore[misc]
        resp = problem_response(err, status)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            resp.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.error("unhandled %s", type(error).__name__, exc_info=error,
                  extra={"incident_id": incident})
        return problem_response(InternalError(incident))

