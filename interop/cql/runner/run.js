// Runs the ELM of knowledge/cql with cql-execution + cql-exec-fhir over FHIR R4 Bundles.
// usage: node run.js <elm dir> <Today YYYY-MM-DD> < bundles.json  (a JSON list of collection
// Bundles, one patient each) -> JSON {patientId: CaseFeatures} on stdout.
'use strict';
const fs = require('fs');
const cql = require('cql-execution');
const cqlfhir = require('cql-exec-fhir');
const { fromElmDirectory, executable, plain } = require('./libraries');

const [elmDir, today] = process.argv.slice(2);
const library = executable(fromElmDirectory(elmDir), 'NekpijnBeslisregels');
const bundles = JSON.parse(fs.readFileSync(0, 'utf8'));
const source = cqlfhir.PatientSource.FHIRv401();
source.loadBundles(bundles);
const executor = new cql.Executor(library, new cql.CodeService({}), { Today: cql.Date.parse(today) });
executor.exec(source).then((results) => {
  const out = {};
  for (const [id, defines] of Object.entries(results.patientResults)) out[id] = plain(defines.CaseFeatures);
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}).catch((err) => { console.error(err); process.exit(1); });
