"""The FHIR data of a hook call: prefetch first, the client's FHIR server for the rest.

`gather_resources(request, templates, settings)` applies CDS Hooks 2.0.1
§Providing FHIR Resources to every prefetch template of the service (`templates`:
prefetch key → template, from the discovery document):

=============================  ==============================================
prefetch key in the request    what happens
=============================  ==============================================
a resource                     used as is; a Bundle gives its entries' resources
a Bundle with a ``next`` link  its entries, plus the further pages fetched from
                               the FHIR server (the client paginated)
``null``                       "the client has no data": nothing, no fetch
absent                         fetched from ``fhirServer``
an OperationOutcome (or a      the client could not get the data: treated as
Bundle with an error outcome,  absent, i.e. fetched
or a resource of another type
than the template asks for)
=============================  ==============================================

A template whose token is valid for the hook but has no value in this call
(``{{context.encounterId}}`` in a patient-view without encounter,
``{{userPractitionerRoleId}}`` when the user is a Practitioner) cannot be
turned into a query: a client would have answered ``null``, and so does this
module (the key lands in ``skipped_keys``). A token the hook does not provide
at all (``{{context.draftOrders}}``, ``{{context.foo}}``) is a service
configuration error: :class:`TemplateError`.

Fetching: ``GET {fhirServer}/{expanded template}`` with ``Accept:
application/fhir+json`` and ``Authorization: Bearer <access_token>`` when the
call carries ``fhirAuthorization``; keys are fetched concurrently; every HTTP
request is bounded by ``settings.fetch_timeout`` (whole request, not per
socket operation), all of them together by ``settings.fetch_budget``; at most
``settings.fetch_max_pages`` ``next`` links are followed per search, and only
to URLs under ``fhirServer`` (the bearer token never goes to another server);
redirects are not followed; a page larger than ``max_page_bytes`` (5 MB) is
refused. Whenever a key must be fetched and cannot be (no ``fhirServer``,
timeout, connection error, HTTP status other than 2xx, a body that is not JSON
or not a FHIR resource, a read answered with another resource, a search not
answered with a searchset Bundle, an error OperationOutcome in the result, more
pages than allowed), :class:`PrefetchUnavailable` is raised and the caller
answers 412 Precondition Failed — with one neutral text (FETCH_FAILED) for every
failure of a fetch; the reason is logged.

The access token is only ever put into the ``Authorization`` header: it is
not logged, and it is in no message. Messages and log lines name the key, the
resource type and the interaction, never a URL or a patient id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin

import httpx

from service.cds_hooks.request import RESOURCE_TYPE, HookRequest

log = logging.getLogger("nekpijn_cds.hooks.fetch")

#: a page (one HTTP response body) larger than this is refused
MAX_PAGE_BYTES = 5_000_000
FHIR_JSON = "application/fhir+json"
TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
READ_PATH = re.compile(r"^(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})$")
PREFETCH_BUNDLE_TYPES = ("searchset", "collection")
ERROR_SEVERITIES = ("error", "fatal")


@functools.cache
def _ssl_context():
    """One TLS context for all calls (building one costs ~50-100 ms, a client with it < 1 ms)."""
    return httpx.create_ssl_context()


#: the one 412 text of a failed fetch: whatever went wrong (refused, timeout, HTTP status, not
#: FHIR…), the answer must not tell a closed port from an open one nor reveal anything else about
#: the network behind fhirServer (issue 14); the reason goes to the log only
FETCH_FAILED = ("the data this service needs could not be obtained from the FHIR server (fhirServer); "
                "the service log has the details")


class PrefetchUnavailable(Exception):
    """The data of a prefetch key can neither be taken from the call nor fetched (→ HTTP 412).

    `reason`: for the log (no URL, no token, no patient id); `public`: the text of the answer,
    FETCH_FAILED unless the call itself explains the failure (no fhirServer to fetch from)."""

    status = 412

    def __init__(self, key: str, reason: str, public: str | None = None):
        super().__init__(f"prefetch '{key}': {reason}")
        self.key, self.reason = key, reason
        self.public = public or FETCH_FAILED


class TemplateError(ValueError):
    """A prefetch template is not usable for the hook (a configuration error of the service)."""


@dataclass(frozen=True)
class Query:
    """A prefetch template with its tokens replaced: a relative FHIR read or search URL."""

    key: str
    url: str  # relative, e.g. "Observation?subject=Patient%2F123&code=..."
    resource_type: str
    read_id: str | None  # the id for an instance read; None for a type search

    @property
    def interaction(self) -> str:
        return f"{self.resource_type} {'read' if self.read_id else 'search'}"


@dataclass
class FetchResult:
    #: every resource, deduplicated by type/id (draft orders win over fetched copies)
    resources: list[dict] = field(default_factory=list)
    #: keys for which the FHIR server was asked (also a prefetched first page with more pages)
    fetched_keys: list[str] = field(default_factory=list)
    #: keys whose data came (at least its first page) from the call's prefetch
    prefetched_keys: list[str] = field(default_factory=list)
    #: keys the client sent as null ("no data")
    null_keys: list[str] = field(default_factory=list)
    #: keys not queried because a token has no value in this call → reason
    skipped_keys: dict[str, str] = field(default_factory=dict)
    #: prefetch values that could not be used (and were fetched instead) → reason
    unusable_prefetch: dict[str, str] = field(default_factory=dict)
    #: prefetch keys of the call that are no template of the service (ignored)
    ignored_keys: list[str] = field(default_factory=list)
    #: resources per template key (not deduplicated)
    by_key: dict[str, list[dict]] = field(default_factory=dict)
    #: the resources of context.draftOrders (order hooks)
    draft_orders: list[dict] = field(default_factory=list)
    #: HTTP requests made
    requests: int = 0
    #: milliseconds: "fetch.<key>" per fetched key, "total" for the whole gathering
    timings: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


def _template_parts(template: str) -> tuple[list[str], list[tuple[str, bool]]]:
    """(literal parts, (token name, in the query part)) of the stripped template: the literal
    text around each token, so that expanding is a join (TOKEN.sub with a callback was
    half of the prefetch handling's CPU). Kept per template text (a service's few templates).
    (As before: the query's start is found in the template as given, token places in the
    stripped one.)"""
    found = _PARTS.get(template)
    if found is None:
        literals: list[str] = []
        tokens: list[tuple[str, bool]] = []
        query_start = template.find("?")
        stripped = template.strip()
        last = 0
        for match in TOKEN.finditer(stripped):
            literals.append(stripped[last:match.start()])
            tokens.append((match.group(1), 0 <= query_start < match.start()))
            last = match.end()
        literals.append(stripped[last:])
        found = (literals, tokens)
        if len(_PARTS) < 1024:  # templates come from the service's configuration; bounded all the same
            _PARTS[template] = found
    return found


_PARTS: dict[str, tuple[list[str], list[tuple[str, bool]]]] = {}


def expand_template(key: str, template: str, request: HookRequest, *, valid: set[str] | None | bool = False,
                    values: dict[str, str] | None = None) -> Query | None:
    """Replace the prefetch tokens of `template`; None when a token has no value in this call.

    Token values are percent-encoded (in the path ``/`` is kept, so that
    ``{{context.userId}}`` can be a read such as ``Practitioner/123``). `valid` and `values`:
    the request's valid_tokens() and prefetch_tokens(), when the caller has them already.
    """
    if not isinstance(template, str) or not template.strip():
        raise TemplateError(f"prefetch template {key!r} is empty")
    if valid is False:
        valid = request.valid_tokens()
    if values is None:
        values = request.prefetch_tokens()
    missing = False
    literals, tokens = _template_parts(template)
    pieces = [literals[0]]
    for (name, in_query), literal in zip(tokens, literals[1:]):
        if valid is not None and name not in valid:
            raise TemplateError(f"prefetch template {key!r} uses {{{{{name}}}}}, which is not a prefetch token "
                                f"of hook {request.hook!r}")
        value = values.get(name)
        if value is None:
            missing = True
        else:
            pieces.append(quote(value, safe="" if in_query else "/"))
        pieces.append(literal)
    url = "".join(pieces)
    if "{{" in url or "}}" in url:
        raise TemplateError(f"prefetch template {key!r} has an unbalanced or empty token")
    if missing:
        return None
    path, _, _ = url.partition("?")
    read = READ_PATH.match(path)
    if read:
        if "?" in url:
            raise TemplateError(f"prefetch template {key!r}: a read takes no search parameters")
        return Query(key, url, read.group("type"), read.group("id"))
    if RESOURCE_TYPE.match(path):
        return Query(key, url, path, None)
    raise TemplateError(f"prefetch template {key!r} is neither a relative read ('Type/id') nor a type search "
                        f"('Type?params')")


# ---------------------------------------------------------------------------
# Bundles and outcomes
# ---------------------------------------------------------------------------


def _is_resource(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str) \
        and bool(RESOURCE_TYPE.match(value["resourceType"]))


def _has_error(outcome: dict) -> bool:
    issues = outcome.get("issue")
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ERROR_SEVERITIES for i in issues)


def _next_link(bundle: dict) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def _entries(bundle: dict) -> tuple[list[dict], str | None]:
    """(resources of a Bundle page, problem); OperationOutcome entries are dropped, errors reported."""
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return [], "its 'entry' is not an array"
    out = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not _is_resource(resource):
            return [], "an entry holds no FHIR resource"
        mode = (entry.get("search") or {}).get("mode") if isinstance(entry.get("search"), dict) else None
        if resource["resourceType"] == "OperationOutcome" or mode == "outcome":
            if resource["resourceType"] == "OperationOutcome" and _has_error(resource):
                return [], "it holds an OperationOutcome with an error"
            continue
        out.append(resource)
    return out, None


def _dedupe(groups: list[list[dict]], overriding: list[dict]) -> list[dict]:
    """One copy per type/id (first wins, but `overriding` replaces in place); id-less by content."""
    out: dict[object, dict] = {}
    for resource in [r for g in groups for r in g]:
        out.setdefault(_identity(resource), resource)
    for resource in overriding:
        out[_identity(resource)] = resource
    return list(out.values())


def _identity(resource: dict) -> object:
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return (resource["resourceType"], rid)
    return json.dumps(resource, sort_keys=True)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class _Fetcher:
    def __init__(self, request: HookRequest, client: httpx.AsyncClient, settings, max_page_bytes: int):
        self.base = request.fhir_server
        self.client = client
        self.timeout = float(settings.fetch_timeout)
        self.max_pages = int(settings.fetch_max_pages)
        self.max_bytes = max_page_bytes
        self.headers = {"Accept": FHIR_JSON}
        if request.fhir_authorization is not None:
            self.headers.update(request.fhir_authorization.header())
        self.requests = 0

    def under_base(self, url: str) -> bool:
        """Whether `url` is on the FHIR server of the call (same scheme, host, port, below its path)."""
        try:
            target, base = httpx.URL(url), httpx.URL(self.base)
        except (httpx.InvalidURL, ValueError):
            return False
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            return False
        prefix = base.path.rstrip("/")
        return target.path == prefix or target.path.startswith(prefix + "/") or (not prefix and target.path == "/")

    async def get(self, key: str, url: str, what: str) -> dict:
        """One GET, the body as a FHIR resource (dict), or PrefetchUnavailable."""
        self.requests += 1
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.stream("GET", url, headers=self.headers, follow_redirects=False,
                                              timeout=self.timeout) as response:
                    if not 200 <= response.status_code < 300:
                        raise PrefetchUnavailable(key, f"{what}: the FHIR server answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.max_bytes:
                        raise PrefetchUnavailable(key, f"{what}: the answer is larger than {self.max_bytes} bytes")
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise PrefetchUnavailable(key, f"{what}: the answer is larger than {self.max_bytes} bytes")
                        chunks.append(chunk)
        except TimeoutError:
            raise PrefetchUnavailable(key, f"{what}: no answer within {self.timeout:g} s") from None
        except httpx.TimeoutException:
            raise PrefetchUnavailable(key, f"{what}: no answer within {self.timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:  # refused/reset, protocol, bad URL
            raise PrefetchUnavailable(key, f"{what}: {type(exc).__name__}") from None
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError):
            raise PrefetchUnavailable(key, f"{what}: the answer is not JSON") from None
        if not _is_resource(body):
            raise PrefetchUnavailable(key, f"{what}: the answer is not a FHIR resource")
        if body["resourceType"] == "OperationOutcome":
            raise PrefetchUnavailable(key, f"{what}: the FHIR server answered with an OperationOutcome")
        return body

    async def run(self, query: Query, first_page: dict | None = None) -> list[dict]:
        """All resources of a query; with `first_page` (a prefetched page) only its further pages are fetched."""
        key, what = query.key, query.interaction
        if query.read_id is not None:
            body = await self.get(key, f"{self.base}/{query.url}", what)
            if body["resourceType"] != query.resource_type or body.get("id", query.read_id) != query.read_id:
                raise PrefetchUnavailable(key, f"{what}: the server answered with another resource")
            return [body]
        resources: list[dict] = []
        url = f"{self.base}/{query.url}"
        page = first_page
        followed, seen = 0, {url}
        while True:
            if page is None:
                page = await self.get(key, url, what)
                if page["resourceType"] != "Bundle" or page.get("type") != "searchset":
                    raise PrefetchUnavailable(key, f"{what}: the answer is not a searchset Bundle")
                found, problem = _entries(page)
                if problem:
                    raise PrefetchUnavailable(key, f"{what}: the searchset Bundle is unusable: {problem}")
                resources.extend(found)
            next_url = _next_link(page)
            if next_url is None:
                return resources
            if followed >= self.max_pages:
                raise PrefetchUnavailable(key, f"{what}: more than {self.max_pages} further pages")
            next_url = urljoin(url, next_url)
            if not self.under_base(next_url):
                raise PrefetchUnavailable(key, f"{what}: a 'next' link points outside the FHIR server")
            if next_url in seen:
                raise PrefetchUnavailable(key, f"{what}: the 'next' links go round in a circle")
            seen.add(next_url)
            followed += 1
            url, page = next_url, None


async def _all_or_nothing(jobs: dict[str, Awaitable[list[dict]]], budget: float) -> dict[str, list[dict]]:
    """Run the fetch jobs concurrently within `budget` seconds; the first failure (template order) wins."""
    tasks = {key: asyncio.ensure_future(job) for key, job in jobs.items()}
    if not tasks:
        return {}
    try:
        done, pending = await asyncio.wait(tasks.values(), timeout=budget, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        unfinished = [t for t in tasks.values() if not t.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
    failures = {key: task.exception() for key, task in tasks.items() if task in done and not task.cancelled()}
    for key in tasks:
        if failures.get(key) is not None:
            raise failures[key]
    if pending:
        late = [key for key, task in tasks.items() if task in pending]
        raise PrefetchUnavailable(", ".join(late), f"the fetch budget of {budget:g} s was used up")
    return {key: task.result() for key, task in tasks.items()}


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


async def gather_resources(request: HookRequest, templates: dict[str, str], settings,
                           client: httpx.AsyncClient | None = None, *,
                           max_page_bytes: int = MAX_PAGE_BYTES) -> FetchResult:
    """All FHIR resources the service's prefetch templates ask for, plus the draft orders of the call."""
    started = time.perf_counter()
    result = FetchResult(draft_orders=request.draft_orders)
    valid, values = request.valid_tokens(), request.prefetch_tokens()  # once for all templates
    queries = {key: expand_template(key, template, request, valid=valid, values=values)
               for key, template in templates.items()}
    result.ignored_keys = [k for k in request.prefetch if k not in templates]
    prefetched: dict[str, list[dict]] = {}
    to_fetch: dict[str, tuple[Query, dict | None]] = {}

    for key, query in queries.items():
        if key in request.prefetch:
            value = request.prefetch[key]
            if value is None:
                result.null_keys.append(key)
                continue
            resources, first_page, problem = _use_prefetch(value, query)
            if problem is None:
                prefetched[key] = resources
                result.prefetched_keys.append(key)
                if first_page is None:
                    continue
                if query is None:  # paged, but the template cannot be expanded: unreachable continuation
                    reason = "the prefetched Bundle has further pages that cannot be fetched"
                    raise PrefetchUnavailable(key, reason, f"required data could not be obtained: prefetch '{key}': "
                                                           f"{reason}")
                to_fetch[key] = (query, first_page)
                continue
            result.unusable_prefetch[key] = problem
        if query is None:
            result.skipped_keys[key] = "a prefetch token of the template has no value in this call"
            continue
        to_fetch[key] = (query, None)

    if to_fetch and request.fhir_server is None:
        key, (_, page) = next(iter(to_fetch.items()))
        what = "the prefetched Bundle has further pages" if page is not None else \
            ("the prefetched value is unusable" if key in result.unusable_prefetch else "not in the prefetch")
        reason = f"{what}, and the call gives no fhirServer to fetch from"
        raise PrefetchUnavailable(key, reason, f"required data could not be obtained: prefetch '{key}': {reason}")

    fetched: dict[str, list[dict]] = {}
    if to_fetch:
        own_client = client is None
        if own_client:
            client = httpx.AsyncClient(timeout=httpx.Timeout(float(settings.fetch_timeout)), follow_redirects=False,
                                       verify=_ssl_context())
        fetcher = _Fetcher(request, client, settings, max_page_bytes)

        async def timed(key: str, query: Query, first_page: dict | None) -> list[dict]:
            t0 = time.perf_counter()
            try:
                return await fetcher.run(query, first_page)
            finally:
                result.timings[f"fetch.{key}"] = round((time.perf_counter() - t0) * 1000, 1)

        try:
            fetched = await _all_or_nothing(
                {key: timed(key, query, page) for key, (query, page) in to_fetch.items()},
                float(settings.fetch_budget))
        except PrefetchUnavailable as exc:
            log.info("prefetch %s unavailable: %s", exc.key, exc.reason)
            raise
        finally:
            result.requests = fetcher.requests
            if own_client:
                await client.aclose()
        result.fetched_keys = list(to_fetch)

    for key in templates:
        result.by_key[key] = prefetched.get(key, []) + fetched.get(key, [])
    result.resources = _dedupe(list(result.by_key.values()), result.draft_orders)
    result.timings["total"] = round((time.perf_counter() - started) * 1000, 1)
    log.debug("prefetch: %d resources; prefetched %s, fetched %s, null %s, skipped %s; %d request(s), %.1f ms",
              len(result.resources), result.prefetched_keys, result.fetched_keys, result.null_keys,
              list(result.skipped_keys), result.requests, result.timings["total"])
    return result


def _use_prefetch(value: dict, query: Query | None) -> tuple[list[dict], dict | None, str | None]:
    """(resources, page to continue from or None, why the value is unusable or None) for one prefetch value."""
    rtype = value["resourceType"]
    if rtype == "OperationOutcome":
        return [], None, "the client sent an OperationOutcome"
    if rtype == "Bundle":
        if value.get("type") not in PREFETCH_BUNDLE_TYPES:
            return [], None, "a Bundle that is no searchset"
        resources, problem = _entries(value)
        if problem:
            return [], None, f"the Bundle is unusable: {problem}"
        if query is not None and query.read_id is not None:
            return resources, None, None  # a read answered as a Bundle: its entries
        return resources, (value if _next_link(value) else None), None
    if query is not None:
        if query.read_id is None:
            return [], None, f"a {rtype} where the template is a search (a Bundle is expected)"
        if rtype != query.resource_type:
            return [], None, f"a {rtype} where the template reads a {query.resource_type}"
        if value.get("id", query.read_id) != query.read_id:
            return [], None, f"a {rtype} with another id than the template reads"
    return [value], None, None
