'use strict';
// Unit tests of Code.gs (with Layout.gs), loaded as is into a node:vm context with strict fakes
// of the Apps Script services; UrlFetchApp makes real HTTP requests to a fake webhook in another
// process. Tests named "D<n>" cover the defects of issue 16 (each failed on the old Code.gs).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

const fakes = require('./gas_fakes.js');
const { startFakeWebhook, sheetKey } = require('./fake_webhook.js');

const SECRET = 'unit-test-master-secret-0123456789abcdef';
/** Stands for this spreadsheet's own key in `properties` (setup puts the real one). */
const KEY = 'SHEET-KEY';
const SERVICE_ACCOUNT = 'bess-duos@bess-project.iam.gserviceaccount.com';
const CONTRACT_KEYS = ['postcode', 'mpan', 'voltage', 'profile_url', 'kva', 'flex_fraction', 'spreadsheet_id', 'worksheet'];
const ANSWER = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'lookup_answer.json'), 'utf8'));

let hook;

before(async () => {
  hook = await startFakeWebhook(SECRET);
});

after(() => hook && hook.stop());

/** A sheet with typical inputs, the webhook configured, and the script loaded. */
function setup(opts = {}) {
  const world = fakes.createWorld({
    sheets: opts.sheets,
    editors: opts.editors,
    grantedScopes: opts.grantedScopes,
  });
  const props = opts.properties || { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: KEY };
  fakes.writeProps(world, 'document', Object.fromEntries(Object.entries(props)
    .map(([k, v]) => [k, v === KEY ? sheetKey(SECRET, world.spreadsheetId) : v])));
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

/** Turns auto re-run on as `user` (a menu run). */
function turnOn(world, ctx, user = 'owner@example.com') {
  return fakes.execute(world, ctx, 'installAutoRerun', undefined, 'full', user);
}

async function serverLogSince(n) {
  return (await hook.log()).slice(n);
}

async function lookupsSince(n) {
  return (await serverLogSince(n)).filter((e) => e.url === '/lookup');
}

function bodyOf(entry) {
  return JSON.parse(Buffer.from(entry.body_b64, 'base64').toString('utf8'));
}

describe('loading and the menu', () => {
  test('the script defines the entry points and no simple onEdit', () => {
    const { ctx } = setup();
    for (const fn of ['onOpen', 'onInstall', 'runLookup', 'showSidebar', 'sidebarLookup', 'setUpSheet',
      'showSettings', 'getSettings', 'saveSettings', 'testConnection', 'installAutoRerun',
      'removeAutoRerun', 'handleEdit']) {
      assert.equal(typeof ctx[fn], 'function', fn);
    }
    // A simple onEdit would run without authorisation and could not call UrlFetchApp.
    assert.equal(ctx.onEdit, undefined);
  });

  test('no URL or secret is written in the code, and no cell is read with getValue', () => {
    const src = fs.readFileSync(fakes.CODE_GS, 'utf8').replace(/https:\/\/www\.googleapis\.com\/auth\/[\w.]+/g, 'SCOPE');
    assert.ok(!/https?:\/\/[\w-]+\./.test(src), 'Code.gs contains a URL');
    assert.ok(!/\.getValues?\(/.test(src), 'Code.gs reads a cell with getValue(s)');
  });

  for (const entry of ['onOpen', 'onInstall']) {
    test(`${entry}, run as a simple trigger, adds the add-on menu wired to real functions`, () => {
      const { world, ctx } = setup();
      fakes.execute(world, ctx, entry, { authMode: 'NONE' }, 'simple');
      assert.equal(world.menus.length, 1);
      const menu = world.menus[0];
      assert.equal(menu.caption, '(add-on)');
      assert.deepEqual(menu.items.filter((i) => !i.separator).map((i) => i.label), [
        'Look up DNO & DUoS', 'Show results (sidebar)', 'Set up sheet', 'Settings…',
        'Test connection', 'Turn on auto re-run', 'Turn off auto re-run']);
      for (const item of menu.items.filter((i) => !i.separator)) {
        assert.equal(typeof ctx[item.fn], 'function', item.fn);
      }
      assert.equal(menu.items[0].fn, 'runLookup');
    });
  }
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
    const keyId = `sheet:${world.spreadsheetId}`;
    assert.equal(entry.headers['x-key-id'], keyId);
    // Scheme v2 (webhook/auth.py), keyed with this spreadsheet's own key.
    const expected = crypto.createHmac('sha256', sheetKey(SECRET, world.spreadsheetId))
      .update(Buffer.concat([Buffer.from(`bess-duos-v2\n${ts}\nPOST\n/lookup\n${keyId}\n`), raw])).digest('hex');
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

  test('D6: the profile link is the URL behind a labelled link, a run of text or a HYPERLINK()', async () => {
    const url = 'https://drive.google.com/file/d/1AbCdEf/view';
    const cases = [
      ['a labelled link', 'site profile', { link: url }],
      ['a Drive file chip', 'site-profile.csv', { link: url }],
      ['a link on part of the text', 'see site profile', { runs: [{ text: 'see ', link: null }, { text: 'site profile', link: url }] }],
      ['a HYPERLINK() formula', 'site profile', { formula: `=HYPERLINK("${url}", "site profile")` }],
    ];
    for (const [what, display, extra] of cases) {
      const { world, ctx } = setup();
      fakes.setCell(world, 'BESS', 'B15', display, display, extra);
      const n = (await hook.log()).length;
      fakes.execute(world, ctx, 'runLookup');
      const [entry] = await lookupsSince(n);
      assert.equal(bodyOf(entry).profile_url, url, what);
    }
  });
});

describe('re-run on edit', () => {
  test('editing a non-input cell makes no request', async () => {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    const n = (await hook.log()).length;
    for (const a1 of ['D6', 'A5', 'A7', 'C6', 'B16', 'C14', 'H4', 'D1:Z3', 'A10:C14', 'D15:H16']) {
      const runs = fakes.edit(world, ctx, 'BESS', a1);
      assert.deepEqual(runs.map((r) => r.result), [null], a1);
    }
    assert.equal(world.fetches.length, 0);
    assert.equal((await serverLogSince(n)).length, 0);
  });

  test('editing an input cell, or a range covering one, makes exactly one request each', async () => {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    const n = (await hook.log()).length;
    const edits = ['A6', 'B6', 'A9', 'B15', 'C15', 'C16', 'A5:C7', 'A1:Z100', 'C16:C20'];
    for (const a1 of edits) fakes.edit(world, ctx, 'BESS', a1);
    const entries = await serverLogSince(n);
    assert.equal(entries.length, edits.length);
    assert.ok(entries.every((e) => e.sig_ok && e.code === 200));
    assert.equal(world.failureEmails.length, 0);
  });

  test('edits on another tab make no request', async () => {
    const { world, ctx } = setup({ sheets: [['BESS', 0], ['Profile', 77]] });
    turnOn(world, ctx);
    const n = (await hook.log()).length;
    fakes.edit(world, ctx, 'Profile', 'B6', '123');
    assert.equal((await serverLogSince(n)).length, 0);
    fakes.edit(world, ctx, 'BESS', 'B6', '00800999932 1405566778899');
    const entries = await serverLogSince(n);
    assert.equal(entries.length, 1);
    assert.equal(bodyOf(entries[0]).worksheet, 'BESS');
    assert.equal(bodyOf(entries[0]).mpan, '00800999932 1405566778899');
  });

  test('D1: after user B turns auto re-run off, user A\'s trigger (which B cannot delete) does nothing', async () => {
    const { world, ctx } = setup({ sheets: [['BESS', 0], ['Data', 5]] });
    turnOn(world, ctx, 'alice@example.com');
    fakes.execute(world, ctx, 'removeAutoRerun', undefined, 'full', 'bob@example.com');
    assert.equal(fakes.allTriggers(world).length, 1, 'Alice\'s trigger is still there');
    assert.match(world.toasts.at(-1).msg, /turned on by alice@example\.com; their trigger now does nothing/);
    const n = (await hook.log()).length;
    for (const [tab, a1] of [['BESS', 'B6'], ['Data', 'A6'], ['Data', 'C16']]) {
      const runs = fakes.edit(world, ctx, tab, a1, 'x');
      assert.deepEqual(runs.map((r) => [r.owner, r.result]), [['alice@example.com', null]]);
    }
    assert.equal((await serverLogSince(n)).length, 0);
    assert.deepEqual(fakes.statusRow(world, 'Data'), ['', '', '', '', '', '', '', '']);
  });

  test('D1: a trigger with no recorded id (auto re-run never turned on here) is off', async () => {
    const { world, ctx } = setup();
    fakes.saveTriggers(world, [{ id: '42', handler: 'handleEdit', eventType: 'ON_EDIT', sourceId: world.spreadsheetId, owner: 'owner@example.com' }]);
    const n = (await hook.log()).length;
    assert.deepEqual(fakes.edit(world, ctx, 'BESS', 'B6').map((r) => r.result), [null]);
    assert.equal((await serverLogSince(n)).length, 0);
  });

  test('D2: two people turning it on: each edit posts once, and the toast names whose it replaced', async () => {
    const { world, ctx } = setup();
    turnOn(world, ctx, 'alice@example.com');
    turnOn(world, ctx, 'bob@example.com');
    assert.match(world.toasts.at(-1).msg, /run as bob@example\.com.*replaces the one alice@example\.com turned on/);
    assert.equal(fakes.allTriggers(world).length, 2);
    const n = (await hook.log()).length;
    const runs = fakes.edit(world, ctx, 'BESS', 'C15', 800, '800');
    assert.equal(runs.length, 2, 'both triggers fire, as in Apps Script');
    assert.equal((await lookupsSince(n)).length, 1);
    assert.deepEqual(runs.filter((r) => r.result).map((r) => r.owner), ['bob@example.com']);
  });

  test('a trigger run never calls getUi (which throws there) and e-mails nobody', async () => {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    fakes.setCell(world, 'BESS', 'A6', 'ERR400');
    const [run] = fakes.edit(world, ctx, 'BESS', 'A6');
    assert.equal(run.result.ok, false);
    assert.equal(world.failureEmails.length, 0);
    assert.equal(fakes.statusRow(world)[0], 'error');
  });

  test('D8: an unexpected error in a trigger run lands in A4, not in the owner\'s inbox', () => {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    world.faults['Range.getDisplayValues'] = new fakes.GasException('Service Spreadsheets failed while accessing document with id x.');
    const [run] = fakes.edit(world, ctx, 'BESS', 'B6');
    assert.equal(run.result.ok, false);
    assert.equal(world.failureEmails.length, 0, JSON.stringify(world.failureEmails));
    assert.deepEqual(fakes.statusRow(world).slice(0, 2),
      ['error', 'The script failed: Service Spreadsheets failed while accessing document with id x.']);
  });

  test('as a simple trigger the handler gets Google\'s permission error, shown in A4', async () => {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    const id = fakes.allTriggers(world)[0].id;
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'handleEdit', fakes.editEvent(world, 'BESS', 'B6', id), 'simple');
    assert.equal((await serverLogSince(n)).length, 0);
    const status = fakes.statusRow(world);
    assert.equal(status[0], 'error');
    assert.equal(status[1], 'Could not reach the webhook: You do not have permission to call ' +
      'UrlFetchApp.fetch. Required permissions: https://www.googleapis.com/auth/script.external_request');
  });
});

describe('the BESS tab', () => {
  test('D3: the menu on a data tab looks up the BESS tab and writes nothing on the data tab', async () => {
    const { world, ctx } = setup({ sheets: [['BESS', 0], ['Data', 5]] });
    fakes.setCell(world, 'Data', 'A6', 'ERR400'); // the data tab has other things in these cells
    world.activeSheetName = 'Data';
    const n = (await hook.log()).length;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, true);
    const [entry] = await lookupsSince(n);
    assert.equal(bodyOf(entry).worksheet, 'BESS');
    assert.equal(bodyOf(entry).postcode, 'B1 1AA');
    assert.deepEqual(fakes.statusRow(world, 'Data'), ['', '', '', '', '', '', '', '']);
  });

  test('D3: with no BESS tab set up, the menu says what to do and sends nothing', () => {
    const { world, ctx } = setup({ sheets: [['Data', 5]] });
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, false);
    assert.equal(world.fetches.length, 0);
    assert.match(world.toasts.at(-1).msg, /Set up sheet/);
    assert.deepEqual(fakes.statusRow(world, 'Data'), ['', '', '', '', '', '', '', '']);
  });

  test('Set up sheet remembers its tab: later lookups use it whichever tab is active', async () => {
    const { world, ctx } = setup({ sheets: [['Site 1', 9], ['Data', 5]] });
    fakes.execute(world, ctx, 'setUpSheet');
    assert.equal(fakes.readProps(world).BESS_SHEET_ID, '9');
    world.activeSheetName = 'Data';
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'runLookup');
    assert.equal(bodyOf((await lookupsSince(n))[0]).worksheet, 'Site 1');
  });
});

