"""The OpenAPI 3.1 document, built from the registered routes so it cannot drift from them.

Each operation lists the roles that may call it (``x-kyso-roles``) and the policy action that
gives them (``x-kyso-action``, kyso.policy), its security (bearer API
key unless public) and the problem+json error responses every endpoint shares.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from kyso import __version__

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail", "detail_vi"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable machine code"},
        "detail": {"type": "string", "description": "English"},
        "detail_vi": {"type": "string", "description": "Vietnamese"},
        "instance": {"type": "string"},
    },
}


def build(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        params = [{"name": n, "in": "path", "required": True,
                   "schema": {"type": "integer" if f"<int:{n}>" in rule.rule else "string"}}
                  for n in re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule.rule)]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            public = getattr(view, "_kyso_public", False)
            allowed = sorted(r.value for r in getattr(view, "_kyso_roles", ()))
            doc = (view.__doc__ or rule.endpoint.replace("_", " ")).strip().splitlines()[0]
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": doc,
                "parameters": params,
                "responses": {
                    "200": {"description": "success"},
                    "default": {"description": "error",
                                "content": {"application/problem+json": {"schema": PROBLEM}}},
                },
            }
            if method == "POST":
                op["responses"]["201"] = {"description": "created"}
                op["requestBody"] = {"required": False,
                                     "content": {"application/json": {"schema": {"type": "object"}}}}
            if public:
                op["security"] = []
            else:
                op["x-kyso-roles"] = allowed
                action = getattr(view, "_kyso_action", None)
                if action is not None:
                    op["x-kyso-action"] = action.value
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kyso", "version": __version__,
                 "description": "Certificate authority and signing service (ký số) for the "
                                "city's state agencies. Errors are RFC 9457 problem+json."},
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "kyso_<id>_<secret> API key"}},
            "schemas": {"Problem": PROBLEM},
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }
