// Runs the ELM of knowledge/cql with cql-execution + cql-exec-fhir over FHIR R4 Bundles.
// usage: node run.js <elm dir> <Today YYYY-MM-DD> < bundles.json  (a JSON list of collection
// Bundles, one patient each) -> JSON {patientId: CaseFeatures} on stdout.
'use strict';
const fs = require('fs');
const path = require('path');
const cql = require('cql-execution');
const cqlfhir = require('cql-exec-fhir');

function plain(value) {
  // cql-execution values -> JSON (Date/DateTime as ISO text, Decimal/Integer as numbers)
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (value.isDate || value.isDateTime) return value.toString();
  if (typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

const [elmDir, today] = process.argv.slice(2);
const elm = (name) => JSON.parse(fs.readFileSync(path.join(elmDir, name + '.json'), 'utf8'));
const library = new cql.Library(elm('NekpijnBeslisregels'),
  new cql.Repository({ FHIRHelpers: elm('FHIRHelpers-4.0.1') }));
const bundles = JSON.parse(fs.readFileSync(0, 'utf8'));
const source = cqlfhir.PatientSource.FHIRv401();
source.loadBundles(bundles);
const executor = new cql.Executor(library, new cql.CodeService({}), { Today: cql.Date.parse(today) });
executor.exec(source).then((results) => {
  const out = {};
  for (const [id, defines] of Object.entries(results.patientResults)) out[id] = plain(defines.CaseFeatures);
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}).catch((err) => { console.error(err); process.exit(1); });
