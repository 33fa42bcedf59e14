// The LRS dashboard: signs in with a credential (or a bearer token) and draws
// the tenant's learning from the public analytics API (/analytics/v1/query),
// the same one a script would use. Nothing is fetched from another host.
'use strict';

const SESSION_KEY = 'lrs-dashboard-auth';
const charts = {};

/** The Authorization header of the signed-in user, if any. */
function authorization() {
  return sessionStorage.getItem(SESSION_KEY);
}

/** One analytics question; throws with the API's message on an error. */
async function query(params) {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ''));
  const response = await fetch(`/analytics/v1/query?${search}`, { headers: { Authorization: authorization() } });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 || response.status === 403) {
    const error = new Error(body.error?.message || `refused (${response.status})`);
    error.signOut = true;
    throw error;
  }
  if (!response.ok) {
    throw new Error(body.error?.message || `the LRS answered ${response.status}`);
  }
  return body;
}

/** YYYY-MM-DD of a Date, in UTC (the analytics' days). */
function day(date) {
  return date.toISOString().slice(0, 10);
}

/** The filters the user chose, as API parameters. */
function filters() {
  const range = document.getElementById('range').value;
  let since;
  let until;
  if (range === 'custom') {
    since = document.getElementById('since').value;
    until = document.getElementById('until').value;
  } else if (range !== 'all') {
    const now = new Date();
    const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    until = day(tomorrow);
    since = day(new Date(tomorrow.getTime() - Number(range) * 86400000));
  }
  return {
    since,
    until,
    parent: document.getElementById('parent').value,
    platform: document.getElementById('platform').value,
    source: document.getElementById('source').value,
  };
}

const formats = {
  statements: (v) => v.toLocaleString('en-US'),
  learners: (v) => v.toLocaleString('en-US'),
  completion_rate: (v) => `${(v * 100).toFixed(1)} %`,
  pass_rate: (v) => `${(v * 100).toFixed(1)} %`,
  score_mean: (v) => v.toFixed(2),
  duration_p50: (v) => `${(v / 60).toFixed(1)} min`,
};

/** Fills one tile: the formatted value, and the number as the API gave it. */
async function fillTile(tile, params) {
  const measure = tile.dataset.measure;
  const answer = await query({ measure, ...params });
  const row = answer.rows[0];
  const value = tile.querySelector('.value');
  if (row) {
    tile.dataset.value = String(row.value);
    value.textContent = formats[measure](row.value);
  } else {
    tile.dataset.value = '';
    value.textContent = '–';
  }
  return answer;
}

/** Draws (or redraws) a chart on a canvas. */
function draw(id, type, labels, datasets, options = {}) {
  if (charts[id]) {
    charts[id].destroy();
  }
  const canvas = document.getElementById(id);
  canvas.dataset.points = JSON.stringify(datasets.map((d) => d.data));
  charts[id] = new Chart(canvas, {
    type,
    data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: datasets.length > 1 } }, ...options },
  });
}

