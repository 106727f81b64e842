'use strict';
// End to end: sheet inputs -> Code.gs (in node:vm, strict fakes) -> signed HTTP -> the real
// Flask webhook (`bess-duos serve --dev`) -> gspread -> the local Sheets API test server;
// the output cells are read back over the Sheets API and checked against the core functions.
// The Python side is started by e2e_stack.py with the project's virtualenv.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const fakes = require('./gas_fakes.js');

const REPO = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const STACK = path.join(__dirname, 'e2e_stack.py');
const OUTPUT_RANGES = ['A4:H4', 'C6:H6', 'B9:D9', 'E9:H9', 'B10:D13', 'E15:H15', 'E16:F16'];
const SERVICE_ACCOUNT = 'bess-duos-test@bess-duos-test.iam.gserviceaccount.com'; // tests/sheets_server.py's key

/** GET on a fresh connection (the test process blocks in spawnSync between calls). */
function getJson(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text));
      });
    }).on('error', reject);
  });
}

function cellsOf(a1Range) {
  const g = fakes.parseA1(a1Range);
  const rows = [];
  for (let r = 0; r < g.numRows; r++) {
    const row = [];
    for (let c = 0; c < g.numCols; c++) row.push(String.fromCharCode(64 + g.col + c) + (g.row + r));
    rows.push(row);
  }
  return rows;
}

