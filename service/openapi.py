"""The OpenAPI document: FastAPI's own, plus the bodies the routes read themselves.

The FHIR and CDS Hooks routes read and write JSON themselves (FHIR media
types, OperationOutcome errors), so FastAPI knows neither their request
bodies nor their answers, and documents a 422 validation error the service
never sends. :func:`install_openapi` completes the document: request bodies
(CDS Hooks request, feedback, ``Parameters`` for ``$apply``), the answer of
every endpoint, every error as an OperationOutcome (``default``), and the
search parameters of ``/fhir/{type}``. The schemas are deliberately loose
(extra properties allowed): they say what a client can rely on, and the
robustness tests (schemathesis) check every answer against them.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

FHIR_JSON = "application/fhir+json"
JSON = "application/json"
HOOKS = ["patient-view", "encounter-start", "order-select", "order-sign"]
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, dict] = {
    "OperationOutcome": {
        "type": "object", "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string", "minLength": 1},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                }}},
        },
    },
    "Resource": {
        "type": "object", "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]{1,63}$"},
                       "id": {"type": "string", "pattern": FHIR_ID}},
    },
    "Bundle": {
        "type": "object", "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {"type": "string"},
            "total": {"type": "integer", "minimum": 0},
            "link": {"type": "array", "items": {"type": "object", "required": ["relation", "url"],
                                                "properties": {"relation": {"type": "string"},
                                                               "url": {"type": "string"}}}},
            "entry": {"type": "array", "items": {"type": "object",
                                                 "properties": {"resource": _ref("Resource")}}},
        },
    },
    "CapabilityStatement": {
        "type": "object", "required": ["resourceType", "status", "kind", "fhirVersion"],
        "properties": {"resourceType": {"const": "CapabilityStatement"}, "status": {"type": "string"},
                       "kind": {"type": "string"}, "fhirVersion": {"type": "string"}},
    },
    "Parameters": {
        "type": "object", "required": ["resourceType", "parameter"],
        "properties": {
            "resourceType": {"const": "Parameters"},
            "parameter": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"enum": ["subject", "data", "encounter", "practitioner", "userLanguage"]},
                               "valueString": {"type": "string"}, "valueCode": {"type": "string"},
                               "resource": _ref("Resource")}}},
        },
    },
    "CarePlan": {
        "type": "object", "required": ["resourceType", "status", "intent", "subject"],
        "properties": {"resourceType": {"const": "CarePlan"}, "status": {"type": "string"},
                       "intent": {"type": "string"}, "subject": {"type": "object"},
                       "contained": {"type": "array", "items": _ref("Resource")}},
    },
    "HookRequest": {
        "type": "object", "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"enum": HOOKS},
            "hookInstance": {"type": "string", "minLength": 1},
            "fhirServer": {"type": "string", "format": "uri"},
            "fhirAuthorization": {
                "type": "object", "required": ["access_token", "token_type", "expires_in", "scope", "subject"],
                "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                               "expires_in": {"type": "integer", "minimum": 0}, "scope": {"type": "string"},
                               "subject": {"type": "string"}, "patient": {"type": "string"}}},
            "context": {
                "type": "object", "required": ["userId", "patientId"],
                "properties": {
                    "userId": {"type": "string",
                               "pattern": r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$"},
                    "patientId": {"type": "string", "pattern": FHIR_ID},
                    "encounterId": {"type": "string", "pattern": FHIR_ID},
                    "selections": {"type": "array", "items": {"type": "string"}},
                    "draftOrders": _ref("Bundle"),
                }},
            "prefetch": {"type": "object", "additionalProperties": {"anyOf": [_ref("Resource"), {"type": "null"}]}},
        },
    },
    "Card": {
        "type": "object", "required": ["summary", "indicator", "source"],
        "properties": {
            "uuid": {"type": "string"},
            "summary": {"type": "string", "minLength": 1, "maxLength": 140},
            "detail": {"type": "string"},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "source": {"type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}},
            "suggestions": {"type": "array", "items": {
                "type": "object", "required": ["label"],
                "properties": {"label": {"type": "string"}, "uuid": {"type": "string"},
                               "isRecommended": {"type": "boolean"},
                               "actions": {"type": "array", "items": {
                                   "type": "object", "required": ["type"],
                                   "properties": {"type": {"enum": ["create", "update", "delete"]}}}}}}},
            "selectionBehavior": {"enum": ["at-most-one", "any"]},
            "overrideReasons": {"type": "array", "items": {"type": "object"}},
            "links": {"type": "array", "items": {"type": "object", "required": ["label", "url", "type"]}},
        },
    },
    "HookResponse": {
        "type": "object", "required": ["cards"],
        "properties": {"cards": {"type": "array", "items": _ref("Card")},
                       "systemActions": {"type": "array", "items": {"type": "object"}}},
    },
    "Discovery": {
        "type": "object", "required": ["services"],
        "properties": {"services": {"type": "array", "items": {
            "type": "object", "required": ["hook", "id", "description"],
            "properties": {"hook": {"type": "string"}, "id": {"type": "string"}, "title": {"type": "string"},
                           "description": {"type": "string"},
                           "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
                           "usageRequirements": {"type": "string"}}}}},
    },
    "Feedback": {
        "type": "object", "required": ["feedback"],
        "properties": {"feedback": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["card", "outcome", "outcomeTimestamp"],
            "properties": {
                "card": {"type": "string"},
                "outcome": {"enum": ["accepted", "overridden"]},
                "outcomeTimestamp": {"type": "string", "format": "date-time"},
                "acceptedSuggestions": {"type": "array", "items": {
                    "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}},
                "overrideReason": {"type": "object", "properties": {
                    "reason": {"type": "object", "properties": {"code": {"type": "string"},
                                                                "system": {"type": "string"}}},
                    "userComment": {"type": "string"}}},
            }}}},
    },
    "FeedbackSummary": {
        "type": "object", "required": ["service", "cards"],
        "properties": {"service": {"type": "string"}, "cards": {"type": "array", "items": {
            "type": "object", "required": ["service", "kind", "shown", "accepted", "overridden", "override_reasons"],
            "properties": {"service": {"type": "string"}, "kind": {"type": ["string", "null"]},
                           "shown": {"type": "integer", "minimum": 0},
                           "accepted": {"type": "integer", "minimum": 0},
                           "overridden": {"type": "integer", "minimum": 0},
                           "override_reasons": {"type": "object",
                                                "additionalProperties": {"type": "integer", "minimum": 0}}}}}},
    },
    "Health": {
        "type": "object", "required": ["status", "version", "artifacts", "store"],
        "properties": {"status": {"const": "ok"}, "version": {"type": "string"},
                       "artifacts": {"type": "integer", "minimum": 0},
                       "store": {"enum": ["ok", "unavailable"]}},
    },
}

#: (method, path) → (request body schema or None, its media types, answer schema, answer media type)
OPERATIONS: dict[tuple[str, str], tuple[str | None, tuple[str, ...], str, str]] = {
    ("get", "/health"): (None, (), "Health", JSON),
    ("get", "/fhir/metadata"): (None, (), "CapabilityStatement", FHIR_JSON),
    ("get", "/fhir/{resource_type}"): (None, (), "Bundle", FHIR_JSON),
    ("get", "/fhir/{resource_type}/{resource_id}"): (None, (), "Resource", FHIR_JSON),
    ("post", "/fhir/PlanDefinition/{plan_id}/$apply"): ("Parameters", (FHIR_JSON, JSON), "CarePlan", FHIR_JSON),
    ("get", "/cds-services"): (None, (), "Discovery", JSON),
    ("post", "/cds-services/{service_id}"): ("HookRequest", (JSON,), "HookResponse", JSON),
    ("post", "/cds-services/{service_id}/feedback"): ("Feedback", (JSON,), "Empty", JSON),
    ("get", "/cds-services/{service_id}/feedback/summary"): (None, (), "FeedbackSummary", JSON),
}

SEARCH_PARAMETERS = [
    ("url", "string"), ("_id", "string"), ("version", "string"), ("name", "string"), ("status", "string"),
    ("_count", "integer"), ("_offset", "integer"), ("_summary", "string"),
]


def complete(document: dict, path_values: dict[str, list[str]] | None = None) -> dict:
    """Add bodies, answers, errors and search parameters to FastAPI's document (in place).

    `path_values`: path parameter name → the values this server knows (the
    service ids, the plan ids, the resource types of the knowledge), listed
    as the parameter's ``enum``.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(SCHEMAS)
    schemas["Empty"] = {"type": "object"}
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # the service answers 400 OperationOutcome, never FastAPI's 422
    error = {"description": "an error, as an OperationOutcome",
             "content": {FHIR_JSON: {"schema": _ref("OperationOutcome")}}}
    for (method, path), (body, body_types, answer, answer_type) in OPERATIONS.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        if body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {t: {"schema": _ref(body)} for t in body_types}}
        ok = operation.get("responses", {}).get("200", {})
        operation["responses"] = {
            "200": {"description": ok.get("description") or "Successful Response",
                    "content": {answer_type: {"schema": _ref(answer)}}},
            "default": error,
        }
        if method == "post":
            operation["responses"]["413"] = {**error, "description": "the body is larger than this route accepts "
                                             "(64 kB for the public self-check, 5 MB otherwise)"}
        if path.endswith("/$apply"):
            # only the anonymous plans (the patient self-check) are rate limited, per client address
            operation["responses"]["429"] = {
                **error, "description": "too many requests from this client for a public plan; try again later",
                "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}
        for parameter in operation.get("parameters", []):
            values = (path_values or {}).get(parameter["name"])
            if parameter.get("in") == "path" and values:
                parameter["schema"] = {**parameter.get("schema", {}), "enum": sorted(values)}
        if path.startswith("/fhir/") and method == "get":
            parameters = operation.setdefault("parameters", [])
            parameters.append({"name": "_format", "in": "query", "required": False, "schema": {"type": "string"}})
            if path == "/fhir/{resource_type}":
                parameters.extend({"name": n, "in": "query", "required": False, "schema": {"type": t, "minimum": 0}
                                   if t == "integer" else {"type": t}} for n, t in SEARCH_PARAMETERS)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json``."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            plans = sorted(app.state.engine.plans.plans)
            # CDS services: one per named-event trigger of a plan (discovery); $apply: every plan
            from service.cds_hooks.services import services as cds_services
            services = [s.id for s in cds_services(app.state.engine)]
            values = {"service_id": services, "plan_id": plans, "resource_type": app.state.knowledge.resource_types()}
            app.openapi_schema = complete(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes), values)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
