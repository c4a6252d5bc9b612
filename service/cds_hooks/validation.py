"""Which resource of a hook call is not valid FHIR R4 — asked only when the engine could not read them.

The prefetch, the fetched resources and the judged ``context.draftOrders`` reach the
engine as the client sent them. ``$apply`` validates its ``Parameters``
(and so every resource in it) up front; a hook call does not, as that costs
about 10 ms per call on well-formed data. When the engine fails on the data
instead, :func:`invalid_resource` validates every resource with the R4B
models and names the first invalid one: a client error (400) for the
prefetch and the context, 412 for what came from the FHIR server. When all
are valid, the failure is the service's own (a bug: 500, logged).

Messages name the place (prefetch key, entry index, element path) and the
kind of problem, never a value (it may be patient data).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from service.cds_hooks.fetch import FetchResult


@dataclass(frozen=True)
class InvalidData:
    status: int  # 400: sent by the client; 412: fetched from its FHIR server
    message: str
    expression: list[str]


def fhir_problem(resource: object) -> str | None:
    """Why `resource` is not a valid FHIR R4 resource (no values), or None."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return "not a FHIR resource"
    try:
        from fhir.resources.R4B import get_fhir_model_class  # imported on first use: ~0.15 s of start-up
        model = get_fhir_model_class(resource["resourceType"])
    except (KeyError, ValueError):
        return "an unknown resourceType"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error.get("loc", ()))[:200]
        return f"{location or 'the resource'}: {error.get('msg', 'invalid')}"
    except (TypeError, ValueError, KeyError, RecursionError):  # fhir.resources on unknown nested types
        return "invalid FHIR content"
    return None


def invalid_resource(fetched: FetchResult, orders: list[dict] | None = None) -> InvalidData | None:
    """The first resource of the call that is not valid FHIR R4, or None when all are.

    `orders`: the draft orders the call judges (default: every draft order); draft orders of
    unchecked types are never validated (decision-logic §11 v2, `draft_orders`)."""
    groups = [("context.draftOrders", fetched.draft_orders if orders is None else orders, 400)]
    groups += [(f"prefetch.{key}", resources, 412 if key in fetched.fetched_keys else 400)
               for key, resources in fetched.by_key.items()]
    for where, resources, status in groups:
        for i, resource in enumerate(resources):
            problem = fhir_problem(resource)
            if problem is not None:
                origin = "fetched from the FHIR server" if status == 412 else "in the request"
                rtype = resource.get("resourceType") if isinstance(resource, dict) else None
                kind = f" ({rtype})" if isinstance(rtype, str) and rtype.isalpha() and len(rtype) < 64 else ""
                return InvalidData(status, f"{where}, resource {i + 1}{kind}, {origin}, is not valid FHIR R4: "
                                           f"{problem}", [where])
    return None
