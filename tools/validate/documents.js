'use strict';
// What both validators share: reading a YAML file's documents, and printing problems one a line as
// "FILE: WHAT: /json/path: what is wrong".
const fs = require('fs');
const YAML = require('yaml');

/** The file's documents as plain objects; YAML merge keys (<<) resolved, as docker compose and kubectl do. */
function readDocuments(file) {
  const text = fs.readFileSync(file, 'utf8');
  const documents = YAML.parseAllDocuments(text, { merge: true });
  const problems = documents.flatMap((d) => d.errors.map((e) => `${file}: not valid YAML: ${e.message.split('\n')[0]}`));
  if (problems.length > 0) {
    return { objects: [], problems };
  }
  return { objects: documents.map((d) => d.toJS({ maxAliasCount: -1 })).filter((o) => o !== null && o !== undefined), problems: [] };
}

/** Command-line entry: validates the file named by the only argument, prints every problem, exits 1 when there are any. */
function main(validate) {
  const [file] = process.argv.slice(2);
  if (!file) {
    console.error(`usage: node ${require('path').basename(process.argv[1])} FILE`);
    process.exit(2);
  }
  let problems;
  try {
    const read = readDocuments(file);
    problems = read.problems.length > 0 ? read.problems : validate(read.objects).map((p) => `${file}: ${p}`);
  } catch (e) {
    problems = [`${file}: ${e.message}`];
  }
  for (const problem of problems) {
    console.error(problem);
  }
  if (problems.length > 0) {
    process.exit(1);
  }
}

module.exports = { readDocuments, main };
