/**
 * BESS sheet add-on: posts the sheet's inputs to the bess-duos webhook, which computes the
 * lookup (distributor, DUoS tariff and time bands, annual charges, flexibility value) and writes
 * the results into the sheet through the Sheets API; or, with "the script writes the cells"
 * (`write: false`), answers with JSON that this script writes itself.
 *
 * An Editor add-on (onInstall, the add-on menu) that also runs bound to one sheet (clasp push).
 * Menu: Look up DNO & DUoS (runLookup, also the function for a drawing button), Show results
 * (the sidebar), Set up sheet, Settings…, Test connection, Turn on/off auto re-run (an
 * installable on-edit trigger calling handleEdit; never a simple onEdit, which may not call
 * UrlFetchApp).
 *
 * Settings live in the Document Properties (per spreadsheet); the cell map is SHEET_LAYOUT
 * (Layout.gs, generated from config/sheet_layout.yaml).
 *
 * @OnlyCurrentDoc
 */

var TOAST_TITLE = 'BESS lookup';
/** The tab name the layout is made for: used when no tab has been set up yet. */
var DEFAULT_TAB = 'BESS';
var EDIT_HANDLER = 'handleEdit';
/** How long a run waits for another run in this spreadsheet to finish. */
var LOCK_WAIT_MS = 30000;
/** At most this many lookups in one execution (its own, then edits made meanwhile). */
var MAX_RUNS = 5;
var MIN_SECRET_LENGTH = 16;
/** Tries of one request when the webhook answers 429 or 503, and the first wait. */
var MAX_ATTEMPTS = 3;
var RETRY_WAIT_MS = 1000;
var MAX_RETRY_WAIT_MS = 10000;
/** A stored timestamp further ahead than this is a clock that went back: ignored. */
var MAX_TIMESTAMP_LEAD_S = 5;
/** Request signing (webhook/auth.py): scheme v2 with this spreadsheet's own key. */
var SIGNING_SCHEME = 'bess-duos-v2';
var SHEET_KEY_PREFIX = 'sheet:';
/** A known-good MPAN core, for the signed test call. */
var TEST_MPAN = '1405566778898';
var PROTECTION_NOTE = 'bess-duos output (filled by the lookup)';

var PROP = {
  url: 'WEBHOOK_URL',
  secret: 'WEBHOOK_SECRET',
  serviceAccount: 'SERVICE_ACCOUNT_EMAIL',
  scriptWrites: 'SCRIPT_WRITES_CELLS',
  batteryPowerKw: 'BATTERY_POWER_KW',
  batteryEnergyKwh: 'BATTERY_ENERGY_KWH',
  batteryEfficiencyPct: 'BATTERY_EFFICIENCY_PCT',
  exportPricePPerKwh: 'EXPORT_PRICE_P_PER_KWH',
  sheetId: 'BESS_SHEET_ID',
  triggerId: 'AUTO_RERUN_TRIGGER_ID',
  triggerOwner: 'AUTO_RERUN_OWNER',
  lastTimestamp: 'LAST_SIGNED_TIMESTAMP',
  pending: 'LOOKUP_PENDING',
};

/**
 * The battery settings (Settings > Battery; blank = no battery), their lookup JSON fields and
 * checks. Power and energy go together; efficiency and export price need a battery.
 */
var BATTERY_SETTINGS = [
  { key: 'batteryPowerKw', field: 'battery_power_kw', what: 'battery power in kW above 0 (e.g. 100)',
    ok: function (v) { return v > 0; } },
  { key: 'batteryEnergyKwh', field: 'battery_energy_kwh', what: 'battery energy in kWh above 0 (e.g. 200)',
    ok: function (v) { return v > 0; } },
  { key: 'batteryEfficiencyPct', field: 'battery_efficiency',
    what: 'round-trip efficiency in %, above 1 and at most 100 (e.g. 90, not 0.9)',
    ok: function (v) { return v > 1 && v <= 100; } },
  { key: 'exportPricePPerKwh', field: 'export_price_p_per_kwh', what: 'export price in p/kWh, 0 or more (e.g. 5)',
    ok: function (v) { return v >= 0; } },
];

var REQUIRED_SCOPES = [
  'https://www.googleapis.com/auth/spreadsheets.currentonly',
  'https://www.googleapis.com/auth/script.external_request',
  'https://www.googleapis.com/auth/script.scriptapp',
  'https://www.googleapis.com/auth/script.container.ui',
  'https://www.googleapis.com/auth/userinfo.email',
];

// ------------------------------------------------------------------ menu and entry points

/** Add-on installed from the Marketplace: show the menu at once. */
function onInstall(e) {
  onOpen(e);
}

