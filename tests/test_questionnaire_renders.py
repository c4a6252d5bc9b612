"""The intake Questionnaire renders in a real SDC renderer (LHC-Forms, headless Chromium).

The page converts the Questionnaire with LHC-Forms' FHIR R4 support, renders
it, optionally merges a QuestionnaireResponse into it first, and writes the
outcome and the QuestionnaireResponse the renderer extracts back into the DOM.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from knowledge_support import artifact
from tools.browser import dump_dom, lforms_dist

ROOT = Path(__file__).resolve().parent.parent

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="lforms/webcomponent/styles.css">
<script src="lforms/webcomponent/assets/lib/zone.min.js"></script>
<script src="lforms/webcomponent/runtime.js" type="module"></script>
<script src="lforms/webcomponent/polyfills.js" type="module"></script>
<script src="lforms/webcomponent/main.js" type="module"></script>
<script src="lforms/fhir/R4/lformsFHIR.min.js" defer></script>
</head><body><div id="status">loading</div><div id="form"></div><pre id="qr"></pre>
<script type="module">
  const status = document.getElementById('status');
  try {
    const q = await (await fetch('q.json')).json();
    const qrResponse = await fetch('qr.json');
    const qr = qrResponse.ok ? await qrResponse.json() : null;
    await new Promise(ok => { const t = setInterval(() => {
      if (window.LForms && LForms.Util && LForms.Util.convertFHIRQuestionnaireToLForms) { clearInterval(t); ok(); } }, 50); });
    let form = LForms.Util.convertFHIRQuestionnaireToLForms(q, 'R4');
    if (qr) form = LForms.Util.mergeFHIRDataIntoLForms('QuestionnaireResponse', qr, form, 'R4');
    await LForms.Util.addFormToPage(form, 'form');
    // the web component finishes initialising after addFormToPage resolves
    await new Promise(ok => setTimeout(ok, 500));
    const out = LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', document.getElementById('form'));
    document.getElementById('qr').textContent = JSON.stringify(out);
    status.textContent = 'rendered';
  } catch (e) {
    status.textContent = 'error: ' + (e && (e.message || JSON.stringify(e)));
  }
</script></body></html>
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A loopback HTTP server over a folder with LHC-Forms and the page."""
    root = tmp_path_factory.mktemp("render")
    shutil.copytree(lforms_dist(), root / "lforms")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "q.json").write_text(json.dumps(artifact("Questionnaire", "nekpijn-intake")), encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


def render(site, response: dict | None) -> tuple[str, str, dict]:
    root, url = site
    qr_file = root / "qr.json"
    if response is None:
        qr_file.unlink(missing_ok=True)
    else:
        qr_file.write_text(json.dumps(response), encoding="utf-8")
    dom = html.unescape(dump_dom(url))
    status = re.search(r'id="status">([^<]*)<', dom).group(1)
    extracted = re.search(r'<pre id="qr">([^<]*)</pre>', dom).group(1)
    return status, dom, json.loads(extracted) if extracted else {}


def _items(items):
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def _answers(qr: dict) -> dict[str, list]:
    return {i["linkId"]: i["answer"] for i in _items(qr.get("item", [])) if "answer" in i}


def test_empty_form_renders_every_question_and_honours_enable_when(site):
    status, dom, _ = render(site, None)
    assert status == "rendered"
    q = artifact("Questionnaire", "nekpijn-intake")
    gated = {i["linkId"] for i in _items(q["item"]) if "enableWhen" in i}
    assert gated == {"sick-leave", "sick-leave-weeks"}
    for item in _items(q["item"]):
        if item["linkId"] in gated:
            assert item["text"] not in dom, f"{item['linkId']} shown although its enableWhen is false"
        else:
            assert item["text"] in dom, f"{item['linkId']} not rendered"


def test_prefilled_response_opens_gated_items_and_round_trips(site):
    example = json.loads((ROOT / "examples" / "b-work-sick-leave.json").read_text(encoding="utf-8"))
    qr = next(e["resource"] for e in example["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")
    status, dom, extracted = render(site, qr)
    assert status == "rendered"
    q = artifact("Questionnaire", "nekpijn-intake")
    texts = {i["linkId"]: i["text"] for i in _items(q["item"])}
    assert texts["sick-leave"] in dom and texts["sick-leave-weeks"] in dom
    got, sent = _answers(extracted), _answers(qr)
    assert got["work-related"] == [{"valueBoolean": True}]
    assert got["sick-leave-weeks"] == [{"valueInteger": 6}]
    assert got["adl-impact"][0]["valueCoding"]["code"] == "adl-substantial"
    assert got["onset-date"] == sent["onset-date"]
    assert set(sent) <= set(got)
