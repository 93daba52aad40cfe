"""From when a revocation counts against a signature (a compromised key from its invalidity
date or the certificate's start), and whether it precedes the signing time."""

from __future__ import annotations

import datetime as dt

from asn1crypto import x509

from verification.report import LOCAL


def revoked_from(cert: x509.Certificate, revoked_at: dt.datetime, reason: str | None,
                 ca_revoked: bool = False) -> dt.datetime:
    """From when a revocation counts against a signature. The revocation date, except for a
    compromised key: a signature's claimed time proves nothing, and whoever held the key
    could have made it at any time, so a keyCompromise (or caCompromise) revocation counts
    from its invalidity date when the CRL gives one (never later than the revocation), and
    without one from the start of the certificate's validity."""
    if reason not in ("key_compromise", "ca_compromise"):
        return revoked_at
    invalidity = None if ca_revoked else _invalidity_date(cert)
    if invalidity is not None:
        return min(invalidity, revoked_at)
    return min(cert.not_valid_before, revoked_at)


def revoked_when_signed(cert: x509.Certificate, revoked_from_: dt.datetime, signing_time: dt.datetime | None) -> bool:
    """Whether the revocation (counting from ``revoked_from_``) precedes the signing time. No
    signature is older than its certificate: a claimed time before notBefore counts as the
    certificate's start."""
    if signing_time is None:
        return True
    return revoked_from_ <= max(signing_time, cert.not_valid_before)


def _invalidity_date(cert: x509.Certificate) -> dt.datetime | None:
    """The invalidity date of the certificate's entry in a CRL this check knows (Kyso's own)."""
    for crl in getattr(LOCAL, "crls", ()):
        tbs = crl["tbs_cert_list"]
        if tbs["issuer"] != cert.issuer:
            continue
        for entry in tbs["revoked_certificates"]:
            if entry["user_certificate"].native == cert.serial_number:
                value = entry.invalidity_date_value
                return value.native if value is not None else None
    return None
