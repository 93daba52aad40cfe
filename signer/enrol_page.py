"""The official's own consent enrolment: the public page /consent/enrol (HTML form) and its
JSON API under /api/v1/consent. No API key: the one-time activation code (or, to change a
PIN, the old PIN) is the authentication. What a TOTP seed looks like is shown here, to the
official, and nowhere else; responses are never cached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, request
from markupsafe import Markup

from kyso.errors import KysoError, TooManyRequests
from kyso.problems import http_status
from kyso.web import count_address, json_body, public, request_id, services
from signer import enrolment
from signer.settings import SigningSettings

enrol_bp = Blueprint("consent_enrol", __name__)

TEXT = {
    "vi": {
        "title": "Đăng ký xác nhận ký số", "switch": "English",
        "lead": "Nhập mã kích hoạt trong thư điện tử hoặc thư giấy ông/bà nhận được, rồi tự chọn mã PIN "
                "hoặc quét mã QR bằng ứng dụng xác thực (TOTP). Không ai khác được biết mã PIN hay mã QR này.",
        "code": "Mã kích hoạt", "method": "Cách xác nhận khi ký", "pin": "Mã PIN", "totp": "Ứng dụng xác thực (TOTP)",
        "new_pin": "Mã PIN mới", "again": "Nhập lại mã PIN",
        "rules": "Ít nhất {n} ký tự; không lặp một chữ số, không là dãy số liên tiếp, không lấy từ số CCCD.",
        "submit": "Đăng ký", "error": "Không đăng ký được", "mismatch": "Hai lần nhập mã PIN không khớp",
        "done_pin": "Đã đăng ký mã PIN. Từ nay mỗi lần ký bằng khóa cá nhân cần mã PIN này.",
        "done_totp": "Quét mã QR này bằng ứng dụng xác thực (Google Authenticator, Microsoft Authenticator...). "
                     "Mã QR chỉ hiện một lần: đừng chụp màn hình hay chia sẻ.",
        "secret": "Hoặc nhập khóa", "locked": "Khóa ký đang bị khóa do nhập sai nhiều lần: quản trị viên CA "
                                              "cần mở khóa trước khi ký.",
        "attempts": "Còn {n} lần thử",
    },
    "en": {
        "title": "Enrol your signing consent", "switch": "Tiếng Việt",
        "lead": "Enter the activation code from the e-mail or letter you received, then choose your own PIN or "
                "scan a QR code with an authenticator app (TOTP). Nobody else may know this PIN or QR code.",
        "code": "Activation code", "method": "How you consent when signing", "pin": "PIN",
        "totp": "Authenticator app (TOTP)", "new_pin": "New PIN", "again": "PIN again",
        "rules": "At least {n} characters; not one repeated digit, not digits in a row, not from your CCCD number.",
        "submit": "Enrol", "error": "Could not enrol", "mismatch": "The two PINs differ",
        "done_pin": "Your PIN is enrolled. Signing with your personal key now needs this PIN.",
        "done_totp": "Scan this QR code with an authenticator app. It is shown once: do not photograph or share it.",
        "secret": "Or enter the key", "locked": "Your credential is locked after wrong attempts: a CA administrator "
                                                "must unlock it before you sign.",
        "attempts": "{n} tries left",
    },
}

PAGE = (Path(__file__).parent / "templates" / "enrol.html").read_text(encoding="utf-8")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}


def _address() -> str:
    """The caller's address, after the per-address limit on these anonymous endpoints: every
    request counts (an official needs one or two), so guessing codes or old PINs from one
    address is slow whatever it aims at."""
    per_minute = services().settings.section(SigningSettings).enrolment_requests_per_minute
    address, _count, retry_after = count_address("kyso.enrol_limiter", per_minute)
    if retry_after:
        raise TooManyRequests(retry_after)
    return address


def _lang() -> str:
    return "en" if request.args.get("lang") == "en" else "vi"


def _qr_svg(uri: str) -> Markup | None:
    try:
        import segno
    except ImportError:  # pragma: no cover - segno is a dependency; the URI still works
        return None
    # segno draws modules only (paths); no text of the URI reaches the markup.
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, border=2))  # noqa: S704


def _render(status: int = 200, **values: Any) -> Response:
    lang = _lang()
    t = {k: v for k, v in TEXT[lang].items()}
    t["rules"] = t["rules"].format(n=services().settings.section(SigningSettings).consent_pin_min_length)
    html = render_template_string(PAGE, lang=lang, t=t, **values)
    return Response(html, status=status, mimetype="text/html", headers={
        **NO_STORE, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                               "frame-ancestors 'none'"})


@enrol_bp.get("/consent/enrol")
@public
def enrol_form() -> Response:
    return _render()


@enrol_bp.post("/consent/enrol")
@public
def enrol_submit() -> Response:
    svc = services()
    lang = _lang()
    form = request.form
    method = form.get("method", "pin")
    if method == "pin" and form.get("pin", "") != form.get("pin2", ""):
        return _render(status=400, error=TEXT[lang]["mismatch"])
    try:
        address = _address()
        done = enrolment.complete(svc.sessions, svc.keystore, svc.settings, form.get("code"), method,
                                  form.get("pin"), address=address, request_id=request_id())
    except KysoError as exc:
        left = exc.extra.get("attempts_left")
        message = exc.message_vi if lang == "vi" else exc.message_en
        if left is not None:
            message += " (" + TEXT[lang]["attempts"].format(n=left) + ")"
        return _render(status=http_status(exc), error=message)
    return _render(done=done, qr=_qr_svg(done.otpauth_uri) if done.otpauth_uri else None)


@enrol_bp.post("/api/v1/consent/enrol")
@public
def enrol_api() -> Response:
    """The official sets their own consent: {"activation_code", "method": "pin"|"totp",
    "pin"}. For TOTP the response holds the otpauth URI, the key and a QR code (SVG), once."""
    svc = services()
    address = _address()
    body = json_body()
    done = enrolment.complete(svc.sessions, svc.keystore, svc.settings, body.get("activation_code"),
                              str(body.get("method", "")), body.get("pin"), address=address,
                              request_id=request_id())
    out = done.to_json()
    if done.otpauth_uri:
        qr = _qr_svg(done.otpauth_uri)
        if qr is not None:
            out["qr_svg"] = str(qr)
    resp = jsonify(out)
    resp.headers.update(NO_STORE)
    return resp


@enrol_bp.post("/api/v1/consent/pin")
@public
def change_pin_api() -> Response:
    """The official changes the PIN: {"official_id", "old_pin", "new_pin"}. A wrong old PIN
    counts as a failed consent, as when signing."""
    svc = services()
    address = _address()
    body = json_body()
    enrolment.change_pin(svc.sessions, svc.settings, body.get("official_id"), body.get("old_pin"),
                         body.get("new_pin"), address=address, request_id=request_id())
    resp = jsonify({"official_id": body.get("official_id"), "changed": True})
    resp.headers.update(NO_STORE)
    return resp