const short = (iri) => iri.replace(/^https?:\/\/[^/]+\//, '');

async function refresh() {
  const params = filters();
  const tiles = [...document.querySelectorAll('#tiles .tile')];
  const [first] = await Promise.all(tiles.map((tile) => fillTile(tile, params)));
  document.getElementById('as-of').textContent = `complete up to ${first.consistent_through}`;

  const [byDay, learnersByDay, completion, scores50, scores90, time, activities, verbs, learners] = await Promise.all([
    query({ measure: 'statements', by: 'day', ...params }),
    query({ measure: 'learners', by: 'day', ...params }),
    query({ measure: 'completion_rate', by: 'activity', limit: 10, ...params }),
    query({ measure: 'score_p50', by: 'activity', limit: 10, ...params }),
    query({ measure: 'score_p90', by: 'activity', limit: 100, ...params }),
    query({ measure: 'duration_p50', by: 'activity', limit: 10, ...params }),
    query({ measure: 'statements', by: 'activity', limit: 10, ...params }),
    query({ measure: 'statements', by: 'verb', limit: 10, ...params }),
    query({ measure: 'statements', by: 'learner', limit: 10, ...params }),
  ]);
  draw('statements-over-time', 'line', byDay.rows.map((r) => r.key), [{ label: 'statements', data: byDay.rows.map((r) => r.value) }]);
  draw('learners-over-time', 'line', learnersByDay.rows.map((r) => r.key), [{ label: 'learners', data: learnersByDay.rows.map((r) => r.value) }]);
  draw('completion-by-activity', 'bar', completion.rows.map((r) => short(r.key)), [{ label: 'completion rate', data: completion.rows.map((r) => r.value) }], { indexAxis: 'y', scales: { x: { min: 0, max: 1 } } });
  const dropoff = [...completion.rows].map((r) => ({ key: r.key, value: 1 - r.value })).sort((a, b) => b.value - a.value);
  draw('dropoff-by-activity', 'bar', dropoff.map((r) => short(r.key)), [{ label: 'drop-off', data: dropoff.map((r) => r.value) }], { indexAxis: 'y', scales: { x: { min: 0, max: 1 } } });
  const p90 = new Map(scores90.rows.map((r) => [r.key, r.value]));
  draw('scores-by-activity', 'bar', scores50.rows.map((r) => short(r.key)), [
    { label: 'median', data: scores50.rows.map((r) => r.value) },
    { label: '90th percentile', data: scores50.rows.map((r) => p90.get(r.key) ?? null) },
  ]);
  draw('time-by-activity', 'bar', time.rows.map((r) => short(r.key)), [{ label: 'minutes', data: time.rows.map((r) => r.value / 60) }], { indexAxis: 'y' });
  draw('top-activities', 'bar', activities.rows.map((r) => short(r.key)), [{ label: 'statements', data: activities.rows.map((r) => r.value) }], { indexAxis: 'y' });
  draw('top-verbs', 'bar', verbs.rows.map((r) => short(r.key)), [{ label: 'statements', data: verbs.rows.map((r) => r.value) }], { indexAxis: 'y' });
  const body = document.querySelector('#top-learners tbody');
  body.replaceChildren(...learners.rows.map((r) => {
    const row = document.createElement('tr');
    const who = document.createElement('td');
    who.textContent = r.key;
    const count = document.createElement('td');
    count.textContent = r.value.toLocaleString('en-US');
    row.append(who, count);
    return row;
  }));
  document.getElementById('board').dataset.ready = 'true';
}

/** Fills a filter's choices from the groups the API knows. */
async function fillChoices(id, by) {
  const select = document.getElementById(id);
  const answer = await query({ measure: 'statements', by, limit: 200 });
  const keep = select.value;
  select.replaceChildren(new Option('All', ''), ...answer.rows.map((r) => new Option(short(r.key) || r.key, r.key)));
  select.value = keep;
}

/** A table row of cells (text only, never HTML from the data). */
function row(cells) {
  const tr = document.createElement('tr');
  tr.append(...cells.map((text) => {
    const td = document.createElement('td');
    td.textContent = String(text);
    return td;
  }));
  return tr;
}

/** The data-quality page: GET /quality/v1/report, in tables. */
async function refreshQuality() {
  const page = document.getElementById('quality');
  page.dataset.ready = 'false';
  const response = await fetch('/quality/v1/report', { headers: { Authorization: authorization() } });
  const report = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(report.error?.message || `the LRS answered ${response.status}`);
  }
  const n = (v) => v.toLocaleString('en-US');
  document.querySelector('#quality-sources tbody').replaceChildren(...report.sources.map((s) => row([
    s.source || '(none)', n(s.accepted), n(s.rejected), s.rejections.map((r) => `${r.reason}: ${n(r.count)}`).join(', '),
    n(s.duplicates), n(s.resent), n(s.missing_registration), n(s.missing_parent), n(s.future_timestamps), n(s.late_timestamps),
  ])));
  const drift = [
    ...report.drift.verbs.map((g) => ['verb', g]),
    ...report.drift.activities.map((g) => ['activity', g]),
    ...(report.drift.learners || []).map((g) => ['learner', g]),
  ];
  document.querySelector('#quality-drift tbody').replaceChildren(...drift.map(([kind, g]) => row([
    kind, g.name, g.ids.map((id, i) => `${id} (${n(g.counts[i])})`).join(', '),
  ])));
  document.querySelector('#quality-templates tbody').replaceChildren(...report.profiles.map((t) => row([
    t.template, n(t.matched), n(t.invalid), t.failures.map((f) => `${f.rule}: ${n(f.count)}`).join(', '),
  ])));
  document.querySelector('#quality-patterns tbody').replaceChildren(...report.patterns.map((p) => row([
    p.pattern, n(p.complete), n(p.in_progress), n(p.broken),
  ])));
  document.getElementById('quality-status').textContent = '';
  page.dataset.ready = 'true';
}

/** Shows one page (board or quality) and refreshes it. */
function showPage(name) {
  for (const button of document.querySelectorAll('#pages button')) {
    button.setAttribute('aria-pressed', String(button.dataset.page === name));
  }
  document.getElementById('board').hidden = name !== 'board';
  document.getElementById('quality').hidden = name !== 'quality';
  if (name === 'quality') {
    refreshQuality().catch((error) => { document.getElementById('quality-status').textContent = error.message; });
  }
}

function show(signedIn) {
  document.getElementById('sign-in').hidden = signedIn;
  document.getElementById('board').hidden = !signedIn;
  document.getElementById('quality').hidden = true;
  document.getElementById('pages').hidden = !signedIn;
  document.getElementById('sign-out').hidden = !signedIn;
}

for (const button of document.querySelectorAll('#pages button')) {
  button.addEventListener('click', () => showPage(button.dataset.page));
}

async function start() {
  try {
    await Promise.all([fillChoices('parent', 'parent'), fillChoices('platform', 'platform'), fillChoices('source', 'source')]);
    show(true);
    await refresh();
  } catch (error) {
    if (error.signOut) {
      sessionStorage.removeItem(SESSION_KEY);
      show(false);
      document.getElementById('sign-in-error').textContent = error.message;
    } else {
      document.getElementById('as-of').textContent = error.message;
    }
  }
}

document.getElementById('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const token = String(form.get('token') || '').trim();
  const header = token
    ? `Bearer ${token}`
    : `Basic ${btoa(`${form.get('key')}:${form.get('secret')}`)}`;
  sessionStorage.setItem(SESSION_KEY, header);
  document.getElementById('sign-in-error').textContent = '';
  start();
});

document.getElementById('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(SESSION_KEY);
  show(false);
});

document.getElementById('range').addEventListener('change', (event) => {
  document.getElementById('filters').classList.toggle('custom', event.target.value === 'custom');
});

document.getElementById('filters').addEventListener('submit', (event) => {
  event.preventDefault();
  refresh().catch((error) => { document.getElementById('as-of').textContent = error.message; });
});

if (authorization()) {
  start();
} else {
  show(false);
}
