// A generic PlanDefinition $apply with cql-execution + cql-exec-fhir: which actions apply.
// usage: node plan.js <artifact dir> <PlanDefinition id> <Today YYYY-MM-DD> [--each <Parameter>=<Type>[,<Type>...]]
//          < bundles.json
//   <artifact dir>: FHIR knowledge artifacts (JSON), e.g. service/knowledge/fhir
//   stdin: a JSON list of collection Bundles, one patient each
//   --each: evaluate the plan once per resource of these types in the patient's Bundle (in Bundle
//     order), with the CQL parameter <Parameter> = '<Type>/<id>' of that resource (a plan applied
//     per draft order: --each Order=ServiceRequest,Procedure)
// -> JSON on stdout: {patientId: [{code, definitionCanonical, action: [...]}]}, the applicable
//    actions nested as in the PlanDefinition; with --each {patientId: {'<Type>/<id>': [...]}}.
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
const cql = require('cql-execution');
const cqlfhir = require('cql-exec-fhir');
const { LibraryError, loadArtifacts, fromArtifacts, executable } = require('./libraries');

const CQL_IDENTIFIER = 'text/cql-identifier';

class PlanError extends Error {}

function applicable(actions, defines) {
  const out = [];
  for (const action of actions || []) {
    const conditions = (action.condition || []).filter((c) => c.kind === 'applicability');
    let holds = true;
    for (const condition of conditions) {
      const expr = condition.expression || {};
      if (expr.language !== CQL_IDENTIFIER) throw new PlanError(`condition in ${expr.language}: not evaluated by this driver`);
      if (!(expr.expression in defines)) throw new PlanError(`the Library defines no "${expr.expression}"`);
      const value = defines[expr.expression];
      if (value !== null && typeof value !== 'boolean') throw new PlanError(`"${expr.expression}" is not a Boolean`);
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

function parseEach(args) {
  const i = args.indexOf('--each');
  if (i < 0) return null;
  const m = /^([^=]+)=(.+)$/.exec(args[i + 1] || '');
  if (!m) throw new PlanError('--each needs <Parameter>=<Type>[,<Type>...]');
  return { parameter: m[1], types: m[2].split(',') };
}

// the included libraries (by local name) whose results cannot depend on the varying parameter:
// neither they nor a library they include declare it. Their results are computed once per
// patient and shared by the evaluations of that patient (cql-execution keeps an included
// library's results in its own context).
function independentIncludes(library, parameter) {
  const declares = (lib) => parameter in (lib.parameters || {}) ||
    Object.values(lib.includes || {}).some(declares);
  return Object.entries(library.includes || {}).filter(([, lib]) => !declares(lib)).map(([alias]) => alias);
}

// the patient's records, each retrieve read once for all evaluations of this patient (the data
// do not change between them)
function memoised(patient) {
  const cache = new Map();
  return new Proxy(patient, {
    get(target, prop) {
      if (prop !== 'findRecords') return Reflect.get(target, prop);
      return (profile, details) => {
        const key = details === undefined ? profile : `${profile} ${JSON.stringify(details)}`;
        if (!cache.has(key)) cache.set(key, target.findRecords(profile, details));
        return cache.get(key);
      };
    },
  });
}

async function evaluate(library, patient, parameters, shared) {
  const ctx = new cql.PatientContext(library, patient, new cql.CodeService({}), parameters);
  Object.assign(ctx.library_context, shared);
  const values = {};
  for (const [name, expr] of Object.entries(library.expressions)) {
    if (expr.context === 'Patient') values[name] = await expr.execute(ctx);
  }
  return { values, ctx };
}

async function main(argv) {
  const [artifactDir, planId, today] = argv;
  const each = parseEach(argv.slice(3));
  const artifacts = loadArtifacts(artifactDir);
  const plan = artifacts.find((r) => r.resourceType === 'PlanDefinition' && r.id === planId);
  if (!plan) throw new PlanError(`PlanDefinition ${planId} not found`);
  if (!plan.library || plan.library.length !== 1) throw new PlanError(`PlanDefinition ${planId} names no (single) Library`);
  const { elms, main: mainName } = fromArtifacts(artifacts, plan.library[0]);
  const library = executable(elms, mainName);
  if (each && !(each.parameter in library.parameters)) throw new PlanError(`Library ${mainName} has no parameter "${each.parameter}"`);
  const parameters = { Today: cql.Date.parse(today) };
  const shareable = each ? independentIncludes(library, each.parameter) : [];
  const bundles = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = {};
  for (const bundle of bundles) {
    const source = cqlfhir.PatientSource.FHIRv401();
    source.loadBundles([bundle]);
    const patient = await source.currentPatient();
    if (!patient) throw new PlanError('a Bundle without a Patient');
    const id = patient.getId();
    if (!each) {
      out[id] = applicable(plan.action, (await evaluate(library, patient, parameters, {})).values);
      continue;
    }
    const shared = {};
    const records = memoised(patient);
    out[id] = {};
    for (const entry of bundle.entry || []) {
      const resource = entry.resource || {};
      if (!each.types.includes(resource.resourceType)) continue;
      const reference = `${resource.resourceType}/${resource.id}`;
      const { values, ctx } = await evaluate(library, records, { ...parameters, [each.parameter]: reference }, shared);
      for (const alias of shareable) if (!shared[alias] && ctx.library_context[alias]) shared[alias] = ctx.library_context[alias];
      out[id][reference] = applicable(plan.action, values);
    }
  }
  return out;
}

main(process.argv.slice(2)).then((out) => process.stdout.write(JSON.stringify(out) + '\n')).catch((err) => {
  console.error(err instanceof PlanError || err instanceof LibraryError ? err.message : err);
  process.exit(1);
});
