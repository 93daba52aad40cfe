"""The composition root: the one place that knows every package.

It builds the per-process services (``app.services``), the WSGI application and the ``kyso``
command line (``app.cli``), adding each domain's blueprints and commands. The platform
(``kyso``) imports no domain; the domains import each other only through their facades
(import-linter contracts in ``make lint``).
"""
