'use strict';
/**
 * Renders the sidebar with the recorded answer (jsdom, as sidebar.test.js does), saves the
 * resulting page without its scripts, and photographs it with headless Chromium (Debian's
 * `chromium` package) into apps_script/docs/sidebar.png. Usage, from the repository root:
 *
 *   node apps_script/test/screenshot.js [path/to/chromium]
 *
 * Not a test file: it only runs when started directly.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { JSDOM } = require('jsdom');

const DIR = path.join(__dirname, '..');
const OUT = path.join(DIR, 'docs', 'sidebar.png');

function main(chromium = 'chromium') {
  const answer = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'lookup_answer.json'), 'utf8'));
  let reply = null;
  const dom = new JSDOM(fs.readFileSync(path.join(DIR, 'Sidebar.html'), 'utf8'), {
    runScripts: 'dangerously',
    beforeParse(window) {
      const runner = (ok) => ({
        withSuccessHandler: (fn) => runner(fn),
        withFailureHandler: () => runner(ok),
        sidebarLookup: () => { reply = ok; },
      });
      window.google = { script: { run: runner(null) } };
    },
  });
  reply({ ok: true, answer });
  const doc = dom.window.document;
  doc.querySelectorAll('script').forEach((s) => s.remove());
  const page = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sidebar-')), 'sidebar.html');
  fs.writeFileSync(page, dom.serialize());
  dom.window.close();
  const run = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
    '--window-size=300,2080', `--screenshot=${OUT}`, `file://${page}`], { encoding: 'utf8', timeout: 120000 });
  if (run.status !== 0 || !fs.existsSync(OUT)) {
    throw new Error(`chromium failed (${run.status}): ${run.stderr || run.error}`);
  }
  process.stdout.write(`wrote ${OUT}\n`);
}

if (require.main === module) main(process.argv[2]);
