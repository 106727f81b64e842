'use strict';
/**
 * Strict fakes of the Apps Script services Code.gs uses, and a loader that runs Code.gs as is
 * in one node:vm context (one shared global scope, as Apps Script has).
 *
 * Every fake object throws on any member it does not model, so Code.gs cannot silently call
 * something the fakes would get wrong (e.g. Range.getValue, which rounds a typed MPAN).
 * UrlFetchApp.fetch is synchronous, as in Apps Script, and makes a REAL HTTP request (through
 * a child process run with spawnSync), so the server must live in another process.
 * Executions can run in several processes at once: Script Properties and the document lock
 * live in a shared directory (`world.dir`).
 *
 * Not a test file: it only exports helpers (nothing runs when it is loaded).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');

const CODE_GS = path.join(__dirname, '..', 'Code.gs');
const MANIFEST = path.join(__dirname, '..', 'appsscript.json');

/** Apps Script's service exception (String(err) starts "Exception: "). */
class GasException extends Error {
  constructor(message) {
    super(message);
    this.name = 'Exception';
  }
}

function permissionError(method, scope) {
  return new GasException(
    `You do not have permission to call ${method}. Required permissions: ${scope}`
  );
}

const PASS_THROUGH = new Set(['then', 'toJSON', 'constructor', 'inspect', 'nodeType', 'asymmetricMatch']);

/** Wraps `obj` so that reading any member it does not define throws. */
function strict(name, obj) {
  return new Proxy(obj, {
    get(target, prop, receiver) {
      if (typeof prop === 'symbol' || prop in target || PASS_THROUGH.has(prop)) {
        return Reflect.get(target, prop, receiver);
      }
      throw new TypeError(`fake ${name}.${String(prop)} is not modeled`);
    },
    set(target, prop) {
      throw new TypeError(`fake ${name}.${String(prop)} is read-only`);
    },
  });
}

