// Validate an AsyncAPI document with the AsyncAPI project's own parser.
// Usage: node validate.mjs FILE. Exit 0 with one line when the parser finds no error; exit 1
// with the error diagnostics otherwise (warnings are printed but do not fail); exit 2 for usage.
import { resolve } from 'node:path';
import { DiagnosticSeverity, Parser, fromFile } from '@asyncapi/parser';

const [file, ...extra] = process.argv.slice(2);
if (!file || extra.length > 0) {
  console.error('usage: node validate.mjs FILE');
  process.exit(2);
}

const where = (diagnostic) => {
  const path = diagnostic.path.length > 0 ? diagnostic.path.join('.') : '(document)';
  // Ranges are zero-based; editors count lines from 1.
  const line = diagnostic.range ? `:${diagnostic.range.start.line + 1}` : '';
  return `${file}${line} ${path}`;
};

let diagnostics;
let document;
try {
  ({ document, diagnostics } = await fromFile(new Parser(), resolve(file)).parse());
} catch (error) {
  // An unreadable file is not a diagnostic: say so in one line rather than with a stack.
  console.error(`${file}: cannot be read: ${error.message}`);
  process.exit(1);
}

const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning);
for (const diagnostic of warnings) {
  console.error(`warning: ${where(diagnostic)}: ${diagnostic.message} [${diagnostic.code}]`);
}
if (errors.length > 0 || document === undefined) {
  for (const diagnostic of errors) {
    console.error(`error: ${where(diagnostic)}: ${diagnostic.message} [${diagnostic.code}]`);
  }
  console.error(`${file}: invalid (${errors.length} error(s))`);
  process.exit(1);
}

const channels = document.channels().length;
const operations = document.operations().length;
console.log(
  `${file}: valid AsyncAPI ${document.version()} ` +
    `(${channels} channels, ${operations} operations, ${warnings.length} warnings)`,
);