describe('Set up sheet', () => {
  test('labels, £/%/p/kWh formats, notes, validation, B6 as text and warning-only protections', () => {
    const { world, ctx } = setup();
    const result = fakes.execute(world, ctx, 'setUpSheet');
    assert.equal(result.ok, true);
    const c = (a1) => fakes.cell(world, 'BESS', a1);
    assert.deepEqual(['C3', 'D3', 'E3', 'F3', 'E14', 'B16'].map((a1) => c(a1).value),
      ['Tariff', 'Charging year', 'Assumptions', 'Source (workbook / sheet / row)', 'Annual DUoS £', 'Flexible share']);
    assert.ok(c('E14').bold);
    assert.equal(c('E15').format, '"£"#,##0.00');
    assert.equal(c('F16').format, '0.00"%"');
    assert.deepEqual(['B9', 'C9', 'D9'].map((a1) => c(a1).format), Array(3).fill('0.000" p/kWh"'));
    assert.deepEqual(['A4', 'H4', 'B6'].map((a1) => c(a1).format), ['@', '@', '@']);
    assert.match(c('E15').note, /Annual DUoS £.*annualised/s);
    assert.match(c('C4').note, /tariff/i);
    assert.deepEqual(c('A9').validation, { allowInvalid: false, help: 'LV, LV Sub, HV or EHV; leave blank to use the MPAN\'s LLFC (else LV).', list: ['LV', 'LV Sub', 'HV', 'EHV'], showDropdown: true });
    assert.deepEqual(c('C16').validation.between, [0, 1]);
    const prot = fakes.book(world).protections;
    assert.deepEqual(prot.map((p) => p.range).sort(), ['A4:H4', 'B10:D13', 'B9:D9', 'C6:H6', 'E15:H15', 'E16:F16', 'E9:H9']);
    assert.ok(prot.every((p) => p.warningOnly));
    // Run twice: no duplicate protections; an MPAN typed into B6 now stays text.
    fakes.execute(world, ctx, 'setUpSheet');
    assert.equal(fakes.book(world).protections.length, 7);
    const typed = fakes.loadCodeGs(world);
    typed.SpreadsheetApp.getActiveSheet().getRange('B6').setValue('1405566778899');
    assert.equal(c('B6').value, '1405566778899');
    assert.equal(c('B6').display, '1405566778899');
  });

  test('without Set up sheet a typed 13-digit MPAN is a number shown rounded (what the fake models)', () => {
    const { world, ctx } = setup();
    ctx.SpreadsheetApp.getActiveSheet().getRange('B6').setValue('1405566778899');
    assert.equal(fakes.cell(world, 'BESS', 'B6').value, 1405566778899);
    assert.equal(fakes.cell(world, 'BESS', 'B6').display, '1.40557E+12');
  });
});