/** Simple trigger: the add-on menu (Extensions > BESS). Touches nothing else. */
function onOpen() {
  SpreadsheetApp.getUi()
    .createAddonMenu()
    .addItem('Look up DNO & DUoS', 'runLookup')
    .addItem('Show results (sidebar)', 'showSidebar')
    .addSeparator()
    .addItem('Set up sheet', 'setUpSheet')
    .addItem('Settings…', 'showSettings')
    .addItem('Test connection', 'testConnection')
    .addSeparator()
    .addItem('Turn on auto re-run', 'installAutoRerun')
    .addItem('Turn off auto re-run', 'removeAutoRerun')
    .addToUi();
}

/** Menu item and drawing-button function: looks up the BESS tab's inputs (never another tab). */
function runLookup() {
  requireScopes_();
  return guarded_(function () {
    var sheet = bessSheet_();
    if (!sheet) return noBessTab_();
    return lookup_(sheet);
  });
}

/**
 * Installable on-edit handler: re-runs the lookup when the edit touches an input cell of the
 * BESS tab, and only for the trigger auto re-run was last turned on with (triggers are per
 * user: another person's stale trigger, or any trigger once auto re-run is off, does nothing).
 */
function handleEdit(e) {
  if (!e || !e.range) return null;
  var props = docProps_();
  var wanted = props.getProperty(PROP.triggerId);
  if (!wanted || String(e.triggerUid) !== wanted) return null;
  var sheet = e.range.getSheet();
  var bess = bessSheet_();
  if (!bess || bess.getSheetId() !== sheet.getSheetId()) return null;
  if (!touchesInput_(e.range)) return null;
  return guarded_(function () { return lookup_(sheet); }, sheet);
}

// ------------------------------------------------------------------ the lookup

/**
 * Posts `sheet`'s inputs under the document lock. A run that cannot get the lock leaves a
 * pending flag, and the run holding the lock looks up again (reading the newest inputs) before
 * it lets go, so the newest edit is always computed. Returns the last run's summary.
 */
function lookup_(sheet) {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var settings = settings_();
  if (!settings.url || !settings.secret) {
    return fail_(ss, sheet, 'The webhook is not set up: choose Extensions > BESS > Settings… ' +
      'and enter its URL and this sheet\'s key.', '');
  }
  var props = docProps_();
  props.setProperty(PROP.pending, '1');
  var lock = LockService.getDocumentLock();
  if (!lock.tryLock(LOCK_WAIT_MS)) {
    ss.toast('Another lookup is still running; it will look up again with these inputs when ' +
      'it finishes.', TOAST_TITLE);
    return { ok: false, queued: true };
  }
  try {
    var result = { ok: true, status: 'done', message: 'A lookup that was already running ' +
      'used these inputs.' };
    for (var runs = 0; runs < MAX_RUNS && props.getProperty(PROP.pending); runs++) {
      props.deleteProperty(PROP.pending);
      result = lookupOnce_(ss, sheet, settings);
    }
    return result;
  } finally {
    lock.releaseLock();
  }
}

/** One request with the sheet's current inputs, and its outcome shown. */
function lookupOnce_(ss, sheet, settings) {
  var payload = readInputs_(sheet);
  payload.spreadsheet_id = ss.getId();
  payload.worksheet = sheet.getName();
  if (settings.scriptWrites) payload.write = false;
  var battery = batteryPayload_(settings);
  Object.keys(battery).forEach(function (k) { payload[k] = battery[k]; });
  var reply;
  try {
    reply = post_(settings, '/lookup', payload);
  } catch (err) {
    return fail_(ss, sheet, fetchErrorText_(err), '');
  }
  if (reply.code >= 200 && reply.code < 300) return succeed_(ss, sheet, reply, settings);
  var error = parseError_(reply.code, reply.text);
  return fail_(ss, sheet, error.message, error.requestId);
}

/**
 * A signed POST of `payload` to `path`. 429 and 503 are tried again (up to MAX_ATTEMPTS, waiting
 * as Retry-After says, else 1 s then 2 s), each try with a fresh timestamp and signature.
 * Returns {code, text, json}; throws what UrlFetchApp throws (no answer, or a timeout).
 */
function post_(settings, path, payload) {
  var props = docProps_();
  var body = asciiJson_(payload);
  var keyId = SHEET_KEY_PREFIX + SpreadsheetApp.getActiveSpreadsheet().getId();
  var signedPath = urlPath_(settings.url) + path;
  for (var attempt = 1; ; attempt++) {
    var timestamp = String(freshTimestamp_(props));
    var response = UrlFetchApp.fetch(settings.url + path, {
      method: 'post',
      contentType: 'application/json',
      payload: body,
      headers: {
        'X-Timestamp': timestamp,
        'X-Key-Id': keyId,
        'X-Signature': hmacSha256Hex_(
          stringToSign_(timestamp, 'POST', signedPath, keyId, body), settings.secret),
      },
      muteHttpExceptions: true,
      followRedirects: false,
    });
    var code = response.getResponseCode();
    if ((code === 429 || code === 503) && attempt < MAX_ATTEMPTS) {
      Utilities.sleep(retryWaitMs_(response, attempt));
      continue;
    }
    var text = response.getContentText();
    return { code: code, text: text, json: parseJson_(text) };
  }
}

