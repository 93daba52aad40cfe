"""The registry: agencies, officials, and the agencies each API client may act for.

Vietnamese text is stored NFC; a folded copy (no diacritics, lower case, đ -> d) makes
"so noi vu" find "Sở Nội vụ".
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kyso import audit, policy
from kyso.callers import Caller, Role, User
from kyso.db import Base, UTCDateTime, utcnow
from kyso.errors import BadRequest, Conflict, Forbidden, NotFound
from kyso.limits import as_id, check_length


class AgencyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # may become active again
    DISSOLVED = "dissolved"  # final


class OfficialStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


AGENCY_STATUSES = tuple(AgencyStatus)


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(35), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    name_folded: Mapped[str] = mapped_column(String(300), nullable=False, index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    locality: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    tax_code: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=AgencyStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Official(Base):
    __tablename__ = "officials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_folded: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), nullable=False, index=True)
    citizen_id: Mapped[str] = mapped_column(String(12), nullable=False, default="")
    email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=OfficialStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ClientAgency(Base):
    """An API client (a user with role ``client``) may act for this agency."""

    __tablename__ = "client_agencies"
    __table_args__ = (UniqueConstraint("user_id", "agency_id", name="uq_client_agencies_user_agency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), nullable=False)


# -- text --------------------------------------------------------------------

def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def fold(text: str) -> str:
    """Lower case without diacritics: 'Sở Nội vụ' -> 'so noi vu'."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(text.lower().split())


class NameCharactersNotAllowed(BadRequest):
    code = "name-characters-not-allowed"

    def __init__(self, field: str) -> None:
        super().__init__(
            f"'{field}' may hold Latin (Vietnamese) letters, digits, spaces and punctuation only: no "
            "invisible, control or direction-changing characters, and no letters of other scripts",
            f"'{field}' chỉ được gồm chữ Latinh (tiếng Việt), chữ số, dấu cách và dấu câu: không có ký tự "
            "ẩn, ký tự điều khiển, ký tự đổi chiều viết hay chữ của hệ chữ khác",
            extra={"field": field})


def check_name_characters(value: str, field: str) -> str:
    """A name that goes into certificates and onto documents reads as what it is: no control,
    format (zero-width, bidi overrides and isolates, marks) or unusual space characters, and
    letters of the Latin script only (Vietnamese is written in it), so that neither mixed
    scripts nor look-alike letters (Cyrillic 'О', fullwidth or mathematical forms) pass."""
    for c in value:
        category = unicodedata.category(c)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and c != " "):
            raise NameCharactersNotAllowed(field)
        if unicodedata.bidirectional(c) in ("R", "AL", "AN"):
            raise NameCharactersNotAllowed(field)
        if category[0] == "L" and not unicodedata.name(c, "").startswith("LATIN "):
            raise NameCharactersNotAllowed(field)
    return value


def _name(value: Any, field: str, *, required: bool = True, max_len: int = 300) -> str:
    """Text for a name that reaches a certificate subject (agency, official, title, locality)."""
    if isinstance(value, str):
        check_name_characters(nfc(value), field)
    return _text(value, field, required=required, max_len=max_len)


def _text(value: Any, field: str, *, required: bool = True, max_len: int = 300) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadRequest(f"'{field}' must be text", f"'{field}' phải là chuỗi ký tự",
                         extra={"field": field})
    value = nfc(value)
    if required and not value:
        raise BadRequest(f"'{field}' is required", f"thiếu '{field}'", extra={"field": field})
    check_length(value, field, max_len)  # max_len is the column's length: 400 value-too-long
    if any(ord(c) < 32 for c in value):
        raise BadRequest(f"'{field}' must be at most {max_len} printable characters",
                         f"'{field}' tối đa {max_len} ký tự in được", extra={"field": field})
    return value


# -- agency codes (Decision 20/2020/QĐ-TTg, amended by 09/2025/QĐ-TTg) ---------

class InvalidAgencyCode(BadRequest):
    code = "agency-code-invalid"

    def __init__(self, value: str) -> None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        super().__init__(
            f"'{shown}' is not an agency electronic identification code (at most 35 characters "
            "of 0-9, A-Z and '.', e.g. 000.00.00.H26 or H27.01)",
            f"'{shown}' không phải mã định danh điện tử của cơ quan (tối đa 35 ký tự 0-9, A-Z "
            "và '.', ví dụ 000.00.00.H26 hoặc H27.01)",
        )


