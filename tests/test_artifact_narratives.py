"""Generated narratives of the knowledge artifacts (tools/narrative_artifacts.py, issue 15).

Every committed artifact in service/knowledge/fhir/ carries `text` with status `generated`
and an XHTML div FHIR allows (XHTML namespace, no script/style/forms/event attributes),
naming its content; contained resources carry none (dom-1); the output is deterministic.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tools import narrative_artifacts
from tools.sources import ROOT

FHIR = ROOT / "service" / "knowledge" / "fhir"
NS = "{http://www.w3.org/1999/xhtml}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# the basic HTML FHIR's narrative rules (txt-1) allow; we use a subset of it
ALLOWED = {"a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
           "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
           "p", "pre", "q", "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
           "thead", "tr", "tt", "ul", "var"}

ARTIFACTS = sorted(FHIR.glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _div(resource: dict) -> ET.Element:
    return ET.fromstring(resource["text"]["div"])


def _text(element: ET.Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def test_there_are_artifacts_of_every_kind():
    kinds = {_load(p)["resourceType"] for p in ARTIFACTS}
    assert {"Questionnaire", "PlanDefinition", "ActivityDefinition", "CodeSystem", "ValueSet", "ConceptMap",
            "StructureDefinition"} <= kinds


@pytest.mark.parametrize("path", ARTIFACTS, ids=lambda p: p.stem)
def test_every_artifact_has_a_valid_generated_narrative(path):
    resource = _load(path)
    assert resource["text"]["status"] == "generated"
    div = _div(resource)
    assert div.tag == f"{NS}div"
    assert div.get("lang") == div.get(XML_LANG) == resource["language"] == "nl"
    for element in div.iter():
        assert element.tag.startswith(NS), element.tag
        assert element.tag[len(NS):] in ALLOWED, element.tag
        assert not any(name.lower().startswith("on") for name in element.attrib), element.attrib
    text = _text(div)
    title = resource.get("title") or resource["name"]
    assert title in text
    assert resource["version"] in text and "status actief" in text.lower()
    for contained in resource.get("contained", []):
        assert "text" not in contained  # dom-1


def _items(items):
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def test_questionnaire_narratives_name_every_item_with_linkid_and_required():
    for path in FHIR.glob("Questionnaire-*.json"):
        resource = _load(path)
        rows = {_text(tr.findall(f"{NS}td")[0]): [_text(td) for td in tr.findall(f"{NS}td")]
                for tr in _div(resource).iter(f"{NS}tr") if tr.findall(f"{NS}td")}
        items = list(_items(resource["item"]))
        assert len(items) > 10
        for item in items:
            row = rows[item["linkId"]]
            assert item["text"] in row[1]
            assert row[3] == ("ja" if item.get("required") else "nee")


def test_plan_definition_narrative_names_actions_and_their_conditions():
    resource = _load(FHIR / "PlanDefinition-nekpijn-behandelprofiel.json")
    text = _text(_div(resource))
    first = resource["action"][0]["action"][0]
    assert first["title"] in text
    assert first["condition"][0]["expression"]["description"] in text
    assert first["definitionCanonical"].rsplit("/", 1)[-1] in text


def test_value_set_code_system_and_concept_map_list_their_codes():
    vs = _load(FHIR / "ValueSet-red-flags.json")
    text = _text(_div(vs))
    for concept in vs["compose"]["include"][0]["concept"]:
        assert concept["code"] in text and concept["display"] in text
    cs = _load(FHIR / "CodeSystem-nekpijn.json")
    assert cs["concept"][0]["concept"][0]["display"] in _text(_div(cs))
    cm = _load(FHIR / "ConceptMap-nekpijn-to-snomed.json")
    text = _text(_div(cm))
    for element in cm["group"][0]["element"]:
        assert element["code"] in text and element["target"][0].get("code", "") in text


def test_discouraged_activity_is_marked_not_to_perform():
    assert "NIET UITVOEREN" in _text(_div(_load(FHIR / "ActivityDefinition-dis-imaging.json")))
    assert "NIET UITVOEREN" not in _text(_div(_load(FHIR / "ActivityDefinition-con-cbt.json")))


def test_text_is_escaped_and_the_narrative_deterministic():
    resource = _load(FHIR / "ActivityDefinition-con-cbt.json")
    resource.pop("text")
    resource["description"] = 'Geen <script>alert("x")</script> & <style>p{}</style> <b onclick="x">'
    first = narrative_artifacts.with_narrative(copy.deepcopy(resource))
    again = narrative_artifacts.with_narrative(copy.deepcopy(resource))
    assert json.dumps(first) == json.dumps(again)
    div = ET.fromstring(first["text"]["div"])
    assert {e.tag[len(NS):] for e in div.iter()} <= ALLOWED - {"script", "style"}
    assert 'Geen <script>alert("x")</script> &' in _text(div)
    assert list(first).index("text") == list(first).index("language") + 1


def test_committed_artifacts_are_the_narrated_build_output(tmp_path):
    """Re-adding narratives to the committed files changes no byte (what `make knowledge` wrote)."""
    for path in ARTIFACTS:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert narrative_artifacts.add_narratives(tmp_path) == len(ARTIFACTS)
    for path in ARTIFACTS:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
