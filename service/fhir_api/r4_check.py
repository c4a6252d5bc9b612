"""A fast acceptor of valid FHIR resources: the R4B models' verdict without running them.

`invalid_data.fhir_problem` asks the fhir.resources R4B models (pydantic) whether a
resource is valid; that costs about 0.35 ms per resource, 8–20 ms for the 24 resources
of a typical call. `accepts(resource)` walks the JSON once against tables compiled (once
per element type, on first use) from the same models' field definitions: element names,
list or single, required elements, choice groups (`value[x]`: at most one, or exactly one
when required), nested types, and the primitive formats — checked more strictly than the
models do (e.g. a dateTime must be a real calendar date with seconds and a time zone).

It answers True only when the models are certain to accept the resource. Anything it is
not sure of — an element or primitive kind it has no check for (`_value` primitive
extensions, contained resources, XHTML narratives, ...), an empty value, a partial time —
gives False, and the models then decide and word the problem as before. So the fast check
never changes a verdict, only who gives it; tests/test_r4_check.py checks that on
thousands of mutated resources (fast accepts ⇒ the models accept) and that it accepts
every resource of the reference cases (so the models run only for odd input).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

# -- primitives: each check is at least as strict as fhir_core's type ----------------------

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_URI = re.compile(r"\S+")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
# a dateTime with a time: seconds and a time zone required (the models accept less)
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)")
_INT32 = (-2**31, 2**31 - 1)


def _is_date(value: object) -> bool:
    if type(value) is not str:
        return False
    m = _DATE.fullmatch(value)
    if m is None:
        return False
    year, month, day = m.groups()
    if int(year) < 1:
        return False
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return False
    return True


def _is_datetime(value: object) -> bool:
    if type(value) is not str:
        return False
    if "T" not in value:
        return _is_date(value)
    return _is_instant(value)


def _is_instant(value: object) -> bool:
    if type(value) is not str:
        return False
    m = _DATETIME.fullmatch(value)
    if m is None or int(m.group(1)) < 1:
        return False
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    return True


_STRING = re.compile(r"[ \r\n\t\S]+")


def _is_string(value: object) -> bool:
    return type(value) is str and len(value) <= 1_048_576 and value.strip() != "" \
        and _STRING.fullmatch(value) is not None


def _is_integer(value: object) -> bool:
    return type(value) is int and _INT32[0] <= value <= _INT32[1]


#: fhir_core primitive type (the marker class name in the model's annotation) -> check
PRIMITIVES: dict[str, typing.Callable[[object], bool]] = {
    "Id": lambda v: type(v) is str and _ID.fullmatch(v) is not None,
    "String": _is_string,
    "Markdown": _is_string,
    "Code": lambda v: type(v) is str and _CODE.fullmatch(v) is not None,
    "Uri": lambda v: type(v) is str and _URI.fullmatch(v) is not None,
    "Canonical": lambda v: type(v) is str and _URI.fullmatch(v) is not None,
    "Boolean": lambda v: type(v) is bool,
    "Integer": _is_integer,
    "UnsignedInt": lambda v: _is_integer(v) and v >= 0,
    "PositiveInt": lambda v: _is_integer(v) and v >= 1,
    "Decimal": lambda v: _is_integer(v) or (type(v) is float and abs(v) < 1e15),
    "Date": _is_date,
    "DateTime": _is_datetime,
    "Instant": _is_instant,
}


# -- tables compiled from the models -----------------------------------------------------

ANY_RESOURCE = "*"  # Element.complex of an element that holds a resource of any type


@dataclass(frozen=True)
class Element:
    many: bool
    primitive: typing.Callable[[object], bool] | None  # None: a complex type (`complex`)
    complex: str | None  # the element type's model name, compiled on first use
    choice: str | None  # the choice group (`value` for valueQuantity, ...)


@dataclass(frozen=True)
class Table:
    resource: bool  # a resource type (not a data type or backbone element)
    elements: dict[str, Element]
    required: frozenset[str]  # elements that must be present
    required_choices: tuple[str, ...]  # choice groups of which one element must be present


class _NoCheck(Exception):
    """An element type the fast check has no table for: the models decide."""


def _optional(annotation):
    """X of Optional[X] (X itself otherwise)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) != 1:
        raise _NoCheck(str(annotation))
    return args[0]


def _unwrap(annotation) -> tuple[bool, object]:
    """(is a list, the item type) of an Optional[...] / Optional[List[Optional[...]]] annotation
    (a null in a list of primitives is not accepted here: it pairs with a `_value` extension)."""
    item = _optional(annotation)
    if typing.get_origin(item) is list:
        return True, _optional(typing.get_args(item)[0])
    return False, item