/**
 * What the signature covers (webhook/auth.py, scheme v2): the scheme, the timestamp, the method,
 * the path, the key id and the body, one per line.
 */
function stringToSign_(timestamp, method, path, keyId, body) {
  return [SIGNING_SCHEME, timestamp, method, path, keyId, body].join('\n');
}

/** "https://host/base" -> "/base"; "https://host" -> "". */
function urlPath_(url) {
  var m = /^https?:\/\/[^/]+(\/.*)?$/.exec(url);
  return m && m[1] ? m[1].replace(/\/+$/, '') : '';
}

/** A GET of `path` (unsigned: /health). Returns {code, text, json}. */
function get_(settings, path) {
  var response = UrlFetchApp.fetch(settings.url + path, {
    method: 'get',
    muteHttpExceptions: true,
    followRedirects: false,
  });
  var text = response.getContentText();
  return { code: response.getResponseCode(), text: text, json: parseJson_(text) };
}

/** Retry-After in seconds (capped), else RETRY_WAIT_MS doubling per attempt. */
function retryWaitMs_(response, attempt) {
  var headers = response.getHeaders() || {};
  var after = Number(headers['Retry-After'] || headers['retry-after']);
  var ms = isFinite(after) && after > 0 ? after * 1000 : RETRY_WAIT_MS * Math.pow(2, attempt - 1);
  return Math.min(ms, MAX_RETRY_WAIT_MS);
}

/** UrlFetchApp's exception as one line for a person (a timeout is not "unreachable"). */
function fetchErrorText_(err) {
  var text = errorText_(err);
  if (/^Timeout\b/i.test(text)) {
    return 'The webhook did not answer within Apps Script\'s limit (about 60 s). The lookup ' +
      'may still finish and write the sheet: check A4 in a minute, or run it again.';
  }
  return 'Could not reach the webhook: ' + text;
}

/** The input cells' displayed strings, keyed by field; the profile link as its URL. */
function readInputs_(sheet) {
  var inputs = SHEET_LAYOUT.inputs;
  var keys = Object.keys(inputs);
  var cells = keys.map(function (k) { return a1ToRowCol_(inputs[k]); });
  var top = Math.min.apply(null, cells.map(function (c) { return c.row; }));
  var left = Math.min.apply(null, cells.map(function (c) { return c.col; }));
  var bottom = Math.max.apply(null, cells.map(function (c) { return c.row; }));
  var right = Math.max.apply(null, cells.map(function (c) { return c.col; }));
  var block = sheet.getRange(rowColToA1_(top, left) + ':' + rowColToA1_(bottom, right))
    .getDisplayValues();
  var out = {};
  keys.forEach(function (k, i) {
    out[k] = String(block[cells[i].row - top][cells[i].col - left]).trim();
  });
  if (out.profile_url) out.profile_url = linkOf_(sheet.getRange(inputs.profile_url)) || out.profile_url;
  return out;
}

/**
 * The URL behind a cell: a labelled link or a Drive file chip (the rich-text link, whole cell or
 * one run), else a =HYPERLINK("url", "label") formula; null when there is none.
 */
function linkOf_(range) {
  var rich = range.getRichTextValue();
  if (rich) {
    if (rich.getLinkUrl()) return rich.getLinkUrl();
    var runs = rich.getRuns();
    for (var i = 0; i < runs.length; i++) {
      if (runs[i].getLinkUrl()) return runs[i].getLinkUrl();
    }
  }
  var m = /^=\s*HYPERLINK\(\s*"([^"]+)"/i.exec(range.getFormula() || '');
  return m ? m[1] : null;
}

/** True when `range` (a Range of the edit) overlaps any input cell. */
function touchesInput_(range) {
  var top = range.getRow();
  var left = range.getColumn();
  var bottom = top + range.getNumRows() - 1;
  var right = left + range.getNumColumns() - 1;
  return Object.keys(SHEET_LAYOUT.inputs).some(function (k) {
    var c = a1ToRowCol_(SHEET_LAYOUT.inputs[k]);
    return c.row >= top && c.row <= bottom && c.col >= left && c.col <= right;
  });
}

/**
 * After a 2xx: writes the cells when the script writes them (`write: false`), and says what
 * happened: done, a warning, or not written because a newer lookup already was.
 */