function sleepMs(ms) {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---------------------------------------------------------------- A1 notation

function colToNum(letters) {
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

function numToCol(n) {
  let s = '';
  for (; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

/** "B6" or "A6:C16" -> {row, col, numRows, numCols}; throws like Sheets on anything else. */
function parseA1(a1) {
  const m = /^([A-Z]{1,3})([1-9]\d*)(?::([A-Z]{1,3})([1-9]\d*))?$/.exec(String(a1));
  if (!m) throw new GasException(`Range not found`);
  const r1 = Number(m[2]);
  const c1 = colToNum(m[1]);
  const r2 = m[3] ? Number(m[4]) : r1;
  const c2 = m[3] ? colToNum(m[3]) : c1;
  return {
    row: Math.min(r1, r2),
    col: Math.min(c1, c2),
    numRows: Math.abs(r2 - r1) + 1,
    numCols: Math.abs(c2 - c1) + 1,
  };
}

function cellName(row, col) {
  return numToCol(col) + row;
}

// ---------------------------------------------------------------- the world

/**
 * State shared by one set of fakes: the spreadsheet, its tabs' cells, toasts, UI replies,
 * triggers, and (on disk, in `dir`) the Script Properties and the document lock.
 */
function createWorld(opts = {}) {
  const dir = opts.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'gas-world-'));
  const world = {
    dir,
    spreadsheetId: opts.spreadsheetId || `1Bess${crypto.randomBytes(16).toString('hex')}`,
    spreadsheetName: 'BESS sheet',
    sheets: new Map(),
    activeSheetName: null,
    toasts: [],
    alerts: [],
    menus: [],
    promptReplies: [],
    triggers: [],
    fetches: [],
    hmacResults: [],
    mode: 'full',
    lockMode: opts.lockMode || 'real',
    heldLock: false,
  };
  for (const [name, sheetId] of opts.sheets || [['BESS', 0]]) addSheet(world, name, sheetId);
  world.activeSheetName = (opts.sheets || [['BESS', 0]])[0][0];
  if (opts.properties) writeProps(world, opts.properties);
  else if (!fs.existsSync(propsFile(world))) writeProps(world, {});
  return world;
}

function addSheet(world, name, sheetId) {
  world.sheets.set(name, { name, sheetId, cells: new Map() });
}

/** Puts a value in a cell as Sheets would hold it: its value and its displayed text. */
function setCell(world, sheetName, a1, value, display) {
  const sheet = world.sheets.get(sheetName);
  sheet.cells.set(a1, { value, display: display === undefined ? String(value) : display });
}

function cell(world, sheetName, a1) {
  return world.sheets.get(sheetName).cells.get(a1) || { value: '', display: '' };
}

function propsFile(world) {
  return path.join(world.dir, 'script-properties.json');
}

function readProps(world) {
  return JSON.parse(fs.readFileSync(propsFile(world), 'utf8'));
}

function writeProps(world, props) {
  const tmp = `${propsFile(world)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(props));
  fs.renameSync(tmp, propsFile(world));
}

// ---------------------------------------------------------------- SpreadsheetApp

function makeRange(world, sheetName, a1) {
  const g = parseA1(a1);
  const names = [];
  for (let r = 0; r < g.numRows; r++) {
    const row = [];
    for (let c = 0; c < g.numCols; c++) row.push(cellName(g.row + r, g.col + c));
    names.push(row);
  }
  const range = {
    getA1Notation: () => (g.numRows === 1 && g.numCols === 1 ? names[0][0]
      : `${names[0][0]}:${names[g.numRows - 1][g.numCols - 1]}`),
    getRow: () => g.row,
    getColumn: () => g.col,
    getNumRows: () => g.numRows,
    getNumColumns: () => g.numCols,
    getSheet: () => makeSheet(world, sheetName),
    getDisplayValue: () => cell(world, sheetName, names[0][0]).display,
    getDisplayValues: () => names.map((row) => row.map((n) => cell(world, sheetName, n).display)),
    setValue: (v) => {
      checkCellValue(v);
      for (const row of names) for (const n of row) setCell(world, sheetName, n, v);
      return range;
    },
    setValues: (values) => {
      if (!Array.isArray(values) || values.length !== g.numRows) {
        throw new GasException(`The number of rows in the data does not match the number of rows in the range. The data has ${Array.isArray(values) ? values.length : 0} but the range has ${g.numRows}.`);
      }
      values.forEach((row) => {
        if (!Array.isArray(row) || row.length !== g.numCols) {
          throw new GasException(`The number of columns in the data does not match the number of columns in the range. The data has ${Array.isArray(row) ? row.length : 0} but the range has ${g.numCols}.`);
        }
        row.forEach(checkCellValue);
      });
      names.forEach((row, r) => row.forEach((n, c) => setCell(world, sheetName, n, values[r][c])));
      return range;
    },
  };
  return strict('Range', range);
}

function checkCellValue(v) {
  const ok = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ||
    v instanceof Date;
  if (!ok) throw new GasException(`fake Range: unsupported cell value ${String(v)}`);
}

function makeSheet(world, sheetName) {
  const sheet = world.sheets.get(sheetName);
  return strict('Sheet', {
    getName: () => sheet.name,
    getSheetId: () => sheet.sheetId,
    getParent: () => makeSpreadsheet(world),
    getRange: (a1, ...rest) => {
      if (typeof a1 !== 'string' || rest.length) {
        throw new TypeError('fake Sheet.getRange models only getRange(a1Notation)');
      }
      return makeRange(world, sheetName, a1);
    },
  });
}

function makeSpreadsheet(world) {
  return strict('Spreadsheet', {
    getId: () => world.spreadsheetId,
    getName: () => world.spreadsheetName,
    getActiveSheet: () => makeSheet(world, world.activeSheetName),
    getSheetByName: (name) => (world.sheets.has(name) ? makeSheet(world, name) : null),
    toast: (msg, title, timeoutSeconds) => {
      world.toasts.push({ msg: String(msg), title: title === undefined ? '' : String(title), timeoutSeconds });
    },
  });
}

const BUTTON = Object.freeze({ OK: 'OK', CANCEL: 'CANCEL', CLOSE: 'CLOSE', YES: 'YES', NO: 'NO' });
const BUTTON_SET = Object.freeze({ OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO', YES_NO_CANCEL: 'YES_NO_CANCEL' });

function makeUi(world) {
  return strict('Ui', {
    Button: strict('Button', { ...BUTTON }),
    ButtonSet: strict('ButtonSet', { ...BUTTON_SET }),
    createMenu: (caption) => {
      const menu = { caption, items: [] };
      const builder = strict('Menu', {
        addItem: (label, fn) => {
          menu.items.push({ label, fn });
          return builder;
        },
        addSeparator: () => {
          menu.items.push({ separator: true });
          return builder;
        },
        addToUi: () => {
          world.menus.push(menu);
        },
      });
      return builder;
    },
    prompt: (title, prompt, buttons) => {
      if (typeof title !== 'string' || typeof prompt !== 'string' || !(buttons in BUTTON_SET)) {
        throw new TypeError('fake Ui.prompt models only prompt(title, prompt, buttonSet)');
      }
      const reply = world.promptReplies.shift();
      if (!reply) throw new Error(`test gave no reply for the prompt "${title}"`);
      world.alerts.push({ kind: 'prompt', title, prompt });
      return strict('PromptResponse', {
        getSelectedButton: () => reply.button,
        getResponseText: () => reply.text || '',
      });
    },
    alert: (...args) => {
      world.alerts.push({ kind: 'alert', text: args.length === 1 ? args[0] : args[1] });
      return BUTTON.OK;
    },
  });
}

function makeSpreadsheetApp(world) {
  return strict('SpreadsheetApp', {
    getActiveSpreadsheet: () => makeSpreadsheet(world),
    getActiveSheet: () => makeSheet(world, world.activeSheetName),
    getUi: () => makeUi(world),
    flush: () => {},
  });
}

// ---------------------------------------------------------------- PropertiesService

function makePropertiesService(world) {
  const store = strict('Properties', {
    getProperty: (k) => {
      const props = readProps(world);
      return Object.prototype.hasOwnProperty.call(props, k) ? props[k] : null;
    },
    getProperties: () => readProps(world),
    setProperty: (k, v) => {
      const props = readProps(world);
      props[k] = String(v);
      writeProps(world, props);
      return store;
    },
    setProperties: (values, deleteAllOthers) => {
      const props = deleteAllOthers ? {} : readProps(world);
      for (const [k, v] of Object.entries(values)) props[k] = String(v);
      writeProps(world, props);
      return store;
    },
    deleteProperty: (k) => {
      const props = readProps(world);
      delete props[k];
      writeProps(world, props);
      return store;
    },
  });
  return strict('PropertiesService', { getScriptProperties: () => store });
}

// ---------------------------------------------------------------- LockService

/**
 * The document lock, shared by every process using the same world directory (an atomic
 * mkdir). lockMode 'broken' never excludes anyone: the negative control of the lock test.
 */
function makeLockService(world) {
  const lockDir = path.join(world.dir, 'document.lock');
  const acquire = (timeoutMs) => {
    if (world.lockMode === 'broken') {
      world.heldLock = true;
      return true;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        fs.mkdirSync(lockDir);
        world.heldLock = true;
        return true;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
      }
      if (Date.now() >= deadline) return false;
      sleepMs(10);
    }
  };
  const lock = strict('Lock', {
    tryLock: (timeoutMs) => acquire(Number(timeoutMs)),
    waitLock: (timeoutMs) => {
      if (!acquire(Number(timeoutMs))) {
        throw new GasException('Lock timeout: another process was holding the lock for too long.');
      }
    },
    hasLock: () => world.heldLock,
    releaseLock: () => releaseLock(world),
  });
  return strict('LockService', { getDocumentLock: () => lock });
}

function releaseLock(world) {
  if (!world.heldLock) return;
  world.heldLock = false;
  if (world.lockMode !== 'broken') fs.rmSync(path.join(world.dir, 'document.lock'), { recursive: true, force: true });
}

// ---------------------------------------------------------------- Utilities

function makeUtilities(world) {
  return strict('Utilities', {
    computeHmacSha256Signature: (value, key) => {
      if (typeof value !== 'string' || typeof key !== 'string') {
        throw new TypeError('fake Utilities.computeHmacSha256Signature models only (String, String)');
      }
      const digest = crypto.createHmac('sha256', Buffer.from(key, 'utf8'))
        .update(Buffer.from(value, 'utf8')).digest();
      const signed = Array.from(new Int8Array(digest.buffer, digest.byteOffset, digest.length));
      world.hmacResults.push(signed);
      return signed;
    },
    sleep: (ms) => sleepMs(Number(ms)),
  });
}

// ---------------------------------------------------------------- ScriptApp

const EVENT_TYPE = Object.freeze({ CLOCK: 'CLOCK', ON_OPEN: 'ON_OPEN', ON_EDIT: 'ON_EDIT', ON_FORM_SUBMIT: 'ON_FORM_SUBMIT', ON_CHANGE: 'ON_CHANGE' });
const SCRIPTAPP_SCOPE = 'https://www.googleapis.com/auth/script.scriptapp';

function makeScriptApp(world) {
  const needFull = (method) => {
    if (world.mode !== 'full') throw permissionError(method, SCRIPTAPP_SCOPE);
  };
  const makeTrigger = (t) => strict('Trigger', {
    getHandlerFunction: () => t.handler,
    getEventType: () => t.eventType,
    getUniqueId: () => t.id,
    getTriggerSourceId: () => t.sourceId,
  });
  return strict('ScriptApp', {
    EventType: strict('EventType', { ...EVENT_TYPE }),
    getProjectTriggers: () => {
      needFull('ScriptApp.getProjectTriggers');
      return world.triggers.map(makeTrigger);
    },
    deleteTrigger: (trigger) => {
      needFull('ScriptApp.deleteTrigger');
      const id = trigger.getUniqueId();
      const i = world.triggers.findIndex((t) => t.id === id);
      if (i < 0) throw new GasException('No trigger with that id');
      world.triggers.splice(i, 1);
    },
    newTrigger: (handler) => {
      needFull('ScriptApp.newTrigger');
      if (typeof handler !== 'string') throw new TypeError('newTrigger needs a function name');
      return strict('TriggerBuilder', {
        forSpreadsheet: (ss) => {
          const id = typeof ss === 'string' ? ss : ss.getId();
          if (id !== world.spreadsheetId) throw new GasException('Unexpected spreadsheet');
          const make = (eventType) => strict('SpreadsheetTriggerBuilder.' + eventType, {
            create: () => {
              const t = { id: String(1000 + world.triggers.length + Math.random()), handler, eventType, sourceId: id };
              world.triggers.push(t);
              return makeTrigger(t);
            },
          });
          return strict('SpreadsheetTriggerBuilder', {
            onEdit: () => make(EVENT_TYPE.ON_EDIT),
            onOpen: () => make(EVENT_TYPE.ON_OPEN),
            onChange: () => make(EVENT_TYPE.ON_CHANGE),
          });
        },
      });
    },
  });
}

// ---------------------------------------------------------------- UrlFetchApp

const FETCH_SCOPE = 'https://www.googleapis.com/auth/script.external_request';
const FETCH_PARAMS = new Set(['method', 'contentType', 'payload', 'headers', 'muteHttpExceptions', 'followRedirects', 'validateHttpsCertificates', 'escaping']);

/** Runs in a child process: one HTTP request, described on stdin, result JSON on stdout. */
const FETCH_CHILD = `
const http = require('node:http');
const https = require('node:https');
const req = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const u = new URL(req.url);
const body = Buffer.from(req.body, 'base64');
const headers = Object.assign({}, req.headers, { 'Content-Length': String(body.length) });
const r = (u.protocol === 'https:' ? https : http).request(u, { method: req.method, headers, timeout: 60000 }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('base64') })));
});
r.on('timeout', () => r.destroy(new Error('Timeout: ' + req.url)));
r.on('error', (err) => process.stdout.write(JSON.stringify({ error: err.code || err.message })));
r.end(body);
`;

function makeUrlFetchApp(world) {
  return strict('UrlFetchApp', {
    fetch: (url, params = {}) => {
      if (world.mode !== 'full') throw permissionError('UrlFetchApp.fetch', FETCH_SCOPE);
      for (const k of Object.keys(params)) {
        if (!FETCH_PARAMS.has(k)) throw new TypeError(`fake UrlFetchApp.fetch: unknown parameter ${k}`);
      }
      const method = String(params.method || 'get').toUpperCase();
      const headers = {};
      for (const [k, v] of Object.entries(params.headers || {})) {
        if (typeof v !== 'string') throw new TypeError(`fake UrlFetchApp: header ${k} must be a string`);
        headers[k] = v;
      }
      let payload = '';
      if (params.payload !== undefined) {
        if (typeof params.payload !== 'string') throw new TypeError('fake UrlFetchApp models only string payloads');
        payload = params.payload;
        headers['Content-Type'] = params.contentType || 'application/x-www-form-urlencoded';
      }
      const started = Date.now();
      const child = spawnSync(process.execPath, ['-e', FETCH_CHILD], {
        input: JSON.stringify({ url, method, headers, body: Buffer.from(payload, 'utf8').toString('base64') }),
        encoding: 'utf8',
        timeout: 70000,
      });
      if (child.status !== 0 || !child.stdout) {
        throw new Error(`fake UrlFetchApp child failed: ${child.stderr || child.error}`);
      }
      const out = JSON.parse(child.stdout);
      world.fetches.push({ url, method, headers, payload, started, ended: Date.now(), status: out.status, error: out.error });
      if (out.error) throw new GasException(`Address unavailable: ${url}`);
      const text = Buffer.from(out.body, 'base64').toString('utf8');
      if (out.status >= 300 && out.status < 400 && params.followRedirects !== false) {
        throw new TypeError('fake UrlFetchApp does not model following redirects');
      }
      if (out.status >= 400 && !params.muteHttpExceptions) {
        throw new GasException(`Request failed for ${url} returned code ${out.status}. Truncated server response: ${text.slice(0, 100)} (use muteHttpExceptions option to examine full response)`);
      }
      return strict('HTTPResponse', {
        getResponseCode: () => out.status,
        getContentText: () => text,
        getHeaders: () => ({ ...out.headers }),
      });
    },
  });
}

// ---------------------------------------------------------------- loading Code.gs

/**
 * Loads Code.gs into a fresh vm context wired to `world`'s fakes; returns the context
 * (its global: the script's functions and `var`s are its properties).
 */
function loadCodeGs(world) {
  const logs = [];
  const sandbox = {
    SpreadsheetApp: makeSpreadsheetApp(world),
    PropertiesService: makePropertiesService(world),
    LockService: makeLockService(world),
    Utilities: makeUtilities(world),
    ScriptApp: makeScriptApp(world),
    UrlFetchApp: makeUrlFetchApp(world),
    Logger: strict('Logger', { log: (...a) => logs.push(a.join(' ')) }),
    console: strict('console', { log: (...a) => logs.push(a.join(' ')), error: (...a) => logs.push(a.join(' ')) }),
  };
  const ctx = vm.createContext(sandbox, { name: 'Apps Script' });
  vm.runInContext(fs.readFileSync(CODE_GS, 'utf8'), ctx, { filename: 'Code.gs' });
  ctx.__logs = logs;
  return ctx;
}

/**
 * Runs one execution of `fnName(arg)` as Apps Script would: 'full' for menus, buttons and
 * installable triggers; 'simple' for simple triggers (no UrlFetchApp, no ScriptApp). The
 * document lock is released when the execution ends, as Apps Script does.
 */
function execute(world, ctx, fnName, arg, mode = 'full') {
  world.mode = mode;
  try {
    return ctx[fnName](arg);
  } finally {
    world.mode = 'full';
    releaseLock(world);
  }
}

/** The event object of an installable on-edit trigger for an edit of `a1` on `sheetName`. */
function editEvent(world, sheetName, a1) {
  return {
    authMode: 'FULL',
    range: makeRange(world, sheetName, a1),
    source: makeSpreadsheet(world),
    triggerUid: world.triggers.length ? world.triggers[0].id : 'none',
    user: { email: 'person@example.com' },
  };
}

/** Types text into a cell and returns the edit event (what the person does in the sheet). */
function edit(world, sheetName, a1, value, display) {
  setCell(world, sheetName, a1, value, display);
  return editEvent(world, sheetName, a1);
}

function statusRow(world, sheetName = 'BESS') {
  return ['A4', 'B4', 'C4', 'D4', 'E4', 'F4', 'G4', 'H4'].map((a1) => cell(world, sheetName, a1).value);
}

module.exports = {
  CODE_GS,
  MANIFEST,
  GasException,
  createWorld,
  setCell,
  cell,
  readProps,
  loadCodeGs,
  execute,
  editEvent,
  edit,
  statusRow,
  parseA1,
};
