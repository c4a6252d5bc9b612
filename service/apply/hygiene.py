"""JSON hygiene: no null and no empty string, array or object (FHIR: elements SHALL have a value
or children; CDS Hooks 2.0 §Use of JSON: elements SHALL NOT be null or empty)."""

from __future__ import annotations

from typing import Any


def prune(value: Any) -> Any:
    """A copy without nulls and without empty strings, arrays and objects (at any depth).

    An object or array that only held empties is dropped too.
    """
    if isinstance(value, dict):
        return _prune_dict(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


# One pass with the empties tested inline: this runs over every card frame and every request a
# card creates; a recursive is_empty() per node took 2.6 times as long.
# Exact type tests (cards are built from plain JSON values) take 2/3 of the time of
# isinstance(); anything else (a dict or list subclass) goes through prune() itself.
def _prune_dict(value: dict) -> dict:
    out = {}
    for k, v in value.items():
        t = type(v)
        if t is str:
            if not v:
                continue
        elif t is dict:
            v = _prune_dict(v)
            if not v:
                continue
        elif t is list:
            v = _prune_list(v)
            if not v:
                continue
        elif v is None:
            continue
        elif isinstance(v, (dict, list, str)):
            v = prune(v)
            if not v:
                continue
        out[k] = v
    return out


def _prune_list(value: list) -> list:
    out = []
    for v in value:
        t = type(v)
        if t is str:
            if not v:
                continue
        elif t is dict:
            v = _prune_dict(v)
            if not v:
                continue
        elif t is list:
            v = _prune_list(v)
            if not v:
                continue
        elif v is None:
            continue
        elif isinstance(v, (dict, list, str)):
            v = prune(v)
            if not v:
                continue
        out.append(v)
    return out


def is_empty(value: Any) -> bool:
    """null, or an empty string, array or object."""
    return value is None or (isinstance(value, (str, list, dict)) and len(value) == 0)


def find_empties(value: Any, path: str = "$") -> list[str]:
    """Paths of every null / empty element (for tests and assertions)."""
    found = []
    if is_empty(value):
        return [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += find_empties(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += find_empties(v, f"{path}[{i}]")
    return found
