/**
 * BESS sheet: posts the sheet's inputs to the bess-duos webhook, which writes the results
 * (distributor, DUoS rates and time bands, annual charges, flexibility value) back into the
 * sheet through the Sheets API.
 *
 * Menu "BESS": "Look up DNO & DUoS" (runLookup, also the function to assign to a drawing
 * button), "Settings…" (showSettings: the webhook URL and secret, kept in Script Properties),
 * "Turn on auto re-run" (installAutoRerun: an installable on-edit trigger calling handleEdit,
 * which re-runs the lookup only when an input cell changes) and "Turn off auto re-run".
 *
 * The handler is deliberately not named onEdit: a simple onEdit trigger may not call
 * UrlFetchApp. The webhook URL and secret never appear in this file.
 *
 * Cell map: config/sheet_layout.yaml (tests/test_apps_script_layout.py checks this copy).
 *
 * @OnlyCurrentDoc
 */

/** Input cells, read as displayed strings (sheet_layout.yaml `inputs`). */
var INPUT_CELLS = {
  postcode: 'A6',
  mpan: 'B6',
  voltage: 'A9',
  profile_url: 'B15',
  kva: 'C15',
  flex_fraction: 'C16',
};

/** The status block (sheet_layout.yaml `status_range`): status, message, 4 blanks, time, id. */
var STATUS_RANGE = 'A4:H4';
var STATUS_FIELDS = ['status', 'message', null, null, null, null, 'time', 'request_id'];

var PROP_WEBHOOK_URL = 'WEBHOOK_URL';
var PROP_WEBHOOK_SECRET = 'WEBHOOK_SECRET';
var PROP_AUTO_RERUN_SHEET_ID = 'AUTO_RERUN_SHEET_ID';
var PROP_LAST_TIMESTAMP = 'LAST_SIGNED_TIMESTAMP';

var EDIT_HANDLER = 'handleEdit';
var MENU_TITLE = 'BESS';
var TOAST_TITLE = 'BESS lookup';
/** How long a run waits for another run in this spreadsheet to finish. */
var LOCK_WAIT_MS = 30000;
var MIN_SECRET_LENGTH = 16;

/** Simple trigger: adds the BESS menu. */
function onOpen() {
  SpreadsheetApp.getUi()
    .createMenu(MENU_TITLE)
    .addItem('Look up DNO & DUoS', 'runLookup')
    .addItem('Settings…', 'showSettings')
    .addItem('Turn on auto re-run', 'installAutoRerun')
    .addItem('Turn off auto re-run', 'removeAutoRerun')
    .addToUi();
}

/** Menu item and drawing-button function: looks up the active tab's inputs. */
function runLookup() {
  return lookup_(SpreadsheetApp.getActiveSheet());
}

/**
 * Installable on-edit handler: re-runs the lookup when the edit touches an input cell of
 * the tab auto re-run was turned on for, and does nothing otherwise.
 */
function handleEdit(e) {
  if (!e || !e.range) return null;
  var sheet = e.range.getSheet();
  var wanted = PropertiesService.getScriptProperties().getProperty(PROP_AUTO_RERUN_SHEET_ID);
  if (wanted && String(sheet.getSheetId()) !== wanted) return null;
  if (!touchesInput_(e.range)) return null;
  return lookup_(sheet);
}