describe('failures', () => {
  test('a webhook error shows its message and bad fields in A4:H4 and a toast', () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'ERR400');
    const before = Date.now();
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, false);
    const message = 'bad input (mpan: check digit is 9, expected 2; ' +
      'kva: must be a number, got "lots") [HTTP 400]';
    const status = fakes.statusRow(world);
    assert.deepEqual(status.slice(0, 6), ['error', message, '', '', '', '']);
    assert.ok(Math.abs(Date.parse(status[6]) - before) < 10000, status[6]);
    assert.equal(status[7], 'req-400-abc');
    assert.deepEqual(world.toasts.at(-1), { msg: message, title: 'BESS lookup failed', timeoutSeconds: undefined });
  });

  test('D7: an all-digit request id and a message starting with "=" stay text in A4:H4', () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'ERRTEXT');
    fakes.execute(world, ctx, 'runLookup');
    const b4 = fakes.cell(world, 'BESS', 'B4');
    const h4 = fakes.cell(world, 'BESS', 'H4');
    assert.equal(b4.formula, '', 'B4 became a formula');
    assert.equal(b4.value, '=SUM(A1) is not a postcode [HTTP 400]');
    assert.equal(h4.value, '1234567890123456');
    assert.equal(h4.display, '1234567890123456');
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
      ['error', 'unauthorised: X-Signature does not match the request [HTTP 401]']);
  });

  test('an unreachable webhook is reported, not thrown', async () => {
    const port = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: url, WEBHOOK_SECRET: KEY } });
    fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual(fakes.statusRow(world).slice(0, 2),
      ['error', `Could not reach the webhook: Address unavailable: ${url}/lookup`]);
  });

  test('D5: a UrlFetch timeout says the webhook did not answer in time (not "could not reach")', () => {
    const { world, ctx } = setup();
    world.fetchTimeoutMs = 400;
    fakes.setCell(world, 'BESS', 'A6', 'HANG');
    fakes.execute(world, ctx, 'runLookup');
    assert.equal(world.fetches.length, 1, 'a timed-out lookup is not re-sent');
    assert.ok(world.fetches[0].timeout);
    const [status, message] = fakes.statusRow(world);
    assert.equal(status, 'error');
    assert.doesNotMatch(message, /Could not reach/);
    assert.match(message, /did not answer within .*about 60 s.*may still finish/);
  });

  test('D5: 429 and 503 are tried again, each try freshly signed, and then succeed', async () => {
    for (const postcode of [`BUSY2-${crypto.randomUUID()}`, `DOWN1-${crypto.randomUUID()}`]) {
      const { world, ctx } = setup();
      fakes.setCell(world, 'BESS', 'A6', postcode);
      const n = (await hook.log()).length;
      const result = fakes.execute(world, ctx, 'runLookup');
      assert.equal(result.ok, true, postcode);
      const entries = await lookupsSince(n);
      const busy = postcode.startsWith('BUSY');
      assert.deepEqual(entries.map((e) => e.code), busy ? [429, 429, 200] : [503, 200]);
      assert.ok(entries.every((e) => e.sig_ok), 'no try was refused as a replay');
      assert.deepEqual(world.sleeps.filter((ms) => ms >= 1000), busy ? [1000, 1000] : [1000]);
    }
  });

  test('D5: after three 429s the last answer is shown', async () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', `BUSY9-${crypto.randomUUID()}`);
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'runLookup');
    assert.equal((await lookupsSince(n)).length, 3);
    assert.deepEqual(fakes.statusRow(world).slice(0, 2), ['error', 'too many requests [HTTP 429]']);
  });

  test('D9: a write the webhook dropped as out of date is not reported as done', () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'DROPPED');
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.status, 'dropped');
    assert.equal(world.toasts.at(-1).title, 'BESS lookup: not written');
    assert.match(world.toasts.at(-1).msg, /^Not written: a newer lookup already updated the sheet \(a newer request/);
  });

  test('D11: a stored timestamp far in the future is not slept for', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600;
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: KEY, LAST_SIGNED_TIMESTAMP: String(future) } });
    const n = (await hook.log()).length;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, true);
    assert.ok(world.sleeps.every((ms) => ms <= 6000), JSON.stringify(world.sleeps));
    assert.equal((await lookupsSince(n))[0].code, 200);
  });

  test('D12: a user who unticked a scope at consent is asked again before anything is sent', () => {
    const granted = fakes.ALL_SCOPES.filter((s) => !s.endsWith('script.external_request'));
    const { world, ctx } = setup({ grantedScopes: granted });
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual(JSON.parse(JSON.stringify(result)), { consentRequired: ['https://www.googleapis.com/auth/script.external_request'] });
    assert.equal(world.fetches.length, 0);
    for (const fn of ['setUpSheet', 'testConnection', 'installAutoRerun', 'showSidebar', 'showSettings']) {
      assert.ok(fakes.execute(world, ctx, fn).consentRequired, fn);
    }
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
  async function twoQuickEdits(lockMode, secondLockWaitMs) {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    const triggerUid = fakes.allTriggers(world)[0].id;
    const n = (await hook.log()).length;
    const config = (postcode, lockWaitMs) => ({ dir: world.dir, spreadsheetId: world.spreadsheetId, lockMode, lockWaitMs, triggerUid, user: 'owner@example.com', cells: [['A6', postcode]], edit: 'A6' });
    const first = runExecution(config('SLOW first'));
    // The second edit happens while the first execution's request is in flight.
    for (let i = 0; i < 500 && (await hook.log()).length === n; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const second = runExecution(config('SLOW second', secondLockWaitMs));
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
    assert.ok(results.every((r) => r.result.ok));
  });

  test('negative control: without the lock the same two edits do interleave', async () => {
    const { entries } = await twoQuickEdits('broken');
    assert.equal(entries.length, 2);
    assert.deepEqual(entries.map((e) => e.in_flight_at_arrival), [0, 1], 'the harness cannot see interleaving');
  });

  test('D4: an edit that cannot get the lock in time is still computed (by the run holding it)', async () => {
    const { results, entries } = await twoQuickEdits('real', 100);
    assert.deepEqual(results[1].result, { ok: false, queued: true });
    assert.match(results[1].toasts.at(-1).msg, /will look up again with these inputs/);
    assert.deepEqual(entries.map((e) => bodyOf(e).postcode), ['SLOW first', 'SLOW second']);
    assert.equal(results[0].fetches.length, 2, 'the lock holder sent both');
    assert.deepEqual(results[0].status, ['', '', '', '', '', '', '', '']);
  });

  test('a run that cannot get the lock leaves the lookup pending and sends nothing', () => {
    const { world, ctx } = setup();
    fs.mkdirSync(path.join(world.dir, 'document.lock')); // another execution holds it
    ctx.LOCK_WAIT_MS = 200;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.deepEqual({ ...result }, { ok: false, queued: true });
    assert.equal(world.fetches.length, 0);
    assert.equal(fakes.readProps(world).LOOKUP_PENDING, '1');
  });
});

