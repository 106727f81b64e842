'use strict';
// The manifest asks for exactly the scopes the script needs, and the script uses nothing more.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const fakes = require('./gas_fakes.js');

const SCOPE = 'https://www.googleapis.com/auth/';

// What each service the script may use needs. LockService, PropertiesService and Utilities
// need no scope; Ui menus, alerts and prompts need none either; HtmlService dialogs and
// sidebars need script.container.ui; Session's e-mail needs userinfo.email.
const SCOPE_OF = {
  SpreadsheetApp: 'spreadsheets.currentonly',
  UrlFetchApp: 'script.external_request',
  ScriptApp: 'script.scriptapp',
  HtmlService: 'script.container.ui',
  Session: 'userinfo.email',
  MailApp: 'script.send_mail',
  GmailApp: 'gmail',
  DriveApp: 'drive',
  CacheService: null,
  LockService: null,
  PropertiesService: null,
  Utilities: null,
};

function scriptSource() {
  return ['Code.gs', 'Layout.gs'].map((f) => fs.readFileSync(path.join(fakes.APPS_SCRIPT, f), 'utf8'))
    .join('\n').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

function manifest() {
  return JSON.parse(fs.readFileSync(fakes.MANIFEST, 'utf8'));
}

test('oauthScopes are exactly the five the script needs, and Code.gs asks for the same ones', () => {
  const m = manifest();
  const expected = ['script.container.ui', 'script.external_request', 'script.scriptapp',
    'spreadsheets.currentonly', 'userinfo.email'].map((s) => SCOPE + s);
  assert.deepEqual([...m.oauthScopes].sort(), expected);
  assert.deepEqual(fakes.ALL_SCOPES.slice().sort(), expected, 'the fakes grant the same set');
  const ctx = fakes.loadCodeGs(fakes.createWorld());
  assert.deepEqual([...ctx.REQUIRED_SCOPES].sort(), expected, 'requireScopes asks for all');
  assert.equal(m.runtimeVersion, 'V8');
  assert.equal(m.timeZone, 'Europe/London');
});

test('the scopes are the ones the services used by the script need', () => {
  const src = scriptSource();
  const used = Object.keys(SCOPE_OF).filter((name) => new RegExp(`\\b${name}\\b`).test(src));
  assert.deepEqual(used.sort(), ['HtmlService', 'LockService', 'PropertiesService', 'ScriptApp', 'Session', 'SpreadsheetApp', 'UrlFetchApp', 'Utilities']);
  const needed = new Set(used.map((u) => SCOPE_OF[u]).filter(Boolean).map((s) => SCOPE + s));
  assert.deepEqual([...needed].sort(), [...manifest().oauthScopes].sort());
});

test('every global the script touches is one the fakes model (nothing unmodelled at run time)', () => {
  const services = new Set(scriptSource().match(/\b[A-Z][A-Za-z]+(?:App|Service)\b/g));
  assert.deepEqual([...services].sort(), ['HtmlService', 'LockService', 'PropertiesService', 'ScriptApp', 'SpreadsheetApp', 'UrlFetchApp']);
});

test('an Editor add-on: fetches only https URL prefixes (Cloud Run), menu through createAddonMenu', () => {
  const m = manifest();
  assert.ok(m.urlFetchWhitelist.length > 0);
  for (const prefix of m.urlFetchWhitelist) assert.match(prefix, /^https:\/\/[^/]+\/$/);
  assert.ok(m.urlFetchWhitelist.includes('https://*.run.app/'));
  // The `addOns` section is for card-based Google Workspace add-ons; an Editor add-on has none
  // (its menu and sidebar come from onOpen/onInstall, published through the Marketplace SDK).
  assert.equal(m.addOns, undefined);
  assert.match(scriptSource(), /\.createAddonMenu\(\)/);
});

test('clasp pushes the script files and nothing else', () => {
  const ignore = fs.readFileSync(path.join(fakes.APPS_SCRIPT, '.claspignore'), 'utf8').trim().split('\n');
  assert.deepEqual(ignore, ['**/**', '!Code.gs', '!Layout.gs', '!Sidebar.html', '!Settings.html', '!appsscript.json']);
  for (const f of ignore.slice(1)) assert.ok(fs.existsSync(path.join(fakes.APPS_SCRIPT, f.slice(1))), f);
});