function succeed_(ss, sheet, reply, settings) {
  var answer = reply.json || {};
  var status = String(answer.status || 'ok');
  var written = answer.written;
  if (settings.scriptWrites) {
    writeAnswer_(sheet, answer);
  } else if (written && written.written === false) {
    var why = 'Not written: a newer lookup already updated the sheet' +
      (written.dropped_reason ? ' (' + written.dropped_reason + ')' : '') + '.';
    ss.toast(why, 'BESS lookup: not written');
    return { ok: true, status: 'dropped', message: why, answer: answer };
  }
  var message = answer.message ? String(answer.message) : 'Results written to the sheet.';
  ss.toast(message, status === 'ok' ? 'BESS lookup done' : 'BESS lookup: ' + status);
  return { ok: true, status: status, message: message, answer: answer };
}

/** Writes every output block from the answer's `fields` (strings as text, numbers formatted). */
function writeAnswer_(sheet, answer) {
  var fields = answer.fields || {};
  var formats = cellFormats_();
  SHEET_LAYOUT.outputs.forEach(function (block) {
    var origin = a1ToRowCol_(block.range.split(':')[0]);
    var values = block.fields.map(function (row) {
      return row.map(function (name) {
        var v = name ? fields[name] : null;
        return v === null || v === undefined ? '' : v;
      });
    });
    var numberFormats = values.map(function (row, r) {
      return row.map(function (v, c) {
        var fmt = formats[rowColToA1_(origin.row + r, origin.col + c)] || 'General';
        return typeof v === 'number' ? (fmt === '@' ? 'General' : fmt) : '@';
      });
    });
    sheet.getRange(block.range).setNumberFormats(numberFormats).setValues(values);
  });
}

/** Writes the failure into the status cells and toasts it. */
function fail_(ss, sheet, message, requestId) {
  writeStatus_(sheet, {
    status: 'error',
    message: message,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    request_id: requestId || '',
  });
  ss.toast(message, 'BESS lookup failed');
  return { ok: false, message: message };
}

/** Writes the status block whole, as plain text (so "=..." or a digits-only id stay text). */
function writeStatus_(sheet, fields) {
  var block = statusBlock_();
  var row = block.fields[0].map(function (name) {
    var v = name ? fields[name] : null;
    return v === undefined || v === null ? '' : String(v);
  });
  sheet.getRange(block.range).setNumberFormat('@').setValues([row]);
}

function statusBlock_() {
  return SHEET_LAYOUT.outputs.filter(function (b) {
    return b.range === SHEET_LAYOUT.status_range;
  })[0];
}

/** Runs `fn`; an unexpected error goes to A4 and a toast instead of the owner's inbox. */
function guarded_(fn, sheet) {
  try {
    return fn();
  } catch (err) {
    var ss = SpreadsheetApp.getActiveSpreadsheet();
    var target = sheet || bessSheet_();
    var message = 'The script failed: ' + errorText_(err);
    console.error(message);
    if (target) return fail_(ss, target, message, '');
    ss.toast(message, 'BESS lookup failed');
    return { ok: false, message: message };
  }
}

// ------------------------------------------------------------------ the sidebar

/** Menu item: the sidebar, which runs the lookup and shows what it found. */
function showSidebar() {
  requireScopes_();
  var html = HtmlService.createHtmlOutputFromFile('Sidebar').setTitle('BESS lookup');
  SpreadsheetApp.getUi().showSidebar(html);
}

/** Called by the sidebar: runs the lookup and returns its answer (the webhook's JSON). */
function sidebarLookup() {
  var result = runLookup();
  return {
    ok: !!(result && result.ok),
    message: result && result.message ? String(result.message) : '',
    answer: result && result.answer ? result.answer : null,
  };
}

// ------------------------------------------------------------------ set up and settings

/**
 * Menu item: makes the active tab the BESS tab and lays it out: labels, number formats, notes
 * on the output cells, validation of the voltage and flexible share, B6 as plain text, and
 * warning-only protection of the output ranges.
 */
function setUpSheet() {
  requireScopes_();
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var sheet = ss.getActiveSheet();
  var layout = SHEET_LAYOUT;
  Object.keys(layout.labels).forEach(function (a1) {
    sheet.getRange(a1).setValue(layout.labels[a1]).setFontWeight('bold');
  });
  Object.keys(layout.formats).forEach(function (a1) {
    sheet.getRange(a1).setNumberFormat(layout.formats[a1]);
  });
  Object.keys(layout.notes).forEach(function (a1) {
    sheet.getRange(a1).setNote(layout.notes[a1]);
  });
  Object.keys(layout.validation).forEach(function (a1) {
    var spec = layout.validation[a1];
    var rule = SpreadsheetApp.newDataValidation();
    rule = spec.list ? rule.requireValueInList(spec.list, true)
      : rule.requireNumberBetween(spec.between[0], spec.between[1]);
    sheet.getRange(a1).setDataValidation(rule.setAllowInvalid(false)
      .setHelpText(spec.help || '').build());
  });
  Object.keys(layout.widths).forEach(function (letter) {
    sheet.setColumnWidth(a1ToRowCol_(letter + '1').col, Math.round(layout.widths[letter] * 7));
  });
  sheet.getProtections(SpreadsheetApp.ProtectionType.RANGE).forEach(function (p) {
    if (p.getDescription() === PROTECTION_NOTE) p.remove();
  });
  layout.outputs.forEach(function (block) {
    sheet.getRange(block.range).protect().setDescription(PROTECTION_NOTE).setWarningOnly(true);
  });
  docProps_().setProperty(PROP.sheetId, String(sheet.getSheetId()));
  ss.toast('Tab "' + sheet.getName() + '" is the BESS tab: labels, formats, notes and checks ' +
    'are in place. Enter a postcode or MPAN and choose Look up.', TOAST_TITLE);
  return { ok: true, sheet: sheet.getName() };
}

