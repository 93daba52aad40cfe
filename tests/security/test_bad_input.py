"""Item 18 of issue 13: hostile input gave a 500 instead of a 4xx.

- a PDF whose objects nest thousands deep (RecursionError in pyHanko) to /api/v1/sign/pdf:
  now 422 document-too-complex, nothing signed or recorded;
- JSON nested 100,000 deep in any JSON body: now 400 json-too-deep (kyso.limits.parse_json);
- /api/v1/admin/audit?limit=abc or limit=-5: 400;
- integers beyond the id columns in paths (404: no route matches) and in options (400
  value-out-of-range, or nothing found), where SQLite raised OverflowError and PostgreSQL
  "integer out of range";
- a 250-character locality (the code allowed 300, the column holds 200): every registry
  text field is checked against its column, 400 value-too-long naming the field.

The last test sends every route of the OpenAPI document hostile paths, queries and bodies as
every role and as nobody, and finds no 500."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import make_user
from tests.signing.conftest import AGENCY, H, signing  # noqa: F401 - the signing world fixture

HUGE = "99999999999999999999"  # beyond 64 bits
JUST_BEYOND = str(2**31)  # beyond the 32-bit id columns of PostgreSQL


def _deep_json(n: int) -> bytes:
    return b'{"a":' + b"[" * n + b"]" * n + b"}"


def _pdf(nesting: int) -> bytes:
    """A one-page PDF whose catalog holds an array nested ``nesting`` deep (parsed when the
    catalog is read, written again when signing adds the form)."""
    deep = b"[" * nesting + b"]" * nesting
    objects = [b"<< /Type /Catalog /Pages 2 0 R /X " + deep + b" >>",
               b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _signatures(services: Any) -> int:
    from signer.credentials import SignatureRecord

    with services.sessions() as s:
        return int(s.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.get_data()[:300])
    body: dict[str, Any] = r.get_json()
    assert body["code"] == code and body["detail_vi"], body
    return body


def test_a_deeply_nested_pdf_is_422_and_nothing_is_signed(client: Any, services: Any,
                                                           signing: dict[str, Any]) -> None:  # noqa: F811
    url = f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B"
    headers = H(signing["keys"]["eoffice"], **{"Content-Type": "application/pdf"})
    r = client.post(url, data=_pdf(5000), headers=headers)
    _problem(r, 422, "document-too-complex")
    assert _signatures(services) == 0
    # The same document nested a little is signed: the depth is what was refused.
    r = client.post(url, data=_pdf(5), headers=headers)
    assert r.status_code == 200, r.get_data()[:300]
    assert _signatures(services) == 1


@pytest.fixture
def world(client: Any, services: Any, ca: Any) -> dict[str, Any]:
    keys = {role: make_user(services, role, role) for role in ("ca-admin", "ra-officer", "auditor")}
    keys["client"] = make_user(services, "eoffice", "client")
    staff = H(keys["ra-officer"])
    assert client.post("/api/v1/admin/agencies", headers=staff,
                       json={"code": AGENCY, "name": "Sở Nội vụ"}).status_code == 201
    r = client.post("/api/v1/admin/officials", headers=staff,
                    json={"agency_code": AGENCY, "full_name": "Nguyễn Văn An"})
    assert r.status_code == 201
    assert client.post("/api/v1/admin/clients/eoffice/agencies", headers=H(keys["ca-admin"]),
                       json={"agency_code": AGENCY}).status_code == 201
    return {"keys": keys, "official": r.get_json()["id"]}


@pytest.mark.parametrize("depth", [100_000, 33])
def test_deep_json_is_400_json_too_deep(client: Any, world: dict[str, Any], depth: int) -> None:
    keys = world["keys"]
    for path, key in (("/api/v1/admin/agencies", keys["ra-officer"]), ("/api/v1/sign/hashes", keys["client"]),
                      ("/csc/v1/credentials/list", keys["client"]), ("/api/v1/consent/enrol", None),
                      (f"/api/v1/admin/officials/{world['official']}/consent/enrolments", keys["ca-admin"])):
        r = client.post(path, data=_deep_json(depth), content_type="application/json",
                        headers=H(key) if key else {})
        _problem(r, 400, "json-too-deep")
    # The JSON options part of a multipart signing request too.
    r = client.post("/api/v1/sign/cms", headers=H(keys["client"]), content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"hello"), "a.txt"), "options": _deep_json(depth).decode()})
    _problem(r, 400, "json-too-deep")


def test_shallow_json_still_parses(client: Any, world: dict[str, Any]) -> None:
    r = client.post("/api/v1/admin/agencies", headers=H(world["keys"]["ra-officer"]),
                    json={"code": "H27.01", "name": "Sở Tài chính", "x": [[[[[[[[[[1]]]]]]]]]]})
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize("limit", ["abc", "-5", "0", HUGE, "1e3", "²", "%C2%B2"])
def test_audit_limit_is_checked(client: Any, world: dict[str, Any], limit: str) -> None:
    r = client.get(f"/api/v1/admin/audit?limit={limit}", headers=H(world["keys"]["auditor"]))
    assert r.status_code == 400, (r.status_code, r.get_data()[:300])
    r = client.get(f"/api/v1/admin/audit?after_seq={HUGE}", headers=H(world["keys"]["auditor"]))
    assert r.status_code == 400


@pytest.mark.parametrize("number", [HUGE, JUST_BEYOND, "9" * 400])
def test_huge_ids_in_paths_are_404(client: Any, world: dict[str, Any], number: str) -> None:
    admin, staff = H(world["keys"]["ca-admin"]), H(world["keys"]["ra-officer"])
    for method, path, key in (("GET", f"/api/v1/admin/officials/{number}", staff),
                              ("PATCH", f"/api/v1/admin/officials/{number}", staff),
                              ("POST", f"/api/v1/admin/requests/{number}/approve", admin),
                              ("POST", f"/api/v1/admin/requests/{number}/reject", admin),
                              ("POST", f"/api/v1/admin/revocations/{number}/approve", admin),
                              ("POST", f"/api/v1/admin/revocations/{number}/reject", admin),
                              ("GET", f"/api/v1/admin/officials/{number}/consent", admin),
                              ("POST", f"/api/v1/admin/officials/{number}/consent/unlock", admin)):
        r = client.open(path, method=method, headers=key, json={"reason": "x", "title": "Giám đốc"})
        assert r.status_code == 404, (method, path, r.status_code, r.get_data()[:300])


def test_huge_integers_in_options(client: Any, world: dict[str, Any]) -> None:
    keys = world["keys"]
    for number in (HUGE, JUST_BEYOND, -int(HUGE), 1e300):
        r = client.post("/api/v1/admin/requests", headers=H(keys["ra-officer"]),
                        json={"profile": "official-signing", "agency_code": AGENCY, "official_id": number,
                              "generate_key": True, "key_type": "ec-p256"})
        _problem(r, 404, "official-not-found")
        for sign in ("cms", "pdf"):
            r = client.post(f"/api/v1/sign/{sign}?credential=official:{number}", data=b"%PDF-1.7\nx",
                            headers=H(keys["client"], **{"Content-Type": "application/octet-stream"}))
            assert 400 <= r.status_code < 500, (sign, number, r.status_code, r.get_data()[:300])
    auditor = H(keys["auditor"])
    for query, status in ((f"limit={HUGE}", 400), ("limit=-5", 400), ("limit=abc", 400), (f"days={HUGE}", 400),
                          (f"official={HUGE}", 200), (f"official={JUST_BEYOND}", 200)):
        path = "/api/v1/admin/certificates/expiring" if query.startswith("days") else "/api/v1/admin/certificates"
        r = client.get(f"{path}?{query}", headers=auditor)
        assert r.status_code == status, (query, r.status_code, r.get_data()[:300])
        if status == 400:
            assert r.get_json()["code"] == "value-out-of-range"
        else:
            assert r.get_json()["certificates"] == []
    for path in ("agencies", "officials"):
        r = client.get(f"/api/v1/admin/{path}?limit={HUGE}", headers=auditor)
        _problem(r, 400, "value-out-of-range")


@pytest.mark.parametrize(("field", "limit", "path"), [
    ("locality", 200, "agencies"), ("name", 300, "agencies"), ("full_name", 200, "officials"),
    ("title", 200, "officials")])
def test_text_longer_than_its_column_is_400(client: Any, world: dict[str, Any], field: str, limit: int,
                                            path: str) -> None:
    staff = H(world["keys"]["ra-officer"])
    base: dict[str, Any] = ({"code": "H27.01", "name": "Sở Tài chính"} if path == "agencies"
                            else {"agency_code": AGENCY, "full_name": "Trần Thị Bình"})
    words = ("Hải Phòng " * 60)
    r = client.post(f"/api/v1/admin/{path}", headers=staff, json={**base, field: words[:limit + 50].strip()})
    body = _problem(r, 400, "value-too-long")
    assert body["field"] == field and body["limit"] == limit
    # At the limit it fits the column, on PostgreSQL too.
    r = client.post(f"/api/v1/admin/{path}", headers=staff, json={**base, field: words[:limit - 1] + "x"})
    assert r.status_code == 201, r.get_json()
    # And an edit is held to the same limit.
    target = r.get_json()["code"] if path == "agencies" else r.get_json()["id"]
    r = client.patch(f"/api/v1/admin/{path}/{target}", headers=staff, json={field: words[:limit + 1]})
    _problem(r, 400, "value-too-long")


SWEEP_FIELDS = ("activation_code agency_code anchor appearance certificates channel citizen_id code "
                "common_name credential csr description document_id document_number email from full_name "
                "generate_key hash hash_algorithm hashes invalidity_date key_type level locality location "
                "method name new_pin official_id old_pin owner page parent_code pdf_appearance "
                "pdf_credential pin profile promulgation_date reason rect revoke_certificates scheme sign "
                "staff status status_code tax_code title to xades days limit after_seq "
                "OTP PIN SAD certInfo credentialID hashAlgo maxResults numSignatures signAlgo signAlgoParams").split()


def _all_fields(value: str) -> str:
    return "{" + ",".join(f'"{f}": {value}' for f in SWEEP_FIELDS) + "}"


def test_no_route_answers_hostile_input_with_a_500(client: Any, world: dict[str, Any]) -> None:
    """Every operation, as each role it allows (anonymously when public): path ids and
    strings beyond their columns, oversized query integers, deep JSON, wrong JSON types."""
    spec = client.get("/api/v1/openapi.json").get_json()
    query = {"limit": HUGE, "days": HUGE, "after_seq": HUGE, "official": HUGE, "page": HUGE,
             "agency": "x" * 300, "q": "%" * 300, "serial": HUGE, "credential": f"official:{HUGE}",
             "status": HUGE, "since": HUGE}
    bodies = [_deep_json(100_000), b"[1]", _all_fields(HUGE), _all_fields('{"a": [1]}'), _all_fields("1e400"),
              _all_fields(f'"{"Hải Phòng " * 25}"'), _all_fields(f'"{"x" * 1000}"')]
    bad: list[str] = []
    for path, ops in spec["paths"].items():
        ints = {p["name"] for op in ops.values() for p in op["parameters"] if p["schema"]["type"] == "integer"}
        for number, text in ((HUGE, HUGE), (JUST_BEYOND, "x" * 300)):
            url = re.sub(r"\{([a-z_]+)\}", lambda m: number if m.group(1) in ints else text, path)  # noqa: B023
            for method, op in ops.items():
                for role in op.get("x-kyso-roles") or [None]:
                    headers = H(world["keys"][role]) if role else {}
                    if method in ("get", "delete"):
                        tries = [client.open(url, method=method.upper(), headers=headers, query_string=q)
                                 for q in (query, {k: "²" for k in query})]
                    else:
                        tries = [client.open(url, method=method.upper(), headers=headers, data=b,
                                             content_type="application/json", query_string=query) for b in bodies]
                    bad.extend(f"{method.upper()} {url[:80]} as {role} -> {r.status_code} {r.get_data()[:100]!r}"
                               for r in tries if r.status_code >= 500 and r.status_code != 503)
    assert not bad, "\n".join(bad[:40])