describe('auto re-run trigger', () => {
  test('turning it on twice installs one on-edit trigger for handleEdit and records its id', () => {
    const { world, ctx } = setup();
    turnOn(world, ctx);
    turnOn(world, ctx);
    const triggers = fakes.allTriggers(world);
    assert.equal(triggers.length, 1);
    assert.deepEqual(
      { handler: triggers[0].handler, type: triggers[0].eventType, source: triggers[0].sourceId },
      { handler: 'handleEdit', type: 'ON_EDIT', source: world.spreadsheetId });
    assert.equal(fakes.readProps(world).AUTO_RERUN_TRIGGER_ID, triggers[0].id);
    assert.equal(fakes.readProps(world).AUTO_RERUN_OWNER, 'owner@example.com');
    assert.match(world.toasts.at(-1).msg, /A6, B6, A9, B15, C15 and C16/);
  });

  test('my duplicates are removed, others\' triggers kept, and turning it off removes mine', () => {
    const { world, ctx } = setup();
    const t = (id, handler, eventType, owner) => ({ id, handler, eventType, sourceId: world.spreadsheetId, owner });
    fakes.saveTriggers(world, [
      t('a', 'handleEdit', 'ON_EDIT', 'owner@example.com'),
      t('b', 'handleEdit', 'ON_EDIT', 'owner@example.com'),
      t('c', 'nightly', 'CLOCK', 'owner@example.com'),
      t('d', 'handleEdit', 'ON_EDIT', 'someone@example.com'),
    ]);
    turnOn(world, ctx);
    const ids = fakes.allTriggers(world).map((x) => x.id);
    assert.deepEqual(ids.slice(0, 2), ['c', 'd']);
    assert.equal(ids.length, 3);
    fakes.execute(world, ctx, 'removeAutoRerun');
    assert.deepEqual(fakes.allTriggers(world).map((x) => x.id), ['c', 'd']);
    assert.equal(fakes.readProps(world).AUTO_RERUN_TRIGGER_ID, undefined);
  });

  test('a simple trigger cannot install it (ScriptApp needs authorisation)', () => {
    const { world, ctx } = setup();
    assert.throws(() => fakes.execute(world, ctx, 'installAutoRerun', undefined, 'simple'),
      /Required permissions: https:\/\/www\.googleapis\.com\/auth\/script\.scriptapp/);
  });
});