/** Menu item: the settings dialog (the secret goes in a password field, never shown back). */
function showSettings() {
  requireScopes_();
  var html = HtmlService.createHtmlOutputFromFile('Settings').setWidth(460).setHeight(560);
  SpreadsheetApp.getUi().showModalDialog(html, 'BESS settings');
}

/** For the settings dialog: the current settings, without the secret. */
function getSettings() {
  var s = settings_();
  var shown = { url: s.url, hasSecret: !!s.secret, serviceAccount: s.serviceAccount,
    scriptWrites: s.scriptWrites };
  BATTERY_SETTINGS.forEach(function (b) { shown[b.key] = s[b.key]; });
  return shown;
}

/**
 * From the settings dialog: checks and stores {url, secret, serviceAccount, scriptWrites} and
 * the battery (BATTERY_SETTINGS keys; all blank = no battery) in this spreadsheet's Document
 * Properties. A blank URL or secret keeps the current one. Returns {ok, message}.
 */
function saveSettings(form) {
  var current = settings_();
  var url = String(form && form.url || '').trim().replace(/\/+$/, '') || current.url;
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url || '')) {
    return { ok: false, message: 'Not saved: the webhook URL must start with https:// and have ' +
      'no spaces, "?" or "#" (got "' + (url || '') + '").' };
  }
  var secret = String(form && form.secret || '').trim();
  if (!secret && !current.secret) return { ok: false, message: 'Not saved: the sheet key is needed.' };
  if (secret && (secret.length < MIN_SECRET_LENGTH || !/^[\x21-\x7e]+$/.test(secret))) {
    return { ok: false, message: 'Not saved: the sheet key must be at least ' + MIN_SECRET_LENGTH +
      ' printable ASCII characters without spaces (the 64 hex digits `bess-duos sheet-key ' +
      SpreadsheetApp.getActiveSpreadsheet().getId() + '` prints).' };
  }
  var account = String(form && form.serviceAccount || '').trim();
  if (account && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(account)) {
    return { ok: false, message: 'Not saved: "' + account + '" is not an e-mail address.' };
  }
  var battery = {};
  for (var i = 0; i < BATTERY_SETTINGS.length; i++) {
    var b = BATTERY_SETTINGS[i];
    var text = String(form && form[b.key] !== undefined && form[b.key] !== null ? form[b.key] : '')
      .trim();
    var value = settingNumber_(text);
    if (text && !(value !== null && b.ok(value))) {
      return { ok: false, message: 'Not saved: give the ' + b.what + ', or leave it blank (got "' +
        text + '").' };
    }
    battery[b.key] = text ? String(value) : '';
  }
  if (!battery.batteryPowerKw !== !battery.batteryEnergyKwh ||
      (!battery.batteryPowerKw && (battery.batteryEfficiencyPct || battery.exportPricePPerKwh))) {
    return { ok: false, message: 'Not saved: a battery needs both its power (kW) and its energy ' +
      '(kWh); leave all four battery fields blank for no battery.' };
  }
  var values = {};
  values[PROP.url] = url;
  BATTERY_SETTINGS.forEach(function (s) { values[PROP[s.key]] = battery[s.key]; });
  if (secret) values[PROP.secret] = secret;
  values[PROP.serviceAccount] = account;
  values[PROP.scriptWrites] = form && form.scriptWrites ? 'true' : 'false';
  docProps_().setProperties(values);
  return { ok: true, message: 'Settings saved.' };
}

/** The settings of this spreadsheet. */
function settings_() {
  var p = docProps_();
  var out = {
    url: (p.getProperty(PROP.url) || '').replace(/\/+$/, ''),
    secret: p.getProperty(PROP.secret) || '',
    serviceAccount: p.getProperty(PROP.serviceAccount) || '',
    scriptWrites: p.getProperty(PROP.scriptWrites) === 'true',
  };
  BATTERY_SETTINGS.forEach(function (b) { out[b.key] = p.getProperty(PROP[b.key]) || ''; });
  return out;
}

/** "1,000", "90%" or "5 p/kWh" -> the number; null when it is not one. */
function settingNumber_(text) {
  var bare = String(text).replace(/,/g, '').replace(/\s*(%|kwh|kw|p\/kwh|p)$/i, '').trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(bare)) return null;
  return Number(bare);
}

