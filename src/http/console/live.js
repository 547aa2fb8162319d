// contactd console: what keeps an open list or card current without a reload (SPEC 9,
// since sections 10-12), and the sandbox's two actions on a card (SPEC 11.4): write as
// the customer, close the active ticket. Polls with If-None-Match: an unchanged answer
// is a 304 without a body.
'use strict';

/** How often an open list or card asks whether it changed. */
const POLL_MS = 2000;

/** GET `path` naming `tag`: {changed, tag, body}; a 304 is `changed: false`. */
async function revalidate(path, tag) {
  const headers = { 'x-api-key': sessionStorage.getItem(KEY_STORAGE) || '' };
  if (tag) headers['if-none-match'] = tag;
  const response = await fetch(path, { headers, cache: 'no-store' });
  if (response.status === 304) return { changed: false, tag, body: null };
  if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
  return { changed: true, tag: response.headers.get('etag'), body: parseExact(await response.text()) };
}

let polling = false;

async function poll() {
  if (polling || document.hidden || !sessionStorage.getItem(KEY_STORAGE)) return;
  polling = true;
  try {
    if (!$('#list-view').hidden && state.listPath) await pollList();
    else if (!$('#card-view').hidden && state.card) await pollCard();
  } catch (e) {
    // A stopped server or a refused key shows on the next action; polling stays quiet.
  } finally {
    polling = false;
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function pollList() {
  const path = state.listPath;
  const answer = await revalidate(path, state.listTag);
  if (path !== state.listPath) return;
  state.listTag = answer.tag;
  // The first ask has no tag yet: its answer may be the one shown already.
  if (!answer.changed || same(answer.body, state.listAnswer)) return;
  state.listAnswer = answer.body;
  showContacts(answer.body);
  renderList();
}

async function pollCard() {
  const card = state.card;
  const answer = await revalidate(`/api/public/contact/${card.id}/info`, card.tag);
  if (card !== state.card) return;
  card.tag = answer.tag;
  if (!answer.changed || same(answer.body, card.shown)) return;
  card.shown = answer.body;
  fillCard(answer.body);
  loadMessages(card.id, null, true);
}

/** Fetches the open card again now (after one of its own actions). */
async function refreshCard() {
  if (!state.card) return;
  const contact = await api(`/api/public/contact/${state.card.id}/info`);
  state.card.shown = contact;
  fillCard(contact);
  loadMessages(state.card.id, null, true);
}

/** A button that closes the active ticket as an agent would. */
function closeButton(t) {
  if (!t) return null;
  const close = async (event) => {
    const button = event.target;
    button.disabled = true;
    try {
      await api(`/api/sandbox/ticket/${t.id}/close`, { method: 'POST' });
      notice('');
      await refreshCard();
    } catch (e) {
      if (e.status === 401) return refused(e);
      button.disabled = false;
      notice(`The ticket was not closed: ${e.message}`);
    }
  };
  return el('p', { class: 'actions' },
    el('button', { type: 'button', id: 'close-ticket', class: 'quiet', onclick: close }, 'Close ticket'));
}

/** A box to write a message as the customer (the sandbox's inbound message). */
function customerBox(id) {
  const text = el('textarea', { id: 'inbound-text', rows: '2', maxlength: '4096',
    placeholder: 'What the customer writes' });
  const result = el('p', { class: 'status', role: 'status', id: 'inbound-result' });
  const send = async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) {
      result.textContent = 'Write something first.';
      return;
    }
    result.className = 'status';
    result.textContent = 'Sending…';
    try {
      await api(`/api/sandbox/contact/${id}/inbound-message`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body }) });
      text.value = '';
      result.textContent = 'Sent as the customer: webhooks of message.received fire.';
      await refreshCard();
    } catch (e) {
      if (e.status === 401) return refused(e);
      result.className = 'error';
      result.textContent = e.status === 404 && e.message.startsWith('Cannot')
        ? 'Not sent: the sandbox is off on this server (--no-sandbox).'
        : `Not sent: ${e.message}`;
    }
  };
  return el('form', { class: 'editor panel', id: 'inbound', onsubmit: send },
    el('h3', {}, 'Write as the customer'),
    el('p', { class: 'hint' }, 'The sandbox plays the customer: the message arrives as an inbound message, the chat becomes unattended and unread, and the 24-hour window opens.'),
    el('label', { for: 'inbound-text' }, 'Message'), text,
    el('p', { class: 'actions' }, el('button', { type: 'submit' }, 'Send as the customer')),
    result);
}

document.addEventListener('DOMContentLoaded', () => {
  setInterval(poll, POLL_MS);
  document.addEventListener('visibilitychange', poll);
});