const NO_BATTERY = { batteryPowerKw: '', batteryEnergyKwh: '', batteryEfficiencyPct: '', exportPricePPerKwh: '' };
const NO_BATTERY_PROPS = { BATTERY_POWER_KW: '', BATTERY_ENERGY_KWH: '', BATTERY_EFFICIENCY_PCT: '', EXPORT_PRICE_P_PER_KWH: '' };
const BATTERY_KEYS = ['battery_power_kw', 'battery_energy_kwh', 'battery_efficiency', 'export_price_p_per_kwh'];

describe('settings', () => {
  const secret = 'S3cret-shared-with-the-webhook-0123';

  test('D10: the dialog asks for the secret in a password field and never sends it back', () => {
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret } });
    fakes.execute(world, ctx, 'showSettings');
    assert.equal(world.dialogs.length, 1);
    assert.equal(world.alerts.filter((a) => a.kind === 'prompt').length, 0, 'no plain prompt');
    assert.match(world.dialogs[0].content, /<input id="secret" name="secret" type="password"/);
    const shown = fakes.execute(world, ctx, 'getSettings');
    assert.deepEqual({ ...shown }, { url: 'https://old.example.com', hasSecret: true, serviceAccount: '', scriptWrites: false, ...NO_BATTERY });
    assert.ok(!JSON.stringify(shown).includes(secret));
  });

  test('D10: saves to this spreadsheet\'s Document Properties (not the Script Properties)', () => {
    const { world, ctx } = setup({ properties: {} });
    const reply = fakes.execute(world, ctx, 'saveSettings', { url: ' https://bess-duos-abc.a.run.app/ ', secret, serviceAccount: SERVICE_ACCOUNT, scriptWrites: true });
    assert.deepEqual({ ...reply }, { ok: true, message: 'Settings saved.' });
    assert.deepEqual(fakes.readProps(world), { WEBHOOK_URL: 'https://bess-duos-abc.a.run.app', WEBHOOK_SECRET: secret, SERVICE_ACCOUNT_EMAIL: SERVICE_ACCOUNT, SCRIPT_WRITES_CELLS: 'true', ...NO_BATTERY_PROPS });
    assert.deepEqual(fakes.readProps(world, 'script'), {});
  });

  test('blank answers keep the current URL and secret', () => {
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret } });
    assert.equal(fakes.execute(world, ctx, 'saveSettings', { url: '', secret: '' }).ok, true);
    assert.deepEqual(fakes.readProps(world), { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret, SERVICE_ACCOUNT_EMAIL: '', SCRIPT_WRITES_CELLS: 'false', ...NO_BATTERY_PROPS });
  });

  for (const [why, form] of [
    ['an http:// URL', { url: 'http://bess.example.com' }],
    ['a URL with a query', { url: 'https://bess.example.com/?k=1' }],
    ['a short secret', { url: 'https://bess.example.com', secret: 'short' }],
    ['a secret with spaces', { url: 'https://bess.example.com', secret: 'has spaces in it but is long' }],
    ['a service account that is not an e-mail', { url: 'https://bess.example.com', serviceAccount: 'bess-duos' }],
    ['a battery power of 0', { batteryPowerKw: '0', batteryEnergyKwh: '200' }],
    ['a battery energy that is not a number', { batteryPowerKw: '100', batteryEnergyKwh: 'lots' }],
    ['a battery power without its energy', { batteryPowerKw: '100' }],
    ['an efficiency as a fraction', { batteryPowerKw: '100', batteryEnergyKwh: '200', batteryEfficiencyPct: '0.9' }],
    ['an efficiency above 100%', { batteryPowerKw: '100', batteryEnergyKwh: '200', batteryEfficiencyPct: '120' }],
    ['a negative export price', { batteryPowerKw: '100', batteryEnergyKwh: '200', exportPricePPerKwh: '-1' }],
    ['an export price without a battery', { exportPricePPerKwh: '5' }],
  ]) {
    test(`refuses ${why} and changes nothing`, () => {
      const props = { WEBHOOK_URL: 'https://old.example.com', WEBHOOK_SECRET: secret };
      const { world, ctx } = setup({ properties: props });
      const reply = fakes.execute(world, ctx, 'saveSettings', form);
      assert.equal(reply.ok, false);
      assert.match(reply.message, /^Not saved: /);
      assert.deepEqual(fakes.readProps(world), props);
    });
  }
});

