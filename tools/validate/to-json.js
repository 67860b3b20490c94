'use strict';
// Prints a YAML file's documents as one JSON array (YAML merge keys resolved), for tests that read
// rendered manifests and the Compose file with the same parser the validators use.
// Usage: node to-json.js FILE
const { readDocuments } = require('./documents');

const [file] = process.argv.slice(2);
const { objects, problems } = readDocuments(file);
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
process.stdout.write(JSON.stringify(objects));