def _element(field) -> Element:
    many, item = _unwrap(field.annotation)
    extra = field.json_schema_extra or {}
    choice = extra.get("one_of_many")
    if item is bool:
        return Element(many, PRIMITIVES["Boolean"], None, choice)
    if typing.get_origin(item) is typing.Annotated:
        markers = typing.get_args(item)[1:]
        check = PRIMITIVES.get(type(markers[0]).__name__) if len(markers) == 1 else None
        if check is None:
            raise _NoCheck(str(item))
        return Element(many, check, None, choice)
    name = getattr(item, "__name__", "")
    if getattr(item, "__module__", None) == "abc" and name == "ResourceType":
        return Element(many, None, ANY_RESOURCE, choice)  # contained, Bundle.entry.resource, Parameters
    if getattr(item, "__module__", None) == "abc" and name.endswith("Type") and name != "FHIRPrimitiveExtensionType":
        return Element(many, None, name[:-len("Type")], choice)
    raise _NoCheck(str(item))


def _compile(model) -> Table:
    elements: dict[str, Element] = {}
    required, choices = set(), {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        if not extra.get("element_property"):
            continue  # fhir_comments, `_value` primitive extensions: never accepted here
        if field.is_required() or extra.get("element_required"):
            required.add(field.alias)
        try:
            element = _element(field)
        except _NoCheck:
            continue  # not in the table: a resource that has it goes to the models
        elements[field.alias] = element
        if element.choice:
            choices[element.choice] = choices.get(element.choice, False) or bool(extra.get("one_of_many_required"))
    from fhir.resources.R4B.resource import Resource
    return Table(issubclass(model, Resource), elements, frozenset(required),
                 tuple(group for group, needed in choices.items() if needed))


_TABLES: dict[str, Table] = {}


def table(type_name: str) -> Table | None:
    """The compiled table of a resource or element type (None: the models have no such type).

    Only types the models have are kept: a resourceType from the input that is no FHIR type
    is looked up again next time, so that bodies full of made-up names cannot grow the cache."""
    found = _TABLES.get(type_name)
    if found is None:
        from fhir.resources.R4B import get_fhir_model_class  # imported on first use: ~0.15 s
        try:
            model = get_fhir_model_class(type_name)
        except (KeyError, ValueError):
            return None
        found = _TABLES[type_name] = _compile(model)
    return found


# -- the walk ------------------------------------------------------------------------------
# The hot loop of every call (~270 objects for 24 resources): plain loops, tables looked up
# once per element (Element.spec), no per-object allocations unless a choice group is used.

def _spec(element: Element) -> Table | None:
    spec = _SPECS.get(element.complex, _UNKNOWN)
    if spec is _UNKNOWN:
        spec = _SPECS[element.complex] = table(element.complex)
    return spec


_SPECS: dict[str, Table | None] = {}
_UNKNOWN = object()


def _resource(value: object, accepted: Collection[int]) -> bool:
    if type(value) is not dict:
        return False
    if id(value) in accepted:
        return True
    rtype = value.get("resourceType")
    if type(rtype) is not str or not rtype.isalpha():
        return False
    spec = table(rtype)
    return spec is not None and spec.resource and _object(value, spec, accepted)


def _complex(value: object, element: Element, accepted: Collection[int]) -> bool:
    if element.complex is ANY_RESOURCE:
        return _resource(value, accepted)
    if type(value) is not dict or not value:
        return False
    spec = _spec(element)
    return spec is not None and not spec.resource and _object(value, spec, accepted)


def _object(value: dict, spec: Table, accepted: Collection[int]) -> bool:
    """Whether the models surely accept `value` as an instance of `spec`'s type."""
    elements = spec.elements
    chosen: list[str] | None = None
    for key, item in value.items():
        element = elements.get(key)
        if element is None:
            if key == "resourceType" and spec.resource:
                continue  # (the type `spec` was looked up by)
            return False
        check = element.primitive
        if element.many:
            if type(item) is not list or not item:
                return False
            if check is not None:
                for one in item:
                    if not check(one):
                        return False
            else:
                for one in item:
                    if not _complex(one, element, accepted):
                        return False
        elif check is not None:
            if not check(item):
                return False
        elif not _complex(item, element, accepted):
            return False
        if element.choice is not None:
            if chosen is None:
                chosen = [element.choice]
            elif element.choice in chosen:
                return False  # two elements of one choice group
            else:
                chosen.append(element.choice)
    if spec.required and not value.keys() >= spec.required:
        return False
    for group in spec.required_choices:
        if chosen is None or group not in chosen:
            return False
    return True


def accepts(resource: object, accepted: Collection[int] = ()) -> bool:
    """True only when the R4B models are certain to accept `resource` (see the module docstring).

    `accepted`: id() of resource objects already accepted (e.g. the entries of a Bundle
    checked one by one before the Parameters that holds it); they are not walked again."""
    try:
        return _resource(resource, accepted)
    except RecursionError:
        return False