describe('Test connection', () => {
  const configured = (extra = {}) => ({ WEBHOOK_URL: hook.url, WEBHOOK_SECRET: KEY, SERVICE_ACCOUNT_EMAIL: SERVICE_ACCOUNT, ...extra });

  test('all good: health, signed call, shared with the service account, profile link readable', async () => {
    const { world, ctx } = setup({ properties: configured(), editors: ['owner@example.com', SERVICE_ACCOUNT] });
    const n = (await hook.log()).length;
    const result = fakes.execute(world, ctx, 'testConnection');
    assert.equal(result.ok, true, result.lines.join('\n'));
    assert.deepEqual([...result.lines], [
      `✓ The webhook answers (${hook.url}).`,
      '✓ The webhook accepts this sheet\'s key and clock (signed request).',
      `✓ The sheet is shared with ${SERVICE_ACCOUNT} as editor (the e-mail in Settings).`,
      '✓ The webhook can read the profile link.',
      '– Auto re-run is off.',
    ]);
    assert.equal(world.alerts.at(-1).title, 'BESS: test connection');
    const entries = await serverLogSince(n);
    assert.deepEqual(entries.map((e) => `${e.method} ${e.url}`), ['GET /health', 'GET /ready', 'POST /mpan/validate', 'POST /lookup']);
    assert.equal(bodyOf(entries[3]).write, false, 'the profile check writes nothing');
  });

  test('a wrong secret, an unshared sheet and an unreadable profile are each named', () => {
    const { world, ctx } = setup({ properties: configured({ WEBHOOK_SECRET: 'not-the-right-secret-at-all' }) });
    fakes.setCell(world, 'BESS', 'B15', 'https://example.com/unreadable.csv');
    let result = fakes.execute(world, ctx, 'testConnection');
    assert.equal(result.ok, false);
    assert.match(result.lines[1], /^✗ Signed request refused: unauthorised: X-Signature does not match.*Check the sheet key in Settings/);
    assert.equal(result.lines[2], `✗ The sheet is not shared with ${SERVICE_ACCOUNT} (the e-mail in Settings): Share > add it as Editor.`);
    fakes.writeProps(world, 'document', configured({ WEBHOOK_SECRET: sheetKey(SECRET, world.spreadsheetId) }));
    result = fakes.execute(world, ctx, 'testConnection');
    assert.match(result.lines[3], /^✗ The webhook cannot read the profile link: profile link https:\/\/example\.com\/unreadable\.csv: HTTP 403/);
  });

  const RUN_AS = 'bess-duos-run@bess-project.iam.gserviceaccount.com';
  /** Test connection while the fake's /ready answers `state`. */
  async function withReady(state, fn) {
    await hook.setReady(state);
    try {
      return fn();
    } finally {
      await hook.setReady({ code: 200, service_account: null });
    }
  }

  test('a blank Settings e-mail: the webhook\'s own (from /ready) is checked, and said to be', async () => {
    const { world, ctx } = setup({ properties: configured({ SERVICE_ACCOUNT_EMAIL: '' }), editors: ['owner@example.com', RUN_AS] });
    const result = await withReady({ code: 200, service_account: RUN_AS }, () => fakes.execute(world, ctx, 'testConnection'));
    assert.equal(result.ok, true, result.lines.join('\n'));
    assert.equal(result.lines[2], `✓ The sheet is shared with ${RUN_AS} as editor (the webhook's service account, from /ready).`);
    const unshared = setup({ properties: configured({ SERVICE_ACCOUNT_EMAIL: '' }) });
    const again = await withReady({ code: 200, service_account: RUN_AS }, () => fakes.execute(unshared.world, unshared.ctx, 'testConnection'));
    assert.equal(again.ok, false);
    assert.equal(again.lines[2], `✗ The sheet is not shared with ${RUN_AS} (the webhook's service account, from /ready): Share > add it as Editor.`);
  });

  test('a blank Settings e-mail and a webhook without Google credentials: not checked, and why', async () => {
    const { world, ctx } = setup({ properties: configured({ SERVICE_ACCOUNT_EMAIL: '' }) });
    const result = await withReady({ code: 200, service_account: null }, () => fakes.execute(world, ctx, 'testConnection'));
    assert.equal(result.ok, false);
    assert.equal(result.lines[2], '✗ Sharing not checked: the webhook did not name its service account (no Google credentials on the server?); enter its e-mail in Settings.');
  });

  test('Settings name another account than the webhook\'s: the Settings one is checked, the difference named', async () => {
    const { world, ctx } = setup({ properties: configured(), editors: ['owner@example.com', SERVICE_ACCOUNT] });
    const result = await withReady({ code: 200, service_account: RUN_AS }, () => fakes.execute(world, ctx, 'testConnection'));
    assert.equal(result.ok, false);
    assert.deepEqual([...result.lines].slice(2, 4), [
      `✓ The sheet is shared with ${SERVICE_ACCOUNT} as editor (the e-mail in Settings).`,
      `✗ The webhook says it writes as ${RUN_AS}, not ${SERVICE_ACCOUNT}: share the sheet with ${RUN_AS} as Editor and correct Settings (or leave the e-mail blank).`,
    ]);
  });

  test('a webhook that answers /health but is not ready says so', async () => {
    const { world, ctx } = setup({ properties: configured(), editors: ['owner@example.com', SERVICE_ACCOUNT] });
    const result = await withReady({ code: 503 }, () => fakes.execute(world, ctx, 'testConnection'));
    assert.equal(result.ok, false);
    assert.equal(result.lines[1], '✗ The webhook is not ready (/ready): no tariffs could be read from the shipped config/tariffs [HTTP 503]');
    assert.equal(result.lines[3], `✓ The sheet is shared with ${SERVICE_ACCOUNT} as editor (the e-mail in Settings).`);
  });

  test('with write:false no sharing is needed; the auto re-run owner is shown', () => {
    const { world, ctx } = setup({ properties: configured({ SCRIPT_WRITES_CELLS: 'true' }) });
    turnOn(world, ctx, 'alice@example.com');
    const result = fakes.execute(world, ctx, 'testConnection');
    assert.equal(result.lines[2], '– The script writes the cells itself (write: false): no sharing needed.');
    assert.equal(result.lines.at(-1), '– Auto re-run is on (turned on by alice@example.com).');
  });
});

