// contactd console, the Webhooks view (SPEC 9, 10): the client's subscriptions and their
// delivery log, over /api/webhooks. Uses the helpers of console.js (loaded first).
'use strict';

const DELIVERIES_PER_PAGE = 25;
/** While the view is open the log is asked again this often: deliveries move on their own. */
const REFRESH_MS = 3000;

const hooks = { subscriptions: [], offset: 0, timer: null, asked: 0, open: new Set(), ready: false };

async function openWebhooks() {
  $('#webhooks-title').focus();
  if (!hooks.ready) {
    hooks.ready = true;
    try {
      const topics = await api('/api/webhooks/topics');
      const options = () => topics.map((t) => el('option', { value: t }, t));
      $('#hook-topic').replaceChildren(...options());
      $('#calls-topic').replaceChildren(el('option', { value: '' }, 'all'), ...options());
    } catch (e) {
      hooks.ready = false;
      notice(e.message);
      return;
    }
  }
  await loadSubscriptions();
  await loadDeliveries();
  clearInterval(hooks.timer);
  hooks.timer = setInterval(() => {
    if (document.visibilityState === 'visible') loadDeliveries({ quiet: true });
  }, REFRESH_MS);
}

function leaveWebhooks() {
  clearInterval(hooks.timer);
  hooks.timer = null;
}

/** Runs a call for a button; 401 goes back to the key, any other refusal is said in words. */
async function act(call, line) {
  try {
    return await call();
  } catch (e) {
    if (e.status === 401) {
      leaveWebhooks();
      refused(e);
    } else {
      line.className = 'error';
      line.textContent = e.message;
    }
    return undefined;
  }
}

// ---- subscriptions --------------------------------------------------------------

async function loadSubscriptions() {
  const line = $('#hooks-status');
  const list = await act(() => api('/api/webhooks'), line);
  if (list === undefined) return;
  hooks.subscriptions = list;
  line.className = 'status';
  const live = list.filter((w) => w.deleted_at === null).length;
  line.textContent = list.length === 0
    ? 'No subscriptions yet: add one below.'
    : `${live} live subscription${live === 1 ? '' : 's'}${list.length > live ? `, ${list.length - live} deleted` : ''}.`;
  $('#hooks').replaceChildren(...list.map(subscriptionItem));

  const filter = $('#calls-webhook');
  const chosen = filter.value;
  filter.replaceChildren(el('option', { value: '' }, 'all'),
    ...list.map((w) => el('option', { value: w.id }, `${w.topic} → ${w.url}`)));
  filter.value = list.some((w) => w.id === chosen) ? chosen : '';
}

function stateOf(w) {
  if (w.deleted_at !== null) return 'deleted';
  return w.active ? 'active' : 'paused';
}

function subscriptionItem(w) {
  const state = stateOf(w);
  const line = el('p', { class: 'status', role: 'status' });
  const change = (call) => async () => {
    line.className = 'status';
    line.textContent = 'Saving…';
    if (await act(call, line) !== undefined) await loadSubscriptions();
  };
  const buttons = state === 'deleted'
    ? [el('button', { type: 'button', class: 'restore', onclick: change(() => api(`/api/webhooks/${w.id}/restore`, { method: 'POST' })) }, 'Restore')]
    : [el('button', { type: 'button', class: 'quiet toggle', onclick: change(() => putJson(`/api/webhooks/${w.id}`, { active: !w.active })) },
      w.active ? 'Pause' : 'Resume'),
    el('button', { type: 'button', class: 'quiet delete', onclick: change(() => api(`/api/webhooks/${w.id}`, { method: 'DELETE' })) }, 'Delete')];
  return el('li', { class: `hook hook-${state}`, 'data-id': w.id },
    el('p', { class: 'hook-head' }, badge('topic', w.topic), ' ', badge('state', state)),
    el('p', { class: 'hook-url' }, el('code', {}, w.url)),
    el('p', { class: 'hint' }, 'created ', when(w.created_at),
      state === 'deleted' ? [' · deleted ', when(w.deleted_at)] : [' · changed ', when(w.updated_at)],
      ' · id ', el('code', {}, w.id)),
    el('p', { class: 'actions' },
      el('button', { type: 'button', class: 'quiet only', onclick: () => onlyDeliveriesOf(w.id) }, 'Its deliveries'),
      buttons),
    line);
}

