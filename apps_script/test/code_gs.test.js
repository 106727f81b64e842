'use strict';
// Unit tests of Code.gs, loaded as is into a node:vm context with strict fakes of the Apps
// Script services; UrlFetchApp makes real HTTP requests to a fake webhook in another process.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

const fakes = require('./gas_fakes.js');
const { startFakeWebhook } = require('./fake_webhook.js');

const SECRET = 'unit-test-secret-0123456789abcdef';
const CONTRACT_KEYS = ['postcode', 'mpan', 'voltage', 'profile_url', 'kva', 'flex_fraction', 'spreadsheet_id', 'worksheet'];

let hook;

before(async () => {
  hook = await startFakeWebhook(SECRET);
});

after(() => hook && hook.stop());

/** A sheet with typical inputs, the webhook configured, and Code.gs loaded. */
function setup(opts = {}) {
  const world = fakes.createWorld({
    sheets: opts.sheets,
    properties: opts.properties || { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET },
  });
  const sheet = (opts.sheets || [['BESS', 0]])[0][0];
  fakes.setCell(world, sheet, 'A6', 'B1 1AA');
  // Typed as a number: Sheets holds 1.405566778899E12 and displays the digits.
  fakes.setCell(world, sheet, 'B6', 1405566778899, '1405566778899');
  fakes.setCell(world, sheet, 'A9', 'HV');
  fakes.setCell(world, sheet, 'B15', 'https://example.com/site-profile.csv');
  fakes.setCell(world, sheet, 'C15', 500, '500');
  fakes.setCell(world, sheet, 'C16', 0.3, '30%');
  const ctx = fakes.loadCodeGs(world);
  return { world, ctx };
}

async function serverLogSince(n) {
  return (await hook.log()).slice(n);
}

function bodyOf(entry) {
  return JSON.parse(Buffer.from(entry.body_b64, 'base64').toString('utf8'));
}

describe('loading and the menu', () => {
  test('Code.gs defines the entry points and no simple onEdit', () => {
    const { ctx } = setup();
    for (const fn of ['onOpen', 'runLookup', 'showSettings', 'installAutoRerun', 'removeAutoRerun', 'handleEdit']) {
      assert.equal(typeof ctx[fn], 'function', fn);
    }
    // A simple onEdit would run without authorisation and could not call UrlFetchApp.
    assert.equal(ctx.onEdit, undefined);
  });

  test('no URL or secret is written in the code, and no cell is read with getValue', () => {
    const src = fs.readFileSync(fakes.CODE_GS, 'utf8');
    assert.ok(!/https?:\/\/[\w-]+\./.test(src), 'Code.gs contains a URL');
    assert.ok(!/\.getValues?\(/.test(src), 'Code.gs reads a cell with getValue(s)');
  });

  test('onOpen, run as a simple trigger, adds the BESS menu wired to real functions', () => {
    const { world, ctx } = setup();
    fakes.execute(world, ctx, 'onOpen', { authMode: 'LIMITED' }, 'simple');
    assert.equal(world.menus.length, 1);
    const menu = world.menus[0];
    assert.equal(menu.caption, 'BESS');
    assert.deepEqual(menu.items.map((i) => i.label),
      ['Look up DNO & DUoS', 'Settings…', 'Turn on auto re-run', 'Turn off auto re-run']);
    for (const item of menu.items) assert.equal(typeof ctx[item.fn], 'function', item.fn);
    assert.equal(menu.items[0].fn, 'runLookup');
  });
});

describe('the request', () => {
  test('inputs reach the webhook as displayed strings (a typed MPAN is not rounded)', async () => {
    const { world, ctx } = setup();
    const n = (await hook.log()).length;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, true);
    const [entry] = await serverLogSince(n);
    assert.equal(entry.url, '/lookup');
    assert.equal(entry.method, 'POST');
    assert.match(entry.headers['content-type'], /^application\/json/);
    const body = bodyOf(entry);
    assert.deepEqual(Object.keys(body).sort(), [...CONTRACT_KEYS].sort());
    assert.deepEqual(body, {
      postcode: 'B1 1AA',
      mpan: '1405566778899',
      voltage: 'HV',
      profile_url: 'https://example.com/site-profile.csv',
      kva: '500',
      flex_fraction: '30%',
      spreadsheet_id: world.spreadsheetId,
      worksheet: 'BESS',
    });
  });

  test('the signature verifies (recomputed with node:crypto over the bytes received)', async () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'Ŵrexham – LL11'); // non-ASCII goes over as \u escapes
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'runLookup');
    const [entry] = await serverLogSince(n);
    assert.equal(entry.sig_ok, true);
    const raw = Buffer.from(entry.body_b64, 'base64');
    assert.ok(raw.every((b) => b < 0x80), 'body is ASCII');
    assert.equal(JSON.parse(raw.toString()).postcode, 'Ŵrexham – LL11');
    const ts = entry.headers['x-timestamp'];
    assert.match(ts, /^\d{10}$/);
    assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 10);
    const expected = crypto.createHmac('sha256', SECRET)
      .update(Buffer.concat([Buffer.from(`${ts}.`), raw])).digest('hex');
    assert.equal(entry.headers['x-signature'], expected);
    // The fake returned signed bytes as Apps Script does; some were negative.
    assert.ok(world.hmacResults[0].some((b) => b < 0));
  });

  test('the same inputs twice within a second are both accepted (no replayed signature)', async () => {
    const { world, ctx } = setup();
    const n = (await hook.log()).length;
    assert.equal(fakes.execute(world, ctx, 'runLookup').ok, true);
    assert.equal(fakes.execute(world, ctx, 'runLookup').ok, true);
    const entries = await serverLogSince(n);
    assert.equal(entries.length, 2);
    assert.ok(entries.every((e) => e.sig_ok && e.code === 200));
    assert.notEqual(entries[0].headers['x-timestamp'], entries[1].headers['x-timestamp']);
  });

  test('success: a toast, and the script leaves the status cells to the webhook', () => {
    const { world, ctx } = setup();
    fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual(world.toasts.at(-1), { msg: 'Results written', title: 'BESS lookup done', timeoutSeconds: undefined });
    assert.deepEqual(fakes.statusRow(world), ['', '', '', '', '', '', '', '']);
  });
});