def validate_agency_code(value: Any, level1_letters: str = "GHK") -> str:
    """Accept both forms in use: right-to-left ``000.00.00.H26`` (level-1 code last) and
    left-to-right ``H27.01`` (level-1 code first)."""
    if not isinstance(value, str):
        raise InvalidAgencyCode(str(value))
    code = value.strip()
    if not (1 <= len(code) <= 35) or not re.fullmatch(r"[0-9A-Z]+(\.[0-9A-Z]+)*", code):
        raise InvalidAgencyCode(code)
    level1 = rf"[{re.escape(level1_letters)}][0-9]{{2}}"
    old_form = re.fullmatch(rf"([0-9A-Z]{{2,3}}\.)+{level1}", code)
    new_form = re.fullmatch(rf"{level1}(\.[0-9A-Z]{{2,3}})*", code)
    if not (old_form or new_form):
        raise InvalidAgencyCode(code)
    return code


# -- agencies -------------------------------------------------------------------

@dataclass(frozen=True)
class AgencyView:
    id: int
    code: str
    name: str
    parent_code: str | None
    locality: str
    tax_code: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def agency_view(session: Session, a: Agency) -> AgencyView:
    parent = session.get(Agency, a.parent_id) if a.parent_id else None
    return AgencyView(a.id, a.code, a.name, parent.code if parent else None, a.locality,
                      a.tax_code, a.status)


class AgencyNotFound(NotFound):
    code = "agency-not-found"

    def __init__(self, code: str) -> None:
        super().__init__(f"no agency with code '{code}'", f"không có cơ quan mã '{code}'")


class AgencyDissolved(Conflict):
    code = "agency-dissolved"

    def __init__(self, code: str) -> None:
        super().__init__(f"agency '{code}' is dissolved; dissolution is final",
                         f"cơ quan '{code}' đã giải thể; không thể khôi phục")


def get_agency(session: Session, code: str) -> Agency:
    row = session.execute(select(Agency).where(Agency.code == code.strip())).scalar_one_or_none()
    if row is None:
        raise AgencyNotFound(code)
    return row


def _tax_code(value: Any) -> str:
    text = _text(value, "tax_code", required=False, max_len=20)
    if text and not re.fullmatch(r"[0-9]{10}(-[0-9]{3})?", text):
        raise BadRequest("'tax_code' must be 10 digits, optionally -NNN (branch)",
                         "'tax_code' phải gồm 10 chữ số, có thể thêm -NNN (chi nhánh)")
    return text


def create_agency(session: Session, data: dict[str, Any], *, actor: str, level1_letters: str,
                  request_id: str = "") -> Agency:
    code = validate_agency_code(data.get("code"), level1_letters)
    if session.execute(select(Agency.id).where(Agency.code == code)).first():
        raise Conflict(f"agency code '{code}' is already registered",
                       f"mã cơ quan '{code}' đã được đăng ký", extra={"field": "code"})
    name = _name(data.get("name"), "name")
    parent_id = None
    if data.get("parent_code"):
        parent_id = get_agency(session, str(data["parent_code"])).id
    _refuse_duplicate_name(session, name, parent_id)
    agency = Agency(code=code, name=name, name_folded=fold(name), parent_id=parent_id,
                    locality=_name(data.get("locality"), "locality", required=False, max_len=200),
                    tax_code=_tax_code(data.get("tax_code")), status=AgencyStatus.ACTIVE)
    session.add(agency)
    session.flush()
    audit.record(session, actor=actor, action="agency.create", target=f"agency:{code}",
                 details={"name": name, "parent_id": parent_id}, request_id=request_id)
    return agency


class AgencyNameTaken(Conflict):
    code = "agency-name-taken"

    def __init__(self, other: str) -> None:
        super().__init__(f"agency '{other}' under the same parent already has this name",
                         f"cơ quan '{other}' cùng cấp trên đã mang tên này", extra={"field": "name"})


def _refuse_duplicate_name(session: Session, name: str, parent_id: int | None, self_id: int | None = None) -> None:
    """Two agencies under one parent (the O of a seal's subject) never share a name, compared
    without case or diacritics ('SỞ NỘI VỤ', 'Sở Nội Vụ', 'SO NOI VU'): their seals would read alike."""
    stmt = select(Agency).where(Agency.name_folded == fold(name),
                                Agency.parent_id.is_(None) if parent_id is None else Agency.parent_id == parent_id)
    for other in session.execute(stmt).scalars():
        if other.id != self_id:
            raise AgencyNameTaken(other.code)