describe('write: false (the script writes the cells)', () => {
  test('the request says write:false and the answer\'s fields land in the cells, formatted', async () => {
    const { world, ctx } = setup({ properties: { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: KEY, SCRIPT_WRITES_CELLS: 'true' } });
    fakes.execute(world, ctx, 'setUpSheet');
    fakes.setCell(world, 'BESS', 'A6', 'ANSWER');
    const n = (await hook.log()).length;
    const result = fakes.execute(world, ctx, 'runLookup');
    assert.equal(result.ok, true);
    assert.equal(bodyOf((await lookupsSince(n))[0]).write, false);
    const c = (a1) => fakes.cell(world, 'BESS', a1);
    const f = ANSWER.fields;
    assert.deepEqual(fakes.statusRow(world), [f.status, f.message, 'LV Site Specific Band 4', '2026/27', 'LV assumed', f.tariff_source, f.time, 'recorded']);
    assert.equal(c('E15').value, f.annual_duos_gbp);
    assert.equal(c('E15').display, `£${f.annual_duos_gbp.toLocaleString('en-GB', { minimumFractionDigits: 2 })}`);
    assert.equal(c('F16').display, `${f.flex_saving_pct.toFixed(2)}%`);
    assert.equal(c('B9').display, `${f.red_rate_p_per_kwh.toFixed(3)} p/kWh`);
    assert.equal(c('C6').value, 14);
    assert.equal(c('B10').value, f.red_period_1);
    assert.equal(c('B13').value, '');
    assert.equal(c('B6').display, '1405566778899', 'inputs untouched');
  });
});

