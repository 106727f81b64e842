'use strict';
/**
 * One Apps Script execution in its own process: an edit of one cell fires the installed
 * on-edit trigger (`triggerUid`, run as `user`). Used by the lock tests to run two executions
 * at once, as two quick edits do in Sheets; the cells, properties and lock are shared through
 * the world directory. Usage: node run_execution.js --run '<json>' with {dir, spreadsheetId,
 * lockMode, lockWaitMs?, cells: [[a1, value, display]], edit: a1, triggerUid, user}; prints
 * {result, fetches, toasts, status} as JSON.
 *
 * Not a test file: nothing runs without `--run`.
 */

const fakes = require('./gas_fakes.js');

function main(config) {
  const world = fakes.createWorld({
    dir: config.dir, spreadsheetId: config.spreadsheetId, lockMode: config.lockMode,
    sheets: [[config.tab || 'BESS', 0]],
  });
  const ctx = fakes.loadCodeGs(world);
  if (config.lockWaitMs) ctx.LOCK_WAIT_MS = config.lockWaitMs;
  const tab = config.tab || 'BESS';
  for (const [a1, value, display] of config.cells) fakes.setCell(world, tab, a1, value, display);
  const event = fakes.editEvent(world, tab, config.edit, config.triggerUid);
  const result = fakes.execute(world, ctx, 'handleEdit', event, 'trigger', config.user);
  process.stdout.write(JSON.stringify({
    result,
    fetches: world.fetches,
    toasts: world.toasts,
    status: fakes.statusRow(world, tab),
  }));
}

if (require.main === module && process.argv[2] === '--run') main(JSON.parse(process.argv[3]));
