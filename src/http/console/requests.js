// contactd console, the Requests view (SPEC 9, 12): what the client's code sent and got
// back (the request journal), and faults on demand, over /api/sandbox. Uses the helpers of
// console.js and webhooks.js's `act` (loaded first).
'use strict';

const ENTRIES_SHOWN = 100;
/** While the view is open the journal is asked again this often: requests come on their own. */
const JOURNAL_REFRESH_MS = 2000;

const journal = { timer: null, asked: 0, open: new Set(), routes: null, shown: '', rules: '' };

async function openRequests() {
  $('#requests-title').focus();
  if (journal.routes === null) {
    try {
      journal.routes = await recordedRoutes();
    } catch (e) {
      notice(e.message);
      return;
    }
    const options = (first) => [el('option', { value: first }, first === '' ? 'all' : 'every route'),
      ...journal.routes.map((r) => el('option', { value: r }, r))];
    $('#journal-route').replaceChildren(...options(''));
    $('#fault-route').replaceChildren(...options('*'));
  }
  await loadFaults();
  await loadJournal();
  clearInterval(journal.timer);
  journal.timer = setInterval(() => {
    if (document.visibilityState === 'visible') {
      loadJournal({ quiet: true });
      // A rule whose times are used up goes away on its own.
      loadFaults();
    }
  }, JOURNAL_REFRESH_MS);
}

function leaveRequests() {
  clearInterval(journal.timer);
  journal.timer = null;
}

/** The route templates the journal keeps and faults may name: the documented ones under
 * /api/ but the sandbox's. */
async function recordedRoutes() {
  const doc = await api('/openapi.json');
  return Object.keys(doc.paths).filter((p) => p.startsWith('/api/') && !p.startsWith('/api/sandbox'));
}

// ---- the journal ----------------------------------------------------------------