describe('the sidebar', () => {
  test('Show results opens the sidebar; its call runs the lookup and returns the answer', () => {
    const { world, ctx } = setup();
    fakes.setCell(world, 'BESS', 'A6', 'ANSWER');
    fakes.execute(world, ctx, 'showSidebar');
    assert.equal(world.sidebars.length, 1);
    assert.equal(world.sidebars[0].file, 'Sidebar');
    assert.equal(world.sidebars[0].title, 'BESS lookup');
    assert.match(world.sidebars[0].content, /google\.script\.run/);
    const reply = fakes.execute(world, ctx, 'sidebarLookup');
    assert.equal(reply.ok, true);
    assert.equal(reply.answer.tariff.name, 'LV Site Specific Band 4');
    fakes.setCell(world, 'BESS', 'A6', 'ERR400');
    const failed = fakes.execute(world, ctx, 'sidebarLookup');
    assert.deepEqual({ ok: failed.ok, answer: failed.answer }, { ok: false, answer: null });
    assert.match(failed.message, /bad input/);
  });
});

describe('the battery (Settings > Battery)', () => {
  const secret = 'S3cret-shared-with-the-webhook-0123';

  /** Saves the dialog's form (as typed) with the webhook configured, then runs a lookup. */
  async function lookupWith(form) {
    const { world, ctx } = setup();
    const saved = fakes.execute(world, ctx, 'saveSettings', { url: 'https://bess.example.com', secret, ...form });
    assert.equal(saved.ok, true, saved.message);
    // the saved settings point at the fake webhook (saveSettings allows https only)
    fakes.writeProps(world, 'document', { ...fakes.readProps(world), WEBHOOK_URL: hook.url, WEBHOOK_SECRET: sheetKey(SECRET, world.spreadsheetId) });
    const n = (await hook.log()).length;
    assert.equal(fakes.execute(world, ctx, 'runLookup').ok, true);
    const [entry] = await lookupsSince(n);
    assert.equal(entry.sig_ok, true);
    return { world, ctx, body: bodyOf(entry) };
  }

  test('the settings reach the posted JSON: numbers, and the efficiency as a percentage', async () => {
    const { world, ctx, body } = await lookupWith({ batteryPowerKw: ' 1,000 ', batteryEnergyKwh: '2000 kWh', batteryEfficiencyPct: '87.5%', exportPricePPerKwh: '5' });
    assert.deepEqual(Object.keys(body).sort(), [...CONTRACT_KEYS, ...BATTERY_KEYS].sort());
    assert.deepEqual(BATTERY_KEYS.map((k) => body[k]), [1000, 2000, '87.5%', 5]);
    assert.equal(body.mpan, '1405566778899', 'the sheet\'s inputs are sent as before');
    // the dialog shows what was saved
    const shown = fakes.execute(world, ctx, 'getSettings');
    assert.deepEqual([shown.batteryPowerKw, shown.batteryEnergyKwh, shown.batteryEfficiencyPct, shown.exportPricePPerKwh], ['1000', '2000', '87.5', '5']);
  });

  test('blanks send nothing: no battery at all, and a blank efficiency or export price', async () => {
    const none = await lookupWith({ batteryPowerKw: '', batteryEnergyKwh: ' ', batteryEfficiencyPct: '', exportPricePPerKwh: '' });
    assert.deepEqual(Object.keys(none.body).sort(), [...CONTRACT_KEYS].sort());
    const props = fakes.readProps(none.world);
    assert.deepEqual(Object.keys(NO_BATTERY_PROPS).map((k) => props[k]), ['', '', '', '']);
    const bare = await lookupWith({ batteryPowerKw: '100', batteryEnergyKwh: '200' });
    assert.deepEqual(Object.keys(bare.body).filter((k) => BATTERY_KEYS.includes(k)), ['battery_power_kw', 'battery_energy_kwh']);
    assert.deepEqual([bare.body.battery_power_kw, bare.body.battery_energy_kwh], [100, 200]);
    const free = await lookupWith({ batteryPowerKw: '100', batteryEnergyKwh: '200', exportPricePPerKwh: '0' });
    assert.equal(free.body.export_price_p_per_kwh, 0, 'an export price of 0 is a price, not a blank');
    assert.equal('battery_efficiency' in free.body, false);
  });

  test('Test connection\'s profile check posts no battery (no optimiser run for a check)', async () => {
    const { world, ctx } = setup();
    fakes.writeProps(world, 'document', { ...fakes.readProps(world), BATTERY_POWER_KW: '100', BATTERY_ENERGY_KWH: '200' });
    const n = (await hook.log()).length;
    fakes.execute(world, ctx, 'testConnection');
    const [entry] = await lookupsSince(n);
    assert.deepEqual(Object.keys(bodyOf(entry)).filter((k) => BATTERY_KEYS.includes(k)), []);
  });

  test('the dialog has a Battery section with the four fields', () => {
    const { world, ctx } = setup();
    fakes.execute(world, ctx, 'showSettings');
    const html = world.dialogs[0].content;
    assert.match(html, /<legend>Battery/);
    for (const id of ['batteryPowerKw', 'batteryEnergyKwh', 'batteryEfficiencyPct', 'exportPricePPerKwh']) {
      assert.match(html, new RegExp(`<input id="${id}" name="${id}"`), id);
      assert.match(html, new RegExp(`${id}: f\\.${id}\\.value`), `${id} is sent to saveSettings`);
    }
  });
});