/**
 * The battery fields of the lookup JSON from the settings: power and energy (numbers), the
 * round-trip efficiency as "90%", the export price (a number); a blank setting sends nothing.
 */
function batteryPayload_(settings) {
  var out = {};
  if (!settings.batteryPowerKw || !settings.batteryEnergyKwh) return out;
  BATTERY_SETTINGS.forEach(function (b) {
    var text = settings[b.key];
    if (!text) return;
    out[b.field] = b.key === 'batteryEfficiencyPct' ? text + '%' : Number(text);
  });
  return out;
}

function docProps_() {
  return PropertiesService.getDocumentProperties();
}

// ------------------------------------------------------------------ test connection

/**
 * Menu item: checks, in turn, that the webhook answers (/health) and is ready (/ready, which also
 * names the service account it writes as), that it accepts our signature (secret and clock; a
 * signed /mpan/validate), that the sheet is shared with its service account (the e-mail in
 * Settings, else the webhook's; unless the script writes the cells), and that it can read the
 * profile link in B15. Shows one line per check and returns {ok, lines}.
 */
function testConnection() {
  requireScopes_();
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var settings = settings_();
  var lines = [];
  var ok = true;
  var say = function (good, text) {
    lines.push((good === null ? '– ' : good ? '✓ ' : '✗ ') + text);
    if (good === false) ok = false;
  };
  if (!settings.url || !settings.secret) {
    say(false, 'No webhook URL or sheet key: choose Settings… first.');
    return showReport_(ok, lines);
  }
  try {
    var health = get_(settings, '/health');
    say(health.code === 200, health.code === 200 ? 'The webhook answers (' + settings.url + ').'
      : 'The webhook answered HTTP ' + health.code + ' to /health.');
  } catch (err) {
    say(false, fetchErrorText_(err));
    return showReport_(ok, lines);
  }
  var server = readiness_(settings);
  if (!server.ready) say(false, server.problem);
  var signed = safePost_(settings, '/mpan/validate', { mpan: TEST_MPAN });
  if (signed.code === 200) {
    say(true, 'The webhook accepts this sheet\'s key and clock (signed request).');
  } else {
    say(false, 'Signed request refused: ' + signed.message +
      (signed.code === 401 ? ' Check the sheet key in Settings (`bess-duos sheet-key ' +
        ss.getId() + '`) and the clocks.' : ''));
  }
  if (settings.scriptWrites) {
    say(null, 'The script writes the cells itself (write: false): no sharing needed.');
  } else {
    checkSharing_(ss, settings.serviceAccount, server.account, say);
  }
  var sheet = bessSheet_();
  var link = sheet ? readInputs_(sheet).profile_url : '';
  if (!link) {
    say(null, 'No profile link in ' + SHEET_LAYOUT.inputs.profile_url + ' to check.');
  } else {
    var inputs = readInputs_(sheet);
    inputs.write = false;
    var tried = safePost_(settings, '/lookup', inputs);
    var bad = tried.fields && tried.fields.profile_url;
    if (tried.code === 200) say(true, 'The webhook can read the profile link.');
    else if (bad) say(false, 'The webhook cannot read the profile link: ' + bad);
    else say(null, 'Profile link not checked: ' + tried.message);
  }
  var owner = docProps_().getProperty(PROP.triggerOwner);
  say(null, docProps_().getProperty(PROP.triggerId)
    ? 'Auto re-run is on (turned on by ' + (owner || 'someone') + ').' : 'Auto re-run is off.');
  return showReport_(ok, lines);
}

/**
 * GET /ready: {ready, problem, account}; `account` is the service account e-mail the webhook
 * says it writes as (null when it has no Google credentials, or did not answer).
 */
function readiness_(settings) {
  try {
    var reply = get_(settings, '/ready');
    var json = reply.json || {};
    var account = typeof json.service_account === 'string' && json.service_account.indexOf('@') > 0
      ? json.service_account : null;
    if (reply.code === 200) return { ready: true, problem: '', account: account };
    return { ready: false, account: account, problem: 'The webhook is not ready (/ready): ' +
      parseError_(reply.code, reply.text).message };
  } catch (err) {
    return { ready: false, account: null, problem: fetchErrorText_(err) };
  }
}

/**
 * The sharing line(s) of Test connection: checks the e-mail in Settings, else the one the
 * webhook gave, and says which; a different e-mail from the webhook is named too.
 */
