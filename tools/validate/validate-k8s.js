'use strict';
// Validates Kubernetes objects (a multi-document YAML file, as `kubectl kustomize` renders it) against the
// schemas of kubernetes-models 4.5.1, strict about unknown fields, and the Prometheus Operator objects against
// the schemas in prometheus-operator.schema.json (only the fields this project uses; strict too).
// Usage: node validate-k8s.js FILE   (exit 0: valid; 1: one line per problem on stderr)
const path = require('path');
const Ajv = require('ajv');
const { main } = require('./documents');

const operatorSchemas = require('./prometheus-operator.schema.json');
const operatorApiVersion = 'monitoring.coreos.com/v1';
const operatorAjv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, strictRequired: false }).addSchema(operatorSchemas);
// The kinds are the definitions that pin a kind: PodMonitor, ServiceMonitor, PrometheusRule.
const operatorValidators = Object.fromEntries(
  Object.entries(operatorSchemas.definitions)
    .filter(([, schema]) => schema.properties && schema.properties.kind)
    .map(([kind]) => [kind, operatorAjv.compile({ $ref: `${operatorSchemas.$id}#/definitions/${kind}` })]),
);

/** The kubernetes-models class for an apiVersion and kind ("apps/v1", "StatefulSet"), or undefined. */
function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z0-9.]+(\/[A-Za-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) {
    return undefined;
  }
  try {
    return require(path.join('kubernetes-models', apiVersion, kind))[kind];
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND') {
      return undefined;
    }
    throw e;
  }
}

/**
 * kubernetes-models' validators ignore fields they do not know (`replcas: 1` passes). They read every field
 * their schema names, and enumerate the keys only of maps (labels, resources.limits), so a field the validator
 * never touched is one the schema does not have: the data is validated through proxies that record this.
 */
function unknownFields(object, validate) {
  const touched = new WeakMap(); // target -> Set of keys read, or true when its keys were enumerated (a map)
  const proxies = new WeakMap();
  const wrap = (target) => {
    if (target === null || typeof target !== 'object') {
      return target;
    }
    if (!proxies.has(target)) {
      const mark = (key) => {
        if (touched.get(target) !== true) {
          touched.set(target, (touched.get(target) || new Set()).add(key));
        }
      };
      proxies.set(target, new Proxy(target, {
        get: (t, key) => (mark(key), wrap(t[key])),
        has: (t, key) => (mark(key), key in t),
        getOwnPropertyDescriptor: (t, key) => (mark(key), Reflect.getOwnPropertyDescriptor(t, key)),
        ownKeys: (t) => (touched.set(t, true), Reflect.ownKeys(t)),
      }));
    }
    return proxies.get(target);
  };
  let errors = [];
  try {
    validate(wrap(object));
  } catch (e) {
    if (!Array.isArray(e.errors)) {
      throw e;
    }
    errors = e.errors.map((err) => `${err.instancePath || '/'}: ${err.message}${err.params && err.params.allowedValues ? ` (${err.params.allowedValues.join(', ')})` : ''}`);
  }
  const walk = (value, pointer) => {
    if (value === null || typeof value !== 'object') {
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${pointer}/${i}`));
      return;
    }
    const seen = touched.get(value);
    for (const key of Object.keys(value)) {
      const child = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (seen === undefined || (seen !== true && !seen.has(key))) {
        errors.push(`${child}: unknown field "${key}"`);
      } else {
        walk(value[key], child);
      }
    }
  };
  // Objects the validator never reached (below an unknown field, or below a wrong type) have been reported above.
  for (const key of Object.keys(object)) {
    const seen = touched.get(object);
    if (seen === true || (seen && seen.has(key))) {
      walk(object[key], `/${key}`);
    } else {
      errors.push(`/${key}: unknown field "${key}"`);
    }
  }
  return errors;
}

function validateObject(object) {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    return ['/: a document is not an object'];
  }
  const { apiVersion, kind } = object;
  const operatorKind = apiVersion === operatorApiVersion ? operatorValidators[kind] : undefined;
  if (operatorKind) {
    return operatorKind(object) ? [] : operatorKind.errors.map((e) => `${e.instancePath || '/'}: ${e.message}${e.params && e.params.additionalProperty ? ` "${e.params.additionalProperty}"` : ''}`);
  }
  const Model = modelClass(apiVersion, kind);
  if (!Model) {
    return [`/: no schema for apiVersion "${apiVersion}" kind "${kind}" (a typo, or a kind tools/validate does not know)`];
  }
  return unknownFields(object, (data) => Model.prototype.validate.call(data));
}

function validate(objects) {
  return objects.flatMap((object, i) => {
    const what = object && object.kind ? `${object.kind}/${(object.metadata && object.metadata.name) || `(document ${i + 1})`}` : `document ${i + 1}`;
    return validateObject(object).map((problem) => `${what}: ${problem}`);
  });
}

module.exports = { validate };

if (require.main === module) {
  main(validate);
}
