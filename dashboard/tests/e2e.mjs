// The dashboard as a person uses it, in headless Chromium (Debian's, driven
// by playwright-core): open the server's root, land on the dashboard, sign in
// with a key and secret, read the figures, and check that they are the
// numbers the analytics API gives for the same question; that the page logs
// no console error and requests nothing outside 127.0.0.1; keep a screenshot.
//
//   node tests/e2e.mjs ORIGIN KEY SECRET SCREENSHOT
//
// Exit status 0 when every check holds; the failures are printed otherwise.
import { chromium } from 'playwright-core';

const [origin, key, secret, screenshot] = process.argv.slice(2);
if (!origin || !key || !secret || !screenshot) {
  console.error('usage: node tests/e2e.mjs ORIGIN KEY SECRET SCREENSHOT');
  process.exit(2);
}
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
  const outside = [];
  const errors = [];
  page.on('request', (request) => {
    const host = new URL(request.url()).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost') outside.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));

  await page.goto(`${origin}/`);
  check(new URL(page.url()).pathname === '/dashboard', `the root leads to the dashboard, not ${page.url()}`);
  await page.getByLabel('Key', { exact: true }).fill(key);
  await page.getByLabel('Secret').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#board[data-ready="true"]', { timeout: 20000 });

  // The same question the page asked: the last 30 days, no filter.
  const auth = `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
  const now = new Date();
  const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  const until = tomorrow.toISOString().slice(0, 10);
  const since = new Date(tomorrow.getTime() - 30 * 86400000).toISOString().slice(0, 10);
  const api = async (params, bounds = { since, until }) => {
    const response = await fetch(`${origin}/analytics/v1/query?${new URLSearchParams({ ...bounds, ...params })}`, {
      headers: { Authorization: auth },
    });
    return response.json();
  };
  const figures = {};
  for (const measure of ['statements', 'learners', 'completion_rate', 'pass_rate', 'score_mean', 'duration_p50']) {
    const tile = page.locator(`#tiles [data-measure="${measure}"]`);
    const shown = await tile.getAttribute('data-value');
    const text = await tile.locator('.value').textContent();
    const expected = (await api({ measure })).rows[0]?.value;
    figures[measure] = { shown, text, expected };
    check(expected !== undefined, `the API has a ${measure} for the last 30 days`);
    check(Number(shown) === expected, `tile ${measure} shows ${shown}, the API says ${expected}`);
    check(text !== '–' && text.trim() !== '', `tile ${measure} shows a number, not ${JSON.stringify(text)}`);
  }
  const learners = await api({ measure: 'statements', by: 'learner', limit: 10 });
  const rows = await page.locator('#top-learners tbody tr').allTextContents();
  check(rows.length === learners.rows.length, `${rows.length} learners listed, the API has ${learners.rows.length}`);
  learners.rows.forEach((row, n) => {
    check(rows[n]?.includes(row.key), `learner row ${n} is ${rows[n]}, the API says ${row.key}`);
  });
  const points = JSON.parse(await page.locator('#statements-over-time').getAttribute('data-points'));
  const byDay = await api({ measure: 'statements', by: 'day' });
  check(JSON.stringify(points[0]) === JSON.stringify(byDay.rows.map((r) => r.value)), 'the statements chart draws the API\'s days');

  // A filter changes the figures as the API says.
  const platforms = await page.locator('#platform option').allTextContents();
  check(platforms.length > 1, `the platform filter offers the platforms: ${platforms}`);
  await page.locator('#platform').selectOption({ index: 1 });
  const platform = await page.locator('#platform').inputValue();
  await page.evaluate(() => { document.getElementById('board').dataset.ready = 'false'; });
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForSelector('#board[data-ready="true"]', { timeout: 20000 });
  const filtered = (await api({ measure: 'statements', platform })).rows[0]?.value;
  const shown = await page.locator('#tiles [data-measure="statements"]').getAttribute('data-value');
  check(Number(shown) === filtered, `with platform ${platform} the page shows ${shown}, the API says ${filtered}`);

  // "All time": the API's default range (no bounds).
  await page.locator('#platform').selectOption('');
  await page.locator('#range').selectOption('all');
  await page.evaluate(() => { document.getElementById('board').dataset.ready = 'false'; });
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForSelector('#board[data-ready="true"]', { timeout: 20000 });
  const allTime = (await api({ measure: 'learners' }, {})).rows[0]?.value;
  const allShown = await page.locator('#tiles [data-measure="learners"]').getAttribute('data-value');
  check(Number(allShown) === allTime, `over all time the page shows ${allShown} learners, the API says ${allTime}`);

  await page.screenshot({ path: screenshot, fullPage: true });

  // The data-quality page: the report's numbers, per source.
  await page.getByRole('button', { name: 'Data quality' }).click();
  await page.waitForSelector('#quality[data-ready="true"]', { timeout: 20000 });
  const report = await (await fetch(`${origin}/quality/v1/report`, { headers: { Authorization: auth } })).json();
  const sourceRows = await page.locator('#quality-sources tbody tr').evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  check(sourceRows.length === report.sources.length, `${sourceRows.length} sources listed, the report has ${report.sources.length}`);
  const quality = {};
  report.sources.forEach((s, i) => {
    const cells = sourceRows[i] || [];
    const number = (n) => Number(String(cells[n]).replace(/,/g, ''));
    const shownSource = { source: cells[0], accepted: number(1), rejected: number(2), duplicates: number(4), resent: number(5),
      missing_registration: number(6), missing_parent: number(7) };
    quality[s.source] = shownSource;
    for (const field of ['accepted', 'rejected', 'duplicates', 'resent', 'missing_registration', 'missing_parent']) {
      check(shownSource[field] === s[field], `source ${s.source}: the page shows ${field} ${shownSource[field]}, the report says ${s[field]}`);
    }
  });
  const driftRows = await page.locator('#quality-drift tbody tr').allTextContents();
  const driftGroups = report.drift.verbs.length + report.drift.activities.length + report.drift.learners.length;
  check(driftRows.length === driftGroups, `${driftRows.length} drift groups listed, the report has ${driftGroups}`);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-quality.png'), fullPage: true });
  check(outside.length === 0, `requests outside 127.0.0.1: ${outside.join(', ')}`);
  check(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  console.log(JSON.stringify({ figures, learners: rows.length, platform, quality, drift: driftRows, failures }));
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(failures.join('\n'));
  process.exit(1);
}
