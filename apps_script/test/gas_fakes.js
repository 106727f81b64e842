'use strict';
/**
 * Strict fakes of the Apps Script services Code.gs uses, and a loader that runs Code.gs as is
 * in one node:vm context (one shared global scope, as Apps Script has).
 *
 * Every fake object throws on any member it does not model, so Code.gs cannot silently call
 * something the fakes would get wrong (e.g. Range.getValue, which rounds a typed MPAN).
 * UrlFetchApp.fetch is synchronous, as in Apps Script, and makes a REAL HTTP request (through
 * a child process run with spawnSync), so the server must live in another process.
 * Executions can run in several processes at once: the cells, the properties and the document
 * lock live in a shared directory (`world.dir`).
 *
 * Strict where Apps Script is: triggers belong to the user who made them (each user sees and
 * deletes only their own, and every user's on-edit trigger fires on an edit); getUi() throws in
 * an installable-trigger run; setValues/setValue parse text as the sheet does unless the cell is
 * formatted as plain text ("@"); UrlFetchApp.fetch gives up after `world.fetchTimeoutMs` (Apps
 * Script: about 60 s, not settable); Utilities.sleep refuses more than 300000 ms; scopes a user
 * did not grant (`world.grantedScopes`) make the calls needing them fail, and
 * ScriptApp.requireScopes ends the execution asking for consent.
 *
 * Not a test file: it only exports helpers (nothing runs when it is loaded).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');

const APPS_SCRIPT = path.join(__dirname, '..');
const CODE_GS = path.join(APPS_SCRIPT, 'Code.gs');
const GS_FILES = ['Layout.gs', 'Code.gs'];
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

const ALL_SCOPES = [
  'https://www.googleapis.com/auth/spreadsheets.currentonly',
  'https://www.googleapis.com/auth/script.external_request',
  'https://www.googleapis.com/auth/script.scriptapp',
  'https://www.googleapis.com/auth/script.container.ui',
  'https://www.googleapis.com/auth/userinfo.email',
];
const MAX_SLEEP_MS = 300000;

/**
 * State shared by one set of fakes: the spreadsheet and its tabs' cells (on disk, in `dir`),
 * toasts, UI, triggers, and (on disk) the properties and the document lock.
 */
function createWorld(opts = {}) {
  const dir = opts.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'gas-world-'));
  const world = {
    dir,
    spreadsheetId: opts.spreadsheetId || `1Bess${crypto.randomBytes(16).toString('hex')}`,
    spreadsheetName: 'BESS sheet',
    activeSheetName: null,
    toasts: [],
    alerts: [],
    menus: [],
    sidebars: [],
    dialogs: [],
    promptReplies: [],
    fetches: [],
    hmacResults: [],
    sleeps: [],
    failureEmails: [],
    consentRequests: [],
    faults: {},
    mode: 'full',
    user: opts.user || 'owner@example.com',
    editors: opts.editors || ['owner@example.com'],
    grantedScopes: opts.grantedScopes || [...ALL_SCOPES],
    fetchTimeoutMs: opts.fetchTimeoutMs || 60000,
    lockMode: opts.lockMode || 'real',
    heldLock: false,
  };
  const tabs = opts.sheets || [['BESS', 0]];
  if (!fs.existsSync(sheetsFile(world))) {
    writeJson(sheetsFile(world), { tabs: {}, protections: [] });
    for (const [name, sheetId] of tabs) addSheet(world, name, sheetId);
  }
  world.activeSheetName = tabs[0][0];
  if (!fs.existsSync(triggersFile(world))) writeJson(triggersFile(world), []);
  if (opts.properties) writeProps(world, 'document', opts.properties);
  for (const kind of ['document', 'script']) {
    if (!fs.existsSync(propsFile(world, kind))) writeProps(world, kind, {});
  }
  return world;
}

function writeJson(file, value) {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, file);
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function sheetsFile(world) {
  return path.join(world.dir, 'spreadsheet.json');
}

function triggersFile(world) {
  return path.join(world.dir, 'triggers.json');
}

