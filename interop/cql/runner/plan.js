// A generic PlanDefinition $apply with cql-execution + cql-exec-fhir: which actions apply.
// usage: node plan.js <artifact dir> <PlanDefinition id> <Today YYYY-MM-DD> < bundles.json
//   <artifact dir>: FHIR knowledge artifacts (JSON), e.g. service/knowledge/fhir
//   stdin: a JSON list of collection Bundles, one patient each
// -> JSON {patientId: [{code, definitionCanonical, action: [...]}]} on stdout: the applicable
//    actions, nested as in the PlanDefinition.
//
// Knows nothing about this guideline: the PlanDefinition names its Library (PlanDefinition.library),
// the Library carries its ELM (content application/elm+json, base64) and names the libraries it
// includes (relatedArtifact depends-on), and every applicability condition is a CQL definition
// of that Library (language text/cql-identifier). An action applies when each of its
// applicability conditions is true (null or false: not); its children are looked at only then.
// An action without an applicability condition applies. A condition in another language cannot
// be evaluated here: exit 1.
'use strict';
const fs = require('fs');
const path = require('path');
const cql = require('cql-execution');
const cqlfhir = require('cql-exec-fhir');

const CQL_IDENTIFIER = 'text/cql-identifier';
const ELM_JSON = 'application/elm+json';

function fail(message) {
  console.error(message);
  process.exit(1);
}

function loadArtifacts(dir) {
  const out = [];
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const resource = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    if (resource && resource.resourceType) out.push(resource);
  }
  return out;
}

function libraryByCanonical(artifacts, canonical) {
  const [url, version] = canonical.split('|');
  const found = artifacts.find((r) => r.resourceType === 'Library' && r.url === url && (!version || r.version === version));
  if (!found) fail(`Library ${canonical} not found`);
  return found;
}

function elmOf(library) {
  const content = (library.content || []).find((c) => c.contentType === ELM_JSON);
  if (!content) fail(`Library ${library.url} has no ${ELM_JSON} content`);
  return JSON.parse(Buffer.from(content.data, 'base64').toString('utf8'));
}

// the ELM of a Library and of every library it depends on (relatedArtifact depends-on), by name
function elmClosure(artifacts, library, seen = {}) {
  const elm = elmOf(library);
  seen[elm.library.identifier.id] = elm;
  for (const related of library.relatedArtifact || []) {
    if (related.type !== 'depends-on' || !related.resource) continue;
    const dep = libraryByCanonical(artifacts, related.resource);
    if (!seen[dep.name]) elmClosure(artifacts, dep, seen);
  }
  return seen;
}

function plain(value) {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (value.isDate || value.isDateTime) return value.toString();
  return value;
}

function applicable(actions, defines) {
  const out = [];
  for (const action of actions || []) {
    const conditions = (action.condition || []).filter((c) => c.kind === 'applicability');
    let holds = true;
    for (const condition of conditions) {
      const expr = condition.expression || {};
      if (expr.language !== CQL_IDENTIFIER) fail(`condition in ${expr.language}: not evaluated by this driver`);
      if (!(expr.expression in defines)) fail(`the Library defines no "${expr.expression}"`);
      const value = defines[expr.expression];
      if (value !== null && typeof value !== 'boolean') fail(`"${expr.expression}" is not a Boolean`);
      if (value !== true) holds = false;
    }
    if (!holds) continue;
    const code = ((action.code || [])[0] || {}).coding?.[0]?.code ?? null;
    const item = { code, definitionCanonical: action.definitionCanonical ?? null };
    item.action = applicable(action.action, defines);
    out.push(item);
  }
  return out;
}

const [artifactDir, planId, today] = process.argv.slice(2);
const artifacts = loadArtifacts(artifactDir);
const plan = artifacts.find((r) => r.resourceType === 'PlanDefinition' && r.id === planId);
if (!plan) fail(`PlanDefinition ${planId} not found`);
if (!plan.library || plan.library.length !== 1) fail(`PlanDefinition ${planId} names no (single) Library`);
const main = libraryByCanonical(artifacts, plan.library[0]);
const elms = elmClosure(artifacts, main);
const mainElm = elms[main.name];
const library = new cql.Library(mainElm, new cql.Repository(elms));
const bundles = JSON.parse(fs.readFileSync(0, 'utf8'));
const source = cqlfhir.PatientSource.FHIRv401();
source.loadBundles(bundles);
const executor = new cql.Executor(library, new cql.CodeService({}), { Today: cql.Date.parse(today) });
executor.exec(source).then((results) => {
  const out = {};
  for (const [id, defines] of Object.entries(results.patientResults)) {
    const values = {};
    for (const [name, value] of Object.entries(defines)) values[name] = plain(value);
    out[id] = applicable(plan.action, values);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}).catch((err) => { console.error(err); process.exit(1); });