/** Menu item: asks for the webhook URL and secret and stores them in Script Properties. */
function showSettings() {
  var ui = SpreadsheetApp.getUi();
  var props = PropertiesService.getScriptProperties();
  var currentUrl = props.getProperty(PROP_WEBHOOK_URL) || '';
  var hasSecret = !!props.getProperty(PROP_WEBHOOK_SECRET);

  var urlReply = ui.prompt(
    'BESS webhook (1 of 2)',
    'Webhook base URL, e.g. the Cloud Run service address (https only).' +
      (currentUrl ? '\nNow: ' + currentUrl + '\nLeave blank to keep it.' : ''),
    ui.ButtonSet.OK_CANCEL
  );
  if (urlReply.getSelectedButton() !== ui.Button.OK) return false;
  var url = urlReply.getResponseText().trim().replace(/\/+$/, '');
  if (!url) url = currentUrl;
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url)) {
    ui.alert('Settings not saved: the webhook URL must start with https:// and have no spaces, ' +
      '"?" or "#" (got "' + url + '").');
    return false;
  }

  var secretReply = ui.prompt(
    'BESS webhook (2 of 2)',
    'Shared secret (the webhook\'s BESS_DUOS_WEBHOOK_SECRET), at least ' + MIN_SECRET_LENGTH +
      ' plain ASCII characters.' + (hasSecret ? '\nLeave blank to keep the current secret.' : ''),
    ui.ButtonSet.OK_CANCEL
  );
  if (secretReply.getSelectedButton() !== ui.Button.OK) return false;
  var secret = secretReply.getResponseText().trim();
  if (!secret && !hasSecret) {
    ui.alert('Settings not saved: a secret is needed.');
    return false;
  }
  if (secret && (secret.length < MIN_SECRET_LENGTH || !/^[\x21-\x7e]+$/.test(secret))) {
    ui.alert('Settings not saved: the secret must be at least ' + MIN_SECRET_LENGTH +
      ' printable ASCII characters without spaces.');
    return false;
  }

  var values = {};
  values[PROP_WEBHOOK_URL] = url;
  if (secret) values[PROP_WEBHOOK_SECRET] = secret;
  props.setProperties(values);
  SpreadsheetApp.getActiveSpreadsheet().toast('Webhook settings saved.', TOAST_TITLE);
  return true;
}

/**
 * Menu item: installs the on-edit trigger (at most one) and ties auto re-run to the active
 * tab, so edits on other tabs never post.
 */
function installAutoRerun() {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var sheet = ss.getActiveSheet();
  var mine = editTriggers_();
  for (var i = 1; i < mine.length; i++) ScriptApp.deleteTrigger(mine[i]);
  if (mine.length === 0) {
    ScriptApp.newTrigger(EDIT_HANDLER).forSpreadsheet(ss).onEdit().create();
  }
  PropertiesService.getScriptProperties()
    .setProperty(PROP_AUTO_RERUN_SHEET_ID, String(sheet.getSheetId()));
  ss.toast('Auto re-run is on for tab "' + sheet.getName() + '": editing ' +
    inputCellList_() + ' re-runs the lookup.', TOAST_TITLE);
}

/** Menu item: removes the on-edit trigger. */
function removeAutoRerun() {
  var mine = editTriggers_();
  for (var i = 0; i < mine.length; i++) ScriptApp.deleteTrigger(mine[i]);
  PropertiesService.getScriptProperties().deleteProperty(PROP_AUTO_RERUN_SHEET_ID);
  SpreadsheetApp.getActiveSpreadsheet().toast('Auto re-run is off.', TOAST_TITLE);
}

/**
 * Posts `sheet`'s inputs to the webhook under the document lock and reports the outcome:
 * a toast always, and on failure the message in the status cells. Returns a short summary.
 */
function lookup_(sheet) {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var props = PropertiesService.getScriptProperties();
  var baseUrl = props.getProperty(PROP_WEBHOOK_URL);
  var secret = props.getProperty(PROP_WEBHOOK_SECRET);
  if (!baseUrl || !secret) {
    return fail_(ss, sheet, 'The webhook is not set up: choose BESS > Settings… and enter its ' +
      'URL and secret.', '');
  }

  var lock = LockService.getDocumentLock();
  if (!lock.tryLock(LOCK_WAIT_MS)) {
    ss.toast('Another lookup in this spreadsheet is still running; try again in a moment.',
      TOAST_TITLE);
    return { ok: false, busy: true };
  }
  try {
    var payload = readInputs_(sheet);
    payload.spreadsheet_id = ss.getId();
    payload.worksheet = sheet.getName();
    var body = asciiJson_(payload);
    var timestamp = String(freshTimestamp_(props));
    var response;
    try {
      response = UrlFetchApp.fetch(baseUrl.replace(/\/+$/, '') + '/lookup', {
        method: 'post',
        contentType: 'application/json',
        payload: body,
        headers: {
          'X-Timestamp': timestamp,
          'X-Signature': hmacSha256Hex_(timestamp + '.' + body, secret),
        },
        muteHttpExceptions: true,
        followRedirects: false,
      });
    } catch (err) {
      return fail_(ss, sheet, 'Could not reach the webhook: ' + errorText_(err), '');
    }
    var code = response.getResponseCode();
    var text = response.getContentText();
    if (code >= 200 && code < 300) return succeed_(ss, text);
    var reply = parseError_(code, text);
    return fail_(ss, sheet, reply.message, reply.requestId);
  } finally {
    lock.releaseLock();
  }
}

