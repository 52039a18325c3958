// Writes the run's counts so `./cdc test` can close with one plain line ("tests: N passed,
// N failed") after jest's own summary; without CDC_TEST_SUMMARY it prints the line itself.
const { writeFileSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    // A suite that fails to load runs no test: count it, or a broken file would read as green.
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
    if (process.env.CDC_TEST_SUMMARY) writeFileSync(process.env.CDC_TEST_SUMMARY, `${line}\n`);
    else process.stdout.write(`\n${line}\n`);
  }
}
module.exports = SummaryReporter;
