"""Admin API for the registry and the certificate lifecycle: /api/v1/admin/...

Thin views: parse and check input, call one service function, serialise. Roles: ca-admin
and ra-officer write; auditor reads; client files requests and reads, for its own agencies.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ca_admin import issuance, lifecycle, registry, revocation
from ca_admin.settings import PkiSettings, RegistrySettings
from kyso.db import transaction
from kyso.errors import BadRequest
from kyso.limits import as_id, int_option
from kyso.policy import Action
from kyso.web import allows, current_caller, json_body, request_id, services

api_bp = Blueprint("ca_api", __name__, url_prefix="/api/v1/admin")



def _int_arg(name: str, default: int, low: int = 1, high: int = 1000) -> int:
    """A query integer within [low, high] (limit: 1 to 1000, the services' page bound), else 400."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    return int_option(raw, name, low, high)


def _official_filter(raw: str | None) -> int | None:
    """?official=<id>: an id no official can have finds nothing (0 never names a row)."""
    if raw in (None, ""):
        return None
    return as_id(raw) or 0


def _date(value: Any, field: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{field}' must be an ISO 8601 date-time",
                         f"'{field}' phải là thời điểm theo ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _created(body: dict[str, Any]) -> Response:
    resp = jsonify(body)
    resp.status_code = 201
    return resp


# -- agencies -----------------------------------------------------------------------------

@api_bp.post("/agencies")
@allows(Action.REGISTRY_WRITE)
def create_agency() -> Response:
    svc = services()
    with transaction(svc.sessions) as session:
        agency = registry.create_agency(session, json_body(), actor=current_caller().actor,
                                        level1_letters=svc.settings.section(RegistrySettings).level1_letters,
                                        request_id=request_id())
        return _created(registry.agency_view(session, agency).to_json())


@api_bp.get("/agencies")
@allows(Action.REGISTRY_READ)
def list_agencies() -> Response:
    with transaction(services().sessions) as session:
        rows = registry.search_agencies(session, request.args.get("q", ""), _int_arg("limit", 100),
                                        caller=current_caller())
        return jsonify({"agencies": [registry.agency_view(session, a).to_json() for a in rows]})


@api_bp.get("/agencies/<code>")
@allows(Action.REGISTRY_READ)
def get_agency(code: str) -> Response:
    with transaction(services().sessions) as session:
        agency = registry.get_agency(session, code)
        registry.require_agency_scope(session, current_caller(), agency)
        return jsonify(registry.agency_view(session, agency).to_json())


@api_bp.patch("/agencies/<code>")
@allows(Action.REGISTRY_WRITE)
def update_agency(code: str) -> Response:
    with transaction(services().sessions) as session:
        agency = registry.update_agency(session, code, json_body(), actor=current_caller().actor,
                                        request_id=request_id())
        return jsonify(registry.agency_view(session, agency).to_json())


@api_bp.post("/agencies/<code>/status")
@allows(Action.REGISTRY_WRITE)
def set_agency_status(code: str) -> Response:
    """Activate, suspend or dissolve; ``revoke_certificates`` on dissolution revokes the
    agency's certificates (cessationOfOperation) in the same transaction."""
    body, svc = json_body(), services()
    change = lifecycle.set_agency_status(svc.sessions, svc.keystore, svc.settings, current_caller(), code,
                                         str(body.get("status") or ""),
                                         revoke_certificates=_bool(body.get("revoke_certificates", False),
                                                                   "revoke_certificates"),
                                         request_id=request_id())
    return jsonify(_status_change_json(change))


def _status_change_json(change: issuance.AgencyStatusChange) -> dict[str, Any]:
    return {"agency": change.agency.to_json(), "previous_status": change.previous,
            "revoked": [v.serial for v in change.revoked], "certificates_still_valid": change.still_valid}


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false", f"'{name}' phải là true hoặc false",
                         extra={"field": name})
    return value


# -- officials ----------------------------------------------------------------------------

@api_bp.post("/officials")
@allows(Action.REGISTRY_WRITE)
def create_official() -> Response:
    with transaction(services().sessions) as session:
        official = registry.create_official(session, json_body(), actor=current_caller().actor,
                                            request_id=request_id())
        return _created(registry.official_view(session, official).to_json())


@api_bp.get("/officials")
@allows(Action.REGISTRY_READ)
def list_officials() -> Response:
    with transaction(services().sessions) as session:
        caller = current_caller()
        rows = registry.search_officials(session, request.args.get("q", ""),
                                         request.args.get("agency", ""), _int_arg("limit", 100),
                                         caller=caller)
        personal = registry.sees_personal_data(caller)
        return jsonify({"officials": [registry.official_view(session, o).to_json(personal=personal)
                                      for o in rows]})


@api_bp.get("/officials/<int:official_id>")
@allows(Action.REGISTRY_READ)
def get_official(official_id: int) -> Response:
    with transaction(services().sessions) as session:
        caller = current_caller()
        official = registry.visible_official(session, caller, official_id)
        return jsonify(registry.official_view(session, official).to_json(
            personal=registry.sees_personal_data(caller)))


@api_bp.patch("/officials/<int:official_id>")
@allows(Action.REGISTRY_WRITE)
def update_official(official_id: int) -> Response:
    """Edit an official, or deactivate them: {"status": "inactive"}."""
    with transaction(services().sessions) as session:
        official = registry.update_official(session, official_id, json_body(),
                                            actor=current_caller().actor, request_id=request_id())
        return jsonify(registry.official_view(session, official).to_json())


# -- API clients -------------------------------------------------------------------------------

@api_bp.post("/clients/<name>/agencies")
@allows(Action.CLIENTS_BIND)
def bind_client(name: str) -> Response:
    code = str(json_body().get("agency_code") or "")
    with transaction(services().sessions) as session:
        registry.bind_client(session, name, code, actor=current_caller().actor, request_id=request_id())
    return _created({"client": name, "agency_code": code})


@api_bp.delete("/clients/<name>/agencies/<code>")
@allows(Action.CLIENTS_BIND)
def unbind_client(name: str, code: str) -> Response:
    """The client may no longer act for the agency (from its next request on)."""
    with transaction(services().sessions) as session:
        was = registry.unbind_client(session, name, code, actor=current_caller().actor,
                                     request_id=request_id())
    return jsonify({"client": name, "agency_code": code, "unbound": was})


# -- requests ------------------------------------------------------------------------------------

def _issued(pair: tuple[issuance.RequestView, issuance.CertificateView | None]) -> Response:
    req, cert = pair
    body: dict[str, Any] = {"request": req.to_json()}
    if cert is not None:
        body["certificate"] = cert.to_json()
        body["certificate_pem"] = cert.pem.decode()
    return _created(body)


@api_bp.post("/requests")
@allows(Action.REQUEST_FILE)
def file_request() -> Response:
    svc = services()
    return _issued(issuance.file_request(svc.sessions, svc.keystore, svc.settings, current_caller(),
                                         json_body(), request_id=request_id()))


@api_bp.get("/requests")
@allows(Action.REQUEST_READ)
def list_requests() -> Response:
    views = issuance.list_requests(services().sessions, current_caller(), request.args.get("status", ""))
    return jsonify({"requests": [v.to_json() for v in views]})


@api_bp.post("/requests/<int:rid>/approve")
@allows(Action.REQUEST_DECIDE)
def approve_request(rid: int) -> Response:
    svc = services()
    return _issued(lifecycle.approve_request(svc.sessions, svc.keystore, svc.settings, current_caller(), rid,
                                             request_id=request_id()))


@api_bp.post("/requests/<int:rid>/reject")
@allows(Action.REQUEST_DECIDE)
def reject_request(rid: int) -> Response:
    svc = services()
    view = issuance.reject(svc.sessions, svc.keystore, svc.settings, current_caller(), rid,
                           str(json_body().get("reason") or ""), request_id=request_id())
    return jsonify({"request": view.to_json()})


# -- certificates ----------------------------------------------------------------------------------

@api_bp.get("/certificates")
@allows(Action.CERT_READ)
def search_certificates() -> Response:
    views = issuance.search_certificates(
        services().sessions, current_caller(), agency_code=request.args.get("agency", ""),
        official_id=_official_filter(request.args.get("official")),
        serial=request.args.get("serial", ""), status=request.args.get("status", ""),
        subject=request.args.get("q", ""), limit=_int_arg("limit", 100))
    return jsonify({"certificates": [v.to_json() for v in views]})


@api_bp.get("/certificates/expiring")
@allows(Action.CERT_READ)
def expiring() -> Response:
    svc = services()
    days = _int_arg("days", svc.settings.section(PkiSettings).expiring_days, 0, 3650)
    views = issuance.expiring(svc.sessions, current_caller(), days)
    if request.args.get("format", "json") == "csv":
        resp = Response(issuance.expiring_csv(views), mimetype="text/csv")
        resp.headers["Content-Disposition"] = 'attachment; filename="expiring.csv"'
        return resp
    return jsonify({"certificates": [v.to_json() for v in views]})


@api_bp.get("/certificates/<serial>")
@allows(Action.CERT_READ)
def get_certificate(serial: str) -> Response:
    view = issuance.get_certificate(services().sessions, current_caller(), serial)
    fmt = request.args.get("format", "json")
    if fmt == "json":
        return jsonify({**view.to_json(), "certificate_pem": view.pem.decode()})
    if fmt == "pem":
        resp = Response(view.pem, mimetype="application/x-pem-file")
    elif fmt == "der":
        resp = Response(view.certificate_der, mimetype="application/pkix-cert")
    elif fmt == "p7b":
        resp = Response(issuance.chain_p7b(services().sessions, view), mimetype="application/pkcs7-mime")
    else:
        raise BadRequest("format must be json, pem, der or p7b", "định dạng phải là json, pem, der hoặc p7b")
    resp.headers["Content-Disposition"] = f'attachment; filename="{view.serial}.{fmt}"'
    return resp


@api_bp.post("/certificates/<serial>/revoke")
@allows(Action.CERT_REVOKE)
def revoke(serial: str) -> Response:
    """Revoke at once; for the CA's own service certificates, 202 with a revocation request
    that a second CA admin approves."""
    body, svc = json_body(), services()
    result = lifecycle.revoke(svc.sessions, svc.keystore, svc.settings, current_caller(), serial,
                              str(body.get("reason") or ""), _date(body.get("invalidity_date"), "invalidity_date"),
                              request_id=request_id())
    if isinstance(result, revocation.RevocationRequestView):
        resp = jsonify({"revocation_request": result.to_json()})
        resp.status_code = 202
        return resp
    return jsonify(result.to_json())


@api_bp.get("/revocations")
@allows(Action.CERT_REVOKE_CA_INTERNAL)
def list_revocations() -> Response:
    found = revocation.list_requests(services().sessions, current_caller(),
                                     request.args.get("status", "pending"))
    return jsonify({"revocation_requests": [r.to_json() for r in found]})


@api_bp.post("/revocations/<int:rid>/approve")
@allows(Action.CERT_REVOKE_CA_INTERNAL)
def approve_revocation(rid: int) -> Response:
    """A second CA admin approves: the certificate is revoked now."""
    svc = services()
    view = lifecycle.approve_revocation(svc.sessions, svc.keystore, svc.settings, current_caller(), rid,
                                        request_id=request_id())
    return jsonify(view.to_json())


@api_bp.post("/revocations/<int:rid>/reject")
@allows(Action.CERT_REVOKE_CA_INTERNAL)
def reject_revocation(rid: int) -> Response:
    view = revocation.reject(services().sessions, current_caller(), rid,
                             str(json_body().get("reason") or ""), request_id=request_id())
    return jsonify(view.to_json())


@api_bp.post("/certificates/<serial>/hold")
@allows(Action.CERT_HOLD)
def hold(serial: str) -> Response:
    svc = services()
    view = lifecycle.hold(svc.sessions, svc.keystore, svc.settings, current_caller(), serial, request_id=request_id())
    return jsonify(view.to_json())


@api_bp.post("/certificates/<serial>/release")
@allows(Action.CERT_HOLD)
def release(serial: str) -> Response:
    svc = services()
    view = lifecycle.release(svc.sessions, svc.keystore, svc.settings, current_caller(), serial,
                             request_id=request_id())
    return jsonify(view.to_json())


@api_bp.post("/certificates/<serial>/renew")
@allows(Action.CERT_RENEW)
def renew(serial: str) -> Response:
    svc = services()
    body = json_body() if request.content_length else {}
    return _issued(issuance.renew_or_rekey(svc.sessions, svc.keystore, svc.settings, current_caller(),
                                           serial, "renew", body, request_id=request_id()))


@api_bp.post("/certificates/<serial>/rekey")
@allows(Action.CERT_RENEW)
def rekey(serial: str) -> Response:
    svc = services()
    body = json_body() if request.content_length else {}
    return _issued(lifecycle.rekey(svc.sessions, svc.keystore, svc.settings, current_caller(), serial, body,
                                   request_id=request_id()))
