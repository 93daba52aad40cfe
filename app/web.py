"""The application factory: ``create_app(settings)``, what gunicorn serves.

No configuration is read at import time. The same factory builds the full service or, with
``public_only=True``, an app with only the public endpoints (health, CA certificates, CRL,
OCSP, TSA and verification) for hosts behind a CDN.
"""

from __future__ import annotations

from flask import Flask

from app.services import build_services
from app.settings import load_settings
from axis.views import register as register_axis
from ca_admin.views import register as register_ca
from kyso.app import platform_app
from kyso.services import Services
from kyso.settings import Settings
from signer.report_pdf import sealed
from signer.signing import document_limit
from signer.views import register as register_signer
from verification.views import register as register_verification


def create_app(
    settings: Settings | None = None,
    *,
    public_only: bool | None = None,
    services: Services | None = None,
    configure_logging: bool = True,
) -> Flask:
    settings = settings or load_settings()
    if public_only is None:
        public_only = settings.server.public_only
    app = platform_app(settings, services or build_services(settings), public_only=public_only,
                       configure_logging=configure_logging)
    register_ca(app, public_only=public_only)
    register_signer(app, public_only=public_only)
    register_verification(app, public_only=public_only, report_pdf=sealed, document_limit=document_limit)
    register_axis(app, public_only=public_only)
    return app
