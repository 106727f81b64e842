'use strict';
// The sidebar's HTML (Sidebar.html) in a real DOM (jsdom), fed a recorded lookup answer
// (fixtures/lookup_answer.json, made by record_answer.py from the real webhook): the progress
// shows first, then every section, and the chart is drawn from the answer's weekday load.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { JSDOM } = require('jsdom');

const HTML = fs.readFileSync(path.join(__dirname, '..', 'Sidebar.html'), 'utf8');
const ANSWER = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'lookup_answer.json'), 'utf8'));

/**
 * Loads the sidebar with a stand-in for google.script.run whose sidebarLookup is answered when
 * the test calls `respond(reply)` (or `fail(error)`).
 */
function openSidebar() {
  let handlers = null;
  const calls = [];
  const dom = new JSDOM(HTML, {
    runScripts: 'dangerously',
    beforeParse(window) {
      const runner = (ok, fail) => ({
        withSuccessHandler: (fn) => runner(fn, fail),
        withFailureHandler: (fn) => runner(ok, fn),
        sidebarLookup: () => {
          calls.push('sidebarLookup');
          handlers = { ok, fail };
        },
      });
      window.google = { script: { run: runner(null, null), host: { close() {} } } };
    },
  });
  const doc = dom.window.document;
  return {
    dom,
    doc,
    calls,
    respond: (reply) => handlers.ok(reply),
    fail: (err) => handlers.fail(err),
    /** The text a reader sees in `sel`: its text nodes, one space apart. */
    text: (sel) => {
      const walker = doc.createTreeWalker(doc.querySelector(sel), dom.window.NodeFilter.SHOW_TEXT);
      const parts = [];
      for (let n = walker.nextNode(); n; n = walker.nextNode()) parts.push(n.nodeValue);
      return parts.join(' ').replace(/\s+/g, ' ').trim();
    },
    close: () => dom.window.close(),
  };
}

