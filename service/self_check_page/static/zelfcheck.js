/* Patient self-check (GET /zelfcheck): enableWhen, validation, $apply, advice, sending with consent.
 *
 * The form is rendered on the server from the Questionnaire; this script only
 * - shows and hides items by their enableWhen (data-enable-when), live; a
 *   hidden item is disabled, its answer cleared, and it is not sent;
 * - checks that every shown required question is answered (error summary,
 *   focus to it), otherwise sends nothing;
 * - builds the QuestionnaireResponse (subject: a random id for this visit),
 *   posts it to $apply as Parameters and shows the CarePlan's advice: the
 *   advice paragraphs, with the "Waarom?" (the note of the advice
 *   Observation: the answers that led to it) after the first; the urgent
 *   advice distinct (own colours, icon and word, role="alert"), the
 *   same-day advice (priority stat) with its own word;
 * - sends the answers to the practice only after the visitor ticks consent.
 * Nothing is kept in the browser (no cookies, no storage).
 */
(function () {
  'use strict';

  var form = document.getElementById('zelfcheck');
  if (!form) { return; }
  var T = JSON.parse(document.getElementById('zelfcheck-texts').textContent);
  var lang = form.getAttribute('data-lang') || 'nl';
  var URGENT = ['urgent', 'asap', 'stat'];

  var items = Array.prototype.slice.call(form.querySelectorAll('[data-link-id]'));
  var byLinkId = {};
  items.forEach(function (el) { byLinkId[el.getAttribute('data-link-id')] = el; });
  var conditions = new Map();
  items.forEach(function (el) {
    var raw = el.getAttribute('data-enable-when');
    if (raw) { conditions.set(el, JSON.parse(raw)); }
  });

  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $('status');
  var summary = $('error-summary');
  var errorList = $('error-list');
  var applyError = $('apply-error');
  var result = $('result');
  var send = $('send');
  var sendForm = $('send-form');
  var sendError = $('send-error');
  var consent = $('consent');
  var receipt = $('receipt');
  var visit = 'zelfcheck-' + uuid();
  var busy = false;
  var last = null; // {code, response}: the advice shown and the answers it is for

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') { return window.crypto.randomUUID(); }
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // -- answers and enableWhen ----------------------------------------------------

  function isShown(el) { return !el.closest('[hidden]'); }

  function isQuestion(el) {
    var type = el.getAttribute('data-type');
    return type !== 'group' && type !== 'display';
  }

  function answerOf(el) {
    var checked = el.querySelector(':scope > .options input:checked');
    return checked ? JSON.parse(checked.getAttribute('data-answer')) : null;
  }

  function answerKey(answer) {
    var key = Object.keys(answer).filter(function (k) { return k.indexOf('value') === 0; })[0];
    var value = answer[key];
    if (key === 'valueCoding') { value = { system: value.system, code: value.code }; }
    return key + ':' + JSON.stringify(value);
  }

  function expectedOf(condition) {
    var key = Object.keys(condition).filter(function (k) { return k.indexOf('answer') === 0; })[0];
    if (!key) { return null; }
    var answer = {};
    answer['value' + key.slice('answer'.length)] = condition[key];
    return answer;
  }

  function currentAnswers() {
    var answers = {};
    items.forEach(function (el) {
      if (isQuestion(el) && isShown(el)) {
        var a = answerOf(el);
        if (a) { answers[el.getAttribute('data-link-id')] = a; }
      }
    });
    return answers;
  }

  function holds(condition, answers) {
    var given = answers[condition.question];
    var expected = expectedOf(condition);
    switch (condition.operator) {
      case 'exists': return (given !== undefined) === Boolean(condition.answerBoolean);
      case '=': return given !== undefined && expected !== null && answerKey(given) === answerKey(expected);
      case '!=': return given === undefined || expected === null || answerKey(given) !== answerKey(expected);
      case '>': case '<': case '>=': case '<=': {
        if (given === undefined || typeof given.valueInteger !== 'number' || expected === null) { return false; }
        var x = given.valueInteger;
        var y = expected.valueInteger !== undefined ? expected.valueInteger : expected.valueDecimal;
        return { '>': x > y, '<': x < y, '>=': x >= y, '<=': x <= y }[condition.operator];
      }
      default: return false;
    }
  }

  function setEnabled(el, on) {
    el.hidden = !on;
    if (el.tagName === 'FIELDSET') { el.disabled = !on; }
    if (!on) {
      el.querySelectorAll('input:checked').forEach(function (input) { input.checked = false; });
      el.querySelectorAll('[data-link-id]').forEach(function (child) { setError(child, null); });
      setError(el, null);
    }
  }

  function updateEnablement() {
    for (var pass = 0; pass <= items.length; pass++) {
      var answers = currentAnswers();
      var changed = false;
      conditions.forEach(function (conds, el) {
        var results = conds.map(function (c) { return holds(c, answers); });
        var on = el.getAttribute('data-enable-behavior') === 'any'
          ? results.some(Boolean) : results.every(Boolean);
        if (on === el.hidden) {
          setEnabled(el, on);
          changed = true;
        }
      });
      if (!changed) { return; }
    }
  }

  // -- validation ----------------------------------------------------------------

  function setError(el, message) {
    if (!isQuestion(el)) { return; }
    var box = el.querySelector(':scope > .field-error');
    if (!box) { return; }
    box.textContent = message || '';
    box.hidden = !message;
    el.classList.toggle('has-error', Boolean(message));
    el.querySelectorAll(':scope > .options input').forEach(function (input) {
      if (message) { input.setAttribute('aria-invalid', 'true'); } else { input.removeAttribute('aria-invalid'); }
    });
  }

  function missingQuestions() {
    return items.filter(function (el) {
      return isQuestion(el) && isShown(el) && el.getAttribute('data-required') === 'true' && !answerOf(el);
    });
  }

  function validate() {
    items.forEach(function (el) { setError(el, null); });
    var missing = missingQuestions();
    errorList.textContent = '';
    if (!missing.length) {
      summary.hidden = true;
      return true;
    }
    missing.forEach(function (el) {
      setError(el, T.answer_missing);
      var first = el.querySelector(':scope > .options input');
      var li = document.createElement('li');
      var a = document.createElement('a');
      a.href = '#' + first.id;
      a.textContent = el.getAttribute('data-label');
      a.addEventListener('click', function (ev) {
        ev.preventDefault();
        first.focus();
        el.scrollIntoView({ block: 'center' });
      });
      li.appendChild(a);
      errorList.appendChild(li);
    });
    summary.hidden = false;
    summary.focus();
    return false;
  }

  // -- the QuestionnaireResponse and $apply --------------------------------------

  function responseItems(container) {
    var out = [];
    Array.prototype.forEach.call(container.children, function (el) {
      if (!el.hasAttribute('data-link-id') || !isShown(el)) { return; }
      var item = { linkId: el.getAttribute('data-link-id') };
      var text = el.getAttribute('data-text');
      if (text) { item.text = text; }
      var type = el.getAttribute('data-type');
      if (type === 'group') {
        var children = responseItems(el);
        if (children.length) { item.item = children; out.push(item); }
      } else if (type !== 'display') {
        var answer = answerOf(el);
        if (answer) { item.answer = [answer]; out.push(item); }
      }
    });
    return out;
  }

  function buildResponse() {
    return {
      resourceType: 'QuestionnaireResponse',
      id: visit,
      questionnaire: form.getAttribute('data-questionnaire'),
      status: 'completed',
      subject: { reference: 'Patient/' + visit },
      authored: new Date().toISOString(),
      item: responseItems(form)
    };
  }

  function outcomeText(body) {
    if (!body || body.resourceType !== 'OperationOutcome' || !Array.isArray(body.issue)) { return ''; }
    return body.issue.map(function (i) {
      return i.diagnostics || (i.details && i.details.text) || i.code || '';
    }).filter(Boolean).join('; ');
  }

  function postJson(url, body, contentType) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': contentType, 'Accept': 'application/fhir+json, application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        return { status: res.status, ok: res.ok, body: data };
      });
    });
  }

  function setBusy(on, message) {
    busy = on;
    form.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = on; });
    form.setAttribute('aria-busy', on ? 'true' : 'false');
    statusEl.textContent = message || '';
  }

  function showApplyError(detail) {
    $('apply-error-detail').textContent = detail;
    applyError.hidden = false;
    applyError.focus();
  }

  form.addEventListener('change', function (ev) {
    if (ev.target && ev.target.type === 'radio') {
      updateEnablement();
      var el = ev.target.closest('[data-link-id]');
      if (el) { setError(el, null); }
    }
  });

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy) { return; }
    applyError.hidden = true;
    if (!validate()) { return; }
    var response = buildResponse();
    var parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueString: response.subject.reference },
        { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: response }] } },
        { name: 'userLanguage', valueCode: lang }
      ]
    };
    setBusy(true, T.busy);
    postJson(form.getAttribute('data-apply'), parameters, 'application/fhir+json').then(function (res) {
      setBusy(false);
      if (res.ok && res.body && res.body.resourceType === 'CarePlan') {
        showAdvice(res.body, response);
      } else if (res.status === 429 || res.status === 503) {
        showApplyError(T.too_many);  // rate limit or busy: a plain sentence, not the server's text
      } else {
        showApplyError(outcomeText(res.body) || ('HTTP ' + res.status));
      }
    }, function (err) {
      setBusy(false);
      showApplyError(String((err && err.message) || err));
    });
  });

  // -- the advice ----------------------------------------------------------------

  function codes(concept) {
    return ((concept && concept.coding) || []).map(function (c) { return c.code; });
  }

  function showAdvice(careplan, response) {
    var contained = careplan.contained || [];
    var observation = contained.filter(function (r) {
      return r.resourceType === 'Observation' && codes(r.code).indexOf('self-check-advice') >= 0;
    })[0];
    var concept = (observation && observation.valueCodeableConcept) || {};
    var coding = (concept.coding || [])[0] || {};
    var code = coding.code || '';
    var requests = contained.filter(function (r) { return r.resourceType === 'CommunicationRequest'; });
    var paragraphs = [];
    requests.forEach(function (r) {
      (r.payload || []).forEach(function (p) { if (p.contentString) { paragraphs.push(p.contentString); } });
    });
    // "Waarom?": the answers that led to the advice (the Observation's note), after the advice itself
    var why = ((observation && observation.note) || []).map(function (n) { return n.text; }).filter(Boolean);
    paragraphs.splice.apply(paragraphs, [Math.min(1, paragraphs.length), 0].concat(why));
    var sameDay = requests.some(function (r) { return r.priority === 'stat'; });
    var urgent = code === 'advice-gp' || requests.some(function (r) { return URGENT.indexOf(r.priority) >= 0; });

    var old = $('advice');
    var box = document.createElement('div'); // a new element: role="alert" is announced on insertion
    box.id = 'advice';
    box.className = 'advice ' + (urgent ? 'advice-urgent' : 'advice-normal');
    box.setAttribute('data-advice', code);
    if (sameDay) { box.setAttribute('data-same-day', 'true'); }
    if (urgent) { box.setAttribute('role', 'alert'); }
    var label = document.createElement('p');
    label.className = 'advice-label';
    if (urgent) {
      var icon = document.createElement('span');
      icon.className = 'advice-icon';
      icon.setAttribute('aria-hidden', 'true');
      icon.textContent = '!';
      label.appendChild(icon);
      label.appendChild(document.createTextNode(sameDay ? T.today_label : T.urgent_label));
    } else {
      label.textContent = T.result_label;
    }
    var heading = document.createElement('h2');
    heading.id = 'result-title';
    heading.tabIndex = -1;
    heading.textContent = concept.text || coding.display || careplan.title || T.result_label;  // text: in the asked language
    var text = document.createElement('div');
    text.id = 'advice-text';
    paragraphs.forEach(function (p) {
      var para = document.createElement('p');
      para.textContent = p;
      if (why.indexOf(p) >= 0) { para.className = 'advice-why'; }
      text.appendChild(para);
    });
    box.appendChild(label);
    box.appendChild(heading);
    box.appendChild(text);
    old.parentNode.replaceChild(box, old);

    last = { code: code, response: response };
    summary.hidden = true;
    form.hidden = true;
    result.hidden = false;
    resetSend();
    send.hidden = false;
    heading.focus();
    window.scrollTo(0, result.getBoundingClientRect().top + window.pageYOffset - 16);
  }

  $('change-answers').addEventListener('click', function () {
    result.hidden = true;
    send.hidden = true;
    form.hidden = false;
    var first = form.querySelector('.question:not([hidden]) input');
    if (first) { first.focus(); }
  });

  // -- sending to the practice, with consent -------------------------------------

  var EMAIL = /^[^@\s<>"]{1,64}@[^@\s<>"]{1,180}\.[A-Za-z]{2,24}$/;
  var PHONE = /^\+?[0-9(][0-9 ()\-.]{4,24}$/;

  function validContact(value) {
    return EMAIL.test(value) || (PHONE.test(value) && value.replace(/[^0-9]/g, '').length >= 6);
  }

  function showSendError(message, focus) {
    sendError.textContent = message;
    sendError.hidden = false;
    if (focus) { focus.focus(); }
  }

  function resetSend() {  // new advice: consent must be given again for it
    consent.checked = false;
    sendForm.hidden = false;
    sendError.hidden = true;
    sendError.textContent = '';
    receipt.hidden = true;
    consent.removeAttribute('aria-invalid');
  }

  consent.addEventListener('change', function () {
    if (consent.checked) { consent.removeAttribute('aria-invalid'); sendError.hidden = true; }
  });

  sendForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy || !last) { return; }
    if (!consent.checked) {
      consent.setAttribute('aria-invalid', 'true');
      showSendError(T.consent_missing, consent);
      return;
    }
    var name = $('contact-name').value.trim();
    var contact = $('contact').value.trim();
    if (contact && !validContact(contact)) {
      showSendError(T.contact_invalid, $('contact'));
      return;
    }
    var body = {
      questionnaireResponse: last.response,
      adviceCode: last.code,
      language: lang,
      consent: true,
      consentVersion: sendForm.getAttribute('data-consent-version')
    };
    if (name || contact) {
      body.contact = {};
      if (name) { body.contact.name = name; }
      if (contact) { body.contact.phoneOrEmail = contact; }
    }
    busy = true;
    sendError.hidden = true;
    var button = sendForm.querySelector('button[type=submit]');
    button.disabled = true;
    statusEl.textContent = T.sending;
    postJson(sendForm.getAttribute('data-url'), body, 'application/json').then(function (res) {
      busy = false;
      button.disabled = false;
      statusEl.textContent = '';
      if (res.status === 201 && res.body && res.body.receipt) {
        $('receipt-number').textContent = res.body.receipt;
        sendForm.hidden = true;
        receipt.hidden = false;
        receipt.focus();
      } else if (res.status === 429 || res.status === 503) {
        showSendError(T.too_many, null);
      } else {
        var detail = outcomeText(res.body);
        showSendError(T.send_error + (detail ? ' (' + detail + ')' : ''), null);
      }
    }, function () {
      busy = false;
      button.disabled = false;
      statusEl.textContent = '';
      showSendError(T.send_error, null);
    });
  });

  updateEnablement();
  form.setAttribute('data-ready', 'true');
}());
