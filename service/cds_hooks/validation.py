"""The invalid-data policy on hook calls (the same as `$apply`'s: service/fhir_api/invalid_data.py).

Every resource that reaches the engine — the prefetch, the fetched resources and the judged
``context.draftOrders`` — is validated before the evaluation (`fhir_problem`: the R4B
models' verdict, given by the fast acceptor service/fhir_api/r4_check.py for what they
surely accept). A resource that is not valid R4 is left out of the evaluation and named in the CarePlan note; the call
still gets its cards. Only an invalid Patient resource of the context patient refuses the
call: 400 when the client sent it (prefetch), 412 when it came from the client's FHIR server.
Draft orders of unchecked types are never validated (decision-logic §11 v2, `draft_orders`).

Messages name the place (prefetch key, entry index, element path) and the kind of problem,
never a value (it may be patient data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.cds_hooks.fetch import FetchResult
from service.fhir_api.invalid_data import LeftOut, fhir_problem, is_patient, left_out

__all__ = ["InvalidData", "Screened", "fhir_problem", "screen"]


@dataclass(frozen=True)
class InvalidData:
    status: int  # 400: sent by the client; 412: fetched from its FHIR server
    message: str
    expression: list[str]


@dataclass
class Screened:
    invalid: set[int] = field(default_factory=set)  # id() of the resources left out
    notes: list[LeftOut] = field(default_factory=list)
    refused: InvalidData | None = None  # the context patient's Patient resource is invalid


def screen(fetched: FetchResult, orders: list[dict], patient: str | None) -> Screened:
    """Validate every resource of the call that the engine reads (see the module docstring)."""
    out = Screened()
    groups = [("context.draftOrders", orders, 400)]
    groups += [(f"prefetch.{key}", resources, 412 if key in fetched.fetched_keys else 400)
               for key, resources in fetched.by_key.items()]
    # only what reaches the engine, each object once: the deduplicated resources and the judged orders
    wanted = {id(r) for r in fetched.resources} | {id(r) for r in orders}
    seen: set[int] = set()
    named: set[tuple[str, str]] = set()
    for where, resources, status in groups:
        for i, resource in enumerate(resources):
            if id(resource) in seen or id(resource) not in wanted:
                continue
            seen.add(id(resource))
            problem = fhir_problem(resource)
            if problem is None:
                continue
            if is_patient(resource, patient):
                if out.refused is None:
                    origin = "fetched from the FHIR server" if status == 412 else "in the request"
                    out.refused = InvalidData(status, f"{where}, resource {i + 1} (Patient), {origin}, is not "
                                                      f"valid FHIR R4: {problem}", [where])
                continue
            out.invalid.add(id(resource))
            note = left_out(resource, problem, patient)
            if (note.label, note.problem) not in named:
                named.add((note.label, note.problem))
                out.notes.append(note)
    return out
