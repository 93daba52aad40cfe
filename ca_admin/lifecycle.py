"""Certificate status changes as use cases, each written once for the HTTP API and the CLI:
the change (committed by the domain function), then the CRL and the OCSP answers that must
show it at once rather than at the next scheduled publication.

Before, each view and each command republished on its own, and one of them forgot (an
auto-approved rekey left the CRL stale). Republishing runs after the change committed: a
failure there (an HSM away) leaves the change in place, and the scheduled publication
catches up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ca_admin import crl, issuance, ocsp, revocation
from ca_admin.issuance import AgencyStatusChange, CertificateView, RequestView
from ca_admin.revocation import RevocationRequestView
from hsm import KeyStore
from kyso.callers import Caller
from kyso.settings import Settings

Issued = tuple[RequestView, CertificateView | None]


def republish(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
              changed: tuple[CertificateView, ...] | None = None) -> None:
    """A new CRL, and fresh OCSP answers for the certificates ``changed`` (all that are due
    when the changed certificates are not known: a rekey's predecessor)."""
    crl.publish_after_change(factory, keystore, settings)
    if changed is None:
        ocsp.refresh(factory, keystore, settings)
        return
    for view in changed:
        ocsp.refresh_after_change(factory, keystore, settings, view.serial, view.profile)


def revoke(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller, serial: str,
           reason: str, invalidity_date: dt.datetime | None = None, *,
           request_id: str = "") -> CertificateView | RevocationRequestView:
    """Revoke at once, or for the CA's own service certificates file a revocation request that
    a second CA admin approves (nothing to republish yet)."""
    result = revocation.revoke_or_request(factory, caller, serial, reason, invalidity_date, request_id=request_id)
    if isinstance(result, CertificateView):
        republish(factory, keystore, settings, (result,))
    return result


def approve_revocation(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
                       rid: int, *, request_id: str = "") -> CertificateView:
    view = revocation.approve(factory, caller, rid, request_id=request_id)
    republish(factory, keystore, settings, (view,))
    return view


def hold(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller, serial: str, *,
         request_id: str = "") -> CertificateView:
    view = issuance.hold(factory, caller, serial, request_id=request_id)
    republish(factory, keystore, settings, (view,))
    return view


def release(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller, serial: str, *,
            request_id: str = "") -> CertificateView:
    view = issuance.release(factory, caller, serial, request_id=request_id)
    republish(factory, keystore, settings, (view,))
    return view


def set_agency_status(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
                      code: str, status: str, *, revoke_certificates: bool = False,
                      request_id: str = "") -> AgencyStatusChange:
    """Activate, suspend or dissolve; with ``revoke_certificates`` on dissolution the agency's
    certificates are revoked (cessationOfOperation) in the same transaction."""
    change = issuance.set_agency_status(factory, caller, code, status, revoke_certificates=revoke_certificates,
                                        request_id=request_id)
    if change.revoked:
        republish(factory, keystore, settings, tuple(change.revoked))
    return change


def approve_request(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
                    rid: int, *, request_id: str = "") -> Issued:
    return _after_rekey(factory, keystore, settings,
                        issuance.approve(factory, keystore, settings, caller, rid, request_id=request_id))


def rekey(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller, serial: str,
          data: dict[str, Any], *, request_id: str = "") -> Issued:
    """A rekey request; issued at once when the profile is auto-approved."""
    return _after_rekey(factory, keystore, settings,
                        issuance.renew_or_rekey(factory, keystore, settings, caller, serial, "rekey", data,
                                                request_id=request_id))


def _after_rekey(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, pair: Issued) -> Issued:
    """A rekey that issued revoked its predecessor as superseded."""
    if pair[0].kind == "rekey" and pair[1] is not None:
        republish(factory, keystore, settings)
    return pair
