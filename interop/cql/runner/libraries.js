// Loading CQL libraries (their ELM) for cql-execution, shared by run.js and plan.js.
//   fromElmDirectory(dir)            every ELM JSON file of a directory (knowledge/cql), by library name
//   fromArtifacts(dir, canonical)    a FHIR Library resource (content application/elm+json, base64)
//                                    of a directory of knowledge artifacts and, through its
//                                    relatedArtifact depends-on, every library it includes
//   executable(elms, name)           a cql.Library of one of them, its includes resolved from the rest
// and `plain`, cql-execution values -> JSON (Date/DateTime as ISO text).
'use strict';
const fs = require('fs');
const path = require('path');
const cql = require('cql-execution');

const ELM_JSON = 'application/elm+json';

class LibraryError extends Error {}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function jsonFiles(dir) {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort().map((n) => path.join(dir, n));
}

// {library name: ELM} of every ELM file of a directory
function fromElmDirectory(dir) {
  const out = {};
  for (const file of jsonFiles(dir)) {
    const elm = readJson(file);
    if (elm && elm.library && elm.library.identifier) out[elm.library.identifier.id] = elm;
  }
  return out;
}

// every FHIR resource (JSON) of a directory of knowledge artifacts
function loadArtifacts(dir) {
  return jsonFiles(dir).map(readJson).filter((r) => r && r.resourceType);
}

function libraryByCanonical(artifacts, canonical) {
  const [url, version] = canonical.split('|');
  const found = artifacts.find((r) => r.resourceType === 'Library' && r.url === url && (!version || r.version === version));
  if (!found) throw new LibraryError(`Library ${canonical} not found`);
  return found;
}

function elmOf(library) {
  const content = (library.content || []).find((c) => c.contentType === ELM_JSON);
  if (!content) throw new LibraryError(`Library ${library.url} has no ${ELM_JSON} content`);
  return JSON.parse(Buffer.from(content.data, 'base64').toString('utf8'));
}

// {library name: ELM} of a Library resource and of every library it depends on; `main` = its name
function fromArtifacts(artifacts, canonical) {
  const elms = {};
  const visit = (library) => {
    const elm = elmOf(library);
    elms[elm.library.identifier.id] = elm;
    for (const related of library.relatedArtifact || []) {
      if (related.type !== 'depends-on' || !related.resource) continue;
      const dep = libraryByCanonical(artifacts, related.resource);
      if (!elms[dep.name]) visit(dep);
    }
  };
  const main = libraryByCanonical(artifacts, canonical);
  visit(main);
  return { elms, main: elmOf(main).library.identifier.id };
}

function executable(elms, name) {
  if (!elms[name]) throw new LibraryError(`no ELM of library ${name}`);
  return new cql.Library(elms[name], new cql.Repository(elms));
}

function plain(value) {
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

module.exports = { LibraryError, fromElmDirectory, loadArtifacts, fromArtifacts, executable, plain };
