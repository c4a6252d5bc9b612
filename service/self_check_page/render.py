"""Server-side HTML of the self-check page: the Questionnaire as an accessible form.

Generic over the Questionnaire (see ``questionnaire.py`` for the item types):

* a question is a ``<fieldset>`` with a ``<legend>`` (its text) and one radio
  button with a ``<label>`` per answer (Ja/Nee for a boolean); required
  questions carry ``required`` on their radios and a visible ``*``;
* a group is a ``<fieldset>`` around its items; a display item a paragraph;
* an item with ``enableWhen`` carries its conditions as ``data-enable-when``
  (JSON) for the script, and starts hidden and disabled when they are false
  for an empty form.

Everything the Questionnaire says is escaped. No inline script or style: the
texts the script needs are a JSON data block (not executed), and the page is
served with a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
from html import escape

from service.self_check_page.questionnaire import enabled_items, option_value, translated
from service.self_check_page.texts import CONSENT_TEXT, CONSENT_VERSION, SCRIPT_TEXTS, TEXTS


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _json_attr(value: object) -> str:
    return _attr(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _dom_id(link_id: str) -> str:
    """An id that is safe in HTML and CSS selectors for a linkId."""
    return "q-" + "".join(c if c.isalnum() or c in "-_" else f"_{ord(c):x}_" for c in link_id)


class _Renderer:
    def __init__(self, questionnaire: dict, lang: str) -> None:
        self.q = questionnaire
        self.lang = lang
        self.base_lang = (questionnaire.get("language") or "nl").split("-")[0]
        self.t = TEXTS[lang]
        self.enabled = enabled_items(questionnaire, {})

    def text(self, element: dict, field: str = "text") -> str:
        return translated(element, field, self.lang, self.base_lang) or ""

    def items(self, items: list[dict], parents: list[str]) -> str:
        return "".join(self.item(i, parents) for i in items)

    def _gate(self, item: dict) -> str:
        attrs = ""
        if item.get("enableWhen"):
            attrs += f' data-enable-when="{_json_attr(item["enableWhen"])}"'
            attrs += f' data-enable-behavior="{_attr(item.get("enableBehavior", "all"))}"'
        if item["linkId"] not in self.enabled:
            attrs += " hidden disabled"
        return attrs

    def item(self, item: dict, parents: list[str]) -> str:
        kind, link_id = item["type"], item["linkId"]
        dom_id, text = _dom_id(link_id), self.text(item)
        if kind == "display":
            gate = self._gate(item).replace(" disabled", "")
            return f'<p class="display" id="{dom_id}" data-link-id="{_attr(link_id)}" data-type="display"{gate}>' \
                   f"{escape(text)}</p>"
        if kind == "group":
            inner = self.items(item.get("item", []), [*parents, text])
            return (f'<fieldset class="group" id="{dom_id}" data-link-id="{_attr(link_id)}" data-type="group"'
                    f' data-text="{_attr(item.get("text", ""))}"'
                    f'{self._gate(item)}><legend class="group-title">{escape(text)}</legend>{inner}</fieldset>')
        required = bool(item.get("required"))
        label = " ".join([*parents, text])  # for the error summary: the question with its group's lead-in
        options = self.options(item, dom_id, required)
        marker = (f'<span class="req" aria-hidden="true"> *</span>'
                  f'<span class="visually-hidden"> ({escape(self.t["required"])})</span>') if required else ""
        return (
            f'<fieldset class="question" id="{dom_id}" data-link-id="{_attr(link_id)}" data-type="{_attr(kind)}"'
            f' data-required="{str(required).lower()}" data-label="{_attr(label)}"'
            f' data-text="{_attr(item.get("text", ""))}"'
            f' aria-describedby="{dom_id}-error"{self._gate(item)}>'
            f'<legend>{escape(text)}{marker}</legend>'
            f'<p class="field-error" id="{dom_id}-error" hidden></p>'
            f'<div class="options">{options}</div></fieldset>'
        )

    def options(self, item: dict, dom_id: str, required: bool) -> str:
        req = " required" if required else ""
        name = _attr(item["linkId"])
        if item["type"] == "boolean":
            choices = [("true", self.t["yes"], '{"valueBoolean":true}'),
                       ("false", self.t["no"], '{"valueBoolean":false}')]
        else:
            choices = []
            for n, option in enumerate(item["answerOption"]):
                key, value = option_value(option)
                if key == "valueCoding":
                    shown = value.get("display") or value.get("code", "")
                    label = translated(value, "display", self.lang, self.base_lang) or shown
                else:
                    label = str(value)
                choices.append((str(n), label, json.dumps({key: value}, ensure_ascii=False)))
        out = []
        for value, label, answer in choices:
            input_id = f"{dom_id}-{value}"
            out.append(
                f'<div class="option"><input type="radio" id="{input_id}" name="{name}" value="{_attr(value)}"'
                f' data-answer="{_attr(answer)}"{req}><label for="{input_id}">{escape(label)}</label></div>'
            )
        return "".join(out)


def page(questionnaire: dict, lang: str, *, apply_url: str, submissions_url: str, static: dict[str, str]) -> str:
    """The whole page for *questionnaire* in *lang* (``nl`` or ``en``)."""
    r = _Renderer(questionnaire, lang)
    t = r.t
    title = r.text(questionnaire, "title") or t["title"]
    other = t["other_language_code"]
    script_texts = json.dumps({k: t[k] for k in SCRIPT_TEXTS}, ensure_ascii=False).replace("<", "\\u003c")
    canonical = questionnaire.get("url", "")
    form = r.items(questionnaire.get("item", []), [])
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{_attr(static["zelfcheck.css"])}">
<script src="{_attr(static["zelfcheck.js"])}" defer></script>
</head>
<body>
<a class="skip-link" href="#zelfcheck">{escape(t["skip"])}</a>
<header class="site-header">
<nav aria-label="{_attr(t["language_nav"])}">
<a class="language-switch" href="?lang={other}" hreflang="{other}" lang="{other}">{escape(t["other_language"])}</a>
</nav>
</header>
<main id="main">
<h1>{escape(title)}</h1>
<p class="intro">{escape(t["intro"])}</p>
<p class="privacy">{escape(t["privacy"])}</p>
<aside class="emergency" aria-labelledby="emergency-label">
<p><strong id="emergency-label">{escape(t["emergency_label"])}:</strong> {escape(t["emergency"])}</p>
</aside>
<noscript><p class="noscript">{escape(t["noscript"])}</p></noscript>
<div id="error-summary" class="error-summary" tabindex="-1" hidden aria-labelledby="error-summary-title">
<h2 id="error-summary-title">{escape(t["errors_title"])}</h2>
<p>{escape(t["errors_intro"])}</p>
<ul id="error-list"></ul>
</div>
<form id="zelfcheck" class="zelfcheck" novalidate aria-label="{_attr(title)}"
 data-questionnaire="{_attr(canonical)}" data-lang="{lang}" data-apply="{_attr(apply_url)}">
<p class="required-note">{escape(t["required_note"])}</p>
{form}
<div class="actions"><button type="submit" class="primary">{escape(t["submit"])}</button></div>
</form>
<p id="status" class="status" role="status" aria-live="polite"></p>
<div id="apply-error" class="error-box" tabindex="-1" hidden aria-labelledby="apply-error-title">
<h2 id="apply-error-title">{escape(t["result_error_title"])}</h2>
<p>{escape(t["result_error"])}</p>
<p class="technical">{escape(t["technical"])} <span id="apply-error-detail"></span></p>
</div>
<section id="result" class="result" hidden aria-labelledby="result-title">
<div id="advice" class="advice">
<p class="advice-label" id="advice-label">{escape(t["result_label"])}</p>
<h2 id="result-title" tabindex="-1"></h2>
<div id="advice-text"></div>
</div>
<div class="actions">
<button type="button" id="change-answers" class="secondary">{escape(t["change_answers"])}</button>
<a class="button secondary" href="?lang={lang}">{escape(t["start_again"])}</a>
</div>
</section>
<section id="send" class="send" hidden aria-labelledby="send-title">
<h2 id="send-title">{escape(t["send_title"])}</h2>
<p>{escape(t["send_intro"])}</p>
<p>{escape(t["send_stored"])}</p>
<form id="send-form" novalidate data-url="{_attr(submissions_url)}" data-consent-version="{_attr(CONSENT_VERSION)}">
<div id="send-error" class="send-error" role="alert" hidden></div>
<fieldset class="consent">
<legend>{escape(t["consent_legend"])}</legend>
<div class="checkbox"><input type="checkbox" id="consent" name="consent" aria-describedby="send-error">
<label for="consent">{escape(CONSENT_TEXT[lang])}</label></div>
</fieldset>
<div class="field"><label for="contact-name">{escape(t["name_label"])}</label>
<input type="text" id="contact-name" name="name" autocomplete="name" maxlength="100"></div>
<div class="field"><label for="contact">{escape(t["contact_label"])}</label>
<p class="hint" id="contact-hint">{escape(t["contact_hint"])}</p>
<input type="text" id="contact" name="contact" autocomplete="email" inputmode="email" maxlength="200"
 aria-describedby="contact-hint"></div>
<div class="actions"><button type="submit" class="primary">{escape(t["send"])}</button></div>
</form>
<div id="receipt" class="receipt" hidden tabindex="-1" aria-labelledby="receipt-title">
<h3 id="receipt-title">{escape(t["sent_title"])}</h3>
<p>{escape(t["sent"])} <strong id="receipt-number"></strong></p>
<p>{escape(t["sent_hint"])}</p>
</div>
</section>
</main>
<footer class="site-footer"><p>{escape(t["footer"])}</p></footer>
<script type="application/json" id="zelfcheck-texts">{script_texts}</script>
</body>
</html>
"""


def unavailable_page(lang: str, static: dict[str, str]) -> str:
    t = TEXTS[lang]
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t["title"])}</title>
<link rel="stylesheet" href="{_attr(static["zelfcheck.css"])}">
</head>
<body>
<main id="main">
<h1>{escape(t["title"])}</h1>
<p class="emergency">{escape(t["unavailable"])}</p>
</main>
</body>
</html>
"""