function putJson(path, body) {
  return api(path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function subscribe(event) {
  event.preventDefault();
  const line = $('#hook-result');
  line.className = 'status';
  line.textContent = 'Subscribing…';
  const body = {
    topic: $('#hook-topic').value,
    url: $('#hook-url').value.trim(),
    secret: $('#hook-secret').value,
    active: $('#hook-active').checked,
  };
  const made = await act(() => api('/api/webhooks', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), line);
  if (made === undefined) {
    line.textContent = `Not subscribed: ${line.textContent}`;
    return;
  }
  line.textContent = `Subscribed ${body.topic} → ${body.url}.`;
  $('#hook-url').value = '';
  $('#hook-secret').value = '';
  await loadSubscriptions();
}

// ---- the delivery log -----------------------------------------------------------

function onlyDeliveriesOf(id) {
  $('#calls-webhook').value = id;
  hooks.offset = 0;
  loadDeliveries();
  $('#calls-line').scrollIntoView({ block: 'start' });
}

async function loadDeliveries(options = {}) {
  const line = $('#calls-line');
  const query = new URLSearchParams({ limit: DELIVERIES_PER_PAGE, offset: hooks.offset });
  for (const [name, id] of [['webhook_id', '#calls-webhook'], ['status', '#calls-status'], ['topic', '#calls-topic']]) {
    if ($(id).value) query.set(name, $(id).value);
  }
  if (!options.quiet) line.textContent = 'Loading…';
  const asked = ++hooks.asked;
  const page = await act(() => api(`/api/webhooks/calls?${query}`), line);
  // A later question was asked meanwhile: its answer is the one to show.
  if (page === undefined || asked !== hooks.asked) return;
  line.className = 'status';
  const first = hooks.offset + 1;
  line.textContent = page.length === 0
    ? (hooks.offset === 0 ? 'No deliveries pass these filters.' : 'No more deliveries.')
    : `Deliveries ${first}–${hooks.offset + page.length}, newest first.`;
  $('#calls').replaceChildren(...page.map(deliveryItem));
  $('#calls-page').textContent = `from ${first}`;
  $('#calls-newer').disabled = hooks.offset === 0;
  $('#calls-older').disabled = page.length < DELIVERIES_PER_PAGE;
}

function deliveryItem(d) {
  const line = el('p', { class: 'status', role: 'status' });
  const retry = async () => {
    line.className = 'status';
    line.textContent = 'Queueing…';
    const queued = await act(() => api(`/api/webhooks/calls/${d.id}/retry`, { method: 'POST' }), line);
    if (queued === undefined) return;
    line.textContent = 'Queued for an attempt now.';
    setTimeout(() => loadDeliveries({ quiet: true }), 500);
  };
  const answer = d.response_status === null
    ? el('span', { class: 'muted' }, 'no answer')
    : `${d.response_status} in ${d.response_time_ms} ms`;
  const details = el('details', { class: 'event', open: hooks.open.has(d.id),
    ontoggle: (e) => (e.target.open ? hooks.open.add(d.id) : hooks.open.delete(d.id)) },
  el('summary', {}, 'The event as sent'),
  el('pre', {}, JSON.stringify(d.event, null, 2)));
  return el('li', { class: `call call-${d.status}`, 'data-id': d.id },
    el('p', { class: 'hook-head' }, badge('topic', d.topic), ' ', badge('delivery', d.status), ' ',
      el('span', { class: 'attempts' }, `${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`)),
    el('dl', { class: 'facts' },
      fact('URL', el('code', {}, d.url)),
      fact('Created', when(d.created_at)),
      fact('Last attempt', when(d.last_attempt_at)),
      fact('Next attempt', d.next_attempt_at === null ? null : when(d.next_attempt_at)),
      fact('Last answer', el('span', { class: 'answer' }, answer)),
      fact('Error', d.error === null ? null : el('span', { class: 'call-error' }, d.error)),
      fact('Event', el('code', {}, d.event_id))),
    details,
    el('p', { class: 'actions' }, el('button', { type: 'button', class: 'quiet retry', onclick: retry }, 'Retry now')),
    line);
}

function turnDeliveries(step) {
  hooks.offset = Math.max(0, hooks.offset + step * DELIVERIES_PER_PAGE);
  loadDeliveries();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#hook-form').addEventListener('submit', subscribe);
  $('#calls-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    hooks.offset = 0;
    loadDeliveries();
  });
  for (const id of ['#calls-webhook', '#calls-status', '#calls-topic']) {
    $(id).addEventListener('change', () => {
      hooks.offset = 0;
      loadDeliveries();
    });
  }
  $('#calls-newer').addEventListener('click', () => turnDeliveries(-1));
  $('#calls-older').addEventListener('click', () => turnDeliveries(1));
});