function checkSharing_(ss, configured, fromServer, say) {
  var account = configured || fromServer;
  if (!account) {
    say(false, 'Sharing not checked: the webhook did not name its service account (no Google ' +
      'credentials on the server?); enter its e-mail in Settings.');
    return;
  }
  var editors = ss.getEditors().map(function (u) { return u.getEmail().toLowerCase(); });
  var isEditor = function (email) { return editors.indexOf(email.toLowerCase()) >= 0; };
  var which = configured ? 'the e-mail in Settings' : 'the webhook\'s service account, from /ready';
  var shared = isEditor(account);
  say(shared, (shared ? 'The sheet is shared with ' + account + ' as editor'
    : 'The sheet is not shared with ' + account) + ' (' + which + ')' +
    (shared ? '.' : ': Share > add it as Editor.'));
  if (configured && fromServer && configured.toLowerCase() !== fromServer.toLowerCase()) {
    var ok = isEditor(fromServer);
    say(ok ? null : false, 'The webhook says it writes as ' + fromServer + ', not ' + configured +
      (ok ? ' (the sheet is shared with it too): correct Settings, or leave the e-mail blank.'
        : ': share the sheet with ' + fromServer + ' as Editor and correct Settings (or leave ' +
          'the e-mail blank).'));
  }
}

/** A signed POST that never throws: {code, message, fields}. */
function safePost_(settings, path, payload) {
  try {
    var reply = post_(settings, path, payload);
    if (reply.code >= 200 && reply.code < 300) return { code: reply.code, message: 'ok' };
    var error = parseError_(reply.code, reply.text);
    var json = reply.json || {};
    var fields = json.fields || (json.error && json.error.fields) || null;
    return { code: reply.code, message: error.message, fields: fields };
  } catch (err) {
    return { code: 0, message: fetchErrorText_(err), fields: null };
  }
}

function showReport_(ok, lines) {
  var ui = SpreadsheetApp.getUi();
  ui.alert('BESS: test connection', lines.join('\n'), ui.ButtonSet.OK);
  return { ok: ok, lines: lines };
}

// ------------------------------------------------------------------ auto re-run

/**
 * Menu item: installs this user's on-edit trigger (at most one) and records it as THE auto
 * re-run trigger of this spreadsheet: any other user's trigger stops acting, so each edit
 * posts once.
 */
function installAutoRerun() {
  requireScopes_();
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var sheet = bessSheet_();
  if (!sheet) return noBessTab_();
  var mine = editTriggers_();
  for (var i = 0; i < mine.length; i++) ScriptApp.deleteTrigger(mine[i]);
  var trigger = ScriptApp.newTrigger(EDIT_HANDLER).forSpreadsheet(ss).onEdit().create();
  var props = docProps_();
  var me = Session.getEffectiveUser().getEmail() || 'you';
  var before = props.getProperty(PROP.triggerOwner);
  var values = {};
  values[PROP.triggerId] = trigger.getUniqueId();
  values[PROP.triggerOwner] = me;
  values[PROP.sheetId] = String(sheet.getSheetId());
  props.setProperties(values);
  ss.toast('Auto re-run is on for tab "' + sheet.getName() + '" (run as ' + me + '): editing ' +
    inputCellList_() + ' re-runs the lookup.' +
    (before && before !== me ? ' It replaces the one ' + before + ' turned on.' : ''),
  TOAST_TITLE);
  return { ok: true, owner: me };
}

/** Menu item: turns auto re-run off for everyone (whoever's trigger it was) and removes mine. */
function removeAutoRerun() {
  requireScopes_();
  var mine = editTriggers_();
  for (var i = 0; i < mine.length; i++) ScriptApp.deleteTrigger(mine[i]);
  var props = docProps_();
  var owner = props.getProperty(PROP.triggerOwner);
  var me = Session.getEffectiveUser().getEmail();
  props.deleteProperty(PROP.triggerId);
  props.deleteProperty(PROP.triggerOwner);
  SpreadsheetApp.getActiveSpreadsheet().toast('Auto re-run is off.' +
    (owner && owner !== me ? ' It was turned on by ' + owner + '; their trigger now does ' +
      'nothing (they can remove it with Turn off auto re-run).' : ''), TOAST_TITLE);
  return { ok: true, owner: owner || '' };
}

/** This user's on-edit triggers calling the edit handler (Apps Script shows only the user's). */
function editTriggers_() {
  return ScriptApp.getProjectTriggers().filter(function (t) {
    return t.getHandlerFunction() === EDIT_HANDLER &&
      t.getEventType() === ScriptApp.EventType.ON_EDIT;
  });
}

// ------------------------------------------------------------------ helpers

/** The BESS tab: the one Set up sheet was run on, else a tab named BESS; null if neither. */
function bessSheet_() {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var id = docProps_().getProperty(PROP.sheetId);
  var sheet = id !== null && id !== '' ? ss.getSheetById(Number(id)) : null;
  return sheet || ss.getSheetByName(DEFAULT_TAB);
}

function noBessTab_() {
  var message = 'No BESS tab yet: open the tab to use and choose Extensions > BESS > Set up sheet.';
  SpreadsheetApp.getActiveSpreadsheet().toast(message, 'BESS lookup failed');
  return { ok: false, message: message };
}

