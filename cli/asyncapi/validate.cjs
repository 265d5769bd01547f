// Validates an AsyncAPI document with the AsyncAPI project's parser: prints every error
// and warning with its path, exits 1 on any error (or when nothing could be parsed).
const { Parser, fromFile } = require('@asyncapi/parser');

async function main(file) {
  const { document, diagnostics } = await fromFile(new Parser(), file).parse();
  const severities = ['error', 'warning', 'info', 'hint'];
  const reported = diagnostics.filter((d) => d.severity <= 1);
  for (const d of reported) {
    console.log(`${severities[d.severity]} ${d.code} at ${d.path.join('.') || '(document)'}: ${d.message}`);
  }
  const errors = diagnostics.filter((d) => d.severity === 0).length;
  if (!document || errors > 0) {
    console.log(`${file}: ${errors} errors`);
    process.exit(1);
  }
  const channels = document.channels().length;
  const messages = document.components().messages().length;
  const operations = document.operations().length;
  console.log(`${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${messages} messages, ${operations} operations, ${reported.length} warnings)`);
}

main(process.argv[2]).catch((error) => {
  console.log(`cannot validate ${process.argv[2]}: ${error.message}`);
  process.exit(1);
});
