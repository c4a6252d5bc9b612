"""Validation of a CDS Hooks 2.0 service request (the POST body of a service call).

`parse_hook_request(body, service_hooks)` checks the body against CDS Hooks
2.0.1 §Calling a CDS Service and the context tables of the hooks library
(patient-view, encounter-start, order-select, order-sign, version 1.0.1) and
returns a :class:`HookRequest`; every problem is a :class:`HookRequestError`
(HTTP 400) naming the offending field in ``expression``.

Rules (spec text in brackets):

* ``hook``: required string, one of the hooks the called service is registered for.
* ``hookInstance``: required non-empty string [a UUID; not enforced].
* ``fhirServer``: optional absolute ``http(s)`` URL [CONDITIONAL: required with
  ``fhirAuthorization`` (invariant cds-r-1)]. Stored without a trailing slash.
* ``fhirAuthorization``: optional object with ``access_token``, ``token_type``
  (``Bearer``, case-insensitive), ``expires_in`` (a non-negative number),
  ``scope`` and ``subject`` (strings) and an optional ``patient`` string. A
  ``patient/`` scope without ``patient`` is only a warning (cds-r-2).
* ``context``: required object with the fields of the hook; ids are FHIR ids,
  ``userId`` is ``Practitioner|PractitionerRole|Patient|RelatedPerson/<id>``,
  ``selections`` an array of ``Type/id`` strings, ``draftOrders`` a Bundle
  whose entries hold resources. Unknown context fields are kept unchecked.
* ``prefetch``: optional object; every value is a FHIR resource (an object
  with a string ``resourceType``) or ``null`` ("the client has no data").

The access token never appears in a message, in ``repr()`` or in ``str()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
REFERENCE = re.compile(r"^(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})$")
USER_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")
#: prefetch user tokens (CDS Hooks 2.0 §Prefetch tokens identifying the user) by userId type
USER_TOKENS = {
    "Practitioner": "userPractitionerId",
    "PractitionerRole": "userPractitionerRoleId",
    "Patient": "userPatientId",
    "RelatedPerson": "userRelatedPersonId",
}


@dataclass(frozen=True)
class ContextField:
    name: str
    kind: str  # "user" | "id" | "reference" | "references" | "bundle" | "resources"
    required: bool
    token: bool  # usable as a prefetch token ({{context.<name>}})


def _fields(*specs: tuple[str, str, bool, bool]) -> dict[str, ContextField]:
    return {name: ContextField(name, kind, required, token) for name, kind, required, token in specs}


#: hooks library 1.0.1: context fields per hook (name, kind, required, prefetch token)
HOOK_CONTEXT: dict[str, dict[str, ContextField]] = {
    "patient-view": _fields(
        ("userId", "user", True, True),
        ("patientId", "id", True, True),
        ("encounterId", "id", False, True),
    ),
    "encounter-start": _fields(
        ("userId", "user", True, True),
        ("patientId", "id", True, True),
        ("encounterId", "id", True, True),
    ),
    "order-select": _fields(
        ("userId", "user", True, True),
        ("patientId", "id", True, True),
        ("encounterId", "id", False, True),
        ("selections", "references", True, False),
        ("draftOrders", "bundle", True, False),
    ),
    "order-sign": _fields(
        ("userId", "user", True, True),
        ("patientId", "id", True, True),
        ("encounterId", "id", False, True),
        ("draftOrders", "bundle", True, False),
    ),
    # further hooks of the library, for services that register them
    "order-dispatch": _fields(
        ("patientId", "id", True, True),
        ("dispatchedOrders", "references", True, False),  # "Yes" in the table, but an array is no token
        ("performer", "reference", True, True),
        ("fulfillmentTasks", "resources", False, False),
    ),
    "appointment-book": _fields(
        ("userId", "user", True, True),
        ("patientId", "id", True, True),
        ("encounterId", "id", False, True),
        ("appointments", "bundle", True, False),
    ),
    "encounter-discharge": _fields(
        ("userId", "user", True, True),
        ("patientId", "id", True, True),
        ("encounterId", "id", True, True),
    ),
}


class HookRequestError(Exception):
    """The request body is not a valid service call; `status` is the HTTP status (400)."""

    def __init__(self, status: int, message: str, expression: list[str] | None = None, code: str = "invalid"):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.expression = list(expression or [])


def _bad(message: str, *expression: str, code: str = "invalid") -> HookRequestError:
    return HookRequestError(400, message, list(expression), code)


def _kind(value: object) -> str:
    """JSON type name of a value, for messages (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


@dataclass(frozen=True)
class FhirAuthorization:
    """`fhirAuthorization`: the bearer token for the client's FHIR server (kept out of repr)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: float
    scope: str
    subject: str
    patient: str | None = None

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def __str__(self) -> str:
        return f"FhirAuthorization(subject={self.subject!r}, scope={self.scope!r}, access_token=***)"


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, dict | None] = field(default_factory=dict)
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = None
    #: non-fatal findings (e.g. cds-r-2), for logging
    warnings: tuple[str, ...] = ()

    # -- context shortcuts -------------------------------------------------
    @property
    def patient_id(self) -> str | None:
        value = self.context.get("patientId")
        return value if isinstance(value, str) else None

    @property
    def patient(self) -> str | None:
        """The patient reference ``Patient/{context.patientId}``."""
        return f"Patient/{self.patient_id}" if self.patient_id else None

    patient_reference = patient

    @property
    def user_id(self) -> str | None:
        value = self.context.get("userId")
        return value if isinstance(value, str) else None

    @property
    def encounter_id(self) -> str | None:
        value = self.context.get("encounterId")
        return value if isinstance(value, str) else None

    @property
    def encounter(self) -> str | None:
        """``Encounter/{context.encounterId}`` when the context has an encounter."""
        return f"Encounter/{self.encounter_id}" if self.encounter_id else None

    @property
    def practitioner(self) -> str | None:
        """The user as a reference when it is a Practitioner or PractitionerRole."""
        user = self.user_id
        if user and user.split("/", 1)[0] in ("Practitioner", "PractitionerRole"):
            return user
        return None

    @property
    def selections(self) -> list[str]:
        value = self.context.get("selections")
        return list(value) if isinstance(value, list) else []

    @property
    def draft_orders(self) -> list[dict]:
        """The resources of ``context.draftOrders`` (order hooks), in Bundle order."""
        bundle = self.context.get("draftOrders")
        if not isinstance(bundle, dict):
            return []
        return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]

    def prefetch_tokens(self) -> dict[str, str]:
        """Values of the prefetch tokens this request provides, by token name.

        ``context.<field>`` for every prefetch-token field of the hook present
        in the context (for a hook not in the library: every root-level
        primitive field), and the user tokens (``userPractitionerId``, ...)
        derived from ``context.userId``.
        """
        spec = HOOK_CONTEXT.get(self.hook)
        tokens: dict[str, str] = {}
        for name, value in self.context.items():
            if spec is not None:
                fld = spec.get(name)
                if fld is None or not fld.token:
                    continue
            if isinstance(value, bool):
                tokens[f"context.{name}"] = "true" if value else "false"
            elif isinstance(value, (str, int, float)):
                tokens[f"context.{name}"] = str(value)
        user = self.user_id
        match = REFERENCE.match(user) if user else None
        if match and match.group("type") in USER_TOKENS:
            tokens[USER_TOKENS[match.group("type")]] = match.group("id")
        return tokens

    def valid_tokens(self) -> set[str] | None:
        """All token names a template may use for this hook (None: any, unknown hook)."""
        spec = HOOK_CONTEXT.get(self.hook)
        if spec is None:
            return None
        return {f"context.{f.name}" for f in spec.values() if f.token} | set(USER_TOKENS.values())


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def parse_hook_request(body: object, service_hooks: list[str]) -> HookRequest:
    """Validate a CDS Hooks 2.0 service request for a service registered for `service_hooks`."""
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object, got {_kind(body)}", code="structure")
    warnings: list[str] = []

    hook = body.get("hook")
    if hook is None:
        raise _bad("'hook' is required", "hook", code="required")
    if not isinstance(hook, str) or not hook:
        raise _bad(f"'hook' must be a non-empty string, got {_kind(hook)}", "hook")
    if hook not in service_hooks:
        shown = hook if len(hook) <= 64 else hook[:64] + "…"
        raise _bad(f"this service is not registered for hook {shown!r}; it answers "
                   f"{', '.join(repr(h) for h in service_hooks) or 'no hook'}", "hook", code="not-supported")

    instance = body.get("hookInstance")
    if instance is None:
        raise _bad("'hookInstance' is required", "hookInstance", code="required")
    if not isinstance(instance, str) or not instance.strip():
        raise _bad(f"'hookInstance' must be a non-empty string (a UUID), got {_kind(instance) if not isinstance(instance, str) else 'an empty string'}",
                   "hookInstance")

    fhir_server = _fhir_server(body.get("fhirServer"))
    authorization = _authorization(body.get("fhirAuthorization"), warnings)
    if authorization is not None and fhir_server is None:
        raise _bad("'fhirAuthorization' is given without 'fhirServer' (cds-r-1: a fhirServer SHALL be specified)",
                   "fhirServer", code="required")

    context = body.get("context")
    if context is None:
        raise _bad("'context' is required", "context", code="required")
    if not isinstance(context, dict):
        raise _bad(f"'context' must be an object, got {_kind(context)}", "context")
    _check_context(hook, context, warnings)

    prefetch = _prefetch(body.get("prefetch"))
    return HookRequest(hook=hook, hook_instance=instance, context=context, prefetch=prefetch,
                       fhir_server=fhir_server, fhir_authorization=authorization, warnings=tuple(warnings))


def _fhir_server(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"'fhirServer' must be an absolute http(s) URL, got {_kind(value)}", "fhirServer")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _bad("'fhirServer' is not a valid URL", "fhirServer") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _bad("'fhirServer' must be an absolute http or https URL (the base of the client's FHIR server)",
                   "fhirServer")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _bad("'fhirServer' must be a plain base URL without query, fragment or credentials", "fhirServer")
    if any(c.isspace() for c in value.strip()):
        raise _bad("'fhirServer' must not contain white space", "fhirServer")
    return value.strip().rstrip("/")


def _authorization(value: object, warnings: list[str]) -> FhirAuthorization | None:
    if value is None:
        return None
    where = "fhirAuthorization"
    if not isinstance(value, dict):
        raise _bad(f"'fhirAuthorization' must be an object, got {_kind(value)}", where)
    # never put the values of this object into a message: they hold the token
    for name in ("access_token", "token_type", "scope", "subject"):
        if name not in value or value[name] is None:
            raise _bad(f"'fhirAuthorization.{name}' is required", f"{where}.{name}", code="required")
        if not isinstance(value[name], str) or not value[name].strip():
            raise _bad(f"'fhirAuthorization.{name}' must be a non-empty string, got {_kind(value[name])}",
                       f"{where}.{name}")
    if value["token_type"].strip().lower() != "bearer":
        raise _bad("'fhirAuthorization.token_type' must be 'Bearer'", f"{where}.token_type", code="value")
    if any(c.isspace() or not c.isprintable() for c in value["access_token"]):
        raise _bad("'fhirAuthorization.access_token' must not contain white space or control characters",
                   f"{where}.access_token", code="value")
    expires = value.get("expires_in")
    if expires is None:
        raise _bad("'fhirAuthorization.expires_in' is required", f"{where}.expires_in", code="required")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or expires < 0 or expires != expires:
        raise _bad(f"'fhirAuthorization.expires_in' must be a non-negative number of seconds, got {_kind(expires)}",
                   f"{where}.expires_in")
    patient = value.get("patient")
    if patient is not None and (not isinstance(patient, str) or not patient):
        raise _bad(f"'fhirAuthorization.patient' must be a string, got {_kind(patient)}", f"{where}.patient")
    if "patient/" in value["scope"] and patient is None:
        warnings.append("cds-r-2: fhirAuthorization has patient/ scopes but no 'patient'")
    return FhirAuthorization(access_token=value["access_token"], token_type="Bearer", expires_in=expires,
                             scope=value["scope"], subject=value["subject"], patient=patient)


def _check_context(hook: str, context: dict, warnings: list[str]) -> None:
    spec = HOOK_CONTEXT.get(hook)
    if spec is None:  # a hook outside the library: only the common patientId shape
        if "patientId" in context:
            _check_id(context["patientId"], "patientId", "Patient")
        return
    for fld in spec.values():
        where = f"context.{fld.name}"
        value = context.get(fld.name)
        if value is None:
            if fld.required:
                raise _bad(f"'{where}' is required for hook {hook!r}", where, code="required")
            continue
        if fld.kind == "id":
            _check_id(value, fld.name, "Patient" if fld.name == "patientId" else "Encounter")
        elif fld.kind == "user":
            _check_user(value)
        elif fld.kind == "reference":
            _check_reference(value, where)
        elif fld.kind == "references":
            _check_references(value, where)
        elif fld.kind == "resources":
            _check_resources(value, where)
        elif fld.kind == "bundle":
            _check_bundle(value, where)
    if "selections" in spec and "draftOrders" in spec:
        drafts = {f"{r.get('resourceType')}/{r.get('id')}"
                  for e in context["draftOrders"].get("entry") or [] if isinstance(r := e.get("resource"), dict)}
        missing = [s for s in context["selections"] if s not in drafts]
        if missing:
            warnings.append(f"order-select: {len(missing)} of the selections are not in context.draftOrders")


def _check_id(value: object, name: str, rtype: str) -> None:
    where = f"context.{name}"
    if not isinstance(value, str):
        raise _bad(f"'{where}' must be a string (a FHIR {rtype}.id), got {_kind(value)}", where)
    if not FHIR_ID.match(value):
        hint = f", not '{rtype}/…'" if value.startswith(f"{rtype}/") else ""
        raise _bad(f"'{where}' must be a FHIR id (1-64 of A-Z a-z 0-9 - .){hint}", where, code="value")


def _check_user(value: object) -> None:
    where = "context.userId"
    if not isinstance(value, str):
        raise _bad(f"'{where}' must be a string, got {_kind(value)}", where)
    match = REFERENCE.match(value)
    if not match or match.group("type") not in USER_TYPES:
        raise _bad(f"'{where}' must have the form [ResourceType]/[id] with a type of "
                   f"{', '.join(USER_TYPES)} (e.g. 'Practitioner/123')", where, code="value")


def _check_reference(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise _bad(f"'{where}' must be a string, got {_kind(value)}", where)
    if not REFERENCE.match(value):
        raise _bad(f"'{where}' must have the form [ResourceType]/[id] (e.g. 'Practitioner/456')", where, code="value")


def _check_resources(value: object, where: str) -> None:
    if not isinstance(value, list):
        raise _bad(f"'{where}' must be an array of FHIR resources, got {_kind(value)}", where)
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str) \
                or not RESOURCE_TYPE.match(item["resourceType"]):
            raise _bad(f"'{where}[{i}]' must be a FHIR resource (an object with a resourceType)", f"{where}[{i}]")


def _check_references(value: object, where: str) -> None:
    if not isinstance(value, list):
        raise _bad(f"'{where}' must be an array of strings, got {_kind(value)}", where)
    if not value:
        raise _bad(f"'{where}' must name at least one order", where, code="required")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(f"'{where}[{i}]' must be a string, got {_kind(item)}", f"{where}[{i}]")
        if not REFERENCE.match(item):
            raise _bad(f"'{where}[{i}]' must have the form [ResourceType]/[id] (e.g. 'ServiceRequest/123')",
                       f"{where}[{i}]", code="value")


def _check_bundle(value: object, where: str) -> None:
    if not isinstance(value, dict):
        raise _bad(f"'{where}' must be a FHIR Bundle object, got {_kind(value)}", where)
    if value.get("resourceType") != "Bundle":
        raise _bad(f"'{where}' must be a FHIR Bundle (resourceType 'Bundle')", f"{where}.resourceType")
    entries = value.get("entry", [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise _bad(f"'{where}.entry' must be an array, got {_kind(entries)}", f"{where}.entry")
    for i, entry in enumerate(entries):
        at = f"{where}.entry[{i}]"
        if not isinstance(entry, dict):
            raise _bad(f"'{at}' must be an object, got {_kind(entry)}", at)
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) \
                or not RESOURCE_TYPE.match(resource["resourceType"]):
            raise _bad(f"'{at}.resource' must be a FHIR resource (an object with a resourceType)", f"{at}.resource")
        rid = resource.get("id")
        if rid is not None and (not isinstance(rid, str) or not FHIR_ID.match(rid)):
            raise _bad(f"'{at}.resource.id' must be a FHIR id", f"{at}.resource.id", code="value")


def _prefetch(value: object) -> dict[str, dict | None]:
    if value is None:  # absent (a null `prefetch` is read as absent: nothing was prefetched)
        return {}
    if not isinstance(value, dict):
        raise _bad(f"'prefetch' must be an object, got {_kind(value)}", "prefetch")
    out: dict[str, dict | None] = {}
    for key, item in value.items():
        where = f"prefetch.{key}"
        if item is None:
            out[key] = None
            continue
        if not isinstance(item, dict):
            raise _bad(f"'{where}' must be a FHIR resource or null, got {_kind(item)}", where)
        rtype = item.get("resourceType")
        if not isinstance(rtype, str) or not RESOURCE_TYPE.match(rtype):
            raise _bad(f"'{where}' must be a FHIR resource (an object with a resourceType) or null",
                       f"{where}.resourceType")
        if rtype == "Bundle" and item.get("entry") is not None and not isinstance(item["entry"], list):
            raise _bad(f"'{where}.entry' must be an array", f"{where}.entry")
        out[key] = item
    return out