def update_agency(session: Session, code: str, data: dict[str, Any], *, actor: str,
                  request_id: str = "") -> Agency:
    agency = get_agency(session, code)
    changes: dict[str, Any] = {}
    if "name" in data:
        agency.name = changes["name"] = _name(data["name"], "name")
        agency.name_folded = fold(agency.name)
    if "locality" in data:
        agency.locality = changes["locality"] = _name(data["locality"], "locality", required=False, max_len=200)
    if "tax_code" in data:
        agency.tax_code = changes["tax_code"] = _tax_code(data["tax_code"])
    if "status" in data:
        if data["status"] not in AGENCY_STATUSES:
            raise BadRequest(f"'status' must be one of {', '.join(AGENCY_STATUSES)}",
                             f"'status' phải là một trong {', '.join(AGENCY_STATUSES)}")
        if agency.status == AgencyStatus.DISSOLVED and data["status"] != AgencyStatus.DISSOLVED:
            raise AgencyDissolved(agency.code)
        agency.status = changes["status"] = data["status"]
    if "parent_code" in data:
        parent = get_agency(session, str(data["parent_code"])) if data["parent_code"] else None
        if parent is not None and parent.id == agency.id:
            raise BadRequest("an agency cannot be its own parent", "cơ quan không thể là cấp trên của chính nó")
        agency.parent_id = parent.id if parent else None
        changes["parent_code"] = parent.code if parent else None
    if "name" in data or "parent_code" in data:
        _refuse_duplicate_name(session, agency.name, agency.parent_id, agency.id)
    session.flush()
    audit.record(session, actor=actor, action="agency.update", target=f"agency:{agency.code}",
                 details=changes, request_id=request_id)
    return agency


def search_agencies(session: Session, query: str = "", limit: int = 100, *,
                    caller: Caller | None = None) -> list[Agency]:
    """Agencies by code or name; a client finds only the agencies it is bound to."""
    stmt = select(Agency).order_by(Agency.code).limit(min(max(limit, 1), 1000))
    if caller is not None and policy.agency_scoped(caller):
        stmt = stmt.where(Agency.id.in_(client_agency_ids(session, caller.user_id)))
    if query:
        folded = fold(query)
        stmt = stmt.where(or_(Agency.code.like(f"%{query.strip().upper()}%"),
                              Agency.name_folded.like(f"%{folded}%")))
    return list(session.execute(stmt).scalars())


# -- officials ------------------------------------------------------------------

@dataclass(frozen=True)
class OfficialView:
    id: int
    full_name: str
    title: str
    agency_code: str
    citizen_id: str
    email: str
    status: str

    def to_json(self, *, personal: bool = True) -> dict[str, Any]:
        """``personal=False`` leaves out the personal data (CCCD, e-mail)."""
        body = dict(self.__dict__)
        if not personal:
            for key in PERSONAL_FIELDS:
                body.pop(key)
        return body


# Who may read an official's personal data is the policy's Action.PERSONAL_DATA_READ: the
# staff who register officials and check their identity. Auditors and API clients see names,
# titles and agencies only.
PERSONAL_FIELDS = ("citizen_id", "email")
sees_personal_data = policy.sees_personal_data


def official_view(session: Session, o: Official) -> OfficialView:
    agency = session.get(Agency, o.agency_id)
    assert agency is not None
    return OfficialView(o.id, o.full_name, o.title, agency.code, o.citizen_id, o.email, o.status)


class OfficialNotFound(NotFound):
    code = "official-not-found"

    def __init__(self, official_id: Any) -> None:
        super().__init__(f"no official with id {official_id}", f"không có cán bộ với mã {official_id}")


def get_official(session: Session, official_id: Any) -> Official:
    oid = as_id(official_id)
    if oid is None:  # not an id, or beyond the id column (a 500 from the database before)
        raise OfficialNotFound(str(official_id)[:20])
    row = session.get(Official, oid)
    if row is None:
        raise OfficialNotFound(oid)
    return row


OFFICIAL_STATUSES = tuple(OfficialStatus)


def _citizen_id(value: Any) -> str:
    citizen_id = _text(value, "citizen_id", required=False, max_len=12)
    if citizen_id and not re.fullmatch(r"[0-9]{12}", citizen_id):
        raise BadRequest("'citizen_id' (CCCD) must be 12 digits", "'citizen_id' (CCCD) phải gồm 12 chữ số")
    return citizen_id


