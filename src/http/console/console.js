// contactd console: plain JS over the public API (SPEC 9). No framework, no build step,
// nothing fetched from elsewhere. Every value from the API reaches the page through
// textContent, never as HTML.
'use strict';

const KEY_STORAGE = 'contactd.apiKey';
const PAGE_SIZE = 20;
const MESSAGES_PER_PAGE = 50;
/** The most contacts the list asks for at once (the API's own limit). */
const LIST_LIMIT = 1000;
/** The most contacts a search answers (SPEC 7.2). */
const SEARCH_LIMIT = 50;
/** The list's "all time": every contact made after the epoch. */
const ALL_TIME = '1970-01-01T00:00:00.000Z';

const state = { contacts: [], page: 1, source: '', capped: false, asked: 0, stages: null };

const $ = (selector) => document.querySelector(selector);

/** An element with attributes (`class`, `title`, `href`, on* handlers…) and children. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API with the tab's key; throws an ApiError worded for a person. */
async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE) || '';
  let response;
  try {
    response = await fetch(path, {
      ...options,
      headers: { 'x-api-key': key, ...(options.headers || {}) },
    });
  } catch (e) {
    throw new ApiError(0, 'Could not reach contactd: the server may be stopped or the network down. Try again once it is back.');
  }
  let body = null;
  try {
    body = parseExact(await response.text());
  } catch (e) {
    body = null;
  }
  if (!response.ok) {
    if (response.status === 401) {
      throw new ApiError(401, 'The API key was refused: it is unknown or has been revoked.');
    }
    if (response.status === 429) {
      throw new ApiError(429, 'Too many refused keys from this address; wait a minute and try again.');
    }
    const message = body && body.message !== undefined
      ? [].concat(body.message).join('; ')
      : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/**
 * JSON.parse that keeps every number as the server wrote it (SPEC 1 keeps numbers
 * exactly): one a double would change (9007199254740993, 1.50, 1e400) stays its source
 * text as a JSON.rawJSON value, which JSON.stringify writes back verbatim. Browsers
 * without source text access get plain JSON.parse.
 */
function parseExact(text) {
  if (typeof JSON.rawJSON !== 'function') return JSON.parse(text);
  return JSON.parse(text, (key, value, context) => (typeof value === 'number'
    && context && context.source !== String(value) ? JSON.rawJSON(context.source) : value));
}

const isExactNumber = (value) => typeof JSON.isRawJSON === 'function' && JSON.isRawJSON(value);

// ---- showing things -------------------------------------------------------------

const VIEWS = {
  'list-view': 'to-contacts', 'card-view': 'to-contacts', 'webhooks-view': 'to-webhooks', 'requests-view': 'to-requests',
};

function show(view) {
  for (const id of ['key-view', 'list-view', 'card-view', 'webhooks-view', 'requests-view']) $(`#${id}`).hidden = id !== view;
  const signedIn = Boolean(sessionStorage.getItem(KEY_STORAGE));
  $('#forget').hidden = !signedIn;
  $('#views').hidden = !signedIn;
  for (const link of document.querySelectorAll('#views a')) {
    if (link.id === VIEWS[view]) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  $('#who').textContent = signedIn ? 'key in this tab' : '';
}

function notice(message) {
  const box = $('#notice');
  box.textContent = message || '';
  box.hidden = !message;
}

/** "3 min ago", "in 2 h", with the exact time on hover. */
function when(iso) {
  if (!iso) return el('span', { class: 'muted' }, 'never');
  const then = new Date(iso);
  const seconds = Math.round((then.getTime() - Date.now()) / 1000);
  const steps = [[60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600],
    [86400 * 30, 'day', 86400], [86400 * 365, 'month', 86400 * 30], [Infinity, 'year', 86400 * 365]];
  const [, unit, size] = steps.find(([limit]) => Math.abs(seconds) < limit);
  const text = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' })
    .format(Math.round(seconds / size), unit);
  return el('time', { datetime: iso, title: `${iso} (${then.toLocaleString()})` }, text);
}

function badge(kind, value) {
  return el('span', { class: `badge badge-${kind} badge-${String(value).toLowerCase()}` }, value);
}

/** A JSON value as something readable: objects and arrays as nested tables. */
function valueView(value) {
  if (value === null) return el('span', { class: 'muted' }, 'null');
  if (isExactNumber(value)) return el('span', { class: 'json-scalar' }, value.rawJSON);
  if (Array.isArray(value)) {
    if (value.length === 0) return el('span', { class: 'muted' }, '[] (empty list)');
    return el('ol', { class: 'json-list' }, value.map((item) => el('li', {}, valueView(item))));
  }
  if (typeof value === 'object') return table(value);
  if (typeof value === 'string') return el('span', { class: 'json-string' }, value);
  return el('span', { class: 'json-scalar' }, JSON.stringify(value));
}

function table(object, emptyText = '{} (empty)') {
  const keys = Object.keys(object || {});
  if (keys.length === 0) return el('p', { class: 'muted' }, emptyText);
  return el('table', { class: 'kv' },
    el('tbody', {}, keys.map((key) => el('tr', {}, el('th', { scope: 'row' }, key),
      el('td', {}, valueView(object[key]))))));
}

// ---- the key --------------------------------------------------------------------

async function openWithKey(event) {
  event.preventDefault();
  const key = $('#key').value.trim();
  const error = $('#key-error');
  error.hidden = true;
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    await api('/api/public/pipeline');
  } catch (e) {
    sessionStorage.removeItem(KEY_STORAGE);
    error.textContent = e.message;
    error.hidden = false;
    return;
  }
  $('#key').value = '';
  location.hash = '#/';
  route();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  state.contacts = [];
  state.stages = null;
  location.hash = '#/';
  route();
}

// ---- the list -------------------------------------------------------------------

async function loadList(event) {
  if (event) event.preventDefault();
  const status = $('#list-status');
  const text = $('#q').value.trim();
  let path;
  if (text) {
    const phoneLike = /^[\d\s()+.-]+$/.test(text);
    if (phoneLike && !/\d/.test(text)) {
      // Nothing to search by: say so once, without asking the server.
      state.contacts = [];
      state.source = '';
      notice('');
      status.textContent = 'Type a piece of a phone number (with digits) or of an email to search.';
      renderList({ keepStatus: true });
      return;
    }
    // Phone characters: a piece of a phone, or of an email (123 in user123@…), either
    // matching (SPEC 7.2); anything else: a piece of an email.
    const query = phoneLike ? { phone: text, email: text } : { email: text };
    path = `/api/public/contacts/search?${new URLSearchParams(query)}`;
  } else if ($('#period').value === 'all') {
    // Every contact ever made: the list's created_after order, shown newest message first.
    path = `/api/public/contacts?created_after=${ALL_TIME}&limit=${LIST_LIMIT}`;
  } else {
    path = `/api/public/contacts?days=${$('#period').value}&limit=${LIST_LIMIT}`;
  }
  status.textContent = 'Loading…';
  const asked = ++state.asked;
  try {
    await loadStages();
    const all = await api(path);
    // A later question was asked meanwhile: its answer is the one to show.
    if (asked !== state.asked) return;
    state.listPath = path;
    state.listTag = null;
    state.listAnswer = all;
    showContacts(all);
    // A full answer means there may be more than it holds: counts then say so.
    state.capped = all.length >= (text ? SEARCH_LIMIT : LIST_LIMIT);
    state.filtered = Boolean($('#platform').value || $('#status').value);
    const period = $('#period').value;
    state.source = text ? `matching “${text}”`
      : period === 'all' ? 'of all time' : `with messages in the last ${period} days`;
    state.page = 1;
    notice('');
  } catch (e) {
    if (asked !== state.asked) return;
    state.contacts = [];
    status.textContent = '';
    if (e.status === 401) return refused(e);
    notice(e.message);
  }
  renderList();
}

/** The contacts of an answer that pass the channel and status filters, newest first. */
function showContacts(all) {
  const platform = $('#platform').value;
  const chat = $('#status').value;
  state.contacts = all.filter((c) => (!platform || c.platform === platform)
    && (!chat || c.chat_status === chat));
  if (!$('#q').value.trim() && $('#period').value === 'all') {
    state.contacts.sort((a, b) => (b.last_message_at.localeCompare(a.last_message_at)
      || a.id.localeCompare(b.id)));
  }
}

/** How many contacts the list shows, in words that are true however many there are. */
function countWords() {
  const count = state.contacts.length;
  const contacts = `${count.toLocaleString('en')} contact${count === 1 ? '' : 's'}`;
  if (!state.capped) return `${contacts} ${state.source}`;
  const text = $('#q').value.trim();
  if (text) {
    return state.filtered
      ? `${contacts} of the first ${SEARCH_LIMIT} ${state.source} (a search answers at most ${SEARCH_LIMIT})`
      : `at least ${SEARCH_LIMIT} contacts ${state.source} (the first ${SEARCH_LIMIT} shown)`;
  }
  if ($('#period').value === 'all') {
    return `${contacts} among the first ${LIST_LIMIT.toLocaleString('en')} made (there are more: narrow the period or search)`;
  }
  return state.filtered
    ? `${contacts} among the newest ${LIST_LIMIT.toLocaleString('en')} ${state.source} (there are more: narrow the period)`
    : `the newest ${LIST_LIMIT.toLocaleString('en')} of more contacts ${state.source}`;
}

function renderList(options = {}) {
  const list = $('#contacts');
  const pages = Math.max(1, Math.ceil(state.contacts.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages);
  const shown = state.contacts.slice((state.page - 1) * PAGE_SIZE, state.page * PAGE_SIZE);
  list.replaceChildren(...shown.map((c) => el('li', {},
    el('a', { href: `#/contact/${c.id}`, class: 'contact' },
      el('span', { class: 'contact-name' }, c.name),
      el('span', { class: 'contact-badges' }, badge('platform', c.platform), badge('status', c.chat_status),
        c.active_ticket_v2 && c.active_ticket_v2.current_stage_id && state.stages
          && state.stages.has(c.active_ticket_v2.current_stage_id)
          ? badge('stage', state.stages.get(c.active_ticket_v2.current_stage_id)) : null,
        c.is_chat_read ? null : badge('flag', 'unread'), c.blocked ? badge('flag', 'blocked') : null),
      el('span', { class: 'contact-reach' }, [c.phone, c.email].filter(Boolean).join(' · ') || 'no phone or email'),
      el('span', { class: 'contact-when' }, 'last message ', when(c.last_message_at))))));
  const count = state.contacts.length;
  if (!options.keepStatus) {
    $('#list-status').textContent = count === 0
      ? `No contacts ${state.source || ''} pass these filters.`
      : `${countWords()}; page ${state.page} of ${pages}.`;
  }
  $('#page').textContent = `${state.page} / ${pages}`;
  $('#prev').disabled = state.page <= 1;
  $('#next').disabled = state.page >= pages;
}

function turnPage(step) {
  state.page += step;
  renderList();
  $('#contacts').focus();
}

// ---- routing --------------------------------------------------------------------

function refused(error) {
  sessionStorage.removeItem(KEY_STORAGE);
  show('key-view');
  const box = $('#key-error');
  box.textContent = error.message;
  box.hidden = false;
  $('#key').focus();
}

function route() {
  if (!sessionStorage.getItem(KEY_STORAGE)) {
    show('key-view');
    $('#key').focus();
    return;
  }
  const match = location.hash.match(/^#\/contact\/([0-9A-Fa-f-]{36})$/);
  if (location.hash !== '#/webhooks') leaveWebhooks();
  if (location.hash !== '#/requests') leaveRequests();
  if (location.hash === '#/webhooks') {
    show('webhooks-view');
    openWebhooks();
  } else if (location.hash === '#/requests') {
    show('requests-view');
    openRequests();
  } else if (match) {
    show('card-view');
    loadCard(match[1]);
  } else {
    show('list-view');
    state.card = null;
    if (state.contacts.length === 0) loadList();
    else renderList();
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#key-form').addEventListener('submit', openWithKey);
  $('#forget').addEventListener('click', forgetKey);
  $('#filters').addEventListener('submit', loadList);
  for (const id of ['#period', '#platform', '#status']) $(id).addEventListener('change', loadList);
  $('#prev').addEventListener('click', () => turnPage(-1));
  $('#next').addEventListener('click', () => turnPage(1));
  $('#contacts').setAttribute('tabindex', '-1');
  window.addEventListener('hashchange', route);
  route();
});
