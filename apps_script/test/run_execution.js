'use strict';
/**
 * One Apps Script execution in its own process: an edit of one cell fires handleEdit.
 * Used by the lock test to run two executions at once, as two quick edits do in Sheets.
 * Usage: node run_execution.js --run '<json>' with {dir, lockMode, cells: [[a1, value,
 * display]], edit: a1}; prints {result, fetches, toasts, status} as JSON.
 *
 * Not a test file: nothing runs without `--run`.
 */

const fakes = require('./gas_fakes.js');

function main(config) {
  const world = fakes.createWorld({
    dir: config.dir, spreadsheetId: config.spreadsheetId, lockMode: config.lockMode,
  });
  const ctx = fakes.loadCodeGs(world);
  for (const [a1, value, display] of config.cells) fakes.setCell(world, 'BESS', a1, value, display);
  const result = fakes.execute(world, ctx, 'handleEdit', fakes.editEvent(world, 'BESS', config.edit));
  process.stdout.write(JSON.stringify({
    result,
    fetches: world.fetches,
    toasts: world.toasts,
    status: fakes.statusRow(world),
  }));
}

if (require.main === module && process.argv[2] === '--run') main(JSON.parse(process.argv[3]));