def _email(value: Any) -> str:
    email = _text(value, "email", required=False, max_len=254)
    if email and not re.fullmatch(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", email):
        raise BadRequest("'email' is not an e-mail address", "'email' không phải địa chỉ thư điện tử")
    return email


def create_official(session: Session, data: dict[str, Any], *, actor: str,
                    request_id: str = "") -> Official:
    agency = get_agency(session, str(data.get("agency_code") or ""))
    name = _name(data.get("full_name"), "full_name", max_len=200)
    official = Official(full_name=name, name_folded=fold(name),
                        title=_name(data.get("title"), "title", required=False, max_len=200),
                        agency_id=agency.id, citizen_id=_citizen_id(data.get("citizen_id")),
                        email=_email(data.get("email")))
    session.add(official)
    session.flush()
    audit.record(session, actor=actor, action="official.create", target=f"official:{official.id}",
                 details={"agency": agency.code, "full_name": name}, request_id=request_id)
    return official


def update_official(session: Session, official_id: Any, data: dict[str, Any], *, actor: str,
                    request_id: str = "") -> Official:
    """Edit an official (name, title, CCCD, e-mail) or deactivate / reactivate them
    (``status``: active | inactive). The audit names the fields changed, not personal values."""
    official = get_official(session, official_id)
    unknown = set(data) - {"full_name", "title", "citizen_id", "email", "status"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}",
                         f"trường không hợp lệ: {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {}
    if "full_name" in data:
        official.full_name = changes["full_name"] = _name(data["full_name"], "full_name", max_len=200)
        official.name_folded = fold(official.full_name)
    if "title" in data:
        official.title = changes["title"] = _name(data["title"], "title", required=False, max_len=200)
    if "citizen_id" in data:
        official.citizen_id = _citizen_id(data["citizen_id"])
        changes["citizen_id"] = "changed"
    if "email" in data:
        official.email = _email(data["email"])
        changes["email"] = "changed"
    if "status" in data:
        if data["status"] not in OFFICIAL_STATUSES:
            raise BadRequest(f"'status' must be one of {', '.join(OFFICIAL_STATUSES)}",
                             f"'status' phải là một trong {', '.join(OFFICIAL_STATUSES)}")
        changes["status"] = {"from": official.status, "to": data["status"]}
        official.status = data["status"]
    session.flush()
    audit.record(session, actor=actor, action="official.update", target=f"official:{official.id}",
                 details=changes, request_id=request_id)
    return official


def search_officials(session: Session, query: str = "", agency_code: str = "",
                     limit: int = 100, *, caller: Caller | None = None) -> list[Official]:
    """Officials by name and agency; a client finds only those of its own agencies."""
    stmt = select(Official).order_by(Official.id).limit(min(max(limit, 1), 1000))
    if query:
        stmt = stmt.where(Official.name_folded.like(f"%{fold(query)}%"))
    if agency_code:
        agency = get_agency(session, agency_code)
        if caller is not None:
            require_agency_scope(session, caller, agency)
        stmt = stmt.where(Official.agency_id == agency.id)
    if caller is not None and policy.agency_scoped(caller):
        stmt = stmt.where(Official.agency_id.in_(client_agency_ids(session, caller.user_id)))
    return list(session.execute(stmt).scalars())


def visible_official(session: Session, caller: Caller, official_id: Any) -> Official:
    """An official the caller may see; to a client, another agency's official does not exist."""
    official = get_official(session, official_id)
    if policy.agency_scoped(caller) and official.agency_id not in client_agency_ids(session, caller.user_id):
        raise OfficialNotFound(official.id)
    return official


# -- API clients and their agencies ---------------------------------------------------

def bind_client(session: Session, user_name: str, agency_code: str, *, actor: str,
                request_id: str = "") -> None:
    user = session.execute(select(User).where(User.name == nfc(user_name))).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user '{user_name}'", f"không có người dùng '{user_name}'")
    if user.role != Role.CLIENT.value:
        raise BadRequest("only users with role 'client' are bound to agencies",
                         "chỉ người dùng vai trò 'client' mới được gắn với cơ quan")
    agency = get_agency(session, agency_code)
    exists = session.execute(select(ClientAgency.id).where(
        ClientAgency.user_id == user.id, ClientAgency.agency_id == agency.id)).first()
    if not exists:
        session.add(ClientAgency(user_id=user.id, agency_id=agency.id))
        session.flush()
        audit.record(session, actor=actor, action="client.bind", target=f"user:{user.name}",
                     details={"agency": agency.code}, request_id=request_id)


def unbind_client(session: Session, user_name: str, agency_code: str, *, actor: str,
                  request_id: str = "") -> bool:
    """Take back a client's right to act for an agency. False when it had none."""
    user = session.execute(select(User).where(User.name == nfc(user_name))).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user '{user_name}'", f"không có người dùng '{user_name}'")
    agency = get_agency(session, agency_code)
    row = session.execute(select(ClientAgency).where(
        ClientAgency.user_id == user.id, ClientAgency.agency_id == agency.id)).scalar_one_or_none()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="client.unbind", target=f"user:{user.name}",
                 details={"agency": agency.code}, request_id=request_id)
    return True


def client_agency_ids(session: Session, user_id: int) -> set[int]:
    return set(session.execute(
        select(ClientAgency.agency_id).where(ClientAgency.user_id == user_id)).scalars())


class AgencyScopeDenied(Forbidden):
    code = "agency-not-bound"

    def __init__(self, code: str) -> None:
        super().__init__(f"this client may not act for agency '{code}'",
                         f"ứng dụng này không được thao tác cho cơ quan '{code}'")


def require_agency_scope(session: Session, caller: Caller, agency: Agency) -> None:
    """Clients act only for the agencies they are bound to; staff roles for any."""
    if policy.agency_scoped(caller) and agency.id not in client_agency_ids(session, caller.user_id):
        raise AgencyScopeDenied(agency.code)