describe('re-run on edit', () => {
  test('editing a non-input cell makes no request', async () => {
    const { world, ctx } = setup();
    const n = (await hook.log()).length;
    for (const a1 of ['D6', 'A5', 'A7', 'C6', 'B16', 'C14', 'H4', 'D1:Z3', 'A10:C14', 'D15:H16']) {
      const e = fakes.edit(world, 'BESS', a1.split(':')[0], 'x');
      assert.equal(fakes.execute(world, ctx, 'handleEdit', fakes.editEvent(world, 'BESS', a1)), null, a1);
      assert.ok(e);
    }
    assert.equal(world.fetches.length, 0);
    assert.equal(world.toasts.length, 0);
    assert.equal((await serverLogSince(n)).length, 0);
  });

  test('editing an input cell, or a range covering one, makes exactly one request each', async () => {
    const { world, ctx } = setup();
    const n = (await hook.log()).length;
    const edits = ['A6', 'B6', 'A9', 'B15', 'C15', 'C16', 'A5:C7', 'A1:Z100', 'C16:C20'];
    for (const a1 of edits) {
      fakes.execute(world, ctx, 'handleEdit', fakes.editEvent(world, 'BESS', a1));
    }
    const entries = await serverLogSince(n);
    assert.equal(entries.length, edits.length);
    assert.ok(entries.every((e) => e.sig_ok && e.code === 200));
  });

  test('with auto re-run tied to a tab, edits on other tabs make no request', async () => {
    const { world, ctx } = setup({
      sheets: [['BESS', 0], ['Profile', 77]],
      properties: { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET, AUTO_RERUN_SHEET_ID: '0' },
    });
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'handleEdit', fakes.edit(world, 'Profile', 'B6', '123'));
    assert.equal((await serverLogSince(n)).length, 0);
    fakes.execute(world, ctx, 'handleEdit', fakes.edit(world, 'BESS', 'B6', '00800999932 1405566778899'));
    const entries = await serverLogSince(n);
    assert.equal(entries.length, 1);
    assert.equal(bodyOf(entries[0]).worksheet, 'BESS');
    assert.equal(bodyOf(entries[0]).mpan, '00800999932 1405566778899');
  });

  test('as a simple trigger the handler gets Google\'s permission error, shown in A4', async () => {
    const { world, ctx } = setup();
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'handleEdit', fakes.editEvent(world, 'BESS', 'B6'), 'simple');
    assert.equal((await serverLogSince(n)).length, 0);
    const status = fakes.statusRow(world);
    assert.equal(status[0], 'error');
    assert.equal(status[1], 'Could not reach the webhook: You do not have permission to call ' +
      'UrlFetchApp.fetch. Required permissions: https://www.googleapis.com/auth/script.external_request');
  });
});