/** The stored spreadsheet, changed by `fn` and saved (one process at a time writes it). */
function withBook(world, fn) {
  const book = readJson(sheetsFile(world));
  const out = fn(book);
  writeJson(sheetsFile(world), book);
  return out;
}

function book(world) {
  return readJson(sheetsFile(world));
}

function addSheet(world, name, sheetId) {
  withBook(world, (b) => {
    b.tabs[name] = { name, sheetId, cells: {}, widths: {} };
  });
}

/** The triggers of every user (what Apps Script keeps per user, per project). */
function allTriggers(world) {
  return readJson(triggersFile(world));
}

function saveTriggers(world, triggers) {
  writeJson(triggersFile(world), triggers);
}

/** Puts what a person typed in a cell: its value and its displayed text (and a link/formula). */
function setCell(world, sheetName, a1, value, display, extra = {}) {
  withBook(world, (b) => {
    const old = b.tabs[sheetName].cells[a1] || {};
    b.tabs[sheetName].cells[a1] = {
      ...old,
      value,
      display: display === undefined ? String(value) : display,
      formula: extra.formula || '',
      link: extra.link || null,
      runs: extra.runs || null,
    };
  });
}

const EMPTY_CELL = Object.freeze({ value: '', display: '', format: '', note: '', formula: '', link: null, runs: null, validation: null, bold: false });

function cell(world, sheetName, a1) {
  return { ...EMPTY_CELL, ...(book(world).tabs[sheetName].cells[a1] || {}) };
}

function propsFile(world, kind) {
  return path.join(world.dir, `${kind}-properties.json`);
}

function readProps(world, kind = 'document') {
  return readJson(propsFile(world, kind));
}

function writeProps(world, kind, props) {
  writeJson(propsFile(world, kind), props);
}

/** A fault the test wants a fake method to throw once, e.g. faults['Range.getDisplayValues']. */
function maybeFault(world, name) {
  const f = world.faults[name];
  if (f) {
    delete world.faults[name];
    throw f;
  }
}

