"""Read-only FHIR R4 REST API over the knowledge artifacts."""

from service.fhir_api.outcome import (
    FHIR_JSON,
    FHIRError,
    FHIRResponse,
    install_error_handlers,
    operation_outcome,
    outcome_response,
)
from service.fhir_api.routes import fhir_base, router

__all__ = [
    "FHIR_JSON",
    "FHIRError",
    "FHIRResponse",
    "fhir_base",
    "install_error_handlers",
    "operation_outcome",
    "outcome_response",
    "router",
]