describe('failures', () => {
  test('a webhook error shows its message and bad fields in A4:H4 and a toast', () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'ERR400');
    const before = Date.now();
    const result = fakes.execute(world, ctx, 'handleEdit', fakes.editEvent(world, 'BESS', 'A6'));
    assert.equal(result.ok, false);
    const message = 'bad input (mpan: check digit is 9, expected 2; ' +
      'kva: must be a number, got "lots") [HTTP 400]';
    const status = fakes.statusRow(world);
    assert.deepEqual(status.slice(0, 6), ['error', message, '', '', '', '']);
    assert.ok(Math.abs(Date.parse(status[6]) - before) < 10000, status[6]);
    assert.equal(status[7], 'req-400-abc');
    assert.deepEqual(world.toasts.at(-1), { msg: message, title: 'BESS lookup failed', timeoutSeconds: undefined });
  });

  test('a non-JSON error body is shown with its HTTP code', () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'ERR502');
    fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual(fakes.statusRow(world).slice(0, 2), ['error', 'Webhook replied HTTP 502: 502 Bad Gateway']);
    assert.equal(world.toasts.at(-1).title, 'BESS lookup failed');
  });

  test('a wrong secret: the webhook\'s 401 message reaches A4', () => {
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: 'not-the-right-secret-at-all' } });
    fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual(fakes.statusRow(world).slice(0, 2),
      ['error', 'unauthorised: X-Signature does not match the request body [HTTP 401]']);
  });

  test('an unreachable webhook is reported, not thrown', async () => {
    const port = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET } });
    fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual(fakes.statusRow(world).slice(0, 2),
      ['error', `Could not reach the webhook: Address unavailable: ${url}/lookup`]);
  });

  test('without settings nothing is sent and A4 says how to set them', () => {
    const { world, ctx } = setup({ properties: {} });
    fakes.execute(world, ctx, 'runLookup');
    assert.equal(world.fetches.length, 0);
    const status = fakes.statusRow(world);
    assert.equal(status[0], 'error');
    assert.match(status[1], /BESS > Settings…/);
    assert.equal(world.toasts.at(-1).title, 'BESS lookup failed');
  });
});

describe('the document lock', () => {
  const runExecution = (config) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'run_execution.js'), '--run', JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`execution exited ${code}`))));
  });

  /** Two edits in quick succession, each its own execution (process), as Sheets runs them. */
  async function twoQuickEdits(lockMode) {
    const world = fakes.createWorld({ properties: { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET } });
    const n = (await hook.log()).length;
    const config = (postcode) => ({ dir: world.dir, spreadsheetId: world.spreadsheetId, lockMode, cells: [['A6', postcode], ['B6', 1405566778899, '1405566778899']], edit: 'A6' });
    const first = runExecution(config('SLOW first'));
    // The second edit happens while the first execution's request is in flight.
    for (let i = 0; i < 500 && (await hook.log()).length === n; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const second = runExecution(config('SLOW second'));
    const results = await Promise.all([first, second]);
    return { results, entries: await serverLogSince(n) };
  }

  test('two quick edits make two requests, in order, not interleaved', async () => {
    const { results, entries } = await twoQuickEdits('real');
    assert.equal(entries.length, 2);
    assert.deepEqual(entries.map((e) => bodyOf(e).postcode), ['SLOW first', 'SLOW second']);
    assert.deepEqual(entries.map((e) => e.in_flight_at_arrival), [0, 0]);
    assert.ok(entries[1].arrived >= entries[0].finished,
      `second request arrived ${entries[0].finished - entries[1].arrived} ms before the first finished`);
    for (const r of results) assert.equal(r.toasts.at(-1).title, 'BESS lookup done');
  });

  test('negative control: without the lock the same two edits do interleave', async () => {
    const { entries } = await twoQuickEdits('broken');
    assert.equal(entries.length, 2);
    assert.deepEqual(entries.map((e) => e.in_flight_at_arrival), [0, 1], 'the harness cannot see interleaving');
  });

  test('a run that cannot get the lock says so and sends nothing', () => {
    const { world, ctx } = setup();
    fs.mkdirSync(path.join(world.dir, 'document.lock')); // another execution holds it
    ctx.LOCK_WAIT_MS = 200;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual({ ...result }, { ok: false, busy: true });
    assert.equal(world.fetches.length, 0);
    assert.match(world.toasts.at(-1).msg, /Another lookup .* still running/);
  });
});