// ---------------------------------------------------------------- typing and display

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Sheets' automatic number display: up to 11 digits in full, else 1.23457E+15 style. */
function autoDisplay(n) {
  if (Number.isInteger(n) && Math.abs(n) < 1e11) return String(n);
  if (Math.abs(n) >= 1e11 || (n !== 0 && Math.abs(n) < 1e-9)) {
    const [mant, exp] = n.toExponential(5).split('e');
    const e = Number(exp);
    return `${mant.replace(/\.?0+$/, '')}E${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(Number(n.toPrecision(10)));
}

/** A number shown in a format like '"£"#,##0.00', '0.00"%"', '0.000" p/kWh"' or '0%'. */
function formatNumber(n, format) {
  if (!format || format === 'General' || format === '@') return autoDisplay(n);
  const m = /^((?:"[^"]*")*)([#,0.]+)(%?)((?:"[^"]*")*)$/.exec(format);
  if (!m) throw new TypeError(`fake: number format ${format} is not modeled`);
  const unq = (s) => s.replace(/"/g, '');
  const decimals = (m[2].split('.')[1] || '').length;
  const value = m[3] ? n * 100 : n;
  let text = value.toFixed(decimals);
  if (m[2].includes(',')) {
    const [int, frac] = text.split('.');
    text = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac !== undefined ? `.${frac}` : '');
  }
  return unq(m[1]) + text + m[3] + unq(m[4]);
}

/** What a cell holds after setValue(v) in a cell formatted `format` (Sheets parses text). */
function typed(v, format) {
  if (v instanceof Date) return { value: v.toISOString(), display: v.toISOString(), formula: '' };
  if (typeof v === 'number') return { value: v, display: formatNumber(v, format), formula: '' };
  if (typeof v === 'boolean') return { value: v, display: v ? 'TRUE' : 'FALSE', formula: '' };
  const text = String(v);
  if (format === '@' || text === '') return { value: text, display: text, formula: '' };
  if (text.startsWith('=')) return { value: '#ERROR!', display: '#ERROR!', formula: text };
  if (NUMBER_RE.test(text.trim())) return typed(Number(text), format);
  if (/^[+-]?\d+(\.\d+)?%$/.test(text.trim())) {
    const n = Number(text.trim().slice(0, -1)) / 100;
    return { value: n, display: text.trim(), formula: '' };
  }
  if (/^(true|false)$/i.test(text)) return typed(text.toUpperCase() === 'TRUE', format);
  return { value: text, display: text, formula: '' };
}

// ---------------------------------------------------------------- SpreadsheetApp

function makeRichText(c) {
  const runs = c.runs || [{ text: String(c.display), link: c.link }];
  return strict('RichTextValue', {
    getText: () => String(c.display),
    getLinkUrl: () => (runs.length === 1 ? runs[0].link || null : null),
    getRuns: () => runs.map((r) => strict('RichTextValue', {
      getText: () => r.text,
      getLinkUrl: () => r.link || null,
    })),
  });
}

function makeRange(world, sheetName, a1) {
  const g = parseA1(a1);
  const names = [];
  for (let r = 0; r < g.numRows; r++) {
    const row = [];
    for (let c = 0; c < g.numCols; c++) row.push(cellName(g.row + r, g.col + c));
    names.push(row);
  }
  const a1Text = g.numRows === 1 && g.numCols === 1 ? names[0][0]
    : `${names[0][0]}:${names[g.numRows - 1][g.numCols - 1]}`;
  const update = (fn) => withBook(world, (b) => {
    const cells = b.tabs[sheetName].cells;
    names.forEach((row, r) => row.forEach((n, c) => {
      cells[n] = fn({ ...EMPTY_CELL, ...(cells[n] || {}) }, r, c);
    }));
  });
  const check2d = (values, what) => {
    if (!Array.isArray(values) || values.length !== g.numRows ||
        values.some((row) => !Array.isArray(row) || row.length !== g.numCols)) {
      throw new GasException(`The number of rows or columns in the ${what} does not match the range ${a1Text}.`);
    }
  };
  const one = () => {
    if (g.numRows !== 1 || g.numCols !== 1) throw new TypeError('fake: models this only for one cell');
    return cell(world, sheetName, names[0][0]);
  };
  const range = {
    getA1Notation: () => a1Text,
    getRow: () => g.row,
    getColumn: () => g.col,
    getNumRows: () => g.numRows,
    getNumColumns: () => g.numCols,
    getSheet: () => makeSheet(world, sheetName),
    getDisplayValue: () => cell(world, sheetName, names[0][0]).display,
    getDisplayValues: () => {
      maybeFault(world, 'Range.getDisplayValues');
      return names.map((row) => row.map((n) => cell(world, sheetName, n).display));
    },
    getRichTextValue: () => makeRichText(one()),
    getFormula: () => one().formula || '',
    getNote: () => one().note || '',
    getNumberFormat: () => one().format || 'General',
    getDataValidation: () => one().validation,
    setValue: (v) => {
      checkCellValue(v);
      update((c) => ({ ...c, ...typed(v, c.format), link: null, runs: null }));
      return range;
    },
    setValues: (values) => {
      check2d(values, 'data');
      values.forEach((row) => row.forEach(checkCellValue));
      update((c, r, k) => ({ ...c, ...typed(values[r][k], c.format), link: null, runs: null }));
      return range;
    },
    setNumberFormat: (fmt) => {
      update((c) => ({ ...c, format: String(fmt) }));
      return range;
    },
    setNumberFormats: (formats) => {
      check2d(formats, 'formats');
      update((c, r, k) => ({ ...c, format: String(formats[r][k]) }));
      return range;
    },
    setNote: (text) => {
      update((c) => ({ ...c, note: String(text) }));
      return range;
    },
    setFontWeight: (w) => {
      update((c) => ({ ...c, bold: w === 'bold' }));
      return range;
    },
    setDataValidation: (rule) => {
      update((c) => ({ ...c, validation: rule ? rule.__spec : null }));
      return range;
    },
    protect: () => {
      const p = { range: a1Text, sheet: sheetName, description: '', warningOnly: false };
      withBook(world, (b) => b.protections.push(p));
      return makeProtection(world, p);
    },
  };
  return strict('Range', range);
}

function makeProtection(world, p) {
  const save = (fn) => withBook(world, (b) => {
    const i = b.protections.findIndex((q) => q.range === p.range && q.sheet === p.sheet &&
      q.description === p.description);
    fn(b.protections[i]);
    Object.assign(p, b.protections[i]);
  });
  const prot = strict('Protection', {
    setDescription: (d) => {
      save((q) => { q.description = String(d); });
      return prot;
    },
    getDescription: () => p.description,
    setWarningOnly: (w) => {
      save((q) => { q.warningOnly = !!w; });
      return prot;
    },
    isWarningOnly: () => p.warningOnly,
    getRange: () => makeRange(world, p.sheet, p.range),
    remove: () => withBook(world, (b) => {
      b.protections = b.protections.filter((q) => !(q.range === p.range && q.sheet === p.sheet &&
        q.description === p.description));
    }),
  });
  return prot;
}

function checkCellValue(v) {
  const ok = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ||
    v instanceof Date;
  if (!ok) throw new GasException(`fake Range: unsupported cell value ${String(v)}`);
}

function makeSheet(world, sheetName) {
  const tab = () => book(world).tabs[sheetName];
  return strict('Sheet', {
    getName: () => sheetName,
    getSheetId: () => tab().sheetId,
    getParent: () => makeSpreadsheet(world),
    getRange: (a1, ...rest) => {
      if (typeof a1 !== 'string' || rest.length) {
        throw new TypeError('fake Sheet.getRange models only getRange(a1Notation)');
      }
      return makeRange(world, sheetName, a1);
    },
    setColumnWidth: (col, px) => {
      withBook(world, (b) => { b.tabs[sheetName].widths[numToCol(col)] = px; });
    },
    getProtections: (type) => {
      if (type !== 'RANGE') throw new TypeError('fake models only RANGE protections');
      return book(world).protections.filter((p) => p.sheet === sheetName)
        .map((p) => makeProtection(world, p));
    },
    activate: () => { world.activeSheetName = sheetName; },
  });
}

function makeUser(email) {
  return strict('User', { getEmail: () => email });
}

function makeSpreadsheet(world) {
  return strict('Spreadsheet', {
    getId: () => world.spreadsheetId,
    getName: () => world.spreadsheetName,
    getActiveSheet: () => makeSheet(world, world.activeSheetName),
    getSheetByName: (name) => (book(world).tabs[name] ? makeSheet(world, name) : null),
    getSheetById: (id) => {
      const t = Object.values(book(world).tabs).find((x) => x.sheetId === id);
      return t ? makeSheet(world, t.name) : null;
    },
    getSheets: () => Object.keys(book(world).tabs).map((n) => makeSheet(world, n)),
    getEditors: () => world.editors.map(makeUser),
    toast: (msg, title, timeoutSeconds) => {
      world.toasts.push({ msg: String(msg), title: title === undefined ? '' : String(title), timeoutSeconds });
    },
  });
}

const BUTTON = Object.freeze({ OK: 'OK', CANCEL: 'CANCEL', CLOSE: 'CLOSE', YES: 'YES', NO: 'NO' });
const BUTTON_SET = Object.freeze({ OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO', YES_NO_CANCEL: 'YES_NO_CANCEL' });

function makeUi(world) {
  const menuBuilder = (caption) => {
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
  };
  const htmlOnly = (html, what) => {
    if (!html || !html.__html) throw new TypeError(`fake Ui.${what} needs an HtmlOutput`);
  };
  return strict('Ui', {
    Button: strict('Button', { ...BUTTON }),
    ButtonSet: strict('ButtonSet', { ...BUTTON_SET }),
    createMenu: (caption) => menuBuilder(caption),
    createAddonMenu: () => menuBuilder('(add-on)'),
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
      world.alerts.push({ kind: 'alert', title: args.length > 1 ? args[0] : '', text: args.length === 1 ? args[0] : args[1] });
      return BUTTON.OK;
    },
    showSidebar: (html) => {
      htmlOnly(html, 'showSidebar');
      world.sidebars.push(html.__html);
    },
    showModalDialog: (html, title) => {
      htmlOnly(html, 'showModalDialog');
      world.dialogs.push({ ...html.__html, title });
    },
  });
}

function makeSpreadsheetApp(world) {
  const validationBuilder = () => {
    const spec = { allowInvalid: true, help: '' };
    const b = strict('DataValidationBuilder', {
      requireValueInList: (values, showDropdown) => {
        spec.list = [...values];
        spec.showDropdown = showDropdown !== false;
        return b;
      },
      requireNumberBetween: (lo, hi) => {
        spec.between = [lo, hi];
        return b;
      },
      setAllowInvalid: (v) => {
        spec.allowInvalid = !!v;
        return b;
      },
      setHelpText: (t) => {
        spec.help = String(t);
        return b;
      },
      build: () => strict('DataValidation', { __spec: { ...spec } }),
    });
    return b;
  };
  return strict('SpreadsheetApp', {
    getActiveSpreadsheet: () => makeSpreadsheet(world),
    getActiveSheet: () => makeSheet(world, world.activeSheetName),
    getUi: () => {
      if (world.mode === 'trigger') {
        throw new GasException('Cannot call SpreadsheetApp.getUi() from this context.');
      }
      return makeUi(world);
    },
    newDataValidation: validationBuilder,
    ProtectionType: strict('ProtectionType', { RANGE: 'RANGE', SHEET: 'SHEET' }),
    flush: () => {},
  });
}

// ---------------------------------------------------------------- HtmlService

function makeHtmlService(world) {
  const fromFile = (name) => {
    const file = path.join(APPS_SCRIPT, `${name}.html`);
    if (!fs.existsSync(file)) throw new GasException(`No HTML file named ${name} was found.`);
    const html = { file: name, content: fs.readFileSync(file, 'utf8'), title: '', width: null, height: null };
    const out = strict('HtmlOutput', {
      __html: html,
      setTitle: (t) => { html.title = String(t); return out; },
      setWidth: (w) => { html.width = w; return out; },
      setHeight: (h) => { html.height = h; return out; },
      getContent: () => html.content,
    });
    return out;
  };
  return strict('HtmlService', { createHtmlOutputFromFile: fromFile });
}

// ---------------------------------------------------------------- PropertiesService, Session

function makePropertiesService(world) {
  const store = (kind) => {
    const s = strict('Properties', {
      getProperty: (k) => {
        const props = readProps(world, kind);
        return Object.prototype.hasOwnProperty.call(props, k) ? props[k] : null;
      },
      getProperties: () => readProps(world, kind),
      setProperty: (k, v) => {
        const props = readProps(world, kind);
        props[k] = String(v);
        writeProps(world, kind, props);
        return s;
      },
      setProperties: (values, deleteAllOthers) => {
        const props = deleteAllOthers ? {} : readProps(world, kind);
        for (const [k, v] of Object.entries(values)) props[k] = String(v);
        writeProps(world, kind, props);
        return s;
      },
      deleteProperty: (k) => {
        const props = readProps(world, kind);
        delete props[k];
        writeProps(world, kind, props);
        return s;
      },
    });
    return s;
  };
  return strict('PropertiesService', {
    getDocumentProperties: () => store('document'),
    getScriptProperties: () => store('script'),
  });
}

function makeSession(world) {
  const user = () => {
    if (!world.grantedScopes.includes('https://www.googleapis.com/auth/userinfo.email')) return makeUser('');
    return makeUser(world.user);
  };
  return strict('Session', { getEffectiveUser: user, getActiveUser: user });
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
    sleep: (ms) => {
      if (!(Number(ms) >= 0 && Number(ms) <= MAX_SLEEP_MS)) {
        throw new GasException(`Invalid argument: milliseconds (${ms}; the maximum is ${MAX_SLEEP_MS})`);
      }
      world.sleeps.push(Number(ms));
      sleepMs(Number(ms));
    },
  });
}

// ---------------------------------------------------------------- ScriptApp

const EVENT_TYPE = Object.freeze({ CLOCK: 'CLOCK', ON_OPEN: 'ON_OPEN', ON_EDIT: 'ON_EDIT', ON_FORM_SUBMIT: 'ON_FORM_SUBMIT', ON_CHANGE: 'ON_CHANGE' });
const AUTH_MODE = Object.freeze({ NONE: 'NONE', LIMITED: 'LIMITED', CUSTOM_FUNCTION: 'CUSTOM_FUNCTION', FULL: 'FULL' });
const SCRIPTAPP_SCOPE = 'https://www.googleapis.com/auth/script.scriptapp';

/** Thrown by ScriptApp.requireScopes when scopes are missing: the execution ends there. */
class ConsentRequired extends Error {
  constructor(scopes) {
    super(`Authorisation is required to perform that action (${scopes.join(', ')}).`);
    this.name = 'ConsentRequired';
    this.scopes = scopes;
  }
}

function needScope(world, method, scope) {
  if (world.mode === 'simple' || !world.grantedScopes.includes(scope)) {
    throw permissionError(method, scope);
  }
}

function makeScriptApp(world) {
  const needFull = (method) => needScope(world, method, SCRIPTAPP_SCOPE);
  const makeTrigger = (t) => strict('Trigger', {
    getHandlerFunction: () => t.handler,
    getEventType: () => t.eventType,
    getUniqueId: () => t.id,
    getTriggerSourceId: () => t.sourceId,
  });
  return strict('ScriptApp', {
    EventType: strict('EventType', { ...EVENT_TYPE }),
    AuthMode: strict('AuthMode', { ...AUTH_MODE }),
    requireScopes: (authMode, scopes) => {
      if (authMode !== AUTH_MODE.FULL || !Array.isArray(scopes)) {
        throw new TypeError('fake ScriptApp.requireScopes models only (AuthMode.FULL, [scopes])');
      }
      const missing = scopes.filter((s) => !world.grantedScopes.includes(s));
      if (missing.length) throw new ConsentRequired(missing);
    },
    /** Only the current user's triggers, as in Apps Script. */
    getProjectTriggers: () => {
      needFull('ScriptApp.getProjectTriggers');
      return allTriggers(world).filter((t) => t.owner === world.user).map(makeTrigger);
    },
    deleteTrigger: (trigger) => {
      needFull('ScriptApp.deleteTrigger');
      const id = trigger.getUniqueId();
      const triggers = allTriggers(world);
      const i = triggers.findIndex((t) => t.id === id && t.owner === world.user);
      if (i < 0) throw new GasException('No trigger with that id');
      triggers.splice(i, 1);
      saveTriggers(world, triggers);
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
              const t = { id: String(crypto.randomInt(1e9, 1e10)), handler, eventType, sourceId: id, owner: world.user };
              saveTriggers(world, [...allTriggers(world), t]);
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
const r = (u.protocol === 'https:' ? https : http).request(u, { method: req.method, headers }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('base64') })));
});
// Apps Script gives up on the whole exchange after about 60 s, whatever the server does.
setTimeout(() => { process.stdout.write(JSON.stringify({ timeout: true })); process.exit(0); }, req.timeoutMs).unref();
r.on('error', (err) => process.stdout.write(JSON.stringify({ error: err.code || err.message })));
r.end(body);
`;

function makeUrlFetchApp(world) {
  return strict('UrlFetchApp', {
    fetch: (url, params = {}) => {
      needScope(world, 'UrlFetchApp.fetch', FETCH_SCOPE);
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
        input: JSON.stringify({ url, method, headers, body: Buffer.from(payload, 'utf8').toString('base64'), timeoutMs: world.fetchTimeoutMs }),
        encoding: 'utf8',
        timeout: world.fetchTimeoutMs + 10000,
      });
      if (child.status !== 0 || !child.stdout) {
        throw new Error(`fake UrlFetchApp child failed: ${child.stderr || child.error}`);
      }
      const out = JSON.parse(child.stdout);
      world.fetches.push({ url, method, headers, payload, started, ended: Date.now(), status: out.status, error: out.error, timeout: !!out.timeout });
      if (out.timeout) throw new GasException(`Timeout: ${url}`);
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

// ---------------------------------------------------------------- loading the script

/**
 * Loads the project's .gs files (Layout.gs, Code.gs) into a fresh vm context wired to
 * `world`'s fakes; returns the context (its global: the script's functions and `var`s).
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
    HtmlService: makeHtmlService(world),
    Session: makeSession(world),
    Logger: strict('Logger', { log: (...a) => logs.push(a.join(' ')) }),
    console: strict('console', { log: (...a) => logs.push(a.join(' ')), error: (...a) => logs.push(a.join(' ')), warn: (...a) => logs.push(a.join(' ')) }),
  };
  const ctx = vm.createContext(sandbox, { name: 'Apps Script' });
  for (const file of GS_FILES) {
    vm.runInContext(fs.readFileSync(path.join(APPS_SCRIPT, file), 'utf8'), ctx, { filename: file });
  }
  ctx.__logs = logs;
  return ctx;
}

/**
 * Runs one execution of `fnName(arg)` as Apps Script would: 'full' for menus, buttons and
 * sidebar calls; 'trigger' for installable triggers (no UI); 'simple' for simple triggers (no
 * UrlFetchApp, no ScriptApp). `user` runs it as another person. The document lock is released
 * when the execution ends. An exception escaping a trigger run is what Apps Script e-mails to
 * the trigger's owner (`world.failureEmails`); requireScopes asking for consent ends the run
 * (`world.consentRequests`, and `{consentRequired: [...]}` is returned).
 */
function execute(world, ctx, fnName, arg, mode = 'full', user = undefined) {
  const before = { mode: world.mode, user: world.user };
  world.mode = mode;
  if (user) world.user = user;
  try {
    return ctx[fnName](arg);
  } catch (err) {
    if (err instanceof ConsentRequired) {
      world.consentRequests.push(err.scopes);
      return { consentRequired: err.scopes };
    }
    if (mode === 'trigger') world.failureEmails.push({ to: world.user, error: String(err) });
    throw err;
  } finally {
    world.mode = before.mode;
    world.user = before.user;
    releaseLock(world);
  }
}

/** The event object of an installable on-edit trigger for an edit of `a1` on `sheetName`. */
function editEvent(world, sheetName, a1, triggerUid = 'none') {
  return {
    authMode: 'FULL',
    range: makeRange(world, sheetName, a1),
    source: makeSpreadsheet(world),
    triggerUid,
    user: { email: world.user },
  };
}

/**
 * A person types in a cell: every user's installed on-edit trigger fires, each run as its
 * owner with its own triggerUid. Returns [{owner, trigger, result}] (errors are not thrown:
 * Apps Script e-mails them to the owner, see `world.failureEmails`).
 */
function edit(world, ctx, sheetName, a1, value, display, extra) {
  if (value !== undefined) setCell(world, sheetName, a1, value, display, extra);
  return allTriggers(world).filter((t) => t.eventType === EVENT_TYPE.ON_EDIT).map((t) => {
    let result;
    try {
      result = execute(world, ctx, t.handler, editEvent(world, sheetName, a1, t.id), 'trigger', t.owner);
    } catch (err) {
      result = { thrown: String(err) };
    }
    return { owner: t.owner, trigger: t.id, result };
  });
}

function statusRow(world, sheetName = 'BESS') {
  return ['A4', 'B4', 'C4', 'D4', 'E4', 'F4', 'G4', 'H4'].map((a1) => cell(world, sheetName, a1).value);
}

module.exports = {
  ALL_SCOPES,
  APPS_SCRIPT,
  CODE_GS,
  MANIFEST,
  GasException,
  createWorld,
  addSheet,
  setCell,
  cell,
  book,
  allTriggers,
  saveTriggers,
  readProps,
  writeProps,
  loadCodeGs,
  execute,
  editEvent,
  edit,
  statusRow,
  parseA1,
  formatNumber,
};
