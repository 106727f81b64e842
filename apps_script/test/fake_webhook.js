'use strict';
/**
 * A tiny stand-in for the bess-duos webhook, for the Apps Script unit tests. It runs in its
 * own process (UrlFetchApp's fake blocks the test process with spawnSync) and checks requests
 * the way webhook/auth.py does (scheme v2): X-Timestamp at most 300 s old and 30 s ahead,
 * X-Key-Id "sheet:<spreadsheet id>", X-Signature = hex HMAC-SHA256, with that spreadsheet's key
 * (`sheetKey(master, id)`), of "bess-duos-v2\n" + timestamp + "\n" + method + "\n" + path + "\n"
 * + key id + "\n" + raw body; no replayed signature; a sheet key may write only its own sheet.
 *
 * POST /lookup replies by the posted postcode:
 *   "ERR400"  -> 400 {"error": "bad input", "fields": {...}, "request_id": ...} (webhook/app.py's shape)
 *   "ERR502"  -> 502 with an HTML body (as a proxy in front of the service might send)
 *   "ERRTEXT" -> 400 whose message starts with "=" and whose request id is all digits
 *   "SLOW..." -> 200, held until the next request arrives or 1.5 s pass (so two requests
 *                overlap whenever a second one is sent while the first is in flight)
 *   "HANG"    -> never answers (the client's timeout ends it)
 *   "BUSY<n>-<key>" -> 429 (Retry-After: 1) the first n times for that key, then 200
 *   "DOWN<n>-<key>" -> 503 the first n times for that key, then 200
 *   "DROPPED" -> 200 whose `written` says the write was dropped as out of date
 *   "ANSWER"  -> 200 with the recorded lookup answer (test/fixtures/lookup_answer.json)
 *   a profile_url containing "unreadable" -> 422 {"fields": {"profile_url": ...}}
 *   otherwise -> 200 {"status": "ok", ...}
 * POST /mpan/validate -> 200 (signed like /lookup); GET /health -> 200 {"status": "ok"};
 * GET /ready -> 200 {"status": "ready", "checks", "service_account"} (null by default), or the
 * 503 set with PUT /_ready {"code", "service_account"} (`setReady` below; not logged).
 * GET /log returns every request seen: arrival and finish times, overlap count, headers, raw body (base64).
 *
 * Not a test file: nothing runs unless started with `--serve`.
 */

const http = require('node:http');
const crypto = require('node:crypto');
const path = require('node:path');
const { spawn } = require('node:child_process');

const ANSWER = JSON.parse(require('node:fs').readFileSync(path.join(__dirname, 'fixtures', 'lookup_answer.json'), 'utf8'));

