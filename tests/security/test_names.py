"""Item 22 of issue 13 (names): agency names accepted right-to-left overrides, zero-width and
control characters and look-alike letters, and duplicates. A name that reaches a certificate
subject (agency name and locality, official's name and title) now holds Latin (Vietnamese)
letters, digits, spaces and punctuation only (400 name-characters-not-allowed), and two
agencies under one parent never share a name (409 agency-name-taken)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_user

pytestmark = pytest.mark.both_databases

PARENT = "000.00.00.H31"


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def ra(client: Any, services: Any) -> str:
    key = make_user(services, "ra", "ra-officer")
    assert client.post("/api/v1/admin/agencies", headers=H(key),
                       json={"code": PARENT, "name": "UBND THÀNH PHỐ HẢI PHÒNG"}).status_code == 201
    return key


BAD_NAMES = [
    "SỞ NỘI VỤ\u202e",             # right-to-left override
    "SỞ \u2067NỘI\u2069 VỤ",       # right-to-left isolate
    "SỞ NỘI\u200b VỤ",             # zero-width space
    "SỞ NỘI\u200d VỤ",             # zero-width joiner
    "SỞ NỘI VỤ\u200f",             # right-to-left mark
    "SỞ NỘI VỤ\x07",               # control character
    "SỞ NỘI\x85VỤ",               # C1 control (next line)
    "SỞ NỘI\u00a0VỤ",              # no-break space
    "S\u041e TÀI CHÍNH",           # Cyrillic O among Latin letters
    "СО ТАИ ЦХИНХ",                # all Cyrillic
    "ＳỞ NỘI VỤ",                  # fullwidth S
    "\U0001d412Ở NỘI VỤ",          # mathematical bold S
    "SỞ NỘI VỤ \u05d0",            # Hebrew letter
    "SỞ NỘI VỤ \u0661",            # Arabic-Indic digit
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_agency_name_characters(client: Any, ra: str, name: str) -> None:
    r = client.post("/api/v1/admin/agencies", headers=H(ra),
                    json={"code": "000.00.12.H31", "name": name, "parent_code": PARENT})
    assert r.status_code == 400 and r.get_json()["code"] == "name-characters-not-allowed", (name, r.get_json())


@pytest.mark.parametrize("name", ["SỞ NỘI VỤ", "Ủy ban nhân dân phường Đằng Giang",
                                  "Sở Thông tin và Truyền thông (Sở TT&TT) - Chi cục 2"])
def test_vietnamese_names_pass(client: Any, ra: str, name: str) -> None:
    r = client.post("/api/v1/admin/agencies", headers=H(ra),
                    json={"code": "000.00.12.H31", "name": name, "parent_code": PARENT, "locality": "Hải Phòng"})
    assert r.status_code == 201, r.get_json()


def test_rename_locality_and_officials_checked_too(client: Any, ra: str) -> None:
    assert client.post("/api/v1/admin/agencies", headers=H(ra),
                       json={"code": "000.00.12.H31", "name": "SỞ NỘI VỤ", "parent_code": PARENT}).status_code == 201
    for body in ({"name": "SỞ NỘI VỤ\u202e"}, {"locality": "Hải\u200bPhòng"}):
        r = client.patch("/api/v1/admin/agencies/000.00.12.H31", headers=H(ra), json=body)
        assert r.status_code == 400 and r.get_json()["code"] == "name-characters-not-allowed", body
    for body in ({"full_name": "Nguyễn Văn\u200d An"}, {"full_name": "Nguyễn Văn An", "title": "Giám đốc\u202e"},
                 {"full_name": "Nguy\u0435n Văn An"}):
        r = client.post("/api/v1/admin/officials", headers=H(ra), json={"agency_code": "000.00.12.H31", **body})
        assert r.status_code == 400 and r.get_json()["code"] == "name-characters-not-allowed", body
    r = client.post("/api/v1/admin/officials", headers=H(ra),
                    json={"agency_code": "000.00.12.H31", "full_name": "Nguyễn Văn An", "title": "Giám đốc"})
    assert r.status_code == 201
    r = client.patch(f"/api/v1/admin/officials/{r.get_json()['id']}", headers=H(ra),
                     json={"full_name": "Nguyễn Văn\u202e An"})
    assert r.status_code == 400 and r.get_json()["code"] == "name-characters-not-allowed"


def test_duplicate_agency_names(client: Any, ra: str) -> None:
    assert client.post("/api/v1/admin/agencies", headers=H(ra),
                       json={"code": "000.00.12.H31", "name": "SỞ NỘI VỤ", "parent_code": PARENT}).status_code == 201
    for same in ("SỞ NỘI VỤ", "Sở Nội Vụ", "SO NOI VU", "  sở   nội vụ "):
        r = client.post("/api/v1/admin/agencies", headers=H(ra),
                        json={"code": "000.00.13.H31", "name": same, "parent_code": PARENT})
        assert r.status_code == 409 and r.get_json()["code"] == "agency-name-taken", (same, r.get_json())
    # Another name, then renamed into the first one's: refused too.
    assert client.post("/api/v1/admin/agencies", headers=H(ra),
                       json={"code": "000.00.13.H31", "name": "SỞ TÀI CHÍNH", "parent_code": PARENT}).status_code == 201
    r = client.patch("/api/v1/admin/agencies/000.00.13.H31", headers=H(ra), json={"name": "Sở Nội vụ"})
    assert r.status_code == 409 and r.get_json()["code"] == "agency-name-taken"
    # Under another parent the same name is another agency (its seal reads O=that parent).
    r = client.post("/api/v1/admin/agencies", headers=H(ra), json={"code": "H27.01", "name": "SỞ NỘI VỤ"})
    assert r.status_code == 201, r.get_json()
