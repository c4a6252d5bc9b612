"""CQL tooling: the reference CQL-to-ELM translator and the cql-execution runner (interop/cql/)."""