/** Asks for any scope the user unticked at consent (ends this run with Google's prompt). */
function requireScopes_() {
  ScriptApp.requireScopes(ScriptApp.AuthMode.FULL, REQUIRED_SCOPES);
}

/** Every formatted cell and its number format (SHEET_LAYOUT.formats, ranges expanded). */
function cellFormats_() {
  var out = {};
  Object.keys(SHEET_LAYOUT.formats).forEach(function (range) {
    var ends = range.split(':');
    var a = a1ToRowCol_(ends[0]);
    var b = a1ToRowCol_(ends[1] || ends[0]);
    for (var r = a.row; r <= b.row; r++) {
      for (var c = a.col; c <= b.col; c++) out[rowColToA1_(r, c)] = SHEET_LAYOUT.formats[range];
    }
  });
  return out;
}

/** "B15" -> {row: 15, col: 2}. */
function a1ToRowCol_(a1) {
  var m = /^([A-Z]+)([1-9][0-9]*)$/.exec(String(a1).toUpperCase());
  if (!m) throw new Error('Not a single-cell A1 reference: ' + a1);
  var col = 0;
  for (var i = 0; i < m[1].length; i++) col = col * 26 + (m[1].charCodeAt(i) - 64);
  return { row: Number(m[2]), col: col };
}

/** (15, 2) -> "B15". */
function rowColToA1_(row, col) {
  var letters = '';
  for (var n = col; n > 0; n = Math.floor((n - 1) / 26)) {
    letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  }
  return letters + row;
}

/** JSON with every non-ASCII character escaped, so the signed text and the sent bytes agree. */
function asciiJson_(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, function (ch) {
    return '\\u' + ('0000' + ch.charCodeAt(0).toString(16)).slice(-4);
  });
}

/** Lowercase hex HMAC-SHA256; Apps Script returns signed bytes (-128..127). */
function hmacSha256Hex_(message, secret) {
  var bytes = Utilities.computeHmacSha256Signature(message, secret);
  return bytes.map(function (b) { return ('0' + (b & 0xff).toString(16)).slice(-2); }).join('');
}

/**
 * Unix seconds, strictly later than the last one this spreadsheet signed with (the webhook
 * refuses a repeated signature). A stored time more than MAX_TIMESTAMP_LEAD_S ahead of the clock
 * is ignored rather than slept for. Called under the document lock.
 */
function freshTimestamp_(props) {
  var last = Number(props.getProperty(PROP.lastTimestamp) || 0);
  var nowMs = Date.now();
  var now = Math.floor(nowMs / 1000);
  if (last >= now && last - now <= MAX_TIMESTAMP_LEAD_S) {
    Utilities.sleep((last + 1) * 1000 - nowMs + 5);
    nowMs = Date.now();
  }
  var ts = Math.floor(nowMs / 1000);
  props.setProperty(PROP.lastTimestamp, String(ts));
  return ts;
}

function parseJson_(text) {
  try {
    var value = JSON.parse(text);
    return value && typeof value === 'object' ? value : null;
  } catch (err) {
    return null;
  }
}

/** The webhook's error reply as one line for a person, and its request id if it gave one. */
function parseError_(code, text) {
  var reply = parseJson_(text);
  if (!reply) {
    var snippet = String(text || '').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    return {
      message: 'Webhook replied HTTP ' + code + (snippet ? ': ' + snippet.slice(0, 200) : ''),
      requestId: '',
    };
  }
  var err = reply.error;
  var main = typeof err === 'string' ? err
    : err && typeof err === 'object' && err.message ? String(err.message)
      : reply.message ? String(reply.message) : 'HTTP ' + code;
  var fields = reply.fields || (err && typeof err === 'object' ? err.fields : null);
  var details = [];
  if (Array.isArray(fields)) {
    fields.forEach(function (f) {
      if (f && typeof f === 'object') {
        details.push((f.field || f.name || '?') + ': ' + (f.message || f.error || ''));
      } else {
        details.push(String(f));
      }
    });
  } else if (fields && typeof fields === 'object') {
    Object.keys(fields).forEach(function (k) {
      details.push(k + ': ' + String(fields[k]));
    });
  }
  var message = main + (details.length ? ' (' + details.join('; ') + ')' : '') +
    ' [HTTP ' + code + ']';
  return { message: message, requestId: String(reply.request_id || '') };
}

/** An exception's message without Apps Script's "Exception: " prefix. */
function errorText_(err) {
  return String(err && err.message ? err.message : err).replace(/^Exception:\s*/, '');
}

/** "A6, B6, A9, B15, C15 and C16". */
function inputCellList_() {
  var cells = Object.keys(SHEET_LAYOUT.inputs).map(function (k) { return SHEET_LAYOUT.inputs[k]; });
  return cells.slice(0, -1).join(', ') + ' and ' + cells[cells.length - 1];
}