async function loadJournal(options = {}) {
  const line = $('#journal-line');
  const query = new URLSearchParams({ limit: ENTRIES_SHOWN });
  for (const [name, id] of [['route', '#journal-route'], ['method', '#journal-method'], ['status', '#journal-status']]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  if (!options.quiet) line.textContent = 'Loading…';
  const asked = ++journal.asked;
  const entries = await act(() => api(`/api/sandbox/requests?${query}`), line);
  if (entries === undefined || asked !== journal.asked) return;
  line.className = 'status';
  line.textContent = entries.length === 0
    ? 'No requests kept pass these filters. Requests with this key\'s client\'s keys appear here as they are answered.'
    : `${entries.length === ENTRIES_SHOWN ? `The newest ${ENTRIES_SHOWN}` : entries.length} request${entries.length === 1 ? '' : 's'}, newest first.`;
  // Redrawn only when the entries changed: an open entry stays open, a click lands.
  const shown = entries.map((e) => e.id).join(',');
  if (shown !== journal.shown || !options.quiet) {
    journal.shown = shown;
    $('#journal').replaceChildren(...entries.map(entryItem));
  }
}

function statusClass(status) {
  if (status >= 500) return 'badge-5xx';
  if (status >= 400) return 'badge-4xx';
  return 'badge-2xx';
}

/** A body as sent: pretty when it is JSON, as it is otherwise. */
function bodyText(text) {
  try {
    return JSON.stringify(parseExact(text), null, 2);
  } catch (e) {
    return text;
  }
}

function entryItem(e) {
  const details = el('details', { class: 'event', open: journal.open.has(e.id),
    ontoggle: (ev) => (ev.target.open ? journal.open.add(e.id) : journal.open.delete(e.id)) },
  el('summary', {}, 'Sent and answered'),
  el('h4', {}, 'Request headers'), table(e.request_headers),
  el('h4', {}, 'Request body'),
  e.request_body === null ? el('p', { class: 'muted' }, 'none') : el('pre', { class: 'request-body' }, bodyText(e.request_body)),
  el('h4', {}, 'Answer (first 4 KiB)'),
  e.response_body === '' ? el('p', { class: 'muted' }, 'empty') : el('pre', { class: 'response-body' }, bodyText(e.response_body)));
  return el('li', { class: 'entry', 'data-id': e.id },
    el('p', { class: 'hook-head' },
      el('span', { class: `badge badge-http ${statusClass(e.status)}` }, e.status), ' ',
      el('strong', { class: 'entry-method' }, e.method), ' ',
      el('code', { class: 'entry-path' }, e.path),
      e.fault === undefined ? null : [' ', el('span', { class: 'badge badge-fault', title: `fault rule ${e.fault}` }, 'injected')]),
    el('p', { class: 'hint' }, when(e.time), ` · ${e.latency_ms} ms · `,
      e.route === null ? 'no route' : el('code', {}, e.route), ' · request id ', el('code', {}, e.request_id)),
    details);
}

async function clearJournal() {
  const line = $('#journal-line');
  const cleared = await act(() => api('/api/sandbox/requests', { method: 'DELETE' }), line);
  if (cleared === undefined) return;
  journal.open.clear();
  await loadJournal();
  line.textContent = `Cleared ${cleared.deleted} request${cleared.deleted === 1 ? '' : 's'}.`;
}

// ---- faults ---------------------------------------------------------------------

async function loadFaults() {
  const line = $('#faults-line');
  const rules = await act(() => api('/api/sandbox/faults'), line);
  if (rules === undefined) return;
  line.className = 'status';
  line.textContent = rules.length === 0
    ? 'No fault rules: every request gets its real answer.'
    : `${rules.length} rule${rules.length === 1 ? '' : 's'}, tried in this order; the first that matches applies.`;
  const shown = JSON.stringify(rules);
  if (shown !== journal.rules) {
    journal.rules = shown;
    $('#faults').replaceChildren(...rules.map(faultItem));
  }
}

/** A number of an answer: parseExact keeps some (`1.0`) as their source text. */
const plain = (value) => (isExactNumber(value) ? Number(value.rawJSON) : value);

function describe(rule) {
  const what = [];
  const probability = plain(rule.probability);
  if (rule.delay_ms > 0) what.push(`delay ${rule.delay_ms} ms`);
  if (rule.status !== null) {
    what.push(`answer ${rule.status}${probability < 1 ? ` ${Math.round(probability * 100)} % of the time` : ''}`);
  }
  what.push(rule.times === null ? 'until removed' : `for the next ${rule.times} match${rule.times === 1 ? '' : 'es'}`);
  return what.join(', ');
}

function faultItem(rule) {
  const line = el('p', { class: 'status', role: 'status' });
  const remove = async () => {
    if (await act(() => api(`/api/sandbox/faults/${rule.id}`, { method: 'DELETE' }), line) !== undefined) await loadFaults();
  };
  return el('li', { class: 'fault', 'data-id': rule.id },
    el('p', { class: 'hook-head' }, el('strong', {}, rule.method === '*' ? 'any method' : rule.method), ' ',
      el('code', {}, rule.route === '*' ? 'every route' : rule.route)),
    el('p', { class: 'fault-effect' }, describe(rule)),
    el('p', { class: 'actions' }, el('button', { type: 'button', class: 'quiet remove', onclick: remove }, 'Remove')),
    line);
}

/** A number field's value, null when empty; anything else goes as typed, for the server
 * to name. */
function numberOrNull(id) {
  const text = $(id).value.trim();
  if (text === '') return null;
  return Number.isFinite(Number(text)) ? Number(text) : text;
}

async function addFault(event) {
  event.preventDefault();
  const line = $('#fault-result');
  line.className = 'status';
  const rule = {
    route: $('#fault-route').value,
    method: $('#fault-method').value,
    status: numberOrNull('#fault-status'),
    delay_ms: numberOrNull('#fault-delay') ?? 0,
    probability: numberOrNull('#fault-probability') ?? 1,
    times: numberOrNull('#fault-times'),
  };
  const made = await act(() => api('/api/sandbox/faults', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) }), line);
  if (made === undefined) {
    line.textContent = `Not added: ${line.textContent}`;
    return;
  }
  line.textContent = `Added: ${describe(made)}.`;
  await loadFaults();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#journal-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadJournal();
  });
  for (const id of ['#journal-route', '#journal-method']) $(id).addEventListener('change', () => loadJournal());
  $('#journal-clear').addEventListener('click', clearJournal);
  $('#fault-form').addEventListener('submit', addFault);
});