describe('end to end through the real webhook and the Sheets API test server', () => {
  let stack;
  let child;
  let world;
  let ctx;

  before(async () => {
    assert.ok(fs.existsSync(PYTHON), `no virtualenv Python at ${PYTHON}: create .venv first (.ci/run does)`);
    child = spawn(PYTHON, [STACK, 'serve'], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
    stack = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line && out.includes('\n')) resolve(JSON.parse(line));
      });
      child.on('exit', (code) => reject(new Error(`e2e_stack.py exited with ${code}`)));
      setTimeout(() => reject(new Error('e2e_stack.py printed no addresses within 90 s')), 90000).unref();
    });
    world = fakes.createWorld({
      spreadsheetId: stack.spreadsheet_id,
      sheets: [[stack.tab, 0]],
      editors: ['owner@example.com', SERVICE_ACCOUNT],
      properties: { WEBHOOK_URL: stack.webhook_url, WEBHOOK_SECRET: stack.sheet_key, SERVICE_ACCOUNT_EMAIL: SERVICE_ACCOUNT },
    });
    ctx = fakes.loadCodeGs(world);
    assert.equal(fakes.execute(world, ctx, 'setUpSheet').ok, true);
    fakes.execute(world, ctx, 'installAutoRerun');
  });

  after(async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.stdin.end();
    await exited;
  });

  /** An edit in the sheet: Apps Script fires every installed on-edit trigger's handler. */
  function editAndFire(a1, value, display) {
    const runs = fakes.edit(world, ctx, stack.tab, a1, value, display);
    assert.equal(runs.length, 1);
    assert.equal(world.failureEmails.length, 0);
    return runs[0].result;
  }

  /** The output cells as the Sheets API returns them (values.batchGet, unformatted). */
  async function sheetCells() {
    const query = OUTPUT_RANGES.map((r) => `ranges=${encodeURIComponent(`'${stack.tab}'!${r}`)}`).join('&');
    const url = `${stack.sheets_url}/v4/spreadsheets/${stack.spreadsheet_id}/values:batchGet?${query}&valueRenderOption=UNFORMATTED_VALUE`;
    const reply = await getJson(url, { Authorization: `Bearer ${stack.token}` });
    const cells = {};
    reply.valueRanges.forEach((vr, i) => {
      cellsOf(OUTPUT_RANGES[i]).forEach((row, r) => row.forEach((name, c) => {
        const values = (vr.values || [])[r] || [];
        cells[name] = c < values.length ? values[c] : '';
      }));
    });
    return cells;
  }

  async function apiWrites() {
    const log = await getJson(`${stack.sheets_url}/_test/requests`);
    return log.filter((r) => r.kind && r.kind.startsWith('values.') && !/get/i.test(r.kind));
  }

  function expectedCells(payload) {
    const run = spawnSync(PYTHON, [STACK, 'expect', '--profile', stack.profile_path, '--inputs', payload], { cwd: REPO, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout);
  }

  let afterFirstLookup;

  test('an input edit runs the lookup and the written cells equal the core results', async () => {
    fakes.setCell(world, stack.tab, 'A6', '');
    fakes.setCell(world, stack.tab, 'A9', '');
    fakes.setCell(world, stack.tab, 'B15', stack.profile_url);
    fakes.setCell(world, stack.tab, 'C15', 500, '500');
    fakes.setCell(world, stack.tab, 'C16', 0.3, '30%');

    // A non-input edit sends nothing and writes nothing.
    const writesBefore = (await apiWrites()).length;
    assert.equal(editAndFire('D20', 'note'), null);
    assert.equal(world.fetches.length, 0);

    // The seed example's core, typed as a number: Sheets holds 1.405566778899E12.
    const started = Date.now();
    const result = editAndFire('B6', 1405566778899, '1405566778899');
    assert.equal(world.fetches.length, 1);
    const payload = world.fetches[0].payload;
    assert.equal(JSON.parse(payload).mpan, '1405566778899');
    assert.equal(world.fetches[0].status, 200, JSON.stringify(world.toasts));
    assert.equal(result.ok, true);

    const writes = (await apiWrites()).slice(writesBefore);
    assert.deepEqual(writes.map((w) => w.kind), ['values.batchUpdate'], 'one batched write per lookup');

    const cells = await sheetCells();
    const expected = expectedCells(payload);
    const written = Object.fromEntries(Object.keys(expected).map((k) => [k, cells[k]]));
    assert.deepEqual(written, expected);
    // Spot checks that the comparison is about real values (area 14, NGED West Midlands).
    assert.equal(cells.C6, 14);
    assert.equal(cells.E6, 'NGED-WM');
    assert.equal(typeof cells.E15, 'number');
    assert.ok(cells.E15 > 0);
    // Status block: the webhook's own time and request id.
    assert.ok(['ok', 'warning'].includes(cells.A4));
    assert.ok(Math.abs(Date.parse(cells.G4) - started) < 120000, cells.G4);
    assert.match(String(cells.H4), /^[A-Za-z0-9._-]+$/);
    assert.equal(world.toasts.at(-1).title, cells.A4 === 'ok' ? 'BESS lookup done' : 'BESS lookup: warning');
    afterFirstLookup = cells;
  });

  test('a bad input: the webhook\'s message lands in A4 and a toast; outputs are untouched', async (t) => {
    if (!afterFirstLookup) t.skip('needs the first lookup');
    const result = editAndFire('C15', 'lots');
    assert.equal(result.ok, false);
    const status = fakes.statusRow(world, stack.tab);
    assert.equal(status[0], 'error');
    assert.match(status[1], /^bad input \(kva: agreed capacity 'lots' is not a positive number of kVA.*\) \[HTTP 400\]$/);
    assert.match(status[7], /^[A-Za-z0-9._-]+$/);
    assert.deepEqual(world.toasts.at(-1), { msg: status[1], title: 'BESS lookup failed', timeoutSeconds: undefined });

    const cells = await sheetCells();
    assert.equal(cells.A4, 'error');
    assert.match(cells.B4, /kva/);
    assert.equal(cells.H4, status[7], 'the same request id in the sheet and in the reply');
    for (const [name, value] of Object.entries(afterFirstLookup)) {
      if (!/^[A-H]4$/.test(name)) assert.deepEqual(cells[name], value, name);
    }
  });

  test('an MPAN the sheet shows rounded (1.40557E+12) is refused with how to fix it', () => {
    fakes.setCell(world, stack.tab, 'C15', 500, '500');
    const result = editAndFire('B6', 1405566778899, '1.40557E+12');
    assert.equal(result.ok, false);
    assert.equal(JSON.parse(world.fetches.at(-1).payload).mpan, '1.40557E+12');
    const status = fakes.statusRow(world, stack.tab);
    assert.equal(status[0], 'error');
    assert.match(status[1], /^bad input \(mpan: .*rounded it; format the cell as plain text.*\) \[HTTP 400\]$/);
  });

  test('two quick edits, each its own execution: two requests in turn, the newer one wins', async () => {
    const triggerUid = fakes.allTriggers(world)[0].id;
    const run = (kva) => new Promise((resolve, reject) => {
      const config = {
        dir: world.dir,
        spreadsheetId: stack.spreadsheet_id,
        tab: stack.tab,
        triggerUid,
        user: 'owner@example.com',
        lockMode: 'real',
        cells: [['B6', 1405566778899, '1405566778899'], ['B15', stack.profile_url], ['C15', kva, String(kva)], ['C16', 0.3, '30%']],
        edit: 'C15',
      };
      const proc = spawn(process.execPath, [path.join(__dirname, 'run_execution.js'), '--run', JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      proc.stdout.on('data', (d) => { out += d; });
      proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`execution exited ${code}`))));
    });
    const writesBefore = (await apiWrites()).length;
    const first = run(800);
    await new Promise((r) => setTimeout(r, 50));
    const [a, b] = await Promise.all([first, run(1200)]);
    // The cells are shared: whichever execution holds the lock also looks up the newer edit.
    const fetches = [...a.fetches, ...b.fetches].sort((x, y) => x.started - y.started);
    assert.deepEqual(fetches.map((f) => f.status), [200, 200], JSON.stringify([a.toasts, b.toasts]));
    assert.ok(fetches[1].started >= fetches[0].ended, 'the requests overlapped');
    assert.deepEqual(fetches.map((f) => JSON.parse(f.payload).kva), ['800', '1200']);
    assert.ok(a.result.ok && b.result.ok);
    assert.equal((await apiWrites()).slice(writesBefore).length, 2);
    const cells = await sheetCells();
    const expected = expectedCells(fetches[1].payload);
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, cells[k]])), expected);
  });

  test('Set up sheet put formats, labels and notes beside the cells the webhook fills', async () => {
    const c = (a1) => fakes.cell(world, stack.tab, a1);
    assert.deepEqual(['E15', 'E16', 'F16', 'B9'].map((a1) => c(a1).format),
      ['"£"#,##0.00', '"£"#,##0.00', '0.00"%"', '0.000" p/kWh"']);
    assert.deepEqual(['C3', 'D3', 'E3', 'F3'].map((a1) => c(a1).value),
      ['Tariff', 'Charging year', 'Assumptions', 'Source (workbook / sheet / row)']);
    assert.match(c('E15').note, /Annual DUoS £/);
    assert.equal(c('B6').format, '@');
    // The status row the webhook wrote: tariff, charging year, assumptions (no voltage given, 1200
    // kVA), source.
    const cells = await sheetCells();
    assert.match(String(cells.C4), /^LV Site Specific Band \d$/);
    assert.match(String(cells.D4), /^20\d\d\/\d\d$/);
    assert.equal(cells.E4, 'LV assumed');
    assert.match(String(cells.F4), /^MIDE - .*\.xlsx \/ .* \/ row \d+$/);
    assert.equal(typeof cells.E9, 'number');
  });

  test('Test connection: health, signed call, shared with the service account, profile readable', () => {
    const result = fakes.execute(world, ctx, 'testConnection');
    assert.deepEqual([...result.lines].slice(0, 4), [
      `✓ The webhook answers (${stack.webhook_url}).`,
      '✓ The webhook accepts this sheet\'s key and clock (signed request).',
      `✓ The sheet is shared with ${SERVICE_ACCOUNT} as editor (the e-mail in Settings).`,
      '✓ The webhook can read the profile link.',
    ]);
    assert.equal(result.ok, true);
  });

  test('Test connection with no e-mail in Settings: the webhook names its service account (/ready)', () => {
    const props = fakes.readProps(world);
    fakes.writeProps(world, 'document', { ...props, SERVICE_ACCOUNT_EMAIL: '' });
    try {
      const result = fakes.execute(world, ctx, 'testConnection');
      // the key file's client_email (tests/sheets_server.py), as the real webhook reads it
      assert.equal(result.lines[2], `✓ The sheet is shared with ${SERVICE_ACCOUNT} as editor (the webhook's service account, from /ready).`);
      assert.equal(result.ok, true, result.lines.join('\n'));
    } finally {
      fakes.writeProps(world, 'document', props);
    }
  });

  test('the battery in Settings reaches the real webhook, and its answer has the battery\'s value', () => {
    const props = fakes.readProps(world);
    fakes.writeProps(world, 'document', { ...props, BATTERY_POWER_KW: '50', BATTERY_ENERGY_KWH: '100', BATTERY_EFFICIENCY_PCT: '90', EXPORT_PRICE_P_PER_KWH: '5' });
    try {
      const reply = fakes.execute(world, ctx, 'sidebarLookup');
      assert.equal(reply.ok, true, reply.message);
      const sent = JSON.parse(world.fetches.at(-1).payload);
      assert.deepEqual([sent.battery_power_kw, sent.battery_energy_kwh, sent.battery_efficiency, sent.export_price_p_per_kwh], [50, 100, '90%', 5]);
      const b = reply.answer.battery;
      assert.deepEqual({ ...b.inputs }, { power_kw: 50, energy_kwh: 100, round_trip_efficiency: 0.9, export_price_p_per_kwh: 5 });
      assert.ok(b.annual_value_gbp > 0 && b.cycles_per_year > 0, JSON.stringify(b));
      const d = b.duos_saving_gbp_per_year;
      assert.ok(Math.abs(d.red_units + d.amber_units + d.green_units + d.exceeded_capacity - d.total) < 1e-6);
      // Import costs the unit rate + 5 p and export earns 5 p: with no negative unit rates exporting
      // never pays, so the value is the DUoS saved less the losses at 5 p/kWh.
      assert.equal(b.export_kwh_per_year, 0);
      assert.ok(Math.abs(d.total - b.losses_kwh_per_year * 0.05 - b.annual_value_gbp) < 0.01);
    } finally {
      fakes.writeProps(world, 'document', props);
    }
  });

  test('write: false: the script writes the real answer into the cells itself, formatted', async () => {
    fakes.writeProps(world, 'document', { ...fakes.readProps(world), SCRIPT_WRITES_CELLS: 'true' });
    const writesBefore = (await apiWrites()).length;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, true);
    assert.equal(JSON.parse(world.fetches.at(-1).payload).write, false);
    assert.equal((await apiWrites()).length, writesBefore, 'the webhook wrote nothing');
    const expected = expectedCells(world.fetches.at(-1).payload.replace(',"write":false', ''));
    const c = (a1) => fakes.cell(world, stack.tab, a1);
    for (const [a1, value] of Object.entries(expected)) assert.deepEqual(c(a1).value, value, a1);
    const gbp = expected.E15.toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    assert.equal(c('E15').display, `£${gbp}`);
    assert.equal(c('F16').display, `${expected.F16.toFixed(2)}%`);
  });
});