function serve(secret) {
  const log = [];
  const seen = new Set();
  const counts = {};
  let held = [];
  let ready = { code: 200, service_account: null };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/log') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(log));
        return;
      }
      const raw = Buffer.concat(chunks);
      if (req.method === 'PUT' && req.url === '/_ready') {
        ready = JSON.parse(raw.toString('utf8'));
        res.writeHead(204);
        res.end();
        return;
      }
      const entry = {
        seq: log.length,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body_b64: raw.toString('base64'),
        arrived: Date.now(),
        finished: null,
        sig_ok: false,
        // Requests still being answered when this one arrived (0 unless they overlap).
        in_flight_at_arrival: log.filter((e) => e.url === '/lookup' && e.finished === null).length,
      };
      log.push(entry);
      const release = held;
      held = [];
      release.forEach((fn) => fn());
      const reply = (code, body, type = 'application/json') => {
        res.writeHead(code, { 'Content-Type': type });
        res.end(typeof body === 'string' ? body : JSON.stringify(body), () => {
          entry.finished = Date.now();
          entry.code = code;
        });
      };
      if (req.method === 'GET' && req.url === '/health') {
        reply(200, { status: 'ok' });
        return;
      }
      if (req.method === 'GET' && req.url === '/ready') {
        reply(ready.code, ready.code === 200
          ? { status: 'ready', checks: { tariffs: '14 DNO areas with tariffs' }, service_account: ready.service_account }
          : { status: 'not ready', error: 'no tariffs could be read from the shipped config/tariffs', request_id: 'req-503' });
        return;
      }
      if (req.method !== 'POST' || !['/lookup', '/mpan/validate'].includes(req.url)) {
        reply(404, { error: `no route ${req.method} ${req.url}` });
        return;
      }
      const ts = req.headers['x-timestamp'] || '';
      const sig = req.headers['x-signature'] || '';
      const keyId = req.headers['x-key-id'] || '';
      if (!/^\d+$/.test(ts) || Date.now() / 1000 - Number(ts) > 300 || Number(ts) - Date.now() / 1000 > 30) {
        reply(401, { error: 'unauthorised: X-Timestamp is more than 300 s old or 30 s ahead', request_id: 'req-401' });
        return;
      }
      if (!keyId.startsWith('sheet:')) {
        reply(401, { error: 'unauthorised: X-Key-Id must be sheet:<spreadsheet id>', request_id: 'req-401' });
        return;
      }
      const signed = Buffer.concat([Buffer.from(['bess-duos-v2', ts, req.method, req.url, keyId, ''].join('\n')), raw]);
      const expected = crypto.createHmac('sha256', sheetKey(secret, keyId.slice(6))).update(signed).digest('hex');
      if (sig.length !== expected.length ||
          !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
        reply(401, { error: 'unauthorised: X-Signature does not match the request', request_id: 'req-401' });
        return;
      }
      if (seen.has(sig)) {
        reply(401, { error: 'unauthorised: this signature has already been used (replay)', request_id: 'req-401' });
        return;
      }
      seen.add(sig);
      entry.sig_ok = true;
      let body;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        reply(400, { error: 'body is not JSON' });
        return;
      }
      if (req.url === '/lookup' && body.spreadsheet_id && body.spreadsheet_id !== keyId.slice(6)) {
        reply(403, { error: 'this request is signed with another spreadsheet\'s key', request_id: 'req-403' });
        return;
      }
      if (req.url === '/mpan/validate') {
        reply(200, { valid: true, reason: null, mpan: { core: body.mpan } });
        return;
      }
      const tries = /^(BUSY|DOWN)(\d+)-/.exec(String(body.postcode));
      if (tries) {
        counts[body.postcode] = (counts[body.postcode] || 0) + 1;
        if (counts[body.postcode] <= Number(tries[2])) {
          if (tries[1] === 'BUSY') {
            res.setHeader('Retry-After', '1');
            reply(429, { error: 'too many requests', request_id: `req-429-${entry.seq}` });
          } else {
            reply(503, { error: 'service unavailable', request_id: `req-503-${entry.seq}` });
          }
          return;
        }
      }
      if (String(body.profile_url || '').includes('unreadable')) {
        const why = 'profile link https://example.com/unreadable.csv: HTTP 403 from the host (share the file with the service account)';
        reply(422, { error: why, fields: { profile_url: why }, request_id: `req-422-${entry.seq}` });
      } else if (body.postcode === 'HANG') {
        // never answered: the client gives up and closes the connection
        res.on('close', () => {
          entry.finished = Date.now();
          entry.code = 0;
        });
      } else if (body.postcode === 'ERRTEXT') {
        reply(400, { error: '=SUM(A1) is not a postcode', request_id: '1234567890123456' });
      } else if (body.postcode === 'DROPPED') {
        reply(200, { status: 'ok', message: 'Results written', request_id: `req-${entry.seq}`,
          written: { sheet: 'google:x/BESS', ranges: [], written: false, dropped_reason: 'a newer request (ts 1764500000) was already written', attempts: 0 } });
      } else if (body.postcode === 'ANSWER') {
        reply(200, { ...ANSWER, request_id: `req-${entry.seq}` });
      } else if (body.postcode === 'ERR400') {
        reply(400, {
          error: 'bad input',
          fields: { mpan: 'check digit is 9, expected 2', kva: 'must be a number, got "lots"' },
          request_id: 'req-400-abc',
        });
      } else if (body.postcode === 'ERR502') {
        reply(502, '<html><head><title>502</title></head><body><h1>Bad Gateway</h1></body></html>', 'text/html');
      } else if (String(body.postcode).startsWith('SLOW')) {
        let done = false;
        const finish = () => {
          if (!done) reply(200, { status: 'ok', request_id: `req-${entry.seq}` });
          done = true;
        };
        held.push(finish);
        setTimeout(finish, 1500);
      } else {
        reply(200, { status: 'ok', message: 'Results written', request_id: `req-${entry.seq}` });
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
}

/** One spreadsheet's signing key (webhook/auth.py `sheet_key`): hex HMAC of its id. */
function sheetKey(master, spreadsheetId) {
  return crypto.createHmac('sha256', master).update(`bess-duos sheet key v1\n${spreadsheetId}`).digest('hex');
}

/** GET /log on a fresh connection (a kept-alive one may have been closed while we blocked). */
function getLog(url) {
  return new Promise((resolve, reject) => {
    http.get(`${url}/log`, { agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    }).on('error', reject);
  });
}

/** PUT /_ready: what GET /ready answers from now on ({code, service_account}). */
function putReady(url, state) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/_ready`, { method: 'PUT', agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(JSON.stringify(state));
  });
}

/** Starts the fake in a child process; resolves to {url, log(), setReady(state), stop()}. */
function startFakeWebhook(secret) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__filename), '--serve'], {
      env: { ...process.env, FAKE_WEBHOOK_SECRET: secret },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        const url = `http://127.0.0.1:${m[1]}`;
        resolve({
          url,
          log: () => getLog(url),
          setReady: (state) => putReady(url, state),
          stop: () => child.kill(),
        });
      }
    });
    child.on('exit', (code) => reject(new Error(`fake webhook exited with ${code}`)));
  });
}

if (require.main === module && process.argv[2] === '--serve') {
  serve(process.env.FAKE_WEBHOOK_SECRET);
}

module.exports = { startFakeWebhook, sheetKey };
