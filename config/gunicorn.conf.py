"""gunicorn configuration, read from the same settings as the service itself.

No preload: every worker imports the app and opens its own PKCS#11 session after the fork,
as python-pkcs11 requires. Signing is serialised within a worker (see hsm/keystore.py), so
throughput comes from workers; a few threads per worker keep I/O-bound requests moving.
"""

from app.settings import load_settings

_settings = load_settings()

bind = _settings.server.bind
workers = _settings.server.workers
worker_class = "gthread"
threads = _settings.server.threads
preload_app = False
timeout = 60
graceful_timeout = 30
limit_request_line = 8190
accesslog = None  # the app writes its own JSON access log, with request ids
errorlog = "-"
loglevel = _settings.logging.level.lower()
proc_name = "kyso"