describe('auto re-run trigger', () => {
  test('turning it on twice installs one on-edit trigger for handleEdit', () => {
    const { world, ctx } = setup();
    fakes.execute(world, ctx, 'installAutoRerun');
    fakes.execute(world, ctx, 'installAutoRerun');
    assert.equal(world.triggers.length, 1);
    assert.deepEqual(
      { handler: world.triggers[0].handler, type: world.triggers[0].eventType, source: world.triggers[0].sourceId },
      { handler: 'handleEdit', type: 'ON_EDIT', source: world.spreadsheetId });
    assert.equal(fakes.readProps(world).AUTO_RERUN_SHEET_ID, '0');
    assert.match(world.toasts.at(-1).msg, /A6, B6, A9, B15, C15 and C16/);
  });

  test('duplicates are removed, other triggers are kept, and turning it off removes it', () => {
    const { world, ctx } = setup();
    world.triggers.push(
      { id: 'a', handler: 'handleEdit', eventType: 'ON_EDIT', sourceId: world.spreadsheetId },
      { id: 'b', handler: 'handleEdit', eventType: 'ON_EDIT', sourceId: world.spreadsheetId },
      { id: 'c', handler: 'nightly', eventType: 'CLOCK', sourceId: null },
    );
    fakes.execute(world, ctx, 'installAutoRerun');
    assert.deepEqual(world.triggers.map((t) => t.id), ['a', 'c']);
    fakes.execute(world, ctx, 'removeAutoRerun');
    assert.deepEqual(world.triggers.map((t) => t.id), ['c']);
    assert.equal(fakes.readProps(world).AUTO_RERUN_SHEET_ID, undefined);
  });

  test('a simple trigger cannot install it (ScriptApp needs authorisation)', () => {
    const { world, ctx } = setup();
    assert.throws(() => fakes.execute(world, ctx, 'installAutoRerun', undefined, 'simple'),
      /Required permissions: https:\/\/www\.googleapis\.com\/auth\/script\.scriptapp/);
  });
});

describe('settings dialog', () => {
  const secret = 'S3cret-shared-with-the-webhook-0123';

  test('stores the URL (without a trailing slash) and the secret in Script Properties', () => {
    const { world, ctx } = setup({ properties: {} });
    world.promptReplies.push({ button: 'OK', text: ' https://bess-duos-abc.a.run.app/ ' }, { button: 'OK', text: secret });
    assert.equal(fakes.execute(world, ctx, 'showSettings'), true);
    assert.deepEqual(fakes.readProps(world), { WEBHOOK_URL: 'https://bess-duos-abc.a.run.app', WEBHOOK_SECRET: secret });
  });

  test('blank answers keep the current values', () => {
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret } });
    world.promptReplies.push({ button: 'OK', text: '' }, { button: 'OK', text: '' });
    assert.equal(fakes.execute(world, ctx, 'showSettings'), true);
    assert.deepEqual(fakes.readProps(world), { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret });
  });

  for (const [why, replies] of [
    ['an http:// URL', [{ button: 'OK', text: 'http://bess.example.com' }]],
    ['a URL with a query', [{ button: 'OK', text: 'https://bess.example.com/?k=1' }]],
    ['a short secret', [{ button: 'OK', text: 'https://bess.example.com' }, { button: 'OK', text: 'short' }]],
    ['a secret with spaces', [{ button: 'OK', text: 'https://bess.example.com' }, { button: 'OK', text: 'has spaces in it but is long' }]],
    ['cancel', [{ button: 'CANCEL', text: 'https://bess.example.com' }]],
    ['cancel on the secret', [{ button: 'OK', text: 'https://bess.example.com' }, { button: 'CLOSE', text: '' }]],
  ]) {
    test(`refuses ${why} and changes nothing`, () => {
      const { world, ctx } = setup({ properties: { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret } });
      world.promptReplies.push(...replies);
      assert.equal(fakes.execute(world, ctx, 'showSettings'), false);
      assert.deepEqual(fakes.readProps(world), { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret });
      assert.equal(world.promptReplies.length, 0);
    });
  }
});