/** The input cells' displayed strings, keyed by field (one read of their bounding block). */
function readInputs_(sheet) {
  var keys = Object.keys(INPUT_CELLS);
  var cells = keys.map(function (k) { return a1ToRowCol_(INPUT_CELLS[k]); });
  var top = Math.min.apply(null, cells.map(function (c) { return c.row; }));
  var left = Math.min.apply(null, cells.map(function (c) { return c.col; }));
  var bottom = Math.max.apply(null, cells.map(function (c) { return c.row; }));
  var right = Math.max.apply(null, cells.map(function (c) { return c.col; }));
  var block = sheet.getRange(rowColToA1_(top, left) + ':' + rowColToA1_(bottom, right))
    .getDisplayValues();
  var inputs = {};
  keys.forEach(function (k, i) {
    inputs[k] = String(block[cells[i].row - top][cells[i].col - left]).trim();
  });
  return inputs;
}

/** True when `range` (a Range of the edit) overlaps any input cell. */
function touchesInput_(range) {
  var top = range.getRow();
  var left = range.getColumn();
  var bottom = top + range.getNumRows() - 1;
  var right = left + range.getNumColumns() - 1;
  return Object.keys(INPUT_CELLS).some(function (k) {
    var c = a1ToRowCol_(INPUT_CELLS[k]);
    return c.row >= top && c.row <= bottom && c.col >= left && c.col <= right;
  });
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
 * Unix seconds, strictly later than the last one this script signed with: the webhook
 * refuses a repeated signature, and two identical lookups in one second would repeat it.
 * Called under the document lock.
 */
function freshTimestamp_(props) {
  var last = Number(props.getProperty(PROP_LAST_TIMESTAMP) || 0);
  var nowMs = Date.now();
  if (Math.floor(nowMs / 1000) <= last) {
    Utilities.sleep((last + 1) * 1000 - nowMs + 5);
    nowMs = Date.now();
  }
  var ts = Math.floor(nowMs / 1000);
  props.setProperty(PROP_LAST_TIMESTAMP, String(ts));
  return ts;
}

/** Toast for a successful lookup (the webhook has written the outputs). */
function succeed_(ss, text) {
  var reply = {};
  try {
    reply = JSON.parse(text) || {};
  } catch (err) {
    reply = {};
  }
  var status = String(reply.status || 'ok');
  var message = reply.message ? String(reply.message) : 'Results written to the sheet.';
  var warnings = Array.isArray(reply.warnings) ? reply.warnings : [];
  if (warnings.length && !reply.message) message = warnings.map(String).join('; ');
  ss.toast(message, status === 'ok' ? 'BESS lookup done' : 'BESS lookup: ' + status);
  return { ok: true, status: status, message: message };
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

/** Writes the status block whole (blank fields cleared), as the webhook does. */
function writeStatus_(sheet, fields) {
  var row = STATUS_FIELDS.map(function (name) {
    return name && fields[name] !== undefined && fields[name] !== null ? fields[name] : '';
  });
  sheet.getRange(STATUS_RANGE).setValues([row]);
}

/** The webhook's error reply as one line for a person, and its request id if it gave one. */
function parseError_(code, text) {
  var reply = null;
  try {
    reply = JSON.parse(text);
  } catch (err) {
    reply = null;
  }
  if (!reply || typeof reply !== 'object') {
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

/** This project's on-edit triggers (the current user's) calling the edit handler. */
function editTriggers_() {
  return ScriptApp.getProjectTriggers().filter(function (t) {
    return t.getHandlerFunction() === EDIT_HANDLER &&
      t.getEventType() === ScriptApp.EventType.ON_EDIT;
  });
}

/** "A6, B6, A9, B15, C15 and C16". */
function inputCellList_() {
  var cells = Object.keys(INPUT_CELLS).map(function (k) { return INPUT_CELLS[k]; });
  return cells.slice(0, -1).join(', ') + ' and ' + cells[cells.length - 1];
}