test('shows progress while the lookup runs, then every section of the answer', () => {
  const s = openSidebar();
  assert.deepEqual(s.calls, ['sidebarLookup']);
  assert.equal(s.doc.getElementById('progress').hidden, false);
  assert.equal(s.doc.getElementById('result').hidden, true);
  assert.match(s.text('#progress-text'), /Reading the sheet's inputs/);

  s.respond({ ok: true, message: 'ok', answer: ANSWER });
  assert.equal(s.doc.getElementById('progress').hidden, true);
  assert.equal(s.doc.getElementById('result').hidden, false);
  for (const id of ['tariff', 'bands', 'bill', 'chart', 'features', 'flex', 'battery', 'warnings']) {
    assert.ok(s.doc.getElementById(id), id);
    assert.ok(s.text(`#${id}`).length > 20, `${id} is empty`);
  }
  // Tariff: name, charging year, LLFCs, and the source split into workbook, sheet and row.
  const tariff = s.text('#tariff');
  assert.match(tariff, /Name LV Site Specific Band 4/);
  assert.match(tariff, /Charging year 2026\/27/);
  assert.match(tariff, /LLFCs L04/);
  assert.match(tariff, /Workbook MIDE - Schedule of charges and other tables- 2026 V\.0\.1 for publishing\.xlsx/);
  assert.match(tariff, /Sheet Annex 1 LV, HV and UMS charges/);
  assert.match(tariff, /Row 24/);
  // Every time band with its rate and periods.
  for (const band of ['red', 'amber', 'green']) {
    const rowText = s.text(`#bands tr.band-${band}`);
    assert.match(rowText, new RegExp(`${ANSWER.tariff[`${band}_rate_p_per_kwh`].toFixed(3)}`));
    for (const period of ANSWER.time_bands[band]) assert.ok(rowText.includes(period), `${band}: ${period}`);
  }
  // The bill by component adds up to the total (£, as the answer says).
  const d = ANSWER.duos;
  const bill = s.text('#bill');
  const gbp = (v) => `£${v.toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  for (const part of ['Fixed', 'Capacity', 'Exceeded capacity', 'Reactive', 'Total']) assert.ok(bill.includes(part), part);
  assert.ok(bill.includes(gbp(d.unit_gbp_by_band.red)), 'red units £');
  assert.ok(bill.includes(gbp(d.capacity_gbp)), 'capacity £');
  assert.ok(bill.includes(gbp(d.total_gbp)), 'total £');
  const parts = d.unit_gbp_by_band.red + d.unit_gbp_by_band.amber + d.unit_gbp_by_band.green +
    d.fixed_gbp + d.capacity_gbp + d.exceeded_capacity_gbp + d.reactive_gbp;
  assert.ok(Math.abs(parts - d.total_gbp) < 0.01, 'the recorded components add up to the total');
  // Features with their meanings, the flexibility value, assumptions and notes.
  const features = s.text('#features');
  assert.match(features, /Peak ratio 3\.09 Maximum half-hour demand ÷ mean demand/);
  assert.match(features, /Load factor 0\.32 Mean ÷ maximum demand/);
  assert.match(features, /Weekend factor 0\.44 Mean weekend ÷ mean weekday demand/);
  assert.match(s.text('#flex'), /Value £2,556\.28 a year/);
  assert.match(s.text('#flex'), /71\.2% of the unit charges/);
  assert.match(s.text('#warnings'), /Assumed: LV assumed/);
  assert.match(s.text('#warnings'), /picked 'LV Site Specific Band 4'/);
  s.close();
});

test('the chart: 48 half hours shaded by band and the mean weekday kW as a line', () => {
  const s = openSidebar();
  s.respond({ ok: true, answer: ANSWER });
  const svg = s.doc.querySelector('#chart svg');
  assert.ok(svg, 'no chart');
  const shades = [...svg.querySelectorAll('rect.shade')];
  assert.equal(shades.length, 48);
  assert.deepEqual(shades.map((r) => r.getAttribute('data-band')), ANSWER.weekday_load.bands);
  assert.deepEqual(shades.slice(32, 38).map((r) => r.getAttribute('fill')), Array(6).fill('#ea4335'));
  const points = svg.querySelector('polyline.load').getAttribute('points').split(' ').map((p) => p.split(',').map(Number));
  assert.equal(points.length, 48);
  // Higher load is drawn higher (smaller y): the busiest half hour is the top of the line.
  const kw = ANSWER.weekday_load.kw;
  const busiest = kw.indexOf(Math.max(...kw));
  const ys = points.map((p) => p[1]);
  assert.equal(ys.indexOf(Math.min(...ys)), busiest);
  assert.equal(Math.min(...ys), 6, 'the maximum sits at the top margin');
  assert.match(s.text('#chart'), new RegExp(`${Math.round(Math.max(...kw))} kW`));
  s.close();
});

test('the battery: value a year, cycles, DUoS saving by component, export, losses, MIP gap', () => {
  const s = openSidebar();
  s.respond({ ok: true, answer: ANSWER });
  const b = ANSWER.battery;
  // The recorded answer was made with a battery (record_answer.py: the Settings dialog's inputs).
  assert.deepEqual(b.inputs, { power_kw: 100, energy_kwh: 200, round_trip_efficiency: 0.9, export_price_p_per_kwh: 5 });
  assert.equal(s.text('#battery h2'), 'Battery: 100 kW / 200 kWh, 90% round trip');
  const text = s.text('#battery');
  assert.match(text, /Value £2,171\.88 a year DUoS saved, less the losses at the export price/);
  assert.match(text, /Cycles 261 a year/);
  assert.match(text, /Export 0 kWh a year at 5\.00 p\/kWh/);
  assert.match(text, /Losses 5,502 kWh a year \(£275\.12 at the export price\)/);
  assert.match(text, /MIP gap none: a plain LP, solved to optimality/);
  // The DUoS saving by component, one row each; charging more in green costs (a minus sign).
  const saving = (cls) => s.text(`#battery tr.${cls} td`);
  assert.equal(saving('saving-red'), '£2,396.71');
  assert.equal(saving('saving-amber'), '£105.31');
  assert.equal(saving('saving-green'), '−£55.02');
  assert.equal(saving('saving-exceeded'), '£0.00');
  assert.equal(s.text('#battery tr.total td'), '£2,447.00');
  // The figures agree with each other: the components add up to the total, and the value is
  // that saving less the losses priced at the export price (nothing exported earns nothing).
  const d = b.duos_saving_gbp_per_year;
  assert.ok(Math.abs(d.red_units + d.amber_units + d.green_units + d.exceeded_capacity - d.total) < 1e-6);
  const lossGbp = b.losses_kwh_per_year * b.inputs.export_price_p_per_kwh / 100;
  assert.ok(Math.abs(d.total - lossGbp - b.annual_value_gbp) < 0.01, 'value = saving − losses × export price');
  // Losses: the cells cycle 261 × 200 kWh; with √η on each side the grid puts in 1/√η and gets
  // back √η of each kWh the cells hold: 52,200 × (1/√0.9 − √0.9) = 5,502.36 kWh.
  const eta = Math.sqrt(0.9);
  assert.ok(Math.abs(b.cycles_per_year * 200 * (1 / eta - eta) - b.losses_kwh_per_year) < 1e-6);
  s.close();
});

test('the battery with a MIP gap and export, without one, and not valued', () => {
  const s = openSidebar();
  const milp = { ...ANSWER.battery, mip_gap: 0.00042, export_kwh_per_year: 1234.4 };
  s.respond({ ok: true, answer: { ...ANSWER, battery: milp } });
  assert.match(s.text('#battery'), /MIP gap 0\.042% \(MILP/);
  assert.match(s.text('#battery'), /Export 1,234 kWh a year at 5\.00 p\/kWh/);
  s.close();
  const none = openSidebar();
  none.respond({ ok: true, answer: { ...ANSWER, battery: null, inputs: { ...ANSWER.inputs, battery: null } } });
  assert.equal(none.text('#battery'), 'Battery Value no battery: enter its power and energy in Settings… (Battery)');
  assert.equal(none.doc.querySelectorAll('#battery tr').length, 0);
  none.close();
  const failed = openSidebar();
  failed.respond({ ok: true, answer: { ...ANSWER, battery: null } });
  assert.equal(failed.text('#battery'), 'Battery Value not valued (see the warnings)');
  failed.close();
});

test('a failed lookup shows its message; no answer, no sections', () => {
  const s = openSidebar();
  s.respond({ ok: false, message: 'bad input (kva: must be a number) [HTTP 400]', answer: null });
  assert.equal(s.doc.getElementById('result').hidden, true);
  assert.equal(s.text('#error'), 'bad input (kva: must be a number) [HTTP 400]');
  assert.equal(s.doc.getElementById('again').hidden, false);
  s.close();
  const t = openSidebar();
  t.fail(new Error('Authorisation is required to perform that action.'));
  assert.equal(t.text('#error'), 'Authorisation is required to perform that action.');
  t.close();
});

test('answer text is shown as text, never as HTML', () => {
  const s = openSidebar();
  const evil = { ...ANSWER, warnings: ['<img src=x onerror="window.hacked=1">'] };
  s.respond({ ok: true, answer: evil });
  assert.equal(s.doc.querySelectorAll('#warnings img').length, 0);
  assert.equal(s.dom.window.hacked, undefined);
  s.close();
});
