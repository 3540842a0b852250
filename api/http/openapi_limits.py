"""The OpenAPI schema states the request limits the settings impose, not only the fixed ones.

``k`` and the facts are bounded by ``LEIAN_MAX_K`` and ``LEIAN_MAX_FACTS_CHARS``, which an operator
may change, so the models cannot carry them; a client or a fuzzer reading /openapi.json must still
learn them. The limits are written into the generated schema once, for the app's own settings, and
the service refuses anything beyond them with the same 422 the schema announces.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.service.config import Settings

_BODY_LIMITS = {
    ("SearchBody", "k"): ("maximum", "max_k"),
    ("SearchBody", "facts"): ("maxLength", "max_facts_chars"),
    ("BatchBody", "k"): ("maximum", "max_k"),
    ("PendingCaseBody", "facts"): ("maxLength", "max_facts_chars"),
}
_QUERY_LIMITS = {("/api/v1/cases/{doc_id}/similar", "get", "k"): ("maximum", "max_k")}


def with_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``schema`` with the settings' limits written into the request bodies and query parameters."""
    models = schema.get("components", {}).get("schemas", {})
    for (model, field), (keyword, setting) in _BODY_LIMITS.items():
        properties = models.get(model, {}).get("properties", {})
        if field in properties:
            properties[field][keyword] = getattr(settings, setting)
    for (path, method, name), (keyword, setting) in _QUERY_LIMITS.items():
        operation = schema.get("paths", {}).get(path, {}).get(method, {})
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == name and parameter.get("in") == "query":
                parameter["schema"][keyword] = getattr(settings, setting)
    return schema


def declare_limits(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` (hence /openapi.json and /docs) carry ``settings``' limits."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_limits(FastAPI.openapi(app), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
