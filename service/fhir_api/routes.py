"""Read-only FHIR REST endpoints over the knowledge base, mounted at ``/fhir``."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from service.fhir_api.capability import capability_statement
from service.fhir_api.outcome import FHIRError, FHIRResponse
from service.knowledge import KnowledgeBase, UnsupportedSearchParameter

_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
_ANY = {"*/*", "application/*"}


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",")]


async def check_format(request: Request) -> None:
    """Only JSON is served: ``_format`` (or else ``Accept``) must allow it.

    ``async`` although it never awaits: FastAPI runs a plain ``def`` dependency in a worker
    thread, a thread hop (~0.1 ms of CPU) on every ``/fhir`` request for a few string tests."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if _media_types(fmt)[0] not in _JSON_FORMATS:
            raise FHIRError(
                406, "not-supported",
                f"_format '{fmt}' is not supported; only JSON is served",
                ["_format"],
            )
        return
    accept = request.headers.get("accept", "").strip()
    if accept and not any(
        t in _ANY or t in _JSON_FORMATS or t.endswith("+json")
        for t in _media_types(accept)
    ):
        raise FHIRError(
            406, "not-supported",
            "Accept header does not allow JSON; only application/fhir+json is served",
        )


router = APIRouter(prefix="/fhir", tags=["FHIR"], dependencies=[Depends(check_format)])


def _knowledge(request: Request) -> KnowledgeBase:
    return request.app.state.knowledge


def fhir_base(request: Request) -> str:
    """Public FHIR base url: ``NEKPIJN_BASE_URL`` + ``/fhir`` or from the request."""
    settings = getattr(request.app.state, "settings", None)
    base = getattr(settings, "base_url", None) or str(request.base_url)
    return base.rstrip("/") + "/fhir"


def _require_type(kb: KnowledgeBase, resource_type: str) -> None:
    if resource_type not in kb.resource_types():
        raise FHIRError(
            404, "not-supported",
            f"Resource type '{resource_type}' is not supported by this server; "
            f"supported types: {', '.join(kb.resource_types()) or 'none'}",
        )


def _non_negative(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise FHIRError(400, "invalid", f"{name} must be a non-negative integer", [name])
    return int(value)


@router.get("/metadata", summary="CapabilityStatement")
def metadata(request: Request) -> FHIRResponse:
    """The server's CapabilityStatement."""
    body = capability_statement(
        _knowledge(request), fhir_base(request), request.app.state.started
    )
    return FHIRResponse(body)


@router.get("/{resource_type}", summary="Search artifacts of a type")
def search(resource_type: str, request: Request) -> FHIRResponse:
    """Search-type interaction: a ``searchset`` Bundle."""
    kb = _knowledge(request)
    _require_type(kb, resource_type)
    criteria: dict[str, list[str]] = {}
    count, offset, summary_count = None, 0, False
    for name, value in request.query_params.multi_items():
        if name == "_format":
            continue
        elif name == "_count":
            count = _non_negative(name, value)
        elif name == "_offset":
            offset = _non_negative(name, value)
        elif name == "_summary" and value in ("count", "false"):
            summary_count = value == "count"
        else:
            criteria.setdefault(name, []).append(value)
    try:
        matches = kb.search(resource_type, criteria)
    except UnsupportedSearchParameter as exc:
        raise FHIRError(400, "not-supported", str(exc), [exc.name]) from None
    base = fhir_base(request)
    page = [] if summary_count else matches[offset:][:count]
    bundle: dict = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": _links(request, base, resource_type, offset, count, len(matches)),
    }
    if page:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource_type}/{res['id']}",
                "resource": res,
                "search": {"mode": "match"},
            }
            for res in page
        ]
    return FHIRResponse(bundle)


def _links(
    request: Request, base: str, rtype: str, offset: int, count: int | None, total: int
) -> list[dict]:
    """``self`` plus ``previous``/``next`` when ``_count`` pages the result."""
    query = request.url.query
    links = [{"relation": "self", "url": f"{base}/{rtype}" + (f"?{query}" if query else "")}]
    if not count:
        return links
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "_offset"]

    def page_url(start: int) -> str:
        return f"{base}/{rtype}?" + urlencode(kept + [("_offset", str(start))])

    if offset > 0:
        links.append({"relation": "previous", "url": page_url(max(offset - count, 0))})
    if offset + count < total:
        links.append({"relation": "next", "url": page_url(offset + count)})
    return links


@router.get("/{resource_type}/{resource_id}", summary="Read an artifact")
def read(resource_type: str, resource_id: str, request: Request) -> FHIRResponse:
    """Read interaction: the artifact JSON exactly as packaged."""
    kb = _knowledge(request)
    _require_type(kb, resource_type)
    resource = kb.get(resource_type, resource_id)
    if resource is None:
        raise FHIRError(404, "not-found", f"{resource_type}/{resource_id} is not known")
    return FHIRResponse(resource)
