"""The `%case` Parameters resource the PlanDefinition conditions read.

Built from the outcome of the decision tables (CaseResult); the layout is
documented in docs/case-parameters.md. Protocol-neutral and free of
clinical rules: it only translates values into FHIR parameter types.
"""

from __future__ import annotations

from datetime import date

from service.facts.model import CaseResult, Value


def _param(name: str, value: Value, code_like: bool = True) -> dict:
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, float):
        return {"name": name, "valueDecimal": value}
    if isinstance(value, date):
        return {"name": name, "valueDate": value.isoformat()}
    return {"name": name, "valueCode" if code_like else "valueString": value}


def case_parameters(result: CaseResult, free_text: frozenset[str] = frozenset(),
                    extra: list[dict] = ()) -> dict:
    """Parameters: case features, answered elements, derived facts, then `extra`.

    `free_text`: element codes whose string values are free text (valueString);
    other strings are codes (valueCode).
    """
    params = [_param(f.code, f.value) for f in result.features]
    feature_codes = {f.code for f in result.features}
    for code, fact in result.facts.answers.items():
        if code not in feature_codes:
            params.append(_param(code, fact.value, code_like=code not in free_text))
    for name, value in result.derived.items():
        params.append(_param(name, value))
    params.extend(extra)
    return {"resourceType": "Parameters", "parameter": params}
