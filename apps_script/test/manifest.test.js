'use strict';
// The manifest asks for exactly the scopes the script needs, and Code.gs uses nothing more.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const fakes = require('./gas_fakes.js');

const SCOPE = 'https://www.googleapis.com/auth/';

// What each service Code.gs may use needs. LockService, PropertiesService and Utilities need
// no scope; Ui.prompt/alert/createMenu need none either (HtmlService dialogs and sidebars would
// need script.container.ui, which is why Settings uses ui.prompt).
const SCOPE_OF = {
  SpreadsheetApp: 'spreadsheets.currentonly',
  UrlFetchApp: 'script.external_request',
  ScriptApp: 'script.scriptapp',
  HtmlService: 'script.container.ui',
  showModalDialog: 'script.container.ui',
  showModelessDialog: 'script.container.ui',
  showSidebar: 'script.container.ui',
  MailApp: 'script.send_mail',
  GmailApp: 'gmail',
  DriveApp: 'drive',
  Session: 'userinfo.email',
  CacheService: null,
  LockService: null,
  PropertiesService: null,
  Utilities: null,
};

test('oauthScopes are exactly spreadsheets.currentonly, script.external_request, script.scriptapp', () => {
  const manifest = JSON.parse(fs.readFileSync(fakes.MANIFEST, 'utf8'));
  assert.deepEqual([...manifest.oauthScopes].sort(), [
    `${SCOPE}script.external_request`,
    `${SCOPE}script.scriptapp`,
    `${SCOPE}spreadsheets.currentonly`,
  ]);
  assert.equal(manifest.runtimeVersion, 'V8');
  assert.equal(manifest.timeZone, 'Europe/London');
});

test('the scopes are the ones the services used by Code.gs need', () => {
  const src = fs.readFileSync(fakes.CODE_GS, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const used = Object.keys(SCOPE_OF).filter((name) => new RegExp(`\\b${name}\\b`).test(src));
  assert.deepEqual(used.sort(), ['LockService', 'PropertiesService', 'ScriptApp', 'SpreadsheetApp', 'UrlFetchApp', 'Utilities']);
  const needed = new Set(used.map((u) => SCOPE_OF[u]).filter(Boolean).map((s) => SCOPE + s));
  const manifest = JSON.parse(fs.readFileSync(fakes.MANIFEST, 'utf8'));
  assert.deepEqual([...needed].sort(), [...manifest.oauthScopes].sort());
});

test('every global Code.gs touches is one the fakes model (nothing unmodelled at run time)', () => {
  const src = fs.readFileSync(fakes.CODE_GS, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const services = new Set(src.match(/\b[A-Z][A-Za-z]+(?:App|Service)\b/g));
  assert.deepEqual([...services].sort(), ['LockService', 'PropertiesService', 'ScriptApp', 'SpreadsheetApp', 'UrlFetchApp']);
});
