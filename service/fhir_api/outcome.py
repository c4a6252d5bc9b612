"""OperationOutcome helpers and the FHIR JSON response class."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.jsonio import JSONAnswer

FHIR_JSON = "application/fhir+json; charset=utf-8"

#: HTTP status -> FHIR issue-type code, for errors raised outside our routes.
_STATUS_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
}


class FHIRResponse(JSONAnswer):
    """JSON response with media type ``application/fhir+json`` (rendered with orjson: service/jsonio.py)."""

    media_type = FHIR_JSON


class FHIRError(Exception):
    """An error to be returned to the client as an OperationOutcome."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        expression: Sequence[str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics
        self.expression = list(expression or [])


def operation_outcome(
    code: str,
    diagnostics: str,
    *,
    severity: str = "error",
    expression: Sequence[str] | None = None,
) -> dict:
    """Build an OperationOutcome with a single issue."""
    issue: dict = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(
    status: int,
    code: str,
    diagnostics: str,
    expression: Sequence[str] | None = None,
    headers: dict[str, str] | None = None,
) -> FHIRResponse:
    """An OperationOutcome as a FHIR JSON response with the given status."""
    body = operation_outcome(code, diagnostics, expression=expression)
    return FHIRResponse(body, status_code=status, headers=headers)


async def _fhir_error(_: Request, exc: FHIRError) -> FHIRResponse:
    return outcome_response(exc.status, exc.code, exc.diagnostics, exc.expression)


async def _http_error(_: Request, exc: StarletteHTTPException) -> FHIRResponse:
    code = _STATUS_CODES.get(exc.status_code, "processing")
    if exc.status_code == 404:
        detail = "No such endpoint"
    else:
        detail = str(exc.detail)
    return outcome_response(exc.status_code, code, detail, headers=exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> FHIRResponse:
    # Only locations and messages: never echo the (possibly sensitive) input.
    errors = exc.errors()
    locations = [".".join(str(p) for p in e.get("loc", ())) for e in errors]
    text = "; ".join(f"{loc}: {e.get('msg', 'invalid')}" for loc, e in zip(locations, errors))
    return outcome_response(400, "invalid", f"Invalid request: {text}", locations)


async def _public_busy(_: Request, exc: Exception) -> FHIRResponse:
    from service.store.offload import PublicBusy

    return outcome_response(503, "transient", "busy; please try again in a moment",
                            headers={"Retry-After": str(PublicBusy.retry_after)})


def install_error_handlers(app: FastAPI) -> None:
    """Make every handled error an OperationOutcome."""
    from service.store.offload import PublicBusy  # the public endpoints' pool is full (run_public)

    app.add_exception_handler(FHIRError, _fhir_error)
    app.add_exception_handler(PublicBusy, _public_busy)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
